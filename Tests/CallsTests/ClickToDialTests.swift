import ACD
@testable import Calls
import NIOCore
import SIP
import Testing

/// An agent's own call (click-to-dial, FEATURES A5): the agent's phone first, then the number,
/// on the fixture's fake clock with the real ACD engine beside it.
@Suite struct ClickToDialTests {
    static func agentState(_ f: CallFixture, _ id: String = "1001") -> AgentStateName? {
        f.engine.snapshot(now: 0).agents.first { $0.id == id }?.state
    }

    /// Logged in, the call placed, the agent's phone answered: the number is being called.
    static func calling() throws -> (CallFixture, LegID) {
        var f = try CallFixture()
        f.loginBoth()
        let placed = f.placeCall()
        #expect(placed)
        f.advance(2)
        f.send(.answered)
        let leg = try #require(f.ringingLeg())
        return (f, leg)
    }

    @Test func theAgentAnswersThenTheNumberIsCalledWithRingbackThenBridgedAndRecorded() throws {
        var f = try CallFixture()
        f.loginBoth()
        let placed = f.placeCall()
        #expect(placed)
        #expect(f.phase == .ringing)
        #expect(Self.agentState(f) == .onCall, "the ACD offers the agent no caller while their phone rings")
        #expect(f.dialled.isEmpty, "nothing is dialled before the agent answers")
        f.advance(2)
        f.send(.answered)
        #expect(f.phase == .calling)
        #expect(f.heard.last == ["ringback"], "the agent hears ringback while the number rings")
        let leg = try #require(f.ringingLeg())
        #expect(f.dialled[leg] == "tel:5551234")
        f.send(.legRinging(leg))
        f.advance(5)
        let answeredAt = f.now.wall
        f.send(.legAnswered(leg, usable: true))
        #expect(f.phase == .bridged)
        #expect(f.actions.contains(.bridge(leg)) && f.actions.contains(.startRecording(leg)))
        #expect(f.session.transferableLeg == nil, "no transfer, consult or monitoring of an agent's own call yet")
        f.advance(60)
        f.send(.legEnded(leg, .ended("remote hangup")))
        #expect(f.callerHungUp, "the number hung up: the agent's leg gets our BYE")
        let r = try #require(f.record)
        #expect(r.direction == .outbound)
        #expect(r.outcome == "connected")
        #expect(r.agent == "1001")
        #expect(r.cause == "customer hung up" && r.by == "customer")
        #expect(r.talkSeconds == 60)
        #expect(r.targetAnsweredAt == answeredAt, "billing starts at the number's answer, not the agent's")
        #expect(Self.agentState(f) == .ready, "the ACD heard the call end")
        #expect(f.records == 1)
    }

    @Test(arguments: [(486, "busy", "number-busy"), (603, "busy", "number-busy"), (480, "no-answer", "no-answer"), (503, "congestion", "call-failed"), (500, "failed", "call-failed")])
    func aNumberNotReachedIsToldToTheAgentAndRecordedWithItsStatus(_ status: Int, _ outcome: String, _ prompt: String) throws {
        var (f, leg) = try Self.calling()
        f.send(.legRinging(leg))
        f.send(.legEnded(leg, .refused(status: status)))
        #expect(f.heard.last == [prompt])
        #expect(!f.callerHungUp, "the agent hears the prompt first")
        f.finishPlayback()
        #expect(f.callerHungUp)
        let r = try #require(f.record)
        #expect(r.outcome == outcome)
        #expect(r.cause.contains("(\(status))"), "the SIP status is kept: \(r.cause)")
        #expect(r.targetAnsweredAt == nil && r.talkSeconds == nil)
        #expect(Self.agentState(f) == .ready)
    }

    @Test func aNumberThatRingsTooLongIsReleasedAndToldAsNoAnswer() throws {
        var (f, leg) = try Self.calling()
        f.send(.legRinging(leg))
        f.advance(Double(f.session.rules.outboundNoAnswerSeconds) + 1)
        #expect(f.hungUp.contains(leg), "our CANCEL")
        #expect(f.heard.last == ["no-answer"])
        f.send(.legEnded(leg, .refused(status: 487)))
        #expect(f.heard.last == ["no-answer"], "the 487 to our CANCEL says nothing more")
        f.finishPlayback()
        #expect(f.record?.outcome == "no-answer")
        #expect(f.record?.cause == "no answer after \(f.session.rules.outboundNoAnswerSeconds) s")
        #expect(f.records == 1)
    }

    @Test func noTrunkForTheNumberIsAFailureToldToTheAgent() throws {
        var (f, leg) = try Self.calling()
        f.send(.legFailed(leg, reason: "no trunk has an outbound address"))
        #expect(f.heard.last == ["call-failed"])
        f.finishPlayback()
        #expect(f.record?.outcome == "failed")
        #expect(f.record?.cause.contains("no trunk") == true)
    }

