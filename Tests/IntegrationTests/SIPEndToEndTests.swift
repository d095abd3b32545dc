import Control
import Foundation
import SIPMessage
import TestSupport
import Testing
import JSON

/// acdd started as an operator starts it, driven over loopback by SIPp and plain sockets.
@Suite(.serialized, .timeLimit(.minutes(5)), .enabled(if: haveSIPp, "SIPp (package sip-tester) is not installed; scripts/setup.sh installs it"))
struct SIPEndToEndTests {
    /// The issue's load check: 2,000 calls at 200 calls per second, none failed.
    @Test func twoThousandCallsAt200PerSecond() throws {
        let daemon = try Daemon(sets: ["daemon.log_level": "warning"])
        let (status, stats, output) = try sipp(daemon, scenario: "uac", calls: 2000, rate: 200, limit: 400, timeout: 90)
        #expect(stats.successful == 2000, "\(output.suffix(2000))")
        #expect(stats.failed == 0)
        #expect(status == 0)
        // Nothing is left behind: no call, session or RTP port (ports go back on their media
        // loops just after the calls end there).
        _ = try eventually(2) { try daemon.status()["calls"]?["rtp_ports_in_use"] == 0 }
        let calls = try daemon.status()["calls"]
        #expect(calls?["active"] == 0 && calls?["rtp_ports_in_use"] == 0 && calls?["sessions"] == 0)
        #expect(calls?["answered"] == 2000)
        #expect(daemon.stop() == 0)
    }

    @Test func callsOverTCP() throws {
        let daemon = try Daemon(sets: ["daemon.log_level": "warning"])
        let (_, stats, output) = try sipp(daemon, scenario: "uac", calls: 200, rate: 100, transport: "t1", timeout: 60)
        #expect(stats.successful == 200 && stats.failed == 0, "\(output.suffix(2000))")
    }

    /// The 200 OK carries an SDP answer with a real, bound RTP port from the configured range.
    @Test func answerCarriesAnAllocatedRTPPort() throws {
        let daemon = try Daemon()
        let probe = try UDPProbe()
        let offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
        var invite = SIPFixtures.request(.invite, uri: "sip:100@127.0.0.1:\(daemon.sipPort)", viaPort: probe.port, rport: true, body: Array(offer.utf8))
        invite.headers.set(.contentType, "application/sdp")
        probe.send(invite.serialized(), to: daemon.sipPort)
        var ok: SIPResponse?
        while ok == nil, let bytes = probe.receive() {
            if case .response(let r) = try SIPParser().parse(bytes), r.status.isFinal { ok = r }
        }
        // How fast (FEATURES C1) is measured in bench/sipp-call-rate.sh, not timed here.
        let answer = try #require(ok)
        #expect(answer.status == .ok)
        let sdp = try SDPSession.parse(answer.body)
        let m = try #require(sdp.media.first)
        #expect(daemon.rtpPorts.contains(m.port) && m.port % 2 == 0)
        #expect(m.formats == ["8", "101"])
        // The port is really ours: binding it fails while the call lasts.
        #expect(throws: (any Error).self) { _ = try UDPProbe(ip: "127.0.0.1", port: m.port) }
        let calls = try #require(daemon.control("calls").result?.arrayValue)
        #expect(calls.first?["local_rtp_port"] == JSONValue(m.port) && calls.first?["codec"] == "PCMA")
        #expect(daemon.stop() == 0)
    }

    @Test func registerWithDigestThroughSIPp() throws {
        let daemon = try Daemon()
        let ok = try sipp(daemon, scenario: "register_ok.xml", calls: 1, rate: 1, service: "1001", extra: ["-au", "1001", "-ap", "secret1001"], timeout: 30)
        #expect(ok.stats.successful == 1, "\(ok.output.suffix(1500))")
        let wrong = try sipp(daemon, scenario: "register_forbidden.xml", calls: 1, rate: 1, service: "1002", extra: ["-au", "1002", "-ap", "wrong"], timeout: 30)
        #expect(wrong.stats.successful == 1, "\(wrong.output.suffix(1500))")
        let regs = try #require(daemon.control("registrations").result?.arrayValue)
        #expect(regs.map { $0["aor"] } == ["1001"])
        #expect(regs.first?["user_agent"] == "SIPp")
        // Bindings survive a restart (kept in SQLite).
        #expect(daemon.stop() == 0)
        let again = try Daemon(state: daemon.state, sipPort: daemon.sipPort)
        let after = try #require(again.control("registrations").result?.arrayValue)
        #expect(after.map { $0["aor"] } == ["1001"])
    }

