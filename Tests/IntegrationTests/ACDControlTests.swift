import Control
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
import JSON
#endif

/// The ACD through the real control socket of a running acdd on the default configuration:
/// acdctl's agent commands, tables and JSON, the event stream, and the queue log on disk.
@Suite(.serialized) struct ACDControlTests {
    let ctl = "\(binDir)/acdctl"

    func acdctl(_ daemon: Daemon, _ args: [String]) throws -> (status: Int32, output: String) {
        try run(ctl, ["--socket", daemon.socket] + args)
    }

    /// Waits (bounded) for `text` to appear in a file the daemon writes.
    func waitFor(_ text: String, in path: String, seconds: Double = 5) -> String {
        let deadline = Date().addingTimeInterval(seconds)
        var content = ""
        while Date() < deadline {
            content = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            if content.contains(text) { break }
            usleep(50_000)
        }
        return content
    }

    @Test func agentsAreSteeredFromAcdctlAndTheQueueLogRecordsIt() throws {
        let daemon = try Daemon()
        defer { daemon.stop() }
        var r = try acdctl(daemon, ["agent", "login", "1001"])
        #expect(r.status == 0 && r.output.contains("agent 1001 is ready"), "\(r.output)")
        r = try acdctl(daemon, ["agent", "login", "1001"])
        #expect(r.status == 1 && r.output.contains("illegal_transition") && r.output.contains("already logged in"), "\(r.output)")
        r = try acdctl(daemon, ["agent", "pause", "1001", "--reason", "lunch"])
        #expect(r.status == 0 && r.output.contains("not-ready (lunch)"), "\(r.output)")
        r = try acdctl(daemon, ["agent", "pause", "1002", "--reason", "lunch"])
        #expect(r.status == 1 && r.output.contains("1002"), "\(r.output)")
        r = try acdctl(daemon, ["agent", "ready", "1001"])
        #expect(r.status == 0 && r.output.contains("is ready"))
        r = try acdctl(daemon, ["agent", "login", "9999"])
        #expect(r.status == 1 && r.output.contains("not_found"), "\(r.output)")
        r = try acdctl(daemon, ["agent", "login", "1002", "--paused", "training", "--device", "sip:1002@127.0.0.1"])
        #expect(r.output.contains("not-ready (training)"), "\(r.output)")
        r = try acdctl(daemon, ["agent", "skills", "1002", "support=9"])
        #expect(r.status == 0)
        r = try acdctl(daemon, ["agent", "skills", "1002", "support=11"])
        #expect(r.status == 1 && r.output.contains("invalid_argument") && r.output.contains("1-10"), "\(r.output)")

        // Tables for people...
        let agents = try acdctl(daemon, ["agents"])
        let lines = agents.output.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("AGENT") == true)
        #expect(lines.contains { $0.hasPrefix("1001") && $0.contains("Alice") && $0.contains("ready") && $0.contains("sales:8,support:3") }, "\(agents.output)")
        #expect(lines.contains { $0.hasPrefix("1002") && $0.contains("not-ready") && $0.contains("training") && $0.contains("support:9") }, "\(agents.output)")
        #expect(lines.contains { $0.hasPrefix("1004") && $0.contains("logged-out") })
        let queues = try acdctl(daemon, ["queues"])
        #expect(queues.output.contains("sales") && queues.output.contains("support") && queues.output.contains("longest-idle"), "\(queues.output)")

        // ...and JSON for scripts.
        let json = try JSONDecoder().decode(JSONValue.self, from: Data(try acdctl(daemon, ["agents", "--json"]).output.utf8))
        let alice = json.arrayValue?.first { $0["id"] == "1001" }
        #expect(alice?["state"] == "ready" && alice?["device"] == "sip:1001")
        let q = try JSONDecoder().decode(JSONValue.self, from: Data(try acdctl(daemon, ["queues", "--json"]).output.utf8))
        let sales = q.arrayValue?.first { $0["name"] == "sales" }
        #expect(sales?["agents_ready"] == JSONValue(1) && sales?["agents_logged_in"] == JSONValue(1) && sales?["waiting"] == JSONValue(0))
        let support = q.arrayValue?.first { $0["name"] == "support" }
        #expect(support?["agents_logged_in"] == JSONValue(2) && support?["agents_available"] == JSONValue(1))
        #expect(try daemon.status()["acd"]?["agents_logged_in"] == JSONValue(2))

        // A reload keeps every agent where it was.
        #expect(try acdctl(daemon, ["reload"]).status == 0)
        let after = try JSONDecoder().decode(JSONValue.self, from: Data(try acdctl(daemon, ["agents", "--json"]).output.utf8))
        #expect(after.arrayValue?.first { $0["id"] == "1001" }?["state"] == "ready")

        // Asterisk's queue_log format, on disk under paths.state.
        let log = waitFor("CONFIGRELOAD", in: "\(daemon.state)/queue_log")
        let entries = log.split(separator: "\n").map { $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init) }
        func line(_ fields: [String]) -> Bool { entries.contains { Array($0.dropFirst()) == fields } }
        #expect(entries.first.map { Array($0.dropFirst()) } == ["NONE", "NONE", "NONE", "QUEUESTART"])
        #expect(line(["NONE", "NONE", "Agent/1001", "AGENTLOGIN", "sip:1001"]), "\(log)")
        #expect(line(["NONE", "sales", "Agent/1001", "PAUSE", "lunch"]), "\(log)")
        #expect(line(["NONE", "support", "Agent/1001", "UNPAUSE", "lunch"]), "\(log)")
        #expect(line(["NONE", "sales", "Agent/1002", "REMOVEMEMBER"]), "\(log)")
        #expect(entries.allSatisfy { $0.count >= 5 && Int($0[0]) != nil }, "\(log)")
    }

    @Test func eventsStreamToSubscribers() throws {
        let daemon = try Daemon()
        defer { daemon.stop() }
        let subscriber = try ControlClient(path: daemon.socket)
        let r = try subscriber.call("subscribe", args: ["topics": ["agent", "queue"]])
        #expect(r.ok && r.result?["subscribed"] == ["agent", "queue"])
        #expect(try subscriber.call("subscribe", args: ["topics": ["weather"]]).error?.code == .invalidArgument)
        #expect(try acdctl(daemon, ["agent", "login", "1003"]).status == 0)
        var seen: [JSONValue] = []
        while seen.count < 4 { seen.append(try JSONDecoder().decode(JSONValue.self, from: Data(try subscriber.readLine()))) }
        #expect(seen.contains { $0["event"] == "queue" && $0["type"] == "AGENTLOGIN" && $0["agent"] == "Agent/1003" })
        #expect(seen.contains { $0["event"] == "agent" && $0["agent"] == "1003" && $0["state"] == "ready" })
        #expect(seen.allSatisfy { $0["time"]?.doubleValue != nil && $0["ok"] == nil })

        // acdctl events: streams until --count events have arrived.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ctl)
        process.arguments = ["--socket", daemon.socket, "events", "--follow", "--topic", "agent", "--count", "2"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        var reason = "break"
        for _ in 0..<50 where process.isRunning {
            _ = try acdctl(daemon, reason == "break" ? ["agent", "pause", "1003", "--reason", reason] : ["agent", "ready", "1003"])
            reason = reason == "break" ? "ready" : "break"
            usleep(100_000)
        }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(out)")
        #expect(out.split(separator: "\n").count == 2 && out.contains("agent 1003"), "\(out)")
    }
}
