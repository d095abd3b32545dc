import CALSA
import CSndFile
import Foundation

/// The host's sound card through ALSA (FEATURES A1's third kind of phone, R1's playback): plays a
/// WAV file to a PCM device and records a prompt from one. Blocking; the daemon calls these on a
/// queue of their own, never on a loop.
public enum SoundCard {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let description: String
        init(_ d: String) { description = d }
    }

    /// An ALSA handle, closed when done; unchecked Sendable is not needed: it never leaves the
    /// function that opened it.
    private static func open(_ device: String, capture: Bool, channels: Int, rate: Int) throws(Failure) -> OpaquePointer {
        var pcm: OpaquePointer?
        let stream = capture ? SND_PCM_STREAM_CAPTURE : SND_PCM_STREAM_PLAYBACK
        var err = snd_pcm_open(&pcm, device, stream, 0)
        guard err >= 0, let pcm else { throw Failure("cannot open ALSA device '\(device)': \(String(cString: snd_strerror(err)))") }
        // Soft resampling on: a card that cannot do 8 kHz gets it converted by ALSA's plug layer.
        err = snd_pcm_set_params(pcm, SND_PCM_FORMAT_S16_LE, SND_PCM_ACCESS_RW_INTERLEAVED, UInt32(channels), UInt32(rate), 1, 500_000)
        guard err >= 0 else {
            snd_pcm_close(pcm)
            throw Failure("ALSA device '\(device)' refuses \(channels) channel(s) at \(rate) Hz: \(String(cString: snd_strerror(err)))")
        }
        return pcm
    }

    /// Plays a WAV (any libsndfile format; its own rate and channels) to `device`; returns the
    /// seconds played.
    @discardableResult
    public static func play(_ path: String, device: String) throws(Failure) -> Double {
        var info = SF_INFO()
        guard let file = sf_open(path, Int32(SFM_READ), &info) else { throw Failure("cannot read \(path): \(String(cString: sf_strerror(nil)))") }
        defer { sf_close(file) }
        let pcm = try open(device, capture: false, channels: Int(info.channels), rate: Int(info.samplerate))
        defer { snd_pcm_close(pcm) }
        let chunk = 1024
        var buffer = [Int16](repeating: 0, count: chunk * Int(info.channels))
        var played = 0
        while true {
            let frames = Int(buffer.withUnsafeMutableBufferPointer { sf_readf_short(file, $0.baseAddress, sf_count_t(chunk)) })
            if frames <= 0 { break }
            var offset = 0
            while offset < frames {
                let n = buffer.withUnsafeBufferPointer { p in
                    snd_pcm_writei(pcm, p.baseAddress! + offset * Int(info.channels), snd_pcm_uframes_t(frames - offset))
                }
                if n < 0 {
                    // An underrun or a suspend: recover once, else give up with the reason.
                    let r = snd_pcm_recover(pcm, Int32(n), 1)
                    if r < 0 { throw Failure("ALSA playback on '\(device)' failed: \(String(cString: snd_strerror(Int32(n))))") }
                    continue
                }
                offset += Int(n)
            }
            played += frames
        }
        snd_pcm_drain(pcm)
        return Double(played) / Double(info.samplerate)
    }

    /// Records `seconds` from `device` as an 8 kHz 16-bit mono WAV at `path`, written as `.part`
    /// and renamed when complete; returns the peak level (0–32767) so a silent input can be told.
    public static func record(_ path: String, device: String, seconds: Double) throws(Failure) -> Int {
        let rate = 8000
        let pcm = try open(device, capture: true, channels: 1, rate: rate)
        defer { snd_pcm_close(pcm) }
        var info = SF_INFO()
        info.samplerate = Int32(rate)
        info.channels = 1
        info.format = Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16)
        let part = path + ".part"
        guard let file = sf_open(part, Int32(SFM_WRITE), &info) else { throw Failure("cannot create \(part): \(String(cString: sf_strerror(nil)))") }
        var total = Int(seconds * Double(rate))
        var buffer = [Int16](repeating: 0, count: 800)
        var peak = 0
        var failure: Failure?
        while total > 0 {
            let want = min(total, buffer.count)
            let n = buffer.withUnsafeMutableBufferPointer { snd_pcm_readi(pcm, $0.baseAddress, snd_pcm_uframes_t(want)) }
            if n < 0 {
                if snd_pcm_recover(pcm, Int32(n), 1) < 0 {
                    failure = Failure("ALSA capture on '\(device)' failed: \(String(cString: snd_strerror(Int32(n))))")
                    break
                }
                continue
            }
            if n == 0 { break }
            for i in 0..<Int(n) { peak = max(peak, abs(Int(buffer[i]))) }
            let written = buffer.withUnsafeBufferPointer { sf_write_short(file, $0.baseAddress, sf_count_t(n)) }
            if written != sf_count_t(n) {
                failure = Failure("cannot write \(part): \(String(cString: sf_strerror(file)))")
                break
            }
            total -= Int(n)
        }
        sf_close(file)
        if let failure {
            unlink(part)
            throw failure
        }
        guard rename(part, path) == 0 else {
            unlink(part)
            throw Failure("cannot rename \(part): \(String(cString: strerror(errno)))")
        }
        return peak
    }
}
