import Control
import Foundation
import SIPMessage
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
import JSON
#endif

/// Start, readiness, watchdog, reload, control socket and stop, as systemd and an operator see them.
@Suite(.serialized, .timeLimit(.minutes(3))) struct LifecycleTests {
    @Test func checkConfig() throws {
        let good = try run("\(binDir)/acdd", ["--check-config", "\(packageRoot)/config/acd.toml"])
        #expect(good.status == 0 && good.output.contains("OK"))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("acdd-cc-\(UUID().uuidString.prefix(6))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let broken = "\(dir)/broken.toml"
        try "[sip]\nlisten = \"127.0.0.1:5060\"\n\n[[groups]]\nname = \"sales\"\nstrategy = \"fastest\"\n".write(toFile: broken, atomically: true, encoding: .utf8)
        let bad = try run("\(binDir)/acdd", ["--check-config", broken])
        #expect(bad.status != 0)
        #expect(bad.output.contains("\(broken):6: strategy must be one of"), "\(bad.output)")
        let override = try run("\(binDir)/acdd", ["--check-config", "\(packageRoot)/config/acd.toml", "--set", "sip.listen=nowhere"])
        #expect(override.status != 0 && override.output.contains("--set sip.listen:"), "\(override.output)")
        // Starting on a broken file fails the same way, before binding anything.
        let start = try run("\(binDir)/acdd", ["--config", broken, "--set", "paths.state=\(dir)"], timeout: 20)
        #expect(start.status == 78 && start.output.contains("\(broken):6:"))
    }

    /// A subsystem that cannot start (SIP's port is taken) stops the start: what came up before it
    /// (the records, the ACD) is stopped again, nothing after it starts (no control socket), the
    /// log names the subsystem, and the exit status is 1.
    @Test func aSubsystemThatCannotStartStopsTheOnesBeforeIt() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("acdd-busy-\(UUID().uuidString.prefix(6))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let holder = try UDPProbe()
        let start = try run(
            "\(binDir)/acdd",
            ["--config", "\(packageRoot)/config/acd.toml", "--set", "paths.state=\(dir)", "--set", "sip.listen=127.0.0.1:\(holder.port)", "--set", "media.rtp_ports=39000-39099"],
            timeout: 20)
        #expect(start.status == 1, "\(start.output)")
        #expect(start.output.contains("\"acdd could not start\"") && start.output.contains("subsystem=sip"), "\(start.output)")
        #expect(start.output.contains("Address already in use"))
        #expect(!start.output.contains("acdd ready") && !start.output.contains("reopening"))
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/acdd.sock"))
        // The ACD came up before SIP and was stopped cleanly: its queue log says it started.
        #expect(((try? String(contentsOfFile: "\(dir)/queue_log", encoding: .utf8)) ?? "").contains("QUEUESTART"))
        #expect(start.output.hasSuffix("\"acdd stopped\"\n") || start.output.contains("\"acdd stopped\""))
    }

    /// Type=notify: READY=1 once listening, WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1 on SIGTERM.
    @Test func systemdNotifications() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("acdd-sd-\(UUID().uuidString.prefix(6))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let notify = try DatagramListener(path: "\(dir)/notify.sock")
        let daemon = try Daemon(environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000"])
        let start = Date()
        var messages: [String] = []
        while Date().timeIntervalSince(start) < 1.0, let m = notify.receive() { messages.append(m) }
        #expect(messages.first?.contains("READY=1") == true, "\(messages)")
        #expect(messages.filter { $0 == "WATCHDOG=1" }.count >= 5, "\(messages)")
        #expect(daemon.stop() == 0)
        var rest: [String] = []
        while let m = notify.receive() { rest.append(m) }
        #expect(rest.contains { $0.hasPrefix("STOPPING=1") }, "\(rest)")
    }

    /// SIGTERM with a call up: new calls get 503 while draining, the call is hung up with BYE
    /// after drain_seconds, and the daemon exits 0 with nothing lost.
    @Test(.enabled(if: haveSIPp)) func gracefulStopEndsCallsCleanly() throws {
        let daemon = try Daemon(sets: ["daemon.drain_seconds": "2"])
        let caller = Process()
        caller.executableURL = URL(fileURLWithPath: sippPath!)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sipp-stop-\(UUID().uuidString.prefix(6))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        caller.arguments = [
            "127.0.0.1:\(daemon.sipPort)", "-sf", "\(scenarios)/uac_wait_bye.xml", "-s", "100", "-i", "127.0.0.1", "-p", String(freePort()),
            "-m", "2", "-r", "10", "-nostdin", "-timeout", "30s", "-timeout_error", "-trace_stat", "-stf", "\(dir)/stat.csv",
        ]
        caller.currentDirectoryURL = URL(fileURLWithPath: dir)
        caller.standardOutput = FileHandle.nullDevice
        caller.standardError = FileHandle.nullDevice
        try caller.run()
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, (try? daemon.status()["calls"]?["active"]) != 2 { usleep(50_000) }
        #expect(try daemon.status()["calls"]?["active"] == 2)
        kill(daemon.process.processIdentifier, SIGTERM)
        usleep(300_000)
        // Draining: a new call is refused with 503 and OPTIONS says 503 too.
        let probe = try UDPProbe()
        probe.send(SIPFixtures.request(.invite, uri: "sip:100@127.0.0.1:\(daemon.sipPort)", viaPort: probe.port, rport: true).serialized(), to: daemon.sipPort)
        var final: SIPStatus?
        while final == nil, let b = probe.receive() { if case .response(let r) = try SIPParser().parse(b), r.status.isFinal { final = r.status } }
        #expect(final == .serviceUnavailable)
        let exit = daemon.stop(timeout: 15)
        #expect(exit == 0)
        caller.waitUntilExit()
        let stats = try SIPpStats(csv: "\(dir)/stat.csv")
        #expect(stats.successful == 2 && stats.failed == 0, "\(stats.values)")
        #expect(daemon.log.contains("hanging up calls still going"))
        #expect(!FileManager.default.fileExists(atPath: daemon.socket))
    }

    /// Reload through acdctl and SIGHUP: a good file applies, a broken one is refused with its line
    /// and the running configuration stays.
    @Test func reload() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("acdd-rl-\(UUID().uuidString.prefix(6))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let config = "\(dir)/acd.toml"
        let original = try String(contentsOfFile: "\(packageRoot)/config/acd.toml", encoding: .utf8)
        try copyConfigCompanions(to: dir)
        try original.write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try Daemon(config: config, state: "\(dir)/state")
        let ctl = "\(binDir)/acdctl"
        // A new trunk number becomes reachable after reload.
        try original.replacingOccurrences(of: "numbers = [\"100\", \"600\", \"601\", \"602\", \"603\"]", with: "numbers = [\"100\", \"600\", \"601\", \"602\", \"603\", \"200\"]").write(toFile: config, atomically: true, encoding: .utf8)
        let ok = try run(ctl, ["--socket", daemon.socket, "reload"])
        #expect(ok.status == 0 && ok.output.contains("reloaded"), "\(ok.output)")
        #expect(try finalStatus(daemon, number: "200") == .ok)
        // A broken file: refused with file:line, the old configuration keeps working.
        try (original + "\n[[groups]]\nname = \"x\"\nstrategy = \"nope\"\n").write(toFile: config, atomically: true, encoding: .utf8)
        let refused = try run(ctl, ["--socket", daemon.socket, "reload"])
        #expect(refused.status == 1)
        #expect(refused.output.contains("\(config):"), "\(refused.output)")
        #expect(refused.output.contains("strategy must be one of"))
        kill(daemon.process.processIdentifier, SIGHUP)
        usleep(300_000)
        #expect(daemon.log.contains("reload refused"))
        #expect(try finalStatus(daemon, number: "200") == .ok)
        #expect(daemon.process.isRunning)
        #expect(daemon.stop() == 0)
    }

    /// A prompt set that cannot work stops the start with the file named, and a prompt broken
    /// while the daemon runs makes a reload refuse and keep the set it has.
    @Test func brokenPromptsStopTheStartAndRefuseAReload() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("acdd-pr-\(UUID().uuidString.prefix(6))").path
        try FileManager.default.createDirectory(atPath: "\(dir)/en", withIntermediateDirectories: true)
        do {
            _ = try Daemon(sets: ["paths.prompts": dir])
            Issue.record("acdd started without prompts")
        } catch {
            #expect("\(error)".contains("prompt directory \(dir) does not exist or has no language or moh folder"), "\(error)")
        }
        try FileManager.default.removeItem(atPath: dir)
        try FileManager.default.copyItem(atPath: "\(packageRoot)/prompts", toPath: dir)
        try FileManager.default.removeItem(atPath: "\(dir)/en/goodbye.wav")
        do {
            _ = try Daemon(sets: ["paths.prompts": dir])
            Issue.record("acdd started without the playback test's goodbye")
        } catch {
            #expect("\(error)".contains("prompt goodbye is needed but \(dir)/en/goodbye.wav does not exist"), "\(error)")
        }
        try FileManager.default.copyItem(atPath: "\(packageRoot)/prompts/en/goodbye.wav", toPath: "\(dir)/en/goodbye.wav")
        let daemon = try Daemon(sets: ["paths.prompts": dir])
        try Data("not audio".utf8).write(to: URL(fileURLWithPath: "\(dir)/en/welcome.wav"))
        let refused = try daemon.control("reload")
        #expect(refused.error?.message.contains("\(dir)/en/welcome.wav cannot be read") == true, "\(String(describing: refused.error))")
        #expect(daemon.log.components(separatedBy: "reload refused").count - 1 == 1)
        #expect(try finalStatus(daemon, number: "601") == .ok)
        #expect(daemon.stop() == 0)
    }

    private func finalStatus(_ daemon: Daemon, number: String) throws -> SIPStatus? {
        let probe = try UDPProbe()
        let offer = Array("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n".utf8)
        var invite = SIPFixtures.request(.invite, uri: "sip:\(number)@127.0.0.1:\(daemon.sipPort)", branch: "z9hG4bK\(UUID().uuidString.prefix(8))", viaPort: probe.port, rport: true, callID: UUID().uuidString, body: offer)
        invite.headers.set(.contentType, "application/sdp")
        probe.send(invite.serialized(), to: daemon.sipPort)
        while let b = probe.receive() {
            if case .response(let r) = try SIPParser().parse(b), r.status.isFinal {
                if r.status == .ok {
                    var bye = invite
                    bye.method = .bye
                    bye.cseq = SIPCSeq(2, .bye)
                    bye.to = r.to
                    bye.via[0].parameters["branch"] = .some("z9hG4bKbye\(UUID().uuidString.prefix(6))")
                    bye.body = []
                    probe.send(bye.serialized(), to: daemon.sipPort)
                }
                return r.status
            }
        }
        return nil
    }

    /// The control socket answers garbage, oversized lines and unknown commands with errors and
    /// keeps the connection; acdctl prints tables and JSON.
    @Test func controlSocket() throws {
        let daemon = try Daemon()
        let client = try ControlClient(path: daemon.socket)
        try client.sendLine(Array("this is not json\n".utf8))
        var r = try JSONDecoder().decode(ControlResponse.self, from: Data(try client.readLine()))
        #expect(r.ok == false && r.error?.code == .badRequest && (r.id == nil || r.id == .null))
        try client.sendLine(Array(repeating: UInt8(ascii: "x"), count: 70_000) + [0x0A])
        r = try JSONDecoder().decode(ControlResponse.self, from: Data(try client.readLine()))
        #expect(r.error?.code == .lineTooLong)
        r = try client.call("frobnicate")
        #expect(r.error?.code == .unknownCommand)
        r = try client.call("hangup", args: ["call": "x"])
        #expect(r.error?.code == .invalidArgument)
        r = try client.call("status")
        #expect(r.ok && r.result?["state"] == "running")

        let ctl = "\(binDir)/acdctl"
        let table = try run(ctl, ["--socket", daemon.socket, "status"])
        #expect(table.status == 0 && table.output.contains("registrations   0"), "\(table.output)")
        let json = try run(ctl, ["--socket", daemon.socket, "status", "--json"])
        let parsed = try JSONDecoder().decode(JSONValue.self, from: Data(json.output.utf8))
        #expect(parsed["sip"]?["listen"] == .string("127.0.0.1:\(daemon.sipPort)"))
        let env = try run(ctl, ["calls", "--json"], environment: ["ACDCTL_SOCKET": daemon.socket, "PATH": "/usr/bin:/bin"])
        #expect(env.status == 0 && env.output.hasPrefix("["))
        let missing = try run(ctl, ["--socket", "/nonexistent/acdd.sock", "status"])
        #expect(missing.status == 2 && missing.output.contains("cannot connect"))
    }

    /// A peer whose credentials are not allowed gets an error and a log line (SO_PEERCRED), even
    /// when the file mode lets it connect.
    @Test(.enabled(if: getuid() == 0 && which("setpriv") != nil, "needs root and setpriv to act as another user"))
    func refusedPeer() throws {
        let daemon = try Daemon(sets: ["control.mode": "0666"])
        chmod(daemon.state, 0o755)
        let nobody = try run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "\(binDir)/acdctl", "--socket", daemon.socket, "status"])
        #expect(nobody.status != 0)
        #expect(nobody.output.contains("permission_denied"), "\(nobody.output)")
        #expect(daemon.log.contains("control connection refused"))
    }
}

