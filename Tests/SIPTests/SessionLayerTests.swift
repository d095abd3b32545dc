import Foundation
import SIP
import SIPMessage
import TestSupport
import Testing

/// A call layer for tests: answers, rings, rejects or challenges according to `mode`.
final class TestCallLayer: SessionLayerDelegate {
    enum Mode { case answer, ring, earlyMedia, reject(SIPStatus), rejectFirst(SIPStatus), challenge, hold }
    var mode: Mode = .answer
    var incoming: [InviteSession] = []
    var ended: [String] = []
    var reoffers = 0
    let caps = MediaCapabilities(address: "127.0.0.1")
    var authenticator: DigestAuthenticator?

    func incomingSession(_ session: InviteSession) {
        incoming.append(session)
        switch mode {
        case .answer, .hold:
            answer(session)
        case .ring:
            session.ring()
        case .earlyMedia:
            guard let offer = session.remoteSDP, let (sdp, _) = try? SDPNegotiation.answer(offer, capabilities: caps, localPort: 30002, sessionID: "1", sessionVersion: 1) else { return }
            session.progress(sdp)
            session.answer(sdp)
        case .reject(let status):
            session.reject(status)
        case .rejectFirst(let status):
            if incoming.count == 1 { session.reject(status, headers: [SIPHeaderField(.retryAfter, "120")]) } else { answer(session) }
        case .challenge:
            switch authenticator!.verify(session.invite, proxy: true, password: { $0 == "1001" ? "secret1001" : nil }) {
            case .authenticated: answer(session)
            default: session.reject(.proxyAuthenticationRequired, headers: authenticator!.challenges(stale: false).map { SIPHeaderField(.proxyAuthenticate, $0) })
            }
        }
    }

    func answer(_ session: InviteSession) {
        guard let offer = session.remoteSDP, let (sdp, _) = try? SDPNegotiation.answer(offer, capabilities: caps, localPort: 30000, sessionID: "1", sessionVersion: 1) else {
            session.reject(.notAcceptableHere)
            return
        }
        session.answer(sdp)
    }

    func reoffer(_ offer: SDPSession?, in session: InviteSession) -> ReofferDecision {
        reoffers += 1
        guard let offer, let (sdp, _) = try? SDPNegotiation.answer(offer, capabilities: caps, localPort: 30000, sessionID: "1", sessionVersion: 1) else {
            return .refuse(.notAcceptableHere)
        }
        return .answer(sdp)
    }

    func sessionEnded(_ session: InviteSession, reason: InviteSession.EndReason) { ended.append("\(reason)") }
}

@Suite struct SessionLayerTests {
    let caps = MediaCapabilities(address: "127.0.0.1")

    /// a places calls (UAC), b answers them (UAS).
    func setUp(_ mode: TestCallLayer.Mode = .answer) -> (SessionLayer, SessionLayer, TestCallLayer, TestCallLayer, PairedTransport, PairedTransport, ManualScheduler) {
        let (a, b, aWire, bWire, clock) = PairedTransport.pair()
        let uac = SessionLayer(stack: a)
        let uas = SessionLayer(stack: b)
        a.handlers = [uac]
        b.handlers = [uas]
        let callerLayer = TestCallLayer()
        let calleeLayer = TestCallLayer()
        calleeLayer.mode = mode
        uac.delegate = callerLayer
        uas.delegate = calleeLayer
        return (uac, uas, callerLayer, calleeLayer, aWire, bWire, clock)
    }

    func call(_ uac: SessionLayer, credentials: DigestClient? = nil) -> (InviteSession, Box) {
        let offer = SDPNegotiation.offer(capabilities: caps, localPort: 40000, sessionID: "5", sessionVersion: 1)
        let session = uac.invite(
            to: try! SIPURI.parse("sip:100@127.0.0.1:5070"), peer: .udp(5070), from: SIPNameAddr(uri: try! SIPURI.parse("sip:1001@127.0.0.1")),
            offer: offer, credentials: credentials)
        let box = Box()
        session.onEvent = { box.events.append("\($0)".components(separatedBy: "(").first!) ; if case .ended(let r) = $0 { box.end = "\(r)" } }
        return (session, box)
    }

