// A TOML 1.0 reader that keeps positions (see TOMLValue.swift for why it exists).
//
// It reads the whole document into a tree of reference-typed tables while it parses, because TOML
// lets a later `[a.b]` header reopen a table an earlier one created implicitly; the tree is frozen
// into `TOMLTable` values at the end. Errors stop at the first fault, with its line and column.

/// A fault in a TOML document, with where it was found.
public struct TOMLError: Error, Sendable, Hashable, CustomStringConvertible {
    public var position: TOMLPosition
    public var message: String

    public init(_ message: String, at position: TOMLPosition) {
        self.message = message
        self.position = position
    }

    public var description: String { "\(position.line):\(position.column): \(message)" }
}

public enum TOMLParser {
    /// Reads a whole document; the root table of the result.
    public static func parse(_ text: String) throws(TOMLError) -> TOMLTable {
        var reader = Reader(bytes: Array(text.utf8))
        return try reader.document()
    }

    /// Reads a single value written in TOML syntax (`"x"`, `5`, `[1, 2]`), for command-line overrides.
    public static func parseValue(_ text: String) throws(TOMLError) -> TOMLValue {
        var reader = Reader(bytes: Array(text.utf8))
        let node = try reader.value()
        reader.skipSpaces()
        guard reader.atEnd else { throw reader.error("unexpected text after the value") }
        return node.value
    }
}

/// How a table came to exist, which decides what may still be added to it (TOML 1.0 "Table").
private enum TableOrigin {
    case implicit   // named on the way to a header, e.g. `a` in `[a.b]`; may be defined later
    case header     // defined by its own `[header]`
    case dotted     // created by a dotted key, `a.b = 1`
    case inline     // `{ ... }`: closed once written
}

private final class MutableTable {
    var origin: TableOrigin
    let position: TOMLPosition
    var keys: [String] = []
    var entries: [String: Entry] = [:]

    init(origin: TableOrigin, position: TOMLPosition) {
        self.origin = origin
        self.position = position
    }

    enum Entry {
        case value(TOMLNode)
        case table(MutableTable)
        case tableArray([MutableTable], TOMLPosition)
    }

    func set(_ key: String, _ entry: Entry) {
        if entries.updateValue(entry, forKey: key) == nil { keys.append(key) }
    }

    func freeze() -> TOMLTable {
        var out = TOMLTable()
        for key in keys {
            switch entries[key]! {
            case .value(let node):
                out[key] = node
            case .table(let table):
                out[key] = TOMLNode(.table(table.freeze()), at: table.position)
            case .tableArray(let tables, let position):
                out[key] = TOMLNode(
                    .array(tables.map { TOMLNode(.table($0.freeze()), at: $0.position) }), at: position)
            }
        }
        return out
    }
}

private struct Reader {
    let bytes: [UInt8]
    var index = 0
    var line = 1
    var lineStart = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { index >= bytes.count }
    var peek: UInt8? { index < bytes.count ? bytes[index] : nil }
    func peek(at offset: Int) -> UInt8? { index + offset < bytes.count ? bytes[index + offset] : nil }
    var position: TOMLPosition { TOMLPosition(line: line, column: index - lineStart + 1) }

    func error(_ message: String) -> TOMLError { TOMLError(message, at: position) }
    func error(_ message: String, at position: TOMLPosition) -> TOMLError { TOMLError(message, at: position) }

    mutating func advance() {
        if bytes[index] == UInt8(ascii: "\n") {
            line += 1
            lineStart = index + 1
        }
        index += 1
    }

    // MARK: Document structure

