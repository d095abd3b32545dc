/// A challenge or credentials header value (RFC 7616 §3.3, §3.4; RFC 7235 `auth-param` lists):
/// `Digest realm="acd", nonce="…", qop="auth", algorithm=SHA-256`.
public struct SIPAuthHeader: Sendable, Hashable, CustomStringConvertible {
    public var scheme: String
    /// Parameter names lower-cased; values unquoted.
    public var parameters: [String: String]
    /// Which parameters were written quoted, so that they are written back the same way.
    private var order: [(name: String, quoted: Bool)]

    public init(scheme: String, _ items: [(name: String, value: String, quoted: Bool)]) {
        self.scheme = scheme
        self.parameters = [:]
        self.order = []
        for item in items {
            parameters[item.name.lowercased()] = item.value
            order.append((item.name, item.quoted))
        }
    }

    public static func == (lhs: SIPAuthHeader, rhs: SIPAuthHeader) -> Bool {
        lhs.scheme.lowercased() == rhs.scheme.lowercased() && lhs.parameters == rhs.parameters
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(parameters) }

    public subscript(name: String) -> String? { parameters[name.lowercased()] }

    public var description: String {
        scheme + " "
            + order.map { item in
                let v = parameters[item.name.lowercased()] ?? ""
                return item.name + "=" + (item.quoted ? quoted(v) : v)
            }.joined(separator: ", ")
    }

    public static func parse(_ text: String) throws(SIPParseError) -> SIPAuthHeader {
        var c = ByteCursor(text)
        c.skipSpace()
        let scheme = c.take(while: SIPChar.isToken)
        guard !scheme.isEmpty, let s = c.peek, SIPChar.isSpace(s) else {
            throw SIPParseError(.malformedHeader, "authentication header has no scheme")
        }
        var items: [(String, String, Bool)] = []
        var seen = Set<String>()
        repeat {
            c.skipSpace()
            let name = c.take(while: SIPChar.isToken)
            c.skipSpace()
            guard !name.isEmpty, c.consume(0x3D) else { throw SIPParseError(.malformedHeader, "bad authentication parameter") }
            c.skipSpace()
            let value: String
            let isQuoted = c.peek == 0x22
            if isQuoted {
                guard let q = c.quotedString() else { throw SIPParseError(.malformedHeader, "unterminated authentication parameter") }
                value = q
            } else {
                value = c.take { SIPChar.isToken($0) || $0 == 0x2F || $0 == 0x3A }
            }
            guard seen.insert(name.lowercased()).inserted else {
                throw SIPParseError(.malformedHeader, "authentication parameter '\(name)' repeated")
            }
            items.append((name, value, isQuoted))
            c.skipSpace()
        } while c.consume(0x2C)
        guard c.atEnd else { throw SIPParseError(.malformedHeader, "unexpected text in authentication header") }
        return SIPAuthHeader(scheme: scheme, items.map { (name: $0.0, value: $0.1, quoted: $0.2) })
    }
}
