import CSpanDSP

/// Orders what arrives from a leg (already decoded by the leg's codec) and plays it out at a steady 20 ms, for the places that need
/// decoded audio at the right moment: the conference mixer, and later recording and transcoding.
/// The fast relay does not use it: a bridge forwards packets as they come and leaves the waiting
/// to the phones' own buffers.
///
/// Packets are filed by sequence number in a ring of preallocated frames (nothing is allocated
/// per packet). Playout starts once `targetDelay` frames are buffered. A missing frame is filled
/// by spandsp's packet-loss concealment, which repeats the last pitch period and fades out. After
/// `maxConcealed` missing frames in a row the buffer stops, plays silence, and buffers again (the
/// far end went quiet or on hold). The target delay follows the RFC 3550 jitter of arrivals
/// between `minDelay` and `maxDelay` frames. When more than target + 2 frames wait, one frame is
/// dropped to catch up.
///
/// Owns spandsp's PLC state (freed in `deinit`); used on one event loop only.
public final class JitterBuffer: AudioSource {
    public enum Outcome: Sendable, Equatable { case audio, concealed, silence }

    public let frameSamples: Int
    public let capacity: Int
    public let minDelay: Int
    public let maxDelay: Int
    public let maxConcealed: Int
    public private(set) var targetDelay: Int

    public private(set) var received = 0
    public private(set) var late = 0
    public private(set) var duplicates = 0
    public private(set) var concealed = 0
    public private(set) var dropped = 0
    public private(set) var underruns = 0
    /// Jitter of arrivals in timestamp units (RFC 3550 A.8).
    public private(set) var jitter: Double = 0

    private var samples: [Int16]
    private var present: [Bool]
    private var sequences: [UInt16]
    private var next: UInt16?
    private var playing = false
    private var missingRun = 0
    private var lastTransit: Int64?
    private let plc: UnsafeMutablePointer<plc_state_t>

    public init(frameSamples: Int = 160, capacity: Int = 32, minDelay: Int = 2, maxDelay: Int = 10, maxConcealed: Int = 5) {
        precondition(capacity > maxDelay + 2 && minDelay >= 1 && maxDelay >= minDelay)
        self.frameSamples = frameSamples
        self.capacity = capacity
        self.minDelay = minDelay
        self.maxDelay = maxDelay
        self.maxConcealed = maxConcealed
        targetDelay = minDelay
        samples = [Int16](repeating: 0, count: capacity * frameSamples)
        present = [Bool](repeating: false, count: capacity)
        sequences = [UInt16](repeating: 0, count: capacity)
        plc = plc_init(nil)
    }

    deinit { plc_free(plc) }

    /// Frames waiting, counted from the next one to play.
    public var buffered: Int {
        guard let next else { return 0 }
        var n = 0
        for i in 0..<capacity where present[i] && Int16(bitPattern: sequences[i] &- next) >= 0 { n += 1 }
        return n
    }

    /// Files one packet's decoded audio (one frame). `arrival` is in timestamp units.
    public func insert(sequence: UInt16, timestamp: UInt32, arrival: Int64, samples decoded: UnsafeBufferPointer<Int16>) {
        let transit = arrival - Int64(timestamp)
        if let last = lastTransit { jitter += (Double(abs(transit - last)) - jitter) / 16 }
        lastTransit = transit
        if next == nil { next = sequence }
        guard let expected = next else { return }
        let ahead = Int(Int16(bitPattern: sequence &- expected))
        if ahead < 0 {
            late += 1
            return
        }
        if ahead >= capacity {
            // Far ahead of what we play: the far end jumped (or we fell behind). Start again from here.
            for i in 0..<capacity { present[i] = false }
            next = sequence
            playing = false
        }
        let slot = Int(sequence) % capacity
        if present[slot] && sequences[slot] == sequence {
            duplicates += 1
            return
        }
        received += 1
        present[slot] = true
        sequences[slot] = sequence
        let n = min(frameSamples, decoded.count)
        samples.withUnsafeMutableBufferPointer { all in
            let frame = UnsafeMutableBufferPointer(rebasing: all[(slot * frameSamples)..<(slot * frameSamples + frameSamples)])
            _ = UnsafeMutableBufferPointer(rebasing: frame[0..<n]).initialize(from: UnsafeBufferPointer(rebasing: decoded[0..<n]))
            for i in n..<frameSamples { frame[i] = 0 }
        }
    }

    /// The next 20 ms: buffered audio, concealment, or silence while (re)buffering.
    @discardableResult
    public func pull(into frame: UnsafeMutableBufferPointer<Int16>) -> Outcome {
        precondition(frame.count >= frameSamples)
        let out = UnsafeMutableBufferPointer(rebasing: frame[0..<frameSamples])
        if !playing {
            let want = min(maxDelay, max(minDelay, Int((2 * jitter / Double(frameSamples)).rounded(.up)) + 1))
            targetDelay = want
            guard buffered >= targetDelay else {
                out.update(repeating: 0)
                return .silence
            }
            playing = true
        }
        guard var seq = next else {
            out.update(repeating: 0)
            return .silence
        }
        // Too much waiting: drop the oldest frame to bring the delay back down.
        if buffered > targetDelay + 2 {
            let slot = Int(seq) % capacity
            if present[slot] && sequences[slot] == seq { present[slot] = false }
            dropped += 1
            seq &+= 1
        }
        let slot = Int(seq) % capacity
        next = seq &+ 1
        if present[slot] && sequences[slot] == seq {
            present[slot] = false
            missingRun = 0
            samples.withUnsafeBufferPointer { all in
                _ = out.initialize(from: UnsafeBufferPointer(rebasing: all[(slot * frameSamples)..<(slot * frameSamples + frameSamples)]))
            }
            _ = plc_rx(plc, out.baseAddress, Int32(frameSamples))
            return .audio
        }
        missingRun += 1
        if missingRun > maxConcealed {
            // The far end has gone quiet: stop, and start again from its next packet.
            underruns += 1
            playing = false
            next = nil
            missingRun = 0
            out.update(repeating: 0)
            return .silence
        }
        concealed += 1
        _ = plc_fillin(plc, out.baseAddress, Int32(frameSamples))
        return .concealed
    }

    /// A live source never ends: every read is a whole frame.
    public func read(into frame: UnsafeMutableBufferPointer<Int16>) -> Int {
        pull(into: frame)
        return frameSamples
    }
}