    final class Box {
        var events: [String] = []
        var end: String?
    }

    @Test func answeredCallAndByeFromTheCaller() throws {
        let (uac, uas, _, callee, _, bWire, clock) = setUp()
        let (session, box) = call(uac)
        clock.advance(by: .zero)
        #expect(session.state == .confirmed && box.events == ["answered"])
        let uasSession = try #require(callee.incoming.first)
        #expect(uasSession.state == .confirmed)
        // The 200 carried an SDP answer and a Contact.
        let ok = try #require(bWire.sentResponses.first { $0.status == .ok })
        #expect(try SDPSession.parse(ok.body).media.first?.port == 30000)
        #expect(ok.contact.first?.nameAddr?.uri.port == 5070)
        // No 2xx retransmission once the ACK arrived.
        let before = bWire.sentResponses.count
        clock.advance(by: .seconds(5))
        #expect(bWire.sentResponses.count == before)
        session.hangUp()
        clock.advance(by: .zero)
        #expect(callee.ended == ["remote hangup"] && box.end == "local hangup")
        #expect(uac.sessions.isEmpty && uas.sessions.isEmpty && uas.dialogs.isEmpty)
    }

    /// The owner hears of the answer before the ACK leaves (so the media is bridged before the
    /// phone, which starts sending on the ACK, can send), and a hang-up from that handler goes
    /// out after the ACK.
    @Test func answerIsHandledBeforeTheAckAndAByeFromTheHandlerFollowsIt() throws {
        let (uac, _, _, callee, aWire, _, clock) = setUp()
        defer { withExtendedLifetime(callee) {} }
        let (session, _) = call(uac)
        var acksAtAnswer: Int?
        session.onEvent = { event in
            guard case .answered = event else { return }
            acksAtAnswer = aWire.sentRequests.filter { $0.method == .ack }.count
            session.hangUp()
        }
        clock.advance(by: .zero)
        #expect(acksAtAnswer == 0)
        let methods = aWire.sentRequests.map(\.method)
        #expect(methods == [.invite, .ack, .bye], "\(methods)")
        clock.advance(by: .zero)
        #expect(callee.ended == ["remote hangup"])
    }

    /// 183 with SDP (early media), then 200 with the same SDP.
    @Test func earlyMedia() throws {
        let (uac, _, _, callee, _, bWire, clock) = setUp(.earlyMedia)
        defer { withExtendedLifetime(callee) {} }
        let (session, box) = call(uac)
        clock.advance(by: .zero)
        #expect(bWire.sentResponses.map(\.status.rawValue) == [100, 183, 200])
        let progress = try #require(bWire.sentResponses.first { $0.status == .sessionProgress })
        #expect(try SDPSession.parse(progress.body).media.first?.port == 30002)
        #expect(progress.to.tag == bWire.sentResponses.last?.to.tag)
        #expect(box.events == ["progress", "answered"] && session.state == .confirmed)
    }

    @Test func byeFromTheCallee() throws {
        let (uac, uas, caller, callee, _, _, clock) = setUp()
        let (_, box) = call(uac)
        clock.advance(by: .zero)
        try #require(callee.incoming.first).hangUp()
        clock.advance(by: .zero)
        #expect(box.end == "remote hangup" && caller.ended == ["remote hangup"] && callee.ended == ["local hangup"])
        #expect(uas.sessions.isEmpty)
    }

    @Test func cancelWhileRinging() throws {
        let (uac, uas, _, callee, aWire, bWire, clock) = setUp(.ring)
        let (session, box) = call(uac)
        clock.advance(by: .zero)
        #expect(box.events == ["progress"])
        session.cancel()
        clock.advance(by: .zero)
        #expect(aWire.sentRequests.map(\.method) == [.invite, .cancel, .ack])
        #expect(bWire.sentResponses.map(\.status.rawValue) == [100, 180, 200, 487])
        #expect(box.end == "cancelled" && callee.ended == ["cancelled"])
        #expect(uas.sessions.isEmpty && uac.sessions.isEmpty)
    }

