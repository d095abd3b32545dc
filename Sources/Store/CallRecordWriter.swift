import Dispatch
import Foundation
import GRDB
import LockFree
import Synchronization
public import Logging

/// Writes call-detail records and recording index rows to SQLite on a thread of its own.
///
/// Producers (the SIP loop, the recording writer) only push onto a lock-free inbox; the thread
/// takes everything that has accumulated and inserts it in one transaction, so at 500 calls per
/// second it commits a handful of times per wake-up rather than once per call. A record reaches
/// SQLite's write-ahead log when its transaction commits: from then on it survives the daemon
/// being killed (WAL with `synchronous = NORMAL` loses commits only to a power cut, not to a dead
/// process). `whenWritten` tells a caller when everything it pushed so far has committed: the
/// call layer answers a BYE only then.
///
/// A failed transaction is logged once per failure episode and retried every second with the rows
/// kept in memory; a record is never dropped.
public final class CallRecordWriter: @unchecked Sendable {
    // Unchecked: `pending`, `waiters` and `failing` belong to the writer thread.
    private enum Message {
        case cdr(CallDetailRecord)
        case recording(RecordingEntry)
        case outbox(OutboxEvent)
        case barrier(@Sendable () -> Void)
        case stop
    }

    private enum Row {
        case cdr(CallDetailRecord)
        case recording(RecordingEntry)
        case outbox(OutboxEvent)
    }

    private let database: ACDDatabase
    private let logger: Logger
    private let inbox = MPSCInbox<Message>(capacity: 16_384)
    private let wakeup = Wakeup()
    private let stopped = DispatchSemaphore(value: 0)
    private var pending: [Row] = []
    /// Barriers with how many of `pending`'s rows (from the front) they wait for.
    private var waiters: [(rows: Int, done: @Sendable () -> Void)] = []
    private var failing = false
    /// Told (on the writer thread) after a commit that added outbox events: the CRM client sends.
    private let outboxCommitted: (@Sendable () -> Void)?
    /// The most CRM events kept waiting (0: no cap). A store down for hours would otherwise fill
    /// the disk the call records are on; at the cap new events are dropped and counted, except a
    /// call's `call.ended` (its record, which the store's contact history needs). The call
    /// records themselves are in their own table, never capped.
    private let outboxCap: Int
    private let dropped = Atomic<Int>(0)
    private var outboxFull = false
    private var backlogNoted = false
    /// Told (on the writer thread) once when the outbox reaches its cap, with the events waiting.
    private let onOutboxFull: (@Sendable (Int) -> Void)?

    /// Rows kept in memory while the database cannot be written (a full disk), and whether it
    /// cannot; read from any thread.
    private let inMemory = Atomic<Int>(0)
    private let failingNow = Atomic<Bool>(false)
    /// Past this many rows in memory the daemon takes no new calls (it could not record them).
    public let inMemoryCap: Int
    /// Told (on the writer thread) once when writes start failing, with the error.
    private let onWritesFailing: (@Sendable (String) -> Void)?

    public init(
        database: ACDDatabase, logger: Logger, outboxCap: Int = 0, inMemoryCap: Int = 100_000, outboxCommitted: (@Sendable () -> Void)? = nil,
        onOutboxFull: (@Sendable (Int) -> Void)? = nil, onWritesFailing: (@Sendable (String) -> Void)? = nil
    ) {
        self.database = database
        self.logger = logger
        self.outboxCap = outboxCap
        self.inMemoryCap = inMemoryCap
        self.onWritesFailing = onWritesFailing
        self.onOutboxFull = onOutboxFull
        self.outboxCommitted = outboxCommitted
        let thread = Thread { [self] in run() }
        thread.name = "cdr-writer"
        thread.start()
    }

    /// Rows (records, recordings' index, CRM events) waiting in memory for a database that fails.
    public var waitingInMemory: Int { inMemory.load(ordering: .relaxed) }
    public var writesFailing: Bool { failingNow.load(ordering: .relaxed) }
    /// So many rows wait in memory that new calls must be refused until the disk takes them.
    public var backlogged: Bool { writesFailing && waitingInMemory >= inMemoryCap }

    /// CRM events dropped at the outbox's cap since start.
    public var outboxDropped: Int { dropped.load(ordering: .relaxed) }

    /// From any thread; never blocks unless 16,384 records wait for a stalled disk.
    public func append(_ record: CallDetailRecord) {
        inbox.push(.cdr(record))
        wakeup.notify()
    }

    public func append(_ entry: RecordingEntry) {
        inbox.push(.recording(entry))
        wakeup.notify()
    }

    /// An event for the CRM store: committed with whatever was appended before it (a call's
    /// `call.ended` in the same transaction as its record), then sent by the CRM client.
    public func append(_ event: OutboxEvent) {
        inbox.push(.outbox(event))
        wakeup.notify()
    }

    /// `done` runs (on the writer thread) once everything appended before this call is committed.
    public func whenWritten(_ done: @escaping @Sendable () -> Void) {
        inbox.push(.barrier(done))
        wakeup.notify()
    }

    /// Waits until everything appended so far is committed, or `timeout` passes; true if it was.
    @discardableResult
    public func flush(timeout: Double = 10) -> Bool {
        let done = DispatchSemaphore(value: 0)
        whenWritten { done.signal() }
        return done.wait(timeout: .now() + timeout) == .success
    }

    /// Writes what is queued (retrying for up to 5 s if the database fails), then stops the thread.
    public func close() {
        inbox.push(.stop)
        wakeup.notify()
        stopped.wait()
    }

