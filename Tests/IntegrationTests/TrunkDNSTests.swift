import Foundation
import JSON
import TestSupport
import Testing

/// Issue 20: a trunk whose outbound is a DNS name, resolved through the system resolver. The test
/// makes a network namespace of its own whose resolv.conf (`/etc/netns/NAME/resolv.conf`, which
/// `ip netns exec` puts in place) names a DNS server the test runs inside it; the carrier is a
/// plain SIP responder there too, and acdd runs in the namespace (its control socket is a file,
/// so the test still reaches it).
@Suite(.serialized) struct TrunkDNSTests {
    static let ip = "/usr/sbin/ip"

    final class Namespace {
        let name = "acdd-dns-\(UUID().uuidString.prefix(6).lowercased())"
        var processes: [Process] = []
        init() throws {
            try #require(run(TrunkDNSTests.ip, ["netns", "add", name]).status == 0, "ip netns add failed")
            _ = try run(TrunkDNSTests.ip, ["netns", "exec", name, "ip", "link", "set", "lo", "up"])
            try FileManager.default.createDirectory(atPath: "/etc/netns/\(name)", withIntermediateDirectories: true)
            try "nameserver 127.0.0.1\noptions timeout:1 attempts:2\n".write(toFile: "/etc/netns/\(name)/resolv.conf", atomically: true, encoding: .utf8)
        }
        /// Starts `args` inside the namespace (in `cwd`, if given); stopped with the namespace.
        @discardableResult
        func start(_ args: [String], log: String, cwd: String? = nil) throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: TrunkDNSTests.ip)
            p.arguments = ["netns", "exec", name] + args
            if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            p.standardError = FileHandle(forWritingAtPath: log)
            p.standardOutput = FileHandle(forWritingAtPath: log)
            try p.run()
            processes.append(p)
            return p
        }
        deinit {
            // SIGKILL: a child started from a test thread may inherit a mask that blocks SIGTERM.
            for p in processes where p.isRunning {
                kill(p.processIdentifier, SIGKILL)
                p.waitUntilExit()
            }
            _ = try? run(TrunkDNSTests.ip, ["netns", "del", name])
            try? FileManager.default.removeItem(atPath: "/etc/netns/\(name)")
        }
    }

    @Test(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: ip), "network namespaces need root and iproute2"))
    func aTrunkNamedByDNSIsReachedThroughItsSRVRecords() throws {
        let ns = try Namespace()
        let dir = "/tmp/acdd-dns-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let scenarios = "\(packageRoot)/Tests/IntegrationTests/scenarios"
        // SRV: the preferred target has no address; the next is the carrier, at 5070.
        try ns.start(
            [
                "python3", "\(scenarios)/dns-server.py", "--srv", "_sip._udp.carrier.test=10,50,5060,gone.carrier.test",
                "--srv", "_sip._udp.carrier.test=20,50,5070,sip2.carrier.test", "--a", "sip2.carrier.test=127.0.0.1",
            ], log: "\(dir)/dns.log")
        try ns.start(["python3", "\(scenarios)/options-peer.py", "--port", "5070", "--log", "\(dir)/carrier.log"], log: "\(dir)/peer.log")
        usleep(300_000)
        let daemon = try Daemon(
            sets: ["trunks.0.outbound": "carrier.test", "trunks.0.keepalive_seconds": "1"], launcher: [Self.ip, "netns", "exec", ns.name])
        defer { daemon.stop() }
        #expect(try eventually(10) {
            let t = try daemon.status()["trunks"]?.arrayValue?.first
            return t?["outbound"] == "127.0.0.1:5070" && t?["state"] == "up"
        }, "\((try? daemon.status()["trunks"]) ?? .null)\n\(daemon.log)")
        let carrier = (try? String(contentsOfFile: "\(dir)/carrier.log", encoding: .utf8)) ?? ""
        #expect(carrier.contains("OPTIONS sip:127.0.0.1:5070"), "the carrier got no keep-alive: \(carrier)")
        let queries = (try? String(contentsOfFile: "\(dir)/dns.log", encoding: .utf8)) ?? ""
        #expect(queries.contains("query _sip._udp.carrier.test type 33: 2 answers"), "\(queries)")
        #expect(queries.contains("query gone.carrier.test type 1: 0 answers"), "the preferred SRV target was not looked up first: \(queries)")
        #expect(daemon.log.contains("trunk's outbound name resolved"), "\(daemon.log)")
        #expect(daemon.stop() == 0)
    }

    /// A call out on a trunk named by DNS whose first target answers INVITE with 503 (and
    /// OPTIONS with 200, so the trunk looks up): the same INVITE goes to the next SRV target,
    /// a SIPp phone that answers, and the caller talks to it. The next call goes to that target
    /// first, the 503's Retry-After not being over; status counts the move.
    @Test(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: ip) && haveSIPp, "network namespaces need root and iproute2; sipp"))
    func aCallFailsOverToTheTrunksNextTarget() throws {
        let ns = try Namespace()
        let dir = "/tmp/acdd-dns-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/pcap", withDestinationPath: "/usr/share/sip-tester")
        let scenarios = "\(packageRoot)/Tests/IntegrationTests/scenarios"
        try ns.start(
            [
                "python3", "\(scenarios)/dns-server.py", "--srv", "_sip._udp.carrier.test=10,50,5070,sip1.carrier.test",
                "--srv", "_sip._udp.carrier.test=20,50,5072,sip2.carrier.test", "--a", "sip1.carrier.test=127.0.0.1", "--a", "sip2.carrier.test=127.0.0.1",
            ], log: "\(dir)/dns.log")
        try ns.start(
            ["python3", "\(scenarios)/options-peer.py", "--port", "5070", "--log", "\(dir)/carrier.log", "--invite", "503", "--retry-after", "300"],
            log: "\(dir)/peer.log")
        let second = try ns.start(
            [
                sippPath!, "-sf", "\(scenarios)/agent_phone.xml", "-i", "127.0.0.1", "-p", "5072", "-m", "2", "-nostdin", "-timeout", "60s",
                "-mi", "127.0.0.1", "-mp", "26000", "-trace_stat", "-stf", "\(dir)/second.csv",
            ], log: "\(dir)/second.log", cwd: dir)
        usleep(300_000)
        let daemon = try Daemon(
            sets: ["trunks.0.outbound": "carrier.test", "trunks.0.keepalive_seconds": "1", "groups.0.wrap_up_seconds": "0", "media.timeout_seconds": "0"],
            launcher: [Self.ip, "netns", "exec", ns.name])
        defer { daemon.stop() }
        #expect(try eventually(10) { try daemon.status()["trunks"]?.arrayValue?.first?["state"] == "up" }, "\(daemon.log)")
        #expect(try daemon.control("agent.login", ["agent": "1004", "device": "tel:0301234567"]).ok)

        func placeCall(_ n: Int) throws -> Int32 {
            let caller = try ns.start(
                [
                    sippPath!, "127.0.0.1:\(daemon.sipPort)", "-sf", "\(scenarios)/caller_menu.xml", "-s", "100", "-i", "127.0.0.1", "-p", "\(5080 + n)",
                    "-m", "1", "-nostdin", "-timeout", "40s", "-timeout_error", "-mi", "127.0.0.1", "-mp", "\(27000 + 100 * n)",
                ], log: "\(dir)/caller\(n).log", cwd: dir)
            let deadline = Date().addingTimeInterval(45)
            while caller.isRunning && Date() < deadline { usleep(100_000) }
            return caller.isRunning ? -1 : caller.terminationStatus
        }
        #expect(try placeCall(1) == 0, "the first caller's SIPp failed: \((try? String(contentsOfFile: "\(dir)/caller1.log", encoding: .utf8)) ?? "")\n\(daemon.log)")
        let carrier = (try? String(contentsOfFile: "\(dir)/carrier.log", encoding: .utf8)) ?? ""
        #expect(carrier.contains("INVITE sip:0301234567@carrier.test SIP/2.0") && carrier.contains("ACK sip:0301234567@carrier.test"), "\(carrier)")
        #expect(daemon.log.contains("trunk target failed; the call tries the next"), "\(daemon.log)")
        #expect(daemon.log.contains("trunk.target=127.0.0.1:5070") && daemon.log.contains("trunk.next=127.0.0.1:5072"))
        #expect(daemon.log.contains("trunk.avoid_seconds=300"))
        #expect(try daemon.status()["trunks"]?.arrayValue?.first?["failovers"] == 1)

        // The second call goes to the target that answered, without trying the first again.
        #expect(try placeCall(2) == 0, "the second caller's SIPp failed\n\(daemon.log)")
        let after = (try? String(contentsOfFile: "\(dir)/carrier.log", encoding: .utf8)) ?? ""
        #expect(after.components(separatedBy: "INVITE ").count - 1 == 1, "the failed target was tried again within its Retry-After: \(after)")
        #expect(try daemon.status()["trunks"]?.arrayValue?.first?["failovers"] == 1)
        let deadline = Date().addingTimeInterval(10)
        while second.isRunning && Date() < deadline { usleep(100_000) }
        #expect(try SIPpStats(csv: "\(dir)/second.csv").successful == 2, "the second target did not take both calls")
        let queueLog = ((try? String(contentsOfFile: "\(daemon.state)/queue_log", encoding: .utf8)) ?? "").split(separator: "\n")
        let connects = queueLog.map { $0.split(separator: "|", omittingEmptySubsequences: false) }.filter { $0.count > 4 && $0[4] == "CONNECT" }
        #expect(connects.count == 2 && connects.allSatisfy { $0[3].contains("1004") }, "\(queueLog)")
        #expect(daemon.stop() == 0)
    }
}
