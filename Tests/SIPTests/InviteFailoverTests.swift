import SIP
import SIPMessage
import TestSupport
import Testing

/// RFC 3263 §4.3 on our INVITEs (issue 20): a destination with further addresses (a trunk's
/// other DNS targets) is tried at the next one when the current one is silent, cannot be sent
/// to or answers 503, and only then. Two of our session layers on the paired transport, whose
/// `unreachable` and `refusing` ports stand for dead addresses.
@Suite struct InviteFailoverTests {
    struct Move: Equatable {
        var from: Int
        var to: Int
        var why: String
        var retryAfter: String?
    }

    final class Moves { var all: [Move] = [] }

    func call(_ uac: SessionLayer, to first: Int, alternates: [Int]) -> (InviteSession, Moves) {
        let offer = SDPNegotiation.offer(capabilities: MediaCapabilities(address: "127.0.0.1"), localPort: 40000, sessionID: "5", sessionVersion: 1)
        let moves = Moves()
        let session = uac.invite(
            to: try! SIPURI.parse("sip:0301234567@carrier.test"), peer: .udp(first), from: SIPNameAddr(uri: try! SIPURI.parse("sip:100@127.0.0.1")),
            offer: offer, alternates: alternates.map { .udp($0) }
        ) { from, to, why, response in
            moves.all.append(Move(from: from.port, to: to.port, why: why, retryAfter: response?.headers[.retryAfter]))
        }
        return (session, moves)
    }

    func invites(_ wire: PairedTransport) -> [SIPRequest] { wire.sentRequests.filter { $0.method == .invite } }

    @Test func a503SendsTheSameRequestToTheNextAddressAsANewTransaction() throws {
        let (uac, _, _, callee, aWire, _, clock) = SessionLayerTests().setUp(.rejectFirst(.serviceUnavailable))
        let (session, moves) = call(uac, to: 5070, alternates: [5071, 5072])
        clock.advance(by: .zero)
        #expect(session.state == .confirmed, "\(session.state) \(String(describing: session.endReason))")
        #expect(moves.all == [Move(from: 5070, to: 5071, why: "503 Service Unavailable", retryAfter: "120")])
        #expect(session.peer.port == 5071 && session.alternates.map(\.port) == [5072] && session.failovers == 1)
        let sent = invites(aWire)
        try #require(sent.count == 2)
        #expect(sent[0].callID == sent[1].callID && sent[0].from.tag == sent[1].from.tag && sent[0].cseq == sent[1].cseq)
        #expect(sent[0].uri == sent[1].uri && sent[0].body == sent[1].body)
        #expect(sent[0].branch != sent[1].branch, "the second attempt must be a new transaction")
        // The 503 was ACKed by its own transaction, and the answer by the dialog.
        #expect(aWire.sentRequests.filter { $0.method == .ack }.count == 2)
        #expect(callee.incoming.count == 2 && callee.incoming[1].state == .confirmed)
    }

    @Test func silenceMovesOnAfterTimerBAndNotBefore() throws {
        let (uac, _, _, callee, aWire, _, clock) = SessionLayerTests().setUp()
        aWire.unreachable = [5080]
        let (session, moves) = call(uac, to: 5080, alternates: [5070])
        clock.advance(by: .seconds(31))
        #expect(moves.all.isEmpty && callee.incoming.isEmpty && session.state == .initial)
        #expect(invites(aWire).count > 1, "the INVITE is retransmitted to the silent address (Timer A)")
        clock.advance(by: .seconds(2))
        #expect(moves.all == [Move(from: 5080, to: 5070, why: "no response")])
        #expect(session.state == .confirmed && callee.incoming.count == 1)
    }

    @Test func aSendThatFailsMovesOnAtOnce() throws {
        let (uac, _, _, callee, aWire, _, clock) = SessionLayerTests().setUp()
        aWire.refusing = [5081, 5082]
        let (session, moves) = call(uac, to: 5081, alternates: [5082, 5070])
        clock.advance(by: .zero)
        #expect(moves.all.map(\.to) == [5082, 5070] && moves.all.allSatisfy { $0.why == "the request could not be sent" })
        #expect(session.state == .confirmed && callee.incoming.count == 1 && session.peer.port == 5070)
    }

    @Test func onceTheCalleeRingsA503IsTheCallsOutcome() throws {
        let (uac, _, _, callee, aWire, _, clock) = SessionLayerTests().setUp(.ring)
        let (session, moves) = call(uac, to: 5070, alternates: [5071])
        clock.advance(by: .zero)
        #expect(session.state == .early)
        try #require(callee.incoming.first).reject(.serviceUnavailable)
        clock.advance(by: .zero)
        #expect(moves.all.isEmpty && invites(aWire).count == 1)
        #expect(session.endReason == .failed(.serviceUnavailable, "Service Unavailable"))
    }

    @Test func theLastAddressFailingEndsTheCallAsBefore() throws {
        // (The callee's call layer is kept: the session layer holds it weakly.)
        let (uac, _, _, callee, aWire, _, clock) = SessionLayerTests().setUp(.reject(.serviceUnavailable))
        let (session, moves) = call(uac, to: 5070, alternates: [5071])
        clock.advance(by: .zero)
        #expect(moves.all.map(\.to) == [5071] && invites(aWire).count == 2)
        #expect(session.endReason == .failed(.serviceUnavailable, "Service Unavailable"))
        // Other refusals are the callee's answer, not a dead address.
        let (uac2, _, _, callee2, aWire2, _, clock2) = SessionLayerTests().setUp(.reject(.busyHere))
        let (busy, moves2) = call(uac2, to: 5070, alternates: [5071])
        clock2.advance(by: .zero)
        #expect(moves2.all.isEmpty && invites(aWire2).count == 1 && busy.endReason == .failed(.busyHere, "Busy Here"))
        #expect(callee.ended.count == 2 && callee2.ended == ["rejected 486"])
    }

    @Test func aCallHungUpBeforeAnyAnswerIsNotTriedElsewhere() throws {
        let (uac, _, _, callee, aWire, _, clock) = SessionLayerTests().setUp()
        aWire.unreachable = [5080]
        let (session, moves) = call(uac, to: 5080, alternates: [5070])
        clock.advance(by: .seconds(1))
        session.hangUp()
        clock.advance(by: .seconds(40))
        #expect(moves.all.isEmpty && callee.incoming.isEmpty && session.isEnded)
    }
}