    /// CANCEL before any provisional waits for one (§9.1): here the 100 Trying.
    @Test func cancelBeforeAnyResponseWaits() throws {
        let (uac, _, _, callee, aWire, _, clock) = setUp(.ring)
        let (session, box) = call(uac)
        session.cancel()
        #expect(aWire.sentRequests.map(\.method) == [.invite])
        clock.advance(by: .zero)
        #expect(aWire.sentRequests.map(\.method).contains(.cancel))
        #expect(box.end == "cancelled" && callee.ended == ["cancelled"])
    }

    /// A callee that rang and then went silent (no 200 to our CANCEL, no 487): 64*T1 after the
    /// CANCEL the session ends as cancelled and no transaction is left behind (the soak of
    /// issue 20 found thousands of such sessions, each holding an RTP port, for ever).
    @Test func aCancelNobodyAnswersEndsTheCallAfter64T1() throws {
        let (uac, _, _, callee, _, bWire, clock) = setUp(.ring)
        let (session, box) = call(uac)
        clock.advance(by: .zero)
        #expect(session.state == .early && callee.incoming.count == 1)
        bWire.dropping = true
        session.hangUp()
        clock.advance(by: .seconds(31))
        #expect(session.state == .early && box.end == nil)
        clock.advance(by: .seconds(2))
        #expect(box.end == "cancelled" && session.isEnded)
        #expect(uac.stack.clientTransactionCount == 0, "a transaction was left behind")
    }

    @Test func rejectedCall() {
        let (uac, _, _, callee, _, _, clock) = setUp(.reject(.busyHere))
        let (_, box) = call(uac)
        clock.advance(by: .zero)
        #expect(box.end == "failed 486 Busy Here")
        #expect(callee.ended == ["rejected 486"])
    }

    /// A proxy challenge (407) is answered once with credentials.
    @Test func challengeIsAnswered() throws {
        let (uac, _, _, callee, aWire, _, clock) = setUp(.challenge)
        callee.authenticator = DigestAuthenticator(realm: "acd", scheduler: clock)
        let (session, _) = call(uac, credentials: DigestClient(username: "1001", password: "secret1001"))
        clock.advance(by: .zero)
        #expect(session.state == .confirmed)
        let invites = aWire.sentRequests.filter { $0.method == .invite }
        #expect(invites.count == 2 && invites[1].cseq.sequence == 2 && invites[1].headers[.proxyAuthorization] != nil)
        #expect(invites[0].callID == invites[1].callID && invites[0].from.tag == invites[1].from.tag)
    }

    @Test func wrongCredentialsEndTheCall() {
        let (uac, _, _, callee, _, _, clock) = setUp(.challenge)
        callee.authenticator = DigestAuthenticator(realm: "acd", scheduler: clock)
        let (_, box) = call(uac, credentials: DigestClient(username: "1001", password: "nope"))
        clock.advance(by: .zero)
        #expect(box.end == "failed 407 Proxy Authentication Required")
    }

    /// re-INVITE: answered with the next SDP version; one with an old CSeq gets 500.
    @Test func reinvite() throws {
        let (uac, _, _, callee, aWire, bWire, clock) = setUp()
        let (session, _) = call(uac)
        clock.advance(by: .zero)
        var dialog = try #require(session.dialog)
        var reinvite = dialog.makeRequest(.invite, via: uac.stack.makeVia(transport: .udp), contact: nil)
        reinvite.headers.add(.contentType, "application/sdp")
        reinvite.body = SDPNegotiation.offer(capabilities: caps, localPort: 40002, sessionID: "5", sessionVersion: 2).serialized()
        uac.stack.sendRequest(reinvite, to: dialog.peer) { _ in }
        clock.advance(by: .zero)
        let ok = try #require(bWire.sentResponses.last)
        #expect(ok.status == .ok && ok.cseq.method == .invite)
        #expect(try SDPSession.parse(ok.body).origin.sessionVersion == 2)
        #expect(callee.reoffers == 1)
        // Without our ACK the 2xx is retransmitted.
        clock.advance(by: .milliseconds(500))
        #expect(bWire.sentResponses.last?.status == .ok)
        uac.stack.sendStateless(dialog.makeRequest(.ack, via: uac.stack.makeVia(transport: .udp), contact: nil, cseq: reinvite.cseq.sequence), to: dialog.peer)
        clock.advance(by: .zero)
        let count = bWire.sentResponses.count
        clock.advance(by: .seconds(4))
        #expect(bWire.sentResponses.count == count)
        // Old CSeq: 500.
        let stale = dialog.makeRequest(.options, via: uac.stack.makeVia(transport: .udp), contact: nil, cseq: 1)
        uac.stack.sendRequest(stale, to: dialog.peer) { _ in }
        clock.advance(by: .zero)
        #expect(bWire.sentResponses.last?.status == .serverInternalError)
        _ = aWire
    }

