@testable import SIP
import SIPMessage
import TestSupport
import Testing

/// Probes each instant (milliseconds from now) as NIO's HappyEyeballsTest does: 1 ms before it
/// nothing may have been sent, at it exactly one message. Returns what was sent.
func probeRetransmissions(
    at instants: [Int], _ clock: ManualScheduler, _ transport: FakeTransport, sourceLocation: SourceLocation = #_sourceLocation
) -> [FakeTransport.Sent] {
    let origin = clock.now
    var sent: [FakeTransport.Sent] = []
    for at in instants {
        clock.advance(by: origin + .milliseconds(at - 1) - clock.now)
        #expect(transport.drain().isEmpty, "early at \(at) ms", sourceLocation: sourceLocation)
        clock.advance(by: .milliseconds(1))
        let now = transport.drain()
        #expect(now.count == 1, "one retransmission at \(at) ms", sourceLocation: sourceLocation)
        sent += now
    }
    return sent
}

/// Every RFC 3261 §17 timer and retransmission rule, on a manual clock. Timer edges are probed the
/// way NIO's HappyEyeballsTest does: advance to 1 ms before, check nothing happened, then 1 ms more.
@Suite struct ClientTransactionTimerTests {
    let peer = SIPPeer.udp(5070)

    /// Timer A doubles from T1; Timer B gives up at 64*T1 and the TU hears a timeout.
    @Test func inviteTimerAAndB() {
        let (stack, clock, transport) = SIPFixtures.stack()
        var events: [String] = []
        let invite = SIPFixtures.request(.invite, branch: stack.makeBranch())
        stack.sendRequest(invite, to: peer) { events.append("\($0)") }
        #expect(transport.drain().count == 1)
        _ = probeRetransmissions(at: [500, 1500, 3500, 7500, 15500, 31500], clock, transport)
        let elapsed: Duration = .milliseconds(31500)
        clock.advance(by: .milliseconds(32_000) - elapsed - .milliseconds(1))
        #expect(events.isEmpty)
        clock.advance(by: .milliseconds(1))
        #expect(events == ["timeout"])
        #expect(stack.clientTransactionCount == 0)
        #expect(clock.pendingCount == 0)
    }

    @Test func provisionalStopsRetransmissionAndTimerB() {
        let (stack, clock, transport) = SIPFixtures.stack()
        var events: [SIPStatus] = []
        let invite = SIPFixtures.request(.invite, branch: stack.makeBranch())
        stack.sendRequest(invite, to: peer) { if case .response(let r) = $0 { events.append(r.status) } }
        stack.receive(SIPFixtures.response(to: invite, .ringing).serialized(), from: peer)
        transport.sent.removeAll()
        clock.advance(by: .seconds(60))
        #expect(transport.sent.isEmpty)
        #expect(events == [.ringing])
        #expect(stack.clientTransactionCount == 1)
        stack.receive(SIPFixtures.response(to: invite, .ok).serialized(), from: peer)
        #expect(events == [.ringing, .ok])
    }

    /// A 300-699 is ACKed by the transaction (§17.1.1.3), retransmissions are ACKed again without
    /// reaching the TU, and Timer D (32 s) ends it.
    @Test func nonSuccessFinalIsAckedAndTimerD() throws {
        let (stack, clock, transport) = SIPFixtures.stack()
        var events: [SIPStatus] = []
        var invite = SIPFixtures.request(.invite, branch: stack.makeBranch())
        invite.headers.add(.route, "<sip:proxy.example.com;lr>")
        stack.sendRequest(invite, to: peer) { if case .response(let r) = $0 { events.append(r.status) } }
        transport.sent.removeAll()
        let busy = SIPFixtures.response(to: invite, .busyHere)
        stack.receive(busy.serialized(), from: peer)
        let ack = try #require(transport.drain().first?.request)
        #expect(ack.method == .ack && ack.cseq == SIPCSeq(invite.cseq.sequence, .ack))
        #expect(ack.branch == invite.branch && ack.uri == invite.uri)
        #expect(ack.to.tag == "callee1" && ack.from == invite.from && ack.callID == invite.callID)
        #expect(ack.headers[.route] == "<sip:proxy.example.com;lr>")
        stack.receive(busy.serialized(), from: peer)
        #expect(transport.drain().first?.request?.method == .ack)
        #expect(events == [.busyHere])
        clock.advance(by: .milliseconds(31_999))
        #expect(stack.clientTransactionCount == 1)
        clock.advance(by: .milliseconds(1))
        #expect(stack.clientTransactionCount == 0)
    }

