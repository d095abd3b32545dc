public import SIPMessage

/// The INVITE server transaction (RFC 3261 §17.2.1 with RFC 6026).
///
/// ```
/// proceeding --2xx--> accepted --Timer L--> terminated
///     |
///     +--300-699--> completed --ACK--> confirmed --Timer I--> terminated
///                      +--Timer H (no ACK)--> terminated
/// ```
///
/// Design note: RFC 3261 §13.3.1.4 gives 2xx retransmission to the UAS core, and RFC 6026 keeps the
/// transaction alive in Accepted for 64*T1 so that INVITE retransmissions are absorbed. Both live
/// here, so one tested machine owns every timer of an answered INVITE: `retransmit2xx` resends the
/// 2xx (T1 doubling to T2) until the dialog layer reports the ACK; if Timer L fires first, the TU is
/// told to end the dialog (`ackNotReceived`).
public struct ServerInviteTransaction: Sendable {
    public enum State: Sendable, Equatable {
        /// INVITE received, 100 Trying sent; the TU may send provisionals.
        case proceeding
        /// A 300-699 was sent; Timer G retransmits it over UDP until the ACK or Timer H.
        case completed
        /// The ACK for the 300-699 arrived; late ACKs are absorbed until Timer I.
        case confirmed
        /// A 2xx was sent; retransmitted until the ACK; INVITE retransmissions absorbed until Timer L.
        case accepted
        case terminated
    }

    public private(set) var state: State = .proceeding
    public let reliable: Bool
    let timers: SIPTimerValues
    /// Kept only until the 100 Trying is made from it.
    private var request: SIPRequest?
    /// Something was sent, which a retransmission or Timer G sends again.
    private var sent = false
    private var retransmitInterval: Duration
    private var ackReceived = false
    /// In Accepted with the 2xx ACKed: nothing is left to send, only INVITE retransmissions to
    /// absorb until Timer L.
    var onlyAbsorbs: Bool { state == .accepted && ackReceived }

    public init(request: SIPRequest, reliable: Bool, timers: SIPTimerValues) {
        precondition(request.method == .invite, "ServerInviteTransaction carries INVITE only")
        self.request = request
        self.reliable = reliable
        self.timers = timers
        self.retransmitInterval = timers.t1
    }

    /// The transaction answers 100 Trying at once (§17.2.1 allows it and it stops the caller's
    /// retransmissions while the TU decides).
    public mutating func start() -> [TransactionAction] {
        guard let request else { return [] }
        self.request = nil
        sent = true
        return [.send(.response(request.response(.trying)))]
    }

    /// A retransmission of the INVITE.
    public mutating func receiveRetransmission() -> [TransactionAction] {
        switch state {
        case .proceeding, .completed:
            return sent ? [.resend] : []
        default:
            return []
        }
    }

    /// The TU sends a response through the transaction.
    public mutating func respond(_ response: SIPResponse) -> [TransactionAction] {
        switch (state, response.status.rawValue) {
        case (.proceeding, 100..<200):
            sent = true
            request = nil
            return [.send(.response(response))]
        case (.proceeding, 200..<300):
            state = .accepted
            sent = true
            request = nil
            return [
                .send(.response(response)), .startTimer(.retransmit2xx, retransmitInterval),
                .startTimer(.l, timers.transactionTimeout),
            ]
        case (.accepted, 200..<300):
            return [.send(.response(response))]
        case (.proceeding, 300...):
            state = .completed
            sent = true
            request = nil
            var actions: [TransactionAction] = [.send(.response(response))]
            if !reliable { actions.append(.startTimer(.g, retransmitInterval)) }
            actions.append(.startTimer(.h, timers.transactionTimeout))
            return actions
        default:
            // A second final response is a TU bug; the transaction keeps what it sent.
            return []
        }
    }

    /// An ACK matched to this transaction: for a non-2xx (§17.2.1), or, in Accepted, the dialog
    /// layer's report that the 2xx was ACKed.
    public mutating func receiveAck() -> [TransactionAction] {
        switch state {
        case .completed:
            state = .confirmed
            return [.cancelTimer(.g), .cancelTimer(.h), .startTimer(.i, reliable ? .zero : timers.t4)]
        case .accepted:
            guard !ackReceived else { return [] }
            ackReceived = true
            return [.cancelTimer(.retransmit2xx)]
        default:
            return []
        }
    }

    public mutating func timerFired(_ timer: TransactionTimer) -> [TransactionAction] {
        switch (state, timer) {
        case (.completed, .g), (.accepted, .retransmit2xx):
            guard sent, !(state == .accepted && ackReceived) else { return [] }
            retransmitInterval = min(retransmitInterval * 2, timers.t2)
            return [.resend, .startTimer(timer, retransmitInterval)]
        case (.completed, .h):
            state = .terminated
            return [.cancelTimer(.g), .timedOut, .terminated]
        case (.confirmed, .i):
            state = .terminated
            return [.terminated]
        case (.accepted, .l):
            state = .terminated
            return ackReceived ? [.terminated] : [.cancelTimer(.retransmit2xx), .ackNotReceived, .terminated]
        default:
            return []
        }
    }

    public mutating func transportFailed() -> [TransactionAction] {
        guard state != .terminated else { return [] }
        state = .terminated
        return [.transportFailed, .terminated]
    }

    /// The final response sent, if any (CANCEL handling needs to know).
    public var hasFinalResponse: Bool { state != .proceeding }
}
