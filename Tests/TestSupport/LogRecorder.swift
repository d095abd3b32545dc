import Foundation
public import Logging

/// Collects log messages so a test can check that bad input is logged, and logged once.
public final class LogRecorder: @unchecked Sendable {
    // Unchecked: `entries` is guarded by `lock`.
    public struct Entry: Sendable {
        public var level: Logger.Level
        public var message: String
        public var metadata: [String: String]
    }

    private let lock = NSLock()
    private var entries: [Entry] = []

    public init() {}

    public var logger: Logger {
        Logger(label: "test") { _ in Handler(recorder: self) }
    }

    public var all: [Entry] { lock.withLock { entries } }

    public func count(_ message: String) -> Int { all.filter { $0.message == message }.count }

    func add(_ e: Entry) { lock.withLock { entries.append(e) } }

    struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var m: [String: String] = [:]
            for (k, v) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { m[k] = "\(v)" }
            recorder.add(Entry(level: event.level, message: "\(event.message)", metadata: m))
        }
    }
}
