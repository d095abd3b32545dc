import Foundation
import GRDB
public import Logging

/// One callback of a group's worklist (FEATURES A8, C4; issue 19).
public struct CallbackEntry: Sendable, Equatable {
    /// The callback's id: the unique id of the call that asked for it, which the ACD and the
    /// queue log know it by.
    public var id: String
    public var queue: String
    public var number: String
    /// Who called (the caller id of the call that asked).
    public var caller: String
    /// `queue` (asked for while waiting), `missed` (hung up after waiting long), `voicemail`.
    public var source: String
    /// `waiting` (in the queue, or waiting for its next try), `open` (in the worklist, not
    /// queued), `done`, `failed` (every try used), `cancelled`.
    public var status: String
    /// Tries that reached an agent and dialled the number.
    public var attempts: Int
    /// When it may next be offered (a retry's spacing); nil: now.
    public var nextAt: Double?
    public var createdAt: Double
    public var updatedAt: Double
    /// How the last try ended (`busy`, `no-answer`, `connected`...), and the agent who made it.
    public var lastOutcome: String?
    public var agent: String?
    /// The one agent it is offered to (`callback.assign`); nil: any agent of the group.
    public var assigned: String?
    /// The message's file, for a voicemail's callback (to listen to before calling).
    public var voicemail: String?

    /// Whether it is still to be worked.
    public var isLive: Bool { status == "waiting" || status == "open" }

    public init(
        id: String, queue: String, number: String, caller: String, source: String = "queue", status: String = "waiting", attempts: Int = 0,
        nextAt: Double? = nil, createdAt: Double, updatedAt: Double? = nil, lastOutcome: String? = nil, agent: String? = nil, assigned: String? = nil,
        voicemail: String? = nil
    ) {
        self.assigned = assigned
        self.voicemail = voicemail
        self.id = id
        self.queue = queue
        self.number = number
        self.caller = caller
        self.source = source
        self.status = status
        self.attempts = attempts
        self.nextAt = nextAt
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
        self.lastOutcome = lastOutcome
        self.agent = agent
    }
}

/// The callbacks' worklist in SQLite: written on a queue of its own (never on a loop), so a
/// callback promised to a caller is on disk before they hear so, and the waiting ones come back
/// after a restart.
public final class CallbackList: @unchecked Sendable {
    // Unchecked: `database` and `logger` are Sendable; the queue serialises the writes.
    private let database: ACDDatabase
    private let logger: Logger
    private let writer = DispatchQueue(label: "acdd.store.callbacks")

    public init(database: ACDDatabase, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    /// Writes the entry (replacing one with its id); `done` hears, on the writer's queue, whether
    /// it is committed.
    public func save(_ e: CallbackEntry, done: (@Sendable (Bool) -> Void)? = nil) {
        let (database, logger) = (self.database, self.logger)
        writer.async {
            do {
                try database.pool.write { db in
                    try db.execute(
                        sql: """
                            INSERT OR REPLACE INTO callback (id, queue, number, caller, source, status, attempts, next_at, created_at, updated_at, last_outcome, agent, assigned, voicemail)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [
                            e.id, e.queue, e.number, e.caller, e.source, e.status, e.attempts, e.nextAt, e.createdAt, e.updatedAt, e.lastOutcome, e.agent,
                            e.assigned, e.voicemail,
                        ])
                    // A voicemail's callback worked is its message worked: one transaction, so
                    // voicemail.list never says new for a message whose callback is done.
                    if e.source == "voicemail", !e.isLive {
                        try db.execute(sql: "UPDATE voicemail SET status = ? WHERE unique_id = ?", arguments: [e.status, e.id])
                    }
                }
                done?(true)
            } catch {
                logger.error("could not write a callback", metadata: ["error": "\(error)", "callback.id": "\(e.id)", "callback.number": "\(e.number)"])
                done?(false)
            }
        }
    }

    /// Oldest first; `status` nil for all, `assigned` an agent for only those given to them.
    public func list(status: String? = nil, assigned: String? = nil, limit: Int = 10_000) throws -> [CallbackEntry] {
        var clauses: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        if let status {
            clauses.append("status = ?")
            arguments.append(status)
        }
        if let assigned {
            clauses.append("assigned = ?")
            arguments.append(assigned)
        }
        let filter = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        arguments.append(limit)
        let args = StatementArguments(arguments)
        return try database.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM callback \(filter) ORDER BY created_at, id LIMIT ?", arguments: args).map(Self.entry(row:))
        }
    }

    /// One callback by id, as last written (writes queued before are waited for).
    public func entry(_ id: String) throws -> CallbackEntry? {
        flush()
        return try database.pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM callback WHERE id = ?", arguments: [id]).map(Self.entry(row:))
        }
    }

    private static func entry(row r: Row) -> CallbackEntry {
        CallbackEntry(
            id: r["id"], queue: r["queue"], number: r["number"], caller: r["caller"], source: r["source"], status: r["status"],
            attempts: r["attempts"], nextAt: r["next_at"], createdAt: r["created_at"], updatedAt: r["updated_at"], lastOutcome: r["last_outcome"],
            agent: r["agent"], assigned: r["assigned"], voicemail: r["voicemail"])
    }

    /// Waits until every queued write is done (shutdown and tests).
    public func flush() { writer.sync {} }
}
