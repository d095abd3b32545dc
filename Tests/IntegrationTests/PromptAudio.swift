import Foundation
import Media
import Testing
import TestSupport

/// The shipped prompts, read straight from their files by walking the RIFF chunks (they are
/// 16-bit PCM mono at 8 kHz, prompts/make-prompts.sh): an independent reading to hold the
/// daemon's audio against.
enum PromptAudio {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("prompts/en")

    static func samples(_ name: String) throws -> [Int16] {
        try wav(directory.appendingPathComponent("\(name).wav").path)
    }

    /// The samples of a 16-bit mono 8 kHz PCM WAV file.
    static func wav(_ path: String) throws -> [Int16] {
        let name = (path as NSString).lastPathComponent
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let bytes = [UInt8](data)
        #expect(bytes.count > 44 && String(decoding: bytes[0..<4], as: UTF8.self) == "RIFF" && String(decoding: bytes[8..<12], as: UTF8.self) == "WAVE")
        func le32(_ i: Int) -> Int { Int(bytes[i]) | Int(bytes[i + 1]) << 8 | Int(bytes[i + 2]) << 16 | Int(bytes[i + 3]) << 24 }
        var offset = 12
        while offset + 8 <= bytes.count {
            let id = String(decoding: bytes[offset..<(offset + 4)], as: UTF8.self)
            let size = le32(offset + 4)
            if id == "fmt " {
                let format = Int(bytes[offset + 8]) | Int(bytes[offset + 9]) << 8
                let channels = Int(bytes[offset + 10]), rate = le32(offset + 12), bits = Int(bytes[offset + 22])
                #expect(format == 1 && channels == 1 && rate == 8000 && bits == 16, "\(name) is not 8 kHz 16-bit mono PCM")
            }
            if id == "data" {
                let end = min(bytes.count, offset + 8 + size)
                return stride(from: offset + 8, to: end - 1, by: 2).map { Int16(bitPattern: UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8) }
            }
            offset += 8 + size + (size & 1)
        }
        throw ProbeError("\(name) has no data chunk")
    }

    /// Where `expected` starts in `received`: the onsets (first sample above a threshold) give a
    /// first guess, refined to the best correlation over the first second within ±20 ms.
    static func offset(of expected: [Int16], in received: [Int16]) -> Int? {
        guard let e = expected.firstIndex(where: { abs(Int($0)) > 300 }), let r = received.firstIndex(where: { abs(Int($0)) > 300 }) else { return nil }
        let guess = r - e
        let n = min(8000, expected.count)
        return (max(0, guess - 160)...max(0, guess + 160)).filter { $0 + n <= received.count }
            .map { ($0, correlation(received[$0..<($0 + n)], expected[0..<n])) }.max { $0.1 < $1.1 }?.0
    }

    /// Where `piece` best matches inside `track` (starting at most at `maxStart`), and how well:
    /// a coarse search every 16 samples, then every sample around the best.
    static func locate(_ piece: ArraySlice<Int16>, in track: [Int16], maxStart: Int) -> (offset: Int, correlation: Double) {
        let last = min(maxStart, track.count - piece.count)
        guard last >= 0 else { return (0, 0) }
        func score(_ at: Int) -> Double { correlation(track[at..<(at + piece.count)], piece) }
        let coarse = stride(from: 0, through: last, by: 16).map { ($0, score($0)) }.max { $0.1 < $1.1 }?.0 ?? 0
        let fine = (max(0, coarse - 16)...min(last, coarse + 16)).map { ($0, score($0)) }.max { $0.1 < $1.1 }?.0 ?? coarse
        return (fine, score(fine))
    }

    /// Power of `freq` Hz in 8 kHz audio (Goertzel), normalised by the length.
    static func power(_ x: ArraySlice<Int16>, _ freq: Double) -> Double {
        let c = 2 * cos(2 * Double.pi * freq / 8000)
        var s1 = 0.0, s2 = 0.0
        for v in x { (s1, s2) = (Double(v) / 32768 + c * s1 - s2, s1) }
        return (s1 * s1 + s2 * s2 - c * s1 * s2) / Double(max(1, x.count * x.count))
    }

    /// Normalised cross-correlation at lag 0: 1 for the same waveform at any level.
    static func correlation(_ a: ArraySlice<Int16>, _ b: ArraySlice<Int16>) -> Double {
        precondition(a.count == b.count)
        var ab = 0.0, aa = 0.0, bb = 0.0
        for (x, y) in zip(a, b) {
            let dx = Double(x), dy = Double(y)
            ab += dx * dy
            aa += dx * dx
            bb += dy * dy
        }
        return aa == 0 || bb == 0 ? 0 : ab / (aa * bb).squareRoot()
    }
}
