import Foundation
import TOML

/// A configuration fault, located: `file:line` for what the file says, `--set key` for overrides.
public struct ConfigError: Error, Sendable, CustomStringConvertible, Equatable {
    public var location: String
    public var message: String

    public init(_ message: String, at location: String) {
        self.message = message
        self.location = location
    }

    public var description: String { "\(location): \(message)" }
}

/// Reads one table of the document, remembering which keys were read so that anything else (a
/// typo, a key of a later version) is reported instead of silently ignored. Overrides given as
/// `--set a.b.c=text` take precedence and are converted to the type the reader asks for.
final class ConfigReader {
    let file: String
    let table: TOMLTable
    let path: [String]
    let position: TOMLPosition
    let overrides: OverrideSet
    private var used: Set<String> = []

    init(file: String, table: TOMLTable, path: [String], position: TOMLPosition, overrides: OverrideSet) {
        self.file = file
        self.table = table
        self.path = path
        self.position = position
        self.overrides = overrides
    }

    var sectionName: String { path.isEmpty ? "top level" : "[\(path.joined(separator: "."))]" }

    func location(_ p: TOMLPosition) -> String { "\(file):\(p.line)" }
    func location(of key: String) -> String {
        if overrides.has(path + [key]) { return "--set \((path + [key]).joined(separator: "."))" }
        return location(table[key]?.position ?? position)
    }

    func error(_ message: String, key: String) -> ConfigError { ConfigError(message, at: location(of: key)) }

    private func node(_ key: String) -> TOMLNode? {
        used.insert(key)
        return table[key]
    }

    private func override(_ key: String) -> String? {
        used.insert(key)
        return overrides.take(path + [key])
    }

    // MARK: Scalars

    public func string(_ key: String) throws(ConfigError) -> String? {
        if let raw = override(key) { return raw }
        guard let n = node(key) else { return nil }
        guard case .string(let s) = n.value else { throw ConfigError("\(key) must be a string, not \(n.value.kindName)", at: location(n.position)) }
        return s
    }

    public func string(_ key: String, default value: String) throws(ConfigError) -> String { try string(key) ?? value }

    public func requiredString(_ key: String) throws(ConfigError) -> String {
        guard let s = try string(key) else { throw ConfigError("\(sectionName) needs \(key)", at: location(position)) }
        guard !s.isEmpty else { throw error("\(key) must not be empty", key: key) }
        return s
    }

    public func integer(_ key: String, default value: Int, range: ClosedRange<Int>? = nil) throws(ConfigError) -> Int {
        var result = value
        if let raw = override(key) {
            guard let v = Int(raw.trimmingCharacters(in: .whitespaces)) else { throw error("\(key) must be an integer, not '\(raw)'", key: key) }
            result = v
        } else if let n = node(key) {
            guard case .integer(let v) = n.value, let i = Int(exactly: v) else {
                throw ConfigError("\(key) must be an integer, not \(n.value.kindName)", at: location(n.position))
            }
            result = i
        }
        if let range, !range.contains(result) {
            throw error("\(key) must be between \(range.lowerBound) and \(range.upperBound), not \(result)", key: key)
        }
        return result
    }

    /// An integer that may be absent (nil), checked against `range` when present.
    public func optionalInteger(_ key: String, range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        guard override(key) != nil || node(key) != nil else { return nil }
        return try integer(key, default: 0, range: range)
    }

    public func double(_ key: String, default value: Double, minimum: Double? = nil) throws(ConfigError) -> Double {
        var result = value
        if let raw = override(key) {
            guard let v = Double(raw) else { throw error("\(key) must be a number, not '\(raw)'", key: key) }
            result = v
        } else if let n = node(key) {
            switch n.value {
            case .integer(let v): result = Double(v)
            case .float(let v): result = v
            default: throw ConfigError("\(key) must be a number, not \(n.value.kindName)", at: location(n.position))
            }
        }
        if let minimum, result < minimum || !result.isFinite { throw error("\(key) must be at least \(minimum), not \(result)", key: key) }
        return result
    }

    public func bool(_ key: String, default value: Bool) throws(ConfigError) -> Bool {
        if let raw = override(key) {
            switch raw.lowercased() {
            case "true", "yes", "on", "1": return true
            case "false", "no", "off", "0": return false
            default: throw error("\(key) must be true or false, not '\(raw)'", key: key)
            }
        }
        guard let n = node(key) else { return value }
        guard case .bool(let b) = n.value else { throw ConfigError("\(key) must be true or false, not \(n.value.kindName)", at: location(n.position)) }
        return b
    }

