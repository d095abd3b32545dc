import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The running log level, shared by every logger so that a reload can change it.
final class LogLevelBox: Sendable {
    private let level: Mutex<Logger.Level>
    init(_ level: Logger.Level) { self.level = Mutex(level) }
    var value: Logger.Level {
        get { level.withLock { $0 } }
        set { level.withLock { $0 = newValue } }
    }
}

/// One structured line per event on stderr: `level message key=value ...`. Under systemd
/// (JOURNAL_STREAM set) each line starts with the syslog priority `<N>` so journald files it at
/// the right level, and the timestamp is left to journald; elsewhere lines carry an ISO time.
struct JournalLogHandler: LogHandler {
    let label: String
    let levelBox: LogLevelBox
    let underJournal: Bool
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String, levelBox: LogLevelBox) {
        self.label = label
        self.levelBox = levelBox
        self.underJournal = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] != nil
    }

    var logLevel: Logger.Level {
        get { levelBox.value }
        set { levelBox.value = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var line = ""
        if underJournal {
            line += "<\(Self.priority(event.level))>"
        } else {
            line += Self.timestamp() + " "
        }
        line += "\(event.level) \(Self.quoted(event.message.description))"
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { $1 } }
        for key in all.keys.sorted() {
            line += " \(key)=\(Self.quoted("\(all[key]!)"))"
        }
        line += "\n"
        line.withCString { ptr in _ = write(2, ptr, strlen(ptr)) }
    }

    /// syslog(3) priorities.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    static func quoted(_ s: String) -> String {
        let needsQuotes = s.isEmpty || s.contains { $0 == " " || $0 == "\"" || $0 == "=" || $0.isNewline }
        guard needsQuotes else { return s }
        var out = "\""
        for ch in s {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            default: out.append(ch)
            }
        }
        return out + "\""
    }

    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = tm()
        var secs = ts.tv_sec
        gmtime_r(&secs, &t)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(t.tm_year) + 1900, Int(t.tm_mon) + 1, Int(t.tm_mday), Int(t.tm_hour),
            Int(t.tm_min), Int(t.tm_sec), Int(ts.tv_nsec / 1_000_000))
    }
}
