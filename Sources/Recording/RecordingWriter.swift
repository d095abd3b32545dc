import CSndFile
import Crypto
import Dispatch
import Foundation
import LockFree
import Synchronization

/// What became of a recording.
public struct RecordingResult: Sendable, Equatable {
    public var path: String
    /// Seconds of audio in the file.
    public var seconds: Double
    /// Frames the media loop could not hand over (writer behind) or that passed the maximum length.
    public var droppedFrames: Int
    /// Why the file could not be written, or stopped being written, if so.
    public var failure: String?
    /// Whether a file is there under `path`: a recording whose disk filled keeps what was written
    /// before, with a valid header; one that could not be opened has none.
    public var kept: Bool = false
    /// SHA-256 of the finished file, hex, when kept.
    public var sha256: String?
    /// Bytes of the finished file, when kept.
    public var bytes: Int = 0
}

/// The thread that writes recordings to disk with libsndfile: 8 kHz, 16-bit WAV, mono or stereo,
/// written as `<path>.part` and renamed when complete, so a file under its final name always has a
/// valid header. While recordings run it wakes every 100 ms, drains every recorder's ring, and
/// closes those that are finished; with none it waits to be given one.
///
/// A write that fails (a full disk, a file-size limit) stops that recording's writing at once: its
/// frames are drained and dropped from then on, `failed` is told (an alarm while the call still
/// runs), and at the end the file keeps what was written before, under its final name.
///
/// Registering a recorder takes a mutex: it happens once per recording, not per frame; frames
/// cross only through each recorder's lock-free ring.
public final class RecordingWriter: Sendable {
    private struct Active {
        let recorder: Recorder
        let file: OpaquePointer
        var frames: Int
        /// Samples of a frame cut short by a failed write (they are in the file).
        var partial = 0
        /// Frames past the recorder's maximum length.
        var over = 0
        /// Why writing stopped early, if it did.
        var failure: String?
        let failed: (@Sendable (String) -> Void)?
        let done: @Sendable (RecordingResult) -> Void
    }

    private struct Request {
        let recorder: Recorder
        let failed: (@Sendable (String) -> Void)?
        let done: @Sendable (RecordingResult) -> Void
    }

    /// Frames written per call of libsndfile; the wake-up interval lets about five gather (a
    /// ring holds 5.1 s, so a wake-up that is late by seconds still loses nothing).
    static let batchFrames = 16
    static let interval = 0.1

    private let pending = Mutex<[Request]>([])
    private let stopping = Mutex(false)
    private let stopped = DispatchSemaphore(value: 0)
    /// Wakes the idle thread: with nothing to write it sleeps here instead of every 20 ms.
    private let wake = DispatchSemaphore(value: 0)

    public init() {
        let thread = Thread { [self] in run() }
        thread.name = "recording-writer"
        thread.start()
    }

    /// Starts writing `recorder`; `done` runs on the writer thread when the file is complete, and
    /// `failed` as soon as a write fails, while the recording may still be running.
    public func start(
        _ recorder: Recorder, failed: (@Sendable (String) -> Void)? = nil, done: @escaping @Sendable (RecordingResult) -> Void
    ) {
        pending.withLock { $0.append(Request(recorder: recorder, failed: failed, done: done)) }
        wake.signal()
    }

    /// Finishes what is in progress and stops the thread.
    public func stop() {
        stopping.withLock { $0 = true }
        wake.signal()
        stopped.wait()
    }

