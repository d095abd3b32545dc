import CSndFile
import Foundation
import Media
import Testing

@testable import Prompts

/// Writes a sound file with libsndfile (the same library the store reads with, but the data and
/// the expectations are computed here from the formula).
func writeSound(_ path: String, _ frames: [[Float]], rate: Int, format: Int) throws {
    var info = SF_INFO()
    info.samplerate = Int32(rate)
    info.channels = Int32(frames.first?.count ?? 1)
    info.format = Int32(format)
    let file = try #require(sf_open(path, Int32(SFM_WRITE), &info), "\(String(cString: sf_strerror(nil)))")
    let flat = frames.flatMap { $0 }
    _ = flat.withUnsafeBufferPointer { sf_writef_float(file, $0.baseAddress, sf_count_t(frames.count)) }
    sf_close(file)
}

func sine(_ freq: Double, rate: Int, seconds: Double, amplitude: Double = 0.5, channels: Int = 1) -> [[Float]] {
    (0..<Int(Double(rate) * seconds)).map { n in
        let v = Float(amplitude * sin(2 * .pi * freq * Double(n) / Double(rate)))
        return [Float](repeating: v, count: channels)
    }
}

func rms(_ x: some Collection<Float>) -> Double {
    (x.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(max(1, x.count))).squareRoot()
}

