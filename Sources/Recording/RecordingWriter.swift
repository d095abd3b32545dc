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

/// The threads that write recordings to disk with libsndfile: 8 kHz, 16-bit WAV, mono or stereo,
/// written as `<path>.part` and renamed when complete, so a file under its final name always has a
/// valid header.
///
/// Two threads, so that file-system work never delays the frames already waiting:
/// - `recording-writer` drains: while recordings run it starts a pass every 100 ms and writes what
///   every recorder's ring holds; with none it waits to be given one.
/// - `recording-files` opens new files and closes finished ones (header, rename, SHA-256 read
///   back), opens first: a new recording's frames wait in its ring until its file is open.
///   Creating a file took about 0.9 ms on the bench machine's disk (ext4 without a journal,
///   which passes over recently deleted inodes one by one); when the same thread also drained,
///   opening 1,000 files at once held every ring for 0.9 s and dropped frames (bench/README.md,
///   "Recording writer").
///
/// A write that fails (a full disk, a file-size limit) stops that recording's writing at once: its
/// frames are drained and dropped from then on, `failed` is told (an alarm while the call still
/// runs), and at the end the file keeps what was written before, under its final name.
///
/// A recording and its file are owned by one thread at a time and cross between them through a
/// mutex, once when opened and once to be closed; frames cross only through each recorder's
/// lock-free ring.
public final class RecordingWriter: Sendable {
    /// A libsndfile handle. Unchecked: only the thread that currently owns the recording uses it.
    struct SoundFile: @unchecked Sendable {
        let handle: OpaquePointer
    }

    private struct Active: Sendable {
        let recorder: Recorder
        let file: SoundFile
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

    private struct Request: Sendable {
        let recorder: Recorder
        let failed: (@Sendable (String) -> Void)?
        let done: @Sendable (RecordingResult) -> Void
        /// When `start` was called (uptime ns).
        let asked: UInt64
    }

    /// Frames written per call of libsndfile; the wake-up interval lets about five gather.
    static let batchFrames = 16
    static let interval = 0.1

    /// Started, not yet opened (files thread's work, first).
    private let toOpen = Mutex<[Request]>([])
    /// Finished and drained, not yet closed (files thread's work, second).
    private let toClose = Mutex<[Active]>([])
    /// Opened, not yet taken by the drain thread.
    private let opened = Mutex<[Active]>([])
    /// Started and not yet taken by the drain thread (or failed to open): while any are, the
    /// drain thread does not stop.
    private let unopened = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let filesStopping = Atomic<Bool>(false)
    private let drainStopped = DispatchSemaphore(value: 0)
    private let filesStopped = DispatchSemaphore(value: 0)
    /// Wake the idle threads: with nothing to do they sleep here instead of polling.
    private let drainWake = DispatchSemaphore(value: 0)
    private let filesWake = DispatchSemaphore(value: 0)
    /// Longest time one drain pass over the recordings took, in ns. A recording loses frames when
    /// the gap between two visits (the longer of a pass and the interval) exceeds what its ring
    /// holds; this shows how close the writer came.
    private let longestPassNs = Atomic<Int>(0)
    private let passCount = Atomic<Int>(0)
    /// Longest wait from `start` until the recording's file was open and handed to the drain
    /// thread, in ns: its ring holds the frames meanwhile.
    private let longestOpenWaitNs = Atomic<Int>(0)
    private let openCount = Atomic<Int>(0)

    public init() {
        let drain = Thread { [self] in drainLoop() }
        drain.name = "recording-writer"
        drain.start()
        let files = Thread { [self] in filesLoop() }
        files.name = "recording-files"
        files.start()
    }

    /// Starts writing `recorder`; `done` runs on a writer thread when the file is complete, and
    /// `failed` as soon as a write fails, while the recording may still be running.
    public func start(
        _ recorder: Recorder, failed: (@Sendable (String) -> Void)? = nil, done: @escaping @Sendable (RecordingResult) -> Void
    ) {
        unopened.add(1, ordering: .sequentiallyConsistent)
        toOpen.withLock { $0.append(Request(recorder: recorder, failed: failed, done: done, asked: DispatchTime.now().uptimeNanoseconds)) }
        filesWake.signal()
    }

    /// Drain passes so far, the longest of them, and the longest wait for a file to be opened.
    public var passes: (count: Int, longestSeconds: Double, longestOpenWaitSeconds: Double) {
        (
            passCount.load(ordering: .relaxed), Double(longestPassNs.load(ordering: .relaxed)) / 1e9,
            Double(longestOpenWaitNs.load(ordering: .relaxed)) / 1e9
        )
    }

    /// Files opened so far.
    public var filesOpened: Int { openCount.load(ordering: .relaxed) }

    /// Finishes what is in progress (files still to be opened are opened, written and closed)
    /// and stops both threads.
    public func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        drainWake.signal()
        drainStopped.wait()
        filesStopping.store(true, ordering: .sequentiallyConsistent)
        filesWake.signal()
        filesStopped.wait()
    }

    private static func record(_ value: Int, into maximum: borrowing Atomic<Int>) {
        if value > maximum.load(ordering: .relaxed) { maximum.store(value, ordering: .relaxed) }
    }

