/// A header field name. Names compare case-insensitively and compact forms (RFC 3261 §7.3.3) are
/// expanded at parse time, so `v:` and `VIA:` are both `.via`.
public struct SIPHeaderName: Sendable, Hashable, CustomStringConvertible {
    /// The form we write.
    public let name: String
    /// Lower-cased, for comparison.
    public let key: String

    public init(_ name: String) {
        let lower = name.lowercased()
        if let known = SIPHeaderName.byKey[lower] {
            self = known
        } else {
            self.name = name
            self.key = lower
        }
    }

    private init(canonical: String) {
        self.name = canonical
        self.key = canonical.lowercased()
    }

    public static func == (lhs: SIPHeaderName, rhs: SIPHeaderName) -> Bool { lhs.key == rhs.key }
    public func hash(into hasher: inout Hasher) { hasher.combine(key) }
    public var description: String { name }

    public static let via = SIPHeaderName(canonical: "Via")
    public static let from = SIPHeaderName(canonical: "From")
    public static let to = SIPHeaderName(canonical: "To")
    public static let callID = SIPHeaderName(canonical: "Call-ID")
    public static let cseq = SIPHeaderName(canonical: "CSeq")
    public static let contact = SIPHeaderName(canonical: "Contact")
    public static let maxForwards = SIPHeaderName(canonical: "Max-Forwards")
    public static let contentLength = SIPHeaderName(canonical: "Content-Length")
    public static let contentType = SIPHeaderName(canonical: "Content-Type")
    public static let contentEncoding = SIPHeaderName(canonical: "Content-Encoding")
    public static let route = SIPHeaderName(canonical: "Route")
    public static let recordRoute = SIPHeaderName(canonical: "Record-Route")
    public static let allow = SIPHeaderName(canonical: "Allow")
    public static let accept = SIPHeaderName(canonical: "Accept")
    public static let supported = SIPHeaderName(canonical: "Supported")
    public static let require = SIPHeaderName(canonical: "Require")
    public static let proxyRequire = SIPHeaderName(canonical: "Proxy-Require")
    public static let unsupported = SIPHeaderName(canonical: "Unsupported")
    public static let expires = SIPHeaderName(canonical: "Expires")
    public static let minExpires = SIPHeaderName(canonical: "Min-Expires")
    public static let authorization = SIPHeaderName(canonical: "Authorization")
    public static let proxyAuthorization = SIPHeaderName(canonical: "Proxy-Authorization")
    public static let wwwAuthenticate = SIPHeaderName(canonical: "WWW-Authenticate")
    public static let proxyAuthenticate = SIPHeaderName(canonical: "Proxy-Authenticate")
    public static let authenticationInfo = SIPHeaderName(canonical: "Authentication-Info")
    public static let userAgent = SIPHeaderName(canonical: "User-Agent")
    public static let server = SIPHeaderName(canonical: "Server")
    public static let subject = SIPHeaderName(canonical: "Subject")
    public static let event = SIPHeaderName(canonical: "Event")
    public static let allowEvents = SIPHeaderName(canonical: "Allow-Events")
    public static let referTo = SIPHeaderName(canonical: "Refer-To")
    public static let referredBy = SIPHeaderName(canonical: "Referred-By")
    public static let replaces = SIPHeaderName(canonical: "Replaces")
    public static let sessionExpires = SIPHeaderName(canonical: "Session-Expires")
    public static let minSE = SIPHeaderName(canonical: "Min-SE")
    public static let retryAfter = SIPHeaderName(canonical: "Retry-After")
    public static let reason = SIPHeaderName(canonical: "Reason")
    public static let warning = SIPHeaderName(canonical: "Warning")
    public static let date = SIPHeaderName(canonical: "Date")
    public static let timestamp = SIPHeaderName(canonical: "Timestamp")

    private static let all: [SIPHeaderName] = [
        via, from, to, callID, cseq, contact, maxForwards, contentLength, contentType, contentEncoding, route,
        recordRoute, allow, accept, supported, require, proxyRequire, unsupported, expires, minExpires,
        authorization, proxyAuthorization, wwwAuthenticate, proxyAuthenticate, authenticationInfo, userAgent,
        server, subject, event, allowEvents, referTo, referredBy, sessionExpires, minSE, retryAfter, reason, warning,
        date, timestamp,
    ]