    private func run() {
        var active: [Active] = []
        var batch = [Int16](repeating: 0, count: Self.batchFrames * Recorder.frameSamples * 2)
        var frameEnds = [Int](repeating: 0, count: Self.batchFrames)
        while true {
            let (fresh, stop) = (pending.withLock { p in defer { p.removeAll() }; return p }, stopping.withLock { $0 })
            for r in fresh {
                do {
                    let file = try Self.open(r.recorder.path + ".part", channels: r.recorder.channels)
                    active.append(Active(recorder: r.recorder, file: file, frames: 0, failed: r.failed, done: r.done))
                } catch let error as OpenError {
                    r.failed?(error.description)
                    r.done(RecordingResult(path: r.recorder.path, seconds: 0, droppedFrames: 0, failure: error.description))
                } catch {
                    r.failed?("\(error)")
                    r.done(RecordingResult(path: r.recorder.path, seconds: 0, droppedFrames: 0, failure: "\(error)"))
                }
            }
            var i = 0
            while i < active.count {
                let finishing = active[i].recorder.isFinishing  // read before draining: nothing is pushed after it
                var frames = active[i].frames
                let recorder = active[i].recorder
                let file = active[i].file
                var over = 0
                var failure = active[i].failure
                // Frames go to disk in batches: one write per recording per wake-up rather than one
                // per 20 ms frame (bench/README.md, "Recording throughput").
                while true {
                    var samples = 0
                    var inBatch = 0
                    while inBatch < Self.batchFrames, recorder.ring.pop({ frame in
                        for k in 0..<frame.count { batch[samples + k] = frame.samples[k] }
                        samples += frame.count
                        frameEnds[inBatch] = samples
                    }) {
                        inBatch += 1
                    }
                    if inBatch == 0 { break }
                    let keep = failure == nil ? min(inBatch, max(0, recorder.maxFrames - frames)) : 0
                    over += inBatch - keep
                    guard keep > 0 else { continue }
                    let count = frameEnds[keep - 1]
                    let written = Int(batch.withUnsafeBufferPointer { p in sf_write_short(file, p.baseAddress, sf_count_t(count)) })
                    if written == count {
                        frames += keep
                        continue
                    }
                    let why = String(cString: strerror(errno))
                    let whole = (0..<keep).filter { frameEnds[$0] <= max(0, written) }.count
                    frames += whole
                    over += keep - whole
                    let before = whole == 0 ? 0 : frameEnds[whole - 1]
                    if written > before { active[i].partial = (written - before) / recorder.channels }
                    failure = "write failed after \(Double(frames) / 50) s: \(why)"
                    active[i].failed?(failure!)
                }
                active[i].failure = failure
                active[i].frames = frames
                active[i].over += over
                if finishing || stop {
                    let a = active.remove(at: i)
                    a.done(Self.close(a))
                    continue
                }
                i += 1
            }
            if stop && active.isEmpty { break }
            if active.isEmpty {
                wake.wait()
            } else {
                Thread.sleep(forTimeInterval: Self.interval)
            }
        }
        stopped.signal()
    }

    struct OpenError: Error, CustomStringConvertible {
        var description: String
    }

    private static func open(_ path: String, channels: Int) throws -> OpaquePointer {
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw OpenError(description: "cannot create \(directory): \(error.localizedDescription)")
        }
        var info = SF_INFO()
        info.samplerate = 8000
        info.channels = Int32(channels)
        info.format = Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16)
        guard let file = sf_open(path, Int32(SFM_WRITE), &info) else {
            throw OpenError(description: "cannot create \(path): \(String(cString: sf_strerror(nil)))")
        }
        return file
    }

    private static func close(_ a: Active) -> RecordingResult {
        let path = a.recorder.path
        let error = sf_error(a.file)
        var failure = a.failure
        if failure == nil, error != 0 { failure = String(cString: sf_strerror(a.file)) }
        let closed = sf_close(a.file) == 0
        var result = RecordingResult(
            path: path, seconds: Double(a.frames * Recorder.frameSamples + a.partial) / 8000, droppedFrames: a.recorder.dropped + a.over, failure: failure)
        // What was written before a write failed is kept: libsndfile rewrites the header in place
        // on close, which needs no new space.
        guard closed, a.frames > 0 || failure == nil else {
            if failure == nil { result.failure = "cannot close \(path).part" }
            unlink(path + ".part")
            return result
        }
        guard rename(path + ".part", path) == 0 else {
            result.failure = result.failure ?? "cannot rename \(path).part: \(String(cString: strerror(errno)))"
            unlink(path + ".part")
            return result
        }
        result.kept = true
        if let (digest, bytes) = digest(path) {
            result.sha256 = digest
            result.bytes = bytes
        }
        return result
    }

    /// SHA-256 and size of a finished file, read back in 64 KiB pieces.
    static func digest(_ path: String) -> (String, Int)? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        var hash = SHA256()
        var bytes = 0
        while let chunk = try? handle.read(upToCount: 65_536), !chunk.isEmpty {
            hash.update(data: chunk)
            bytes += chunk.count
        }
        return (hash.finalize().map { String(format: "%02x", $0) }.joined(), bytes)
    }
}
