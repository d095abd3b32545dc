// Session descriptions (RFC 4566). The parser is strict about structure, v= o= s= first and in that
// order, one t= at least, a connection address for every media, known line types only, and lenient
// where real offers vary (line order inside a section, unknown attributes).

/// `c=IN IP4 192.0.2.1`
public struct SDPConnection: Sendable, Hashable, CustomStringConvertible {
    public var addressType: String
    public var address: String

    public init(addressType: String, address: String) {
        self.addressType = addressType
        self.address = address
    }

    public var description: String { "IN \(addressType) \(address)" }
}

/// `o=username sess-id sess-version IN IP4 address`
public struct SDPOrigin: Sendable, Hashable, CustomStringConvertible {
    public var username: String
    public var sessionID: String
    public var sessionVersion: UInt64
    public var addressType: String
    public var address: String

    public init(username: String, sessionID: String, sessionVersion: UInt64, addressType: String, address: String) {
        self.username = username
        self.sessionID = sessionID
        self.sessionVersion = sessionVersion
        self.addressType = addressType
        self.address = address
    }

    public var description: String { "\(username) \(sessionID) \(sessionVersion) IN \(addressType) \(address)" }
}

/// `a=name[:value]`
public struct SDPAttribute: Sendable, Hashable, CustomStringConvertible {
    public var name: String
    public var value: String?

    public init(_ name: String, _ value: String? = nil) {
        self.name = name
        self.value = value
    }

    public var description: String { value.map { "\(name):\($0)" } ?? name }
}

/// The media direction attributes (RFC 4566 §6, RFC 3264 §5.1).
public enum SDPDirection: String, Sendable, Hashable {
    case sendrecv, sendonly, recvonly, inactive

    /// What the answerer uses for an offer with this direction (RFC 3264 §6.1).
    public var reversed: SDPDirection {
        switch self {
        case .sendonly: .recvonly
        case .recvonly: .sendonly
        case .sendrecv, .inactive: self
        }
    }
}

/// One `m=` section.
public struct SDPMedia: Sendable, Hashable {
    public var type: String
    public var port: Int
    public var portCount: Int?
    public var proto: String
    public var formats: [String]
    public var connection: SDPConnection?
    public var bandwidths: [String] = []
    /// `i=` and `k=` lines, kept as written.
    public var otherLines: [String] = []
    public var attributes: [SDPAttribute] = []

    public init(type: String, port: Int, proto: String, formats: [String]) {
        self.type = type
        self.port = port
        self.proto = proto
        self.formats = formats
    }

    public func attribute(_ name: String) -> String? { attributes.first { $0.name == name }?.value }
    public func attributes(_ name: String) -> [String] { attributes.filter { $0.name == name }.compactMap(\.value) }

    /// `a=rtpmap:<pt> <encoding>/<clock>[/<channels>]` for a payload type.
    public func rtpmap(_ payloadType: String) -> (encoding: String, clockRate: Int, channels: Int)? {
        for value in attributes("rtpmap") {
            let parts = value.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0] == payloadType else { continue }
            let enc = parts[1].split(separator: "/")
            guard enc.count >= 2, let rate = Int(enc[1]) else { return nil }
            return (String(enc[0]), rate, enc.count > 2 ? Int(enc[2]) ?? 1 : 1)
        }
        return nil
    }

    public func fmtp(_ payloadType: String) -> String? {
        for value in attributes("fmtp") {
            let parts = value.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0] == payloadType { return String(parts[1]) }
        }
        return nil
    }

    public var direction: SDPDirection? {
        attributes.lazy.compactMap { SDPDirection(rawValue: $0.name) }.first
    }
}