    private static let compact: [String: SIPHeaderName] = [
        "v": via, "f": from, "t": to, "i": callID, "m": contact, "l": contentLength, "c": contentType,
        "e": contentEncoding, "k": supported, "s": subject, "o": event, "u": allowEvents, "r": referTo,
        "b": referredBy, "x": sessionExpires,
    ]

    private static let byKey: [String: SIPHeaderName] = {
        var table = compact
        for name in all { table[name.key] = name }
        return table
    }()

    /// Headers whose values may be comma-separated lists (RFC 3261 §7.3.1); others, such as the
    /// authentication headers, contain commas that are not list separators.
    public var isList: Bool {
        switch key {
        case "via", "contact", "route", "record-route", "allow", "accept", "accept-encoding", "accept-language",
            "supported", "require", "proxy-require", "unsupported", "allow-events", "content-encoding",
            "in-reply-to", "warning", "error-info", "alert-info", "call-info":
            true
        default: false
        }
    }
}

/// A header as it stands on the wire: one name, one (unfolded) value.
public struct SIPHeaderField: Sendable, Hashable {
    public var name: SIPHeaderName
    public var value: String

    public init(_ name: SIPHeaderName, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// The headers of a message other than the ones the message model keeps typed (Via, From, To,
/// Call-ID, CSeq, Max-Forwards, Contact, Content-Length). Order is kept: the relative order of
/// same-named headers carries meaning (Route, Record-Route).
public struct SIPHeaders: Sendable, Hashable, Sequence {
    public private(set) var fields: [SIPHeaderField] = []

    public init() {}
    public init(_ fields: [SIPHeaderField]) { self.fields = fields }

    public func makeIterator() -> IndexingIterator<[SIPHeaderField]> { fields.makeIterator() }
    public var count: Int { fields.count }

    /// The first value of a header.
    public subscript(name: SIPHeaderName) -> String? {
        fields.first { $0.name == name }?.value
    }

    /// Every value of a header, list headers split at their commas.
    public func values(_ name: SIPHeaderName) -> [String] {
        var out: [String] = []
        for field in fields where field.name == name {
            if name.isList { out.append(contentsOf: splitCommaList(field.value).filter { !$0.isEmpty }) } else { out.append(field.value) }
        }
        return out
    }

    public func contains(_ name: SIPHeaderName) -> Bool { fields.contains { $0.name == name } }

    public mutating func add(_ name: SIPHeaderName, _ value: String) { fields.append(SIPHeaderField(name, value)) }

    /// Replaces every value of a header with one.
    public mutating func set(_ name: SIPHeaderName, _ value: String) {
        if let i = fields.firstIndex(where: { $0.name == name }) {
            fields[i].value = value
            var j = fields.count - 1
            while j > i {
                if fields[j].name == name { fields.remove(at: j) }
                j -= 1
            }
        } else {
            add(name, value)
        }
    }

    public mutating func remove(_ name: SIPHeaderName) { fields.removeAll { $0.name == name } }

    /// Route and Record-Route as name-addrs, in order.
    public func addresses(_ name: SIPHeaderName) throws(SIPParseError) -> [SIPNameAddr] {
        var out: [SIPNameAddr] = []
        for v in values(name) { out.append(try SIPNameAddr.parse(v, header: name.name)) }
        return out
    }

    /// An integer header such as Expires or Min-Expires (RFC 3261 `delta-seconds`).
    public func integer(_ name: SIPHeaderName) -> Int? {
        guard let v = self[name] else { return nil }
        let t = v.trimmingSpaces
        guard !t.isEmpty, t.count <= 10, t.utf8.allSatisfy(SIPChar.isDigit) else { return nil }
        return Int(t)
    }

    /// The option tags of Supported, Require, Proxy-Require, Unsupported.
    public func tokens(_ name: SIPHeaderName) -> [String] {
        values(name).map { $0.trimmingSpaces }.filter { !$0.isEmpty }
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.utf8.first, SIPChar.isSpace(f) { s = s.dropFirst() }
        while let l = s.utf8.last, SIPChar.isSpace(l) { s = s.dropLast() }
        return String(s)
    }
}
