import Control
import Foundation
import Media
import SIPMessage
import TestSupport
import Testing

/// Input a hostile or broken peer sends, against the daemon on its default configuration: each
/// gets its answer (or none, where the wire allows none), is counted and logged once, and costs
/// the daemon nothing it serves others with (issue 20).
@Suite(.serialized, .timeLimit(.minutes(3)))
struct HostileInputTests {
    static let offer =
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"

    /// The report's datagram: an INVITE whose top Via names port 0. Its answers cannot be sent;
    /// afterwards OPTIONS over UDP are still answered, the received count still moves, and the
    /// failure is one log line.
    /// Past `daemon.max_calls` a new INVITE gets 503 with Retry-After at once (logged once, not
    /// per call) and the call up keeps its audio; when it ends, calls are taken again.
    @Test func pastMaxCallsNewCallsGet503AndTheCallUpGoesOn() throws {
        let daemon = try Daemon(sets: ["daemon.max_calls": "1"])
        defer { daemon.stop() }
        let first = try place(daemon, number: "600")  // the echo test
        func invite(_ id: String) throws -> SIPResponse {
            let sip = try UDPProbe()
            var r = SIPFixtures.request(.invite, uri: "sip:600@127.0.0.1:\(daemon.sipPort)", viaPort: sip.port, rport: true, callID: id)
            r.body = Array("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n".utf8)
            r.headers.set(.contentType, "application/sdp")
            sip.send(r.serialized(), to: daemon.sipPort)
            while let b = sip.receive() {
                if case .response(let resp) = try SIPParser().parse(b), resp.status.isFinal {
                    if resp.status == .ok {
                        let ack = SIPFixtures.request(.ack, uri: "sip:600@127.0.0.1:\(daemon.sipPort)", branch: "z9hG4bKack\(id)", viaPort: sip.port, toTag: resp.to.tag, callID: id)
                        sip.send(ack.serialized(), to: daemon.sipPort)
                    }
                    return resp
                }
            }
            throw ProbeError("no answer to \(id)")
        }
        for n in 1...3 {
            let refused = try invite("over-\(n)")
            #expect(refused.status == .serviceUnavailable && refused.headers[.retryAfter] == "5", "\(refused.status.rawValue)")
        }
        let status = try daemon.status()
        #expect(status["calls"]?["refused_overload"] == 3 && status["calls"]?["max_calls"] == 1, "\(status)")
        #expect(daemon.log.components(separatedBy: "at daemon.max_calls").count - 1 == 1, "logged once")
        // The call up still echoes.
        var sender = RTPSenderState()
        first.rtp.send(packet(sender.next(payloadType: 0, samples: 160), payload: [UInt8](repeating: 0x55, count: 160)), to: first.daemonRTPPort)
        #expect(first.rtp.receive() != nil, "the call up lost its audio")
        #expect(try first.hangUp(daemon)?.status == .ok)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.isEmpty == true })
        #expect(try invite("after").status == .ok)
    }

    @Test func anInviteWithViaPortZeroLeavesUDPAnswering() throws {
        let daemon = try Daemon()
        let attacker = try UDPProbe()
        var text = String(
            decoding: SIPFixtures.request(
                .invite, uri: "sip:100@127.0.0.1:\(daemon.sipPort)", branch: "z9hG4bKport0", callID: "port0@test", body: Array(Self.offer.utf8)
            ).serialized(), as: UTF8.self)
        text = text.replacingOccurrences(of: "SIP/2.0/UDP 127.0.0.1:5070", with: "SIP/2.0/UDP 127.0.0.1:0")
        #expect(text.contains("Via: SIP/2.0/UDP 127.0.0.1:0;branch=z9hG4bKport0"))
        attacker.send(Array(text.utf8), to: daemon.sipPort)
        Thread.sleep(forTimeInterval: 0.5)

        let before = try #require(try daemon.status()["sip"]?["messages_received"]?.intValue)
        let probe = try UDPProbe()
        for i in 0..<3 {
            probe.send(
                SIPFixtures.request(.options, uri: "sip:100@127.0.0.1:\(daemon.sipPort)", branch: "z9hG4bKok\(i)", viaPort: probe.port, rport: true, callID: "ok\(i)@test")
                    .serialized(), to: daemon.sipPort)
            let reply = try #require(probe.receive(), "OPTIONS \(i) over UDP went unanswered after the port-0 INVITE")
            #expect(String(decoding: reply, as: UTF8.self).hasPrefix("SIP/2.0 200 OK"))
        }
        let sip = try #require(daemon.status()["sip"])
        #expect(sip["messages_received"]?.intValue == before + 3)
        // The 100 Trying fails; the transaction hears a transport error (RFC 3261 §17.2.4) and the
        // call is not set up, so nothing of it stays behind.
        #expect((sip["send_failed"]?.intValue ?? 0) >= 1, "\(sip)")
        _ = try eventually(3) { try daemon.status()["calls"]?["rtp_ports_in_use"] == 0 }
        #expect(try daemon.status()["calls"]?["active"] == 0)
        #expect(sip["udp_listener_reopened"] == 0)
        let lines = daemon.log.split(separator: "\n").filter { $0.contains("could not be sent") }
        #expect(lines.count == 1, "\(lines)")
        #expect(lines.first?.contains("127.0.0.1:0") == true)
        #expect(daemon.stop() == 0)
    }

