public import Atomics

#if canImport(Glibc)
import Glibc
#endif

/// A bounded multi-producer single-consumer queue: any thread may push, exactly one thread (the
/// owner, e.g. the ACD engine's thread) may pop. It is built on Dmitry Vyukov's bounded array
/// queue, cut down to one consumer: every slot carries a sequence number that says whose turn it
/// is. A push claims a position with one fetch-and-add on the shared tail and fills the slot; a
/// pop touches no shared index at all; nothing is allocated after `init`.
///
/// Why bounded and preallocated: the first version allocated a node per push, and the malloc plus
/// the free on the other thread made it slower than a mutex around a deque (bench/README.md). A
/// full inbox means the consumer has fallen `capacity` events behind. `tryPush` then says so and
/// leaves the inbox as it was. `push` instead waits for its slot, yielding the processor, and
/// counts every push that had to wait (`fullWaits`) so the owner can report it. Nothing is dropped.
///
/// Why `push` claims with fetch-and-add and `tryPush` with compare-and-swap: a fetch-and-add never
/// fails, so producers never retry against each other. But it claims even a slot that is still
/// full, so only a push that is willing to wait may use it, and it looks for room first (see
/// `push`). The three ways are compared in bench/results/2026-11-23-inbox-claim-ab.txt.
///
/// Memory orderings, argued:
/// - Slot `i` of lap `k` (position `p = k * capacity + i`) holds sequence `p` while free for that
///   position, `p + 1` once filled, and `p + capacity` once read (free for the next lap).
/// - The claim (fetch-and-add, or compare-and-swap from `p` to `p + 1`) is *relaxed*. The slot's
///   contents are ordered by the slot's sequence, not by `tail`. The read-modify-write is atomic,
///   so each position goes to exactly one producer, and only that producer touches the slot.
/// - Before writing, a producer *acquires* the slot's sequence and needs to read `p`. That load
///   synchronises with the consumer's *releasing* store of `p` (made after the consumer moved the
///   old element out), so the write cannot overlap the consumer's read of the previous lap.
/// - The producer writes the element, then *releases* `p + 1` into the slot's sequence. The
///   consumer *acquires* it before moving the element out, so it sees the element whole.
/// - The consumer's `head` is private. Producers learn how far it got only through the slots'
///   sequences, which is what the full test (`sequence < p`) reads.
/// - A producer that claimed a slot but has not yet published it makes the consumer see "empty"
///   even if later slots are filled. That is correct for a queue: that push has not completed, and
///   later ones must wait for it to keep FIFO order. It is also why a sleeping consumer is woken
///   only after `push` returns (see `Wakeup`).
/// - Per-producer order: one producer's claims are at increasing positions, and the consumer reads
///   positions in order.
/// - `tail` and the consumer's state sit on separate 128-byte lines so that producers' claims do
///   not evict what the consumer reads on every pop (128 covers adjacent-line prefetch on x86).
public final class MPSCInbox<Element>: @unchecked Sendable {
    // Unchecked: the single-consumer rule is the contract that makes it safe; `Element` must be safe
    // to hand from one thread to another (callers send Sendable values).
    // The hot paths are @inlinable so that callers in other modules get them specialised for their
    // element type (unspecialised generic code copies elements through witness tables).
    public let capacity: Int
    @usableFromInline let mask: Int
    /// Slot `i` lives at `slots + i * stride`: its sequence number, then its element, padded to
    /// whole 64-byte lines. Keeping a slot's two words on one line, and no two slots on a line,
    /// means a push and the pop that follows move one cache line between cores, and a producer
    /// filling slot i+1 does not steal the line the consumer is reading slot i from. Measured with 1
    /// producer: 28 million items/s with the two in packed separate arrays, 48 million with one line
    /// per slot (bench/README.md).
    @usableFromInline let slots: UnsafeMutableRawPointer
    @usableFromInline let stride: Int
    @usableFromInline let elementOffset: Int
    private let shared: UnsafeMutableRawPointer
    @usableFromInline let tail: UnsafeAtomic<Int>
    @usableFromInline let waits: UnsafeAtomic<Int>
    /// Consumer-private: the next position to read.
    @usableFromInline var head = 0

