import Media
import Testing

@Suite struct RTPHeaderTests {
    func parse(_ bytes: [UInt8]) throws(RTPHeader.ParseError) -> RTPHeader {
        let result = bytes.withUnsafeBytes { b in Result { () throws(RTPHeader.ParseError) in try RTPHeader.parse(b) } }
        return try result.get()
    }

    @Test func writesAndReadsBackTheFixedHeader() throws {
        let h = RTPHeader(marker: true, payloadType: 8, sequence: 0xBEEF, timestamp: 0xDEAD_BEEF, ssrc: 0x0102_0304)
        var bytes = [UInt8](repeating: 0xAA, count: 12 + 160)
        bytes.withUnsafeMutableBytes { h.write(to: $0) }
        #expect(Array(bytes.prefix(12)) == [0x80, 0x88, 0xBE, 0xEF, 0xDE, 0xAD, 0xBE, 0xEF, 0x01, 0x02, 0x03, 0x04])
        let back = try parse(bytes)
        #expect(back.marker && back.payloadType == 8 && back.sequence == 0xBEEF && back.timestamp == 0xDEAD_BEEF && back.ssrc == 0x0102_0304)
        #expect(back.payloadOffset == 12 && back.payloadLength == 160)
    }

    @Test func skipsCSRCsAndExtensionAndStripsPadding() throws {
        // 2 CSRCs, an extension of 1 word, 3 payload bytes, 4 bytes of padding.
        var b: [UInt8] = [0xB2, 0x00, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7]
        b += [0, 0, 0, 1, 0, 0, 0, 2]  // CSRCs
        b += [0xBE, 0xDE, 0, 1, 9, 9, 9, 9]  // extension header + 1 word
        b += [1, 2, 3]  // payload
        b += [0, 0, 0, 4]  // padding, last byte = its length
        let h = try parse(b)
        #expect(h.payloadOffset == 28)
        #expect(h.payloadLength == 3)
        #expect(h.payloadType == 0 && h.sequence == 1 && h.timestamp == 160 && h.ssrc == 7)
    }

    @Test(arguments: [
        ([UInt8](repeating: 0x80, count: 11), RTPHeader.ParseError.tooShort(11)),
        ([0x40, 0] + [UInt8](repeating: 0, count: 10), .version(1)),
        ([0x8F, 0] + [UInt8](repeating: 0, count: 10), .truncatedCSRC),
        ([0x90, 0] + [UInt8](repeating: 0, count: 10) + [0xBE, 0xDE, 0, 5], .truncatedExtension),
        ([0xA0, 0] + [UInt8](repeating: 0, count: 10) + [1, 2, 9], .badPadding(9)),
        ([0xA0, 0] + [UInt8](repeating: 0, count: 10) + [1, 2, 0], .badPadding(0)),
        ([0x80, 0xC8] + [UInt8](repeating: 0, count: 10), .rtcpPayloadType(72)),
    ])
    func refusesBrokenDatagramsNamingTheRule(bytes: [UInt8], error: RTPHeader.ParseError) {
        #expect(throws: error) { try parse(bytes) }
        #expect(!error.description.isEmpty)
    }

    @Test func senderNumbersPacketsAndMarksSpurts() {
        var rng = SystemRandomNumberGenerator()
        var s = RTPSenderState(using: &rng)
        let a = s.next(payloadType: 0, samples: 160)
        let b = s.next(payloadType: 0, samples: 160)
        #expect(a.marker && !b.marker)
        #expect(b.sequence == a.sequence &+ 1 && b.timestamp == a.timestamp &+ 160 && a.ssrc == b.ssrc && a.ssrc != 0)
        s.skip(samples: 800)
        let c = s.next(payloadType: 0, samples: 160)
        #expect(c.marker && c.sequence == b.sequence &+ 1 && c.timestamp == b.timestamp &+ 160 &+ 800)
        // Events keep their timestamp and take new sequence numbers.
        let t = s.nextTimestamp
        let e1 = s.nextEvent(payloadType: 101, eventTimestamp: t, first: true)
        let e2 = s.nextEvent(payloadType: 101, eventTimestamp: t, first: false)
        #expect(e1.marker && !e2.marker && e1.timestamp == t && e2.timestamp == t && e2.sequence == e1.sequence &+ 1)
        // Two senders do not share an SSRC (random; equal once in 2^32).
        var rng2 = SystemRandomNumberGenerator()
        let other = RTPSenderState(using: &rng2)
        #expect(other.ssrc != s.ssrc)
    }

    @Test func sequenceAndTimestampWrapAround() {
        var rng = SystemRandomNumberGenerator()
        var s = RTPSenderState(using: &rng)
        var last = s.next(payloadType: 0, samples: 160)
        for _ in 0..<70_000 {
            let h = s.next(payloadType: 0, samples: 160)
            #expect(h.sequence == last.sequence &+ 1)
            last = h
        }
    }
}