    /// RFC 6026: 2xx retransmissions and a fork's 2xx reach the TU (it ACKs them) until Timer M;
    /// a provisional is absorbed. Only a record waits: the transaction object leaves the stack and
    /// no timer of its own runs. After Timer M a 2xx is stray: the session layer's handler has it.
    @Test func successAcceptedStateAndTimerM() {
        let (stack, clock, _) = SIPFixtures.stack()
        var tags: [String?] = []
        var stray: [String?] = []
        stack.strayInviteSuccessHandler = { response, _ in stray.append(response.to.tag) }
        let invite = SIPFixtures.request(.invite, branch: stack.makeBranch())
        weak let transaction = stack.sendRequest(invite, to: peer) { if case .response(let r) = $0 { tags.append(r.to.tag) } }
        let ok = SIPFixtures.response(to: invite, .ok)
        stack.receive(ok.serialized(), from: peer)
        #expect(transaction == nil && stack.clientTransactions.isEmpty && clock.pendingCount == 1, "only the records' sweep runs")
        stack.receive(ok.serialized(), from: peer)
        var fork = ok
        fork.to.tag = "callee2"
        stack.receive(fork.serialized(), from: peer)
        stack.receive(SIPFixtures.response(to: invite, .ringing).serialized(), from: peer)
        #expect(tags == ["callee1", "callee1", "callee2"] && stray.isEmpty)
        clock.advance(by: .milliseconds(31_999))
        #expect(stack.clientTransactionCount == 1)
        clock.advance(by: .milliseconds(1))
        #expect(stack.clientTransactionCount == 0 && clock.pendingCount == 0)
        stack.receive(ok.serialized(), from: peer)
        #expect(tags.count == 3 && stray == ["callee1"])
    }

    /// Over TCP nothing is retransmitted, Timer B still bounds the wait, and Timer D is zero.
    @Test func reliableTransportHasNoRetransmissions() {
        let (stack, clock, transport) = SIPFixtures.stack()
        let tcp = SIPPeer.tcp(5070)
        var timedOut = false
        stack.sendRequest(SIPFixtures.request(.invite, branch: stack.makeBranch(), transport: "TCP"), to: tcp) {
            if case .timeout = $0 { timedOut = true }
        }
        clock.advance(by: .milliseconds(31_999))
        #expect(transport.sent.count == 1 && !timedOut)
        clock.advance(by: .milliseconds(1))
        #expect(timedOut)

        let invite = SIPFixtures.request(.invite, branch: stack.makeBranch(), transport: "TCP")
        stack.sendRequest(invite, to: tcp) { _ in }
        stack.receive(SIPFixtures.response(to: invite, .busyHere).serialized(), from: tcp)
        #expect(stack.clientTransactionCount == 1)
        clock.advance(by: .zero)
        #expect(stack.clientTransactionCount == 0)
    }

    /// Timer E doubles up to T2 and stays there; Timer F ends the transaction at 64*T1.
    @Test func nonInviteTimerEAndF() {
        let (stack, clock, transport) = SIPFixtures.stack()
        var events: [String] = []
        stack.sendRequest(SIPFixtures.request(.options, branch: stack.makeBranch()), to: peer) { events.append("\($0)") }
        transport.sent.removeAll()
        _ = probeRetransmissions(at: [500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500], clock, transport)
        let elapsed: Duration = .milliseconds(31500)
        clock.advance(by: .milliseconds(32_000) - elapsed)
        #expect(events == ["timeout"])
        #expect(stack.clientTransactionCount == 0 && clock.pendingCount == 0)
    }

