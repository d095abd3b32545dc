import Dispatch
import GRDB
public import Logging

/// One message left by a caller, as the index keeps it.
public struct VoicemailEntry: Sendable, Equatable {
    public var id: Int64?
    /// The call's unique id (queue log, CDR).
    public var uniqueID: String
    public var caller: String
    /// The box the flow named, or "default".
    public var box: String
    /// The group whose callback it is, when the caller came from a queue.
    public var queue: String?
    public var path: String
    public var seconds: Double
    /// Frames lost on the way to disk (a slow disk); 0 normally.
    public var droppedFrames: Int
    public var createdAt: Double
    /// `new` until someone works the callback.
    public var status: String

    public init(
        id: Int64? = nil, uniqueID: String, caller: String, box: String, queue: String?, path: String, seconds: Double, droppedFrames: Int,
        createdAt: Double, status: String = "new"
    ) {
        self.id = id
        self.uniqueID = uniqueID
        self.caller = caller
        self.box = box
        self.queue = queue
        self.path = path
        self.seconds = seconds
        self.droppedFrames = droppedFrames
        self.createdAt = createdAt
        self.status = status
    }
}

/// The voicemail index in SQLite: written on a queue of its own (never on a loop), read by
/// operators (`acdctl voicemail list`). A failed write is logged with the message it was about,
/// whose WAV stays on disk.
public final class VoicemailIndex: @unchecked Sendable {
    // Unchecked: `database` and `logger` are Sendable; the queue serialises the writes.
    private let database: ACDDatabase
    private let logger: Logger
    private let writer = DispatchQueue(label: "acdd.store.voicemail")

    public init(database: ACDDatabase, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    public func add(_ entry: VoicemailEntry) {
        let (database, logger) = (self.database, self.logger)
        writer.async {
            do {
                try database.pool.write { db in
                    try db.execute(
                        sql: """
                            INSERT INTO voicemail (unique_id, caller, box, queue, path, seconds, dropped_frames, created_at, status)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [
                            entry.uniqueID, entry.caller, entry.box, entry.queue, entry.path, entry.seconds, entry.droppedFrames, entry.createdAt,
                            entry.status,
                        ])
                }
            } catch {
                logger.error(
                    "could not index a voicemail; its file stays", metadata: ["error": "\(error)", "voicemail.path": "\(entry.path)", "call.unique_id": "\(entry.uniqueID)"])
            }
        }
    }

    /// Newest first; `status` nil for all.
    public func list(status: String? = nil, limit: Int = 1000) throws -> [VoicemailEntry] {
        try database.pool.read { db in
            let rows =
                if let status {
                    try Row.fetchAll(db, sql: "SELECT * FROM voicemail WHERE status = ? ORDER BY created_at DESC, id DESC LIMIT ?", arguments: [status, limit])
                } else {
                    try Row.fetchAll(db, sql: "SELECT * FROM voicemail ORDER BY created_at DESC, id DESC LIMIT ?", arguments: [limit])
                }
            return rows.map { r in
                VoicemailEntry(
                    id: r["id"], uniqueID: r["unique_id"], caller: r["caller"], box: r["box"], queue: r["queue"], path: r["path"], seconds: r["seconds"],
                    droppedFrames: r["dropped_frames"], createdAt: r["created_at"], status: r["status"])
            }
        }
    }

    /// Waits until every queued write is done (shutdown and tests).
    public func flush() { writer.sync {} }
}