    /// No ACK for our 2xx: BYE after 64*T1 and the session ends.
    @Test func missingAckEndsTheCall() throws {
        let (uac, uas, _, callee, aWire, bWire, clock) = setUp()
        aWire.dropping = true
        _ = call(uac)
        aWire.dropping = false
        // Deliver the INVITE by hand since the wire dropped it.
        uas.stack.receive(aWire.sentRequests[0].serialized(), from: .udp(5060))
        aWire.dropping = true  // the ACK and retransmissions never arrive
        clock.advance(by: .seconds(32))
        #expect(callee.ended == ["no ACK"])
        #expect(bWire.sentRequests.last?.method == .bye)
        #expect(uas.sessions.isEmpty)
    }

    @Test func drainingRefusesNewCalls() {
        let (uac, uas, _, callee, _, bWire, clock) = setUp()
        defer { withExtendedLifetime(callee) {} }
        uas.acceptingCalls = false
        let (_, box) = call(uac)
        clock.advance(by: .zero)
        #expect(box.end == "failed 503 Shutting down")
        #expect(bWire.sentResponses.last?.headers[.retryAfter] == "30")
    }

    @Test func hangUpAllEndsEveryCall() {
        let (uac, uas, _, callee, _, _, clock) = setUp()
        for _ in 0..<3 { _ = call(uac) }
        clock.advance(by: .zero)
        #expect(uas.sessions.count == 3)
        #expect(uas.hangUpAll() == 3)
        clock.advance(by: .zero)
        #expect(uas.sessions.isEmpty && uac.sessions.isEmpty && callee.ended.count == 3)
    }

    @Test func unknownDialogGets481() {
        let (uac, _, _, callee, _, bWire, clock) = setUp()
        defer { withExtendedLifetime(callee) {} }
        let bye = SIPFixtures.request(.bye, uri: "sip:100@127.0.0.1:5070", toTag: "nope")
        uac.stack.sendRequest(bye, to: .udp(5070)) { _ in }
        clock.advance(by: .zero)
        #expect(bWire.sentResponses.last?.status == .callDoesNotExist)
    }

    @Test func nonSDPBodyGets415AndBadSDPGets400() {
        let (uac, _, _, callee, _, bWire, clock) = setUp()
        defer { withExtendedLifetime(callee) {} }
        var invite = SIPFixtures.request(.invite, uri: "sip:100@127.0.0.1:5070", branch: "z9hG4bK415", body: Array("hello".utf8))
        invite.headers.set(.contentType, "text/plain")
        uac.stack.sendRequest(invite, to: .udp(5070)) { _ in }
        clock.advance(by: .zero)
        #expect(bWire.sentResponses.last?.status == .unsupportedMediaType)
        let bad = SIPFixtures.request(.invite, uri: "sip:100@127.0.0.1:5070", branch: "z9hG4bK400", callID: "c2", body: Array("v=0\r\nnonsense\r\n".utf8))
        uac.stack.sendRequest(bad, to: .udp(5070)) { _ in }
        clock.advance(by: .zero)
        #expect(bWire.sentResponses.last?.status == .badRequest)
    }
}