    /// A carrier's trunk that authenticates by digest rather than by address: its calls carry the
    /// caller's number in From, are challenged (not refused), get in with the trunk's credentials,
    /// and are recorded as the trunk's. Wrong credentials still get 403.
    @Test(.enabled(if: haveSIPp, "SIPp (package sip-tester) is not installed; scripts/setup.sh installs it"))
    func aTrunkWithCredentialsIsChallengedAndGetsIn() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("acdd-carrier-\(UUID().uuidString.prefix(6))").path
        try copyConfigCompanions(to: dir)
        let original = try String(contentsOfFile: "\(packageRoot)/config/acd.toml", encoding: .utf8)
        let carrier = """

            [[trunks]]
            name = "carrier"
            username = "carrier1"
            password = "carrier-secret"
            numbers = ["100"]
            """
        try (original + carrier).write(toFile: "\(dir)/acd.toml", atomically: true, encoding: .utf8)
        let daemon = try Daemon(config: "\(dir)/acd.toml", state: "\(dir)/state")
        let auth = ["-auth_uri", "100@127.0.0.1:\(daemon.sipPort)", "-key", "from_user", "+4930123456"]
        let call = try sipp(
            daemon, scenario: "uac_auth.xml", calls: 2, rate: 10, localIP: "127.0.0.2", extra: ["-au", "carrier1", "-ap", "carrier-secret"] + auth, timeout: 30)
        #expect(call.stats.successful == 2, "\(call.output.suffix(1500))")
        let records = try #require(try daemon.control("cdr.list").result?.arrayValue)
        #expect(records.count == 2)
        #expect(records.allSatisfy { $0["trunk"] == "carrier" && $0["caller"] == "+4930123456" }, "\(records)")

        let wrong = try sipp(
            daemon, scenario: "uac_auth.xml", calls: 1, rate: 10, localIP: "127.0.0.3", extra: ["-au", "carrier1", "-ap", "guess"] + auth, timeout: 20)
        #expect(wrong.stats.successful == 0)
        #expect(daemon.log.contains("sip.status=403"))
        #expect(daemon.stop() == 0)
    }

    /// The report's minimal RFC 4733 sender: `RTP/AVP 0 101`, an rtpmap and no fmtp, audio every
    /// 20 ms, and four seconds in (over the welcome) the key 1: the first event packet marked,
    /// volume 10, the duration growing by 160 to 1,600, the end packet three times. The caller
    /// reaches the sales queue. The receiver was never the problem: the welcome took the key and
    /// dropped it, so the menu that followed waited for another.
    @Test func aMinimalRFC4733SenderPressingOverTheWelcomeReachesSales() throws {
        let daemon = try Daemon()
        let call = try place(daemon, number: "100", codecs: "0 101")
        #expect(!String(decoding: call.invite.body, as: UTF8.self).contains("fmtp"))
        var sender = RTPSenderState()
        call.talk(packets: 200, sender: &sender)  // four seconds of audio
        let start = sender.nextTimestamp
        for i in 1...13 {
            let e = TelephoneEvent(event: 1, end: i > 10, volume: 10, duration: UInt16(min(i, 10) * 160))
            var payload = [UInt8](repeating: 0, count: 4)
            payload.withUnsafeMutableBytes { e.write(to: $0) }
            call.rtp.send(packet(sender.nextEvent(payloadType: 101, eventTimestamp: start, first: i == 1), payload: payload), to: call.daemonRTPPort)
            usleep(20_000)
        }
        #expect(try eventually(3) { try daemon.control("calls").result?.arrayValue?.first?["queue"] == "sales" })
        let first = try #require(try daemon.control("calls").result?.arrayValue?.first)
        #expect(first["digits"] == "1")
        #expect(first["ivr_path"]?.arrayValue?.compactMap(\.stringValue) == ["welcome", "hours", "menu", "menu=1", "sales"])
        _ = try call.hangUp(daemon)
        #expect(daemon.stop() == 0)
    }
}
