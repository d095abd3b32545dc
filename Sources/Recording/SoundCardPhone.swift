import Atomics
import CALSA
import Foundation
import LockFree

/// The host's sound card as an agent's phone (FEATURES A1): an ALSA device opened for playback
/// and capture at 8 kHz mono, run by a thread of its own on a 20 ms clock. It rings (a tone on the
/// card) until answered; then each period it plays one frame the call sent it and captures one
/// for the call. Frames cross to and from the caller's media loop through two lock-free rings,
/// so neither the loop nor the card's thread ever waits for the other: a frame that finds its
/// ring full is dropped and counted, an empty ring plays silence.
public final class SoundCardPhone: @unchecked Sendable {
    // Unchecked: `toCard` has the media loop as its one producer and the card's thread as its one
    // consumer, `fromCard` the reverse; the rest is atomics or set before the thread starts.
    public static let frameSamples = 160
    public let device: String
    /// Frames for the card to play (the caller's voice), and frames it captured (the agent's).
    let toCard = SPSCRing<[Int16]>(capacity: 16) { [Int16](repeating: 0, count: SoundCardPhone.frameSamples) }
    let fromCard = SPSCRing<[Int16]>(capacity: 16) { [Int16](repeating: 0, count: SoundCardPhone.frameSamples) }
    private let ringing = ManagedAtomic(true)
    private let running = ManagedAtomic(false)
    private let started = ManagedAtomic(false)
    private let done = DispatchSemaphore(value: 0)
    /// Frames dropped because a ring was full, and periods the card could not keep (underruns).
    private let droppedCount = ManagedAtomic(0)
    private let underrunCount = ManagedAtomic(0)
    private let played = ManagedAtomic(0)
    private let captured = ManagedAtomic(0)
    public var dropped: Int { droppedCount.load(ordering: .relaxed) }
    public var underruns: Int { underrunCount.load(ordering: .relaxed) }
    public var framesPlayed: Int { played.load(ordering: .relaxed) }
    public var framesCaptured: Int { captured.load(ordering: .relaxed) }
    private var playback: OpaquePointer?
    private var capture: OpaquePointer?

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Opens `device` both ways (ALSA's plug layer converts to what the card can do).
    public init(device: String) throws(Failure) {
        self.device = device
        playback = try Self.open(device, capture: false)
        do {
            capture = try Self.open(device, capture: true)
        } catch {
            snd_pcm_close(playback)
            throw error
        }
    }

    deinit {
        if let playback { snd_pcm_close(playback) }
        if let capture { snd_pcm_close(capture) }
    }

    private static func open(_ device: String, capture: Bool) throws(Failure) -> OpaquePointer {
        var pcm: OpaquePointer?
        var err = snd_pcm_open(&pcm, device, capture ? SND_PCM_STREAM_CAPTURE : SND_PCM_STREAM_PLAYBACK, Int32(SND_PCM_NONBLOCK))
        guard err >= 0, let pcm else {
            throw Failure(description: "cannot open ALSA device '\(device)' for \(capture ? "capture" : "playback"): \(String(cString: snd_strerror(err)))")
        }
        // 100 ms of buffer: room for a late period without the latency of the file player's 500.
        err = snd_pcm_set_params(pcm, SND_PCM_FORMAT_S16_LE, SND_PCM_ACCESS_RW_INTERLEAVED, 1, 8000, 1, 100_000)
        guard err >= 0 else {
            snd_pcm_close(pcm)
            throw Failure(description: "ALSA device '\(device)' refuses mono 8 kHz: \(String(cString: snd_strerror(err)))")
        }
        return pcm
    }

    /// The media loop (the one producer) hands the card a frame of the caller's voice.
    public func sendToCard(_ frame: UnsafeBufferPointer<Int16>) {
        let ok = toCard.push { slot in
            for i in 0..<min(slot.count, frame.count) { slot[i] = frame[i] }
        }
        if !ok { droppedCount.wrappingIncrement(ordering: .relaxed) }
    }

    /// The media loop (the one consumer) takes a frame the card captured; false when none waits.
    public func takeFromCard(into frame: UnsafeMutableBufferPointer<Int16>) -> Bool {
        fromCard.pop { slot in
            for i in 0..<min(slot.count, frame.count) { frame[i] = slot[i] }
        }
    }

    /// Starts the card's clock: it rings until `answer()`.
    public func start() {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        running.store(true, ordering: .releasing)
        let thread = Thread { [self] in run() }
        thread.name = "acdd-soundcard"
        thread.start()
    }

    /// The agent answered: the ring stops and the call's audio flows.
    public func answer() { ringing.store(false, ordering: .releasing) }

    /// The tone again (440 + 480 Hz is also North America's ringback): the agent hears a party
    /// they consult being rung; `answer()` ends it.
    public func playRingback() { ringing.store(true, ordering: .releasing) }

    /// Stops the clock without waiting: the thread leaves the card within one period, and the
    /// device is closed when the last reference (the thread's) goes. Safe on a media loop.
    public func stop() {
        running.store(false, ordering: .releasing)
    }

    /// Waits (off any loop) until the thread has left the card.
    public func waitStopped() {
        guard started.load(ordering: .acquiring) else { return }
        done.wait()
        done.signal()
    }

    private func run() {
        var frame = [Int16](repeating: 0, count: Self.frameSamples)
        var ring = RingTone()
        var next = DispatchTime.now().uptimeNanoseconds
        while running.load(ordering: .acquiring) {
            if ringing.load(ordering: .acquiring) {
                ring.fill(&frame)
            } else if !toCard.pop({ slot in for i in frame.indices { frame[i] = slot[i] } }) {
                for i in frame.indices { frame[i] = 0 }
            }
            write(frame)
            if !ringing.load(ordering: .acquiring) { readFrame(into: &frame) }
            next += 20_000_000
            var ts = timespec(tv_sec: Int(next / 1_000_000_000), tv_nsec: Int(next % 1_000_000_000))
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil)
        }
        if let playback { snd_pcm_drop(playback) }
        done.signal()
    }

