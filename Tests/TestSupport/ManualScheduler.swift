public import SIP

/// A clock that moves only when a test says so (after Hummingbird's MockClock). Work scheduled for
/// the same instant runs in the order it was scheduled.
public final class ManualScheduler: SIPScheduler {
    private struct Entry {
        let due: Duration
        let order: Int
        let work: () -> Void
        let token: SIPTimerToken
    }

    public private(set) var now: Duration = .zero
    public var wallClockOrigin: Double = 1_800_000_000
    private var entries: [Int: Entry] = [:]
    private var counter = 0

    public init() {}

    public var wallClock: Double {
        let (s, atto) = now.components
        return wallClockOrigin + Double(s) + Double(atto) / 1e18
    }

    public func schedule(after delay: Duration, _ work: @escaping () -> Void) -> SIPTimerToken {
        counter += 1
        let id = counter
        let token = SIPTimerToken(cancel: { [weak self] in self?.entries[id] = nil })
        entries[id] = Entry(due: now + max(delay, .zero), order: id, work: work, token: token)
        return token
    }

    /// How many timers are pending.
    public var pendingCount: Int { entries.count }

    /// Moves the clock forward, running every piece of work that falls due on the way, in order.
    public func advance(by delta: Duration) {
        let target = now + delta
        while let next = entries.values.filter({ $0.due <= target }).min(by: { ($0.due, $0.order) < ($1.due, $1.order) }) {
            entries[next.order] = nil
            now = next.due
            next.token.markFired()
            next.work()
        }
        now = target
    }
}