/// Receives sd_notify datagrams, as systemd would.
final class DatagramListener {
    let fd: Int32
    let path: String

    init(path: String) throws {
        self.path = path
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8) + [0]
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard rc == 0 else { throw ProbeError("bind \(path)") }
        var tv = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit {
        close(fd)
        unlink(path)
    }

    func receive() -> String? {
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : nil
    }
}

/// The shipped unit and sysusers files are valid for this systemd.
@Suite(.timeLimit(.minutes(5))) struct SystemdFilesTests {
    @Test(.enabled(if: which("systemd-analyze") != nil, "systemd-analyze is not installed"))
    func unitVerifies() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("acdd-unit-\(UUID().uuidString.prefix(6))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // verify checks that ExecStart exists: point it at the binary we built.
        let unit = try String(contentsOfFile: "\(packageRoot)/systemd/acdd.service", encoding: .utf8)
            .replacingOccurrences(of: "/usr/local/bin/acdd", with: "\(binDir)/acdd")
        try unit.write(toFile: "\(dir)/acdd.service", atomically: true, encoding: .utf8)
        let r = try run(which("systemd-analyze")!, ["verify", "\(dir)/acdd.service"], timeout: 60)
        #expect(r.status == 0, "\(r.output)")
        #expect(unit.contains("Type=notify") && unit.contains("WatchdogSec=") && unit.contains("ProtectSystem=strict") && unit.contains("User=acdd"))
    }

    @Test(.enabled(if: which("systemd-sysusers") != nil, "systemd-sysusers is not installed"))
    func sysusersParses() throws {
        let r = try run(which("systemd-sysusers")!, ["--dry-run", "\(packageRoot)/systemd/acdd.sysusers"], timeout: 60)
        #expect(r.status == 0, "\(r.output)")
    }
}
