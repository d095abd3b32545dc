public import SIPMessage

/// The RFC 3261 timer values a transaction derives its timers from (§17.1.1.1, Table 4).
public struct SIPTimerValues: Sendable, Hashable {
    /// RTT estimate, 500 ms by default.
    public var t1: Duration
    /// Longest retransmit interval for non-INVITE requests and INVITE responses, 4 s by default.
    public var t2: Duration
    /// Longest time a message stays in the network, 5 s by default.
    public var t4: Duration

    public init(t1: Duration = .milliseconds(500), t2: Duration = .seconds(4), t4: Duration = .seconds(5)) {
        self.t1 = t1
        self.t2 = t2
        self.t4 = t4
    }

    /// 64*T1: timers B, F, H, J, L and M.
    public var transactionTimeout: Duration { t1 * 64 }
    /// Timer D: at least 32 s over unreliable transports (§17.1.1.2).
    public var timerD: Duration { max(.seconds(32), t1 * 64 / 2) }
}

/// The timers of RFC 3261 §17 (A–K) and RFC 6026 (L, M). `retransmit2xx` is the UAS core's 2xx
/// retransmission of §13.3.1.4, kept in the server INVITE transaction's Accepted state (see
/// ServerInviteTransaction.swift for why).
public enum TransactionTimer: Sendable, Hashable, CaseIterable {
    case a, b, d, e, f, g, h, i, j, k, l, m
    case retransmit2xx
}

/// What a transaction asks its shell to do. The shell performs actions in order.
public enum TransactionAction: Sendable, Equatable {
    /// Hand a message to the transport (first sending or retransmission).
    case send(SIPMessage)
    /// Send the last response again, as it was sent (server transactions keep its bytes, not the
    /// parsed message).
    case resend
    case startTimer(TransactionTimer, Duration)
    case cancelTimer(TransactionTimer)
    /// A response for the transaction user (client transactions).
    case deliver(SIPResponse)
    /// Timer B, F or H fired: the TU learns the transaction failed (treated as 408, §8.1.3.1).
    case timedOut
    /// The transport could not send (§17.1.4): the TU learns as for a 503.
    case transportFailed
    /// No ACK arrived for a 2xx within 64*T1 (§13.3.1.4): the TU should end the dialog with BYE.
    case ackNotReceived
    /// The transaction is over; the shell forgets it and cancels whatever timers remain.
    case terminated
}
