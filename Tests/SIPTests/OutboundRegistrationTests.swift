import SIP
import Testing

/// A trunk's registration with its carrier (issue 20), on the pure machine.
@Suite struct OutboundRegistrationTests {
    @Test func aChallengeIsAnsweredAndTheRegistrationRefreshedBeforeItLapses() {
        var r = OutboundRegistration(registrars: 2, expires: 600)
        #expect(r.start(now: 0) == [.send(registrar: 0, expires: 600, authorized: false), .wait(seconds: 5)])
        #expect(r.handle(.challenged, now: 0.1) == [.send(registrar: 0, expires: 600, authorized: true), .wait(seconds: 5)])
        let ok = r.handle(.registered(grantedSeconds: 300), now: 0.2)
        #expect(ok.first == .changed(.registered, reason: "registered for 300 s at registrar 1 of 2"))
        #expect(ok.last == .wait(seconds: 270), "a tenth early")
        #expect(r.state == .registered && r.registeredUntil == 300.2)
        // The refresh: same registrar; a new challenge is answered again (a new nonce).
        #expect(r.timerFired(now: 270) == [.send(registrar: 0, expires: 600, authorized: false), .wait(seconds: 5)])
        #expect(r.handle(.challenged, now: 270.1).first == .send(registrar: 0, expires: 600, authorized: true))
        #expect(r.handle(.registered(grantedSeconds: 30), now: 270.2) == [.wait(seconds: 25)], "no second 'registered': it never lapsed; at least 5 s early")
    }

    @Test func aDeadOrRefusingRegistrarFailsOverToTheNext() {
        var r = OutboundRegistration(registrars: 3, expires: 600)
        _ = r.start(now: 0)
        #expect(r.timerFired(now: 5) == [.send(registrar: 1, expires: 600, authorized: false), .wait(seconds: 5)], "no answer in 5 s: the next")
        _ = r.handle(.challenged, now: 5.1)
        #expect(r.handle(.challenged, now: 5.2).first == .send(registrar: 2, expires: 600, authorized: false), "a second challenge: credentials refused there")
        #expect(r.lastStatus == 401 && r.lastFailure == "the registrar refused our credentials")
        #expect(r.handle(.registered(grantedSeconds: 600), now: 6).first == .changed(.registered, reason: "registered for 600 s at registrar 3 of 3"))
        // A failed refresh moves on too.
        _ = r.timerFired(now: 546)
        #expect(r.handle(.refused(status: 503, reason: "Service Unavailable"), now: 546.1).first == .send(registrar: 0, expires: 600, authorized: false))
    }

    @Test func everyRegistrarFailingIsReportedOnceAndRetriedWithBackoff() {
        var r = OutboundRegistration(registrars: 2, expires: 600)
        _ = r.start(now: 0)
        _ = r.handle(.refused(status: 403, reason: "Forbidden"), now: 0.1)
        let failed = r.handle(.noAnswer("no answer within 5 s"), now: 5.1)
        #expect(failed == [.changed(.failed, reason: "every registrar failed; the last: no answer within 5 s"), .wait(seconds: 30)])
        #expect(r.state == .failed && r.current == 0)
        var waits: [Double] = []
        for round in 0..<6 {
            #expect(r.timerFired(now: 100 * Double(round + 1)).first == .send(registrar: 0, expires: 600, authorized: false), "a round starts from the first")
            _ = r.handle(.refused(status: 403, reason: "Forbidden"), now: 0)
            let out = r.handle(.refused(status: 403, reason: "Forbidden"), now: 0)
            #expect(!out.contains { if case .changed = $0 { true } else { false } }, "reported once per episode")
            if case .wait(let s)? = out.last { waits.append(s) }
        }
        #expect(waits == [60, 120, 240, 300, 300, 300])
        _ = r.timerFired(now: 2000)
        #expect(r.handle(.registered(grantedSeconds: 600), now: 2001).first == .changed(.registered, reason: "registered for 600 s at registrar 1 of 2"))
    }

    @Test func intervalTooBriefRetriesWithMinExpires() {
        var r = OutboundRegistration(registrars: 1, expires: 60)
        _ = r.start(now: 0)
        #expect(r.handle(.intervalTooBrief(minExpires: 3600), now: 0.1).first == .send(registrar: 0, expires: 3600, authorized: false))
        #expect(r.handle(.intervalTooBrief(minExpires: 3600), now: 0.2).first == .changed(.failed, reason: "every registrar failed; the last: 423 without a longer Min-Expires"))
    }
}
