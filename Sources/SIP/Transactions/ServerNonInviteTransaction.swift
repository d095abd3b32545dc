public import SIPMessage

/// The non-INVITE server transaction (RFC 3261 §17.2.2).
///
/// ```
/// trying --1xx--> proceeding --200-699--> completed --Timer J--> terminated
///   +---------------200-699---------------^
/// ```
public struct ServerNonInviteTransaction: Sendable {
    public enum State: Sendable, Equatable {
        /// Request passed to the TU; retransmissions are absorbed silently.
        case trying
        /// A provisional was sent; retransmissions get it again.
        case proceeding
        /// A final response was sent; retransmissions get it again until Timer J.
        case completed
        case terminated
    }

    public private(set) var state: State = .trying
    public let method: SIPMethod
    public let reliable: Bool
    let timers: SIPTimerValues

    public init(request: SIPRequest, reliable: Bool, timers: SIPTimerValues) {
        precondition(request.method != .invite && request.method != .ack, "INVITE and ACK have no non-INVITE transaction")
        self.method = request.method
        self.reliable = reliable
        self.timers = timers
    }

    /// In Proceeding and Completed a response was sent: it goes again.
    public mutating func receiveRetransmission() -> [TransactionAction] {
        switch state {
        case .proceeding, .completed:
            return [.resend]
        default:
            return []
        }
    }

    public mutating func respond(_ response: SIPResponse) -> [TransactionAction] {
        switch (state, response.status.isFinal) {
        case (.trying, false), (.proceeding, false):
            state = .proceeding
            return [.send(.response(response))]
        case (.trying, true), (.proceeding, true):
            state = .completed
            return [.send(.response(response)), .startTimer(.j, reliable ? .zero : timers.transactionTimeout)]
        default:
            return []
        }
    }

    public mutating func timerFired(_ timer: TransactionTimer) -> [TransactionAction] {
        guard state == .completed, timer == .j else { return [] }
        state = .terminated
        return [.terminated]
    }

    public mutating func transportFailed() -> [TransactionAction] {
        guard state != .terminated else { return [] }
        state = .terminated
        return [.transportFailed, .terminated]
    }

    public var hasFinalResponse: Bool { state == .completed || state == .terminated }
}
