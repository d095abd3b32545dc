/// An ordered `;name=value` list. Names compare case-insensitively (RFC 3261 §19.1.4, §7.3.1);
/// order is kept so that what we forward reads as it arrived.
public struct SIPParameters: Sendable, Hashable, Sequence {
    public private(set) var items: [(name: String, value: String?)] = []

    public init() {}
    public init(_ items: [(String, String?)]) { self.items = items.map { ($0.0, $0.1) } }

    public static func == (lhs: SIPParameters, rhs: SIPParameters) -> Bool {
        lhs.items.count == rhs.items.count
            && zip(lhs.items, rhs.items).allSatisfy { $0.name.lowercased() == $1.name.lowercased() && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        for item in items {
            hasher.combine(item.name.lowercased())
            hasher.combine(item.value)
        }
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String?)]> { items.makeIterator() }

    public var isEmpty: Bool { items.isEmpty }

    public func contains(_ name: String) -> Bool { items.contains { $0.name.caseInsensitiveEquals(name) } }

    /// The value of a parameter; `.some(nil)` when it is present without a value.
    public subscript(name: String) -> String?? {
        get { items.first { $0.name.caseInsensitiveEquals(name) }.map { $0.value } }
        set {
            if let i = items.firstIndex(where: { $0.name.caseInsensitiveEquals(name) }) {
                if let newValue { items[i].value = newValue } else { items.remove(at: i) }
            } else if let newValue {
                items.append((name, newValue))
            }
        }
    }

    /// The value, or nil both when absent and when present without a value.
    public func value(_ name: String) -> String? { self[name] ?? nil }

    mutating func append(_ name: String, _ value: String?) { items.append((name, value)) }

    /// `;a=b;c` as written on the wire.
    public var wireForm: String {
        var s = ""
        for item in items {
            s += ";" + item.name
            if let v = item.value { s += "=" + v }
        }
        return s
    }
}

extension String {
    func caseInsensitiveEquals(_ other: String) -> Bool {
        guard utf8.count == other.utf8.count else { return false }
        return zip(utf8, other.utf8).allSatisfy { a, b in
            a == b || (SIPChar.isAlpha(a) && SIPChar.isAlpha(b) && a | 0x20 == b | 0x20)
        }
    }
}

/// A `sip:`, `sips:` or `tel:` URI (RFC 3261 §19.1, RFC 3966); other schemes are kept as text so a
/// header carrying one still parses, and the stack answers 416 where such a URI must be routed.
public struct SIPURI: Sendable, Hashable, CustomStringConvertible {
    public enum Scheme: Sendable, Hashable {
        case sip, sips, tel
        case other(String)
    }

    public var scheme: Scheme
    /// The user part with its escapes as written (`alice`, `+1%20555`), or the number of a tel URI.
    public var user: String?
    public var password: String?
    /// Host name or address; IPv6 without the brackets. Empty for tel URIs.
    public var host: String
    public var port: Int?
    public var parameters: SIPParameters
    /// `?name=value&...` headers of the URI.
    public var headers: [(name: String, value: String)]

    public init(
        scheme: Scheme = .sip, user: String? = nil, host: String, port: Int? = nil,
        parameters: SIPParameters = SIPParameters()
    ) {
        self.scheme = scheme
        self.user = user
        self.password = nil
        self.host = host
        self.port = port
        self.parameters = parameters
        self.headers = []
    }

    public static func == (lhs: SIPURI, rhs: SIPURI) -> Bool {
        lhs.scheme == rhs.scheme && lhs.user == rhs.user && lhs.password == rhs.password
            && lhs.host.lowercased() == rhs.host.lowercased() && lhs.port == rhs.port
            && lhs.parameters == rhs.parameters && lhs.headers.map { "\($0.name)=\($0.value)" }
                == rhs.headers.map { "\($0.name)=\($0.value)" }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(user)
        hasher.combine(host.lowercased())
        hasher.combine(port)
    }

    public var isIPv6: Bool { host.contains(":") }

    /// `host` or `[v6]`, with `:port` when one is set.
    public var hostPort: String {
        let h = isIPv6 ? "[\(host)]" : host
        return port.map { "\(h):\($0)" } ?? h
    }

    public var transportParameter: String? { parameters.value("transport")?.lowercased() }

    public var description: String {
        switch scheme {
        case .other(let text):
            return text
        case .tel:
            return "tel:" + (user ?? "") + parameters.wireForm
        case .sip, .sips:
            var s = scheme == .sips ? "sips:" : "sip:"
            if let user {
                s += user
                if let password { s += ":" + password }
                s += "@"
            }
            s += hostPort + parameters.wireForm
            if !headers.isEmpty { s += "?" + headers.map { "\($0.name)=\($0.value)" }.joined(separator: "&") }
            return s
        }
    }

