import Control
import CRMBridge
import Foundation
import GRDB
import JSON

/// The reference CRM store's own SQLite file: customers, their contact history, the daemon's call
/// records, and every event received (each id once).
final class CRMDatabase: Sendable {
    let queue: DatabaseQueue

    init(path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        queue = try DatabaseQueue(path: path, configuration: configuration)
        try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.create(table: "customer") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("number", .text).notNull().unique()
                t.column("name", .text).notNull().defaults(to: "")
                t.column("company", .text).notNull().defaults(to: "")
                t.column("vip", .boolean).notNull().defaults(to: false)
                t.column("agent", .text)
                t.column("notes", .text).notNull().defaults(to: "")
                // `customer`, or `potential`: made for an unknown caller.
                t.column("status", .text).notNull()
                t.column("created_at", .double).notNull()
            }
            try db.create(table: "contact") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("customer_id", .integer).notNull().references("customer")
                t.column("unique_id", .text).notNull()
                t.column("time", .double).notNull()
                t.column("outcome", .text).notNull()
                t.column("agent", .text)
                t.column("queue", .text)
                t.column("seconds", .integer).notNull()
            }
            try db.create(index: "contact_customer", on: "contact", columns: ["customer_id", "time"])
            try db.create(table: "call_record") { t in
                t.column("unique_id", .text).primaryKey()
                t.column("customer_id", .integer)
                t.column("cdr", .text).notNull()
                t.column("received_at", .double).notNull()
            }
            try db.create(table: "event") { t in
                t.autoIncrementedPrimaryKey("rowid")
                t.column("id", .text).notNull().unique()
                t.column("stream", .text).notNull()
                t.column("seq", .integer).notNull()
                t.column("type", .text).notNull()
                t.column("body", .text).notNull()
                t.column("received_at", .double).notNull()
            }
        }
        try m.migrate(queue)
    }

    /// Applies one event unless its id was seen; true if it was new.
    static func apply(_ event: JSONValue, line: String, db: Database) throws -> Bool {
        guard let id = event["id"]?.stringValue, let type = event["event"]?.stringValue, let stream = event["stream"]?.stringValue,
            let seq = event["seq"]?.doubleValue
        else { throw CRMStoreError("an event needs id, event, stream and seq") }
        try db.execute(
            sql: "INSERT OR IGNORE INTO event (id, stream, seq, type, body, received_at) VALUES (?, ?, ?, ?, ?, ?)",
            arguments: [id, stream, Int(seq), type, line, Date().timeIntervalSince1970])
        guard db.changesCount > 0 else { return false }
        let data = event["data"] ?? .null
        switch type {
        case "call.incoming":
            if let number = data["caller"]?.stringValue, !number.isEmpty { _ = try customerID(number, create: true, db: db) }
        case "call.ended":
            let cdr = data["cdr"] ?? .null
            let unique = cdr["unique_id"]?.stringValue ?? stream
            // An agent's own call is a contact with the number called; the caller is the agent.
            let number = (cdr["direction"] == "outbound" ? cdr["called"] : cdr["caller"])?.stringValue ?? ""
            let customer = number.isEmpty ? nil : try customerID(number, create: true, db: db)
            try db.execute(
                sql: "INSERT OR REPLACE INTO call_record (unique_id, customer_id, cdr, received_at) VALUES (?, ?, ?, ?)",
                arguments: [unique, customer, CRMProtocol.line(cdr), Date().timeIntervalSince1970])
            if let customer {
                try db.execute(
                    sql: "INSERT INTO contact (customer_id, unique_id, time, outcome, agent, queue, seconds) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    arguments: [
                        customer, unique, cdr["start"]?.doubleValue ?? 0, cdr["outcome"]?.stringValue ?? "", cdr["agent"]?.stringValue,
                        cdr["queue"]?.stringValue, Int(cdr["duration"]?.doubleValue ?? 0),
                    ])
            }
        default:
            break
        }
        return true
    }

    /// The customer with this number; an unknown caller becomes a "new potential customer".
    static func customerID(_ number: String, create: Bool, db: Database) throws -> Int64? {
        if let id = try Int64.fetchOne(db, sql: "SELECT id FROM customer WHERE number = ?", arguments: [number]) { return id }
        guard create else { return nil }
        try db.execute(
            sql: "INSERT INTO customer (number, name, status, created_at) VALUES (?, 'New potential customer', 'potential', ?)",
            arguments: [number, Date().timeIntervalSince1970])
        return db.lastInsertedRowID
    }

    /// The answer to a lookup: the customer record and their last five contacts, newest first.
    static func lookup(_ number: String, db: Database) throws -> (JSONValue, [JSONValue]) {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM customer WHERE number = ?", arguments: [number]) else { return (.null, []) }
        let customer: JSONValue = [
            "id": JSONValue(Int(row["id"] as Int64)), "number": .string(row["number"]), "name": .string(row["name"]),
            "company": .string(row["company"]), "vip": .bool(row["vip"]), "agent": JSONValue(row["agent"] as String?),
            "notes": .string(row["notes"]), "status": .string(row["status"]),
        ]
        let history = try Row.fetchAll(
            db, sql: "SELECT * FROM contact WHERE customer_id = ? ORDER BY time DESC, id DESC LIMIT 5", arguments: [row["id"] as Int64]
        ).map { c -> JSONValue in
            [
                "unique_id": .string(c["unique_id"]), "time": JSONValue(c["time"] as Double), "outcome": .string(c["outcome"]),
                "agent": JSONValue(c["agent"] as String?), "queue": JSONValue(c["queue"] as String?), "seconds": JSONValue(c["seconds"] as Int),
            ]
        }
        return (customer, history)
    }
}

struct CRMStoreError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
