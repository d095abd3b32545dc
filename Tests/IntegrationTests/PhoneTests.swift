import Control
import NIOCore
import Foundation
import SIP
import SIPMessage
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
import JSON
#endif

let baresipPath = which("baresip")

/// baresip run headless for a test: its own config directory under the daemon's state, audio
/// through aubridge (no sound card), commands written to its standard input (the stdio and menu
/// modules read them, e.g. "/dial sip:601@127.0.0.1:5060"), and optionally every call's audio
/// dumped to WAV files by the sndfile module.
final class Baresip {
    let dir: String
    let sipPort: Int
    private let process = Process()
    private let input = Pipe()  // kept open: baresip quits on end of input

    /// `extraConfig`: more lines for its config file (`sip_cafile PATH` for TLS).
    init(state: String, account: String, avoiding: Set<Int>, dumpAudio: Bool = false, extraConfig: String = "") throws {
        dir = "\(state)/baresip-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let modules = ["/usr/lib/baresip/modules", "/usr/lib/x86_64-linux-gnu/baresip/modules"].first { FileManager.default.fileExists(atPath: $0) } ?? "/usr/lib/baresip/modules"
        // baresip also listens for TLS on the next port: keep both clear of the daemon's.
        var port = freePort(excluding: avoiding)
        while avoiding.contains(port + 1) { port = freePort(excluding: avoiding.union([port])) }
        sipPort = port
        var config = """
            sip_listen 127.0.0.1:\(port)
            audio_player aubridge,x
            audio_source aubridge,x
            module_path \(modules)
            module stdio.so
            module menu.so
            module g711.so
            module aubridge.so
            module account.so

            """
        if dumpAudio { config += "module sndfile.so\nsnd_path \(dir)\n" }
        config += extraConfig
        try config.write(toFile: "\(dir)/config", atomically: true, encoding: .utf8)
        try (account + "\n").write(toFile: "\(dir)/accounts", atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: baresipPath!)
        process.arguments = ["-f", dir]
        process.standardInput = input
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
    }

    func command(_ line: String) {
        input.fileHandleForWriting.write(Data((line + "\n").utf8))
    }

