import Media
import Testing

@Suite struct TelephoneEventTests {
    @Test func payloadRoundTrip() throws {
        let e = TelephoneEvent(event: 11, end: true, volume: 10, duration: 1280)
        var b = [UInt8](repeating: 0, count: 4)
        b.withUnsafeMutableBytes { e.write(to: $0) }
        #expect(b == [11, 0x8A, 0x05, 0x00])
        let back = try b.withUnsafeBytes { try TelephoneEvent.parse($0) }
        #expect(back == e)
        #expect(throws: TelephoneEvent.ParseError.length(3)) { try [UInt8]([1, 2, 3]).withUnsafeBytes { try TelephoneEvent.parse($0) } }
    }

    @Test func digitsAndCodes() {
        let keys: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#", "A", "B", "C", "D"]
        for (code, key) in keys.enumerated() {
            #expect(TelephoneEvent.digit(UInt8(code)) == key)
            #expect(TelephoneEvent.code(key) == UInt8(code))
        }
        #expect(TelephoneEvent.digit(16) == nil)
        #expect(TelephoneEvent.code("x") == nil)
    }

    /// What a phone sends for one key press: updates every 20 ms, then the end packet three times.
    func press(_ event: UInt8, at ts: UInt32, updates: Int = 4) -> [(TelephoneEvent, UInt32)] {
        var out: [(TelephoneEvent, UInt32)] = []
        for i in 1...updates { out.append((TelephoneEvent(event: event, end: false, duration: UInt16(i * 160)), ts)) }
        for _ in 0..<3 { out.append((TelephoneEvent(event: event, end: true, duration: UInt16(updates * 160 + 160)), ts)) }
        return out
    }

    @Test func onePressIsOneDigitDespiteUpdatesAndEndRetransmits() {
        var r = TelephoneEventReceiver()
        var got: [Character] = []
        for (e, ts) in press(5, at: 1000) + press(5, at: 3000) + press(11, at: 5000) {
            if let d = r.receive(e, timestamp: ts) { got.append(d) }
        }
        #expect(got == ["5", "5", "#"])
    }

    @Test func lostStartStillCountsAndLatePacketsAreIgnored() {
        var r = TelephoneEventReceiver()
        // Only an end packet arrives for the first press: still one digit.
        #expect(r.receive(TelephoneEvent(event: 1, end: true, duration: 800), timestamp: 100) == "1")
        #expect(r.receive(TelephoneEvent(event: 1, end: true, duration: 800), timestamp: 100) == nil)
        #expect(r.receive(TelephoneEvent(event: 2, end: false, duration: 160), timestamp: 2000) == "2")
        // A reordered end packet of the first press arrives after the second began.
        #expect(r.receive(TelephoneEvent(event: 1, end: true, duration: 800), timestamp: 100) == nil)
        #expect(r.receive(TelephoneEvent(event: 2, end: true, duration: 800), timestamp: 2000) == nil)
    }

    @Test func timestampWrapIsNotALatePacket() {
        var r = TelephoneEventReceiver()
        #expect(r.receive(TelephoneEvent(event: 3, end: true, duration: 800), timestamp: UInt32.max - 100) == "3")
        #expect(r.receive(TelephoneEvent(event: 4, end: false, duration: 160), timestamp: 500) == "4")
    }

    @Test func aLongPressInSegmentsIsOneDigit() {
        var r = TelephoneEventReceiver()
        #expect(r.receive(TelephoneEvent(event: 0, end: false, duration: 60_000), timestamp: 0) == "0")
        #expect(r.receive(TelephoneEvent(event: 0, end: false, duration: .max), timestamp: 0) == nil)
        // §2.5.1.3: the next segment starts at the old timestamp plus 0xFFFF.
        #expect(r.receive(TelephoneEvent(event: 0, end: false, duration: 160), timestamp: 65_535) == nil)
        #expect(r.receive(TelephoneEvent(event: 0, end: true, duration: 1600), timestamp: 65_535) == nil)
        #expect(r.receive(TelephoneEvent(event: 0, end: false, duration: 160), timestamp: 80_000) == "0")
    }
}

@Suite struct InbandDTMFTests {
    /// Tones from spandsp's generator, through G.711 and back (what a trunk's audio does to them),
    /// in 20 ms packets: every key is found once.
    @Test(arguments: [G711.ulaw, .alaw])
    func tonesThroughG711AreDetectedOnce(codec: G711) {
        let gen = DTMFToneGenerator()
        let det = InbandDTMFDetector()
        let keys = "0123456789*#ABCD"
        gen.queue(keys)
        var found: [Character] = []
        var frame = [Int16](repeating: 0, count: 160)
        var coded = [UInt8](repeating: 0, count: 160)
        for _ in 0..<200 {  // 4 s, more than 16 × 105 ms
            frame.withUnsafeMutableBufferPointer { f in
                for i in 0..<f.count { f[i] = 0 }
                _ = gen.generate(into: f)
                coded.withUnsafeMutableBytes { codec.encode(UnsafeBufferPointer(f), into: $0) }
                coded.withUnsafeBytes { codec.decode($0, into: f) }
                found += det.feed(f)
            }
        }
        #expect(String(found) == keys)
    }

    @Test func silenceAndSpeechLikeNoiseGiveNoKeys() {
        let det = InbandDTMFDetector()
        var rng = SystemRandomNumberGenerator()
        var frame = [Int16](repeating: 0, count: 160)
        var found: [Character] = []
        for _ in 0..<100 {
            for i in 0..<frame.count { frame[i] = Int16.random(in: -3000...3000, using: &rng) }
            frame.withUnsafeMutableBufferPointer { found += det.feed($0) }
        }
        #expect(found.isEmpty)
    }
}
