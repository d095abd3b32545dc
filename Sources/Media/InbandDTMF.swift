import CSpanDSP

/// In-band DTMF detection with spandsp's receiver (`dtmf_rx`), for trunks that send key presses as
/// tones in the audio instead of RFC 4733 events. Feed it decoded 8 kHz samples; it returns the
/// keys it recognised, each once per press.
///
/// A class that owns the C state: spandsp state arrives as an `OpaquePointer`, freed in `deinit`.
/// Unchecked Sendable because a call's media is handled on one event loop at a time; the detector
/// is never used from two threads at once.
public final class InbandDTMFDetector: @unchecked Sendable {
    private let state: OpaquePointer
    private var keys = [CChar](repeating: 0, count: 16)

    public init() {
        state = dtmf_rx_init(nil, nil, nil)
    }

    deinit { dtmf_rx_free(state) }

    /// Feeds samples; returns keys completed in them (usually none).
    public func feed(_ samples: UnsafeMutableBufferPointer<Int16>) -> [Character] {
        guard let base = samples.baseAddress, !samples.isEmpty else { return [] }
        _ = dtmf_rx(state, base, Int32(samples.count))
        let n = keys.withUnsafeMutableBufferPointer { dtmf_rx_get(state, $0.baseAddress, Int32($0.count - 1)) }
        guard n > 0 else { return [] }
        return keys.prefix(Int(n)).map { Character(Unicode.Scalar(UInt8(bitPattern: $0))) }
    }
}

/// Generates DTMF tones with spandsp's transmitter (`dtmf_tx`): for tests that play a key press
/// down an audio path, and for trunks that want tones rather than events. Same ownership rule as
/// the detector.
public final class DTMFToneGenerator: @unchecked Sendable {
    private let state: OpaquePointer

    public init(onMilliseconds: Int? = nil, offMilliseconds: Int? = nil) {
        state = dtmf_tx_init(nil)
        if let on = onMilliseconds, let off = offMilliseconds { dtmf_tx_set_timing(state, Int32(on), Int32(off)) }
    }

    deinit { dtmf_tx_free(state) }

    /// Queues keys to be played (spandsp's default 50 ms tone, 55 ms gap).
    public func queue(_ digits: String) {
        _ = dtmf_tx_put(state, digits, Int32(digits.utf8.count))
    }

    /// Fills `samples` with the next tone audio; returns how many samples were produced (fewer
    /// when the queued keys ran out; the rest of the buffer is left as it was).
    public func generate(into samples: UnsafeMutableBufferPointer<Int16>) -> Int {
        guard let base = samples.baseAddress else { return 0 }
        return Int(dtmf_tx(state, base, Int32(samples.count)))
    }
}

/// Keys as tones in a leg's audio, for a far end that negotiated no RFC 4733 events: 100 ms of
/// tone and 100 ms of silence per key, longer than spandsp's 50/55 ms default, since a far IVR
/// behind a carrier's codecs needs the margin. While it plays, a bridged leg's relayed audio is
/// held back (`RTPStream.relay` sends nothing while a source plays), as a phone mutes its
/// microphone while it dials.
public final class DTMFTonePlayer: AudioSource {
    private let generator = DTMFToneGenerator(onMilliseconds: 100, offMilliseconds: 100)

    public init(_ digits: String) { generator.queue(digits) }

    public func read(into frame: UnsafeMutableBufferPointer<Int16>) -> Int { generator.generate(into: frame) }
}
