import CSndFile

/// Reading a sound file with libsndfile: the only place IVR touches the C library. libsndfile
/// reads every format a prompt is likely to arrive in (WAV with PCM of any width, float, µ-law,
/// A-law; also AIFF, FLAC, Ogg), and hands back floats in [-1, 1] whatever the file holds.
enum SoundFile {
    struct Contents {
        /// Interleaved frames.
        var samples: [Float]
        var rate: Int
        var channels: Int
    }

    enum ReadError: Error {
        case open(String)
        case format(String)
    }

    /// Prompts are short; a file claiming hours of audio is refused before its buffer is allocated.
    static let maxSeconds = 3600

    static func read(_ path: String) throws(ReadError) -> Contents {
        var info = SF_INFO()
        guard let file = sf_open(path, Int32(SFM_READ), &info) else {
            throw .open(String(cString: sf_strerror(nil)))
        }
        defer { sf_close(file) }
        let channels = Int(info.channels), rate = Int(info.samplerate), frames = Int(info.frames)
        guard channels > 0, rate > 0 else { throw .format("\(channels) channels at \(rate) Hz") }
        guard frames <= maxSeconds * rate else { throw .format("\(frames) frames is longer than \(maxSeconds) s") }
        var samples = [Float](repeating: 0, count: frames * channels)
        let got = samples.withUnsafeMutableBufferPointer { sf_readf_float(file, $0.baseAddress, sf_count_t(frames)) }
        guard got >= 0 else { throw .format(String(cString: sf_strerror(file))) }
        if Int(got) < frames { samples.removeLast((frames - Int(got)) * channels) }
        return Contents(samples: samples, rate: rate, channels: channels)
    }
}
