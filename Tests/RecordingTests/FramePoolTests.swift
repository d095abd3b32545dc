import CSndFile
import Foundation
import Testing

@testable import Recording

/// The shared frame pool: memory follows what waits, an exhausted pool drops and counts, and
/// blocks come back from the writer to be used again, with every sample where it belongs.
@Suite(.serialized) struct FramePoolTests {
    func frame(_ value: Int, channels: Int = 1) -> [Int16] {
        (0..<(160 * channels)).map { Int16(truncatingIfNeeded: value * 1000 + $0) }
    }

    func tempDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("pool-\(UUID().uuidString.prefix(8))").path
    }

    func samples(_ path: String) throws -> [Int16] {
        var info = SF_INFO()
        let file = try #require(sf_open(path, Int32(SFM_READ), &info), "cannot open \(path)")
        defer { sf_close(file) }
        var out = [Int16](repeating: 0, count: Int(info.frames) * Int(info.channels))
        _ = out.withUnsafeMutableBufferPointer { sf_read_short(file, $0.baseAddress, sf_count_t($0.count)) }
        return out
    }

    /// Waits (up to 5 s) until `done` holds.
    func wait(_ done: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            if done() { return true }
            usleep(5_000)
        }
        return done()
    }

    @Test func anExhaustedPoolDropsAndCountsAndRecoversOnceBlocksComeBack() {
        let pool = FramePool(maxBlocks: 4)
        let recorder = Recorder(path: "/unused", maxSeconds: 60, bufferFrames: 16, pool: pool)
        var accepted = 0
        for v in 0..<6 where frame(v).withUnsafeBufferPointer({ recorder.write($0) }) { accepted += 1 }
        #expect(accepted == 4 && recorder.dropped == 2 && pool.blocksAllocated == 4)
        // The consumer's side: drain, hand the blocks back.
        var blocks: [UnsafeMutablePointer<Int16>] = []
        var firsts: [Int16] = []
        while recorder.ring.pop({ f in
            firsts.append(f.block![0])
            blocks.append(f.block!)
        }) {}
        #expect(firsts == [0, 1000, 2000, 3000])
        #expect(pool.giveBack(blocks))
        for v in 6..<10 { #expect(frame(v).withUnsafeBufferPointer { recorder.write($0) }) }
        #expect(recorder.dropped == 2 && pool.blocksAllocated == 4)
    }

    /// A recording whose file never opened is never drained: when it goes, its frames' blocks
    /// must go back to the pool, or a failing disk would shrink the pool for good.
    @Test func aRecordingThatGoesUndrainedGivesItsBlocksBack() {
        let pool = FramePool(maxBlocks: 8)
        do {
            let lost = Recorder(path: "/unused", maxSeconds: 60, bufferFrames: 16, pool: pool)
            for v in 0..<8 { #expect(frame(v).withUnsafeBufferPointer { lost.write($0) }) }
        }
        let next = Recorder(path: "/unused", maxSeconds: 60, bufferFrames: 16, pool: pool)
        for v in 0..<8 { #expect(frame(v).withUnsafeBufferPointer { next.write($0) }) }
        #expect(next.dropped == 0 && pool.blocksAllocated == 8)
    }

    @Test func aFullRingKeepsItsBlockForTheNextFrame() {
        let pool = FramePool()
        let recorder = Recorder(path: "/unused", maxSeconds: 60, bufferFrames: 4, pool: pool)
        for v in 0..<200 { _ = frame(v).withUnsafeBufferPointer { recorder.write($0) } }
        #expect(recorder.dropped == 196)
        // 196 refused frames took their block back each time: one chunk was ever allocated.
        #expect(pool.blocksAllocated == FramePool.chunkBlocks)
    }

    /// Twenty stereo recordings share one pool, fed in rounds of five frames each; between rounds
    /// the writer drains them. Every file must hold exactly its own frames, and the pool must stay
    /// at what one round needs (100 blocks, so two chunks), not grow with the 1,000 frames written.
    @Test func recordingsSharingAPoolGetTheirOwnFramesAndThePoolStaysSmall() throws {
        let directory = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let writer = RecordingWriter()
        defer { writer.stop() }
        let pool = FramePool()
        let recorders = (0..<20).map { Recorder(path: "\(directory)/\($0).wav", maxSeconds: 60, channels: 2, bufferFrames: 64, pool: pool) }
        let results = Results()
        for r in recorders { writer.start(r) { results.add($0) } }
        #expect(wait { writer.filesOpened == 20 })
        var sent = [[Int16]](repeating: [], count: 20)
        for round in 0..<10 {
            for (n, r) in recorders.enumerated() {
                for k in 0..<5 {
                    let f = frame(n * 100 + round * 5 + k, channels: 2)
                    sent[n] += f
                    #expect(f.withUnsafeBufferPointer { r.write($0) })
                }
            }
            // Drained, then one whole pass more (the pass that drained hands the blocks back).
            #expect(wait { recorders.allSatisfy { $0.ring.count == 0 } })
            let passes = writer.passes.count
            #expect(wait { writer.passes.count >= passes + 2 })
        }
        for r in recorders { r.finish() }
        #expect(wait { results.count == 20 })
        #expect(pool.blocksAllocated == 2 * FramePool.chunkBlocks)
        for (n, r) in recorders.enumerated() {
            #expect(try samples(r.path) == sent[n], "recording \(n)")
        }
        #expect(results.all.allSatisfy { $0.failure == nil && $0.droppedFrames == 0 })
    }

    final class Results: @unchecked Sendable {
        private let lock = NSLock()
        private var list: [RecordingResult] = []
        func add(_ r: RecordingResult) { lock.withLock { list.append(r) } }
        var count: Int { lock.withLock { list.count } }
        var all: [RecordingResult] { lock.withLock { list } }
    }
}