    private func write(_ frame: [Int16]) {
        guard let playback else { return }
        let n = frame.withUnsafeBufferPointer { snd_pcm_writei(playback, $0.baseAddress, snd_pcm_uframes_t($0.count)) }
        if n < 0 {
            underrunCount.wrappingIncrement(ordering: .relaxed)
            _ = snd_pcm_recover(playback, Int32(n), 1)
        } else {
            played.wrappingIncrement(by: Int(n), ordering: .relaxed)
        }
    }

    private func readFrame(into frame: inout [Int16]) {
        guard let capture else { return }
        if snd_pcm_state(capture) == SND_PCM_STATE_PREPARED { snd_pcm_start(capture) }
        let n = frame.withUnsafeMutableBufferPointer { snd_pcm_readi(capture, $0.baseAddress, snd_pcm_uframes_t($0.count)) }
        guard n > 0 else {
            // Nothing captured this period (-EAGAIN) or an overrun: the call hears silence.
            if n < 0, Int32(n) != -EAGAIN { _ = snd_pcm_recover(capture, Int32(n), 1) }
            return
        }
        for i in Int(n)..<frame.count { frame[i] = 0 }
        captured.wrappingIncrement(by: Int(n), ordering: .relaxed)
        // Copied sample by sample: slots keep their own storage, so neither side ever allocates.
        if !fromCard.push({ slot in for i in slot.indices { slot[i] = frame[i] } }) { droppedCount.wrappingIncrement(ordering: .relaxed) }
    }
}

/// The North American ring (ANSI T1.401: 440 + 480 Hz, 2 s on, 4 s off), so the agent at the
/// desk hears a phone ringing.
struct RingTone {
    private var sample = 0

    mutating func fill(_ frame: inout [Int16]) {
        for i in frame.indices {
            let t = Double(sample) / 8000
            let on = sample % 48_000 < 16_000
            frame[i] = on ? Int16(4000 * (sin(2 * .pi * 440 * t) + sin(2 * .pi * 480 * t))) : 0
            sample = (sample + 1) % 48_000
        }
    }
}