/// A whole session description.
public struct SDPSession: Sendable, Hashable {
    public var origin: SDPOrigin
    public var sessionName: String
    public var connection: SDPConnection?
    public var bandwidths: [String] = []
    /// `t=` lines (start, stop).
    public var timing: [(start: UInt64, stop: UInt64)] = [(0, 0)]
    /// i= u= e= p= r= z= k= lines, kept as written ("i=..." form).
    public var otherLines: [String] = []
    public var attributes: [SDPAttribute] = []
    public var media: [SDPMedia] = []

    public init(origin: SDPOrigin, sessionName: String = "-", connection: SDPConnection? = nil) {
        self.origin = origin
        self.sessionName = sessionName
        self.connection = connection
    }

    public static func == (lhs: SDPSession, rhs: SDPSession) -> Bool { lhs.serialized() == rhs.serialized() }
    public func hash(into hasher: inout Hasher) { hasher.combine(serialized()) }

    /// The connection address that applies to a media section.
    public func connection(for media: SDPMedia) -> SDPConnection? { media.connection ?? connection }

    public func serialized() -> [UInt8] {
        var s = "v=0\r\no=\(origin)\r\ns=\(sessionName)\r\n"
        for line in otherLines where !line.hasPrefix("r=") && !line.hasPrefix("z=") { s += line + "\r\n" }
        if let connection { s += "c=\(connection)\r\n" }
        for b in bandwidths { s += "b=\(b)\r\n" }
        for t in timing { s += "t=\(t.start) \(t.stop)\r\n" }
        for line in otherLines where line.hasPrefix("r=") || line.hasPrefix("z=") { s += line + "\r\n" }
        for a in attributes { s += "a=\(a)\r\n" }
        for m in media {
            let ports = m.portCount.map { "\(m.port)/\($0)" } ?? "\(m.port)"
            s += "m=\(m.type) \(ports) \(m.proto) \(m.formats.joined(separator: " "))\r\n"
            for line in m.otherLines { s += line + "\r\n" }
            if let c = m.connection { s += "c=\(c)\r\n" }
            for b in m.bandwidths { s += "b=\(b)\r\n" }
            for a in m.attributes { s += "a=\(a)\r\n" }
        }
        return Array(s.utf8)
    }

