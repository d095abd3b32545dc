import Logging
import SIP
import SIPMessage
import TestSupport
import Testing

@Suite struct SourceGuardTests {
    func makeGuard(_ policy: SourceGuardPolicy) -> (SourceGuard, ManualScheduler) {
        let clock = ManualScheduler()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return (SourceGuard(policy: policy, scheduler: clock, logger: logger), clock)
    }

    @Test func untrustedSourceIsRateLimitedAndRefills() {
        let (g, clock) = makeGuard(SourceGuardPolicy(messagesPerSecond: 10, burst: 5))
        let peer = SIPPeer.udp(5000, ip: "127.0.0.2")
        #expect((0..<5).allSatisfy { _ in g.admit(peer) })
        #expect(!g.admit(peer))
        clock.advance(by: .milliseconds(100))
        #expect(g.admit(peer))
        #expect(!g.admit(peer))
    }

    @Test func trustedNetworksAreNeverLimitedOrBlocked() {
        let (g, _) = makeGuard(SourceGuardPolicy(trusted: [IPNetwork("127.0.0.0/30")!], messagesPerSecond: 1, burst: 1, failuresBeforeBlock: 2))
        let trunk = SIPPeer.udp(5000, ip: "127.0.0.1")
        for _ in 0..<100 { g.recordFailure(trunk, reason: "x") }
        #expect((0..<1000).allSatisfy { _ in g.admit(trunk) })
        #expect(g.blockedSources.isEmpty)
    }

    @Test func repeatedFailuresBlockUntilTheBlockEnds() {
        let (g, clock) = makeGuard(SourceGuardPolicy(failuresBeforeBlock: 3, failureWindow: 60, blockSeconds: 30))
        let scanner = SIPPeer.udp(5000, ip: "127.0.0.9")
        g.recordFailure(scanner, reason: "garbage")
        g.recordFailure(scanner, reason: "garbage")
        #expect(g.admit(scanner))
        g.recordFailure(scanner, reason: "garbage")
        #expect(!g.admit(scanner))
        #expect(g.blockedSources == ["127.0.0.9"])
        clock.advance(by: .seconds(30))
        #expect(g.admit(scanner))
        #expect(g.blockedSources.isEmpty)
    }

    @Test func failuresOutsideTheWindowDoNotAddUp() {
        let (g, clock) = makeGuard(SourceGuardPolicy(failuresBeforeBlock: 3, failureWindow: 10))
        let peer = SIPPeer.udp(5000, ip: "127.0.0.9")
        for _ in 0..<5 {
            g.recordFailure(peer, reason: "x")
            clock.advance(by: .seconds(6))
        }
        #expect(g.admit(peer))
    }

    @Test func memoryIsBounded() {
        let (g, _) = makeGuard(SourceGuardPolicy(maxTrackedSources: 100))
        for i in 0..<1000 { _ = g.admit(.udp(5000, ip: "10.0.\(i / 256).\(i % 256)")) }
        #expect(g.trackedSourceCount <= 100)
    }

    @Test func networks() {
        #expect(IPNetwork("10.0.0.0/8")!.contains(ip: "10.255.0.1"))
        #expect(!IPNetwork("10.0.0.0/8")!.contains(ip: "11.0.0.1"))
        #expect(IPNetwork("127.0.0.1")!.contains(ip: "::ffff:127.0.0.1"))
        #expect(IPNetwork("2001:db8::/32")!.contains(ip: "2001:db8:1::5"))
        #expect(!IPNetwork("2001:db8::/32")!.contains(ip: "2001:db9::5"))
        #expect(IPNetwork("::1")!.contains(ip: "::1"))
        #expect(IPNetwork("0.0.0.0/0")!.contains(ip: "192.0.2.1"))
        #expect(IPNetwork("10.0.0.0/33") == nil && IPNetwork("host.example") == nil && IPNetwork("1::2::3") == nil)
        #expect(IPNetwork("::ffff:10.0.0.1")?.bytes.suffix(4) == [10, 0, 0, 1])
    }
}

@Suite struct SDPNegotiationTests {
    let caps = MediaCapabilities(codecs: [.pcmu, .pcma], address: "127.0.0.1")

    func offer(_ media: String, session: String = "c=IN IP4 192.0.2.5\n") throws -> SDPSession {
        var text = "v=0\no=- 1 1 IN IP4 192.0.2.5\ns=-\n\(session)t=0 0\n\(media)"
        if !text.hasSuffix("\n") { text += "\n" }
        return try SDPSession.parse(Array(text.utf8))
    }

