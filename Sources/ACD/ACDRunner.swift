import Atomics
import Dispatch
import Foundation
import LockFree

/// The thread that owns the engine (docs/architecture.md, "Threads and the lock-free seams").
///
/// Any thread sends events through a lock-free inbox and goes on; the ACD thread applies them in
/// arrival order, fires timers, hands the resulting actions to `sink` in batches, and publishes a
/// fresh snapshot for operators through an atomic reference. A request that wants an answer (an
/// operator's command) gets it after the snapshot that includes its effect has been published, so
/// `agent ready` followed by `agents` shows the change.
public final class ACDRunner: @unchecked Sendable {
    // Unchecked: `engine` and the loop's locals are touched only by the ACD thread after `start`;
    // everything shared goes through the inbox, the wake-up and the atomic snapshot.
    /// The outcome, with the latest published snapshot (one that includes the event unless it was
    /// sent with `withSnapshot: false`).
    public typealias Reply = @Sendable (Result<ACDSnapshot, ACDError>) -> Void

    private enum Message {
        /// The flag says whether the reply must wait for a snapshot that includes the event.
        case event(ACDEvent, Reply?, Bool)
        case stop
    }

    /// 16,384 events: at the measured 210,000 events/s that is 78 ms of work, far more than any burst
    /// the signalling loops produce; a full inbox makes senders wait (counted), never drops.
    private let inbox = MPSCInbox<Message>(capacity: 16_384)
    private let wakeup = Wakeup()
    private let published = ManagedAtomic<ACDSnapshot>(.empty)
    private let handled = ManagedAtomic<Int>(0)
    private let refused = ManagedAtomic<Int>(0)
    private var engine: ACDEngine
    private let clock: @Sendable () -> ACDTime
    private let sink: @Sendable ([ACDAction], ACDTime) -> Void
    private let stopped = DispatchSemaphore(value: 0)
    private let started = ManagedAtomic<Bool>(false)
    /// Snapshots are rebuilt at most this often when only calls and timers changed things.
    public let publishIntervalMs: ACDTime

    /// `sink` runs on the ACD thread with each batch of actions and the engine time they happened
    /// at; it must not block (hand work to other threads).
    public init(
        engine: ACDEngine, publishIntervalMs: ACDTime = 100, clock: @escaping @Sendable () -> ACDTime = ACDRunner.monotonicMilliseconds,
        sink: @escaping @Sendable ([ACDAction], ACDTime) -> Void
    ) {
        self.engine = engine
        self.clock = clock
        self.sink = sink
        self.publishIntervalMs = publishIntervalMs
        published.store(engine.snapshot(now: clock()), ordering: .releasing)
    }

    public static let monotonicMilliseconds: @Sendable () -> ACDTime = { ACDTime(DispatchTime.now().uptimeNanoseconds / 1_000_000) }

    public func start() {
        guard !started.exchange(true, ordering: .relaxed) else { return }
        let thread = Thread { [self] in run() }
        thread.name = "acd"
        thread.start()
    }

    /// Stops after everything already sent has been applied.
    public func stop() {
        guard started.load(ordering: .relaxed) else { return }
        inbox.push(.stop)
        wakeup.notify()
        stopped.wait()
    }

    /// Fire and forget (calls and media loops): a refusal is counted, not answered. With a `reply`,
    /// the outcome is answered once the batch it came in is applied; `withSnapshot` makes the ACD
    /// publish a snapshot that includes it first. Operators need that (a command, then a listing),
    /// the call layer does not: it asks only whether an answer was accepted. Forcing a snapshot for
    /// each of those rebuilt every agent's entry once per call (2,000 agents at 500 calls/s: about
    /// 4 % of the daemon's samples in a `perf` profile of bench/full-path.sh), where operators are
    /// served by one at most every `publishIntervalMs`.
    public func send(_ event: ACDEvent, withSnapshot: Bool = true, reply: Reply? = nil) {
        inbox.push(.event(event, reply, withSnapshot))
        wakeup.notify()
    }

    /// Sends and waits for the outcome and the snapshot that includes it.
    public func request(_ event: ACDEvent) async -> Result<ACDSnapshot, ACDError> {
        await withCheckedContinuation { c in send(event) { c.resume(returning: $0) } }
    }

    /// The latest published state; never waits for routing.
    public var snapshot: ACDSnapshot { published.load(ordering: .acquiring) }

    /// Events applied and refused so far, and sends that found the inbox full and had to wait.
    public var counters: (handled: Int, refused: Int, inboxFullWaits: Int) {
        (handled.load(ordering: .relaxed), refused.load(ordering: .relaxed), inbox.fullWaits)
    }

    private func run() {
        var actions: [ACDAction] = []
        actions.reserveCapacity(1024)
        var replies: [(Reply, ACDError?)] = []
        var dirty = false
        var lastPublish = clock()
        var running = true
        while running {
            var now = clock()
            var urgent = false
            while let message = inbox.pop() {
                switch message {
                case .stop:
                    running = false
                case .event(let event, let reply, let withSnapshot):
                    now = clock()
                    var error: ACDError?
                    do {
                        try engine.handle(event, now: now, into: &actions)
                        handled.wrappingIncrement(ordering: .relaxed)
                    } catch let e {
                        error = e
                        refused.wrappingIncrement(ordering: .relaxed)
                    }
                    dirty = true
                    if let reply {
                        replies.append((reply, error))
                        if withSnapshot { urgent = true }
                    }
                    if actions.count >= 1024 {
                        sink(actions, now)
                        actions.removeAll(keepingCapacity: true)
                    }
                }
                if !running { break }
            }
            now = clock()
            if let deadline = engine.nextDeadline, deadline <= now {
                try? engine.handle(.tick, now: now, into: &actions)
                dirty = true
            }
            if !actions.isEmpty {
                sink(actions, now)
                actions.removeAll(keepingCapacity: true)
            }
            if dirty && (urgent || !running || now - lastPublish >= publishIntervalMs) {
                published.store(engine.snapshot(now: now), ordering: .releasing)
                lastPublish = now
                dirty = false
            }
            if !replies.isEmpty {
                let snap = snapshot
                for (reply, error) in replies { reply(error.map { .failure($0) } ?? .success(snap)) }
                replies.removeAll(keepingCapacity: true)
            }
            guard running else { break }
            var wakeAt = engine.nextDeadline ?? (now + 1000)
            if dirty { wakeAt = min(wakeAt, lastPublish + publishIntervalMs) }
            let wait = max(0, min(wakeAt - clock(), 1000))
            wakeup.wait(until: .now() + .milliseconds(Int(wait))) { inbox.isEmpty }
        }
        stopped.signal()
    }
}