    /// `capacity` is rounded up to a power of two (at least 2).
    public init(capacity: Int) {
        precondition(capacity > 0, "an inbox needs at least one slot")
        var size = 2
        while size < capacity { size <<= 1 }
        self.capacity = size
        mask = size - 1
        let sequenceSize = MemoryLayout<UnsafeAtomic<Int>.Storage>.stride
        let alignment = max(MemoryLayout<Element>.alignment, MemoryLayout<UnsafeAtomic<Int>.Storage>.alignment)
        elementOffset = (sequenceSize + alignment - 1) / alignment * alignment
        stride = (elementOffset + MemoryLayout<Element>.size + 63) / 64 * 64
        slots = .allocate(byteCount: size * stride, alignment: max(64, alignment))
        for i in 0..<size {
            (slots + i * stride).initializeMemory(as: UnsafeAtomic<Int>.Storage.self, to: .init(i))
        }
        shared = .allocate(byteCount: 256, alignment: 128)
        let tailStorage = shared.bindMemory(to: UnsafeAtomic<Int>.Storage.self, capacity: 1)
        tailStorage.initialize(to: .init(0))
        tail = UnsafeAtomic(at: tailStorage)
        let waitStorage = (shared + 128).bindMemory(to: UnsafeAtomic<Int>.Storage.self, capacity: 1)
        waitStorage.initialize(to: .init(0))
        waits = UnsafeAtomic(at: waitStorage)
    }

    deinit {
        while pop() != nil {}
        for i in 0..<capacity {
            _ = (slots + i * stride).assumingMemoryBound(to: UnsafeAtomic<Int>.Storage.self).pointee.dispose()
        }
        slots.deallocate()
        shared.deallocate()
    }

    @inlinable @inline(__always)
    func sequence(_ index: Int) -> UnsafeAtomic<Int> {
        UnsafeAtomic(at: (slots + index &* stride).assumingMemoryBound(to: UnsafeAtomic<Int>.Storage.self))
    }

    @inlinable @inline(__always)
    func slotElement(_ index: Int) -> UnsafeMutableRawPointer { slots + index &* stride + elementOffset }

    /// Appends from any thread unless the inbox is full. Lock-free: a producer retries only when
    /// another producer won the same slot, which means the queue as a whole made progress.
    @inlinable @inline(__always)
    public func tryPush(_ element: Element) -> Bool {
        var position = tail.load(ordering: .relaxed)
        while true {
            let index = position & mask
            let seq = sequence(index).load(ordering: .acquiring)
            let lap = seq - position
            if lap == 0 {
                let (won, seen) = tail.weakCompareExchange(expected: position, desired: position + 1, ordering: .relaxed)
                if won {
                    slotElement(index).initializeMemory(as: Element.self, to: element)
                    sequence(index).store(position + 1, ordering: .releasing)
                    return true
                }
                position = seen
            } else if lap < 0 {
                // The slot still holds the previous lap's element: the consumer is `capacity` behind.
                return false
            } else {
                // Another producer took this position; start again from the current tail.
                position = tail.load(ordering: .relaxed)
            }
        }
    }

    /// Appends from any thread. Wait-free while there is room (one fetch-and-add, two stores); when
    /// the claimed slot is still full it yields the processor until the consumer empties it, and
    /// counts the wait in `fullWaits`.
    @inlinable
    public func push(_ element: Element) {
        // Claim only when the slot at the tail looks free. A producer that claimed a full slot
        // would hold its position while it waits, and the consumer would then wait for that one
        // producer to be scheduled again (measured: a convoy at 4.6 million items/s instead of 80).
        let tip = tail.load(ordering: .relaxed)
        if sequence(tip & mask).load(ordering: .relaxed) &- tip < 0 { waitForRoom() }
        let position = tail.loadThenWrappingIncrement(ordering: .relaxed)
        let index = position & mask
        // Usually free; full only when other producers filled the inbox since the look above.
        if sequence(index).load(ordering: .acquiring) != position { waitForSlot(position) }
        slotElement(index).initializeMemory(as: Element.self, to: element)
        sequence(index).store(position + 1, ordering: .releasing)
    }

    @usableFromInline
    func waitForSlot(_ position: Int) {
        while sequence(position & mask).load(ordering: .acquiring) != position { sched_yield() }
    }

    @usableFromInline
    func waitForRoom() {
        waits.wrappingIncrement(ordering: .relaxed)
        while true {
            sched_yield()
            let tip = tail.load(ordering: .relaxed)
            if sequence(tip & mask).load(ordering: .relaxed) &- tip >= 0 { return }
        }
    }

    /// Pushes that found the inbox full and had to wait, since `init`.
    public var fullWaits: Int { waits.load(ordering: .relaxed) }

    /// Takes the oldest completely pushed element. Only the owning consumer thread may call this.
    @inlinable @inline(__always)
    public func pop() -> Element? {
        let index = head & mask
        guard sequence(index).load(ordering: .acquiring) == head + 1 else { return nil }
        let element = slotElement(index).assumingMemoryBound(to: Element.self).move()
        sequence(index).store(head + capacity, ordering: .releasing)
        head += 1
        return element
    }

    /// True when the next element is not (yet) completely pushed. Consumer only.
    @inlinable
    public var isEmpty: Bool { sequence(head & mask).load(ordering: .acquiring) != head + 1 }
}