    private func filesLoop() {
        while true {
            let requests = toOpen.withLock { p in defer { p.removeAll() }; return p }
            for r in requests {
                do {
                    let file = try Self.open(r.recorder.path + ".part", channels: r.recorder.channels)
                    let a = Active(recorder: r.recorder, file: SoundFile(handle: file), frames: 0, failed: r.failed, done: r.done)
                    opened.withLock { $0.append(a) }
                    openCount.add(1, ordering: .relaxed)
                    Self.record(Int(DispatchTime.now().uptimeNanoseconds - r.asked), into: longestOpenWaitNs)
                } catch {
                    let why = (error as? OpenError)?.description ?? "\(error)"
                    r.failed?(why)
                    r.done(RecordingResult(path: r.recorder.path, seconds: 0, droppedFrames: 0, failure: why))
                    unopened.subtract(1, ordering: .sequentiallyConsistent)
                }
                drainWake.signal()
            }
            if !requests.isEmpty { continue }
            // One close at a time, so that a recording started meanwhile is opened next.
            let closing = toClose.withLock { $0.isEmpty ? nil : $0.removeFirst() }
            if let a = closing {
                a.done(Self.close(a))
                continue
            }
            if filesStopping.load(ordering: .sequentiallyConsistent) { break }
            filesWake.wait()
        }
        filesStopped.signal()
    }

    private func drainLoop() {
        var active: [Active] = []
        var closing: [Active] = []
        var batch = [Int16](repeating: 0, count: Self.batchFrames * Recorder.frameSamples * 2)
        var frameEnds = [Int](repeating: 0, count: Self.batchFrames)
        // Drained blocks go back to their pools in batches: one hand-back per pool per pass (or
        // per 512 blocks), not one per frame.
        var handBack: [(pool: FramePool, blocks: [UnsafeMutablePointer<Int16>])] = []
        func giveBack(_ p: Int) {
            guard !handBack[p].blocks.isEmpty, handBack[p].pool.giveBack(handBack[p].blocks) else { return }
            handBack[p].blocks = []
            handBack[p].blocks.reserveCapacity(512)
        }
        while true {
            let passStart = DispatchTime.now().uptimeNanoseconds
            let stop = stopping.load(ordering: .sequentiallyConsistent)
            let fresh = opened.withLock { p in defer { p.removeAll() }; return p }
            if !fresh.isEmpty {
                active.append(contentsOf: fresh)
                unopened.subtract(fresh.count, ordering: .sequentiallyConsistent)
            }
            let worked = !active.isEmpty
            var i = 0
            while i < active.count {
                let finishing = active[i].recorder.isFinishing  // read before draining: nothing is pushed after it
                var frames = active[i].frames
                let recorder = active[i].recorder
                let file = active[i].file.handle
                var over = 0
                var failure = active[i].failure
                let pool: Int
                if let p = handBack.firstIndex(where: { $0.pool === recorder.pool }) {
                    pool = p
                } else {
                    pool = handBack.count
                    handBack.append((recorder.pool, []))
                }
                // Frames go to disk in batches: one write per recording per wake-up rather than one
                // per 20 ms frame (bench/README.md, "Recording throughput").
                while true {
                    var samples = 0
                    var inBatch = 0
                    // One block copy per frame: copying sample by sample through the array
                    // (bounds and uniqueness checks on each) was about half the writer's CPU.
                    batch.withUnsafeMutableBufferPointer { out in
                        while inBatch < Self.batchFrames, recorder.ring.pop({ frame in
                            let n = frame.count
                            let block = frame.block!
                            (out.baseAddress! + samples).update(from: block, count: n)
                            handBack[pool].blocks.append(block)
                            frame.block = nil
                            samples += n
                            frameEnds[inBatch] = samples
                        }) {
                            inBatch += 1
                        }
                    }
                    if inBatch == 0 { break }
                    if handBack[pool].blocks.count >= 512 { giveBack(pool) }
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
                    closing.append(active.remove(at: i))
                    continue
                }
                i += 1
            }
            for p in handBack.indices { giveBack(p) }
            // Pools no recording uses any more (their blocks all back) are let go.
            handBack.removeAll { entry in entry.blocks.isEmpty && !active.contains { $0.recorder.pool === entry.pool } }
            if !closing.isEmpty {
                let handed = closing
                closing.removeAll(keepingCapacity: true)
                toClose.withLock { $0.append(contentsOf: handed) }
                filesWake.signal()
            }
            if worked {
                // A wake-up with nothing to drain (a stale signal) is not a pass.
                Self.record(Int(DispatchTime.now().uptimeNanoseconds - passStart), into: longestPassNs)
                passCount.add(1, ordering: .relaxed)
            }
            if stop && active.isEmpty && unopened.load(ordering: .sequentiallyConsistent) == 0 { break }
            if active.isEmpty {
                drainWake.wait()
            } else {
                // Passes start every 100 ms, not 100 ms after the last one ended: a ring then
                // waits for one pass or the interval, whichever is longer, not for both. With
                // the pause after each pass, one pass of 226 ms on a saturated machine left some
                // 16-frame rings (0.32 s) waiting too long.
                let next = passStart + UInt64(Self.interval * 1e9)
                let now = DispatchTime.now().uptimeNanoseconds
                if next > now { Thread.sleep(forTimeInterval: Double(next - now) / 1e9) }
            }
        }
        drainStopped.signal()
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
        let error = sf_error(a.file.handle)
        var failure = a.failure
        if failure == nil, error != 0 { failure = String(cString: sf_strerror(a.file.handle)) }
        let closed = sf_close(a.file.handle) == 0
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
