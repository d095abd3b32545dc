import ACD
@testable import Calls
import Testing

/// Consultation on the call session machine, with the real ACD engine beside it: agent 1001
/// talks to the caller, then consults 1002 (or support, or a number).
@Suite struct ConsultTests {
    /// The caller bridged to 1001; returns the fixture and 1001's leg.
    func bridgedToAlice() throws -> (CallFixture, LegID) {
        var f = try CallFixture()
        f.loginBoth()
        let reached = f.reachSales()
        let leg = try #require(reached)
        #expect(f.dialled[leg] == "sip:1001")
        f.pickUp(leg)
        f.advance(5)
        return (f, leg)
    }

    @Test func consultAnAgentThenHandTheCallerOver() throws {
        var (f, alice) = try bridgedToAlice()
        #expect(f.session.canConsult)
        f.send(.consult(.agent("1002", group: "sales")))
        #expect(f.phase == .consulting && f.heard.last == ["music"])
        #expect(f.actions.contains(.split) && f.actions.contains(.playRingbackTo(alice)))
        let consultCall = try #require(f.session.consultACDCall)
        #expect(f.queueLines.contains { $0.event == "ENTERQUEUE" && $0.call == consultCall })
        let bob = try #require(f.ringingLeg())
        #expect(f.dialled[bob] == "sip:1002" && f.session.leg(bob)?.consult == true)
        #expect(f.session.transferableLeg == nil, "no blind transfer while consulting")
        f.advance(2)
        f.pickUp(bob)
        #expect(f.actions.contains(.bridgeLegs(alice, bob)))
        #expect(f.queueLines.contains { $0.event == "CONNECT" && $0.call == consultCall && $0.agent == "Agent/1002" })
        f.advance(10)
        f.send(.consultComplete)
        #expect(f.phase == .bridged && f.session.connected == bob && f.session.agent == "1002")
        #expect(f.hungUp == [alice])
        #expect(f.actions.suffix(4).contains(.bridge(bob)) && f.actions.contains(.startRecording(bob)))
        let transfer = try #require(f.queueLines.first { $0.event == "ATTENDEDTRANSFER" })
        #expect(transfer.call == CallFixture.unique && transfer.agent == "Agent/1001" && Array(transfer.data.prefix(2)) == ["BRIDGE", consultCall])
        #expect(f.session.acdCall == consultCall)
        // Alice's leg ends (our BYE): nothing for the ACD; then the caller talks to Bob and hangs up.
        f.send(.legEnded(alice, .ended("local hangup")))
        f.advance(20)
        f.send(.callerEnded(cause: "caller hung up", by: "caller"))
        #expect(f.queueLines.last?.event == "COMPLETECALLER" && f.queueLines.last?.call == consultCall)
        #expect(f.hungUp == [alice, bob])
        let record = try #require(f.record)
        #expect(record.agent == "1002" && record.transfers == "attended:agent:1002" && record.outcome == "connected")
        #expect(record.talkSeconds == 37)
    }

    /// Return before the consulted agent answers: their phone stops ringing, the consult call
    /// is abandoned in the ACD, and the caller talks to the agent again.
    @Test func returnToTheCallerWhileTheConsultRings() throws {
        var (f, alice) = try bridgedToAlice()
        f.send(.consult(.agent("1002", group: "sales")))
        let bob = try #require(f.ringingLeg())
        f.send(.legRinging(bob))
        f.advance(2)
        f.send(.consultReturn)
        #expect(f.phase == .bridged && f.session.consult == nil)
        #expect(f.hungUp == [bob] && f.actions.last == .bridge(alice))
        #expect(f.queueLog.contains("ABANDON"))
        // The caller's own call is still Alice's in the ACD.
        f.send(.legEnded(alice, .ended("remote hangup")))
        #expect(f.queueLines.last?.event == "COMPLETEAGENT" && f.queueLines.last?.call == CallFixture.unique)
    }

    /// The consulted agent's phone refuses: the consult ends and the caller is back.
    @Test func aConsultedAgentWhoDeclinesSendsTheCallerBack() throws {
        var (f, alice) = try bridgedToAlice()
        f.send(.consult(.agent("1002", group: "sales")))
        let bob = try #require(f.ringingLeg())
        f.send(.legRinging(bob))
        f.send(.legEnded(bob, .refused(status: 603)))
        #expect(f.phase == .bridged && f.actions.last == .bridge(alice) && f.session.consult == nil)
        #expect(f.queueLog.contains("ABANDON"))
    }

    /// The consulted party hangs up after talking to the agent: the caller is back with the agent.
    @Test func theConsultedPartyHangsUp() throws {
        var (f, alice) = try bridgedToAlice()
        f.send(.consult(.group("support")))
        let bob = try #require(f.ringingLeg())
        #expect(f.dialled[bob] == "sip:1002")
        f.pickUp(bob)
        f.advance(3)
        f.send(.legEnded(bob, .ended("remote hangup")))
        #expect(f.phase == .bridged && f.actions.last == .bridge(alice))
        #expect(f.queueLines.contains { $0.event == "COMPLETEAGENT" && $0.agent == "Agent/1002" })
        #expect(!f.callerHungUp)
    }

    /// The agent hangs up while the consulted party is on the line: the caller goes to them.
    @Test func theAgentHangingUpHandsTheCallerOver() throws {
        var (f, alice) = try bridgedToAlice()
        f.send(.consult(.agent("1002", group: "sales")))
        let bob = try #require(f.ringingLeg())
        f.pickUp(bob)
        f.send(.legEnded(alice, .ended("remote hangup")))
        #expect(f.phase == .bridged && f.session.connected == bob && !f.callerHungUp)
        #expect(f.queueLog.contains("ATTENDEDTRANSFER"))
        #expect(f.hungUp.isEmpty, "Alice's leg is gone already")
    }