    /// The WAV files the sndfile module wrote for audio received ("-dec").
    var receivedAudioFiles: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix("-dec.wav") }.sorted().map { "\(dir)/\($0)" }
    }

    func stop() {
        // baresip ignores SIGTERM while its input is open: close it, then make sure.
        try? input.fileHandleForWriting.close()
        process.terminate()
        let stop = Date().addingTimeInterval(2)
        while process.isRunning && Date() < stop { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

/// Agents' phones registering to the daemon on the default configuration.
@Suite(.serialized, .timeLimit(.minutes(2))) struct PhoneTests {
    /// baresip (Debian 12's 1.0.0), headless, registers as agent 1001 with the default config.
    @Test(.enabled(if: baresipPath != nil, "baresip is not installed; scripts/setup.sh installs it"))
    func baresipRegisters() throws {
        let daemon = try Daemon()
        let phone = try Baresip(state: daemon.state, account: "<sip:1001@127.0.0.1:\(daemon.sipPort);transport=udp>;auth_pass=secret1001;regint=600", avoiding: [daemon.sipPort])
        defer { phone.stop() }
        let port = phone.sipPort
        let deadline = Date().addingTimeInterval(10)
        var regs: [JSONValue] = []
        while Date() < deadline {
            regs = try daemon.control("registrations").result?.arrayValue ?? []
            if !regs.isEmpty { break }
            usleep(100_000)
        }
        #expect(regs.first?["aor"] == "1001")
        #expect(regs.first?["user_agent"]?.stringValue?.hasPrefix("baresip") == true)
        #expect(regs.first?["source"] == .string("udp:127.0.0.1:\(port)"))
    }

    /// SIP over TLS with a real phone (issue 20): baresip, trusting the test's CA, registers as
    /// 1001 on the daemon's TLS port and calls the playback number over it; the daemon's BYE at
    /// the end goes back over the same connection, and the prompt's audio arrives.
    @Test(.enabled(if: baresipPath != nil, "baresip is not installed; scripts/setup.sh installs it"))
    func baresipRegistersAndCallsOverTLS() throws {
        let certs = try TestCertificates()
        let tlsPort = freePort()
        let daemon = try Daemon(sets: [
            "sip.tls_listen": "127.0.0.1:\(tlsPort)", "sip.tls_certificate": certs.server.certificate, "sip.tls_key": certs.server.key,
        ])
        #expect(try daemon.status()["sip"]?["tls_listen"] == .string("127.0.0.1:\(tlsPort)"))
        let phone = try Baresip(
            state: daemon.state, account: "<sip:1001@127.0.0.1:\(tlsPort);transport=tls>;auth_pass=secret1001;regint=600;audio_codecs=PCMU",
            avoiding: [daemon.sipPort, tlsPort], dumpAudio: true, extraConfig: "sip_cafile \(certs.ca)\n")
        defer { phone.stop() }
        var regs: [JSONValue] = []
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            regs = try daemon.control("registrations").result?.arrayValue ?? []
            if !regs.isEmpty { break }
            usleep(100_000)
        }
        #expect(regs.first?["aor"] == "1001", "\(daemon.log)")
        #expect(regs.first?["source"]?.stringValue?.hasPrefix("tls:127.0.0.1:") == true, "\(regs)")
        phone.command("/dial sip:601@127.0.0.1:\(tlsPort);transport=tls")
        let end = Date().addingTimeInterval(40)
        while !daemon.log.contains("call ended"), Date() < end { usleep(200_000) }
        #expect(daemon.log.contains("playback test done"), "\(daemon.log)")
        var samples = 0
        while Date() < end {
            if let file = phone.receivedAudioFiles.first, let s = try? PromptAudio.wav(file), s.count > 8000 {
                samples = s.count
                break
            }
            usleep(200_000)
        }
        #expect(samples > 8000, "baresip got no audio on its call over TLS")
        #expect(daemon.stop() == 0)
    }

    /// A queued caller offered to an agent whose phone registered over TLS (issue 20): the
    /// INVITE goes down the phone's own TLS connection, baresip answers, the caller's speech
    /// (g711a.pcap, 236 packets) is relayed to it, and the queue log has the CONNECT.
    @Test(.enabled(if: baresipPath != nil && haveSIPp, "baresip or sipp is not installed; scripts/setup.sh installs them"))
    func aCallerReachesAnAgentOnATLSPhone() throws {
        let certs = try TestCertificates()
        let tlsPort = freePort()
        let daemon = try Daemon(sets: [
            "sip.tls_listen": "127.0.0.1:\(tlsPort)", "sip.tls_certificate": certs.server.certificate, "sip.tls_key": certs.server.key,
            "media.timeout_seconds": "0",
        ])
        let phone = try Baresip(
            state: daemon.state,
            account: "<sip:1001@127.0.0.1:\(tlsPort);transport=tls>;auth_pass=secret1001;regint=600;answermode=auto;audio_codecs=PCMA",
            avoiding: [daemon.sipPort, tlsPort], extraConfig: "sip_cafile \(certs.ca)\n")
        defer { phone.stop() }
        #expect(try eventually(10) { try daemon.control("registrations").result?.arrayValue?.first?["source"]?.stringValue?.hasPrefix("tls:") == true })
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)
        let (status, stats, output) = try sipp(
            daemon, scenario: "caller_menu.xml", calls: 1, rate: 1, service: "100",
            extra: ["-mi", "127.0.0.1", "-mp", String(46000 + 4 * Int.random(in: 0..<500))], timeout: 60)
        #expect(status == 0 && stats.successful == 1, "\(output)\n\(daemon.log)")
        #expect(eventually { daemon.log.contains("agent leg ended") })
        let leg = daemon.log.split(separator: "\n").first { $0.contains("\"agent leg ended\"") } ?? ""
        let relayed = leg.split(separator: " ").first { $0.hasPrefix("rtp.relayed=") }.flatMap { Int($0.split(separator: "=")[1]) } ?? 0
        #expect(relayed >= 200, "the caller's speech did not reach the TLS phone: \(leg)")
        #expect(daemon.log.contains("agent.peer=tls:127.0.0.1:"), "the agent was not rung over TLS")
        let queueLog = (try? String(contentsOfFile: "\(daemon.state)/queue_log", encoding: .utf8)) ?? ""
        #expect(queueLog.contains("|1001|CONNECT|") || queueLog.contains("1001|CONNECT"), "\(queueLog)")
        #expect(daemon.stop() == 0)
    }

    /// SHA-256 digest (RFC 7616) over the wire, when the configuration asks for it.
    @Test func sha256RegisterOverTheWire() throws {
        let daemon = try Daemon(sets: ["sip.registrar.algorithms": "SHA-256"])
        let probe = try UDPProbe()
        func register(_ cseq: UInt32, authorization: String? = nil) throws -> SIPResponse {
            var req = SIPFixtures.request(
                .register, uri: "sip:127.0.0.1:\(daemon.sipPort)", branch: "z9hG4bKsha\(cseq)", viaPort: probe.port, rport: true,
                callID: "sha-reg", cseq: cseq, extraHeaders: [("Expires", "300")], fromUser: "1002")
            req.to = SIPNameAddr(uri: try SIPURI.parse("sip:1002@127.0.0.1"))
            if let authorization { req.headers.add(.authorization, authorization) }
            probe.send(req.serialized(), to: daemon.sipPort)
            while let b = probe.receive() {
                if case .response(let r) = try SIPParser().parse(b), r.status.isFinal { return r }
            }
            throw ProbeError("no answer")
        }
        let challenge = try register(1)
        #expect(challenge.status == .unauthorized)
        #expect(try challenge.headers.values(.wwwAuthenticate).map { try SIPAuthHeader.parse($0)["algorithm"] } == ["SHA-256"])
        var client = DigestClient(username: "1002", password: "secret1002")
        var signed = SIPFixtures.request(.register, uri: "sip:127.0.0.1:\(daemon.sipPort)")
        #expect(client.authorize(&signed, challengedBy: challenge))
        let auth = try #require(signed.headers[.authorization])
        #expect(auth.contains("algorithm=SHA-256"))
        #expect(try register(2, authorization: auth).status == .ok)
        #expect(try daemon.control("registrations").result?.arrayValue?.first?["aor"] == "1002")
    }
}

