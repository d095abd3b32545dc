public import SIPMessage

/// The INVITE client transaction (RFC 3261 §17.1.1, with RFC 6026's Accepted state).
///
/// ```
/// calling --1xx--> proceeding --2xx--> accepted --Timer M--> terminated
///    |                 |
///    +--300-699--------+--> completed (ACK sent) --Timer D--> terminated
/// ```
public struct ClientInviteTransaction: Sendable {
    public enum State: Sendable, Equatable {
        /// INVITE sent; retransmitted on Timer A over UDP; Timer B bounds the wait.
        case calling
        /// A provisional response arrived; no more retransmissions.
        case proceeding
        /// A 300-699 arrived and was ACKed; retransmissions of it are ACKed again until Timer D.
        case completed
        /// A 2xx arrived; further 2xx are passed up (the TU ACKs them) until Timer M.
        case accepted
        case terminated
    }

    public private(set) var state: State = .calling
    public private(set) var request: SIPRequest
    public let reliable: Bool
    let timers: SIPTimerValues
    private var timerAInterval: Duration
    private var ack: SIPRequest?

    public init(request: SIPRequest, reliable: Bool, timers: SIPTimerValues) {
        precondition(request.method == .invite, "ClientInviteTransaction carries INVITE only")
        self.request = request
        self.reliable = reliable
        self.timers = timers
        self.timerAInterval = timers.t1
    }

    public mutating func start() -> [TransactionAction] {
        var actions: [TransactionAction] = [.send(.request(request))]
        if !reliable { actions.append(.startTimer(.a, timerAInterval)) }
        actions.append(.startTimer(.b, timers.transactionTimeout))
        return actions
    }

    public mutating func receive(_ response: SIPResponse) -> [TransactionAction] {
        switch (state, response.status.rawValue) {
        case (.calling, 100..<200):
            state = .proceeding
            return [.cancelTimer(.a), .cancelTimer(.b), .deliver(response)]
        case (.proceeding, 100..<200):
            return [.deliver(response)]
        case (.calling, 200..<300), (.proceeding, 200..<300):
            state = .accepted
            return [.cancelTimer(.a), .cancelTimer(.b), .deliver(response), .startTimer(.m, timers.transactionTimeout)]
        case (.accepted, 200..<300):
            return [.deliver(response)]
        case (.calling, 300...), (.proceeding, 300...):
            state = .completed
            let ack = Self.ack(for: request, response: response)
            self.ack = ack
            return [
                .cancelTimer(.a), .cancelTimer(.b), .send(.request(ack)), .deliver(response),
                .startTimer(.d, reliable ? .zero : timers.timerD),
            ]
        case (.completed, 300...):
            // A retransmitted final response: ACK again, do not tell the TU twice.
            return ack.map { [.send(.request($0))] } ?? []
        default:
            // Provisional after final, or anything once terminated: absorbed.
            return []
        }
    }

    public mutating func timerFired(_ timer: TransactionTimer) -> [TransactionAction] {
        switch (state, timer) {
        case (.calling, .a):
            timerAInterval = timerAInterval * 2
            return [.send(.request(request)), .startTimer(.a, timerAInterval)]
        case (.calling, .b):
            state = .terminated
            return [.timedOut, .terminated]
        case (.completed, .d), (.accepted, .m):
            state = .terminated
            return [.terminated]
        default:
            return []
        }
    }

    /// The transaction user gives up on an INVITE still waiting for its final response: 64*T1
    /// after its CANCEL brought no final response (RFC 3261 §9.1), the transaction is destroyed.
    /// In Proceeding no timer of the transaction's own would ever end it.
    public mutating func abandon() -> [TransactionAction] {
        guard state == .calling || state == .proceeding else { return [] }
        state = .terminated
        return [.cancelTimer(.a), .cancelTimer(.b), .terminated]
    }

    public mutating func transportFailed() -> [TransactionAction] {
        guard state != .terminated else { return [] }
        state = .terminated
        return [.transportFailed, .terminated]
    }

    /// The ACK for a non-2xx final response (§17.1.1.3): same Request-URI, Call-ID, From, CSeq
    /// number and top Via as the INVITE, To from the response, and the INVITE's Route headers.
    public static func ack(for invite: SIPRequest, response: SIPResponse) -> SIPRequest {
        var headers = SIPHeaders()
        for field in invite.headers where field.name == .route { headers.add(.route, field.value) }
        return SIPRequest(
            method: .ack, uri: invite.uri, via: Array(invite.via.prefix(1)), from: invite.from, to: response.to,
            callID: invite.callID, cseq: SIPCSeq(invite.cseq.sequence, .ack), maxForwards: 70, headers: headers)
    }

    /// After a final response only the essentials of the request are kept (no more retransmissions
    /// of it; an ACK, if any, is already made).
    public mutating func shed() { request = request.essentials }
}
