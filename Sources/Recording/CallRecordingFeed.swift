/// Lines up the two directions of a bridged call into one recording, on the call's media loop.
///
/// Packets from the caller and from the agent arrive on their own schedules (jitter, pauses, a
/// phone that holds); the file must keep one timeline. So each side's decoded samples wait in a
/// small FIFO, and the media clock takes one 20 ms frame from each side per tick: what a side has
/// not delivered by then is silence, which keeps the file as long as the call and both channels
/// in step. A side starts (and restarts after running dry) only once it holds `prefill` frames,
/// so ordinary jitter does not punch holes; a side that runs ahead past `ceiling` frames (its
/// clock is fast) is trimmed back to `prefill`, dropping the oldest audio rather than letting the
/// two channels drift apart.
///
/// Loop-bound, and allocates nothing after `init`: `take` runs per packet, `tick` per frame.
public final class CallRecordingFeed {
    public enum Side: Int { case caller = 0, agent = 1 }

    public let recorder: Recorder
    static let frame = Recorder.frameSamples
    let prefill: Int
    let ceiling: Int
    private var fifos: [Fifo]
    private var out: [Int16]
    /// Frames handed to the recorder, paused ones included.
    public private(set) var frames = 0
    /// Samples trimmed because a side ran ahead (both sides together).
    public private(set) var trimmedSamples = 0

    struct Fifo {
        var samples: [Int16]
        var head = 0
        var count = 0
        var primed = false
    }

    public init(recorder: Recorder, prefillFrames: Int = 2, ceilingFrames: Int = 8) {
        self.recorder = recorder
        prefill = prefillFrames * Self.frame
        ceiling = ceilingFrames * Self.frame
        let capacity = (ceilingFrames + 4) * Self.frame
        fifos = [Fifo(samples: [Int16](repeating: 0, count: capacity)), Fifo(samples: [Int16](repeating: 0, count: capacity))]
        out = [Int16](repeating: 0, count: Self.frame * recorder.channels)
    }

    /// Samples heard from one side (decoded, 8 kHz).
    public func take(_ side: Side, _ samples: UnsafeBufferPointer<Int16>) {
        let s = side.rawValue
        var fifo = fifos[s]
        fifos[s].samples = []  // `fifo` holds the only reference: no copy on write below
        let capacity = fifo.samples.count
        fifo.samples.withUnsafeMutableBufferPointer { buffer in
            for sample in samples {
                if fifo.count == capacity {
                    fifo.head = (fifo.head + 1) % capacity
                    fifo.count -= 1
                    trimmedSamples += 1
                }
                buffer[(fifo.head + fifo.count) % capacity] = sample
                fifo.count += 1
            }
        }
        if fifo.count > ceiling {
            let drop = fifo.count - prefill
            fifo.head = (fifo.head + drop) % capacity
            fifo.count -= drop
            trimmedSamples += drop
        }
        if fifo.count >= prefill { fifo.primed = true }
        fifos[s] = fifo
    }

    /// One media-clock tick: one frame to the recorder, silence where a side had nothing (or
    /// everywhere while the recording is paused). False when the writer was behind and the frame
    /// was dropped (the recorder counts it).
    @discardableResult
    public func tick() -> Bool {
        let channels = recorder.channels
        let paused = recorder.isPaused
        var out = self.out
        self.out = []
        out.withUnsafeMutableBufferPointer { out in
            for i in 0..<out.count { out[i] = 0 }
            for s in 0..<2 {
                var fifo = fifos[s]
                guard fifo.primed else { continue }
                let n = min(Self.frame, fifo.count)
                let capacity = fifo.samples.count
                fifo.samples.withUnsafeBufferPointer { buffer in
                    for i in 0..<n where !paused {
                        let v = buffer[(fifo.head + i) % capacity]
                        if channels == 2 {
                            out[i * 2 + s] = v
                        } else {
                            out[i] = Int16(clamping: Int32(out[i]) + Int32(v))
                        }
                    }
                }
                fifo.head = (fifo.head + n) % capacity
                fifo.count -= n
                if fifo.count == 0 && n < Self.frame { fifo.primed = false }
                fifos[s].head = fifo.head
                fifos[s].count = fifo.count
                fifos[s].primed = fifo.primed
            }
        }
        self.out = out
        frames += 1
        return self.out.withUnsafeBufferPointer { recorder.write($0) }
    }
}
