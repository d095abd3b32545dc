import Atomics
import LockFree

/// One recording in progress: what a media loop hands to the writer thread.
///
/// The media loop (the only producer) copies each 20 ms frame into a block of its `FramePool` and
/// pushes the block's pointer onto an `SPSCRing`; the writer thread (the only consumer) drains the
/// ring to disk and hands the blocks back. When the ring is full or the pool exhausted (a slow
/// disk) the frame is dropped and counted, never waited for, so RTP is not stalled
/// (ARCHITECTURE.md, "Threads and the lock-free seams").
public final class Recorder: @unchecked Sendable {
    // Unchecked: `ring` is single-producer/single-consumer by contract (media loop / writer);
    // the flags and counters are atomics.

    /// One frame waiting: a pool block holding `count` samples (interleaved when stereo).
    struct Frame {
        var block: UnsafeMutablePointer<Int16>?
        var count: Int
    }

    /// 20 ms at 8 kHz, per channel.
    public static let frameSamples = 160

    /// Where the finished file goes; it is written as `<path>.part` until then.
    public let path: String
    /// 1 (mono) or 2 (stereo: caller left, agent right).
    public let channels: Int
    let ring: SPSCRing<Frame>
    /// Where the frames' samples wait; shared with the other recordings fed by the same thread.
    let pool: FramePool
    private let droppedFrames = ManagedAtomic<Int>(0)
    private let finishing = ManagedAtomic<Bool>(false)
    private let pausedFlag = ManagedAtomic<Bool>(false)
    /// Longest recording kept, in frames; more is dropped (and counted) rather than written.
    public let maxFrames: Int

    /// `bufferFrames` frames of audio may wait for the writer (256 frames = 5.1 s by default); a
    /// waiting frame costs 16 bytes here and its samples' block in `pool`. Every recording of one
    /// pool must be written from one thread; without one given, the recording has a pool of its own.
    public init(path: String, maxSeconds: Int, channels: Int = 1, bufferFrames: Int = 256, pool: FramePool = FramePool()) {
        precondition(channels == 1 || channels == 2)
        self.path = path
        self.channels = channels
        self.maxFrames = maxSeconds * 50
        self.pool = pool
        ring = SPSCRing(capacity: bufferFrames) { Frame(block: nil, count: 0) }
    }

    /// Media loop: hands one frame (interleaved when stereo) over; false (and counted) when the
    /// writer is behind.
    @discardableResult
    public func write(_ samples: UnsafeBufferPointer<Int16>) -> Bool {
        let n = min(samples.count, Self.frameSamples * channels)
        guard let block = pool.take() else {
            droppedFrames.wrappingIncrement(ordering: .relaxed)
            return false
        }
        if n > 0 { block.update(from: samples.baseAddress!, count: n) }
        let pushed = ring.push { frame in
            frame.block = block
            frame.count = n
        }
        if !pushed {
            pool.putBack(block)
            droppedFrames.wrappingIncrement(ordering: .relaxed)
        }
        return pushed
    }

    /// Frames still in the ring when the recording goes (its file could not be opened, so the
    /// writer never drained it) give their blocks back: otherwise every such recording would keep
    /// up to a ring's worth of its pool for as long as the daemon runs. Nothing else holds the
    /// ring by now, so this is its only consumer.
    deinit {
        var blocks: [UnsafeMutablePointer<Int16>] = []
        while ring.pop({ frame in
            if let block = frame.block { blocks.append(block) }
            frame.block = nil
        }) {}
        if !blocks.isEmpty { _ = pool.giveBack(blocks) }
    }

    /// Media loop: no more frames; the writer closes the file once the ring is empty.
    public func finish() { finishing.store(true, ordering: .releasing) }

    /// Any thread: while paused the producer writes silence in place of audio (FEATURES R2: a card
    /// number must not be recorded, and the pause must not shorten the timeline).
    public var isPaused: Bool {
        get { pausedFlag.load(ordering: .relaxed) }
        set { pausedFlag.store(newValue, ordering: .relaxed) }
    }

    var isFinishing: Bool { finishing.load(ordering: .acquiring) }
    public var dropped: Int { droppedFrames.load(ordering: .relaxed) }
}
