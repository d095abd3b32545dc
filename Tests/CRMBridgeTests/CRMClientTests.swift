import CRMBridge
import Control
import Foundation
import Logging
import Store
import Testing

#if canImport(Glibc)
import Glibc
import JSON
import Synchronization
#endif

/// A store's end of the socket, scripted by the test: accepts one connection at a time and reads
/// lines; the test decides what to answer.
final class StorePeer: @unchecked Sendable {
    let path: String
    private var listener: Int32 = -1
    private var connection: Int32 = -1
    private var buffer: [UInt8] = []

    init(path: String) throws {
        self.path = path
        try listen()
    }

    func listen() throws {
        unlink(path)
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        let ok = withUnsafePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard ok == 0, Glibc.listen(listener, 4) == 0 else { throw PeerError("cannot listen on \(path)") }
    }

    /// Waits up to `seconds` for the client to connect.
    func accept(seconds: Double = 5) throws {
        var p = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, Int32(seconds * 1000)) == 1 else { throw PeerError("no connection") }
        connection = Glibc.accept(listener, nil, nil)
        buffer = []
    }

    /// The next line, or nil after `seconds` without one.
    func line(seconds: Double = 3) -> JSONValue? {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            if let nl = buffer.firstIndex(of: 0x0A) {
                let l = Array(buffer[..<nl])
                buffer.removeFirst(nl + 1)
                return try? JSONDecoder().decode(JSONValue.self, from: Data(l))
            }
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { return nil }
            var p = pollfd(fd: connection, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, Int32(left * 1000)) == 1 else { return nil }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return nil }
            buffer += chunk[0..<n]
        }
    }

    func send(_ text: String) {
        let bytes = Array((text + "\n").utf8)
        _ = bytes.withUnsafeBytes { Glibc.send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    func hangUp() {
        close(connection)
        connection = -1
    }

    func stop() {
        if connection >= 0 { close(connection) }
        close(listener)
        unlink(path)
    }
}

struct PeerError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

@Suite(.serialized) struct CRMClientTests {
    let directory = "/tmp/acdd-crm-\(UUID().uuidString.prefix(8))"

    func setUp(events: Int) throws -> (ACDDatabase, CallRecordWriter, CRMOutbox, String) {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let database = try ACDDatabase(path: "\(directory)/acdd.sqlite")
        let writer = CallRecordWriter(database: database, logger: Logger(label: "test"))
        for i in 1...max(1, events) where events > 0 {
            writer.append(CRMEvents.call("call.incoming", unique: "c\(i % 3)", seq: i, time: Double(i), data: ["n": JSONValue(i)]))
        }
        writer.flush()
        return (database, writer, CRMOutbox(database: database), "\(directory)/crm.sock")
    }

    func eventually(_ seconds: Double = 5, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            usleep(20_000)
        }
        return try condition()
    }

    /// Sent in table order; a row goes only when its id is acknowledged.
    @Test func eventsGoInOrderAndLeaveOnlyWhenAcknowledged() throws {
        let (_, writer, outbox, path) = try setUp(events: 10)
        defer { writer.close() }
        let peer = try StorePeer(path: path)
        defer { peer.stop() }
        let client = CRMClient(socketPath: path, outbox: outbox, logger: Logger(label: "test"), window: 4)
        defer { client.stop() }
        try peer.accept()
        var ids: [String] = []
        for _ in 0..<4 { ids.append(try #require(peer.line()?["id"]?.stringValue)) }
        #expect(peer.line(seconds: 0.3) == nil, "more than the window was sent before an acknowledgement")
        #expect(try outbox.count() == 10)
        for id in ids.prefix(2) { peer.send(CRMProtocol.ack(id)) }
        #expect(try eventually { try outbox.count() == 8 })
        for _ in 0..<2 { ids.append(try #require(peer.line()?["id"]?.stringValue)) }
        for id in ids.dropFirst(2) { peer.send(CRMProtocol.ack(id)) }
        while ids.count < 10, let l = peer.line() {
            let id = try #require(l["id"]?.stringValue)
            ids.append(id)
            peer.send(CRMProtocol.ack(id))
        }
        #expect(ids == (1...10).map { "c\($0 % 3):\($0)" })
        #expect(try eventually { try outbox.count() == 0 })
        #expect(client.eventsAcknowledged == 10)
    }

    /// The store goes away with events unacknowledged, and later a store that speaks garbage:
    /// each time the client reconnects and sends again from the oldest unacknowledged event.
    @Test func restartsAndGarbageLoseNothing() throws {
        let (_, writer, outbox, path) = try setUp(events: 6)
        defer { writer.close() }
        let peer = try StorePeer(path: path)
        defer { peer.stop() }
        let client = CRMClient(socketPath: path, outbox: outbox, logger: Logger(label: "test"))
        defer { client.stop() }
        try peer.accept()
        let first = try #require(peer.line()?["id"]?.stringValue)
        peer.send(CRMProtocol.ack(first))
        _ = peer.line()  // the second arrives, unacknowledged
        #expect(try eventually { try outbox.count() == 5 })
        peer.hangUp()

        try peer.accept()
        #expect(peer.line()?["id"]?.stringValue == "c2:2", "the oldest unacknowledged is sent first again")
        peer.send("this is not JSON")
        #expect(eventually { client.garbageLines == 1 })
        #expect(try outbox.count() == 5)

        try peer.accept()
        var seen: [String] = []
        while let l = peer.line(seconds: 1), let id = l["id"]?.stringValue {
            seen.append(id)
            peer.send(CRMProtocol.ack(id))
        }
        #expect(seen == ["c2:2", "c0:3", "c1:4", "c2:5", "c0:6"])
        #expect(try eventually { try outbox.count() == 0 })
        #expect(client.connections == 3)
    }

    /// No store at all: events wait; a store that appears later gets them all.
    @Test func anAbsentStoreGetsEverythingWhenItComes() throws {
        let (_, writer, outbox, path) = try setUp(events: 3)
        defer { writer.close() }
        let client = CRMClient(socketPath: path, outbox: outbox, logger: Logger(label: "test"))
        defer { client.stop() }
        usleep(400_000)
        let waiting = try outbox.count()
        #expect(!client.isConnected && waiting == 3)
        let peer = try StorePeer(path: path)
        defer { peer.stop() }
        try peer.accept(seconds: 7)
        for _ in 0..<3 { peer.send(CRMProtocol.ack(try #require(peer.line()?["id"]?.stringValue))) }
        #expect(try eventually { try outbox.count() == 0 })
    }

    @Test func lookupsAreAnsweredOrNilAtOnceWhenNotConnected() throws {
        let (_, writer, outbox, path) = try setUp(events: 0)
        defer { writer.close() }
        let client = CRMClient(socketPath: path, outbox: outbox, logger: Logger(label: "test"))
        defer { client.stop() }
        let nothing = LookupBox()
        let started = Date()
        client.lookup("0301") { nothing.set($0) }
        #expect(eventually(1) { nothing.done }, "no answer while not connected")
        #expect(Date().timeIntervalSince(started) < 0.5 && nothing.value == nil)

        let peer = try StorePeer(path: path)
        defer { peer.stop() }
        try peer.accept(seconds: 7)
        let answer = LookupBox()
        client.lookup("0301") { answer.set($0) }
        let request = try #require(peer.line())
        #expect(request["type"] == "lookup" && request["number"] == "0301")
        peer.send(CRMProtocol.customer(id: try #require(request["id"]?.stringValue), customer: ["name": "Ada", "vip": true, "agent": "1002"], history: [["outcome": "connected"]]))
        #expect(eventually { answer.done })
        #expect(answer.value?.vip == true && answer.value?.agent == "1002" && answer.value?.history.count == 1)
    }
}

/// The outbox's cap (issue 20): a store away for hours must not fill the disk the call records
/// are on; past the cap new events are dropped and counted, a call's `call.ended` kept.
@Suite struct OutboxCapTests {
    @Test func pastTheCapEventsAreDroppedButEachCallsEndIsKept() throws {
        let directory = "/tmp/acdd-cap-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let database = try ACDDatabase(path: "\(directory)/acdd.sqlite")
        let alarms = Mutex<[Int]>([])
        let writer = CallRecordWriter(database: database, logger: Logger(label: "test"), outboxCap: 5, onOutboxFull: { n in alarms.withLock { $0.append(n) } })
        defer { writer.close() }
        for i in 1...8 { writer.append(CRMEvents.call("call.incoming", unique: "c\(i)", seq: 1, time: Double(i), data: [:])) }
        for i in 1...2 { writer.append(CRMEvents.call("call.ended", unique: "c\(i)", seq: 2, time: Double(10 + i), data: [:])) }
        #expect(writer.flush())
        let outbox = CRMOutbox(database: database)
        let kept = try outbox.pending(after: 0, limit: 100)
        #expect(kept.map(\.id) == ["c1:1", "c2:1", "c3:1", "c4:1", "c5:1", "c1:2", "c2:2"], "\(kept.map(\.id))")
        #expect(writer.outboxDropped == 3)
        let raised = alarms.withLock { $0 }
        #expect(raised.count == 1 && (5...7).contains(raised[0]), "one alarm for the episode, with what waited: \(raised)")
        writer.append(CRMEvents.call("call.incoming", unique: "c9", seq: 1, time: 20, data: [:]))
        #expect(writer.flush())
        #expect(writer.outboxDropped == 4 && alarms.withLock { $0.count } == 1, "still full: dropped, no second alarm")
        // The store takes what waits: new events are kept again.
        try outbox.delete(ids: kept.map(\.id))
        writer.append(CRMEvents.call("call.incoming", unique: "c10", seq: 1, time: 21, data: [:]))
        #expect(writer.flush())
        #expect(try outbox.pending(after: 0, limit: 100).map(\.id) == ["c10:1"])
        #expect(writer.outboxDropped == 4)
    }
}

final class LookupBox: @unchecked Sendable {
    private let lock = NSLock()
    private var result: CRMCustomer??
    var done: Bool { lock.withLock { result != nil } }
    var value: CRMCustomer? { lock.withLock { result ?? nil } }
    func set(_ c: CRMCustomer?) { lock.withLock { result = .some(c) } }
}
