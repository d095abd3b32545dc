import Atomics
import LockFree

/// One recording in progress: what a media loop hands to the writer thread.
///
/// The media loop (the only producer) copies each 20 ms frame into a preallocated slot of an
/// `SPSCRing` and goes on; the writer thread (the only consumer) drains it to disk. When the ring
/// is full (a slow disk) the frame is dropped and counted, never waited for, so RTP is not stalled
/// (ARCHITECTURE.md, "Threads and the lock-free seams").
public final class Recorder: @unchecked Sendable {
    // Unchecked: `ring` is single-producer/single-consumer by contract (media loop / writer);
    // the flags and counters are atomics.

    /// One frame: up to `Recorder.frameSamples` samples per channel, interleaved, filled in place.
    public struct Frame {
        public var samples: [Int16]
        public var count: Int
    }

    /// 20 ms at 8 kHz, per channel.
    public static let frameSamples = 160

    /// Where the finished file goes; it is written as `<path>.part` until then.
    public let path: String
    /// 1 (mono) or 2 (stereo: caller left, agent right).
    public let channels: Int
    let ring: SPSCRing<Frame>
    private let droppedFrames = ManagedAtomic<Int>(0)
    private let finishing = ManagedAtomic<Bool>(false)
    private let pausedFlag = ManagedAtomic<Bool>(false)
    /// Longest recording kept, in frames; more is dropped (and counted) rather than written.
    public let maxFrames: Int

    /// `bufferFrames` frames of audio may wait for the writer (256 frames = 5.1 s by default).
    public init(path: String, maxSeconds: Int, channels: Int = 1, bufferFrames: Int = 256) {
        precondition(channels == 1 || channels == 2)
        self.path = path
        self.channels = channels
        self.maxFrames = maxSeconds * 50
        let size = Recorder.frameSamples * channels
        ring = SPSCRing(capacity: bufferFrames) { Frame(samples: [Int16](repeating: 0, count: size), count: 0) }
    }

    /// Media loop: hands one frame (interleaved when stereo) over; false (and counted) when the
    /// writer is behind.
    @discardableResult
    public func write(_ samples: UnsafeBufferPointer<Int16>) -> Bool {
        let n = min(samples.count, Self.frameSamples * channels)
        let pushed = ring.push { frame in
            frame.samples.withUnsafeMutableBufferPointer { out in
                if n > 0 { out.baseAddress!.update(from: samples.baseAddress!, count: n) }
            }
            frame.count = n
        }
        if !pushed { droppedFrames.wrappingIncrement(ordering: .relaxed) }
        return pushed
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