func tempDirectory() throws -> String {
    let dir = NSTemporaryDirectory() + "ivr-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

@Suite struct SampleRateConverterTests {
    /// A tone inside the pass band comes out as the same tone at the new rate: compared sample by
    /// sample with the formula, away from the edges where the filter runs off the signal.
    @Test(arguments: [(44100, 1000.0), (48000, 3300.0), (16000, 300.0), (11025, 2000.0), (4000, 1000.0)])
    func passBandToneSurvives(inRate: Int, freq: Double) {
        let input = sine(freq, rate: inRate, seconds: 0.5).map { $0[0] }
        let out = SampleRateConverter.convert(input, from: inRate, to: 8000)
        #expect(out.count == (input.count * 8000 + inRate - 1) / inRate)
        let expected = (0..<out.count).map { Float(0.5 * sin(2 * .pi * freq * Double($0) / 8000)) }
        let middle = 400..<(out.count - 400)
        let noise = rms(middle.map { out[$0] - expected[$0] })
        let snr = 20 * log10(rms(middle.map { expected[$0] }) / noise)
        #expect(snr > 50, "SNR \(snr) dB for \(freq) Hz from \(inRate) Hz")
    }

    /// A tone above the new Nyquist frequency (4 kHz) would fold back into the band as a false
    /// tone; the filter removes it.
    @Test(arguments: [(48000, 5000.0), (44100, 6000.0), (16000, 4500.0)])
    func toneAboveNyquistIsRemoved(inRate: Int, freq: Double) {
        let input = sine(freq, rate: inRate, seconds: 0.5).map { $0[0] }
        let out = SampleRateConverter.convert(input, from: inRate, to: 8000)
        let level = 20 * log10(rms(out[400..<(out.count - 400)]) / (0.5 / 2.0.squareRoot()))
        #expect(level < -60, "\(freq) Hz from \(inRate) Hz leaks at \(level) dB")
    }

    @Test func sameRateIsUntouched() {
        let x: [Float] = [0.1, -0.2, 0.3]
        #expect(SampleRateConverter.convert(x, from: 8000, to: 8000) == x)
    }
}

@Suite struct PromptStoreTests {
    @Test func anyRateWidthAndChannelCountBecomes8kHzMono() throws {
        let dir = try tempDirectory()
        try FileManager.default.createDirectory(atPath: dir + "/en", withIntermediateDirectories: true)
        // 44.1 kHz stereo float, 1 kHz: both channels the same, so the mono mix is the tone.
        try writeSound(dir + "/en/stereo.wav", sine(1000, rate: 44100, seconds: 1, channels: 2), rate: 44100, format: SF_FORMAT_WAV | SF_FORMAT_FLOAT)
        // 16 kHz 24-bit.
        try writeSound(dir + "/en/wide.wav", sine(440, rate: 16000, seconds: 1), rate: 16000, format: SF_FORMAT_WAV | SF_FORMAT_PCM_24)
        // 8 kHz 16-bit mono: loaded sample for sample.
        let exact: [[Float]] = (0..<800).map { [Float(($0 % 200) - 100) / 256] }
        try writeSound(dir + "/en/exact.wav", exact, rate: 8000, format: SF_FORMAT_WAV | SF_FORMAT_PCM_16)
        // A-law WAV, the telephone's own format.
        try writeSound(dir + "/en/alaw.wav", sine(700, rate: 8000, seconds: 0.5), rate: 8000, format: SF_FORMAT_WAV | SF_FORMAT_ALAW)

        let store = try PromptStore(directory: dir)
        #expect(store.names(language: "en") == ["alaw", "exact", "stereo", "wide"])
        let stereo = try #require(store.prompt("stereo", language: "en"))
        #expect(stereo.samples.count == 8000)
        let expected = (0..<8000).map { 0.5 * 32768 * sin(2 * .pi * 1000 * Double($0) / 8000) }
        let err = rms((400..<7600).map { Float(Double(stereo.samples[$0]) - expected[$0]) })
        #expect(err < 0.5 * 32768 * 0.003, "error rms \(err)")
        #expect(try #require(store.prompt("wide", language: "en")).samples.count == 8000)
        let loaded = try #require(store.prompt("exact", language: "en")).samples
        #expect(loaded == exact.map { Int16($0[0] * 32768) })
        // A-law is within its quantisation step of the tone.
        let alaw = try #require(store.prompt("alaw", language: "en")).samples
        let alawExpected = (0..<4000).map { Int16(0.5 * 32767 * sin(2 * .pi * 700 * Double($0) / 8000)) }
        let worst = zip(alaw, alawExpected).map { abs(Int($0) - Int($1)) }.max() ?? 0
        #expect(alaw.count == 4000 && worst < 600, "worst \(worst)")
    }

    @Test func brokenFilesAreErrorsNamingTheFile() throws {
        let dir = try tempDirectory()
        try FileManager.default.createDirectory(atPath: dir + "/en", withIntermediateDirectories: true)
        #expect(throws: PromptStore.LoadError.directory(dir)) { try PromptStore(directory: dir) }
        #expect(throws: PromptStore.LoadError.directory(dir + "/nope")) { try PromptStore(directory: dir + "/nope") }

        try Data("RIFF this is not a wave file at all".utf8).write(to: URL(fileURLWithPath: dir + "/en/garbage.wav"))
        do {
            _ = try PromptStore(directory: dir)
            Issue.record("garbage loaded")
        } catch {
            guard case .unreadable(let path, let reason) = error else { Issue.record("\(error)"); return }
            #expect(path == dir + "/en/garbage.wav" && !reason.isEmpty)
            #expect(error.description.contains("garbage.wav"))
        }
        try FileManager.default.removeItem(atPath: dir + "/en/garbage.wav")
        try writeSound(dir + "/en/silent.wav", [], rate: 8000, format: SF_FORMAT_WAV | SF_FORMAT_PCM_16)
        #expect(throws: PromptStore.LoadError.empty(path: dir + "/en/silent.wav")) { try PromptStore(directory: dir) }
        try FileManager.default.removeItem(atPath: dir + "/en/silent.wav")

        try writeSound(dir + "/en/hello.wav", sine(500, rate: 8000, seconds: 0.1), rate: 8000, format: SF_FORMAT_WAV | SF_FORMAT_PCM_16)
        let store = try PromptStore(directory: dir)
        #expect(throws: PromptStore.LoadError.missing(name: "bye", path: dir + "/en/bye.wav")) { try store.require(["hello", "bye"], language: "en") }
        #expect(throws: PromptStore.LoadError.missing(name: "music default", path: dir + "/moh/default.wav")) { try store.requireMusic("default") }
    }

    /// The set the project ships (prompts/, made by prompts/make-prompts.sh): every prompt the
    /// call flows and announcements name is there, as 8 kHz speech of a sensible length.
    @Test func shippedPromptSetIsComplete() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let store = try PromptStore(directory: root.appendingPathComponent("prompts").path)
        var needed = [
            "welcome", "main-menu", "invalid", "no-input", "goodbye", "closed", "caller-number", "estimated-wait", "minute", "minutes",
            "please-hold", "voicemail", "survey-intro", "survey-question", "survey-thanks", "you-pressed", "playback-test",
        ]
        needed += (0...20).map { "number-\($0)" }
        for clip in try store.require(needed, language: "en") {
            #expect(clip.seconds > 0.3 && clip.seconds < 10, "\(clip.name): \(clip.seconds) s")
            #expect(rms(clip.samples.map { Float($0) / 32768 }) > 0.02, "\(clip.name) is too quiet")
        }
        let moh = try store.requireMusic("default")
        #expect(moh.seconds > 5)
        #expect(store.languages == ["en"])
    }
}
