import Foundation
import NIOCore
import NIOEmbedded
import Testing

@testable import Media

func clip(_ name: String, _ count: Int, start: Int = 0) -> AudioClip {
    AudioClip(name: name, samples: (0..<count).map { Int16(truncatingIfNeeded: (start + $0) * 37 % 20000 - 10000) })
}

func readAll(_ source: any AudioSource, frame: Int = 160, limit: Int = 100) -> [[Int16]] {
    var out: [[Int16]] = []
    var buf = [Int16](repeating: 0, count: frame)
    for _ in 0..<limit {
        let n = buf.withUnsafeMutableBufferPointer { source.read(into: $0) }
        if n > 0 { out.append(Array(buf[0..<n])) }
        if n < frame { break }
    }
    return out
}

@Suite struct ClipPlayerTests {
    @Test func playlistPlaysEachClipInOrderAcrossFrameBoundaries() {
        let a = clip("a", 250), b = clip("b", 90, start: 1000), c = clip("c", 0)
        let frames = readAll(ClipPlayer([a, c, b]))
        #expect(frames.flatMap { $0 } == a.samples + b.samples)
        #expect(frames.map(\.count) == [160, 160, 20])
    }

    @Test func loopWrapsWithoutAGapAndStopEndsIt() {
        let a = clip("moh", 100)
        let player = ClipPlayer([a], loops: true)
        let frames = readAll(player, limit: 5)
        #expect(frames.count == 5 && frames.allSatisfy { $0.count == 160 })
        let flat = frames.flatMap { $0 }
        #expect(flat.enumerated().allSatisfy { $0.element == a.samples[$0.offset % 100] })
        player.stop()
        #expect(readAll(player).isEmpty)
        // A loop of nothing ends rather than spinning.
        #expect(readAll(ClipPlayer([clip("empty", 0)], loops: true)).isEmpty)
    }

    @Test func bargeInStopsOnlyAnInterruptiblePlayer() {
        let fixed = ClipPlayer([clip("a", 1000)])
        #expect(!fixed.bargeIn() && readAll(fixed).count == 7)
        let open = ClipPlayer([clip("a", 1000)], interruptible: true)
        _ = readAll(open, limit: 2)
        #expect(open.position == 320)
        #expect(open.bargeIn())
        #expect(!open.bargeIn())
        #expect(readAll(open).isEmpty)
    }
}

/// Power of `freq` in `x` (Goertzel), normalised so a full-scale sine gives about 0.25.
func goertzel(_ x: ArraySlice<Int16>, _ freq: Double, rate: Double = 8000) -> Double {
    let w = 2 * Double.pi * freq / rate, coeff = 2 * cos(w)
    var s1 = 0.0, s2 = 0.0
    for v in x {
        let s = Double(v) / 32768 + coeff * s1 - s2
        s2 = s1
        s1 = s
    }
    return (s1 * s1 + s2 * s2 - coeff * s1 * s2) / Double(x.count * x.count)
}

@Suite struct ToneTests {
    /// 20 ms frames of the tone for `seconds`.
    func render(_ tone: CallProgressTone, _ plan: TonePlan, seconds: Double) -> [Int16] {
        let player = TonePlayer(tone, plan: plan)
        let frames = readAll(player, limit: Int(seconds * 50))
        #expect(frames.count == Int(seconds * 50), "the tone repeats until stopped")
        return frames.flatMap { $0 }
    }

    /// Is the 50 ms window at `ms` the tone (both frequencies, nothing at `absent`) or silence?
    func on(_ x: [Int16], at ms: Int, _ f1: Double, _ f2: Double, absent: Double) -> Bool? {
        let window = x[(ms * 8)..<(ms * 8 + 400)]
        let p1 = goertzel(window, f1), p2 = goertzel(window, f2), off = goertzel(window, absent)
        if p1 > 1e-4 && p2 > 1e-4 && off < p1 / 100 { return true }
        if window.allSatisfy({ abs($0) < 50 }) { return false }
        return nil
    }

