import ACD
@testable import Calls
import Testing

/// The agent's phone transferring with its own keys (FEATURES A4, RFC 5589 §7): it holds the
/// caller, calls 1002 on its second line, talks to them, and sends REFER with Replaces naming
/// the second line on the first.
@Suite struct SecondLineTests {
    /// The caller bridged to 1001, whose phone then holds; returns the fixture and 1001's leg.
    func heldByAlice(hold: Bool = true) throws -> (CallFixture, LegID) {
        var f = try CallFixture()
        f.loginBoth()
        let reached = f.reachSales()
        let alice = try #require(reached)
        f.pickUp(alice)
        f.advance(5)
        if hold {
            f.send(.legHold(alice, true))
            #expect(f.phase == .held)
        }
        return (f, alice)
    }

    /// The line leg the machine accepted.
    func acceptedLine(_ f: CallFixture) -> LegID? {
        f.actions.compactMap { if case .acceptLine(let id) = $0 { id } else { nil } }.last
    }

    @Test func theSecondLineConsultsAndReferWithReplacesHandsTheCallerOver() throws {
        var (f, alice) = try heldByAlice()
        #expect(f.session.canConsultFromLine && !f.session.canConsult)
        f.send(.lineConsult(.agent("1002", group: "sales")))
        let line = try #require(acceptedLine(f))
        #expect(f.phase == .consulting && f.session.consult?.line == line)
        #expect(f.actions.contains(.playRingbackTo(line)) && !f.actions.contains(.playRingbackTo(alice)))
        let consultCall = try #require(f.session.consultACDCall)
        let bob = try #require(f.ringingLeg())
        #expect(f.dialled[bob] == "sip:1002")
        f.advance(2)
        f.pickUp(bob)
        // Alice talks to Bob on the second line; her first still holds the caller.
        #expect(f.actions.contains(.bridgeLegs(line, bob)) && !f.actions.contains(.bridgeLegs(alice, bob)))
        f.advance(10)
        f.send(.consultCompleteByRefer)
        #expect(f.phase == .bridged && f.session.connected == bob && f.session.agent == "1002")
        // The first line hears its REFER succeeded (then BYE); the second line is hung up.
        #expect(f.actions.contains(.completeRefer(alice)) && f.hungUp.contains(line))
        #expect(f.actions.suffix(5).contains(.bridge(bob)))
        let transfer = try #require(f.queueLines.first { $0.event == "ATTENDEDTRANSFER" })
        #expect(transfer.agent == "Agent/1001" && transfer.data.prefix(2) == ["BRIDGE", consultCall])
        // Both of Alice's legs end (our BYEs): nothing changes.
        f.send(.legEnded(alice, .ended("BYE answered")))
        f.send(.legEnded(line, .ended("BYE answered")))
        #expect(f.phase == .bridged && f.session.connected == bob)
        f.send(.callerEnded(cause: "caller hung up", by: "caller"))
        #expect(f.record?.transfers == "attended:agent:1002" && f.record?.agent == "1002")
    }

    /// The agent hangs up the second line: the party consulted is let go, and the caller stays
    /// held on the first (music) until the phone retrieves.
    @Test func hangingUpTheSecondLineEndsTheConsult() throws {
        var (f, alice) = try heldByAlice()
        f.send(.lineConsult(.agent("1002", group: "sales")))
        let line = try #require(acceptedLine(f))
        let bob = try #require(f.ringingLeg())
        f.pickUp(bob)
        f.send(.legEnded(line, .ended("remote hangup")))
        #expect(f.phase == .held && f.session.consult == nil && f.hungUp.contains(bob))
        #expect(f.heard.last == ["music"])
        #expect(f.queueLines.contains { $0.event == "COMPLETECALLER" && $0.call != CallFixture.unique })  // the consult call ends
        f.send(.legHold(alice, false))
        #expect(f.phase == .bridged && f.actions.last { if case .bridge = $0 { true } else { false } } == .bridge(alice))
    }

    /// A phone that dials without holding first: the caller gets music at once, and when the
    /// consulted agent declines, the line is hung up and the caller talks to the agent again.
    @Test func aDeclinedConsultOnAnUnheldCallComesBack() throws {
        var (f, alice) = try heldByAlice(hold: false)
        f.send(.lineConsult(.number("0309876543")))
        let line = try #require(acceptedLine(f))
        #expect(f.actions.contains(.split) && f.heard.last == ["music"])
        let far = try #require(f.ringingLeg())
        #expect(f.dialled[far] == "tel:0309876543")
        f.send(.legRinging(far))
        f.send(.legEnded(far, .refused(status: 486)))
        #expect(f.hungUp.contains(line) && f.phase == .bridged && f.session.consult == nil)
        #expect(f.actions.last { if case .bridge = $0 { true } else { false } } == .bridge(alice))
    }

    /// No second line while the call is ringing or already consulting; a REFER with Replaces
    /// before the party answered changes nothing.
    @Test func theSecondLineIsRefusedWhenTheCallCannotConsult() throws {
        var f = try CallFixture()
        f.loginBoth()
        f.reachSales()
        f.send(.lineConsult(.group("support")))
        #expect(acceptedLine(f) == nil && f.phase == .ringing)

        var (g, _) = try heldByAlice()
        g.send(.lineConsult(.number("0309876543")))
        let first = try #require(acceptedLine(g))
        g.send(.lineConsult(.number("0301111111")))
        #expect(acceptedLine(g) == first)
        g.send(.consultCompleteByRefer)
        #expect(g.phase == .consulting)
    }

    /// The conference of three from a second line mixes the line, not the held first leg.
    @Test func aConferenceFromTheSecondLineMixesTheLine() throws {
        var (f, alice) = try heldByAlice()
        f.send(.lineConsult(.agent("1002", group: "sales")))
        let line = try #require(acceptedLine(f))
        let bob = try #require(f.ringingLeg())
        f.pickUp(bob)
        f.send(.conference)
        #expect(f.phase == .conference && f.actions.contains(.mix([.caller, line, bob])) && !f.actions.contains(.mix([.caller, alice, bob])))
    }
}
