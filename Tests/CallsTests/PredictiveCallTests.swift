import ACD
@testable import Calls
import Testing

/// A predictive campaign's call on the machine (issue 19, part 3): the customer first, then the
/// next agent within 2 s, or the campaign's message and an abandoned call.
@Suite struct PredictiveCallTests {
    static func agentState(_ f: CallFixture, _ id: String) -> AgentStateName? {
        f.engine.snapshot(now: 0).agents.first { $0.id == id }?.state
    }

    @Test func anAnsweredCustomerGoesToTheNextAgent() throws {
        var f = try CallFixture()
        f.acd(.agentLogin(agent: "1001", device: "sip:1001"))
        f.dialCustomer()
        #expect(f.phase == .ringing && f.timers[.noAnswer(.caller)] != nil)
        #expect(f.queueLog.filter { $0 == "ENTERQUEUE" }.isEmpty, "the ACD has nothing before the answer")
        f.advance(6)
        let answeredAt = f.now.wall
        f.send(.answered)
        #expect(f.queueLines.contains { $0.event == "ENTERQUEUE" && $0.queue == "sales" })
        #expect(f.timers[.connectDeadline] != nil)
        let leg = try #require(f.ringingLeg(), "the ready agent is not rung")
        #expect(f.dialled[leg] == "sip:1001")
        f.advance(0.5)
        f.pickUp(leg)
        #expect(f.phase == .bridged)
        #expect(f.timers[.connectDeadline] == nil, "connected in time: no abandon")
        f.advance(60)
        f.send(.callerEnded(cause: "customer hung up", by: "customer"))
        let r = try #require(f.record)
        #expect(r.outcome == "connected" && r.direction == .outbound && r.agent == "1001" && r.targetAnsweredAt == answeredAt)
        #expect(r.talkSeconds == 60)
    }

    @Test func noAgentWithinTwoSecondsIsAnAbandonedCallWithTheMessage() throws {
        var f = try CallFixture()
        f.dialCustomer()
        f.advance(5)
        f.send(.answered)
        f.advance(2)
        #expect(f.heard.last == ["campaign-abandon"], "the abandoned customer hears the campaign's message")
        #expect(f.queueLog.last == "ABANDON")
        #expect(!f.callerHungUp, "the message is played before the hang-up")
        f.finishPlayback()
        #expect(f.callerHungUp)
        let r = try #require(f.record)
        #expect(r.outcome == "abandoned" && r.cause == "no agent within 2 s" && r.direction == .outbound)
    }

    @Test func anAbandonedCustomerHearsTheMessageTheirCampaignNames() throws {
        var f = try CallFixture()
        f.dialCustomer(abandonPrompt: "spring-sale-abandon")
        f.send(.answered)
        f.advance(2)
        #expect(f.heard.last == ["spring-sale-abandon"])
        #expect(f.queueLog.last == "ABANDON")
    }

    @Test func anAgentWhoseRingGoesPastTwoSecondsIsWithdrawnAndTheCallAbandoned() throws {
        var f = try CallFixture()
        f.acd(.agentLogin(agent: "1001", device: "sip:1001"))
        f.dialCustomer()
        f.advance(5)
        f.send(.answered)
        let leg = try #require(f.ringingLeg())
        f.send(.legRinging(leg))
        f.advance(2.1)
        #expect(f.hungUp.contains(leg), "the agent's ring is cancelled")
        #expect(f.record == nil || f.record?.outcome == "abandoned")
        f.finishPlayback()
        #expect(f.record?.outcome == "abandoned")
        #expect(Self.agentState(f, "1001") == .ready, "the agent is free for the next answer")
    }

    @Test(arguments: [("busy", "number busy (486)"), ("congestion", "trunk congested (503)"), ("failed", "call failed (500)")])
    func aNumberNotReachedIsRecordedWithoutTheACD(outcome: String, cause: String) throws {
        var f = try CallFixture()
        f.dialCustomer()
        f.advance(1)
        f.send(.customerNotReached(outcome: outcome, cause: cause))
        let r = try #require(f.record)
        #expect(r.outcome == outcome && r.cause == cause && r.targetAnsweredAt == nil)
        #expect(f.queueLog.isEmpty)
    }

    @Test func aNumberThatRingsOutIsNoAnswer() throws {
        var f = try CallFixture()
        f.dialCustomer()
        f.advance(Double(f.session.rules.outboundNoAnswerSeconds) + 0.5)
        #expect(f.callerHungUp, "the INVITE is cancelled")
        #expect(f.record?.outcome == "no-answer")
    }
}