/// Our UAC (the one that will call agents' phones) against SIPp's built-in UAS over the wire:
/// INVITE, 180, 200 with SDP, ACK, then our BYE and its 200.
@Suite(.serialized, .timeLimit(.minutes(3)), .enabled(if: haveSIPp, "SIPp (package sip-tester) is not installed"))
struct OutboundCallTests {
    @Test func uacCallsSIPpUAS() throws {
        let live = try LiveStack()
        defer { try? live.shutdown() }
        let port = freePort()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sipp-uas-\(UUID().uuidString.prefix(6))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let uas = Process()
        uas.executableURL = URL(fileURLWithPath: sippPath!)
        uas.arguments = ["-sn", "uas", "-i", "127.0.0.1", "-p", String(port), "-m", "1", "-nostdin", "-timeout", "30s", "-trace_stat", "-stf", "\(dir)/stat.csv"]
        uas.currentDirectoryURL = URL(fileURLWithPath: dir)
        uas.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        uas.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try uas.run()
        usleep(300_000)
        let events = NIOLockedEvents()
        try live.loop.submit {
            let sessions = SessionLayer(stack: live.stack)
            live.stack.handlers.append(sessions)
            let caps = MediaCapabilities(address: "127.0.0.1")
            let session = sessions.invite(
                to: try! SIPURI.parse("sip:service@127.0.0.1:\(port)"), peer: .udp(port),
                from: SIPNameAddr(uri: try! SIPURI.parse("sip:acdd@127.0.0.1")),
                offer: SDPNegotiation.offer(capabilities: caps, localPort: 40010, sessionID: "1", sessionVersion: 1))
            session.onEvent = { event in
                switch event {
                case .progress(let r): events.append("progress \(r.status.rawValue)")
                case .answered(let sdp):
                    events.append("answered \(sdp?.media.first?.port ?? 0)")
                    session.hangUp()
                case .ended(let reason): events.append("ended \(reason)")
                }
            }
        }.wait()
        let deadline = Date().addingTimeInterval(10)
        while uas.isRunning && Date() < deadline { usleep(50_000) }
        usleep(200_000)
        let seen = events.all
        #expect(seen.first == "progress 180", "\(seen)")
        #expect(seen.contains { $0.hasPrefix("answered ") && $0 != "answered 0" }, "\(seen)")
        #expect(seen.last == "ended local hangup", "\(seen)")
        #expect(try SIPpStats(csv: "\(dir)/stat.csv").successful == 1)
        if uas.isRunning { uas.terminate() }
    }
}

/// Events collected on the stack's loop, read from the test thread.
final class NIOLockedEvents: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func append(_ s: String) { lock.lock(); items.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return items }
}