    mutating func document() throws(TOMLError) -> TOMLTable {
        let root = MutableTable(origin: .header, position: TOMLPosition(line: 1, column: 1))
        var current = root
        while true {
            skipSpaces()
            guard let c = peek else { break }
            switch c {
            case UInt8(ascii: "#"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                try endOfLine()
            case UInt8(ascii: "["):
                current = try header(root: root)
                try endOfLine()
            default:
                try keyValue(into: current)
                try endOfLine()
            }
        }
        return root.freeze()
    }

    mutating func skipSpaces() {
        while let c = peek, c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") { index += 1 }
    }

    /// After a statement only spaces, a comment and a newline (or the end) may follow.
    mutating func endOfLine() throws(TOMLError) {
        skipSpaces()
        if peek == UInt8(ascii: "#") {
            index += 1
            while let c = peek, c != UInt8(ascii: "\n") {
                if c == UInt8(ascii: "\r"), peek(at: 1) == UInt8(ascii: "\n") { break }
                if c < 0x20 && c != UInt8(ascii: "\t") || c == 0x7F {
                    throw error("control character in a comment")
                }
                index += 1
            }
        }
        guard let c = peek else { return }
        if c == UInt8(ascii: "\r"), peek(at: 1) == UInt8(ascii: "\n") {
            index += 1
            advance()
        } else if c == UInt8(ascii: "\n") {
            advance()
        } else {
            throw error("expected the end of the line, found '\(Character(Unicode.Scalar(c)))'")
        }
    }

    /// Skips whitespace, newlines and comments (inside arrays).
    mutating func skipBlank() throws(TOMLError) {
        while let c = peek {
            if c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") {
                index += 1
            } else if c == UInt8(ascii: "\n") || c == UInt8(ascii: "#")
                || (c == UInt8(ascii: "\r") && peek(at: 1) == UInt8(ascii: "\n"))
            {
                try endOfLine()
            } else {
                return
            }
        }
    }

    mutating func header(root: MutableTable) throws(TOMLError) -> MutableTable {
        let start = position
        index += 1
        let isArray = peek == UInt8(ascii: "[")
        if isArray { index += 1 }
        skipSpaces()
        let path = try key()
        skipSpaces()
        guard peek == UInt8(ascii: "]") else { throw error("expected ']' to close the table header") }
        index += 1
        if isArray {
            guard peek == UInt8(ascii: "]") else { throw error("expected ']]' to close the array-of-tables header") }
            index += 1
        }
        let dotted = path.joined(separator: ".")
        var table = root
        for (i, part) in path.enumerated() {
            let last = i == path.count - 1
            switch table.entries[part] {
            case nil:
                if last && isArray {
                    let fresh = MutableTable(origin: .header, position: start)
                    table.set(part, .tableArray([fresh], start))
                    return fresh
                }
                let fresh = MutableTable(origin: last ? .header : .implicit, position: start)
                table.set(part, .table(fresh))
                table = fresh
            case .table(let existing):
                if existing.origin == .inline {
                    throw error("'\(dotted)' extends an inline table, which is closed once written", at: start)
                }
                if last {
                    if isArray { throw error("'\(dotted)' is already a table, not an array of tables", at: start) }
                    if existing.origin != .implicit {
                        throw error("table '\(dotted)' is defined twice", at: start)
                    }
                    existing.origin = .header
                }
                table = existing
            case .tableArray(var tables, let position):
                if last {
                    guard isArray else { throw error("'\(dotted)' is already an array of tables", at: start) }
                    let fresh = MutableTable(origin: .header, position: start)
                    tables.append(fresh)
                    table.set(part, .tableArray(tables, position))
                    return fresh
                }
                table = tables[tables.count - 1]
            case .value(let node):
                throw error("'\(dotted)' is already a value (line \(node.position.line)), not a table", at: start)
            }
        }
        return table
    }

    mutating func keyValue(into table: MutableTable) throws(TOMLError) {
        let start = position
        let path = try key()
        skipSpaces()
        guard peek == UInt8(ascii: "=") else { throw error("expected '=' after the key") }
        index += 1
        skipSpaces()
        let node = try value()
        var target = table
        for part in path.dropLast() {
            switch target.entries[part] {
            case nil:
                let fresh = MutableTable(origin: .dotted, position: start)
                target.set(part, .table(fresh))
                target = fresh
            case .table(let existing) where existing.origin == .dotted:
                target = existing
            default:
                throw error("key '\(path.joined(separator: "."))' extends '\(part)', which is already defined", at: start)
            }
        }
        let last = path[path.count - 1]
        if target.entries[last] != nil {
            throw error("duplicate key '\(path.joined(separator: "."))'", at: start)
        }
        if case .table(let inner) = node.value {
            // Inline tables are kept as closed tables so headers cannot extend them.
            let closed = MutableTable(origin: .inline, position: node.position)
            for (k, v) in inner.entries { closed.set(k, .value(v)) }
            target.set(last, .table(closed))
        } else {
            target.set(last, .value(node))
        }
    }

