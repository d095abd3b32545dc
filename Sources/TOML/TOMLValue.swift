// The document model of the TOML reader.
//
// Why our own reader: `acdd --check-config` must answer `file:line: reason` for *semantic* faults
// too (a port out of range, an agent in an unknown group), so every value has to remember where it
// was written. The TOML library in the package copies (TOMLKit) reports positions only for syntax
// errors, so the configuration layer could not name the line of a bad value.

/// Where a value was written: a line and column in a file, or a command-line override.
public struct TOMLPosition: Sendable, Hashable, CustomStringConvertible {
    /// 1-based line in the source; 0 for values that did not come from a file.
    public var line: Int
    /// 1-based column in the source.
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public var description: String { "\(line):\(column)" }
}

/// A date, a time, or both, as TOML writes them (RFC 3339 with TOML's relaxations).
public struct TOMLDateTime: Sendable, Hashable, CustomStringConvertible {
    public struct Date: Sendable, Hashable { public var year, month, day: Int }
    public struct Time: Sendable, Hashable {
        public var hour, minute, second: Int
        /// Fraction of a second in nanoseconds.
        public var nanosecond: Int
    }
    public var date: Date?
    public var time: Time?
    /// Offset from UTC in minutes; nil for local date-times.
    public var offsetMinutes: Int?

    public var description: String {
        var s = ""
        if let d = date { s += pad(d.year, 4) + "-" + pad(d.month, 2) + "-" + pad(d.day, 2) }
        if let t = time {
            if date != nil { s += "T" }
            s += pad(t.hour, 2) + ":" + pad(t.minute, 2) + ":" + pad(t.second, 2)
            if t.nanosecond > 0 { s += "." + pad(t.nanosecond, 9) }
        }
        if let off = offsetMinutes {
            if off == 0 { s += "Z" } else {
                s += (off < 0 ? "-" : "+") + pad(abs(off) / 60, 2) + ":" + pad(abs(off) % 60, 2)
            }
        }
        return s
    }

    private func pad(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }
}

/// A value and the position it was written at.
public struct TOMLNode: Sendable, Hashable {
    public var value: TOMLValue
    public var position: TOMLPosition

    public init(_ value: TOMLValue, at position: TOMLPosition) {
        self.value = value
        self.position = position
    }
}

/// The kinds of value TOML has.
public indirect enum TOMLValue: Sendable, Hashable {
    case string(String)
    case integer(Int64)
    case float(Double)
    case bool(Bool)
    case dateTime(TOMLDateTime)
    case array([TOMLNode])
    case table(TOMLTable)

    /// The TOML name of the kind, for error messages ("expected a string, found an integer").
    public var kindName: String {
        switch self {
        case .string: "a string"
        case .integer: "an integer"
        case .float: "a float"
        case .bool: "a boolean"
        case .dateTime: "a date-time"
        case .array: "an array"
        case .table: "a table"
        }
    }
}

/// A table keeps its keys in the order they were written, so that errors and dumps follow the file.
public struct TOMLTable: Sendable, Hashable {
    public private(set) var keys: [String] = []
    private var storage: [String: TOMLNode] = [:]

    public init() {}

    public subscript(key: String) -> TOMLNode? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    public var isEmpty: Bool { keys.isEmpty }

    /// Entries in written order.
    public var entries: [(key: String, node: TOMLNode)] { keys.map { ($0, storage[$0]!) } }
}
