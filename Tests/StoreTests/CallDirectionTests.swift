import Foundation
import GRDB
import Logging
@testable import Store
import Testing

/// Agents' own calls (click-to-dial, issue 19) are told apart from callers' in the records.
@Suite struct CallDirectionTests {
    func tempPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("acdd-dir-\(UUID().uuidString)/acdd.sqlite").path
    }

    @Test func anOutboundRecordRoundTripsAndItsCSVSaysSo() throws {
        let path = tempPath()
        let out = CallDetailRecord(
            uniqueID: "9.1", sipCallID: "sip-9.1", caller: "1001", called: "5551234", trunk: "carrier", start: 1_763_900_000, answer: 1_763_900_012,
            end: 1_763_900_072, outcome: "connected", agent: "1001", talkSeconds: 60, hangupCause: "customer hung up", hangupBy: "customer",
            codec: "PCMU", direction: "outbound", account: "acme-renewals")
        var busy = out
        busy.account = nil
        busy.uniqueID = "9.2"
        busy.answer = nil
        busy.outcome = "busy"
        busy.hangupCause = "number busy (486)"
        do {
            let writer = CallRecordWriter(database: try ACDDatabase(path: path), logger: Logger(label: "test"))
            writer.append(out)
            writer.append(busy)
            #expect(writer.flush())
            writer.close()
        }
        let records = try CallRecords(database: try ACDDatabase(path: path)).cdrs()
        #expect(records == [out, busy])
        #expect(records[0].billableSeconds == 60, "from the number's answer")
        #expect(records[1].disposition == "BUSY", "as Asterisk's cdr_csv says a busy Dial()")
        let line = CDRCSV.line(records[0])
        #expect(line.contains(#","Dial","#), "lastapp is Dial for an agent's own call: \(line)")
        #expect(line.hasPrefix(#""acme-renewals","#), "the account is cdr_csv's accountcode: \(line)")
        #expect(line.hasSuffix(#","outbound","acme-renewals""#))
        #expect(CDRCSV.line(records[1]).hasPrefix(#""carrier","#), "without an account, the trunk as before")
        #expect(CDRCSV.header.hasSuffix(",direction,account"))
    }

    /// A file written before the column existed: its rows were all callers ringing in.
    @Test func recordsFromBeforeTheColumnReadAsInbound() throws {
        let path = tempPath()
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        do {
            let pool = try DatabasePool(path: path)
            try ACDDatabase.migrator.migrate(pool, upTo: "v5-crm-outbox")
            try pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO cdr (unique_id, linked_id, sip_call_id, caller, called, trunk, start, "end", duration, billable, disposition,
                          outcome, ivr_path, transfers, recording_status, hangup_cause, hangup_by)
                        VALUES ('8.1', '8.1', 'sip-8.1', '5551234', '100', 'carrier', 1, 2, 1, 0, 'NO ANSWER', 'ivr', '', '', 'none', 'caller hung up', 'caller')
                        """)
            }
        }
        let records = try CallRecords(database: try ACDDatabase(path: path)).cdrs()
        #expect(records.map(\.direction) == ["inbound"])
        #expect(records.map(\.account) == [nil])
    }
}
