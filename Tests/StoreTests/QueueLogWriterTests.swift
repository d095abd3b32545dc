import ACD
import Foundation
import GRDB
import Store
import TestSupport
import Testing

@Suite struct QueueLogWriterTests {
    func tempDir() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("acdd-qlog-\(UUID().uuidString)").path
    }

    @Test func linesGoToTheFileAndTheTableInOrder() throws {
        let dir = tempDir()
        let db = try ACDDatabase(path: dir + "/acdd.sqlite")
        let writer = try QueueLogWriter(path: dir + "/queue_log", database: db, logger: LogRecorder().logger)
        let entries = [
            QueueLogEntry(call: "c1", queue: "sales", event: "ENTERQUEUE", data: ["", "0123"]),
            QueueLogEntry(call: "c1", queue: "sales", agent: "Agent/1001", event: "CONNECT", data: ["4", "c1", "2"]),
            QueueLogEntry(call: "c1", queue: "sales", agent: "Agent/1001", event: "COMPLETECALLER", data: ["4", "60", "1"]),
        ]
        for (i, e) in entries.enumerated() { writer.append(.init(epoch: 1_700_000_000 + i, entry: e)) }
        #expect(writer.flush() == 0)
        let text = try String(contentsOfFile: dir + "/queue_log", encoding: .utf8)
        #expect(text == """
            1700000000|c1|sales|NONE|ENTERQUEUE||0123
            1700000001|c1|sales|Agent/1001|CONNECT|4|c1|2
            1700000002|c1|sales|Agent/1001|COMPLETECALLER|4|60|1

            """)
        let rows = try db.pool.read { db in try Row.fetchAll(db, sql: "SELECT time, callid, queuename, agent, event, data1, data2, data3, data4 FROM queue_log ORDER BY id") }
        #expect(rows.count == 3)
        #expect(rows[1]["event"] as String == "CONNECT" && rows[1]["data3"] as String == "2" && rows[1]["time"] as Int == 1_700_000_001)
        #expect(rows[0]["data4"] as String? == nil)
        writer.close()
        // Reopening appends; it never truncates what an earlier run wrote.
        let again = try QueueLogWriter(path: dir + "/queue_log", database: db, logger: LogRecorder().logger)
        again.append(.init(epoch: 1_700_000_100, entry: QueueLogEntry(event: "CONFIGRELOAD")))
        again.close()
        #expect(try String(contentsOfFile: dir + "/queue_log", encoding: .utf8).split(separator: "\n").count == 4)
    }

    @Test func aFullDiskKeepsTheLinesAndSaysSoOnce() throws {
        // /dev/full accepts open and refuses every write with ENOSPC.
        let log = LogRecorder()
        let writer = try QueueLogWriter(path: "/dev/full", database: nil, logger: log.logger)
        writer.append(.init(epoch: 1, entry: QueueLogEntry(event: "ENTERQUEUE")))
        #expect(writer.flush() == 1)
        writer.append(.init(epoch: 2, entry: QueueLogEntry(event: "ABANDON")))
        #expect(writer.flush() == 2)
        #expect(log.count("queue log write failed; lines kept for retry") == 1)
        #expect(log.all.first?.metadata["error"]?.contains("No space") == true)
    }

    @Test func anUnwritablePathIsAnErrorAtStart() throws {
        let dir = tempDir()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: dir + "/file", contents: Data()))
        #expect(throws: (any Error).self) { try QueueLogWriter(path: dir + "/file/queue_log", database: nil, logger: LogRecorder().logger) }
    }
}
