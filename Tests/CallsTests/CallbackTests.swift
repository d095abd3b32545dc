import ACD
@testable import Calls
import Testing

/// Callbacks on the call machine (FEATURES C4; issue 19), on the fixture's fake clock with the
/// real ACD engine beside it.
@Suite struct CallbackTests {
    static func rules() -> CallSession.Rules {
        var r = CallFixture.rules()
        r.callbackKeys = ["sales": "*"]
        return r
    }

    /// The caller chose sales and waits (nobody logged in).
    static func waiting() throws -> CallFixture {
        var f = try CallFixture(rules: rules())
        f.answer()
        f.send(.key("1"))
        #expect(f.phase == .queued)
        return f
    }

    static func waitingCalls(_ f: CallFixture) -> [ACDSnapshot.CallerView] { f.engine.snapshot(now: 0).waiting }

    @Test func theCallersOwnNumberIsSavedBeforeTheyHearThePromiseAndTheirPlaceIsKept() throws {
        var f = try Self.waiting()
        f.send(.key("*"))
        #expect(f.phase == .callback)
        #expect(f.heard.last == ["callback-confirm"])
        f.send(.key("1"))
        #expect(f.savedCallbacks == ["0301234567"], "the number they call from")
        #expect(f.heard.last == ["callback-confirm"], "no promise before the worklist has it")
        #expect(Self.waitingCalls(f).first?.callback == nil, "the ACD still has a caller")
        f.send(.callbackSaved(true))
        #expect(f.heard.last == ["callback-thanks"])
        #expect(Self.waitingCalls(f).first?.callback == "0301234567", "the entry is now the callback, in the same place")
        f.finishPlayback()
        #expect(f.callerHungUp)
        #expect(f.record?.outcome == "callback" && f.record?.callbackNumber == "0301234567")
        #expect(f.record?.cause == "callback requested")
        #expect(f.engine.snapshot(now: 0).groups.first { $0.name == "sales" }?.stats.abandoned == 0, "not an abandoned call")
        #expect(Self.waitingCalls(f).count == 1, "the caller's hang-up does not take the callback out")
    }

    @Test func anotherNumberIsKeyedThenHash() throws {
        var f = try Self.waiting()
        f.send(.key("*"))
        for k in "0307654321" { f.send(.key(k)) }
        #expect(f.savedCallbacks.isEmpty)
        f.send(.key("#"))
        #expect(f.savedCallbacks == ["0307654321"])
    }

    @Test func aNumberTooShortIsAskedForAgainAndStarGoesBackToWaiting() throws {
        var f = try Self.waiting()
        f.send(.key("*"))
        f.send(.key("4"))
        f.send(.key("#"))
        #expect(f.savedCallbacks.isEmpty)
        #expect(f.heard.last == ["invalid", "callback-confirm"])
        f.send(.key("*"))
        #expect(f.phase == .queued)
        #expect(f.heard.last == ["music"])
    }

    @Test func nothingKeyedInTimeOrAFailedSaveLeavesTheCallerWaitingAsBefore() throws {
        var f = try Self.waiting()
        f.send(.key("*"))
        f.advance(11)
        #expect(f.phase == .queued && f.heard.last == ["music"])
        f.send(.key("*"))
        f.send(.key("1"))
        f.send(.callbackSaved(false))
        #expect(f.phase == .queued && f.heard.last == ["music"])
        #expect(Self.waitingCalls(f).first?.callback == nil)
        #expect(!f.callerHungUp)
    }

    @Test func anAgentFreeWhileTheCallerChoosesTakesTheCallerThemselves() throws {
        var f = try Self.waiting()
        f.send(.key("*"))
        f.acd(.agentLogin(agent: "1001", device: "sip:1001"))
        f.send(.key("9"))  // the ACD's offer was queued behind this key
        let leg = try #require(f.ringingLeg())
        #expect(f.phase == .ringing)
        f.pickUp(leg)
        #expect(f.phase == .bridged)
        #expect(f.savedCallbacks.isEmpty)
    }

    @Test func theKeyOfAGroupWithoutCallbacksGoesToTheACDAsBefore() throws {
        var r = CallFixture.rules()
        r.callbackKeys = ["support": "*"]
        var f = try CallFixture(rules: r)
        f.answer()
        f.send(.key("1"))
        f.send(.key("*"))
        #expect(f.phase == .queued)
    }

    /// The attempt: the ACD offers the callback, the agent answers, the number is dialled.
    @Test func theAttemptConfirmsTheAgentWithTheACDAndCountsOnlyOnceTheAgentAnswered() throws {
        var f = try CallFixture(rules: Self.rules())
        f.loginBoth()
        f.acd(.agentPause(agent: "1002", reason: "x"))
        f.acd(.agentPause(agent: "1001", reason: "x"))
        f.acd(.callArrived(CallArrival(call: "cb1", group: "sales", callerID: "0301234567", callback: "0301234567")))
        f.acd(.agentReady(agent: "1001"))
        #expect(f.engine.snapshot(now: 0).agents.first { $0.id == "1001" }?.state == .ringing)
        f.session = CallSession(uniqueID: "1800000001.9", agent: "1001", dials: "0301234567", rules: Self.rules(), callbackOf: "cb1")
        #expect(f.session.startOutbound(at: f.now).isEmpty, "the ACD times the agent's ring")
        f.send(.answered)
        #expect(f.actions.contains(.confirmAnswer(agent: "1001", call: "cb1", leg: .caller)))
        #expect(f.engine.snapshot(now: 0).agents.first { $0.id == "1001" }?.state == .onCall)
        let leg = try #require(f.ringingLeg())
        f.send(.legRinging(leg))
        f.send(.legEnded(leg, .refused(status: 486)))
        f.finishPlayback()
        #expect(f.record?.outcome == "busy" && f.record?.callbackOf == "cb1" && f.record?.agentAnswered == true)
        #expect(f.queueLog.suffix(2) == ["CONNECT", "COMPLETECALLER"], "\(f.queueLog)")
    }

    @Test func anAttemptWhoseAgentDoesNotAnswerLeavesTheCallbackWaiting() throws {
        var f = try CallFixture(rules: Self.rules())
        f.loginBoth()
        f.acd(.agentPause(agent: "1002", reason: "x"))
        f.acd(.callArrived(CallArrival(call: "cb1", group: "sales", callerID: "0301234567", callback: "0301234567")))
        f.session = CallSession(uniqueID: "1800000001.9", agent: "1001", dials: "0301234567", rules: Self.rules(), callbackOf: "cb1")
        f.send(.callerEnded(cause: "agent's phone refused (486)", by: "agent"))
        #expect(f.record?.agentAnswered == false)
        #expect(f.engine.snapshot(now: 0).waiting.map(\.call) == ["cb1"], "the ACD heard a decline, and keeps the callback")
        #expect(f.queueLog.last != "COMPLETECALLER")
    }
}
