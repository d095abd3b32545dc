/// One `Via` value (RFC 3261 §20.42): where a response goes back to, and the transaction's branch.
public struct SIPVia: Sendable, Hashable, CustomStringConvertible {
    /// `UDP`, `TCP`, `TLS`... upper-cased.
    public var transport: String
    public var host: String
    public var port: Int?
    public var parameters: SIPParameters

    public init(transport: String, host: String, port: Int?, branch: String?) {
        self.transport = transport.uppercased()
        self.host = host
        self.port = port
        self.parameters = SIPParameters()
        if let branch { parameters["branch"] = .some(branch) }
    }

    /// The RFC 3261 magic cookie that marks a branch as globally unique (§8.1.1.7).
    public static let magicCookie = "z9hG4bK"

    public var branch: String? { parameters.value("branch") }
    public var received: String? { parameters.value("received") }
    /// `rport` present (RFC 3581), with the port we filled in if any.
    public var rport: (present: Bool, value: Int?) {
        guard let p = parameters["rport"] else { return (false, nil) }
        return (true, p.flatMap { Int($0) })
    }

    public var sentBy: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return port.map { "\(h):\($0)" } ?? h
    }

    public var description: String { "SIP/2.0/\(transport) \(sentBy)\(parameters.wireForm)" }

    public static func parse(_ text: String) throws(SIPParseError) -> SIPVia {
        var c = ByteCursor(text)
        c.skipSpace()
        func part() -> String { c.skipSpace(); return c.take(while: SIPChar.isToken) }
        let name = part()
        c.skipSpace()
        guard c.consume(0x2F) else { throw SIPParseError(.malformedHeader, "Via has no protocol version") }
        let version = part()
        c.skipSpace()
        guard c.consume(0x2F) else { throw SIPParseError(.malformedHeader, "Via has no transport") }
        let transport = part()
        guard name.uppercased() == "SIP", version == "2.0", !transport.isEmpty else {
            throw SIPParseError(.malformedHeader, "bad sent-protocol in Via")
        }
        guard let space = c.peek, SIPChar.isSpace(space) else { throw SIPParseError(.malformedHeader, "Via has no sent-by") }
        c.skipSpace()
        var uri = SIPURI(host: "")
        do { try SIPURI.parseHostPort(&c, into: &uri) } catch { throw SIPParseError(.malformedHeader, "bad sent-by in Via") }
        var via = SIPVia(transport: transport, host: uri.host, port: uri.port, branch: nil)
        via.parameters = try parseGenericParameters(&c, header: "Via")
        guard c.atEnd else { throw SIPParseError(.malformedHeader, "unexpected text in Via") }
        if let rport = via.parameters["rport"], let value = rport {
            guard let p = Int(value), (1...65535).contains(p) else { throw SIPParseError(.malformedHeader, "bad rport in Via") }
        }
        if via.parameters["branch"] != nil, via.branch?.isEmpty ?? true {
            throw SIPParseError(.malformedHeader, "empty branch in Via")
        }
        return via
    }
}

/// `;name=value` header parameters (RFC 3261 `generic-param`): values are tokens, hosts or quoted
/// strings; a quoted value keeps its quotes so it is written back as it came.
func parseGenericParameters(_ c: inout ByteCursor, header: String) throws(SIPParseError) -> SIPParameters {
    var params = SIPParameters()
    c.skipSpace()
    while c.consume(0x3B) {
        c.skipSpace()
        let name = c.take(while: SIPChar.isToken)
        guard !name.isEmpty else { throw SIPParseError(.malformedHeader, "empty parameter in \(header)") }
        c.skipSpace()
        var value: String?
        if c.consume(0x3D) {
            c.skipSpace()
            if c.peek == 0x22 {
                guard let q = c.quotedString() else { throw SIPParseError(.malformedHeader, "unterminated quoted parameter in \(header)") }
                value = quoted(q)
            } else {
                let v = c.take { SIPChar.isToken($0) || $0 == 0x3A || $0 == 0x5B || $0 == 0x5D }
                guard !v.isEmpty else { throw SIPParseError(.malformedHeader, "empty value for '\(name)' in \(header)") }
                value = v
            }
            c.skipSpace()
        }
        params.append(name, value)
    }
    return params
}

/// A `name-addr` or `addr-spec` with header parameters: the value of From, To, Contact, Route,
/// Record-Route, Refer-To (RFC 3261 §20.10, §20.20, §20.39).
public struct SIPNameAddr: Sendable, Hashable, CustomStringConvertible {
    public var displayName: String?
    public var uri: SIPURI
    public var parameters: SIPParameters