    @Test func anAgentWhoDoesNotAnswerEndsTheAttemptAndIsFreeAgain() throws {
        var f = try CallFixture()
        f.loginBoth()
        f.placeCall()
        f.advance(Double(f.session.rules.agentRingSeconds) + 1)
        #expect(f.callerHungUp, "our CANCEL to the agent's phone")
        #expect(f.dialled.isEmpty, "the number is never called")
        #expect(f.record?.outcome == "failed")
        #expect(f.record?.cause == "agent's phone did not answer")
        #expect(Self.agentState(f) == .ready)
    }

    @Test func anAgentsPhoneThatRefusesEndsTheAttempt() throws {
        var f = try CallFixture()
        f.loginBoth()
        f.placeCall()
        f.send(.callerEnded(cause: "agent's phone refused (486)", by: "agent"))
        #expect(f.phase == .ended)
        #expect(f.record?.outcome == "failed")
        #expect(f.record?.cause == "agent's phone refused (486)")
        #expect(Self.agentState(f) == .ready)
        f.advance(60)
        #expect(f.records == 1, "the ring timer changes nothing after the end")
    }

    @Test func theAgentHangingUpWhileTheNumberRingsCancelsIt() throws {
        var (f, leg) = try Self.calling()
        f.send(.legRinging(leg))
        f.advance(3)
        f.send(.callerEnded(cause: "agent hung up", by: "agent"))
        #expect(f.hungUp.contains(leg))
        #expect(f.record?.outcome == "cancelled")
        #expect(Self.agentState(f) == .ready)
        // The 487 to our CANCEL comes after the end: nothing more is played or written.
        f.send(.legEnded(leg, .refused(status: 487)))
        #expect(f.records == 1)
    }

    @Test func keysFromTheAgentNeverReachTheACD() throws {
        var (f, _) = try Self.calling()
        let before = f.queueLog
        f.send(.key("5"))
        #expect(f.queueLog == before)
        #expect(Self.agentState(f) == .onCall)
    }

    @Test func aPausedAgentStaysPausedAfterTheirCall() throws {
        var f = try CallFixture()
        f.loginBoth()
        f.acd(.agentPause(agent: "1001", reason: "callbacks"))
        let placed = f.placeCall()
        #expect(placed)
        f.send(.callerEnded(cause: "agent hung up", by: "agent"))
        let view = f.engine.snapshot(now: 0).agents.first { $0.id == "1001" }
        #expect(view?.state == .notReady && view?.reason == "callbacks")
    }

    @Test func aRingingAgentCannotPlaceACall() throws {
        var f = try CallFixture()
        f.loginBoth()
        _ = f.reachSales()
        let ringing = try #require(f.session.agent)
        var other = try CallFixture()
        other.engine = f.engine
        let placed = other.placeCall(agent: ringing)
        #expect(!placed, "the ACD refuses: the agent's phone rings for a caller")
    }

    @Test func theNumbersSilenceEndsTheCallAndFreesTheAgent() throws {
        var (f, leg) = try Self.calling()
        f.pickUp(leg)
        f.silent.insert(leg)
        f.advance(40)
        #expect(f.callerHungUp)
        #expect(f.record?.cause == "no RTP from the customer")
        #expect(Self.agentState(f) == .ready)
    }
}

/// Outbound routes (issue 19): which trunks carry a number.
@Suite struct OutboundRouteTests {
    static func trunk(_ name: String, _ prefixes: [String], outbound: Bool = true) throws -> CallPolicy.Trunk {
        CallPolicy.Trunk(
            name: name, addresses: [], numbers: ["100"], outbound: outbound ? SIPPeer(.udp, try SocketAddress(ipAddress: "127.0.0.1", port: 5070)) : nil,
            prefixes: prefixes)
    }

    @Test func theLongestPrefixWinsAndATrunkWithoutPrefixesTakesTheRest() throws {
        let trunks = [
            try Self.trunk("any", []), try Self.trunk("intl", ["00"]), try Self.trunk("mobile", ["015", "016"]), try Self.trunk("mobile-backup", ["01"]),
            try Self.trunk("inbound-only", [], outbound: false),
        ]
        #expect(InboundCallService.route("0049301234", trunks).map(\.name) == ["intl"])
        #expect(InboundCallService.route("01511234", trunks).map(\.name) == ["mobile"])
        #expect(InboundCallService.route("01711234", trunks).map(\.name) == ["mobile-backup"])
        #expect(InboundCallService.route("0301234", trunks).map(\.name) == ["any"])
        #expect(InboundCallService.route("0301234", [try Self.trunk("intl", ["00"])]).isEmpty, "no trunk carries it")
        #expect(InboundCallService.route("0301234", [try Self.trunk("a", []), try Self.trunk("b", [])]).map(\.name) == ["a", "b"], "ties in configuration order, for failover")
    }
}
