/// Audio the daemon plays into a call, as 16-bit linear samples at 8 kHz (the G.711 rate every
/// shipped prompt is stored at). Prompts, music on hold and tones all reach a call this way.

/// A decoded sound, immutable and shared: one copy in memory however many calls play it.
public final class AudioClip: Sendable {
    public let name: String
    public let samples: [Int16]
    public static let sampleRate = 8000

    public init(name: String, samples: [Int16]) {
        self.name = name
        self.samples = samples
    }

    public var seconds: Double { Double(samples.count) / Double(Self.sampleRate) }
}

/// Something that fills 20 ms frames. A source lives on one call's event loop.
public protocol AudioSource: AnyObject {
    /// Writes up to `frame.count` samples; returns how many. Fewer than asked means the source
    /// has ended (what remains of the frame is the caller's to fill with silence).
    func read(into frame: UnsafeMutableBufferPointer<Int16>) -> Int
}

/// Plays clips one after another (a playlist), once or in a loop (music on hold). A player can be
/// made interruptible so that a key press stops it (barge-in); what to do with the key is the
/// caller's business, the player only stops.
public final class ClipPlayer: AudioSource {
    public let clips: [AudioClip]
    public let loops: Bool
    public let interruptible: Bool
    private var clipIndex = 0
    private var offset = 0
    public private(set) var stopped = false

    public init(_ clips: [AudioClip], loops: Bool = false, interruptible: Bool = false) {
        self.clips = clips
        self.loops = loops
        self.interruptible = interruptible
    }

    /// Where the player is, in samples from the playlist's start (within the current lap).
    public var position: Int { clips.prefix(clipIndex).reduce(0) { $0 + $1.samples.count } + offset }

    /// Stops at once; the next read returns nothing.
    public func stop() { stopped = true }

    /// Stops if the player allows barge-in; returns whether it stopped.
    @discardableResult
    public func bargeIn() -> Bool {
        guard interruptible, !stopped else { return false }
        stopped = true
        return true
    }

    public func read(into frame: UnsafeMutableBufferPointer<Int16>) -> Int {
        var written = 0
        // A loop over clips that are all empty would spin: count the laps that produced nothing.
        var emptyLaps = 0
        while written < frame.count, !stopped {
            if clipIndex == clips.count {
                guard loops, emptyLaps == 0 else { stopped = true; break }
                clipIndex = 0
                emptyLaps += 1
                continue
            }
            let samples = clips[clipIndex].samples
            let n = min(frame.count - written, samples.count - offset)
            if n > 0 {
                samples.withUnsafeBufferPointer { src in
                    _ = UnsafeMutableBufferPointer(rebasing: frame[written..<(written + n)])
                        .initialize(from: UnsafeBufferPointer(rebasing: src[offset..<(offset + n)]))
                }
                written += n
                offset += n
                emptyLaps = 0
            }
            if offset == samples.count {
                clipIndex += 1
                offset = 0
            }
        }
        return written
    }
}
