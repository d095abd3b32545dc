public import SIPMessage

/// The non-INVITE client transaction (RFC 3261 §17.1.2).
///
/// ```
/// trying --1xx--> proceeding --200-699--> completed --Timer K--> terminated
///   +------------------200-699-----------^
/// ```
public struct ClientNonInviteTransaction: Sendable {
    public enum State: Sendable, Equatable {
        /// Request sent; Timer E retransmits (doubling up to T2) over UDP, Timer F bounds the wait.
        case trying
        /// A provisional arrived; retransmissions continue every T2.
        case proceeding
        /// A final response arrived; its retransmissions are absorbed until Timer K.
        case completed
        case terminated
    }

    public private(set) var state: State = .trying
    public private(set) var request: SIPRequest
    public let reliable: Bool
    let timers: SIPTimerValues
    private var timerEInterval: Duration

    public init(request: SIPRequest, reliable: Bool, timers: SIPTimerValues) {
        precondition(request.method != .invite && request.method != .ack, "INVITE and ACK have no non-INVITE transaction")
        self.request = request
        self.reliable = reliable
        self.timers = timers
        self.timerEInterval = timers.t1
    }

    public mutating func start() -> [TransactionAction] {
        var actions: [TransactionAction] = [.send(.request(request))]
        if !reliable { actions.append(.startTimer(.e, timerEInterval)) }
        actions.append(.startTimer(.f, timers.transactionTimeout))
        return actions
    }

    public mutating func receive(_ response: SIPResponse) -> [TransactionAction] {
        switch (state, response.status.isFinal) {
        case (.trying, false):
            state = .proceeding
            return [.deliver(response)]
        case (.proceeding, false):
            return [.deliver(response)]
        case (.trying, true), (.proceeding, true):
            state = .completed
            return [.cancelTimer(.e), .cancelTimer(.f), .deliver(response), .startTimer(.k, reliable ? .zero : timers.t4)]
        default:
            return []
        }
    }

    public mutating func timerFired(_ timer: TransactionTimer) -> [TransactionAction] {
        switch (state, timer) {
        case (.trying, .e):
            timerEInterval = min(timerEInterval * 2, timers.t2)
            return [.send(.request(request)), .startTimer(.e, timerEInterval)]
        case (.proceeding, .e):
            // In Proceeding the interval is T2 (§17.1.2.2).
            timerEInterval = timers.t2
            return [.send(.request(request)), .startTimer(.e, timerEInterval)]
        case (.trying, .f), (.proceeding, .f):
            state = .terminated
            return [.cancelTimer(.e), .timedOut, .terminated]
        case (.completed, .k):
            state = .terminated
            return [.terminated]
        default:
            return []
        }
    }

    public mutating func transportFailed() -> [TransactionAction] {
        guard state != .terminated else { return [] }
        state = .terminated
        return [.transportFailed, .terminated]
    }

    /// After a final response only the essentials of the request are kept (no more retransmissions
    /// of it; an ACK, if any, is already made).
    public mutating func shed() { request = request.essentials }
}
