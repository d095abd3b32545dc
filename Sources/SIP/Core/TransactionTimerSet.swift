/// The running timers of one transaction shell: at most one of each kind; starting one replaces it.
struct TransactionTimerSet {
    private var tokens: [TransactionTimer: SIPTimerToken] = [:]

    mutating func start(_ timer: TransactionTimer, after delay: Duration, on scheduler: any SIPScheduler, fire: @escaping () -> Void) {
        tokens[timer]?.cancel()
        tokens[timer] = scheduler.schedule(after: delay, fire)
    }

    mutating func cancel(_ timer: TransactionTimer) { tokens.removeValue(forKey: timer)?.cancel() }

    /// A timer that fired is no longer running.
    mutating func fired(_ timer: TransactionTimer) { tokens[timer] = nil }

    mutating func cancelAll() {
        for token in tokens.values { token.cancel() }
        tokens.removeAll()
    }
}
