import ACD
import Testing

/// An agent's own call (click-to-dial, issue 19): the agent takes no offers while on it and goes
/// back to where they dialled from.
@Suite struct OutboundAgentTests {
    @Test func aReadyAgentTakesNoOfferWhileOnTheirOwnCallAndIsOfferedTheNextCallerAfter() throws {
        var h = try Harness(levels: [5])
        try h.loginAll(["a1"])
        try h.send(.agentOutbound(agent: "a1", call: "out1"))
        #expect(h.agent("a1").state == .onCall)
        #expect(h.agent("a1").call == "out1")
        let arrived = try h.arrive("c1")
        #expect(offers(arrived).isEmpty, "an agent on their own call is not offered callers")
        h.now += 30_000
        let ended = try h.send(.callerHungUp(call: "out1"))
        #expect(offers(ended) == ["c1→a1"], "back to ready, the waiting caller is offered at once")
        #expect(h.agent("a1").stats.outbound == 1)
        #expect(h.agent("a1").stats.outboundMs == 30_000)
        #expect(h.agent("a1").stats.answered == 0, "an agent's own call is not an answered call of the group")
        #expect(!h.events.contains("CONNECT"), "nothing of it goes in the queue log as a queue call")
    }

    @Test func aPausedAgentReturnsToTheSameReasonAndWrapUpEndsWhenTheyDial() throws {
        var h = try Harness(levels: [5])
        try h.loginAll(["a1"])
        try h.send(.agentPause(agent: "a1", reason: "callbacks"))
        try h.send(.agentOutbound(agent: "a1", call: "out1"))
        try h.send(.agentHungUp(agent: "a1"))
        #expect(h.agent("a1").state == .notReady)
        #expect(h.agent("a1").reason == "callbacks")

        var w = try Harness(configure: { $0.wrapUpSeconds = 60 }, levels: [5])
        try w.loginAll(["a1"])
        try w.arrive("c1")
        try w.serve("c1", by: "a1")
        #expect(w.agent("a1").state == .wrapUp)
        try w.send(.agentOutbound(agent: "a1", call: "out1"))
        try w.send(.callerHungUp(call: "out1"))
        #expect(w.agent("a1").state == .ready, "dialling ends the wrap-up; the call's end makes the agent ready")
    }

    @Test func placingACallIsRefusedWhereItWouldLoseSomething() throws {
        var h = try Harness(levels: [5, 5])
        #expect(h.refuse(.agentOutbound(agent: "a1", call: "out1"))?.code == .illegalTransition, "logged out")
        #expect(h.refuse(.agentOutbound(agent: "zz", call: "out1"))?.code == .unknownAgent)
        try h.loginAll(["a1", "a2"])
        try h.arrive("c1")
        let ringing = h.engine.snapshot(now: h.now).agents.first { $0.state == .ringing }!.id
        let refused = h.refuse(.agentOutbound(agent: ringing, call: "out1"))
        #expect(refused?.code == .illegalTransition)
        #expect(refused?.message.contains("ringing") == true)
        let other = ringing == "a1" ? "a2" : "a1"
        #expect(h.refuse(.agentOutbound(agent: other, call: "c1"))?.code == .duplicateCall, "a call id the ACD already has")
        try h.send(.agentOutbound(agent: other, call: "out1"))
        #expect(h.refuse(.agentOutbound(agent: other, call: "out2"))?.code == .illegalTransition, "one call of their own at a time")
        #expect(h.refuse(.agentLogout(agent: other))?.code == .illegalTransition)
        #expect(h.refuse(.agentReady(agent: other))?.code == .illegalTransition)
    }

    @Test func resetEndsTheAgentsOwnCall() throws {
        var h = try Harness(levels: [5])
        try h.loginAll(["a1"])
        try h.send(.agentOutbound(agent: "a1", call: "out1"))
        let out = try h.send(.agentReset(agent: "a1"))
        #expect(out.contains(.endCall(call: "out1")))
        #expect(h.agent("a1").state == .notReady)
        #expect(h.agent("a1").reason == "reset")
        #expect(h.refuse(.callerHungUp(call: "out1"))?.code == .unknownCall, "forgotten: a late hang-up changes nothing")
    }

    @Test func anAgentRemovedByAReloadFinishesTheirCallThenLeaves() throws {
        var h = try Harness(levels: [5])
        try h.loginAll(["a1"])
        try h.send(.agentOutbound(agent: "a1", call: "out1"))
        try h.send(.configure(ACDSettings(groups: [GroupSettings(name: "g")], agents: [])))
        #expect(h.agent("a1").retired)
        try h.send(.callerHungUp(call: "out1"))
        #expect(!h.engine.snapshot(now: h.now).agents.contains { $0.id == "a1" })
        #expect(h.events.suffix(2) == ["REMOVEMEMBER", "AGENTLOGOFF"])
    }
}