    @Test func picksTheOfferersFirstCommonCodecAndTelephoneEvent() throws {
        let o = try offer("m=audio 4000 RTP/AVP 18 8 0 96\na=rtpmap:96 telephone-event/8000\na=fmtp:96 0-15\n")
        let (answer, audio) = try SDPNegotiation.answer(o, capabilities: caps, localPort: 30000, sessionID: "7", sessionVersion: 1)
        #expect(audio.codec == .pcma && audio.payloadType == 8 && audio.telephoneEventPayloadType == 96)
        #expect(audio.remoteAddress == "192.0.2.5" && audio.remotePort == 4000 && audio.direction == .sendrecv)
        let m = try #require(answer.media.first)
        #expect(m.port == 30000 && m.formats == ["8", "96"])
        #expect(answer.connection?.address == "127.0.0.1")
        #expect(m.rtpmap("96")?.encoding == "telephone-event")
        #expect(try SDPSession.parse(answer.serialized()) == answer)
    }

    @Test func dynamicPayloadTypesAreMatchedByName() throws {
        let o = try offer("m=audio 4000 RTP/AVP 112\na=rtpmap:112 PCMU/8000\n")
        #expect(try SDPNegotiation.answer(o, capabilities: caps, localPort: 1, sessionID: "1", sessionVersion: 1).audio.payloadType == 112)
    }

    @Test func g722OnlyWhenEnabled() throws {
        let o = try offer("m=audio 4000 RTP/AVP 9 0\n")
        #expect(try SDPNegotiation.answer(o, capabilities: caps, localPort: 1, sessionID: "1", sessionVersion: 1).audio.codec == .pcmu)
        var wide = caps
        wide.codecs = [.g722, .pcmu]
        #expect(try SDPNegotiation.answer(o, capabilities: wide, localPort: 1, sessionID: "1", sessionVersion: 1).audio.codec == .g722)
    }

    @Test func otherStreamsAreRefusedInPlace() throws {
        let o = try offer("m=video 5000 RTP/AVP 31\nm=audio 4000 RTP/AVP 0\nm=audio 4002 RTP/AVP 0\n")
        let (answer, audio) = try SDPNegotiation.answer(o, capabilities: caps, localPort: 30000, sessionID: "1", sessionVersion: 1)
        #expect(answer.media.map(\.port) == [0, 30000, 0])
        #expect(audio.remotePort == 4000)
    }

    @Test func holdDirections() throws {
        let sendonly = try offer("m=audio 4000 RTP/AVP 0\na=sendonly\n")
        #expect(try SDPNegotiation.answer(sendonly, capabilities: caps, localPort: 1, sessionID: "1", sessionVersion: 1).audio.direction == .recvonly)
        let old = try offer("m=audio 4000 RTP/AVP 0\n", session: "c=IN IP4 0.0.0.0\n")
        #expect(try SDPNegotiation.answer(old, capabilities: caps, localPort: 1, sessionID: "1", sessionVersion: 1).audio.direction == .inactive)
    }

    @Test func nothingInCommon() throws {
        #expect(throws: SDPNegotiationError.noCommonCodec(offered: ["18", "G729"])) {
            try SDPNegotiation.answer(try offer("m=audio 4000 RTP/AVP 18 97\na=rtpmap:97 G729/8000\n"), capabilities: caps, localPort: 1, sessionID: "1", sessionVersion: 1)
        }
        #expect(throws: SDPNegotiationError.noAudio) {
            try SDPNegotiation.answer(try offer("m=video 4000 RTP/AVP 31\n"), capabilities: caps, localPort: 1, sessionID: "1", sessionVersion: 1)
        }
    }

    @Test func ourOfferAndTheirAnswer() throws {
        let ours = SDPNegotiation.offer(capabilities: caps, localPort: 30002, sessionID: "9", sessionVersion: 1)
        #expect(ours.media.first?.formats == ["0", "8", "101"])
        let (theirs, _) = try SDPNegotiation.answer(ours, capabilities: MediaCapabilities(codecs: [.pcma], address: "192.0.2.7"), localPort: 7000, sessionID: "1", sessionVersion: 1)
        let agreed = try SDPNegotiation.accept(answer: theirs, capabilities: caps)
        #expect(agreed.codec == .pcma && agreed.remotePort == 7000 && agreed.remoteAddress == "192.0.2.7" && agreed.telephoneEventPayloadType == 101)
    }
}