    /// A possibly dotted key: `a`, `"a b".c`, `'x'.y`.
    mutating func key() throws(TOMLError) -> [String] {
        var parts: [String] = []
        while true {
            skipSpaces()
            guard let c = peek else { throw error("expected a key") }
            if c == UInt8(ascii: "\"") {
                parts.append(try basicString())
            } else if c == UInt8(ascii: "'") {
                parts.append(try literalString())
            } else if isBareKeyByte(c) {
                let begin = index
                while let b = peek, isBareKeyByte(b) { index += 1 }
                parts.append(String(decoding: bytes[begin..<index], as: UTF8.self))
            } else {
                throw error("expected a key, found '\(Character(Unicode.Scalar(c)))'")
            }
            skipSpaces()
            if peek == UInt8(ascii: ".") { index += 1 } else { return parts }
        }
    }

    func isBareKeyByte(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
            || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
    }

    // MARK: Values

    mutating func value() throws(TOMLError) -> TOMLNode {
        let start = position
        guard let c = peek else { throw error("expected a value") }
        switch c {
        case UInt8(ascii: "\""):
            if peek(at: 1) == UInt8(ascii: "\""), peek(at: 2) == UInt8(ascii: "\"") {
                return TOMLNode(.string(try multilineBasicString()), at: start)
            }
            return TOMLNode(.string(try basicString()), at: start)
        case UInt8(ascii: "'"):
            if peek(at: 1) == UInt8(ascii: "'"), peek(at: 2) == UInt8(ascii: "'") {
                return TOMLNode(.string(try multilineLiteralString()), at: start)
            }
            return TOMLNode(.string(try literalString()), at: start)
        case UInt8(ascii: "["):
            return TOMLNode(.array(try array()), at: start)
        case UInt8(ascii: "{"):
            return TOMLNode(.table(try inlineTable()), at: start)
        case UInt8(ascii: "t"), UInt8(ascii: "f"):
            if matchWord("true") { return TOMLNode(.bool(true), at: start) }
            if matchWord("false") { return TOMLNode(.bool(false), at: start) }
            throw error("expected a value (strings need quotes)")
        default:
            return TOMLNode(try scalar(), at: start)
        }
    }

    mutating func matchWord(_ word: String) -> Bool {
        let w = Array(word.utf8)
        guard index + w.count <= bytes.count, Array(bytes[index..<index + w.count]) == w else { return false }
        if let next = peek(at: w.count), isBareKeyByte(next) { return false }
        index += w.count
        return true
    }

    mutating func array() throws(TOMLError) -> [TOMLNode] {
        index += 1
        var items: [TOMLNode] = []
        while true {
            try skipBlank()
            if peek == UInt8(ascii: "]") {
                index += 1
                return items
            }
            items.append(try value())
            try skipBlank()
            if peek == UInt8(ascii: ",") {
                index += 1
            } else if peek == UInt8(ascii: "]") {
                index += 1
                return items
            } else {
                throw error("expected ',' or ']' in the array")
            }
        }
    }

    mutating func inlineTable() throws(TOMLError) -> TOMLTable {
        index += 1
        let table = MutableTable(origin: .header, position: position)
        skipSpaces()
        if peek == UInt8(ascii: "}") {
            index += 1
            return table.freeze()
        }
        while true {
            skipSpaces()
            try keyValue(into: table)
            skipSpaces()
            if peek == UInt8(ascii: ",") {
                index += 1
            } else if peek == UInt8(ascii: "}") {
                index += 1
                return table.freeze()
            } else {
                throw error("expected ',' or '}' in the inline table (inline tables stay on one line)")
            }
        }
    }

