import Foundation
import Logging
import NIOCore
import SIP
import SIPMessage
import Store
import TestSupport
import Testing

@Suite struct BindingStoreTests {
    func tempPath() -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("acdd-store-\(UUID().uuidString)")
        return dir.appendingPathComponent("acdd.sqlite").path
    }

    func binding(_ aor: String, port: Int, expires: Double = 2_000_000_000) throws -> SIPBinding {
        SIPBinding(
            aor: aor, contact: try SIPNameAddr.parse("<sip:\(aor)@127.0.0.1:\(port);transport=tcp>;+sip.instance=\"<urn:x>\"", header: "Contact"),
            expires: expires, callID: "c-\(aor)", cseq: 7, source: SIPPeer(.tcp, try SocketAddress(ipAddress: "127.0.0.1", port: port)),
            userAgent: "baresip")
    }

    /// What one process writes, a new one (a restart) reads back from the same file.
    @Test func bindingsSurviveReopening() throws {
        let path = tempPath()
        let logger = Logger(label: "test")
        do {
            let store = SQLiteBindingStore(database: try ACDDatabase(path: path), logger: logger)
            store.saveBinding(try binding("1001", port: 5071))
            store.saveBinding(try binding("1002", port: 5072))
            var updated = try binding("1001", port: 5071)
            updated.cseq = 9
            store.saveBinding(updated)
            store.removeBinding(aor: "1002", contactURI: "sip:1002@127.0.0.1:5072;transport=tcp")
            store.flush()
        }
        let reopened = SQLiteBindingStore(database: try ACDDatabase(path: path), logger: logger)
        let loaded = reopened.loadBindings()
        #expect(loaded.count == 1)
        let b = try #require(loaded.first)
        #expect(b == (try { var x = try binding("1001", port: 5071); x.cseq = 9; return x }()))
        #expect(b.contact.parameters.value("+sip.instance") == "\"<urn:x>\"")
    }

    /// A registrar over the SQLite store: register, restart, the binding is there.
    @Test func registrarOnSQLite() throws {
        let path = tempPath()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let clock = ManualScheduler()
        let store = SQLiteBindingStore(database: try ACDDatabase(path: path), logger: logger)
        let auth = DigestAuthenticator(realm: "acd", scheduler: clock)
        _ = Registrar(policy: RegistrarPolicy(), authenticator: auth, passwords: { _ in "x" }, scheduler: clock, store: store, logger: logger)
        store.saveBinding(try binding("1003", port: 5090, expires: clock.wallClock + 100))
        store.saveBinding(try binding("1004", port: 5091, expires: clock.wallClock - 1))
        store.flush()
        let restarted = Registrar(policy: RegistrarPolicy(), authenticator: auth, passwords: { _ in "x" }, scheduler: clock, store: store, logger: logger)
        #expect(restarted.bindings(for: "1003").count == 1)
        #expect(restarted.bindings(for: "1004").isEmpty)
        store.flush()
        #expect(store.loadBindings().map(\.aor) == ["1003"])
    }

    @Test func notADatabaseIsAClearError() throws {
        let path = tempPath()
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data("this is not sqlite".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: (any Error).self) { try ACDDatabase(path: path) }
    }
}
