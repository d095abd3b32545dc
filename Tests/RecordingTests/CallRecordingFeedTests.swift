import Testing

@testable import Recording

/// The feed's timeline rules, driven tick by tick with no writer: frames are read straight from
/// the recorder's ring.
@Suite struct CallRecordingFeedTests {
    func frame(_ value: Int16, _ count: Int = 160) -> [Int16] { [Int16](repeating: value, count: count) }

    /// Pops everything the feed handed to the recorder.
    func drain(_ recorder: Recorder) -> [[Int16]] {
        var frames: [[Int16]] = []
        var blocks: [UnsafeMutablePointer<Int16>] = []
        while recorder.ring.pop({ f in
            frames.append(Array(UnsafeBufferPointer(start: f.block, count: f.count)))
            blocks.append(f.block!)
        }) {}
        #expect(recorder.pool.giveBack(blocks))
        return frames
    }

    func left(_ f: [Int16]) -> [Int16] { stride(from: 0, to: f.count, by: 2).map { f[$0] } }
    func right(_ f: [Int16]) -> [Int16] { stride(from: 1, to: f.count, by: 2).map { f[$0] } }

    @Test func eachSideGoesToItsChannelAfterThePrefill() {
        let recorder = Recorder(path: "/unused", maxSeconds: 60, channels: 2)
        let feed = CallRecordingFeed(recorder: recorder)
        feed.take(.caller, frame(100))
        feed.tick()  // one frame is not yet the prefill of two: silence
        feed.take(.caller, frame(101))
        feed.take(.agent, frame(-7))
        feed.take(.agent, frame(-8))
        feed.tick()
        feed.tick()
        let frames = drain(recorder)
        #expect(frames.count == 3)
        #expect(frames.allSatisfy { $0.count == 320 })
        #expect(left(frames[0]) == frame(0) && right(frames[0]) == frame(0))
        #expect(left(frames[1]) == frame(100) && right(frames[1]) == frame(-7))
        #expect(left(frames[2]) == frame(101) && right(frames[2]) == frame(-8))
    }

    /// A side that sends nothing (a phone on hold, a pause in packets) is silence, one frame per
    /// tick, so the file keeps the call's length; it starts again after a new prefill.
    @Test func aSilentSideIsSilenceAndTheTimelineKeepsItsLength() {
        let recorder = Recorder(path: "/unused", maxSeconds: 60, channels: 2)
        let feed = CallRecordingFeed(recorder: recorder)
        for v in Int16(1)...3 { feed.take(.caller, frame(v)) }
        for _ in 0..<10 { feed.tick() }
        for v in Int16(4)...5 { feed.take(.caller, frame(v)) }
        feed.tick()
        let frames = drain(recorder)
        #expect(frames.count == 11)
        #expect(frames.map { left($0)[0] } == [1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 4])
        #expect(frames.allSatisfy { right($0) == frame(0) })
    }

    /// A side that runs ahead (its clock is fast, or a burst) is trimmed back to the prefill,
    /// dropping its oldest audio, so the channels stay within a few frames of each other.
    @Test func aSideThatRunsAheadIsTrimmedToThePrefill() {
        let recorder = Recorder(path: "/unused", maxSeconds: 60, channels: 2)
        let feed = CallRecordingFeed(recorder: recorder, prefillFrames: 2, ceilingFrames: 8)
        for v in Int16(1)...9 { feed.take(.agent, frame(v)) }
        #expect(feed.trimmedSamples == 7 * 160)
        feed.tick()
        feed.tick()
        feed.tick()
        let frames = drain(recorder)
        #expect(frames.map { right($0)[0] } == [8, 9, 0])
    }

    @Test func aPauseWritesSilenceInPlaceOfBothSides() {
        let recorder = Recorder(path: "/unused", maxSeconds: 60, channels: 2)
        let feed = CallRecordingFeed(recorder: recorder)
        for v in Int16(1)...4 {
            feed.take(.caller, frame(v))
            feed.take(.agent, frame(-v))
        }
        feed.tick()
        recorder.isPaused = true
        feed.tick()
        feed.tick()
        recorder.isPaused = false
        feed.tick()
        let frames = drain(recorder)
        #expect(frames.map { left($0)[0] } == [1, 0, 0, 4])
        #expect(frames.map { right($0)[0] } == [-1, 0, 0, -4])
    }