    /// Parses a body; faults are `.malformedBody` errors naming the line.
    public static func parse(_ body: [UInt8], maxLines: Int = 256) throws(SIPParseError) -> SDPSession {
        guard String(validating: body, as: UTF8.self) != nil else {
            throw SIPParseError(.malformedBody, "SDP is not valid UTF-8")
        }
        // Split on bytes: as Characters, "\r\n" is one grapheme and would not split on "\n".
        var lines = body.split(separator: 0x0A, omittingEmptySubsequences: false).map { line -> Substring in
            Substring(String(decoding: line.last == 0x0D ? line.dropLast() : line, as: UTF8.self))
        }
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard lines.count <= maxLines else { throw SIPParseError(.malformedBody, "SDP has more than \(maxLines) lines") }
        func fault(_ n: Int, _ why: String) -> SIPParseError { SIPParseError(.malformedBody, "SDP line \(n + 1): \(why)") }

        var parsed: [(type: Character, value: String)] = []
        for (n, line) in lines.enumerated() {
            let u = Array(line.utf8)
            guard u.count >= 2, u[1] == 0x3D, u[0] >= 0x61, u[0] <= 0x7A else { throw fault(n, "not of the form x=value") }
            parsed.append((Character(Unicode.Scalar(u[0])), String(line.dropFirst(2))))
        }
        guard parsed.count >= 3, parsed[0].type == "v" else { throw SIPParseError(.malformedBody, "SDP does not start with v=") }
        guard parsed[0].value == "0" else { throw fault(0, "unsupported SDP version \(parsed[0].value)") }
        guard parsed[1].type == "o" else { throw fault(1, "o= must follow v=") }
        guard parsed[2].type == "s" else { throw fault(2, "s= must follow o=") }
        let o = parsed[1].value.split(separator: " ", omittingEmptySubsequences: false)
        guard o.count == 6, o[3] == "IN", !o[0].isEmpty, !o[1].isEmpty, let version = UInt64(o[2]), !o[5].isEmpty else {
            throw fault(1, "bad o= line")
        }
        var session = SDPSession(
            origin: SDPOrigin(username: String(o[0]), sessionID: String(o[1]), sessionVersion: version, addressType: String(o[4]), address: String(o[5])),
            sessionName: parsed[2].value)
        session.timing = []
        var current: SDPMedia?

        func connection(_ n: Int, _ v: String) throws(SIPParseError) -> SDPConnection {
            let p = v.split(separator: " ", omittingEmptySubsequences: false)
            guard p.count == 3, p[0] == "IN", p[1] == "IP4" || p[1] == "IP6" else { throw fault(n, "bad c= line") }
            let address = String(p[2].split(separator: "/").first ?? "")
            let valid = p[1] == "IP4" ? (isValidHost(address)) : isValidIPv6(address) || isValidHost(address)
            guard valid else { throw fault(n, "bad connection address '\(address)'") }
            return SDPConnection(addressType: String(p[1]), address: address)
        }
        func attribute(_ v: String) -> SDPAttribute {
            if let colon = v.firstIndex(of: ":") { return SDPAttribute(String(v[..<colon]), String(v[v.index(after: colon)...])) }
            return SDPAttribute(v)
        }

        for n in 3..<parsed.count {
            let (type, value) = parsed[n]
            if type == "m" {
                if let m = current { session.media.append(m) }
                let p = value.split(separator: " ", omittingEmptySubsequences: false)
                guard p.count >= 4, !p[0].isEmpty else { throw fault(n, "bad m= line") }
                let portParts = p[1].split(separator: "/", omittingEmptySubsequences: false)
                guard let port = Int(portParts[0]), (0...65535).contains(port), portParts.count <= 2 else {
                    throw fault(n, "bad port in m= line")
                }
                var m = SDPMedia(type: String(p[0]), port: port, proto: String(p[2]), formats: p[3...].map(String.init))
                if portParts.count == 2 {
                    guard let count = Int(portParts[1]), count > 0 else { throw fault(n, "bad port count in m= line") }
                    m.portCount = count
                }
                guard m.formats.allSatisfy({ !$0.isEmpty }) else { throw fault(n, "bad format list in m= line") }
                if m.proto.hasPrefix("RTP/") {
                    guard m.formats.allSatisfy({ Int($0).map { (0...127).contains($0) } ?? false }) else {
                        throw fault(n, "RTP payload types must be 0-127")
                    }
                }
                current = m
                continue
            }
            if current != nil {
                switch type {
                case "c": current!.connection = try connection(n, value)
                case "b": current!.bandwidths.append(value)
                case "a": current!.attributes.append(attribute(value))
                case "i", "k": current!.otherLines.append("\(type)=\(value)")
                default: throw fault(n, "\(type)= is not allowed in a media section")
                }
                continue
            }
            switch type {
            case "c": session.connection = try connection(n, value)
            case "b": session.bandwidths.append(value)
            case "t":
                let p = value.split(separator: " ")
                guard p.count == 2, let a = UInt64(p[0]), let b = UInt64(p[1]) else { throw fault(n, "bad t= line") }
                session.timing.append((a, b))
            case "a": session.attributes.append(attribute(value))
            case "i", "u", "e", "p", "r", "z", "k": session.otherLines.append("\(type)=\(value)")
            default: throw fault(n, "unknown line type \(type)=")
            }
        }
        if let m = current { session.media.append(m) }
        guard !session.timing.isEmpty else { throw SIPParseError(.malformedBody, "SDP has no t= line") }
        for (i, m) in session.media.enumerated() where session.connection(for: m) == nil && m.port != 0 {
            throw SIPParseError(.malformedBody, "SDP media \(i + 1) has no connection address")
        }
        return session
    }
}
