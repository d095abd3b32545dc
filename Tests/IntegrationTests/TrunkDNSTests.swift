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
        /// Starts `args` inside the namespace; stopped with the namespace.
        func start(_ args: [String], log: String) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: TrunkDNSTests.ip)
            p.arguments = ["netns", "exec", name] + args
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            p.standardError = FileHandle(forWritingAtPath: log)
            p.standardOutput = FileHandle(forWritingAtPath: log)
            try p.run()
            processes.append(p)
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
}