    /// RFC 3261 §19.1.4 comparison: case-insensitive host and parameter names, and the parameters
    /// `user`, `ttl`, `method`, `maddr`, `transport` must agree when either side has them.
    public func isEquivalent(to other: SIPURI) -> Bool {
        guard scheme == other.scheme, unescaped(user) == unescaped(other.user), password == other.password,
            host.lowercased() == other.host.lowercased(), port == other.port
        else { return false }
        for name in ["user", "ttl", "method", "maddr", "transport"] {
            if parameters.contains(name) || other.parameters.contains(name) {
                guard parameters.value(name)?.lowercased() == other.parameters.value(name)?.lowercased() else { return false }
            }
        }
        for item in parameters where other.parameters.contains(item.name) {
            guard other.parameters.value(item.name)?.lowercased() == item.value?.lowercased() else { return false }
        }
        return true
    }

    private func unescaped(_ s: String?) -> String? { s.map(percentDecoded) }
}

/// Decodes `%HH` escapes; malformed escapes are left as written (the parser rejects them earlier).
public func percentDecoded(_ s: String) -> String {
    guard s.utf8.contains(0x25) else { return s }
    var out: [UInt8] = []
    let b = Array(s.utf8)
    var i = 0
    while i < b.count {
        if b[i] == 0x25, i + 2 < b.count, let v = UInt8(String(decoding: b[i + 1...i + 2], as: UTF8.self), radix: 16) {
            out.append(v)
            i += 3
        } else {
            out.append(b[i])
            i += 1
        }
    }
    return String(decoding: out, as: UTF8.self)
}

extension SIPURI {
    /// Parses a whole URI; the text must contain nothing else.
    public static func parse(_ text: String) throws(SIPParseError) -> SIPURI {
        var cursor = ByteCursor(text)
        let uri = try parse(&cursor, stopAtSemicolon: false)
        guard cursor.atEnd else { throw SIPParseError(.malformedURI, "unexpected characters in URI '\(text)'") }
        return uri
    }

    /// Parses a URI from a cursor. `stopAtSemicolon` is set for the addr-spec form of From/To/Contact,
    /// where `;params` after the URI belong to the header (RFC 3261 §20).
    static func parse(_ cursor: inout ByteCursor, stopAtSemicolon: Bool) throws(SIPParseError) -> SIPURI {
        let schemeText = cursor.take { SIPChar.isAlphaNum($0) || $0 == 0x2B || $0 == 0x2D || $0 == 0x2E }
        guard !schemeText.isEmpty, cursor.consume(0x3A) else {
            throw SIPParseError(.malformedURI, "URI has no scheme")
        }
        switch schemeText.lowercased() {
        case "sip": return try parseSIP(&cursor, scheme: .sip, stopAtSemicolon: stopAtSemicolon)
        case "sips": return try parseSIP(&cursor, scheme: .sips, stopAtSemicolon: stopAtSemicolon)
        case "tel": return try parseTel(&cursor, stopAtSemicolon: stopAtSemicolon)
        default:
            guard SIPChar.isAlpha(Array(schemeText.utf8)[0]) else { throw SIPParseError(.malformedURI, "bad URI scheme") }
            // absoluteURI: keep the opaque part up to whitespace or a closing bracket.
            let rest = cursor.take { $0 > 0x20 && $0 != 0x3E && $0 != 0x7F && (!stopAtSemicolon || $0 != 0x3B) }
            guard !rest.isEmpty else { throw SIPParseError(.malformedURI, "empty \(schemeText) URI") }
            return SIPURI(
                scheme: .other(schemeText + ":" + rest), host: "")
        }
    }

    private static func parseSIP(_ c: inout ByteCursor, scheme: Scheme, stopAtSemicolon: Bool) throws(SIPParseError) -> SIPURI {
        var uri = SIPURI(scheme: scheme, host: "")
        // userinfo is present when an '@' comes before the end of the URI's own characters.
        var look = c.index
        var hasUser = false
        while look < c.end {
            let b = c.bytes[look]
            if b == 0x40 {
                hasUser = true
                break
            }
            if b <= 0x20 || b == 0x3E || b == 0x2C && stopAtSemicolon { break }
            look += 1
        }
        if hasUser {
            guard let user = c.takeEscaped(while: { SIPChar.isUnreserved($0) || SIPChar.isUserUnreserved($0) }),
                !user.isEmpty
            else { throw SIPParseError(.malformedURI, "bad user part in SIP URI") }
            uri.user = user
            if c.consume(0x3A) {
                guard let password = c.takeEscaped(while: { SIPChar.isUnreserved($0) || "&=+$,".utf8.contains($0) })
                else { throw SIPParseError(.malformedURI, "bad password in SIP URI") }
                uri.password = password
            }
            guard c.consume(0x40) else { throw SIPParseError(.malformedURI, "bad character in the user part of a SIP URI") }
        }
        try parseHostPort(&c, into: &uri)
        // In addr-spec form, parameters after the URI belong to the header, not the URI.
        if !stopAtSemicolon { try parseParameters(&c, into: &uri, names: SIPChar.isParamChar, kind: "URI") }
        if !stopAtSemicolon, c.consume(0x3F) {
            repeat {
                guard let name = c.takeEscaped(while: SIPChar.isHeaderChar), !name.isEmpty, c.consume(0x3D),
                    let value = c.takeEscaped(while: SIPChar.isHeaderChar)
                else { throw SIPParseError(.malformedURI, "bad header in SIP URI") }
                uri.headers.append((name, value))
            } while c.consume(0x26)
        }
        return uri
    }

