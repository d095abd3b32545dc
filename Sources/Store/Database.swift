import Foundation
public import GRDB
import Logging

/// The daemon's SQLite database (WAL mode, through GRDB) and its migrations. One file under
/// `paths.state`; every table the daemon keeps is created here, in order, by a named migration.
public final class ACDDatabase: Sendable {
    public let pool: DatabasePool
    public let path: String

    /// Opens (creating if needed) and migrates. A file that is not a database, or one from a newer
    /// version, is an error that names the file.
    public init(path: String) throws {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(pool)
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1-sip-bindings") { db in
            try db.create(table: "sip_binding") { t in
                t.column("aor", .text).notNull()
                t.column("contact_uri", .text).notNull()
                t.column("contact", .text).notNull()
                t.column("expires", .double).notNull()
                t.column("call_id", .text).notNull()
                t.column("cseq", .integer).notNull()
                t.column("transport", .text).notNull()
                t.column("source_ip", .text).notNull()
                t.column("source_port", .integer).notNull()
                t.column("user_agent", .text)
                t.primaryKey(["aor", "contact_uri"])
            }
        }
        // Asterisk's realtime queue_log columns, so reporting tools that read that table read this.
        m.registerMigration("v2-queue-log") { db in
            try db.create(table: "queue_log") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("time", .integer).notNull()
                t.column("callid", .text).notNull()
                t.column("queuename", .text).notNull()
                t.column("agent", .text).notNull()
                t.column("event", .text).notNull()
                t.column("data1", .text)
                t.column("data2", .text)
                t.column("data3", .text)
                t.column("data4", .text)
                t.column("data5", .text)
            }
            try db.create(index: "queue_log_time", on: "queue_log", columns: ["time"])
            try db.create(index: "queue_log_callid", on: "queue_log", columns: ["callid"])
        }
        // Voicemails are also the group's callbacks to work (FEATURES A8): status new → done.
        m.registerMigration("v3-voicemail") { db in
            try db.create(table: "voicemail") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("unique_id", .text).notNull()
                t.column("caller", .text).notNull()
                t.column("box", .text).notNull()
                t.column("queue", .text)
                t.column("path", .text).notNull()
                t.column("seconds", .double).notNull()
                t.column("dropped_frames", .integer).notNull()
                t.column("created_at", .double).notNull()
                t.column("status", .text).notNull().defaults(to: "new")
            }
            try db.create(index: "voicemail_status", on: "voicemail", columns: ["status", "created_at"])
        }
        // One row per call (FEATURES B1), and the recordings' index (R1, R3).
        m.registerMigration("v4-cdr-recordings") { db in
            try db.create(table: "cdr") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("unique_id", .text).notNull().unique(onConflict: .ignore)
                t.column("linked_id", .text).notNull()
                t.column("sip_call_id", .text).notNull()
                t.column("caller", .text).notNull()
                t.column("called", .text).notNull()
                t.column("trunk", .text).notNull()
                t.column("start", .double).notNull()
                t.column("answer", .double)
                t.column("end", .double).notNull()
                t.column("duration", .integer).notNull()
                t.column("billable", .integer).notNull()
                t.column("disposition", .text).notNull()
                t.column("outcome", .text).notNull()
                t.column("queue", .text)
                t.column("agent", .text)
                t.column("wait_seconds", .integer)
                t.column("talk_seconds", .integer)
                t.column("ivr_path", .text).notNull()
                t.column("transfers", .text).notNull()
                t.column("recording_path", .text)
                t.column("recording_status", .text).notNull()
                t.column("survey_score", .integer)
                t.column("hangup_cause", .text).notNull()
                t.column("hangup_by", .text).notNull()
                t.column("codec", .text)
            }
            try db.create(index: "cdr_start", on: "cdr", columns: ["start"])
            try db.create(table: "recording") { t in
                t.column("unique_id", .text).notNull().primaryKey(onConflict: .replace)
                t.column("path", .text).notNull()
                t.column("channels", .integer).notNull()
                t.column("started_at", .double).notNull()
                t.column("seconds", .double).notNull()
                t.column("bytes", .integer).notNull()
                t.column("sha256", .text)
                t.column("status", .text).notNull()
                t.column("failure", .text)
                t.column("dropped_frames", .integer).notNull()
                t.column("paused_seconds", .double).notNull()
                t.column("deleted_at", .double)
            }
            try db.create(index: "recording_started", on: "recording", columns: ["started_at"])
        }
        // Events for the CRM store wait here until it acknowledges them (FEATURES M2); `seq` is
        // the order they are sent in.
        m.registerMigration("v5-crm-outbox") { db in
            try db.create(table: "crm_outbox") { t in
                t.autoIncrementedPrimaryKey("seq")
                t.column("id", .text).notNull().unique(onConflict: .ignore)
                t.column("body", .text).notNull()
                t.column("created_at", .double).notNull()
            }
        }
        // Agents' own calls (click-to-dial, issue 19): rows before it were all callers ringing in.
        m.registerMigration("v6-cdr-direction") { db in
            try db.alter(table: "cdr") { t in t.add(column: "direction", .text).notNull().defaults(to: "inbound") }
        }
        // The groups' callbacks (issue 19): one row per callback, its tries and its state.
        m.registerMigration("v7-callbacks") { db in
            try db.create(table: "callback") { t in
                t.column("id", .text).notNull().primaryKey()
                t.column("queue", .text).notNull()
                t.column("number", .text).notNull()
                t.column("caller", .text).notNull()
                t.column("source", .text).notNull()
                t.column("status", .text).notNull()
                t.column("attempts", .integer).notNull()
                t.column("next_at", .double)
                t.column("created_at", .double).notNull()
                t.column("updated_at", .double).notNull()
                t.column("last_outcome", .text)
                t.column("agent", .text)
            }
            try db.create(index: "callback_status", on: "callback", columns: ["status", "created_at"])
        }
        // Callbacks given to one agent, and a voicemail's callback pointing at the message.
        m.registerMigration("v8-callback-assign") { db in
            try db.alter(table: "callback") { t in
                t.add(column: "assigned", .text)
                t.add(column: "voicemail", .text)
            }
        }
        // The account an agent's own call is billed to (issue 19).
        m.registerMigration("v10-cdr-account") { db in
            try db.alter(table: "cdr") { t in t.add(column: "account", .text) }
        }
        // Campaigns (issue 19, part 3): their settings, contacts, each try, and the do-not-call list.
        m.registerMigration("v9-campaigns") { db in
            try db.create(table: "campaign") { t in
                t.column("name", .text).notNull().primaryKey()
                t.column("settings", .text).notNull()
                t.column("status", .text).notNull()
                t.column("created_at", .double).notNull()
                t.column("updated_at", .double).notNull()
            }
            try db.create(table: "campaign_contact") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("campaign", .text).notNull()
                t.column("number", .text).notNull()
                t.column("name", .text).notNull()
                t.column("time_zone", .text)
                t.column("fields", .text).notNull()
                t.column("status", .text).notNull()
                t.column("attempts", .integer).notNull()
                t.column("next_at", .double)
                t.column("last_outcome", .text)
                t.column("agent", .text)
                t.column("line", .integer).notNull()
                t.column("updated_at", .double).notNull()
                t.uniqueKey(["campaign", "number"])
            }
            try db.create(index: "campaign_contact_status", on: "campaign_contact", columns: ["campaign", "status"])
            try db.create(table: "campaign_attempt") { t in
                t.column("unique_id", .text).notNull().primaryKey()
                t.column("campaign", .text).notNull()
                t.column("contact", .integer).notNull()
                t.column("number", .text).notNull()
                t.column("agent", .text)
                t.column("outcome", .text).notNull()
                t.column("cause", .text)
                t.column("started_at", .double).notNull()
                t.column("ended_at", .double).notNull()
                t.column("talk_seconds", .double)
            }
            try db.create(index: "campaign_attempt_campaign", on: "campaign_attempt", columns: ["campaign", "ended_at"])
            try db.create(table: "dnc") { t in
                t.column("number", .text).notNull().primaryKey()
                t.column("added_at", .double).notNull()
                t.column("note", .text).notNull()
            }
        }
        return m
    }
}
