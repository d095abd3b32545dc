import Dispatch
import GRDB
public import Logging
import NIOCore
public import SIP
import SIPMessage

/// The registrar's bindings in SQLite. Reads happen once at start; writes are queued on a serial
/// queue of their own so the SIP loop never waits for the disk. A failed write is logged with what
/// it was; the in-memory binding stays, so calls keep reaching the phone.
public final class SQLiteBindingStore: SIPBindingStore, @unchecked Sendable {
    // Unchecked: `database` and `logger` are Sendable; the class has no other state.
    private let database: ACDDatabase
    private let logger: Logger
    private let writer = DispatchQueue(label: "acdd.store.bindings")

    public init(database: ACDDatabase, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    public func loadBindings() -> [SIPBinding] {
        do {
            return try database.pool.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM sip_binding").compactMap(Self.binding)
            }
        } catch {
            logger.error("could not read registrations", metadata: ["error": "\(error)", "store.path": "\(database.path)"])
            return []
        }
    }

    static func binding(_ row: Row) -> SIPBinding? {
        guard let contact = try? SIPNameAddr.parse(row["contact"], header: "Contact"),
            let transport = SIPTransportKind(rawValue: row["transport"]),
            let address = try? SocketAddress(ipAddress: row["source_ip"], port: row["source_port"])
        else { return nil }
        return SIPBinding(
            aor: row["aor"], contact: contact, expires: row["expires"], callID: row["call_id"], cseq: UInt32(row["cseq"] as Int64),
            source: SIPPeer(transport, address), userAgent: row["user_agent"])
    }

    public func saveBinding(_ binding: SIPBinding) {
        let values: [any DatabaseValueConvertible & Sendable] = [
            binding.aor, binding.contact.uri.description, binding.contact.description, binding.expires, binding.callID,
            Int64(binding.cseq), binding.source.transport.rawValue, binding.source.ip, binding.source.port,
        ]
        let userAgent = binding.userAgent
        write("save registration of \(binding.aor)") { db in
            try db.execute(
                sql: """
                    INSERT INTO sip_binding (aor, contact_uri, contact, expires, call_id, cseq, transport, source_ip, source_port, user_agent)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(aor, contact_uri) DO UPDATE SET contact = excluded.contact, expires = excluded.expires,
                      call_id = excluded.call_id, cseq = excluded.cseq, transport = excluded.transport,
                      source_ip = excluded.source_ip, source_port = excluded.source_port, user_agent = excluded.user_agent
                    """,
                arguments: StatementArguments(values.map { $0.databaseValue } + [userAgent.databaseValue]))
        }
    }

    public func removeBinding(aor: String, contactURI: String) {
        write("remove registration of \(aor)") { db in
            try db.execute(sql: "DELETE FROM sip_binding WHERE aor = ? AND contact_uri = ?", arguments: [aor, contactURI])
        }
    }

    /// Waits until every queued write is done (shutdown and tests).
    public func flush() { writer.sync {} }

    private func write(_ what: String, _ body: @escaping @Sendable (Database) throws -> Void) {
        let database = self.database
        let logger = self.logger
        writer.async {
            do { try database.pool.write(body) } catch {
                logger.error("could not \(what)", metadata: ["error": "\(error)", "store.path": "\(database.path)"])
            }
        }
    }
}
