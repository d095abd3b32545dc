import CSndFile
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
    /// Why the file could not be written, if it could not (the `.part` is then removed).
    public var failure: String?
}

/// The thread that writes recordings to disk with libsndfile: 8 kHz, 16-bit mono WAV, written as
/// `<path>.part` and renamed when complete, so a file under its final name always has a valid
/// header. While recordings run it wakes every 20 ms, drains every recorder's ring, and closes
/// those that are finished; with none it waits to be given one.
///
/// Registering a recorder takes a mutex: it happens once per recording, not per frame; frames
/// cross only through each recorder's lock-free ring.
public final class RecordingWriter: Sendable {
    private struct Active {
        let recorder: Recorder
        let file: OpaquePointer
        var frames: Int
        /// Frames past the recorder's maximum length.
        var over = 0
        let done: @Sendable (RecordingResult) -> Void
    }

    private let pending = Mutex<[(Recorder, @Sendable (RecordingResult) -> Void)]>([])
    private let stopping = Mutex(false)
    private let stopped = DispatchSemaphore(value: 0)
    /// Wakes the idle thread: with nothing to write it sleeps here instead of every 20 ms.
    private let wake = DispatchSemaphore(value: 0)

    public init() {
        let thread = Thread { [self] in run() }
        thread.name = "recording-writer"
        thread.start()
    }

    /// Starts writing `recorder`; `done` runs on the writer thread when the file is complete.
    public func start(_ recorder: Recorder, done: @escaping @Sendable (RecordingResult) -> Void) {
        pending.withLock { $0.append((recorder, done)) }
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
        var scratch = [Int16](repeating: 0, count: Recorder.frameSamples)
        while true {
            let (fresh, stop) = (pending.withLock { p in defer { p.removeAll() }; return p }, stopping.withLock { $0 })
            for (recorder, done) in fresh {
                do {
                    active.append(Active(recorder: recorder, file: try Self.open(recorder.path + ".part"), frames: 0, done: done))
                } catch let error as OpenError {
                    done(RecordingResult(path: recorder.path, seconds: 0, droppedFrames: 0, failure: error.description))
                } catch {
                    done(RecordingResult(path: recorder.path, seconds: 0, droppedFrames: 0, failure: "\(error)"))
                }
            }
            var i = 0
            while i < active.count {
                let finishing = active[i].recorder.isFinishing  // read before draining: nothing is pushed after it
                var frames = active[i].frames
                let recorder = active[i].recorder
                let file = active[i].file
                var over = 0
                var n = 0
                while recorder.ring.pop({ frame in
                    n = frame.count
                    for k in 0..<n { scratch[k] = frame.samples[k] }
                }) {
                    if frames < recorder.maxFrames {
                        scratch.withUnsafeBufferPointer { p in _ = sf_write_short(file, p.baseAddress, sf_count_t(n)) }
                        frames += 1
                    } else {
                        over += 1
                    }
                }
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
                Thread.sleep(forTimeInterval: 0.02)
            }
        }
        stopped.signal()
    }

    struct OpenError: Error, CustomStringConvertible {
        var description: String
    }

    private static func open(_ path: String) throws -> OpaquePointer {
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw OpenError(description: "cannot create \(directory): \(error.localizedDescription)")
        }
        var info = SF_INFO()
        info.samplerate = 8000
        info.channels = 1
        info.format = Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16)
        guard let file = sf_open(path, Int32(SFM_WRITE), &info) else {
            throw OpenError(description: "cannot create \(path): \(String(cString: sf_strerror(nil)))")
        }
        return file
    }

    private static func close(_ a: Active) -> RecordingResult {
        let path = a.recorder.path
        let error = sf_error(a.file)
        let message = error == 0 ? nil : String(cString: sf_strerror(a.file))
        sf_close(a.file)
        var result = RecordingResult(
            path: path, seconds: Double(a.frames * Recorder.frameSamples) / 8000, droppedFrames: a.recorder.dropped + a.over, failure: message)
        if message == nil {
            if rename(path + ".part", path) != 0 { result.failure = "cannot rename \(path).part: \(String(cString: strerror(errno)))" }
        }
        if result.failure != nil { unlink(path + ".part") }
        return result
    }
}