    /// ... and with the consult still ringing, the call ends with the agent's.
    @Test func theAgentHangingUpBeforeTheAnswerEndsTheCall() throws {
        var (f, alice) = try bridgedToAlice()
        f.send(.consult(.agent("1002", group: "sales")))
        let bob = try #require(f.ringingLeg())
        f.send(.legRinging(bob))
        f.send(.legEnded(alice, .ended("remote hangup")))
        #expect(f.callerHungUp && f.hungUp == [bob] && f.record?.cause == "agent hung up")
    }

    /// A number that fails to answer: the caller is back; once it answers, the hand-over leaves
    /// the ACD (the number is no agent of it).
    @Test func consultANumber() throws {
        var (f, alice) = try bridgedToAlice()
        f.send(.consult(.number("0800")))
        let first = try #require(f.ringingLeg())
        #expect(f.dialled[first] == "tel:0800")
        f.send(.legFailed(first, reason: "no trunk"))
        #expect(f.phase == .bridged && f.actions.last == .bridge(alice))
        f.send(.consult(.number("0800")))
        let second = try #require(f.ringingLeg())
        f.pickUp(second)
        f.send(.consultComplete)
        #expect(f.phase == .transferred && !f.session.acdHasCall)
        #expect(f.queueLog.last == "BLINDTRANSFER")
        f.send(.legEnded(second, .ended("remote hangup")))
        #expect(f.callerHungUp && f.record?.outcome == "transferred" && f.record?.cause == "transfer target hung up")
    }

    /// The caller hangs up during the consult: both other legs go and the ACD hears of both calls.
    @Test func theCallerHangsUpWhileTheAgentConsults() throws {
        var (f, alice) = try bridgedToAlice()
        f.send(.consult(.agent("1002", group: "sales")))
        let bob = try #require(f.ringingLeg())
        f.pickUp(bob)
        let consultCall = try #require(f.session.consultACDCall)
        f.send(.callerEnded(cause: "caller hung up", by: "caller"))
        #expect(Set(f.hungUp) == [alice, bob])
        #expect(f.queueLines.contains { $0.event == "COMPLETECALLER" && $0.call == CallFixture.unique })
        #expect(f.queueLines.contains { $0.event == "COMPLETECALLER" && $0.call == consultCall })
    }

    /// Consulting needs an agent on the line; a hand-over needs an answered consult.
    @Test func whatIsRefused() throws {
        var f = try CallFixture()
        f.answer()
        #expect(!f.session.canConsult)
        let before = f.actions.count
        f.send(.consult(.number("0800")))
        f.send(.consultComplete)
        f.send(.consultReturn)
        #expect(f.actions.count == before)
        var (g, _) = try bridgedToAlice()
        g.send(.consult(.agent("1002", group: "sales")))
        let count = g.actions.count
        g.send(.consultComplete)  // 1002 has not answered
        #expect(g.actions.count == count && g.phase == .consulting)
    }
}

/// The three-way conference grown from a consultation.
@Suite struct ConferenceTests {
    func conference() throws -> (CallFixture, alice: LegID, bob: LegID) {
        var (f, alice) = try ConsultTests().bridgedToAlice()
        f.send(.consult(.agent("1002", group: "sales")))
        let ringing = f.ringingLeg()
        let bob = try #require(ringing)
        #expect(!f.session.canConference)
        f.pickUp(bob)
        #expect(f.session.canConference)
        f.send(.conference)
        #expect(f.phase == .conference && f.actions.last(where: { if case .mix = $0 { true } else { false } }) == .mix([.caller, alice, bob]))
        return (f, alice, bob)
    }

    @Test func theConsultedPartyLeavingLeavesCallerAndAgent() throws {
        var (f, alice, bob) = try conference()
        f.send(.legEnded(bob, .ended("remote hangup")))
        #expect(f.phase == .bridged && f.session.connected == alice)
        let tail = f.actions.suffix(3)
        #expect(tail.contains(.unmix) && tail.last == .bridge(alice))
        f.send(.callerEnded(cause: "caller hung up", by: "caller"))
        #expect(f.record?.transfers == "conference:agent:1002" && f.record?.agent == "1001")
    }

    @Test func theAgentLeavingHandsTheCallerToTheConsultedParty() throws {
        var (f, _, bob) = try conference()
        f.send(.legEnded(f.session.connected!, .ended("remote hangup")))
        #expect(f.phase == .bridged && f.session.connected == bob && f.session.agent == "1002")
        #expect(f.actions.suffix(4).contains(.unmix) && f.queueLog.contains("ATTENDEDTRANSFER"))
    }

    @Test func returnAndCompleteFromTheConference() throws {
        var (f, _, bob) = try conference()
        f.send(.consultReturn)
        #expect(f.phase == .bridged && f.hungUp == [bob] && f.actions.suffix(3).contains(.unmix))
        var (g, galice, gbob) = try conference()
        g.send(.consultComplete)
        #expect(g.phase == .bridged && g.session.connected == gbob && g.hungUp == [galice])
    }

    /// The caller hanging up ends the conference and both other legs.
    @Test func theCallerLeavingEndsItAll() throws {
        var (f, alice, bob) = try conference()
        f.send(.callerEnded(cause: "caller hung up", by: "caller"))
        #expect(Set(f.hungUp) == [alice, bob] && f.actions.contains(.unmix))
        #expect(f.queueLog.filter { $0 == "COMPLETECALLER" }.count == 2)
    }
}