    @Test func monoMixesTheTwoSides() {
        let recorder = Recorder(path: "/unused", maxSeconds: 60, channels: 1)
        let feed = CallRecordingFeed(recorder: recorder, prefillFrames: 1)
        feed.take(.caller, frame(30_000))
        feed.take(.agent, frame(10_000))
        feed.tick()
        feed.take(.caller, frame(5))
        feed.take(.agent, frame(-2))
        feed.tick()
        let frames = drain(recorder)
        #expect(frames.count == 2 && frames[0].count == 160)
        #expect(frames[0][0] == Int16.max, "a sum past full scale is clipped, not wrapped")
        #expect(frames[1] == frame(3))
    }

    /// A conference's third party is mixed into the agent's channel (stereo) or into the one
    /// channel (mono); once cleared, only the two sides remain.
    @Test func theThirdOfAConferenceSharesTheAgentsChannel() {
        let stereo = Recorder(path: "/unused", maxSeconds: 60, channels: 2)
        let feed = CallRecordingFeed(recorder: stereo, prefillFrames: 1)
        feed.take(.caller, frame(100))
        feed.take(.agent, frame(-7))
        feed.take(.party, frame(30))
        feed.tick()
        feed.take(.party, frame(32_000))
        feed.take(.agent, frame(32_000))
        feed.tick()
        feed.take(.party, frame(5))
        feed.clear(.party)
        feed.take(.agent, frame(9))
        feed.tick()
        let frames = drain(stereo)
        #expect(left(frames[0]) == frame(100) && right(frames[0]) == frame(23))
        #expect(right(frames[1]) == frame(Int16.max), "clipped, not wrapped")
        #expect(right(frames[2]) == frame(9), "the cleared party is gone")

        let mono = Recorder(path: "/unused", maxSeconds: 60, channels: 1)
        let three = CallRecordingFeed(recorder: mono, prefillFrames: 1)
        three.take(.caller, frame(1))
        three.take(.agent, frame(2))
        three.take(.party, frame(4))
        three.tick()
        #expect(drain(mono).first == frame(7))
    }

    /// Packets longer or shorter than 20 ms are cut into frames by the clock, not by the packet.
    @Test func packetSizesDoNotMatter() {
        let recorder = Recorder(path: "/unused", maxSeconds: 60, channels: 2)
        let feed = CallRecordingFeed(recorder: recorder)
        let ramp = (0..<800).map { Int16($0) }
        feed.take(.caller, ramp[0..<240])
        feed.take(.caller, ramp[240..<800])
        for _ in 0..<5 { feed.tick() }
        let frames = drain(recorder)
        #expect(frames.flatMap { left($0) } == ramp)
    }

    /// Thousands of samples through the FIFOs, in packets of sizes that do not divide the FIFO:
    /// its start and end meet at every place, and every sample still comes out once, in order,
    /// on its side's channel.
    @Test func samplesKeepTheirOrderWhereTheFIFOWrapsAround() {
        let recorder = Recorder(path: "/unused", maxSeconds: 600, channels: 2, bufferFrames: 1024)
        let feed = CallRecordingFeed(recorder: recorder, prefillFrames: 1)
        let callerRamp = (0..<16_000).map { Int16($0) }
        let agentRamp = callerRamp.map { -$0 }
        var at = 0
        var frames: [[Int16]] = []
        for packet in 0..<100 {
            // 160 samples a tick on average, as 170 and 150 in turn: never short of a frame.
            let n = packet % 2 == 0 ? 170 : 150
            feed.take(.caller, callerRamp[at..<(at + n)])
            feed.take(.agent, agentRamp[at..<(at + n)])
            at += n
            feed.tick()
            frames += drain(recorder)
        }
        #expect(feed.trimmedSamples == 0)
        // Compared first, so that a failure does not print 32,000 samples.
        let callerOK = frames.flatMap { left($0) } == callerRamp
        let agentOK = frames.flatMap { right($0) } == agentRamp
        #expect(callerOK && agentOK, "\(frames.count) frames")
    }

    /// One burst longer than the FIFO: only the newest prefill stays, the rest is counted.
    @Test func aBurstLongerThanTheFIFOKeepsTheNewestPrefill() {
        let recorder = Recorder(path: "/unused", maxSeconds: 60, channels: 2)
        let feed = CallRecordingFeed(recorder: recorder, prefillFrames: 1)
        let ramp = (0..<3_000).map { Int16($0) }
        feed.take(.caller, ramp)
        feed.tick()
        #expect(feed.trimmedSamples == 2_840)
        #expect(drain(recorder).flatMap { left($0) } == Array(ramp[2_840...]))
    }
}

extension CallRecordingFeed {
    func take(_ side: Side, _ samples: [Int16]) { samples.withUnsafeBufferPointer { take(side, $0) } }
    func take(_ side: Side, _ samples: ArraySlice<Int16>) { samples.withUnsafeBufferPointer { take(side, $0) } }
}