    /// In Proceeding, Timer E fires every T2 (§17.1.2.2).
    @Test func nonInviteProceedingRetransmitsEveryT2() {
        let (stack, clock, transport) = SIPFixtures.stack()
        let register = SIPFixtures.request(.register, branch: stack.makeBranch())
        stack.sendRequest(register, to: peer) { _ in }
        stack.receive(SIPFixtures.response(to: register, .trying, toTag: nil).serialized(), from: peer)
        transport.sent.removeAll()
        clock.advance(by: .milliseconds(499))
        #expect(transport.drain().isEmpty)
        clock.advance(by: .milliseconds(1))  // the pending E (T1) fires, next one T2 later
        #expect(transport.drain().count == 1)
        clock.advance(by: .milliseconds(3999))
        #expect(transport.drain().isEmpty)
        clock.advance(by: .milliseconds(1))
        #expect(transport.drain().count == 1)
    }

    /// A final response ends retransmission; Timer K is T4 over UDP and zero over TCP.
    @Test func nonInviteTimerK() {
        let (stack, clock, transport) = SIPFixtures.stack()
        var finals = 0
        let options = SIPFixtures.request(.options, branch: stack.makeBranch())
        stack.sendRequest(options, to: peer) { if case .response = $0 { finals += 1 } }
        let ok = SIPFixtures.response(to: options, .ok).serialized()
        stack.receive(ok, from: peer)
        stack.receive(ok, from: peer)
        #expect(finals == 1)
        transport.sent.removeAll()
        clock.advance(by: .milliseconds(4999))
        #expect(stack.clientTransactionCount == 1 && transport.sent.isEmpty)
        clock.advance(by: .milliseconds(1))
        #expect(stack.clientTransactionCount == 0)
    }

    @Test func transportFailureReachesTheTU() {
        let (stack, _, transport) = SIPFixtures.stack()
        transport.failure = FakeTransportError()
        var events: [String] = []
        stack.sendRequest(SIPFixtures.request(.options, branch: stack.makeBranch()), to: peer) { events.append("\($0)") }
        #expect(events == ["transportFailure"])
        #expect(stack.clientTransactionCount == 0)
    }

    /// A response whose branch matches nothing is dropped; one with two Vias is not for us.
    @Test func strayResponsesAreDropped() {
        let (stack, _, _) = SIPFixtures.stack()
        var response = SIPFixtures.response(to: SIPFixtures.request(.options, branch: "z9hG4bKnobody"), .ok)
        stack.receive(response.serialized(), from: peer)
        response.via.append(response.via[0])
        stack.receive(response.serialized(), from: peer)
        #expect(stack.statistics.strayResponses == 2)
    }
}

/// A handler that keeps every transaction it is offered, for the server-side tests.
final class Recorder: SIPRequestHandler {
    var transactions: [ServerTransaction] = []
    var acks: [SIPRequest] = []
    var claim = true
    func handle(_ transaction: ServerTransaction) -> Bool {
        transactions.append(transaction)
        return claim
    }
    func handleAck(_ request: SIPRequest, from peer: SIPPeer) -> Bool {
        acks.append(request)
        return true
    }
}

@Suite struct ServerTransactionTimerTests {
    let peer = SIPPeer.udp(5070)

    func setUp() -> (SIPStack, ManualScheduler, FakeTransport, Recorder) {
        let (stack, clock, transport) = SIPFixtures.stack()
        let recorder = Recorder()
        stack.handlers = [recorder]
        return (stack, clock, transport, recorder)
    }

    /// An INVITE received and answered 200 OK: the set-up, the INVITE's bytes and its transaction.
    func answeredInvite() throws -> (SIPStack, ManualScheduler, FakeTransport, Recorder, [UInt8], ServerTransaction) {
        let (stack, clock, transport, recorder) = setUp()
        let invite = SIPFixtures.bytes(SIPFixtures.request(.invite))
        stack.receive(invite, from: peer)
        let tx = try #require(recorder.transactions.first)
        tx.respond(.ok)
        return (stack, clock, transport, recorder, invite, tx)
    }

