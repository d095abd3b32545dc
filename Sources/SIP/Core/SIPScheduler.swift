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
///
/// Design note: delays of a second or more (Timers J, L, H, D, M, session and registration timers)
/// go on a timing wheel of 50 ms slots turned by one repeating task, not one NIO task each. Under
/// churn tens of thousands of finished transactions wait out such timers at once, and an NIO
/// scheduled task with its promise cost about 780 bytes each (bench/README.md, "Memory of a
/// lingering transaction"); a wheel entry is a small object. Such a timer fires within 50 ms after
/// its deadline, never before. Shorter delays (retransmissions from 500 ms) stay exact on NIO.
public final class EventLoopScheduler: SIPScheduler {
    private let loop: any EventLoop
    private let origin = NIODeadline.now()

    /// One pending wheel timer; `work` is cleared by a cancel.
    private final class WheelEntry {
        var work: (() -> Void)?
        let due: Int64
        init(work: @escaping () -> Void, due: Int64) {
            self.work = work
            self.due = due
        }
    }

    static let slot: Int64 = 50_000_000
    static let slots = 1024
    static let wheelThreshold: Int64 = 1_000_000_000
    private var wheel = [[WheelEntry]](repeating: [], count: EventLoopScheduler.slots)
    private var wheelCount = 0
    /// The last slot whose timers were run.
    private var turned: Int64 = 0
    private var turning: Scheduled<Void>?

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
        if nanos >= Self.wheelThreshold { return scheduleOnWheel(nanos: nanos, work) }
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

    private var currentSlot: Int64 { (NIODeadline.now() - origin).nanoseconds / Self.slot }

    private func scheduleOnWheel(nanos: Int64, _ work: @escaping () -> Void) -> SIPTimerToken {
        let elapsed = (NIODeadline.now() - origin).nanoseconds
        // The first slot that starts at or after the deadline: never early.
        let due = (elapsed + nanos + Self.slot - 1) / Self.slot
        if wheelCount == 0 { turned = elapsed / Self.slot }
        let entry = WheelEntry(work: work, due: due)
        wheel[Int(due % Int64(Self.slots))].append(entry)
        wheelCount += 1
        if turning == nil { armTurn() }
        return SIPTimerToken(cancel: { [weak entry] in entry?.work = nil })
    }

    private func armTurn() {
        turning = loop.assumeIsolated().scheduleTask(in: .nanoseconds(Self.slot)) { [weak self] in
            guard let self else { return }
            self.turning = nil
            self.turn()
        }
    }

    /// Runs the timers of every slot passed since the last turn (a late turn catches up).
    private func turn() {
        let target = currentSlot
        while turned < target {
            turned += 1
            let index = Int(turned % Int64(Self.slots))
            guard !wheel[index].isEmpty else { continue }
            var due: [WheelEntry] = []
            wheel[index].removeAll { entry in
                if entry.work == nil {
                    wheelCount -= 1
                    return true
                }
                guard entry.due <= turned else { return false }  // a later round of the wheel
                due.append(entry)
                wheelCount -= 1
                return true
            }
            for entry in due {
                let work = entry.work
                entry.work = nil
                work?()
            }
        }
        if wheelCount > 0 && turning == nil { armTurn() }
    }
}

#if canImport(Glibc)
import Glibc
#endif
