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
        return m
    }
}
