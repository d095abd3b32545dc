import SIP
import SIPMessage
import TestSupport
import Testing

/// RFC 4028 session timers (issue 20): what we answer an INVITE with, on made-up requests, and
/// the clock on two of our session layers talking to each other over the paired transport.
@Suite struct SessionTimerTests {
    func invite(_ headers: [(SIPHeaderName, String)]) -> SIPRequest {
        var r = SIPFixtures.request(.invite, uri: "sip:100@127.0.0.1")
        for (name, value) in headers { r.headers.add(name, value) }
        return r
    }

    func negotiate(_ headers: [(SIPHeaderName, String)]) -> SessionTimer.Negotiation {
        SessionTimer.negotiate(invite(headers), ourInterval: 1800, ourMinSE: 90)
    }

    @Test func whatWeAnswerAnInviteWith() {
        // The far end knows timers and names nothing: it refreshes, at our interval.
        #expect(negotiate([(.supported, "timer")]) == .timer(SessionTimer(interval: 1800, refresher: .uac), require: true))
        // It asks for less, naming itself: kept.
        #expect(negotiate([(.supported, "timer"), (.sessionExpires, "600;refresher=uac")]) == .timer(SessionTimer(interval: 600, refresher: .uac), require: true))
        // It asks for more than we allow: shortened to ours.
        #expect(negotiate([(.supported, "timer"), (.sessionExpires, "7200")]) == .timer(SessionTimer(interval: 1800, refresher: .uac), require: true))
        // It names us and takes UPDATE: we refresh, no Require.
        #expect(negotiate([(.supported, "timer"), (.allow, "INVITE, ACK, BYE, UPDATE"), (.sessionExpires, "300;refresher=uas")])
            == .timer(SessionTimer(interval: 300, refresher: .uas), require: false))
        // It names us but takes no UPDATE: we refresh by re-INVITE.
        #expect(negotiate([(.supported, "timer"), (.allow, "INVITE, ACK, BYE"), (.sessionExpires, "300;refresher=uas")])
            == .timer(SessionTimer(interval: 300, refresher: .uas, refreshByUpdate: false), require: false))
        // Too small from one that knows timers: 422 with our Min-SE.
        #expect(negotiate([(.supported, "timer"), (.sessionExpires, "30")]) == .tooSmall(minSE: 90))
        // Too small from one that does not: raised to Min-SE instead (errata 1687); we refresh.
        #expect(negotiate([(.allow, "UPDATE"), (.sessionExpires, "30")]) == .timer(SessionTimer(interval: 90, refresher: .uas), require: false))
        // Their Min-SE is respected when ours is lower.
        #expect(negotiate([(.supported, "timer"), (.sessionExpires, "200"), (.minSE, "400")]) == .timer(SessionTimer(interval: 400, refresher: .uac), require: true))
        // No support, no UPDATE: we refresh, by re-INVITE; with UPDATE, by UPDATE.
        #expect(negotiate([]) == .timer(SessionTimer(interval: 1800, refresher: .uas, refreshByUpdate: false), require: false))
        #expect(negotiate([(.allow, "INVITE, UPDATE")]) == .timer(SessionTimer(interval: 1800, refresher: .uas), require: false))
        #expect(negotiate([(.sessionExpires, "soon")]) == .malformed("Session-Expires must be delta-seconds, not 'soon'"))
        #expect(negotiate([(.supported, "timer"), (.sessionExpires, "900;refresher=proxy")]) == .malformed("refresher must be uac or uas, not 'proxy'"))
        #expect(SessionTimer.negotiate(invite([(.supported, "timer")]), ourInterval: 0, ourMinSE: 90) == .none)
    }

    @Test func refreshAndExpiryTimes() {
        let t = SessionTimer(interval: 1800, refresher: .uac)
        #expect(t.refreshAfter == 900 && t.expireAfter == 1768 && !t.weRefresh && t.headerValue == "1800;refresher=uac")
        #expect(SessionTimer(interval: 90, refresher: .uas).expireAfter == 60)
        #expect(SessionTimer(interval: 90, refresher: .uac, weAre: .uac).weRefresh)
    }

    /// a places the call (with `headers`), b answers; both are our session layer, set up as
    /// SessionLayerTests sets them up.
    /// The caller's call layer is returned too: the session layer holds its delegate weakly.
    func setUp(headers: [SIPHeaderField] = [], callerAllowsUpdate: Bool = true) -> (TestCallLayer, TestCallLayer, PairedTransport, PairedTransport, ManualScheduler, InviteSession) {
        let (uac, _, caller, callee, aWire, bWire, clock) = SessionLayerTests().setUp()
        if !callerAllowsUpdate { uac.stack.allowedMethods.removeAll { $0 == .update } }
        let offer = SDPNegotiation.offer(capabilities: MediaCapabilities(address: "127.0.0.1"), localPort: 40000, sessionID: "5", sessionVersion: 1)
        let session = uac.invite(
            to: try! SIPURI.parse("sip:100@127.0.0.1:5070"), peer: .udp(5070), from: SIPNameAddr(uri: try! SIPURI.parse("sip:1001@127.0.0.1")), offer: offer,
            headers: headers)
        clock.advance(by: .zero)
        return (caller, callee, aWire, bWire, clock, session)
    }

    /// Our INVITE says Supported: timer, so our answer makes the caller the refresher: its
    /// UPDATE at half the interval keeps the call; once it stops refreshing, the answering side
    /// sends BYE 32 s before the interval ends and the session ends as expired.
    @Test func theCallerRefreshesAndACallerThatStopsIsHungUp() throws {
        let (caller, callee, aWire, bWire, clock, session) = setUp()
        let ok = try #require(bWire.sentResponses.first { $0.status == .ok })
        #expect(ok.headers[.sessionExpires] == "1800;refresher=uac" && ok.headers.tokens(.require).contains("timer"))
        let answered = try #require(callee.incoming.first)
        #expect(answered.sessionTimer == SessionTimer(interval: 1800, refresher: .uac) && session.sessionTimer?.weRefresh == true)

        clock.advance(by: .seconds(900))
        let update = try #require(aWire.sentRequests.last { $0.method == .update }, "the caller did not refresh")
        #expect(update.headers[.sessionExpires] == "1800;refresher=uac")
        #expect(bWire.sentResponses.last { $0.cseq.method == .update }?.status == .ok)
        // Past the first interval's expiry: still up, thanks to the refresh.
        clock.advance(by: .seconds(1000))
        #expect(answered.state == .confirmed && callee.ended.isEmpty)

        // The caller's refreshes no longer arrive.
        aWire.dropping = true
        clock.advance(by: .seconds(1800))
        #expect(callee.ended == ["session timer expired"], "\(callee.ended)")
        #expect(bWire.sentRequests.contains { $0.method == .bye })
        withExtendedLifetime(caller) {}
    }

    /// An INVITE asking for 30 s from a caller that knows timers gets 422 with Min-SE: 90.
    @Test func aTooShortIntervalGets422() throws {
        let (a, b, _, bWire, clock) = PairedTransport.pair()
        let uas = SessionLayer(stack: b)
        b.handlers = [uas]
        let callee = TestCallLayer()
        uas.delegate = callee
        var request = SIPFixtures.request(.invite, uri: "sip:100@127.0.0.1:5070", body: [])
        request.headers.add(.supported, "timer")
        request.headers.add(.sessionExpires, "30")
        b.receive(request.serialized(), from: .udp(5060))
        clock.advance(by: .zero)
        let refused = try #require(bWire.sentResponses.last)
        #expect(refused.status == .sessionIntervalTooSmall && refused.headers[.minSE] == "90")
        #expect(callee.incoming.isEmpty)
        _ = a
    }

    /// A caller that names us the refresher: our UPDATE at half the interval says
    /// `refresher=uac` (the refresher is the side that sends it), the caller, which watches the
    /// session, is kept by it; once the caller stops answering, our refresh times out and we end
    /// the session as expired.
    @Test func weRefreshWhenNamedAndEndTheSessionWhenTheRefreshFails() throws {
        let (caller, callee, aWire, bWire, clock, session) = setUp(headers: [SIPHeaderField(.sessionExpires, "120;refresher=uas")])
        defer { withExtendedLifetime(caller) {} }
        let ok = try #require(bWire.sentResponses.first { $0.status == .ok })
        #expect(ok.headers[.sessionExpires] == "120;refresher=uas" && !ok.headers.tokens(.require).contains("timer"))
        #expect(session.sessionTimer?.weRefresh == false)
        clock.advance(by: .seconds(60))
        let update = try #require(bWire.sentRequests.last { $0.method == .update }, "we did not refresh")
        #expect(update.headers[.sessionExpires] == "120;refresher=uac")
        #expect(aWire.sentResponses.last { $0.cseq.method == .update }?.status == .ok)
        // Past the caller's own expiry (88 s) and a second refresh: both sides still up.
        clock.advance(by: .seconds(90))
        #expect(session.state == .confirmed && callee.incoming.first?.state == .confirmed)
        #expect(bWire.sentRequests.filter { $0.method == .update }.count == 2)

        aWire.dropping = true
        clock.advance(by: .seconds(120))
        #expect(callee.ended == ["session timer expired"], "\(callee.ended)")
    }

    /// A caller that names us the refresher but takes no UPDATE: we refresh by re-INVITE with our
    /// SDP unchanged (same version), ACK its 2xx, and the call goes on; once the caller is gone,
    /// the re-INVITE times out and we end the session as expired.
    @Test func withoutUpdateWeRefreshByReinvite() throws {
        let (caller, callee, aWire, bWire, clock, session) = setUp(headers: [SIPHeaderField(.sessionExpires, "120;refresher=uas")], callerAllowsUpdate: false)
        defer { withExtendedLifetime(caller) {} }
        let ok = try #require(bWire.sentResponses.first { $0.status == .ok })
        #expect(ok.headers[.sessionExpires] == "120;refresher=uas")
        let answered = try #require(callee.incoming.first)
        #expect(answered.sessionTimer?.refreshByUpdate == false)
        let ourSDP = try #require(answered.localSDP)
        clock.advance(by: .seconds(60))
        #expect(!bWire.sentRequests.contains { $0.method == .update })
        let reinvite = try #require(bWire.sentRequests.last { $0.method == .invite }, "we did not refresh")
        #expect(reinvite.headers[.sessionExpires] == "120;refresher=uac")
        let offered = try SDPSession.parse(reinvite.body)
        #expect(offered.origin.sessionVersion == ourSDP.origin.sessionVersion && offered.serialized() == ourSDP.serialized(), "the refresh changes nothing")
        #expect(aWire.sentResponses.last { $0.cseq.method == .invite }?.status == .ok)
        clock.advance(by: .milliseconds(10))
        #expect(bWire.sentRequests.contains { $0.method == .ack && $0.cseq.sequence == reinvite.cseq.sequence }, "the 2xx was not ACKed")
        clock.advance(by: .seconds(90))
        #expect(session.state == .confirmed && answered.state == .confirmed && callee.ended.isEmpty)
        #expect(bWire.sentRequests.filter { $0.method == .invite }.count == 2, "a second refresh")

        aWire.dropping = true
        clock.advance(by: .seconds(120))
        #expect(callee.ended == ["session timer expired"], "\(callee.ended)")
    }
}