    // MARK: Strings

    mutating func basicString() throws(TOMLError) -> String {
        index += 1
        var out: [UInt8] = []
        while true {
            guard let c = peek else { throw error("unterminated string") }
            switch c {
            case UInt8(ascii: "\""):
                index += 1
                return try utf8(out)
            case UInt8(ascii: "\\"):
                try escape(into: &out)
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                throw error("newline in a single-line string")
            default:
                if c < 0x20 && c != UInt8(ascii: "\t") || c == 0x7F { throw error("control character in a string") }
                out.append(c)
                index += 1
            }
        }
    }

    mutating func multilineBasicString() throws(TOMLError) -> String {
        index += 3
        skipNewline()
        var out: [UInt8] = []
        while true {
            guard let c = peek else { throw error("unterminated multi-line string") }
            if c == UInt8(ascii: "\""), peek(at: 1) == UInt8(ascii: "\""), peek(at: 2) == UInt8(ascii: "\"") {
                index += 3
                // Up to two quotes may sit right before the closing delimiter.
                var extra = 0
                while extra < 2, peek == UInt8(ascii: "\"") {
                    out.append(c)
                    index += 1
                    extra += 1
                }
                return try utf8(out)
            }
            if c == UInt8(ascii: "\\") {
                // A backslash at the end of a line trims the newline and the whitespace after it.
                var look = index + 1
                while look < bytes.count, bytes[look] == UInt8(ascii: " ") || bytes[look] == UInt8(ascii: "\t") { look += 1 }
                if look < bytes.count, bytes[look] == UInt8(ascii: "\n") || bytes[look] == UInt8(ascii: "\r") {
                    index += 1
                    while let w = peek,
                        w == UInt8(ascii: " ") || w == UInt8(ascii: "\t") || w == UInt8(ascii: "\n") || w == UInt8(ascii: "\r")
                    {
                        advance()
                    }
                    continue
                }
                try escape(into: &out)
                continue
            }
            if c < 0x20 && c != UInt8(ascii: "\t") && c != UInt8(ascii: "\n") && c != UInt8(ascii: "\r") || c == 0x7F {
                throw error("control character in a string")
            }
            out.append(c)
            advance()
        }
    }

    mutating func literalString() throws(TOMLError) -> String {
        index += 1
        let begin = index
        while true {
            guard let c = peek else { throw error("unterminated literal string") }
            if c == UInt8(ascii: "'") {
                let s = try utf8(Array(bytes[begin..<index]))
                index += 1
                return s
            }
            if c == UInt8(ascii: "\n") || c == UInt8(ascii: "\r") { throw error("newline in a single-line string") }
            if c < 0x20 && c != UInt8(ascii: "\t") || c == 0x7F { throw error("control character in a string") }
            index += 1
        }
    }

    mutating func multilineLiteralString() throws(TOMLError) -> String {
        index += 3
        skipNewline()
        var out: [UInt8] = []
        while true {
            guard let c = peek else { throw error("unterminated multi-line literal string") }
            if c == UInt8(ascii: "'"), peek(at: 1) == UInt8(ascii: "'"), peek(at: 2) == UInt8(ascii: "'") {
                index += 3
                var extra = 0
                while extra < 2, peek == UInt8(ascii: "'") {
                    out.append(c)
                    index += 1
                    extra += 1
                }
                return try utf8(out)
            }
            if c < 0x20 && c != UInt8(ascii: "\t") && c != UInt8(ascii: "\n") && c != UInt8(ascii: "\r") || c == 0x7F {
                throw error("control character in a string")
            }
            out.append(c)
            advance()
        }
    }

    mutating func skipNewline() {
        if peek == UInt8(ascii: "\n") {
            advance()
        } else if peek == UInt8(ascii: "\r"), peek(at: 1) == UInt8(ascii: "\n") {
            index += 1
            advance()
        }
    }