    public init(displayName: String? = nil, uri: SIPURI, parameters: SIPParameters = SIPParameters()) {
        self.displayName = displayName
        self.uri = uri
        self.parameters = parameters
    }

    public var tag: String? {
        get { parameters.value("tag") }
        set { parameters["tag"] = newValue.map { .some($0) } }
    }

    public var description: String {
        var s = ""
        if let displayName, !displayName.isEmpty { s += quoted(displayName) + " " }
        s += "<\(uri)>" + parameters.wireForm
        return s
    }

    public static func parse(_ text: String, header: String) throws(SIPParseError) -> SIPNameAddr {
        var c = ByteCursor(text)
        c.skipSpace()
        var display: String?
        let uri: SIPURI
        if c.peek == 0x22 {
            guard let q = c.quotedString() else { throw SIPParseError(.malformedHeader, "unterminated display name in \(header)") }
            display = q
            c.skipSpace()
        }
        // A bare display name is a run of tokens and spaces before '<'.
        var look = c.index
        while look < c.end, c.bytes[look] != 0x3C, SIPChar.isToken(c.bytes[look]) || SIPChar.isSpace(c.bytes[look]) {
            look += 1
        }
        if display == nil, look < c.end, c.bytes[look] == 0x3C {
            let name = String(decoding: c.bytes[c.index..<look], as: UTF8.self)
            let trimmed = name.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            display = trimmed.isEmpty ? nil : trimmed
            c.index = look
        }
        if c.consume(0x3C) {
            do { uri = try SIPURI.parse(&c, stopAtSemicolon: false) } catch {
                throw SIPParseError(.malformedHeader, "\(header): \(error.detail)")
            }
            guard c.consume(0x3E) else { throw SIPParseError(.malformedHeader, "\(header) has '<' without '>'") }
        } else {
            guard display == nil else { throw SIPParseError(.malformedHeader, "\(header) has a display name without <URI>") }
            do { uri = try SIPURI.parse(&c, stopAtSemicolon: true) } catch {
                throw SIPParseError(.malformedHeader, "\(header): \(error.detail)")
            }
        }
        let params = try parseGenericParameters(&c, header: header)
        guard c.atEnd else { throw SIPParseError(.malformedHeader, "unexpected text after the URI in \(header)") }
        return SIPNameAddr(displayName: display, uri: uri, parameters: params)
    }
}

/// A Contact value: an address, or `*` (REGISTER removal of all bindings, RFC 3261 §10.2.2).
public enum SIPContact: Sendable, Hashable, CustomStringConvertible {
    case all
    case address(SIPNameAddr)

    public var nameAddr: SIPNameAddr? {
        if case .address(let a) = self { return a }
        return nil
    }

    public var description: String {
        switch self {
        case .all: "*"
        case .address(let a): a.description
        }
    }

    public static func parse(_ text: String) throws(SIPParseError) -> SIPContact {
        var trimmed = Substring(text)
        while trimmed.first == " " || trimmed.first == "\t" { trimmed = trimmed.dropFirst() }
        while trimmed.last == " " || trimmed.last == "\t" { trimmed = trimmed.dropLast() }
        if trimmed == "*" { return .all }
        return .address(try SIPNameAddr.parse(text, header: "Contact"))
    }
}

/// `CSeq: 314159 INVITE` (RFC 3261 §20.16).
public struct SIPCSeq: Sendable, Hashable, CustomStringConvertible {
    public var sequence: UInt32
    public var method: SIPMethod

    public init(_ sequence: UInt32, _ method: SIPMethod) {
        self.sequence = sequence
        self.method = method
    }

    public var description: String { "\(sequence) \(method.rawValue)" }

    public static func parse(_ text: String) throws(SIPParseError) -> SIPCSeq {
        var c = ByteCursor(text)
        c.skipSpace()
        let digits = c.take(while: SIPChar.isDigit)
        // The number is below 2**31 (RFC 3261 §8.1.1.5).
        guard !digits.isEmpty, digits.count <= 10, let n = UInt32(digits), n < 1 << 31 else {
            throw SIPParseError(.malformedHeader, "bad CSeq number")
        }
        guard let s = c.peek, SIPChar.isSpace(s) else { throw SIPParseError(.malformedHeader, "CSeq has no method") }
        c.skipSpace()
        let method = c.take(while: SIPChar.isToken)
        c.skipSpace()
        guard !method.isEmpty, c.atEnd else { throw SIPParseError(.malformedHeader, "bad CSeq method") }
        return SIPCSeq(n, SIPMethod(method))
    }
}
