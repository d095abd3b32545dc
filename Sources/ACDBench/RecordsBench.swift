import Control
import CRMBridge
import Foundation
import Logging
import Recording
import Store

/// Recording throughput, and the write rates of call-detail records and the CRM outbox.
enum RecordsBench {
    /// `calls` stereo recordings at once, fed in real time by one producer thread (as a media
    /// loop would: one 20 ms frame per call per tick) for `seconds`; the writer drains them to
    /// `directory`. Reports how long opening the files took, frames dropped (the writer fell
    /// behind) in total and per second, the longest drain pass, CPU time and bytes on disk per
    /// call-minute.
    static func recording(calls: Int, seconds: Int, directory: String, bufferFrames: Int = 256) {
        try? FileManager.default.removeItem(atPath: directory)
        let writer = RecordingWriter()
        let done = DispatchSemaphore(value: 0)
        let results = ResultList()
        let recorders = (0..<calls).map { Recorder(path: "\(directory)/\($0).wav", maxSeconds: 3600, channels: 2, bufferFrames: bufferFrames) }
        for r in recorders {
            writer.start(r) { result in
                results.add(result)
                done.signal()
            }
        }
        // The daemon opens files at its call rate, never thousands at once: so every file is
        // opened first (and the time that took reported), and the run measures the writing.
        let openStart = DispatchTime.now().uptimeNanoseconds
        let openDeadline = openStart + 120_000_000_000
        while writer.filesOpened < calls, DispatchTime.now().uptimeNanoseconds < openDeadline { usleep(10_000) }
        let openSeconds = Double(DispatchTime.now().uptimeNanoseconds - openStart) / 1e9
        let frame = (0..<320).map { Int16(truncatingIfNeeded: $0 * 97) }
        let ticks = seconds * 50
        let start = DispatchTime.now().uptimeNanoseconds
        let cpuBefore = threadCPU()
        var late = 0
        // Frames dropped in each second, to tell a start-up burst from stalls during the run.
        var droppedPerSecond: [Int] = []
        var droppedSoFar = 0
        frame.withUnsafeBufferPointer { f in
            for tick in 0..<ticks {
                if tick % 50 == 49 {
                    let total = recorders.reduce(0) { $0 + $1.dropped }
                    droppedPerSecond.append(total - droppedSoFar)
                    droppedSoFar = total
                }
                for r in recorders { r.write(f) }
                let next = start + UInt64(tick + 1) * 20_000_000
                let now = DispatchTime.now().uptimeNanoseconds
                if now < next { usleep(UInt32((next - now) / 1000)) } else { late += 1 }
            }
        }
        for r in recorders { r.finish() }
        for _ in recorders { done.wait() }
        let producerCPU = threadCPU() - cpuBefore
        let passes = writer.passes
        writer.stop()
        let all = results.all
        let dropped = all.reduce(0) { $0 + $1.droppedFrames }
        let failed = all.filter { $0.failure != nil }.count
        let bytes = all.reduce(0) { $0 + $1.bytes }
        let minutes = Double(calls * seconds) / 60
        let processCPU = processCPUSeconds()
        print(
            String(
                format: "recording buffer_frames=\(bufferFrames) calls=%d seconds=%d dropped_frames=%d failed=%d late_ticks=%d bytes_per_call_minute=%.0f process_cpu_s=%.2f producer_cpu_s=%.2f",
                calls, seconds, dropped, failed, late, Double(bytes) / minutes, processCPU, producerCPU))
        print(
            "  opening \(calls) files took \(Int(openSeconds * 1000)) ms; writer: \(passes.count) passes, longest \(Int(passes.longestSeconds * 1000)) ms;"
                + " dropped per second: \(droppedPerSecond.map(String.init).joined(separator: " "))")
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// `count` call-detail records through `CallRecordWriter` into a fresh database, appended as
    /// fast as one thread can; then the same number of outbox events. Records per second, from
    /// the first append to the commit of the last.
    static func writes(count: Int, runs: Int, directory: String) {
        var cdrRates: [Double] = []
        var outboxRates: [Double] = []
        for run in 1...runs {
            try? FileManager.default.removeItem(atPath: directory)
            let database = try! ACDDatabase(path: "\(directory)/acdd.sqlite")
            let writer = CallRecordWriter(database: database, logger: Logger(label: "bench"))
            var start = DispatchTime.now().uptimeNanoseconds
            for i in 0..<count {
                writer.append(
                    CallDetailRecord(
                        uniqueID: "\(run).\(i)", sipCallID: "c\(i)@bench", caller: "0301234567", called: "100", trunk: "carrier", start: 1_795_392_000,
                        answer: 1_795_392_000.1, end: 1_795_392_095, outcome: "connected", queue: "sales", agent: "1001", waitSeconds: 12, talkSeconds: 80,
                        ivrPath: "welcome>hours>menu>menu=1>sales", recordingPath: "/var/lib/acdd/recordings/2026/11/23/\(i).wav", recordingStatus: "recorded",
                        hangupCause: "caller hung up", hangupBy: "caller", codec: "PCMU"))
            }
            writer.flush(timeout: 600)
            cdrRates.append(Double(count) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
            start = DispatchTime.now().uptimeNanoseconds
            for i in 0..<count {
                writer.append(CRMEvents.call("agent.ringing", unique: "\(run).\(i)", seq: 4, time: 1_795_392_010, data: ["agent": "1001", "caller": "0301234567", "queue": "sales"]))
            }
            writer.flush(timeout: 600)
            outboxRates.append(Double(count) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
            writer.close()
            print(String(format: "run %d: cdr %.0f/s, outbox %.0f/s", run, cdrRates.last!, outboxRates.last!))
        }
        print(String(format: "median over %d runs of %d: cdr %.0f records/s, outbox %.0f events/s", runs, count, median(cdrRates), median(outboxRates)))
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// `count` events put in a fresh outbox, then delivered by `CRMClient` to the store listening
    /// on `socket` (acd-crm); events acknowledged per second, from connecting to an empty outbox.
    static func delivery(count: Int, socket: String, directory: String) {
        try? FileManager.default.removeItem(atPath: directory)
        let database = try! ACDDatabase(path: "\(directory)/acdd.sqlite")
        let writer = CallRecordWriter(database: database, logger: Logger(label: "bench"))
        for i in 0..<count {
            writer.append(CRMEvents.call("agent.ringing", unique: "bench.\(i / 6)", seq: i % 6 + 1, time: 1_795_392_010, data: ["agent": "1001", "caller": "0301234567"]))
        }
        writer.flush(timeout: 600)
        let outbox = CRMOutbox(database: database)
        let start = DispatchTime.now().uptimeNanoseconds
        let client = CRMClient(socketPath: socket, outbox: outbox, logger: Logger(label: "bench"))
        while (try? outbox.count()) ?? 0 > 0 { usleep(10_000) }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        client.stop()
        writer.close()
        print(String(format: "crm delivery: %d events acknowledged in %.2f s: %.0f events/s", count, seconds, Double(count) / seconds))
        try? FileManager.default.removeItem(atPath: directory)
    }

    static func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }

    static func threadCPU() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    static func processCPUSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    final class ResultList: @unchecked Sendable {
        private let lock = NSLock()
        private var results: [RecordingResult] = []
        func add(_ r: RecordingResult) { lock.withLock { results.append(r) } }
        var all: [RecordingResult] { lock.withLock { results } }
    }
}
