import ACD
import Testing

/// Callbacks in the queue (FEATURES C4, issue 19): a caller who asks to be called back keeps
/// their place, and the callback is offered when its turn comes.
@Suite struct CallbackQueueTests {
    @Test func aCallbackKeepsItsPlaceSoOnlyCallersWhoCameAfterItWaitLonger() throws {
        var h = try Harness(levels: [5])
        try h.arrive("c1")
        h.now += 1000
        try h.arrive("c2")
        h.now += 1000
        try h.arrive("c3")
        try h.send(.callerCallback(call: "c2", number: "0301234567"))
        #expect(h.waiting() == ["c1", "c2", "c3"], "c2's place is kept")
        #expect(h.engine.snapshot(now: h.now).waiting.first { $0.call == "c2" }?.callback == "0301234567")
        #expect(h.group().stats.callbacks == 1)
        #expect(h.events.last == "CALLBACK")
        #expect(h.log.last?.data == ["0301234567", "2", "2", "1"], "number, position, original position, seconds waited")
        try h.loginAll(["a1"])
        #expect(offers(h.all).last == "c1→a1")
        try h.serve("c1", by: "a1")
        #expect(offers(h.all).last == "c2→a1", "the callback before the caller who came after it")
        try h.serve("c2", by: "a1")
        #expect(offers(h.all).last == "c3→a1")
        #expect(h.group().stats.abandoned == 0, "a callback is not an abandoned call")
        #expect(h.group().stats.answered == 2)
    }

    @Test func aCallbackWaitsWhateverTheGroupsLimitsAndHearsNoAnnouncements() throws {
        var h = try Harness(configure: { $0.maxWaitSeconds = 60; $0.announceSeconds = 20; $0.leaveWhen = .noAgents }, levels: [5])
        try h.loginAll(["a1"])
        try h.send(.agentPause(agent: "a1", reason: "x"))
        h.all.removeAll()
        try h.arrive("c1")
        try h.send(.callerCallback(call: "c1", number: "0301234567"))
        try h.advance(120)
        #expect(h.waiting() == ["c1"], "no maximum wait for a callback")
        #expect(!h.all.contains { if case .announce = $0 { true } else { false } })
        try h.send(.agentLogout(agent: "a1"))
        #expect(h.waiting() == ["c1"], "nobody logged in does not empty the queue of callbacks")
    }

    @Test func askingWhileAnAgentRingsWithdrawsTheRingAndOffersTheCallbackAfresh() throws {
        var h = try Harness(levels: [5])
        try h.loginAll(["a1"])
        try h.arrive("c1")
        let out = try h.send(.callerCallback(call: "c1", number: "555"))
        #expect(out.contains(.cancelOffer(call: "c1", agent: "a1")))
        #expect(offers(out) == ["c1→a1"], "offered again, now as a callback")
    }

    @Test func aCallbackFromTheWorklistJoinsWithoutCountingTwiceAndIsWithdrawnWithoutAnAbandon() throws {
        var h = try Harness(configure: { $0.joinRefusedWhen = .noAgents }, levels: [5])
        try h.send(.callArrived(CallArrival(call: "cb1", group: "g", position: 1, callerID: "0301234567", callback: "0301234567")))
        #expect(h.waiting() == ["cb1"], "join rules do not refuse a callback")
        #expect(h.group().stats.entered == 0 && h.group().stats.callbacksJoined == 1)
        #expect(h.events == ["ENTERQUEUE", "CALLBACK"])
        try h.send(.callerHungUp(call: "cb1"))
        #expect(h.waiting().isEmpty)
        #expect(h.events.last == "CALLBACKCANCEL")
        #expect(h.group().stats.abandoned == 0)
    }

    @Test func onlyAWaitingCallerCanAsk() throws {
        var h = try Harness(levels: [5])
        try h.loginAll(["a1"])
        try h.arrive("c1")
        try h.send(.agentAnswered(agent: "a1", call: "c1"))
        #expect(h.refuse(.callerCallback(call: "c1", number: "5"))?.code == .illegalTransition)
        #expect(h.refuse(.callerCallback(call: "zz", number: "5"))?.code == .unknownCall)
        try h.arrive("c2")
        #expect(h.refuse(.callerCallback(call: "c2", number: ""))?.code == .invalid)
    }

    @Test func anAssignedCallbackKeepsItsPlaceAndGoesOnlyToItsAgent() throws {
        var h = try Harness(levels: [5, 5])
        try h.send(.callArrived(CallArrival(call: "cb1", group: "g", callerID: "555", callback: "555")))
        try h.arrive("c2")
        let out = try h.send(.callbackAssigned(call: "cb1", agent: "a2"))
        #expect(out.contains { if case .log(let l) = $0 { l.event == "CALLBACKASSIGN" && l.data == ["a2", "1"] } else { false } })
        try h.loginAll(["a1"])
        #expect(offers(h.all).last == "c2→a1", "a1 is not the callback's agent: it takes the caller behind it")
        try h.loginAll(["a2"])
        #expect(offers(h.all).last == "cb1→a2")
        #expect(h.waiting() == ["cb1", "c2"], "both ringing, neither answered yet")
    }

    @Test func assigningWithdrawsAnotherAgentsRingAndCanBeUndone() throws {
        var h = try Harness(levels: [5, 5])
        try h.loginAll(["a1"])
        try h.send(.callArrived(CallArrival(call: "cb1", group: "g", callerID: "555", callback: "555")))
        #expect(offers(h.all).last == "cb1→a1")
        let out = try h.send(.callbackAssigned(call: "cb1", agent: "a2"))
        #expect(out.contains(.cancelOffer(call: "cb1", agent: "a1")))
        #expect(offers(out).isEmpty, "a2 is not logged in")
        let back = try h.send(.callbackAssigned(call: "cb1", agent: nil))
        #expect(offers(back) == ["cb1→a1"], "given back to anyone")
    }

    @Test func onlyAWaitingCallbackIsAssignedAndOnlyToAnAgentOfItsGroup() throws {
        var h = try Harness(groups: [GroupSettings(name: "g"), GroupSettings(name: "other")], agents: [
            AgentSettings(id: "a1", skills: [.init("g", 5)]), AgentSettings(id: "x", skills: [.init("other", 5)]),
        ])
        try h.arrive("c1")
        #expect(h.refuse(.callbackAssigned(call: "c1", agent: "a1"))?.code == .illegalTransition, "a caller is not a callback")
        try h.send(.callerCallback(call: "c1", number: "555"))
        #expect(h.refuse(.callbackAssigned(call: "c1", agent: "x"))?.code == .invalid)
        #expect(h.refuse(.callbackAssigned(call: "c1", agent: "nobody"))?.code == .unknownAgent)
        #expect(h.refuse(.callbackAssigned(call: "zz", agent: "a1"))?.code == .unknownCall)
    }
}
