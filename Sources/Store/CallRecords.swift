public import ACD
import Foundation
import GRDB

/// Reads call-detail records and the recordings' index back: for `acdctl cdr`, exports and reports.
/// Reads go through the pool's readers, so they never wait for the writer.
public struct CallRecords: Sendable {
    let database: ACDDatabase

    public init(database: ACDDatabase) { self.database = database }

    /// Calls that started in `[from, to)` (Unix seconds), oldest first, with the recording's final
    /// status where the index has it.
    public func cdrs(from: Double = 0, to: Double = .greatestFiniteMagnitude, limit: Int = 1_000_000) throws -> [CallDetailRecord] {
        try database.pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT cdr.*, recording.status AS final_recording_status FROM cdr
                    LEFT JOIN recording ON recording.unique_id = cdr.unique_id
                    WHERE cdr.start >= ? AND cdr.start < ? ORDER BY cdr.start, cdr.id LIMIT ?
                    """,
                arguments: [from, to, limit]
            ).map(Self.record)
        }
    }

    public func cdr(uniqueID: String) throws -> CallDetailRecord? {
        try database.pool.read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT cdr.*, recording.status AS final_recording_status FROM cdr
                    LEFT JOIN recording ON recording.unique_id = cdr.unique_id WHERE cdr.unique_id = ?
                    """,
                arguments: [uniqueID]
            ).map(Self.record)
        }
    }

    public func recording(uniqueID: String) throws -> RecordingEntry? {
        try database.pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM recording WHERE unique_id = ?", arguments: [uniqueID]).map(Self.recording)
        }
    }

    /// Recordings that started before `before` and are still on disk, oldest first (retention).
    public func recordings(startedBefore before: Double) throws -> [RecordingEntry] {
        try database.pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM recording WHERE started_at < ? AND status != 'deleted' ORDER BY started_at", arguments: [before]
            ).map(Self.recording)
        }
    }

    /// Marks recordings deleted by retention; their rows stay, so the CDR still says there was one.
    public func markDeleted(_ uniqueIDs: [String], at time: Double) throws {
        try database.pool.write { db in
            for id in uniqueIDs {
                try db.execute(sql: "UPDATE recording SET status = 'deleted', deleted_at = ? WHERE unique_id = ?", arguments: [time, id])
            }
        }
    }

    /// Queue log lines with `time` in `[from, to)`, in order (the call-centre report).
    public func queueLog(from: Double, to: Double) throws -> [(time: Int, entry: QueueLogEntry)] {
        try database.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM queue_log WHERE time >= ? AND time < ? ORDER BY time, id", arguments: [from, to]).map { r in
                let data = ["data1", "data2", "data3", "data4", "data5"].compactMap { r[$0] as String? }
                return (r["time"], QueueLogEntry(call: r["callid"], queue: r["queuename"], agent: r["agent"], event: r["event"], data: data))
            }
        }
    }

    /// Retention (FEATURES R3): deletes the files of recordings that started before `cutoff` and
    /// marks their rows deleted (a file already gone counts as deleted). Returns the ids deleted
    /// and, for files that could not be, why.
    public func applyRetention(before cutoff: Double, now: Double) throws -> (deleted: [String], failed: [(path: String, error: String)]) {
        var deleted: [String] = []
        var failed: [(String, String)] = []
        for entry in try recordings(startedBefore: cutoff) {
            if unlink(entry.path) == 0 || errno == ENOENT {
                deleted.append(entry.uniqueID)
            } else {
                failed.append((entry.path, String(cString: strerror(errno))))
            }
        }
        try markDeleted(deleted, at: now)
        return (deleted, failed)
    }

    static func record(_ r: Row) -> CallDetailRecord {
        CallDetailRecord(
            uniqueID: r["unique_id"], linkedID: r["linked_id"], sipCallID: r["sip_call_id"], caller: r["caller"], called: r["called"], trunk: r["trunk"],
            start: r["start"], answer: r["answer"], end: r["end"], outcome: r["outcome"], queue: r["queue"], agent: r["agent"],
            waitSeconds: r["wait_seconds"], talkSeconds: r["talk_seconds"], ivrPath: r["ivr_path"], transfers: r["transfers"],
            recordingPath: r["recording_path"], recordingStatus: (r["final_recording_status"] as String?) ?? r["recording_status"],
            surveyScore: r["survey_score"], hangupCause: r["hangup_cause"], hangupBy: r["hangup_by"], codec: r["codec"], direction: r["direction"],
            account: r["account"])
    }

    static func recording(_ r: Row) -> RecordingEntry {
        RecordingEntry(
            uniqueID: r["unique_id"], path: r["path"], channels: r["channels"], startedAt: r["started_at"], seconds: r["seconds"], bytes: r["bytes"],
            sha256: r["sha256"], status: r["status"], failure: r["failure"], droppedFrames: r["dropped_frames"], pausedSeconds: r["paused_seconds"])
    }
}

