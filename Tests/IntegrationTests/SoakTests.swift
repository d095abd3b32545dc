import Control
import Foundation
import Testing
import TestSupport
import JSON

/// The whole path under load (issue 5): 1,000 calls at 20 per second from SIPp through the IVR
/// menu (a key 1 s into it), the sales queue and an agent's phone that answers after a random
/// 100-1000 ms, each talking 3.5 s. 80 agents register (digest, over the wire), all with the Contact of
/// one SIPp that answers for them. Afterwards: no failed call, every call connected and completed in the queue
/// log, and no call, leg, RTP port or queue entry left in the daemon.
@Suite(.serialized, .timeLimit(.minutes(5)), .enabled(if: haveSIPp, "SIPp (package sip-tester) is not installed"))
struct SoakTests {
    static let agents = 80
    static let calls = 1000

    @Test func thousandCallsThroughTheWholePath() throws {
        let rig = try SoakRig(agents: Self.agents, calls: Self.calls)
        let daemon = rig.daemon
        let phones = rig.phones
        let phonePort = rig.phonePort
        defer { if phones.isRunning { phones.terminate() } }

        let started = Date()
        let (status, stats, output) = try sipp(
            daemon, scenario: "caller_soak.xml", calls: Self.calls, rate: 20, limit: 400, service: "100",
            extra: ["-mi", "127.0.0.1", "-mp", String(freePort(excluding: [daemon.sipPort, phonePort]))], timeout: 180)
        let seconds = Date().timeIntervalSince(started)
        #expect(status == 0 && stats.successful == Self.calls && stats.failed == 0, "\(output.suffix(3000))")
        let deadline = Date().addingTimeInterval(15)
        while phones.isRunning && Date() < deadline { usleep(100_000) }

        let log = (try? String(contentsOfFile: "\(daemon.state)/queue_log", encoding: .utf8)) ?? ""
        func count(_ event: String) -> Int { log.split(separator: "\n").filter { $0.split(separator: "|").dropFirst(4).first == Substring(event) }.count }
        #expect(count("ENTERQUEUE") == Self.calls && count("CONNECT") == Self.calls && count("COMPLETECALLER") == Self.calls)
        #expect(count("ABANDON") == 0 && count("RINGNOANSWER") == 0)
        let deadline2 = Date().addingTimeInterval(10)
        var calls: JSONValue?
        repeat {
            calls = try daemon.status()["calls"]
            if calls?["active"] == 0 && calls?["sessions"] == 0 && calls?["agent_legs"] == 0 && calls?["rtp_ports_in_use"] == 0 { break }
            usleep(200_000)
        } while Date() < deadline2
        #expect(calls?["active"] == 0 && calls?["sessions"] == 0 && calls?["agent_legs"] == 0 && calls?["rtp_ports_in_use"] == 0, "\(calls ?? .null)")
        #expect(try daemon.status()["acd"]?["callers_waiting"] == 0)
        var agents = try #require(daemon.control("agents").result?.arrayValue)
        let settle = Date().addingTimeInterval(5)
        while agents.filter({ $0["state"] == "ready" }).count < Self.agents && Date() < settle {
            usleep(200_000)
            agents = try #require(daemon.control("agents").result?.arrayValue)
        }
        let notReady = agents.filter { $0["state"] != "ready" && $0["id"]?.stringValue?.hasPrefix("20") == true }
        #expect(notReady.isEmpty, "agents not ready after the soak: \(notReady)")
        print("soak: \(Self.calls) calls at 20/s in \(Int(seconds)) s; SIPp successful \(stats.successful), failed \(stats.failed)")
        #expect(daemon.stop() == 0)
    }
}

/// The load rig of the soak tests: a configuration with `agents` extra agents in sales (ids 2001…),
/// the daemon on it (with `sets`), one SIPp answering for every agent's phone (`agents_uas.xml`,
/// 100–1000 ms before answering), the agents registered over the wire and logged in.
struct SoakRig {
    let dir: String
    let daemon: Daemon
    let phones: Process
    let phonePort: Int

    init(agents: Int, calls: Int, sets: [String: String] = [:]) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("acdd-soak-\(UUID().uuidString.prefix(6))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var config = try String(contentsOfFile: "\(packageRoot)/config/acd.toml", encoding: .utf8)
        try copyConfigCompanions(to: dir)
        for i in 1...agents {
            let id = String(2000 + i)
            config += "\n[[agents]]\nid = \"\(id)\"\npassword = \"secret\(id)\"\nskills = { sales = 5 }\n"
        }
        try config.write(toFile: "\(dir)/acd.toml", atomically: true, encoding: .utf8)
        daemon = try Daemon(
            config: "\(dir)/acd.toml",
            sets: [
                "groups.0.wrap_up_seconds": "0", "ivr.nodes.welcome.prompts": "[]", "security.messages_per_second": "100000",
                "security.burst": "100000", "media.timeout_seconds": "0",
            ].merging(sets) { $1 }, state: "\(dir)/state")

        phonePort = freePort(excluding: [daemon.sipPort])
        try? FileManager.default.createSymbolicLink(atPath: "\(dir)/pcap", withDestinationPath: "/usr/share/sip-tester")
        phones = Process()
        phones.executableURL = URL(fileURLWithPath: sippPath!)
        phones.arguments = [
            "-sf", "\(scenarios)/agents_uas.xml", "-i", "127.0.0.1", "-p", String(phonePort), "-m", String(calls), "-nostdin", "-timeout", "200s",
            "-mi", "127.0.0.1", "-mp", String(freePort(excluding: [daemon.sipPort, phonePort])), "-trace_stat", "-stf", "\(dir)/phones.csv",
            "-max_recv_loops", "1000",
        ]
        phones.currentDirectoryURL = URL(fileURLWithPath: dir)
        phones.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        phones.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try phones.run()

        // Registered over the wire with digest, each with the Contact of the SIPp that answers.
        let registrar = try UDPProbe()
        for i in 1...agents { try AgentPhone.register(String(2000 + i), daemon: daemon, from: registrar, contactPort: phonePort) }
        #expect(try daemon.control("registrations").result?.arrayValue?.count == agents)
        for i in 1...agents { #expect(try daemon.control("agent.login", ["agent": .string(String(2000 + i))]).ok) }
    }
}
