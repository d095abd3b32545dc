import ACD
import Testing

/// A call for one agent only (a transfer to that agent): it waits for that agent, never goes to
/// another, and does not hold up the callers behind it.
@Suite struct TargetedCallTests {
    @Test func waitsForItsAgentAndLetsOthersPass() throws {
        var h = try Harness()
        try h.loginAll(["a1", "a2"])
        try h.send(.agentPause(agent: "a2", reason: "break"))
        // c1 is for a2 (paused): a1 is ready but must not get it; c2 behind it goes to a1.
        let first = try h.send(.callArrived(CallArrival(call: "c1", group: "g", callerID: "x", agent: "a2")))
        #expect(offers(first).isEmpty)
        #expect(offers(try h.arrive("c2")) == ["c2→a1"])
        #expect(h.waiting().first == "c1", "the targeted caller keeps its place")
        let ready = try h.send(.agentReady(agent: "a2"))
        #expect(offers(ready) == ["c1→a2"])
    }

    @Test func unknownOrForeignAgentsAreRefused() throws {
        var h = try Harness()
        #expect(h.refuse(.callArrived(CallArrival(call: "c1", group: "g", agent: "zz")))?.code == .unknownAgent)
        var two = try Harness(
            groups: [GroupSettings(name: "g"), GroupSettings(name: "h")],
            agents: [AgentSettings(id: "a1", skills: [.init("g", 5)]), AgentSettings(id: "b1", skills: [.init("h", 5)])])
        #expect(two.refuse(.callArrived(CallArrival(call: "c1", group: "g", agent: "b1")))?.code == .invalid)
    }
}