    static func parseHostPort(_ c: inout ByteCursor, into uri: inout SIPURI) throws(SIPParseError) {
        if c.consume(0x5B) {
            let v6 = c.take { SIPChar.isHex($0) || $0 == 0x3A || $0 == 0x2E }
            guard c.consume(0x5D), isValidIPv6(v6) else { throw SIPParseError(.malformedURI, "bad IPv6 reference in URI") }
            uri.host = v6
        } else {
            let host = c.take { SIPChar.isAlphaNum($0) || $0 == 0x2D || $0 == 0x2E }
            guard isValidHost(host) else {
                throw SIPParseError(.malformedURI, host.isEmpty ? "URI has no host" : "bad host '\(host)' in URI")
            }
            uri.host = host
        }
        if c.consume(0x3A) {
            let digits = c.take(while: SIPChar.isDigit)
            guard !digits.isEmpty, digits.count <= 5, let port = Int(digits), port <= 65535 else {
                throw SIPParseError(.malformedURI, "bad port in URI")
            }
            uri.port = port
        }
    }

    private static func parseTel(_ c: inout ByteCursor, stopAtSemicolon: Bool) throws(SIPParseError) -> SIPURI {
        // RFC 3966: global numbers start with '+' and digits; local ones allow hex digits, * and #.
        let number = c.take { SIPChar.isHex($0) || "+-.()*#".utf8.contains($0) }
        let digits = number.utf8.filter { SIPChar.isHex($0) || $0 == 0x2A || $0 == 0x23 }
        guard !digits.isEmpty, !number.dropFirst().contains("+") else {
            throw SIPParseError(.malformedURI, "bad telephone number in tel URI")
        }
        var uri = SIPURI(scheme: .tel, user: number, host: "")
        if !stopAtSemicolon { try parseParameters(&c, into: &uri, names: { SIPChar.isAlphaNum($0) || $0 == 0x2D }, kind: "tel URI") }
        return uri
    }

    /// `;name[=value]...` (RFC 3261 `uri-parameters`, RFC 3966 `par`): names from `names`, values
    /// of paramchars, escapes allowed in both.
    private static func parseParameters(
        _ c: inout ByteCursor, into uri: inout SIPURI, names: (UInt8) -> Bool, kind: String
    ) throws(SIPParseError) {
        while c.consume(0x3B) {
            guard let name = c.takeEscaped(while: names), !name.isEmpty else {
                throw SIPParseError(.malformedURI, "empty or bad \(kind) parameter")
            }
            var value: String?
            if c.consume(0x3D) {
                guard let v = c.takeEscaped(while: SIPChar.isParamChar), !v.isEmpty else {
                    throw SIPParseError(.malformedURI, "empty or bad value for \(kind) parameter '\(name)'")
                }
                value = v
            }
            uri.parameters.append(name, value)
        }
    }
}

/// A host name or dotted IPv4 address, as RFC 3261 `hostname` / `IPv4address` allow.
public func isValidHost(_ s: String) -> Bool {
    let b = Array(s.utf8)
    guard !b.isEmpty, b.count <= 255 else { return false }
    let labels = b.split(separator: 0x2E, omittingEmptySubsequences: false)
    // A fully qualified name may end in a dot.
    let used = labels.last?.isEmpty == true && labels.count > 1 ? labels.dropLast() : labels[...]
    if used.allSatisfy({ $0.allSatisfy(SIPChar.isDigit) }) {
        return used.count == 4 && used.allSatisfy { !$0.isEmpty && $0.count <= 3 && Int(String(decoding: $0, as: UTF8.self))! <= 255 }
    }
    for label in used {
        guard !label.isEmpty, label.first != 0x2D, label.last != 0x2D,
            label.allSatisfy({ SIPChar.isAlphaNum($0) || $0 == 0x2D })
        else { return false }
    }
    // The top label of a name starts with a letter.
    return used.last.map { SIPChar.isAlpha($0.first!) } ?? false
}
