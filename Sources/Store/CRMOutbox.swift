import GRDB

/// One event for the CRM store, as it waits in the outbox: its id (the store drops a second copy
/// of an id) and the JSON line sent.
public struct OutboxEvent: Sendable, Equatable {
    public var id: String
    public var body: String
    public var createdAt: Double
    /// Order of sending; set by the table.
    public var seq: Int64 = 0
    /// Kept even when the outbox is at its cap: a call's `call.ended`, which carries its record.
    /// Not stored: only the writer reads it.
    public var essential = false

    public init(id: String, body: String, createdAt: Double) {
        self.id = id
        self.body = body
        self.createdAt = createdAt
    }
}

/// The CRM client's side of the outbox: what is still to be sent, oldest first, and deleting
/// what the store acknowledged. Inserts go through `CallRecordWriter`.
public struct CRMOutbox: Sendable {
    let database: ACDDatabase

    public init(database: ACDDatabase) { self.database = database }

    /// Events with `seq` above `after`, in order.
    public func pending(after: Int64, limit: Int) throws -> [OutboxEvent] {
        try database.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT seq, id, body, created_at FROM crm_outbox WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [after, limit])
                .map { r in
                    var e = OutboxEvent(id: r["id"], body: r["body"], createdAt: r["created_at"])
                    e.seq = r["seq"]
                    return e
                }
        }
    }

    /// Acknowledged events go; an id not in the table (acknowledged twice) is no error.
    public func delete(ids: [String]) throws {
        guard !ids.isEmpty else { return }
        try database.pool.write { db in
            for id in ids { try db.execute(sql: "DELETE FROM crm_outbox WHERE id = ?", arguments: [id]) }
        }
    }

    public func count() throws -> Int {
        try database.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM crm_outbox") ?? 0 }
    }
}