    /// A list of strings; an override is a TOML array (`["a","b"]`) or comma-separated text.
    public func strings(_ key: String) throws(ConfigError) -> [String]? {
        if let raw = override(key) {
            if raw.hasPrefix("[") {
                guard case .array(let items)? = try? TOMLParser.parseValue(raw) else { throw error("\(key) is not a valid array", key: key) }
                var out: [String] = []
                for item in items {
                    guard case .string(let s) = item.value else { throw error("\(key) must hold strings", key: key) }
                    out.append(s)
                }
                return out
            }
            return raw.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        guard let n = node(key) else { return nil }
        guard case .array(let items) = n.value else { throw ConfigError("\(key) must be an array of strings, not \(n.value.kindName)", at: location(n.position)) }
        var out: [String] = []
        for item in items {
            guard case .string(let s) = item.value else { throw ConfigError("\(key) must hold strings, not \(item.value.kindName)", at: location(item.position)) }
            out.append(s)
        }
        return out
    }

    /// A list of integers; an override is a TOML array (`[8, 5]`) or comma-separated text.
    public func integers(_ key: String) throws(ConfigError) -> [Int]? {
        if let raw = override(key) {
            let text = raw.trimmingCharacters(in: CharacterSet(charactersIn: "[] "))
            var out: [Int] = []
            for part in text.split(separator: ",") {
                guard let v = Int(part.trimmingCharacters(in: .whitespaces)) else { throw error("\(key) must hold integers, not '\(part)'", key: key) }
                out.append(v)
            }
            return out
        }
        guard let n = node(key) else { return nil }
        guard case .array(let items) = n.value else { throw ConfigError("\(key) must be an array of integers, not \(n.value.kindName)", at: location(n.position)) }
        var out: [Int] = []
        for item in items {
            guard case .integer(let v) = item.value, let i = Int(exactly: v) else {
                throw ConfigError("\(key) must hold integers, not \(item.value.kindName)", at: location(item.position))
            }
            out.append(i)
        }
        return out
    }

    /// A table of integers such as `skills = { sales = 8, support = 3 }`, in written order, each
    /// with its location.
    public func integerTable(_ key: String) throws(ConfigError) -> [(String, Int, String)]? {
        try table(key, example: "{sales = 8}", kind: "an integer") { v in
            if case .integer(let i) = v { Int(exactly: i) } else { nil }
        }
    }

    /// A table of strings such as `choices = { "1" = "sales" }`, in written order, each with its location.
    public func stringTable(_ key: String) throws(ConfigError) -> [(String, String, String)]? {
        try table(key, example: "{\"1\" = \"sales\"}", kind: "a string") { v in
            if case .string(let s) = v { s } else { nil }
        }
    }

    /// An inline table whose values `convert` accepts; an override is a TOML inline table.
    private func table<T>(_ key: String, example: String, kind: String, convert: (TOMLValue) -> T?) throws(ConfigError) -> [(String, T, String)]? {
        var t: TOMLTable
        var loc: (TOMLPosition) -> String = { self.location($0) }
        if let raw = override(key) {
            guard case .table(let parsed)? = try? TOMLParser.parseValue(raw) else { throw error("\(key) must be a table like \(example)", key: key) }
            t = parsed
            let l = location(of: key)
            loc = { _ in l }
        } else {
            guard let n = node(key) else { return nil }
            guard case .table(let parsed) = n.value else { throw ConfigError("\(key) must be a table, not \(n.value.kindName)", at: location(n.position)) }
            t = parsed
        }
        var out: [(String, T, String)] = []
        for (k, v) in t.entries {
            guard let value = convert(v.value) else { throw ConfigError("\(key).\(k) must be \(kind), not \(v.value.kindName)", at: loc(v.position)) }
            out.append((k, value, loc(v.position)))
        }
        return out
    }

    /// A path: relative file values from the file's directory, relative overrides from the
    /// working directory.
    public func path(_ key: String, relativeTo base: String) throws(ConfigError) -> String? {
        let fromOverride = overrides.has(path + [key])
        guard let s = try string(key) else { return nil }
        guard !s.isEmpty else { throw error("\(key) must not be empty", key: key) }
        if s.hasPrefix("/") { return (s as NSString).standardizingPath }
        let root = fromOverride ? FileManager.default.currentDirectoryPath : base
        return ((root as NSString).appendingPathComponent(s) as NSString).standardizingPath
    }

    // MARK: Structure

    public func section(_ key: String) throws(ConfigError) -> ConfigReader {
        let n = node(key)
        var t = TOMLTable()
        var p = position
        if let n {
            guard case .table(let inner) = n.value else { throw ConfigError("\(key) must be a table, not \(n.value.kindName)", at: location(n.position)) }
            t = inner
            p = n.position
        }
        return ConfigReader(file: file, table: t, path: path + [key], position: p, overrides: overrides)
    }

    /// The sub-tables of this table (`[ivr.nodes.NAME]`), by name in written order.
    public func namedSections() throws(ConfigError) -> [(String, ConfigReader)] {
        var out: [(String, ConfigReader)] = []
        for (key, n) in table.entries {
            guard case .table = n.value else { throw ConfigError("\(key) in \(sectionName) must be a table", at: location(n.position)) }
            out.append((key, try section(key)))
        }
        return out
    }

    /// `[[key]]` tables, each with its index in the override path (`agents.0.password`).
    public func tables(_ key: String) throws(ConfigError) -> [ConfigReader] {
        guard let n = node(key) else { return [] }
        guard case .array(let items) = n.value else { throw ConfigError("\(key) must be written as [[\(key)]] tables", at: location(n.position)) }
        var out: [ConfigReader] = []
        for (i, item) in items.enumerated() {
            guard case .table(let t) = item.value else { throw ConfigError("\(key) must hold tables", at: location(item.position)) }
            out.append(ConfigReader(file: file, table: t, path: path + [key, String(i)], position: item.position, overrides: overrides))
        }
        return out
    }

    /// Refuses keys nobody read: typos are errors, not silence.
    public func finish() throws(ConfigError) {
        for (key, n) in table.entries where !used.contains(key) {
            throw ConfigError("unknown key '\(key)' in \(sectionName)", at: location(n.position))
        }
    }
}

/// The `--set key=value` overrides; each must be read by someone, or it is reported.
final class OverrideSet {
    private var values: [String: String]
    private var consumed: Set<String> = []

    init(_ values: [String: String]) { self.values = values }

    func has(_ path: [String]) -> Bool { values[path.joined(separator: ".")] != nil }

    func take(_ path: [String]) -> String? {
        let key = path.joined(separator: ".")
        guard let v = values[key] else { return nil }
        consumed.insert(key)
        return v
    }

    func checkAllUsed() throws(ConfigError) {
        for key in values.keys.sorted() where !consumed.contains(key) {
            throw ConfigError("no such setting", at: "--set \(key)")
        }
    }
}