    @Test func usRingbackIsTwoSecondsOfDualToneThenFourOfSilence() {
        let x = render(.ringback, .us, seconds: 12.2)
        for start in [0, 6000] {
            for ms in stride(from: 100, to: 1900, by: 300) { #expect(on(x, at: start + ms, 440, 480, absent: 620) == true, "\(start + ms) ms") }
            for ms in stride(from: 2100, to: 5900, by: 400) { #expect(on(x, at: start + ms, 440, 480, absent: 620) == false, "\(start + ms) ms") }
        }
        #expect(on(x, at: 12050, 440, 480, absent: 620) == true)
    }

    @Test func busyAndCongestionDifferInCadence() {
        let busy = render(.busy, .us, seconds: 2), congestion = render(.congestion, .us, seconds: 2)
        #expect(on(busy, at: 100, 480, 620, absent: 440) == true)
        #expect(on(busy, at: 600, 480, 620, absent: 440) == false)
        #expect(on(busy, at: 1100, 480, 620, absent: 440) == true)
        #expect(on(congestion, at: 50, 480, 620, absent: 440) == true)
        #expect(on(congestion, at: 300, 480, 620, absent: 440) == false)
        #expect(on(congestion, at: 550, 480, 620, absent: 440) == true)
    }

    @Test func europeanPlanIsASingle425HzTone() {
        let x = render(.ringback, .eu, seconds: 5)
        let window = x[800..<1200]
        #expect(goertzel(window, 425) > 1e-3 && goertzel(window, 480) < goertzel(window, 425) / 100)
        #expect(x[(2000 * 8)..<(2400 * 8)].allSatisfy { abs($0) < 50 })
    }
}

/// Playback through a stream on a fake transport, clocked by hand.
@Suite struct PlaybackTests {
    final class Harness {
        let loop = EmbeddedEventLoop()
        let transport = FakeTransport()
        let stream = RTPStream()
        /// How late the loop runs: the clock sees the loop's time plus this.
        var lag = TimeAmount.zero
        var clock: MediaClock!
        var ended: [String] = []

        init(jumpable: Bool = false) throws {
            if jumpable {
                clock = MediaClock(loop: loop, now: { [unowned self] in self.loop.now + self.lag })
            } else {
                clock = MediaClock(loop: loop)
            }
            stream.clock = clock
            stream.codec = .ulaw
            stream.remote = local(40000)
            stream.onPlaybackEnded = { [unowned self] in self.ended.append(($0 as? ClipPlayer)?.clips.first?.name ?? "?") }
            stream.transport = transport
        }

        func sent() throws -> [(RTPHeader, [UInt8])] {
            try transport.take().map { ($0.header, $0.payload) }
        }
    }

    @Test func aClipGoesOutAsPacedG711PacketsAndEndsOnce() throws {
        let h = try Harness()
        let a = clip("a", 500)
        h.stream.play(ClipPlayer([a]))
        var packets = try h.sent()
        #expect(packets.count == 1, "the first frame leaves at once")
        h.loop.advanceTime(by: .milliseconds(19))
        #expect(try h.sent().isEmpty)
        h.loop.advanceTime(by: .milliseconds(61))
        packets += try h.sent()
        #expect(packets.count == 4 && h.ended == ["a"])
        let expected = (a.samples + [Int16](repeating: 0, count: 140)).map { G711.ulaw.encode($0) }
        #expect(packets.flatMap(\.1) == expected)
        #expect(packets.map(\.0.payloadType) == [0, 0, 0, 0] && packets.map(\.0.marker) == [true, false, false, false])
        for (x, y) in zip(packets, packets.dropFirst()) {
            #expect(y.0.sequence == x.0.sequence &+ 1 && y.0.timestamp == x.0.timestamp &+ 160 && y.0.ssrc == x.0.ssrc)
        }
        #expect(h.clock.playingCount == 0)
        h.loop.advanceTime(by: .milliseconds(200))
        #expect(try h.sent().isEmpty)

        // 100 ms later a new prompt: the timestamp has moved on with the clock, and a new spurt is marked.
        h.loop.advanceTime(by: .milliseconds(100))
        h.stream.play(ClipPlayer([clip("b", 160)]))
        let next = try #require(try h.sent().first)
        #expect(next.0.marker && next.0.sequence == packets[3].0.sequence &+ 1)
        #expect(next.0.timestamp &- packets[3].0.timestamp >= 160 * 15, "\(next.0.timestamp &- packets[3].0.timestamp)")
    }

    @Test func theLatchedAddressWinsOverTheSDPOneAndEchoModePlaysNothing() throws {
        let h = try Harness()
        var far = RTPSenderState()
        var bytes = [UInt8](repeating: 0, count: 12)
        bytes.withUnsafeMutableBytes { far.next(payloadType: 0, samples: 160).write(to: $0) }
        let from = local(41234)
        (bytes + [UInt8](repeating: 0xFF, count: 160)).withUnsafeBytes { h.stream.receive($0, from: from, now: .now()) }
        h.stream.play(ClipPlayer([clip("a", 160)]))
        let e = try #require(try h.transport.take().first)
        #expect(e.to == from)

        h.stream.mode = .echo
        h.stream.play(ClipPlayer([clip("a", 1600)]))
        h.loop.advanceTime(by: .milliseconds(100))
        #expect(try h.sent().isEmpty)
    }

    @Test func aLateLoopCatchesUpFiveFramesThenSkips() throws {
        let h = try Harness(jumpable: true)
        let loop = h.loop
        h.stream.play(ClipPlayer([clip("moh", 160)], loops: true))
        let first = try #require(try h.sent().first)  // tick 0
        // The loop wakes 60 ms late for tick 1: ticks 1 to 4 are owed and leave together.
        h.lag = .milliseconds(60)
        loop.advanceTime(by: .milliseconds(20))
        #expect(try h.sent().count == 4)
        h.lag = .zero
        loop.advanceTime(by: .milliseconds(80))
        #expect(try h.sent().count == 1)  // tick 5, on time again
        // Held up for a second at tick 6: five frames go (6–10), ticks 11–56 are skipped, and
        // the next frame (tick 57) carries the timestamp the wall clock says it should.
        h.lag = .milliseconds(1000)
        loop.advanceTime(by: .milliseconds(20))
        #expect(try h.sent().count == 5)
        #expect(h.clock.skippedTicks == 46)
        h.lag = .zero
        loop.advanceTime(by: .milliseconds(1020))
        let resumed = try #require(try h.sent().first)
        #expect(resumed.0.timestamp &- first.0.timestamp == 160 * 57, "\(resumed.0.timestamp &- first.0.timestamp)")
        #expect(resumed.0.marker && resumed.0.sequence == first.0.sequence &+ 11)
    }
}

/// Keys we send as RFC 4733 events.
@Suite struct SendingEventsTests {
    @Test func keysGoOutAsPacedEventsThatAReceiverReadsOnceEach() throws {
        let h = try PlaybackTests.Harness()
        h.stream.eventPayloadType = 101
        #expect(!h.stream.sendDigits("5x"))
        #expect(h.stream.sendDigits("5#"))
        var packets: [(RTPHeader, [UInt8])] = []
        for _ in 0..<30 {
            packets += try h.sent()
            h.loop.advanceTime(by: .milliseconds(20))
        }
        #expect(packets.count == 16, "8 per key")
        var receiver = TelephoneEventReceiver()
        var keys = ""
        for (header, payload) in packets {
            #expect(header.payloadType == 101)
            let e = try payload.withUnsafeBytes { try TelephoneEvent.parse($0) }
            if let k = receiver.receive(e, timestamp: header.timestamp) { keys.append(k) }
        }
        #expect(keys == "5#")
        let first = packets[0..<8], second = packets[8..<16]
        #expect(Set(first.map(\.0.timestamp)).count == 1 && Set(second.map(\.0.timestamp)).count == 1)
        #expect(second.first!.0.timestamp &- first.first!.0.timestamp == 11 * 160, "8 ticks of the key and 3 of gap")
        #expect(first.map(\.0.marker) == [true] + [Bool](repeating: false, count: 7))
        let durations = first.map { UInt16($0.1[2]) << 8 | UInt16($0.1[3]) }
        #expect(durations == [160, 320, 480, 640, 800, 800, 800, 800])
        #expect(first.map { $0.1[1] & 0x80 != 0 } == [false, false, false, false, false, true, true, true])
        for (a, b) in zip(packets, packets.dropFirst()) { #expect(b.0.sequence == a.0.sequence &+ 1) }
        #expect(h.clock.playingCount == 0)
    }

    @Test func audioPausesForAKeyAndResumesInStep() throws {
        let h = try PlaybackTests.Harness()
        h.stream.eventPayloadType = 101
        h.stream.play(ClipPlayer([clip("long", 160 * 40)]))
        h.loop.advanceTime(by: .milliseconds(40))
        h.stream.sendDigits("1")
        for _ in 0..<14 { h.loop.advanceTime(by: .milliseconds(20)) }
        let packets = try h.sent()
        let audio = packets.filter { $0.0.payloadType == 0 }, events = packets.filter { $0.0.payloadType == 101 }
        #expect(events.count == 8 && audio.count >= 5)
        // The first audio packet after the key: its timestamp says 11 ticks passed since the last one before.
        let before = try #require(audio.last { $0.0.sequence &- events[0].0.sequence > 0x8000 })
        let after = try #require(audio.first { $0.0.sequence &- events[7].0.sequence < 0x8000 })
        #expect(after.0.timestamp &- before.0.timestamp == 12 * 160, "\(after.0.timestamp &- before.0.timestamp)")
        #expect(after.0.marker)
        // The prompt was paused, not skipped: the audio after the key continues where it stopped.
        #expect(after.1 == clip("long", 160 * 40).samples[(audio.firstIndex { $0.0.sequence == after.0.sequence }! * 160)...].prefix(160).map { G711.ulaw.encode($0) })
    }
}

@Suite struct HeldPlaybackTests {
    /// Held (the SDP says we may not send): the prompt runs on in silence, and the first packet
    /// after the hold carries the timestamp of the time that passed, counted once.
    @Test func whileHeldNothingLeavesAndTheTimelineStaysTrue() throws {
        let h = try PlaybackTests.Harness()
        h.stream.play(ClipPlayer([clip("long", 160 * 40)]))
        let first = try #require(try h.sent().first)
        h.stream.sending = false
        h.loop.advanceTime(by: .milliseconds(100))
        #expect(try h.sent().isEmpty)
        h.stream.sending = true
        h.loop.advanceTime(by: .milliseconds(20))
        let next = try #require(try h.sent().first)
        #expect(next.0.timestamp &- first.0.timestamp == 6 * 160 && next.0.sequence == first.0.sequence &+ 1 && next.0.marker)
        #expect(next.1 == clip("long", 160 * 40).samples[(6 * 160)..<(7 * 160)].map { G711.ulaw.encode($0) })
    }
}