    /// 100 Trying goes out at once; a retransmitted INVITE gets the latest provisional again and
    /// is not offered to the TU twice.
    @Test func inviteTryingAndRetransmission() throws {
        let (stack, _, transport, recorder) = setUp()
        let invite = SIPFixtures.bytes(SIPFixtures.request(.invite))
        stack.receive(invite, from: peer)
        #expect(transport.drain().map { $0.response?.status } == [.trying])
        stack.receive(invite, from: peer)
        #expect(transport.drain().map { $0.response?.status } == [.trying])
        let tx = try #require(recorder.transactions.first)
        tx.respond(.ringing)
        #expect(transport.drain().first?.response?.to.tag == tx.toTag)
        stack.receive(invite, from: peer)
        #expect(transport.drain().map { $0.response?.status } == [.ringing])
        #expect(recorder.transactions.count == 1)
        #expect(stack.statistics.retransmissionsAbsorbed == 2)
    }

    /// Timer G retransmits a 300-699 (T1 doubling to T2) until Timer H, which reports a timeout.
    @Test func inviteTimerGAndH() throws {
        let (stack, clock, transport, recorder) = setUp()
        stack.receive(SIPFixtures.bytes(SIPFixtures.request(.invite)), from: peer)
        let tx = try #require(recorder.transactions.first)
        var failures: [TransactionAction] = []
        tx.onFailure = { failures.append($0) }
        tx.respond(.busyHere)
        transport.sent.removeAll()
        let sent = probeRetransmissions(at: [500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500], clock, transport)
        #expect(sent.count == 10 && sent.allSatisfy { $0.response?.status == .busyHere })
        let elapsed: Duration = .milliseconds(31500)
        clock.advance(by: .milliseconds(32_000) - elapsed)
        #expect(failures == [.timedOut])
        #expect(stack.serverTransactionCount == 0)
    }

    /// The ACK of a 300-699 stops Timer G; later ACKs are absorbed until Timer I (T4).
    @Test func inviteAckConfirmsAndTimerI() throws {
        let (stack, clock, transport, recorder) = setUp()
        let invite = SIPFixtures.request(.invite)
        stack.receive(SIPFixtures.bytes(invite), from: peer)
        let tx = try #require(recorder.transactions.first)
        tx.respond(.busyHere)
        var ack = SIPFixtures.request(.ack, toTag: tx.toTag)
        ack.via = invite.via
        stack.receive(SIPFixtures.bytes(ack), from: peer)
        transport.sent.removeAll()
        clock.advance(by: .seconds(2))
        #expect(transport.sent.isEmpty)
        stack.receive(SIPFixtures.bytes(ack), from: peer)
        #expect(recorder.acks.isEmpty)
        clock.advance(by: .milliseconds(2999))
        #expect(stack.serverTransactionCount == 1)
        clock.advance(by: .milliseconds(1))
        #expect(stack.serverTransactionCount == 0)
    }

    /// A 2xx is retransmitted (T1 doubling to T2) until the dialog reports the ACK; Timer L ends the
    /// transaction and INVITE retransmissions meanwhile are absorbed silently.
    @Test func inviteSuccessRetransmittedUntilAck() throws {
        let (stack, clock, transport, _, invite, tx) = try answeredInvite()
        transport.sent.removeAll()
        clock.advance(by: .milliseconds(499))
        #expect(transport.drain().isEmpty)
        clock.advance(by: .milliseconds(1))
        #expect(transport.drain().map { $0.response?.status } == [.ok])
        clock.advance(by: .milliseconds(1000))
        #expect(transport.drain().count == 1)
        stack.receive(invite, from: peer)
        #expect(transport.drain().isEmpty)
        tx.receiveAck()
        clock.advance(by: .seconds(10))
        #expect(transport.drain().isEmpty)
        clock.advance(by: .milliseconds(32_000 - 11_500 - 1))
        #expect(stack.serverTransactionCount == 1)
        clock.advance(by: .milliseconds(1))
        #expect(stack.serverTransactionCount == 0)
    }

