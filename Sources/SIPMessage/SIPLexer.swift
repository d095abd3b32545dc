// Byte-level helpers for the RFC 3261 §25 grammar: character classes, a cursor over bytes, quoted
// strings and parameter lists. Shared by URI, header and SDP parsing.

enum SIPChar {
    /// RFC 3261 `token` characters: alphanum and -.!%*_+`'~
    static func isToken(_ c: UInt8) -> Bool {
        isAlphaNum(c) || c == 0x2D || c == 0x2E || c == 0x21 || c == 0x25 || c == 0x2A || c == 0x5F
            || c == 0x2B || c == 0x60 || c == 0x27 || c == 0x7E
    }

    static func isAlphaNum(_ c: UInt8) -> Bool { isAlpha(c) || isDigit(c) }
    static func isAlpha(_ c: UInt8) -> Bool { (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) }
    static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
    static func isHex(_ c: UInt8) -> Bool { isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66) }
    static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 }

    /// RFC 3261 `unreserved`: alphanum / mark.
    static func isUnreserved(_ c: UInt8) -> Bool {
        isAlphaNum(c) || c == 0x2D || c == 0x5F || c == 0x2E || c == 0x21 || c == 0x7E || c == 0x2A || c == 0x27
            || c == 0x28 || c == 0x29
    }

    /// Characters of a URI `user` part besides unreserved and escapes: & = + $ , ; ? /
    static func isUserUnreserved(_ c: UInt8) -> Bool {
        c == 0x26 || c == 0x3D || c == 0x2B || c == 0x24 || c == 0x2C || c == 0x3B || c == 0x3F || c == 0x2F
    }

    /// `paramchar` without escapes: param-unreserved [ ] / : & + $ and unreserved.
    static func isParamChar(_ c: UInt8) -> Bool {
        isUnreserved(c) || c == 0x5B || c == 0x5D || c == 0x2F || c == 0x3A || c == 0x26 || c == 0x2B || c == 0x24
    }

    /// `hnv-unreserved` for URI headers: [ ] / ? : + $ and unreserved.
    static func isHeaderChar(_ c: UInt8) -> Bool {
        isUnreserved(c) || c == 0x5B || c == 0x5D || c == 0x2F || c == 0x3F || c == 0x3A || c == 0x2B || c == 0x24
    }
}

/// A cursor over the bytes of one header value or URI.
struct ByteCursor {
    let bytes: [UInt8]
    var index: Int
    let end: Int

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        self.index = 0
        self.end = bytes.count
    }

    init(_ string: String) { self.init(Array(string.utf8)) }

    var atEnd: Bool { index >= end }
    var peek: UInt8? { index < end ? bytes[index] : nil }

    mutating func skipSpace() {
        while index < end, SIPChar.isSpace(bytes[index]) { index += 1 }
    }

    mutating func consume(_ c: UInt8) -> Bool {
        guard index < end, bytes[index] == c else { return false }
        index += 1
        return true
    }

    /// Reads a run of bytes that satisfy `accept`; empty if none.
    mutating func take(while accept: (UInt8) -> Bool) -> String {
        let start = index
        while index < end, accept(bytes[index]) { index += 1 }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    /// Reads a run of bytes with `%HH` escapes allowed; fails on a broken escape.
    mutating func takeEscaped(while accept: (UInt8) -> Bool) -> String? {
        let start = index
        while index < end {
            let c = bytes[index]
            if c == 0x25 {
                guard index + 2 < end, SIPChar.isHex(bytes[index + 1]), SIPChar.isHex(bytes[index + 2])
                else { return nil }
                index += 3
            } else if accept(c) {
                index += 1
            } else {
                break
            }
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    /// Reads a `quoted-string` (RFC 3261 §25.1), unescaping `\x` pairs. The cursor is on the quote.
    mutating func quotedString() -> String? {
        guard consume(0x22) else { return nil }
        var out: [UInt8] = []
        while index < end {
            let c = bytes[index]
            if c == 0x22 {
                index += 1
                return String(decoding: out, as: UTF8.self)
            }
            if c == 0x5C {
                guard index + 1 < end, bytes[index + 1] != 0x0D, bytes[index + 1] != 0x0A else { return nil }
                out.append(bytes[index + 1])
                index += 2
                continue
            }
            if c < 0x20 && c != 0x09 || c == 0x7F { return nil }
            out.append(c)
            index += 1
        }
        return nil
    }
}

/// Writes a string as a `quoted-string`, escaping quotes and backslashes.
func quoted(_ s: String) -> String {
    var out = "\""
    for ch in s {
        if ch == "\"" || ch == "\\" { out.append("\\") }
        out.append(ch)
    }
    out.append("\"")
    return out
}

/// Splits a header value at top-level commas: not inside quotes or angle brackets (RFC 3261 §7.3.1).
func splitCommaList(_ value: String) -> [String] {
    var parts: [String] = []
    var current: [UInt8] = []
    var inQuotes = false
    var angle = 0
    var escaped = false
    for c in value.utf8 {
        if escaped {
            escaped = false
            current.append(c)
            continue
        }
        switch c {
        case 0x5C where inQuotes: escaped = true
        case 0x22: inQuotes.toggle()
        case 0x3C where !inQuotes: angle += 1
        case 0x3E where !inQuotes: angle = max(0, angle - 1)
        case 0x2C where !inQuotes && angle == 0:
            parts.append(trimmed(current))
            current.removeAll(keepingCapacity: true)
            continue
        default: break
        }
        current.append(c)
    }
    parts.append(trimmed(current))
    return parts
}

private func trimmed(_ bytes: [UInt8]) -> String {
    var lo = 0
    var hi = bytes.count
    while lo < hi, SIPChar.isSpace(bytes[lo]) { lo += 1 }
    while hi > lo, SIPChar.isSpace(bytes[hi - 1]) { hi -= 1 }
    return String(decoding: bytes[lo..<hi], as: UTF8.self)
}
