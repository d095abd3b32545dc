import Media
import Testing

@Suite struct G711Tests {
    /// Every code decodes to a value that encodes back to the same code: the tables and the
    /// encoder agree, for all 256 codes of both laws. (µ-law has two codes for zero, 0x7F and
    /// 0xFF, which both decode to 0; 0 encodes to 0xFF.)
    @Test(arguments: [G711.ulaw, .alaw])
    func everyCodeRoundTrips(codec: G711) {
        for code in 0...255 {
            let c = UInt8(code)
            let back = codec.encode(codec.decode(c))
            if codec == .ulaw && c == 0x7F {
                #expect(back == 0xFF)
            } else {
                #expect(back == c, "code \(c) → \(codec.decode(c)) → \(back)")
            }
        }
    }

    /// Known points of ITU-T G.711 (Tables 1a/2a): the extremes and silence.
    @Test func knownValues() {
        #expect(G711.ulaw.decode(0xFF) == 0)
        #expect(G711.ulaw.decode(0x00) == -32124)
        #expect(G711.ulaw.decode(0x80) == 32124)
        #expect(G711.alaw.decode(0xD5) == 8)
        #expect(G711.alaw.decode(0x55) == -8)
        #expect(G711.alaw.decode(0xAA) == 32256)
        #expect(G711.alaw.decode(0x2A) == -32256)
        #expect(G711.ulaw.encode(0) == G711.ulaw.silence)
        #expect(G711.alaw.decode(G711.alaw.silence) == 8)
        #expect(G711(encodingName: "pcmu") == .ulaw && G711(encodingName: "PCMA") == .alaw && G711(encodingName: "G722") == nil)
    }

    /// The quantisation error stays within G.711's step size for the segment: under 1/16 of the
    /// magnitude (plus the smallest step), over the whole 16-bit range.
    @Test(arguments: [G711.ulaw, .alaw])
    func quantisationErrorIsBounded(codec: G711) {
        for s in stride(from: -32768, through: 32767, by: 7) {
            let x = Int16(s)
            let y = codec.decode(codec.encode(x))
            #expect(abs(Int(y) - Int(x)) <= abs(Int(x)) / 16 + 132, "\(x) → \(y)")
        }
    }
}