    /// Once the 2xx is ACKed only a record of the key stays: the transaction object leaves the
    /// stack, a retransmitted INVITE is absorbed with nothing sent and not offered to the TU, and
    /// Timer L still ends it 64*T1 after the 2xx, not after the ACK.
    @Test func ackedInviteLeavesOnlyARecordUntilTimerL() throws {
        let (stack, clock, transport, recorder, invite, tx) = try answeredInvite()
        clock.advance(by: .seconds(2))
        tx.receiveAck()
        _ = transport.drain()
        #expect(stack.serverTransactions.isEmpty)
        #expect(stack.serverTransactionCount == 1)
        stack.receive(invite, from: peer)
        #expect(transport.drain().isEmpty)
        #expect(recorder.transactions.count == 1)
        #expect(stack.statistics.retransmissionsAbsorbed == 1)
        tx.receiveAck()  // the dialog may report a retransmitted ACK: nothing happens
        clock.advance(by: .milliseconds(30_000 - 1))
        #expect(transport.drain().isEmpty)
        #expect(stack.serverTransactionCount == 1)
        clock.advance(by: .milliseconds(1))
        #expect(stack.serverTransactionCount == 0)
        #expect(clock.pendingCount == 0)
        // After Timer L the same branch is a new request.
        stack.receive(invite, from: peer)
        #expect(recorder.transactions.count == 2)
    }

    /// No ACK within 64*T1: the TU is told to end the dialog (§13.3.1.4).
    @Test func inviteSuccessWithoutAck() throws {
        let (stack, clock, transport, recorder) = setUp()
        stack.receive(SIPFixtures.bytes(SIPFixtures.request(.invite)), from: peer)
        let tx = try #require(recorder.transactions.first)
        var failures: [TransactionAction] = []
        tx.onFailure = { failures.append($0) }
        tx.respond(.ok)
        clock.advance(by: .seconds(32))
        #expect(failures == [.ackNotReceived])
        // 0.5, 1.5, 3.5, 7.5, 11.5 ... 31.5 s: ten retransmissions after the first sending.
        #expect(transport.sent.compactMap { $0.response }.filter { $0.status == .ok }.count == 11)
    }

    /// Non-INVITE: retransmissions are absorbed before any answer, get the provisional or final
    /// again after; Timer J (64*T1 over UDP, zero over TCP) ends it.
    @Test func nonInviteRetransmissionsAndTimerJ() throws {
        let (stack, clock, transport, recorder) = setUp()
        let options = SIPFixtures.bytes(SIPFixtures.request(.options))
        stack.receive(options, from: peer)
        stack.receive(options, from: peer)
        #expect(transport.drain().isEmpty)
        let tx = try #require(recorder.transactions.first)
        tx.respond(.trying)
        stack.receive(options, from: peer)
        #expect(transport.drain().map { $0.response?.status } == [.trying, .trying])
        tx.respond(.ok)
        stack.receive(options, from: peer)
        #expect(transport.drain().map { $0.response?.status } == [.ok, .ok])
        clock.advance(by: .milliseconds(31_999))
        #expect(stack.serverTransactionCount == 1)
        clock.advance(by: .milliseconds(1))
        #expect(stack.serverTransactionCount == 0)

        stack.receive(SIPFixtures.bytes(SIPFixtures.request(.options, branch: "z9hG4bKtcp", transport: "TCP")), from: .tcp(5070))
        try #require(recorder.transactions.last).respond(.ok)
        clock.advance(by: .zero)
        #expect(stack.serverTransactionCount == 0)
    }

