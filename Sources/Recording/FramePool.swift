import Atomics
import LockFree

/// The frame buffers of every recording one thread feeds (in the daemon, one media loop's).
///
/// Why the recordings share them rather than each ring owning its frames: a ring must be long
/// enough for the longest the writer may take to come back (32 stereo frames, 0.64 s, were 20 KiB
/// per call), yet what really waits at any moment is what arrived since the writer's last visit,
/// about five frames at its 100 ms cadence. With the frames in a shared pool a ring holds only
/// pointers, so it can be long (a slow pass loses nothing) and cheap, and the memory follows what
/// is waiting, not the worst case times the calls.
///
/// Lock-free by ownership:
/// - Only the feeding thread takes blocks: from its private free list; when that is empty, from
///   the batches the writer handed back; when there are none, from a newly allocated chunk, up to
///   `maxBlocks`. Past that `take` says no and the frame is dropped and counted (RTP never waits).
/// - Any thread hands drained blocks back, in batches, through a bounded `MPSCInbox`: one push per
///   batch, not per frame. A full inbox refuses, and the writer keeps the batch for its next pass.
/// - Nothing is freed before the pool goes: its memory stays at the peak of what waited at once.
public final class FramePool: @unchecked Sendable {
    // Unchecked: `free` and `chunks` belong to the feeding thread (the one-producer contract, as
    // for the rings); `returned` and the counter are made for any thread.

    /// A block's samples: one stereo frame, interleaved (a mono frame uses half).
    public static let blockSamples = Recorder.frameSamples * 2
    /// Blocks allocated at once: 40 KiB, a few calls' worth of waiting frames.
    static let chunkBlocks = 64

    /// Drained blocks on their way back from the writer. Unchecked: a block is owned by whoever
    /// holds it, one thread at a time.
    struct Batch: @unchecked Sendable {
        var blocks: [UnsafeMutablePointer<Int16>]
    }

    public let maxBlocks: Int
    private var free: [UnsafeMutablePointer<Int16>] = []
    private var chunks: [UnsafeMutablePointer<Int16>] = []
    private let returned = MPSCInbox<Batch>(capacity: 1024)
    private let allocated = ManagedAtomic<Int>(0)

    /// `maxBlocks` bounds the pool (the default, 262,144 blocks, is 160 MiB): a writer that stops
    /// coming back then costs dropped frames, not all of the host's memory.
    public init(maxBlocks: Int = 262_144) {
        precondition(maxBlocks > 0)
        self.maxBlocks = maxBlocks
    }

    deinit {
        for chunk in chunks { chunk.deallocate() }
    }

    /// Blocks allocated so far: what the pool holds, in use or free.
    public var blocksAllocated: Int { allocated.load(ordering: .relaxed) }

    /// Bytes allocated so far.
    public var bytes: Int { blocksAllocated * Self.blockSamples * MemoryLayout<Int16>.size }

    /// Feeding thread: a block to fill, or nil when the pool is at `maxBlocks` and all are waiting.
    @inline(__always)
    func take() -> UnsafeMutablePointer<Int16>? {
        if let block = free.popLast() { return block }
        return refill()
    }

    /// Feeding thread: a block taken but not handed to a ring (the ring was full).
    func putBack(_ block: UnsafeMutablePointer<Int16>) { free.append(block) }

    private func refill() -> UnsafeMutablePointer<Int16>? {
        while let batch = returned.pop() { free.append(contentsOf: batch.blocks) }
        if free.isEmpty {
            let have = allocated.load(ordering: .relaxed)
            let count = min(Self.chunkBlocks, maxBlocks - have)
            guard count > 0 else { return nil }
            let chunk = UnsafeMutablePointer<Int16>.allocate(capacity: count * Self.blockSamples)
            chunks.append(chunk)
            free.reserveCapacity(have + count)
            for i in 0..<count { free.append(chunk + i * Self.blockSamples) }
            allocated.wrappingIncrement(by: count, ordering: .relaxed)
        }
        return free.popLast()
    }

    /// Any thread: drained blocks back to the pool. False when the hand-back inbox is full (the
    /// feeding thread has not needed any for 1,024 batches): keep them and try again later.
    func giveBack(_ blocks: [UnsafeMutablePointer<Int16>]) -> Bool {
        returned.tryPush(Batch(blocks: blocks))
    }
}
