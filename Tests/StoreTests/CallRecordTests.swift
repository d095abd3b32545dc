import Foundation
import GRDB
import Logging
import Store
import Testing

@Suite struct CallRecordTests {
    func tempPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("acdd-cdr-\(UUID().uuidString)/acdd.sqlite").path
    }

    func record(_ id: String, start: Double = 1_763_900_000, answer: Double? = 1_763_900_000.05, end: Double = 1_763_900_095.6) -> CallDetailRecord {
        CallDetailRecord(
            uniqueID: id, sipCallID: "sip-\(id)", caller: "5551234", called: "100", trunk: "carrier", start: start, answer: answer, end: end,
            outcome: "connected", queue: "sales", agent: "1001", waitSeconds: 12, talkSeconds: 70, ivrPath: "welcome>menu:1>sales",
            transfers: "group:support", recordingPath: "/r/2025/11/23/\(id).wav", recordingStatus: "recorded", surveyScore: 4,
            hangupCause: "caller hung up", hangupBy: "caller", codec: "PCMU")
    }

    /// Written, then read back by a new process (another open of the same file).
    @Test func recordsRoundTripAndEachCallHasOnlyOne() throws {
        let path = tempPath()
        do {
            let writer = CallRecordWriter(database: try ACDDatabase(path: path), logger: Logger(label: "test"))
            writer.append(record("1.1"))
            writer.append(record("1.2", start: 1_763_900_010))
            var again = record("1.1")
            again.agent = "1004"
            writer.append(again)  // a second record for the same call is refused by the table
            #expect(writer.flush())
            writer.close()
        }
        let records = try CallRecords(database: try ACDDatabase(path: path)).cdrs()
        #expect(records.map(\.uniqueID) == ["1.1", "1.2"])
        #expect(records[0] == record("1.1"))
        #expect(records[0].duration == 96 && records[0].billableSeconds == 96 && records[0].disposition == "ANSWERED")
    }

    /// `whenWritten` runs only after the rows pushed before it are readable by another connection.
    @Test func aBarrierRunsOnlyOnceEarlierRecordsAreCommitted() throws {
        let database = try ACDDatabase(path: tempPath())
        let writer = CallRecordWriter(database: database, logger: Logger(label: "test"))
        defer { writer.close() }
        let reader = CallRecords(database: database)
        let seen = LockedCount()
        let done = DispatchSemaphore(value: 0)
        for i in 0..<200 { writer.append(record("2.\(i)", start: 1_763_900_000 + Double(i))) }
        writer.whenWritten {
            seen.set((try? reader.cdrs().count) ?? -1)
            done.signal()
        }
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(seen.value == 200)
    }

    /// The recording's final status (from the index, once the file is complete) wins over what was
    /// known when the call ended.
    @Test func theRecordingIndexHasTheFinalWord() throws {
        let database = try ACDDatabase(path: tempPath())
        let writer = CallRecordWriter(database: database, logger: Logger(label: "test"))
        defer { writer.close() }
        writer.append(record("3.1"))
        writer.append(
            RecordingEntry(
                uniqueID: "3.1", path: "/r/3.1.wav", channels: 2, startedAt: 1_763_900_001, seconds: 1.5, bytes: 48_044, sha256: nil, status: "failed",
                failure: "write failed after 1.5 s: No space left on device", droppedFrames: 4000, pausedSeconds: 0))
        writer.flush()
        let records = CallRecords(database: database)
        #expect(try records.cdr(uniqueID: "3.1")?.recordingStatus == "failed")
        #expect(try records.recording(uniqueID: "3.1")?.failure?.contains("No space") == true)
        try records.markDeleted(["3.1"], at: 1_763_999_999)
        #expect(try records.recording(uniqueID: "3.1")?.status == "deleted")
        #expect(try records.recordings(startedBefore: 1_800_000_000).isEmpty)
    }

    /// Recordings past their age go, files and all; newer ones and their files stay; the rows stay,
    /// marked deleted, so the CDR still says there was one.
    @Test func retentionDeletesOldRecordingsOnly() throws {
        let path = tempPath()
        let database = try ACDDatabase(path: path)
        let writer = CallRecordWriter(database: database, logger: Logger(label: "test"))
        defer { writer.close() }
        let dir = (path as NSString).deletingLastPathComponent
        for (id, started) in [("old", 1_000.0), ("gone", 1_500.0), ("new", 9_000.0)] {
            let file = "\(dir)/\(id).wav"
            if id != "gone" { try Data("RIFF".utf8).write(to: URL(fileURLWithPath: file)) }
            writer.append(
                RecordingEntry(
                    uniqueID: id, path: file, channels: 2, startedAt: started, seconds: 1, bytes: 4, sha256: nil, status: "complete", failure: nil,
                    droppedFrames: 0, pausedSeconds: 0))
        }
        writer.append(record("old"))
        writer.flush()
        let records = CallRecords(database: database)
        let result = try records.applyRetention(before: 5_000, now: 10_000)
        #expect(result.deleted.sorted() == ["gone", "old"] && result.failed.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/old.wav") && FileManager.default.fileExists(atPath: "\(dir)/new.wav"))
        #expect(try records.recording(uniqueID: "old")?.status == "deleted" && (try records.recording(uniqueID: "new")?.status) == "complete")
        #expect(try records.cdr(uniqueID: "old")?.recordingStatus == "deleted")
        #expect(try records.applyRetention(before: 5_000, now: 10_001).deleted.isEmpty, "a second pass finds nothing more")
    }

    @Test func csvFollowsCdrCsvThenOurColumns() {
        var r = record("4.1")
        r.caller = "Say \"hi\""
        let fields = CDRCSV.line(r)
        #expect(CDRCSV.header.hasPrefix("accountcode,src,dst,dcontext,clid,channel,dstchannel,lastapp,lastdata,start,answer,end,duration,billsec,disposition,amaflags,uniqueid,userfield,linkedid"))
        #expect(
            fields.hasPrefix(
                #""carrier","Say ""hi""","100","acdd","""Say ""hi"""" <Say ""hi"">","SIP/carrier-4.1","SIP/1001","Queue","sales","2025-11-23 12:13:20","2025-11-23 12:13:20","2025-11-23 12:14:55",96,96,"ANSWERED","DOCUMENTATION","4.1","","4.1","connected","sales","1001",12,70,"#
            ), "\(fields)")
        var unanswered = record("4.2", answer: nil)
        unanswered.outcome = "failed"
        #expect(CDRCSV.line(unanswered).contains(#","",""#) && CDRCSV.line(unanswered).contains(#","FAILED","#))
    }
}

final class LockedCount: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    var value: Int { lock.withLock { n } }
    func set(_ v: Int) { lock.withLock { n = v } }
}
