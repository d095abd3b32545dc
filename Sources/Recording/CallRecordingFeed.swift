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
    /// `party`: the third in a conference of three, mixed into the agent's channel (or into the
    /// one channel of a mono file), so the file holds everyone the caller heard.
    public enum Side: Int, Sendable { case caller = 0, agent = 1, party = 2 }
    static let sides = 3

    public let recorder: Recorder
    static let frame = Recorder.frameSamples
    let prefill: Int
    let ceiling: Int
    /// Samples each side's FIFO holds.
    let capacity: Int
    /// Both sides' FIFOs, then the outgoing frame, in one allocation. Raw storage rather than
    /// arrays: `take` and `tick` run per packet and per frame for every recorded call, and the
    /// arrays' copy-on-write bookkeeping (retains, uniqueness checks, a modulo per sample) was
    /// the larger part of the feed's cost in `perf` at 500 calls/s.
    private let storage: UnsafeMutablePointer<Int16>
    private var fifos: (Fifo, Fifo, Fifo) = (Fifo(), Fifo(), Fifo())
    /// Frames handed to the recorder, paused ones included.
    public private(set) var frames = 0
    /// Samples trimmed because a side ran ahead (both sides together).
    public private(set) var trimmedSamples = 0

    struct Fifo {
        var head = 0
        var count = 0
        var primed = false
    }

    public init(recorder: Recorder, prefillFrames: Int = 2, ceilingFrames: Int = 8) {
        self.recorder = recorder
        prefill = prefillFrames * Self.frame
        ceiling = ceilingFrames * Self.frame
        capacity = (ceilingFrames + 4) * Self.frame
        storage = .allocate(capacity: Self.sides * capacity + Self.frame * 2)
        storage.initialize(repeating: 0, count: Self.sides * capacity + Self.frame * 2)
    }

    deinit { storage.deallocate() }

    private func buffer(_ side: Int) -> UnsafeMutablePointer<Int16> { storage + side * capacity }
    private var out: UnsafeMutablePointer<Int16> { storage + Self.sides * capacity }

    private func fifo(_ side: Int) -> Fifo {
        switch side {
        case 0: fifos.0
        case 1: fifos.1
        default: fifos.2
        }
    }
    private func setFifo(_ side: Int, _ fifo: Fifo) {
        switch side {
        case 0: fifos.0 = fifo
        case 1: fifos.1 = fifo
        default: fifos.2 = fifo
        }
    }

    /// Forgets what a side holds (the party left the conference).
    public func clear(_ side: Side) { setFifo(side.rawValue, Fifo()) }

    /// Samples heard from one side (decoded, 8 kHz).
    public func take(_ side: Side, _ samples: UnsafeBufferPointer<Int16>) {
        let s = side.rawValue
        var fifo = fifo(s)
        let buffer = buffer(s)
        var input = samples
        // More than the FIFO holds: only the newest `capacity` samples can stay.
        if input.count > capacity {
            trimmedSamples += input.count - capacity
            input = UnsafeBufferPointer(rebasing: input[(input.count - capacity)...])
        }
        // Full: the oldest samples make room.
        let overflow = fifo.count + input.count - capacity
        if overflow > 0 {
            fifo.head = (fifo.head + overflow) % capacity
            fifo.count -= overflow
            trimmedSamples += overflow
        }
        // Appended in at most two runs: to the end of the storage, then from its start.
        var done = 0
        while done < input.count {
            let at = (fifo.head + fifo.count) % capacity
            let run = min(input.count - done, capacity - at)
            (buffer + at).update(from: input.baseAddress! + done, count: run)
            fifo.count += run
            done += run
        }
        if fifo.count > ceiling {
            let drop = fifo.count - prefill
            fifo.head = (fifo.head + drop) % capacity
            fifo.count -= drop
            trimmedSamples += drop
        }
        if fifo.count >= prefill { fifo.primed = true }
        setFifo(s, fifo)
    }

    /// One media-clock tick: one frame to the recorder, silence where a side had nothing (or
    /// everywhere while the recording is paused). False when the writer was behind and the frame
    /// was dropped (the recorder counts it).
    @discardableResult
    public func tick() -> Bool {
        let channels = recorder.channels
        let paused = recorder.isPaused
        let out = self.out
        let size = Self.frame * channels
        out.update(repeating: 0, count: size)
        for s in 0..<Self.sides {
            var fifo = fifo(s)
            guard fifo.primed else { continue }
            let n = min(Self.frame, fifo.count)
            let buffer = buffer(s)
            // Read in at most two runs, as written.
            var done = 0
            while done < n {
                let at = (fifo.head + done) % capacity
                let run = min(n - done, capacity - at)
                if !paused {
                    let from = buffer + at
                    if channels == 2 {
                        // The party shares the agent's channel, summed and clipped.
                        let c = min(s, 1)
                        for i in 0..<run { out[(done + i) * 2 + c] = Int16(clamping: Int32(out[(done + i) * 2 + c]) + Int32(from[i])) }
                    } else {
                        for i in 0..<run { out[done + i] = Int16(clamping: Int32(out[done + i]) + Int32(from[i])) }
                    }
                }
                done += run
            }
            fifo.head = (fifo.head + n) % capacity
            fifo.count -= n
            if fifo.count == 0 && n < Self.frame { fifo.primed = false }
            setFifo(s, fifo)
        }
        frames += 1
        return recorder.write(UnsafeBufferPointer(start: out, count: size))
    }
}
