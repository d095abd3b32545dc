public import ACD
import Foundation
import GRDB
public import Logging
import LockFree

#if canImport(Glibc)
import Glibc
#endif

/// Writes the queue log (Asterisk's queue_log format) to its file and to the `queue_log` table.
///
/// The ACD thread must never touch the disk, so `append` only pushes onto a lock-free inbox; a
/// writer thread of its own takes what has accumulated, appends it to the file in one write,
/// `fdatasync`s, and inserts the same rows in one transaction. A failed write is logged once per
/// failure episode with what failed; the rows stay queued and are tried again, so nothing is lost
/// while the disk recovers (memory holds them meanwhile).
public final class QueueLogWriter: @unchecked Sendable {
    // Unchecked: the mutable state (`fd`, `pending`, `failing`, `tornLine`) belongs to the writer thread.
    public struct Record: Sendable, Equatable {
        public var epoch: Int
        public var entry: QueueLogEntry
        public init(epoch: Int, entry: QueueLogEntry) {
            self.epoch = epoch
            self.entry = entry
        }
    }

    private enum Message {
        case record(Record)
        case flush(Waiter)
        case stop
    }

    public let path: String
    private let database: ACDDatabase?
    private let logger: Logger
    /// The writer drains this into `pending` on every wake-up, also while the disk fails, so the
    /// ACD thread would wait only if one write stalled for 16,384 lines.
    private let inbox = MPSCInbox<Message>(capacity: 16_384)
    private let wakeup = Wakeup()
    private let stopped = DispatchSemaphore(value: 0)
    private var fd: Int32 = -1
    private var pending: [Record] = []
    private var failing = false
    private var tornLine = false

    /// Opens (creating) the file now, so a path that cannot be written is an error at start-up.
    public init(path: String, database: ACDDatabase?, logger: Logger) throws {
        self.path = path
        self.database = database
        self.logger = logger
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw QueueLogError("cannot open the queue log \(path): \(String(cString: strerror(errno)))") }
        let thread = Thread { [self] in run() }
        thread.name = "queue-log"
        thread.start()
    }

    /// From any thread; never blocks.
    public func append(_ record: Record) {
        inbox.push(.record(record))
        wakeup.notify()
    }

    /// Waits until everything appended before this call has been tried; returns how many records
    /// are still waiting for the disk (0 when all are written).
    @discardableResult
    public func flush() -> Int {
        let done = Waiter()
        inbox.push(.flush(done))
        wakeup.notify()
        done.semaphore.wait()
        return done.backlog
    }

    private final class Waiter: @unchecked Sendable {
        // Unchecked: `backlog` is written by the writer thread before `semaphore` is signalled and
        // read by the waiter after; the semaphore orders the two.
        let semaphore = DispatchSemaphore(value: 0)
        var backlog = 0
    }

    /// Writes what is queued, then stops the thread and closes the file.
    public func close() {
        inbox.push(.stop)
        wakeup.notify()
        stopped.wait()
    }

    private func run() {
        var running = true
        while running {
            var waiters: [Waiter] = []
            while let m = inbox.pop() {
                switch m {
                case .record(let r): pending.append(r)
                case .flush(let s): waiters.append(s)
                case .stop: running = false
                }
            }
            if !pending.isEmpty { write() }
            for w in waiters {
                w.backlog = pending.count
                w.semaphore.signal()
            }
            if running {
                // Retry a failed batch every second; otherwise sleep until something arrives.
                wakeup.wait(until: .now() + .seconds(failing ? 1 : 60)) { inbox.isEmpty }
            }
        }
        if !pending.isEmpty { write() }
        Glibc.close(fd)
        stopped.signal()
    }

    private func write() {
        let batch = pending
        var lines = batch.map { $0.entry.line(epoch: $0.epoch) + "\n" }
        // A failed write may have ended inside a line: end that fragment before going on.
        if tornLine { lines[0] = "\n" + lines[0] }
        let bytes = Array(lines.joined().utf8)
        var written = 0
        var fileError: String?
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                fileError = String(cString: strerror(errno))
                break
            }
            written += n
        }
        if fileError == nil && fdatasync(fd) != 0 { fileError = String(cString: strerror(errno)) }
        if let fileError {
            // Whole lines that reached the file are not written again; the rest wait for a retry.
            var done = 0
            var offset = 0
            for line in lines {
                offset += line.utf8.count
                if offset > written { break }
                done += 1
            }
            tornLine = written > 0 && done < lines.count && offset - lines[done].utf8.count < written
            if !failing {
                logger.error("queue log write failed; lines kept for retry", metadata: ["queue_log.path": "\(path)", "error": "\(fileError)", "queue_log.pending": "\(batch.count - done)"])
            }
            failing = true
            pending.removeFirst(done)
            storeRows(Array(batch.prefix(done)))
            return
        }
        tornLine = false
        storeRows(batch)
        if failing { logger.notice("queue log writes recovered", metadata: ["queue_log.path": "\(path)"]) }
        failing = false
        pending.removeAll(keepingCapacity: true)
    }

    /// The same rows into SQLite, in one transaction.
    private func storeRows(_ batch: [Record]) {
        guard !batch.isEmpty else { return }
        var dbError: (any Error)?
        if let database {
            do {
                try database.pool.write { db in
                    for r in batch {
                        let e = r.entry
                        var data = e.data.prefix(5).map { $0 as String? }
                        while data.count < 5 { data.append(nil) }
                        try db.execute(
                            sql: "INSERT INTO queue_log (time, callid, queuename, agent, event, data1, data2, data3, data4, data5) VALUES (?,?,?,?,?,?,?,?,?,?)",
                            arguments: [r.epoch, e.call, e.queue, e.agent, e.event, data[0], data[1], data[2], data[3], data[4]])
                    }
                }
            } catch {
                dbError = error
            }
        }
        if let dbError {
            // The file has the lines; the table misses them. Logged, not retried (the file is
            // the record of truth, and a retry could not tell which rows went in).
            logger.error("queue log rows not stored in the database", metadata: ["error": "\(dbError)", "queue_log.rows": "\(batch.count)"])
        }
    }
}

public struct QueueLogError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}