    /// Once the final response is out over UDP only a compact record stays: it answers
    /// retransmissions with the same bytes, to the same place, staggered answers keep their own
    /// deadlines, and after Timer J the same request is new again.
    @Test func answeredRequestsKeepTheirResponseUntilTimerJ() throws {
        let (stack, clock, transport, recorder) = setUp()
        let first = SIPFixtures.bytes(SIPFixtures.request(.options, branch: "z9hG4bKfirst"))
        let second = SIPFixtures.bytes(SIPFixtures.request(.options, branch: "z9hG4bKsecond"))
        stack.receive(first, from: peer)
        try #require(recorder.transactions.last).respond(.ok)
        let original = try #require(transport.drain().first)
        clock.advance(by: .seconds(10))
        stack.receive(second, from: peer)
        try #require(recorder.transactions.last).respond(.busyHere)
        _ = transport.drain()
        #expect(stack.serverTransactionCount == 2)

        stack.receive(first, from: peer)
        let again = transport.drain()
        #expect(again.map(\.bytes) == [original.bytes])
        #expect(again.first?.peer == original.peer)
        #expect(recorder.transactions.count == 2)

        clock.advance(by: .milliseconds(21_999))
        #expect(stack.serverTransactionCount == 2)
        clock.advance(by: .milliseconds(1))
        #expect(stack.serverTransactionCount == 1)
        stack.receive(second, from: peer)
        #expect(transport.drain().map { $0.response?.status } == [.busyHere])
        // Past the first one's Timer J the same branch is a new request for the TU.
        stack.receive(first, from: peer)
        #expect(recorder.transactions.count == 3)
        clock.advance(by: .seconds(10))
        #expect(stack.serverTransactionCount == 1)  // the new one, not yet answered
        #expect(clock.pendingCount == 0)
    }

    /// A retransmitted answer that cannot be sent ends what was left of the transaction.
    @Test func answeredRequestDroppedWhenItsResponseCannotBeSent() throws {
        let (stack, clock, transport, recorder) = setUp()
        let options = SIPFixtures.bytes(SIPFixtures.request(.options))
        stack.receive(options, from: peer)
        try #require(recorder.transactions.last).respond(.ok)
        #expect(stack.serverTransactionCount == 1)
        transport.failure = FakeTransportError()
        stack.receive(options, from: peer)
        #expect(stack.serverTransactionCount == 0)
        transport.failure = nil
        clock.advance(by: .seconds(40))
        #expect(stack.serverTransactionCount == 0)
        #expect(clock.pendingCount == 0)
    }

    /// RFC 2543 peers (no magic cookie): retransmissions and the ACK of a non-2xx still match.
    @Test func rfc2543Matching() throws {
        let (stack, clock, transport, recorder) = setUp()
        let invite = SIPFixtures.request(.invite, branch: "oldstyle1")
        stack.receive(SIPFixtures.bytes(invite), from: peer)
        stack.receive(SIPFixtures.bytes(invite), from: peer)
        #expect(recorder.transactions.count == 1)
        let tx = try #require(recorder.transactions.first)
        tx.respond(.busyHere)
        var ack = SIPFixtures.request(.ack, branch: "oldstyle1", toTag: tx.toTag)
        ack.cseq = SIPCSeq(1, .ack)
        stack.receive(SIPFixtures.bytes(ack), from: peer)
        #expect(recorder.acks.isEmpty)
        transport.sent.removeAll()
        clock.advance(by: .seconds(4))
        #expect(transport.sent.isEmpty)
    }

    @Test func responsesFollowViaAndRport() throws {
        let (stack, _, transport, recorder) = setUp()
        // No rport: to the source address, at the Via port.
        stack.receive(SIPFixtures.bytes(SIPFixtures.request(.options, branch: "z9hG4bKa", viaHost: "192.0.2.9", viaPort: 5999)), from: .udp(40000))
        try #require(recorder.transactions.last).respond(.ok)
        let first = try #require(transport.drain().first)
        #expect(first.peer == .udp(5999))
        #expect(first.response?.via[0].received == "127.0.0.1")
        // rport: to the source port, written into the Via.
        stack.receive(SIPFixtures.bytes(SIPFixtures.request(.options, branch: "z9hG4bKb", rport: true)), from: .udp(40001))
        try #require(recorder.transactions.last).respond(.ok)
        let second = try #require(transport.drain().first)
        #expect(second.peer == .udp(40001))
        #expect(second.response?.via[0].rport.value == 40001)
    }
}