    /// A phone that is not a trunk gets in with digest (407); a stranger gets 403.
    @Test func whoGetsIn() throws {
        let daemon = try Daemon()
        let phone = try sipp(
            daemon, scenario: "uac_auth.xml", calls: 3, rate: 10, localIP: "127.0.0.2",
            extra: ["-au", "1001", "-ap", "secret1001", "-auth_uri", "100@127.0.0.1:\(daemon.sipPort)", "-key", "from_user", "1001"], timeout: 30)
        #expect(phone.stats.successful == 3, "\(phone.output.suffix(1500))")
        let stranger = try sipp(daemon, scenario: "uac_refused.xml", calls: 3, rate: 10, localIP: "127.0.0.3", timeout: 30)
        #expect(stranger.stats.successful == 3, "\(stranger.output.suffix(1500))")
        // A trunk call to a number the trunk does not serve: 404.
        let probe = try UDPProbe()
        let invite = SIPFixtures.request(.invite, uri: "sip:999@127.0.0.1:\(daemon.sipPort)", viaPort: probe.port, rport: true)
        probe.send(invite.serialized(), to: daemon.sipPort)
        var final: SIPStatus?
        while final == nil, let b = probe.receive() { if case .response(let r) = try SIPParser().parse(b), r.status.isFinal { final = r.status } }
        #expect(final == .notFound)
    }

    /// A flood of garbage and malformed messages from one source: that source is blocked, its
    /// noise costs a few log lines, and everyone else is still answered.
    @Test func floodLeavesTheDaemonAnswering() throws {
        let daemon = try Daemon()
        let flood = try UDPProbe(ip: "127.0.0.2")
        var rng = SystemRandomNumberGenerator()
        let malformed = malformedSamples()
        for i in 0..<5000 {
            if i % 2 == 0 {
                flood.send((0..<Int.random(in: 1...1400, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }, to: daemon.sipPort)
            } else {
                flood.send(malformed[i % malformed.count], to: daemon.sipPort)
            }
        }
        let tcp = try TCPProbe(port: daemon.sipPort, ip: "127.0.0.1")
        tcp.send(Array("GARBAGE \u{0}\u{1}\u{2} without end\r\n\r\n".utf8))
        // Someone else asks: OPTIONS still gets 200.
        let probe = try UDPProbe()
        probe.send(SIPFixtures.request(.options, uri: "sip:acdd@127.0.0.1:\(daemon.sipPort)", viaPort: probe.port, rport: true).serialized(), to: daemon.sipPort)
        let reply = try #require(probe.receive())
        guard case .response(let r) = try SIPParser().parse(reply) else { Issue.record("no response"); return }
        #expect(r.status == .ok)
        let sip = try daemon.status()["sip"]
        #expect(sip?["blocked_sources"] == ["127.0.0.2"])
        // Logged once per source and episode, not per packet.
        let lines = daemon.log.split(separator: "\n").filter { $0.contains("127.0.0.2") }
        #expect(lines.count <= 5, "\(lines)")
        #expect(daemon.stop() == 0)
    }

    /// RFC 3261 §18.1.1 lets a UDP request be as large as the datagram allows; ours takes up to
    /// `sip.max_message_bytes`. Several large datagrams sent at once land in one vector read, and
    /// each must arrive whole.
    @Test func largeDatagramsArriveWhole() throws {
        let daemon = try Daemon()
        let probe = try UDPProbe()
        for size in [3_000, 9_000, 20_000, 60_000] {
            for n in 0..<4 {
                let options = SIPFixtures.request(
                    .options, uri: "sip:acdd@127.0.0.1:\(daemon.sipPort)", branch: "z9hG4bKbig\(size)x\(n)", viaPort: probe.port, rport: true,
                    callID: "big-\(size)-\(n)",
                    // Lines of 1,000 bytes: within the per-line and line-count limits, so only the
                    // datagram's size is at stake.
                    extraHeaders: (0..<size / 1_000).map { ("X-Padding-\($0)", String(repeating: "p", count: 1_000)) })
                probe.send(options.serialized(), to: daemon.sipPort)
            }
            var ok = 0
            while ok < 4, let reply = probe.receive() {
                if case .response(let r) = try SIPParser().parse(reply), r.status == .ok { ok += 1 }
            }
            #expect(ok == 4, "\(size)-byte OPTIONS: \(ok) of 4 answered 200")
        }
        #expect(!daemon.log.contains("bad request"), "\(daemon.log)")
        #expect(daemon.stop() == 0)
    }

    func malformedSamples() -> [[UInt8]] {
        let base = SIPFixtures.request(.options, uri: "sip:x@127.0.0.1", viaHost: "127.0.0.2").serialized()
        let text = String(decoding: base, as: UTF8.self)
        return [
            Array(text.replacingOccurrences(of: "CSeq: 1 OPTIONS", with: "CSeq: 1 INVITE").utf8),
            Array(text.replacingOccurrences(of: "SIP/2.0\r\n", with: "SIP/9.9\r\n").utf8),
            Array(text.replacingOccurrences(of: "Call-ID", with: "Call ID").utf8),
            Array(text.replacingOccurrences(of: "Max-Forwards: 70", with: "Max-Forwards: 0").utf8),
            Array(text.replacingOccurrences(of: "Content-Length: 0", with: "Content-Length: 999").utf8),
            Array(text.replacingOccurrences(of: "<sip:x@127.0.0.1>", with: "<sip:x@127.0.0.1").utf8),
            Array(repeating: 0x41, count: 70000),
        ]
    }
}


