import Atomics
public import Dispatch

/// Lets the single consumer of an `MPSCInbox` sleep when the inbox is empty and be woken by the
/// next producer, without producers taking a lock or making a system call while the consumer is
/// awake.
///
/// The handshake is Dekker's: the consumer sets `sleeping`, issues a sequentially consistent fence,
/// and checks the inbox once more before waiting; a producer pushes, issues the same fence, and reads
/// `sleeping`. The two fences forbid both sides reading the old value, so either the consumer's
/// re-check sees the push or the producer sees the flag. Whoever turns the flag off with the
/// exchange signals, so a wake-up may be spurious (a leftover signal) but is never lost.
public final class Wakeup: Sendable {
    private let sleeping = ManagedAtomic<Bool>(false)
    private let semaphore = DispatchSemaphore(value: 0)

    public init() {}

    /// Producer side: call after every push.
    @inline(__always)
    public func notify() {
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        if sleeping.load(ordering: .relaxed), sleeping.exchange(false, ordering: .relaxed) {
            semaphore.signal()
        }
    }

    /// Consumer side: sleeps until notified or until `deadline`, unless `stillEmpty` (checked after
    /// announcing the sleep) says there is work. Returns false only when the deadline passed.
    @discardableResult
    public func wait(until deadline: DispatchTime, stillEmpty: () -> Bool) -> Bool {
        sleeping.store(true, ordering: .relaxed)
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        var woken = true
        if stillEmpty() {
            woken = semaphore.wait(timeout: deadline) == .success
        }
        sleeping.store(false, ordering: .relaxed)
        return woken
    }
}
