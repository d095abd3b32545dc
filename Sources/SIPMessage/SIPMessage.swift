// The message model. The headers every transaction and dialog reads (Via, From, To, Call-ID, CSeq,
// Max-Forwards, Contact) are typed fields, parsed once at the edge; everything else stays as text in
// `headers`. Content-Length is not stored: it is computed from the body when the message is written.

/// A SIP request (RFC 3261 §7.1).
public struct SIPRequest: Sendable, Hashable {
    public var method: SIPMethod
    public var uri: SIPURI
    public var via: [SIPVia]
    public var from: SIPNameAddr
    public var to: SIPNameAddr
    public var callID: String
    public var cseq: SIPCSeq
    /// Absent in some old or broken requests; the stack treats absence as 70.
    public var maxForwards: Int?
    public var contact: [SIPContact]
    public var headers: SIPHeaders
    public var body: [UInt8]

    public init(
        method: SIPMethod, uri: SIPURI, via: [SIPVia], from: SIPNameAddr, to: SIPNameAddr, callID: String,
        cseq: SIPCSeq, maxForwards: Int? = 70, contact: [SIPContact] = [], headers: SIPHeaders = SIPHeaders(),
        body: [UInt8] = []
    ) {
        self.method = method
        self.uri = uri
        self.via = via
        self.from = from
        self.to = to
        self.callID = callID
        self.cseq = cseq
        self.maxForwards = maxForwards
        self.contact = contact
        self.headers = headers
        self.body = body
    }

    /// The branch of the top Via: the transaction key (RFC 3261 §17.2.3).
    public var branch: String? { via.first?.branch }

    /// Only what a response needs (§8.2.6.2: Via, From, To, Call-ID, CSeq) and the request line:
    /// what a transaction keeps once it merely absorbs retransmissions, so that thousands of
    /// them waiting out their timers do not each hold a whole parsed request.
    public var essentials: SIPRequest {
        SIPRequest(method: method, uri: uri, via: via, from: from, to: to, callID: callID, cseq: cseq, maxForwards: maxForwards)
    }

    /// A response to this request, copying what RFC 3261 §8.2.6.2 says to copy. A `toTag` is added to
    /// To when it has none (every response but 100 should carry one).
    public func response(_ status: SIPStatus, reason: String? = nil, toTag: String? = nil) -> SIPResponse {
        var to = self.to
        if to.tag == nil, let toTag, status != .trying { to.tag = toTag }
        var response = SIPResponse(
            status: status, reason: reason ?? status.reasonPhrase, via: via, from: from, to: to, callID: callID,
            cseq: cseq)
        if status == .trying, let ts = headers[.timestamp] { response.headers.add(.timestamp, ts) }
        return response
    }
}

/// A SIP response (RFC 3261 §7.2).
public struct SIPResponse: Sendable, Hashable {
    public var status: SIPStatus
    public var reason: String
    public var via: [SIPVia]
    public var from: SIPNameAddr
    public var to: SIPNameAddr
    public var callID: String
    public var cseq: SIPCSeq
    public var contact: [SIPContact]
    public var headers: SIPHeaders
    public var body: [UInt8]

    public init(
        status: SIPStatus, reason: String? = nil, via: [SIPVia], from: SIPNameAddr, to: SIPNameAddr, callID: String,
        cseq: SIPCSeq, contact: [SIPContact] = [], headers: SIPHeaders = SIPHeaders(), body: [UInt8] = []
    ) {
        self.status = status
        self.reason = reason ?? status.reasonPhrase
        self.via = via
        self.from = from
        self.to = to
        self.callID = callID
        self.cseq = cseq
        self.contact = contact
        self.headers = headers
        self.body = body
    }

    /// A response addressed from what a broken request let us read.
    public init(_ status: SIPStatus, reason: String? = nil, context: SIPResponseContext, toTag: String? = nil) {
        var to = context.to
        if to.tag == nil, let toTag { to.tag = toTag }
        self.init(status: status, reason: reason, via: context.via, from: context.from, to: to, callID: context.callID, cseq: context.cseq)
    }

    public var branch: String? { via.first?.branch }
}

/// Either kind of message, as the transport delivers it.
public enum SIPMessage: Sendable, Hashable {
    case request(SIPRequest)
    case response(SIPResponse)
}

// MARK: Serialization

extension SIPRequest {
    /// The message as bytes, with Content-Length computed from the body.
    public func serialized() -> [UInt8] {
        var w = MessageWriter()
        w.line("\(method.rawValue) \(uri) SIP/2.0")
        w.common(via: via, maxForwards: maxForwards, from: from, to: to, callID: callID, cseq: cseq, contact: contact)
        w.finish(headers: headers, body: body)
        return w.bytes
    }
}

extension SIPResponse {
    public func serialized() -> [UInt8] {
        var w = MessageWriter()
        w.line("SIP/2.0 \(status.rawValue) \(reason)")
        w.common(via: via, maxForwards: nil, from: from, to: to, callID: callID, cseq: cseq, contact: contact)
        w.finish(headers: headers, body: body)
        return w.bytes
    }
}

extension SIPMessage {
    public func serialized() -> [UInt8] {
        switch self {
        case .request(let r): r.serialized()
        case .response(let r): r.serialized()
        }
    }
}

private struct MessageWriter {
    var bytes: [UInt8] = []

    init() { bytes.reserveCapacity(1024) }

    mutating func line(_ s: String) {
        bytes.append(contentsOf: s.utf8)
        bytes.append(0x0D)
        bytes.append(0x0A)
    }

    mutating func header(_ name: SIPHeaderName, _ value: String) {
        bytes.append(contentsOf: name.name.utf8)
        bytes.append(0x3A)
        bytes.append(0x20)
        line(value)
    }

    mutating func common(
        via: [SIPVia], maxForwards: Int?, from: SIPNameAddr, to: SIPNameAddr, callID: String, cseq: SIPCSeq,
        contact: [SIPContact]
    ) {
        for v in via { header(.via, v.description) }
        if let maxForwards { header(.maxForwards, String(maxForwards)) }
        header(.from, from.description)
        header(.to, to.description)
        header(.callID, callID)
        header(.cseq, cseq.description)
        for c in contact { header(.contact, c.description) }
    }

    mutating func finish(headers: SIPHeaders, body: [UInt8]) {
        for field in headers { header(field.name, field.value) }
        header(.contentLength, String(body.count))
        line("")
        bytes.append(contentsOf: body)
    }
}