/// CDRs as CSV: first the columns of Asterisk's cdr_csv (with `loguniqueid` and `loguserfield`,
/// times in UTC as with its `usegmtime`), so tools that read Master.csv read this; then ours.
public enum CDRCSV {
    public static let asteriskColumns = [
        "accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp", "lastdata", "start", "answer", "end", "duration",
        "billsec", "disposition", "amaflags", "uniqueid", "userfield",
    ]
    public static let extraColumns = [
        "linkedid", "outcome", "queue", "agent", "wait", "talk", "ivr_path", "transfers", "recording_path", "recording_status", "survey_score",
        "hangup_cause", "hangup_by", "sip_call_id", "codec", "direction", "account",
    ]

    public static var header: String { (asteriskColumns + extraColumns).joined(separator: ",") }

    /// One line per record, without the header (cdr_csv writes none).
    public static func line(_ r: CallDetailRecord) -> String {
        let lastApp: String =
            switch r.outcome {
            case _ where r.direction == "outbound": "Dial"
            case "connected", "abandoned", "timeout": "Queue"
            case "voicemail": "VoiceMail"
            case "transferred": "Dial"
            default: "IVR"
            }
        let fields: [Field] = [
            .text(r.account ?? r.trunk), .text(r.caller), .text(r.called), .text("acdd"), .text("\"\(r.caller)\" <\(r.caller)>"),
            .text("SIP/\(r.trunk)-\(r.uniqueID)"), .text(r.agent.map { "SIP/\($0)" } ?? ""), .text(lastApp), .text(r.queue ?? ""),
            .text(time(r.start)), .text(r.answer.map(time) ?? ""), .text(time(r.end)), .number(r.duration), .number(r.billableSeconds),
            .text(r.disposition), .text("DOCUMENTATION"), .text(r.uniqueID), .text(""),
            .text(r.linkedID), .text(r.outcome), .text(r.queue ?? ""), .text(r.agent ?? ""), .optional(r.waitSeconds), .optional(r.talkSeconds),
            .text(r.ivrPath), .text(r.transfers), .text(r.recordingPath ?? ""), .text(r.recordingStatus), .optional(r.surveyScore),
            .text(r.hangupCause), .text(r.hangupBy), .text(r.sipCallID), .text(r.codec ?? ""), .text(r.direction), .text(r.account ?? ""),
        ]
        return fields.map(\.csv).joined(separator: ",")
    }

    enum Field {
        case text(String)
        case number(Int)
        case optional(Int?)

        /// cdr_csv quotes every text field and doubles quotes inside; numbers go bare.
        var csv: String {
            switch self {
            case .text(let s): "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            case .number(let n): String(n)
            case .optional(let n): n.map(String.init) ?? ""
            }
        }
    }

    /// `YYYY-MM-DD HH:MM:SS` in UTC, as cdr_csv writes with `usegmtime`.
    public static func time(_ unix: Double) -> String {
        var t = time_t(unix.rounded(.down))
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(
            format: "%04d-%02d-%02d %02d:%02d:%02d", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday), Int(parts.tm_hour),
            Int(parts.tm_min), Int(parts.tm_sec))
    }
}
