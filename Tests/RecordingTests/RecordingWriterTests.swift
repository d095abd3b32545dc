import CSndFile
import Foundation
import Testing

@testable import Recording

@Suite(.serialized) struct RecordingWriterTests {
    func tempPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("rec-\(UUID().uuidString.prefix(8))/\(name)").path
    }

    /// Reads a WAV back with libsndfile.
    func read(_ path: String) throws -> (rate: Int32, channels: Int32, samples: [Int16]) {
        var info = SF_INFO()
        let file = try #require(sf_open(path, Int32(SFM_READ), &info), "cannot open \(path)")
        var samples = [Int16](repeating: 0, count: Int(info.frames) * Int(info.channels))
        _ = samples.withUnsafeMutableBufferPointer { sf_read_short(file, $0.baseAddress, sf_count_t($0.count)) }
        sf_close(file)
        return (info.samplerate, info.channels, samples)
    }

    func waitFor(_ box: ResultBox) -> RecordingResult? {
        let deadline = Date().addingTimeInterval(3)
        while Date() < deadline {
            if let r = box.value { return r }
            usleep(10_000)
        }
        return nil
    }

    final class ResultBox: @unchecked Sendable {
        private let lock = NSLock()
        private var result: RecordingResult?
        var value: RecordingResult? { lock.withLock { result } }
        func set(_ r: RecordingResult) { lock.withLock { result = r } }
    }

    func frames(_ count: Int) -> [[Int16]] {
        (0..<count).map { f in (0..<160).map { i in Int16(truncatingIfNeeded: (f * 160 + i) * 37 % 20000 - 10000) } }
    }

    @Test func framesBecomeAValidWAVUnderItsFinalNameOnly() throws {
        let writer = RecordingWriter()
        defer { writer.stop() }
        let path = tempPath("a.wav")
        let recorder = Recorder(path: path, maxSeconds: 60)
        let box = ResultBox()
        writer.start(recorder) { box.set($0) }
        let sent = frames(100)
        for f in sent {
            f.withUnsafeBufferPointer { _ = recorder.write($0) }
            usleep(1000)
        }
        #expect(!FileManager.default.fileExists(atPath: path), "the final name exists before the recording is complete")
        recorder.finish()
        let result = try #require(waitFor(box))
        #expect(result.failure == nil && result.seconds == 2.0 && result.droppedFrames == 0)
        let wav = try read(path)
        #expect(wav.rate == 8000 && wav.channels == 1)
        #expect(wav.samples == sent.flatMap { $0 })
        #expect(!FileManager.default.fileExists(atPath: path + ".part"))
    }

    @Test func theMaximumLengthIsKeptAndTheRestCounted() throws {
        let writer = RecordingWriter()
        defer { writer.stop() }
        let path = tempPath("b.wav")
        let recorder = Recorder(path: path, maxSeconds: 1)
        let box = ResultBox()
        writer.start(recorder) { box.set($0) }
        for f in frames(70) {
            f.withUnsafeBufferPointer { _ = recorder.write($0) }
            usleep(500)
        }
        recorder.finish()
        let result = try #require(waitFor(box))
        #expect(result.seconds == 1.0 && result.droppedFrames == 20)
        #expect(try read(path).samples.count == 8000)
    }

    /// A writer that cannot keep up: the producer never waits; frames past the ring's room are
    /// dropped and counted, and what was handed over is written.
    @Test func aFullRingDropsAndCountsInsteadOfWaiting() throws {
        let writer = RecordingWriter()
        defer { writer.stop() }
        let path = tempPath("c.wav")
        let recorder = Recorder(path: path, maxSeconds: 60, bufferFrames: 4)
        var accepted = 0
        for f in frames(50) { if f.withUnsafeBufferPointer({ recorder.write($0) }) { accepted += 1 } }
        #expect(accepted >= 4 && accepted < 50)
        #expect(recorder.dropped == 50 - accepted)
        let box = ResultBox()
        writer.start(recorder) { box.set($0) }
        recorder.finish()
        let result = try #require(waitFor(box))
        #expect(result.droppedFrames == 50 - accepted)
        #expect(try read(path).samples.count == accepted * 160)
    }

    /// A file whose creation hangs (here a FIFO with no reader yet, which blocks `open` the way a
    /// stalled disk would) must not stop the recordings already running from being written.
    @Test func aFileThatWillNotOpenDoesNotHoldUpTheOthers() throws {
        let writer = RecordingWriter()
        defer { writer.stop() }
        let pathA = tempPath("a.wav")
        let a = Recorder(path: pathA, maxSeconds: 60, bufferFrames: 64)
        let boxA = ResultBox()
        writer.start(a) { boxA.set($0) }
        let deadline = Date().addingTimeInterval(5)
        while !FileManager.default.fileExists(atPath: pathA + ".part"), Date() < deadline { usleep(5_000) }
        #expect(FileManager.default.fileExists(atPath: pathA + ".part"))

        let pathB = tempPath("b.wav")
        try FileManager.default.createDirectory(atPath: (pathB as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        #expect(mkfifo(pathB + ".part", 0o600) == 0)
        let b = Recorder(path: pathB, maxSeconds: 60)
        let boxB = ResultBox()
        writer.start(b) { boxB.set($0) }
        usleep(100_000)  // the files thread is now inside open() for B

        let sent = frames(50)
        for f in sent { f.withUnsafeBufferPointer { _ = a.write($0) } }
        let wanted = 44 + 50 * 160 * 2
        var size = 0
        while size < wanted, Date() < deadline.addingTimeInterval(5) {
            size = (try? FileManager.default.attributesOfItem(atPath: pathA + ".part")[.size] as? Int) ?? 0
            usleep(10_000)
        }
        #expect(size >= wanted, "A's frames were not written while B's file could not be opened (\(size) bytes)")
        #expect(boxB.value == nil, "B's open was expected to still be blocked")

        // Release B: a reader lets open() return; libsndfile then refuses a pipe for WAV.
        let reader = open(pathB + ".part", O_RDONLY | O_NONBLOCK)
        #expect(reader >= 0)
        b.finish()
        let resultB = try #require(waitFor(boxB))
        close(reader)
        #expect(resultB.failure?.contains("cannot create") == true, "\(String(describing: resultB.failure))")

        a.finish()
        let resultA = try #require(waitFor(boxA))
        #expect(resultA.failure == nil && resultA.droppedFrames == 0 && resultA.seconds == 1.0)
        #expect(try read(pathA).samples == sent.flatMap { $0 })
    }

    @Test func anUnwritablePlaceIsAFailureWithTheReason() throws {
        let writer = RecordingWriter()
        defer { writer.stop() }
        let blocker = tempPath("file")
        try FileManager.default.createDirectory(atPath: (blocker as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: blocker))
        let recorder = Recorder(path: "\(blocker)/inside/d.wav", maxSeconds: 5)
        let box = ResultBox()
        writer.start(recorder) { box.set($0) }
        recorder.finish()
        let result = try #require(waitFor(box))
        #expect(result.failure?.contains("cannot create") == true, "\(String(describing: result.failure))")
    }

    @Test func aFinishedFileCarriesItsSHA256AndSize() throws {
        let writer = RecordingWriter()
        defer { writer.stop() }
        let path = tempPath("e.wav")
        let recorder = Recorder(path: path, maxSeconds: 60)
        let box = ResultBox()
        writer.start(recorder) { box.set($0) }
        for f in frames(10) { f.withUnsafeBufferPointer { _ = recorder.write($0) } }
        recorder.finish()
        let result = try #require(waitFor(box))
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(result.kept && result.bytes == data.count)
        // Checked against an independent implementation: coreutils' sha256sum.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        p.arguments = [path]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        p.waitUntilExit()
        let expected = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).prefix(64)
        #expect(result.sha256 == String(expected))
    }

    @Test func stereoFramesKeepTheirChannels() throws {
        let writer = RecordingWriter()
        defer { writer.stop() }
        let path = tempPath("s.wav")
        let recorder = Recorder(path: path, maxSeconds: 60, channels: 2)
        let box = ResultBox()
        writer.start(recorder) { box.set($0) }
        var sent: [Int16] = []
        for f in 0..<20 {
            let frame = (0..<320).map { i in Int16(i % 2 == 0 ? f * 10 + 1 : -(f * 10 + 2)) }
            sent += frame
            frame.withUnsafeBufferPointer { _ = recorder.write($0) }
        }
        recorder.finish()
        let result = try #require(waitFor(box))
        #expect(result.seconds == 0.4)
        let wav = try read(path)
        #expect(wav.channels == 2 && wav.samples == sent)
    }

    /// A disk that fills in the middle (a 64 KiB tmpfs): the writer says so at once, drops the rest
    /// (counted), and keeps what fitted as a valid WAV under the final name.
    @Test func aDiskThatFillsStopsTheWritingAndKeepsWhatFitted() throws {
        let mountPoint = tempPath("small")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        try #require(run("/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mountPoint]) == 0, "mounting a 64 KiB tmpfs needs root (make test runs as root)")
        defer { _ = run("/bin/umount", [mountPoint]) }
        let writer = RecordingWriter()
        defer { writer.stop() }
        let path = mountPoint + "/full.wav"
        let recorder = Recorder(path: path, maxSeconds: 60, channels: 2)
        let box = ResultBox()
        let alarm = ResultBox()
        writer.start(recorder, failed: { why in alarm.set(RecordingResult(path: path, seconds: 0, droppedFrames: 0, failure: why)) }) { box.set($0) }
        // 3 s of stereo is 96 KiB: more than the disk holds.
        let frame = (0..<320).map { Int16($0) }
        for _ in 0..<150 {
            frame.withUnsafeBufferPointer { _ = recorder.write($0) }
            usleep(2000)
        }
        let early = alarm.value
        #expect(early?.failure?.contains("No space left") == true, "the failure is told while the recording runs: \(String(describing: early))")
        recorder.finish()
        let result = try #require(waitFor(box))
        #expect(result.failure?.contains("write failed") == true)
        #expect(result.kept && result.seconds > 0.5 && result.seconds < 2.1)
        #expect(result.droppedFrames == 150 - Int(result.seconds * 50))
        let wav = try read(path)
        #expect(wav.channels == 2 && wav.samples.count == Int((result.seconds * 8000).rounded()) * 2, "\(wav.samples.count) samples, \(result.seconds) s")
    }

    func run(_ tool: String, _ arguments: [String]) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        guard (try? p.run()) != nil else { return -1 }
        p.waitUntilExit()
        return p.terminationStatus
    }
}