    private func run() {
        var running = true
        var stopDeadline: Date?
        while true {
            while let m = inbox.pop() {
                switch m {
                case .cdr(let r): pending.append(.cdr(r))
                case .recording(let e): pending.append(.recording(e))
                case .outbox(let e): pending.append(.outbox(e))
                case .barrier(let done): waiters.append((pending.count, done))
                case .stop:
                    running = false
                    stopDeadline = Date().addingTimeInterval(5)
                }
            }
            if !pending.isEmpty { write() }
            if pending.isEmpty {
                for w in waiters { w.done() }
                waiters.removeAll()
            }
            if !running && (pending.isEmpty || Date() > stopDeadline!) { break }
            wakeup.wait(until: .now() + .seconds(failing || !running ? 1 : 60)) { inbox.isEmpty }
        }
        if !pending.isEmpty {
            logger.critical("call records could not be written before stopping", metadata: ["cdr.lost": "\(pending.count)"])
        }
        for w in waiters { w.done() }
        stopped.signal()
    }

    private func write() {
        let batch = pending
        var droppedNow = 0
        var waiting: Int?
        do {
            try database.pool.write { db in
                droppedNow = 0
                // How many events wait, from the sequence's ends (O(log n); deletes follow the
                // order of sending, so the span is the count or a little over it).
                var size = 0
                let counting = outboxCap > 0 && batch.contains(where: { if case .outbox = $0 { true } else { false } })
                if counting {
                    size = try Int.fetchOne(db, sql: "SELECT COALESCE(MAX(seq) - MIN(seq) + 1, 0) FROM crm_outbox") ?? 0
                }
                for row in batch {
                    switch row {
                    case .cdr(let r): try Self.insert(r, db)
                    case .recording(let e): try Self.insert(e, db)
                    case .outbox(let e):
                        if outboxCap > 0, size >= outboxCap, !e.essential {
                            droppedNow += 1
                            continue
                        }
                        try db.execute(
                            sql: "INSERT INTO crm_outbox (id, body, created_at) VALUES (?, ?, ?)", arguments: [e.id, e.body, e.createdAt])
                        size += 1
                    }
                }
                if counting { waiting = size }
            }
        } catch {
            if !failing {
                logger.error("call records not written; kept for retry", metadata: ["error": "\(error)", "cdr.pending": "\(batch.count)"])
                onWritesFailing?("\(error)")
            }
            failing = true
            failingNow.store(true, ordering: .relaxed)
            inMemory.store(batch.count, ordering: .relaxed)
            if batch.count >= inMemoryCap, !backlogNoted {
                backlogNoted = true
                logger.critical(
                    "call records waiting in memory reached the cap: new calls are refused until they are written",
                    metadata: ["cdr.pending": "\(batch.count)", "cdr.cap": "\(inMemoryCap)"])
            }
            return
        }
        if failing { logger.notice("call record writes recovered", metadata: ["cdr.written": "\(batch.count)"]) }
        if droppedNow > 0 {
            dropped.add(droppedNow, ordering: .relaxed)
            if !outboxFull {
                outboxFull = true
                logger.warning(
                    "CRM outbox at its cap: new events are dropped (call records kept) until the store takes what waits",
                    metadata: ["crm.outbox": "\(waiting ?? 0)", "crm.outbox_cap": "\(outboxCap)"])
                onOutboxFull?(waiting ?? 0)
            }
        } else if outboxFull, let waiting, waiting < outboxCap * 9 / 10 {
            outboxFull = false
            logger.notice("CRM outbox under its cap again", metadata: ["crm.outbox": "\(waiting)", "crm.dropped": "\(outboxDropped)"])
        }
        failing = false
        backlogNoted = false
        failingNow.store(false, ordering: .relaxed)
        inMemory.store(0, ordering: .relaxed)
        pending.removeAll(keepingCapacity: true)
        if let outboxCommitted, batch.contains(where: { if case .outbox = $0 { true } else { false } }) { outboxCommitted() }
    }

    static func insert(_ r: CallDetailRecord, _ db: GRDB.Database) throws {
        try db.execute(
            sql: """
                INSERT INTO cdr (unique_id, linked_id, sip_call_id, caller, called, trunk, start, answer, "end", duration, billable,
                  disposition, outcome, queue, agent, wait_seconds, talk_seconds, ivr_path, transfers, recording_path, recording_status,
                  survey_score, hangup_cause, hangup_by, codec, direction, account)
                VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
                """,
            arguments: [
                r.uniqueID, r.linkedID, r.sipCallID, r.caller, r.called, r.trunk, r.start, r.answer, r.end, r.duration, r.billableSeconds,
                r.disposition, r.outcome, r.queue, r.agent, r.waitSeconds, r.talkSeconds, r.ivrPath, r.transfers, r.recordingPath,
                r.recordingStatus, r.surveyScore, r.hangupCause, r.hangupBy, r.codec, r.direction, r.account,
            ])
    }

    static func insert(_ e: RecordingEntry, _ db: GRDB.Database) throws {
        try db.execute(
            sql: """
                INSERT INTO recording (unique_id, path, channels, started_at, seconds, bytes, sha256, status, failure, dropped_frames, paused_seconds)
                VALUES (?,?,?,?,?,?,?,?,?,?,?)
                """,
            arguments: [
                e.uniqueID, e.path, e.channels, e.startedAt, e.seconds, e.bytes, e.sha256, e.status, e.failure, e.droppedFrames, e.pausedSeconds,
            ])
    }
}
