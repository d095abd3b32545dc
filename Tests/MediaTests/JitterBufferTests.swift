import Foundation
import Testing

@testable import Media

@Suite struct JitterBufferTests {
    /// Frame k of a 200 Hz tone (voiced-speech-like, so concealment has a pitch to repeat).
    func frame(_ k: Int) -> [Int16] {
        (0..<160).map { Int16(8000 * sin(2 * Double.pi * 200 * Double(k * 160 + $0) / 8000)) }
    }
    func encoded(_ k: Int) -> [UInt8] { frame(k).map { G711.ulaw.encode($0) } }
    func decoded(_ k: Int) -> [Int16] { encoded(k).map { G711.ulaw.decode($0) } }

    func insert(_ jb: JitterBuffer, _ k: Int, base: UInt16 = 65_520, arrival: Int64? = nil) {
        decoded(k).withUnsafeBufferPointer { jb.insert(sequence: base &+ UInt16(k), timestamp: UInt32(k * 160), arrival: arrival ?? Int64(k * 160), samples: $0) }
    }

    func pull(_ jb: JitterBuffer) -> (JitterBuffer.Outcome, [Int16]) {
        var out = [Int16](repeating: 0, count: 160)
        let o = out.withUnsafeMutableBufferPointer { jb.pull(into: $0) }
        return (o, out)
    }

    @Test func inOrderAudioComesOutAfterThePrefillAcrossTheSequenceWrap() {
        let jb = JitterBuffer()
        insert(jb, 0)
        #expect(pull(jb).0 == .silence, "one frame is less than the 2-frame target")
        insert(jb, 1)
        for k in 0..<40 {
            let (o, audio) = pull(jb)
            #expect(o == .audio && audio == decoded(k), "frame \(k)")
            insert(jb, k + 2)
        }
        #expect(jb.received == 42 && jb.concealed == 0 && jb.late == 0)
    }

    @Test func reorderedPacketsAreReorderedAndALostOneIsConcealed() {
        let jb = JitterBuffer(minDelay: 3)
        for k in [0, 2, 1, 3] { insert(jb, k) }
        var outcomes: [JitterBuffer.Outcome] = []
        var heard: [[Int16]] = []
        for k in 4..<20 {
            let (o, audio) = pull(jb)
            outcomes.append(o)
            heard.append(audio)
            if k != 8 { insert(jb, k) }  // frame 8 never arrives
        }
        #expect(heard[0..<8].enumerated().allSatisfy { $0.element == decoded($0.offset) })
        #expect(outcomes[8] == .concealed && jb.concealed == 1)
        // The concealment continues the tone rather than going silent.
        let energy = heard[8].reduce(0.0) { $0 + Double($1) * Double($1) } / 160
        #expect(energy.squareRoot() > 2000, "concealed frame rms \(energy.squareRoot())")
        // Frame 9 is blended with the end of the concealment; from frame 10 on the audio is exact again.
        #expect(outcomes[9] == .audio && heard[10] == decoded(10))
        #expect(outcomes.filter { $0 == .audio }.count == 15)
    }

    @Test func lateAndDuplicatePacketsAreCountedAndDropped() {
        let jb = JitterBuffer()
        for k in 0..<4 { insert(jb, k) }
        _ = pull(jb)
        _ = pull(jb)
        insert(jb, 0)  // already played
        insert(jb, 3)  // already waiting
        #expect(jb.late == 1 && jb.duplicates == 1)
        #expect(pull(jb).1 == decoded(2))
    }

    @Test func silenceFromTheFarEndRebuffersAndResumes() {
        let jb = JitterBuffer(maxConcealed: 3)
        for k in 0..<3 { insert(jb, k) }
        let outcomes = (0..<8).map { _ in pull(jb).0 }
        #expect(outcomes == [.audio, .audio, .audio, .concealed, .concealed, .concealed, .silence, .silence])
        #expect(jb.underruns == 1)
        // The far end comes back 200 frames later: playout starts again from there.
        insert(jb, 200)
        insert(jb, 201)
        insert(jb, 202)
        // The first frame is blended with the end of the concealment (spandsp's overlap-add);
        // the next is exact.
        #expect(pull(jb).0 == .audio)
        #expect(pull(jb) == (.audio, decoded(201)))
    }

    @Test func jitteryArrivalsRaiseTheTargetAndABacklogIsTrimmed() {
        let jb = JitterBuffer()
        // Every other packet 40 ms late: jitter around 320 units, so the target grows past 2.
        for k in 0..<30 { insert(jb, k, arrival: Int64(k * 160 + (k % 2) * 320)) }
        #expect(jb.jitter > 250)
        _ = pull(jb)
        #expect(jb.targetDelay >= 5)
        // 30 frames were waiting, far over the target: one is dropped per pull until the backlog
        // is within two of the target.
        for _ in 0..<10 { _ = pull(jb) }
        #expect(jb.dropped == 11 && jb.buffered == 8, "dropped \(jb.dropped), buffered \(jb.buffered), target \(jb.targetDelay)")
        for _ in 0..<5 { _ = pull(jb) }
        #expect(jb.dropped == 12 && jb.buffered == 2, "dropped \(jb.dropped), buffered \(jb.buffered)")
    }
}
