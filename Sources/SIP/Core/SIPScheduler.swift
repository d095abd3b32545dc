public import NIOCore

/// Where the SIP stack gets its time and timers. The stack runs on one event loop; in tests a manual
/// clock stands in so that every timer edge can be probed without sleeping.
public protocol SIPScheduler: AnyObject {
    /// Monotonic time since an arbitrary origin.
    var now: Duration { get }
    /// Wall-clock seconds since 1970, for things that outlive the process (registration expiry).
    var wallClock: Double { get }
    /// Runs `work` on the stack's thread after `delay`.
    func schedule(after delay: Duration, _ work: @escaping () -> Void) -> SIPTimerToken
}

/// A scheduled piece of work that can be cancelled; cancelling twice or after it ran does nothing.
public final class SIPTimerToken {
    private var cancelAction: (() -> Void)?

    public init(cancel: @escaping () -> Void) { self.cancelAction = cancel }

    public func cancel() {
        cancelAction?()
        cancelAction = nil
    }

    /// Called by schedulers when the work ran, so a later cancel is a no-op.
    public func markFired() { cancelAction = nil }
}

/// The production scheduler: the stack's own event loop. Not Sendable on purpose; it is created and
/// used on that loop only.
public final class EventLoopScheduler: SIPScheduler {
    private let loop: any EventLoop
    private let origin = NIODeadline.now()

    public init(loop: any EventLoop) { self.loop = loop }

    public var now: Duration { .nanoseconds((NIODeadline.now() - origin).nanoseconds) }

    public var wallClock: Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    public func schedule(after delay: Duration, _ work: @escaping () -> Void) -> SIPTimerToken {
        let (seconds, attoseconds) = delay.components
        let nanos = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        let token = SIPTimerToken(cancel: {})
        let scheduled = loop.assumeIsolated().scheduleTask(in: .nanoseconds(max(0, nanos))) {
            token.markFired()
            work()
        }
        let cancelToken = SIPTimerToken(cancel: { scheduled.cancel() })
        return SIPTimerToken(cancel: {
            cancelToken.cancel()
            token.markFired()
        })
    }
}

#if canImport(Glibc)
import Glibc
#endif
