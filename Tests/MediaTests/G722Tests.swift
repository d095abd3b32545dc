import Foundation
import NIOCore
import NIOEmbedded
import Testing

@testable import Media

@Suite struct G722Tests {
    /// Speech-band signal: three tones, so the coder's two sub-bands and its adaptation all work.
    func signal(_ n: Int) -> [Int16] {
        (0..<n).map { i in
            let t = Double(i) / 8000
            return Int16(4000 * sin(2 * .pi * 300 * t) + 3000 * sin(2 * .pi * 1100 * t) + 2000 * sin(2 * .pi * 2700 * t))
        }
    }

    /// Signal-to-noise ratio of `y` against `x` at the coder's delay (searched, it is a few samples).
    func snr(_ x: [Int16], _ y: [Int16]) -> (db: Double, delay: Int) {
        var best = (db: -Double.infinity, delay: 0)
        for d in 0..<64 {
            var s = 0.0, e = 0.0
            for i in 800..<(x.count - 64) {
                let a = Double(x[i]), b = Double(y[i + d])
                s += a * a
                e += (a - b) * (a - b)
            }
            let db = 10 * log10(s / max(e, 1))
            if db > best.db { best = (db, d) }
        }
        return best
    }

    @Test func roundTripKeepsTheSignalAndTwentyMillisecondsAre160Bytes() {
        let codec = VoiceCodec.g722
        #expect(codec.payloadType == 9)
        let x = signal(8000)
        var y: [Int16] = []
        var frame = [UInt8](repeating: 0, count: 160)
        var out = [Int16](repeating: 0, count: 160)
        for f in 0..<50 {
            let bytes = x[(f * 160)..<(f * 160 + 160)].withUnsafeBufferPointer { s in frame.withUnsafeMutableBytes { codec.encode(s, into: $0) } }
            #expect(bytes == 160)
            let samples = frame.withUnsafeBytes { p in out.withUnsafeMutableBufferPointer { codec.decode(p, into: $0) } }
            #expect(samples == 160)
            y += out
        }
        let (db, delay) = snr(x, y)
        #expect(db > 30, "G.722 round trip at \(db) dB, delay \(delay)")
    }

    @Test func namesAndKinds() {
        #expect(VoiceCodec(encodingName: "g722")?.kind == .g722)
        #expect(VoiceCodec(encodingName: "PCMA")?.kind == .g711(.alaw))
        #expect(VoiceCodec(encodingName: "opus") == nil)
        #expect(VoiceCodec.g722.sameFormat(as: .g722) && !VoiceCodec.g722.sameFormat(as: .ulaw))
    }

    /// A G.722 caller bridged to a PCMU agent: packets are transcoded one way and the other; two
    /// G.722 legs pass packets through untouched.
    @Test func bridgeTranscodesBetweenG722AndG711AndCopiesBetweenG722Legs() throws {
        let loop = EmbeddedEventLoop()
        let wide = try BridgeTests.Leg(loop: loop, port: 44000, codec: .g722), narrow = try BridgeTests.Leg(loop: loop, port: 44002, codec: .ulaw)
        wide.stream.remote = wide.far
        narrow.stream.remote = narrow.far
        RTPBridge.join(wide.stream, narrow.stream)
        let x = signal(160 * 40)
        let farEncoder = VoiceCodec.g722
        var atNarrow: [Int16] = []
        for f in 0..<40 {
            var payload = [UInt8](repeating: 0, count: 160)
            _ = x[(f * 160)..<(f * 160 + 160)].withUnsafeBufferPointer { s in payload.withUnsafeMutableBytes { farEncoder.encode(s, into: $0) } }
            try wide.receive(wide.sender.next(payloadType: 9, samples: 160), payload)
            for packet in try narrow.sent() {
                #expect(packet.header.payloadType == 0 && packet.payload.count == 160)
                atNarrow += packet.payload.map { G711.ulaw.decode($0) }
            }
        }
        #expect(atNarrow.count == x.count)
        #expect(snr(x, atNarrow).db > 28, "G.722 → PCMU at \(snr(x, atNarrow).db) dB")

        // PCMU back to the G.722 side.
        let pcmu = x[0..<160].map { G711.ulaw.encode($0) }
        try narrow.receive(narrow.sender.next(payloadType: 0, samples: 160), pcmu)
        let back = try #require(try wide.sent().first)
        #expect(back.header.payloadType == 9 && back.payload.count == 160)

        // Two G.722 legs: the same bytes cross.
        let other = try BridgeTests.Leg(loop: loop, port: 44004, codec: .g722)
        other.stream.remote = other.far
        RTPBridge.join(wide.stream, other.stream)
        let bytes = (0..<160).map { UInt8(truncatingIfNeeded: $0 * 13) }
        try wide.receive(wide.sender.next(payloadType: 9, samples: 160), bytes)
        #expect(try other.sent().map(\.payload) == [bytes])
    }
}
