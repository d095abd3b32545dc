import CSndFile
import Foundation
import Testing

@testable import Recording

/// The ALSA seam without hardware: an ALSA `file` PCM that writes what is played to a raw file
/// and reads what is captured from another (ENVIRONMENT.md, "ALSA without a sound card").
@Suite(.serialized) struct SoundCardTests {
    static let dir = "/tmp/acdd-alsa-\(UUID().uuidString.prefix(6))"

    /// The device `acdtest`, defined in an extra ALSA configuration file this process reads.
    static let device: String = {
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let conf = "pcm.acdtest { type file slave.pcm \"null\" file \"\(dir)/out.raw\" infile \"\(dir)/in.raw\" format \"raw\" }\n"
        try? conf.write(toFile: "\(dir)/asound.conf", atomically: true, encoding: .utf8)
        setenv("ALSA_CONFIG_PATH", "/usr/share/alsa/alsa.conf:\(dir)/asound.conf", 1)
        return "acdtest"
    }()

    static func raw(_ path: String) throws -> [Int16] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return stride(from: 0, to: data.count - 1, by: 2).map { Int16(bitPattern: UInt16(data[$0]) | UInt16(data[$0 + 1]) << 8) }
    }

    @Test func aStereoRecordingPlaysSampleForSample() throws {
        let device = Self.device
        let wav = "\(Self.dir)/call.wav"
        var info = SF_INFO()
        info.samplerate = 8000
        info.channels = 2
        info.format = Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16)
        let file = try #require(sf_open(wav, Int32(SFM_WRITE), &info))
        let samples = (0..<16_000).map { i in Int16(truncatingIfNeeded: (i % 2 == 0 ? 1 : -1) * (i * 37 % 20_000)) }
        _ = samples.withUnsafeBufferPointer { sf_write_short(file, $0.baseAddress, sf_count_t($0.count)) }
        sf_close(file)
        unlink("\(Self.dir)/out.raw")
        let seconds = try SoundCard.play(wav, device: device)
        #expect(seconds == 1.0)
        #expect(try Self.raw("\(Self.dir)/out.raw") == samples)
    }

    @Test func aPromptIsRecordedFromTheCard() throws {
        let device = Self.device
        let tone = (0..<16_000).map { i in Int16(8000 * sin(2 * Double.pi * 440 * Double(i) / 8000)) }
        try Data(tone.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: UInt16(bitPattern: $0) >> 8)] }).write(to: URL(fileURLWithPath: "\(Self.dir)/in.raw"))
        let prompt = "\(Self.dir)/hello.wav"
        let peak = try SoundCard.record(prompt, device: device, seconds: 1.5)
        #expect(peak >= 7990)
        var info = SF_INFO()
        let file = try #require(sf_open(prompt, Int32(SFM_READ), &info))
        var back = [Int16](repeating: 0, count: Int(info.frames))
        _ = back.withUnsafeMutableBufferPointer { sf_read_short(file, $0.baseAddress, sf_count_t($0.count)) }
        sf_close(file)
        #expect(info.samplerate == 8000 && info.channels == 1 && info.frames == 12_000)
        #expect(Array(back.prefix(12_000)) == Array(tone.prefix(12_000)))
        #expect(!FileManager.default.fileExists(atPath: prompt + ".part"))
    }

    @Test func aDeviceThatDoesNotExistIsAClearError() {
        _ = Self.device
        #expect(throws: SoundCard.Failure.self) { try SoundCard.play("/nonexistent.wav", device: "acdtest") }
        do {
            _ = try SoundCard.record("\(Self.dir)/x.wav", device: "no-such-card", seconds: 0.1)
            Issue.record("recorded from a device that does not exist")
        } catch {
            #expect(error.description.contains("cannot open ALSA device 'no-such-card'"), "\(error)")
        }
    }
}