    mutating func escape(into out: inout [UInt8]) throws(TOMLError) {
        index += 1
        guard let c = peek else { throw error("unterminated escape") }
        index += 1
        switch c {
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "\""): out.append(0x22)
        case UInt8(ascii: "\\"): out.append(0x5C)
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            let count = c == UInt8(ascii: "u") ? 4 : 8
            var scalarValue: UInt32 = 0
            for _ in 0..<count {
                guard let h = peek, let d = hexDigit(h) else { throw error("bad unicode escape") }
                scalarValue = scalarValue << 4 | UInt32(d)
                index += 1
            }
            guard let scalar = Unicode.Scalar(scalarValue) else { throw error("escape is not a Unicode scalar value") }
            out.append(contentsOf: Array(String(Character(scalar)).utf8))
        default:
            throw error("unknown escape '\\\(Character(Unicode.Scalar(c)))'")
        }
    }

    func hexDigit(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    func utf8(_ raw: [UInt8]) throws(TOMLError) -> String {
        guard let s = String(validating: raw, as: UTF8.self) else { throw error("string is not valid UTF-8") }
        return s
    }

    // MARK: Numbers and date-times

    /// Integers, floats, infinities, NaN and date-times share a first character set; read the
    /// whole token and decide by its shape.
    mutating func scalar() throws(TOMLError) -> TOMLValue {
        let start = position
        let begin = index
        while let c = peek {
            // A space may separate a date from a time ("1979-05-27 07:32:00").
            if c == UInt8(ascii: " "), index - begin == 10, let n = peek(at: 1), isDigit(n), looksLikeDate(begin) {
                index += 1
                continue
            }
            if isBareKeyByte(c) || c == UInt8(ascii: "+") || c == UInt8(ascii: ".") || c == UInt8(ascii: ":") {
                index += 1
            } else {
                break
            }
        }
        let token = String(decoding: bytes[begin..<index], as: UTF8.self)
        guard !token.isEmpty else { throw error("expected a value", at: start) }
        if looksLikeDate(begin) || (token.count >= 5 && isTimeToken(token)) {
            guard let dt = Self.dateTime(token) else { throw error("invalid date-time '\(token)'", at: start) }
            return .dateTime(dt)
        }
        if let i = Self.integer(token) { return .integer(i) }
        if let f = Self.float(token) { return .float(f) }
        throw error("invalid value '\(token)' (strings need quotes)", at: start)
    }

    func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    func looksLikeDate(_ begin: Int) -> Bool {
        guard begin + 4 < bytes.count else { return false }
        return (0..<4).allSatisfy { isDigit(bytes[begin + $0]) } && bytes[begin + 4] == UInt8(ascii: "-")
    }

    func isTimeToken(_ token: String) -> Bool {
        let u = Array(token.utf8)
        return isDigit(u[0]) && isDigit(u[1]) && u[2] == UInt8(ascii: ":")
    }

    static func integer(_ token: String) -> Int64? {
        var t = Substring(token)
        var negative = false
        if t.first == "+" || t.first == "-" {
            negative = t.first == "-"
            t = t.dropFirst()
        }
        var radix = 10
        if t.count > 2, t.hasPrefix("0x") || t.hasPrefix("0o") || t.hasPrefix("0b") {
            guard token.first != "+" && token.first != "-" else { return nil }
            radix = t.hasPrefix("0x") ? 16 : t.hasPrefix("0o") ? 8 : 2
            t = t.dropFirst(2)
        } else if t.count > 1, t.first == "0" {
            return nil  // leading zeros are not allowed
        }
        guard validUnderscores(t) else { return nil }
        let digits = t.filter { $0 != "_" }
        guard !digits.isEmpty, let magnitude = UInt64(digits, radix: radix) else { return nil }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }

    static func validUnderscores(_ t: Substring) -> Bool {
        guard t.first != "_", t.last != "_" else { return false }
        var previous: Character = " "
        for ch in t {
            if ch == "_" && previous == "_" { return false }
            previous = ch
        }
        return true
    }

    static func float(_ token: String) -> Double? {
        var t = Substring(token)
        var sign = 1.0
        if t.first == "+" || t.first == "-" {
            sign = t.first == "-" ? -1 : 1
            t = t.dropFirst()
        }
        if t == "inf" { return sign * .infinity }
        if t == "nan" { return .nan }
        // int part: no leading zeros; a fraction needs digits on both sides of the dot.
        let parts = t.split(separator: "e", maxSplits: 1, omittingEmptySubsequences: false)
            .flatMap { $0.split(separator: "E", maxSplits: 1, omittingEmptySubsequences: false) }
        guard parts.count <= 2, let mantissa = parts.first else { return nil }
        let mantissaParts = mantissa.split(separator: ".", omittingEmptySubsequences: false)
        guard mantissaParts.count <= 2, parts.count == 2 || mantissaParts.count == 2 else { return nil }
        let intPart = mantissaParts[0]
        guard !intPart.isEmpty, validUnderscores(intPart), intPart.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "_") })
        else { return nil }
        if intPart.count > 1, intPart.first == "0" { return nil }
        if mantissaParts.count == 2 {
            let frac = mantissaParts[1]
            guard !frac.isEmpty, validUnderscores(frac), frac.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "_") })
            else { return nil }
        }
        if parts.count == 2 {
            var exp = parts[1]
            if exp.first == "+" || exp.first == "-" { exp = exp.dropFirst() }
            guard !exp.isEmpty, validUnderscores(exp), exp.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "_") })
            else { return nil }
        }
        guard let v = Double(t.filter { $0 != "_" }) else { return nil }
        return sign * v
    }

    static func dateTime(_ token: String) -> TOMLDateTime? {
        var u = Array(token.utf8)[...]
        func number(_ n: Int) -> Int? {
            guard u.count >= n else { return nil }
            var v = 0
            for c in u.prefix(n) {
                guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
                v = v * 10 + Int(c - UInt8(ascii: "0"))
            }
            u = u.dropFirst(n)
            return v
        }
        func expect(_ c: Character) -> Bool {
            guard let f = u.first, f == c.asciiValue! else { return false }
            u = u.dropFirst()
            return true
        }
        var result = TOMLDateTime()
        if u.count >= 10, u[u.startIndex + 4] == UInt8(ascii: "-") {
            guard let y = number(4), expect("-"), let m = number(2), expect("-"), let d = number(2),
                (1...12).contains(m), (1...daysIn(month: m, year: y)).contains(d)
            else { return nil }
            result.date = .init(year: y, month: m, day: d)
            if u.isEmpty { return result }
            guard let sep = u.first, sep == UInt8(ascii: "T") || sep == UInt8(ascii: "t") || sep == UInt8(ascii: " ")
            else { return nil }
            u = u.dropFirst()
        }
        guard let h = number(2), expect(":"), let mi = number(2), expect(":"), let s = number(2),
            h < 24, mi < 60, s < 61
        else { return nil }
        var nanos = 0
        if expect(".") {
            var digits = 0
            while let c = u.first, c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") {
                if digits < 9 { nanos = nanos * 10 + Int(c - UInt8(ascii: "0")) }
                digits += 1
                u = u.dropFirst()
            }
            guard digits > 0 else { return nil }
            for _ in digits..<9 where digits < 9 { nanos *= 10 }
        }
        result.time = .init(hour: h, minute: mi, second: s, nanosecond: nanos)
        if u.isEmpty { return result }
        guard result.date != nil else { return nil }  // a local time has no offset
        if expect("Z") || expect("z") {
            result.offsetMinutes = 0
        } else if let sign = u.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
            u = u.dropFirst()
            guard let oh = number(2), expect(":"), let om = number(2), oh < 24, om < 60 else { return nil }
            result.offsetMinutes = (sign == UInt8(ascii: "-") ? -1 : 1) * (oh * 60 + om)
        } else {
            return nil
        }
        return u.isEmpty ? result : nil
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
