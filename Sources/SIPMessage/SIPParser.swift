// The strict, bounded SIP parser (RFC 3261 §7, §25).
//
// Two passes: the first splits the start line and header lines (unfolding continuation lines) under
// the size limits; the second parses the typed headers. A fault found late does not hide what was
// already readable: the error carries a response context whenever Via, From, To, Call-ID and CSeq
// parsed, so the transport can answer `400 <reason>` instead of dropping the request.

/// The bounds that keep one message from costing unbounded memory or time.
public struct SIPParserLimits: Sendable, Hashable {
    public var maxMessageBytes: Int
    public var maxHeaderLines: Int
    public var maxLineBytes: Int

    public init(maxMessageBytes: Int = 65_535, maxHeaderLines: Int = 128, maxLineBytes: Int = 8_192) {
        self.maxMessageBytes = maxMessageBytes
        self.maxHeaderLines = maxHeaderLines
        self.maxLineBytes = maxLineBytes
    }
}

public struct SIPParser: Sendable {
    public var limits: SIPParserLimits

    public init(limits: SIPParserLimits = SIPParserLimits()) { self.limits = limits }

    /// True for the CRLF keep-alives of RFC 5626 §3.5.1 (a datagram or segment of only CR and LF).
    public static func isKeepAlive(_ bytes: some Collection<UInt8>) -> Bool {
        !bytes.isEmpty && bytes.allSatisfy { $0 == 0x0D || $0 == 0x0A }
    }

    /// Parses one whole message, as a datagram carries it. `streamed` messages (TCP) must carry
    /// Content-Length (RFC 3261 §18.3); a datagram without one takes the rest as body.
    public func parse(_ bytes: [UInt8], streamed: Bool = false) throws(SIPParseError) -> SIPMessage {
        guard bytes.count <= limits.maxMessageBytes else {
            throw SIPParseError(.limitExceeded, "message larger than \(limits.maxMessageBytes) bytes")
        }
        var raw = try split(bytes)
        return try build(&raw, bytes: bytes, streamed: streamed)
    }

    /// For stream transports: the length of the first message in `bytes` once its header block and
    /// body have arrived, nil while more is needed. Throws when the head breaks a limit or has no
    /// usable Content-Length, since a stream cannot be resynchronised after that.
    public func frameLength(_ bytes: some RandomAccessCollection<UInt8>) throws(SIPParseError) -> Int? {
        guard let total = try messageLength(head: bytes) else { return nil }
        return total <= bytes.count ? total : nil
    }

    /// The whole length of the first message (leading CR/LF, head and Content-Length body) once its
    /// head has arrived, whether or not the body has; nil while the head is incomplete.
    public func messageLength(head bytes: some RandomAccessCollection<UInt8>) throws(SIPParseError) -> Int? {
        let b = Array(bytes.prefix(limits.maxMessageBytes + 4))
        var i = 0
        while i < b.count, b[i] == 0x0D || b[i] == 0x0A { i += 1 }
        let start = i
        var lineStart = i
        var contentLength: Int?
        var lines = 0
        while i < b.count {
            if b[i] == 0x0A {
                var lineEnd = i
                if lineEnd > lineStart, b[lineEnd - 1] == 0x0D { lineEnd -= 1 }
                if lineEnd == lineStart {
                    guard let length = contentLength else {
                        throw SIPParseError(.badContentLength, "no Content-Length on a stream transport")
                    }
                    let total = i + 1 + length
                    guard total - start <= limits.maxMessageBytes else {
                        throw SIPParseError(.limitExceeded, "message larger than \(limits.maxMessageBytes) bytes")
                    }
                    return total
                }
                lines += 1
                guard lines <= limits.maxHeaderLines + 1 else {
                    throw SIPParseError(.limitExceeded, "more than \(limits.maxHeaderLines) header lines")
                }
                if let value = Self.contentLengthValue(b[lineStart..<lineEnd]) {
                    // Digits only, as the parser reads it: Int() takes "-1000" and "+5", and a
                    // negative length framed a TCP stream backwards (found by fuzz-sip: the
                    // daemon crashed on one such message).
                    guard !value.isEmpty, value.utf8.count <= 9, value.utf8.allSatisfy(SIPChar.isDigit), let n = Int(value) else {
                        throw SIPParseError(.badContentLength, "bad Content-Length '\(value)'")
                    }
                    contentLength = n
                }
                lineStart = i + 1
            } else if i - lineStart >= limits.maxLineBytes {
                throw SIPParseError(.limitExceeded, "header line longer than \(limits.maxLineBytes) bytes")
            }
            i += 1
        }
        guard i - start <= limits.maxMessageBytes else {
            throw SIPParseError(.limitExceeded, "message head larger than \(limits.maxMessageBytes) bytes")
        }
        return nil
    }

    /// `SIP/` 1*DIGIT `.` 1*DIGIT, case-insensitive.
    private static func isVersionToken(_ v: String) -> Bool {
        guard v.uppercased().hasPrefix("SIP/") else { return false }
        let nums = v.dropFirst(4).split(separator: ".", omittingEmptySubsequences: false)
        return nums.count == 2 && nums.allSatisfy { !$0.isEmpty && $0.utf8.allSatisfy(SIPChar.isDigit) }
    }

    private static func contentLengthValue(_ line: ArraySlice<UInt8>) -> String? {
        guard let colon = line.firstIndex(of: 0x3A) else { return nil }
        let name = String(decoding: line[line.startIndex..<colon], as: UTF8.self).trimmingSpaces.lowercased()
        guard name == "content-length" || name == "l" else { return nil }
        return String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingSpaces
    }

    // MARK: First pass: lines

    private struct RawMessage {
        var startLine: String = ""
        var fields: [SIPHeaderField] = []
        var bodyStart: Int?
        /// The first structural fault, reported after the typed headers had their chance.
        var fault: SIPParseError?
    }

    private func split(_ b: [UInt8]) throws(SIPParseError) -> RawMessage {
        var raw = RawMessage()
        var i = 0
        while i < b.count, b[i] == 0x0D || b[i] == 0x0A { i += 1 }
        guard i < b.count else { throw SIPParseError(.empty, "empty message") }
        var lineNumber = 0
        var pendingName: SIPHeaderName?
        var pendingValue: [UInt8] = []

        func flush(_ raw: inout RawMessage) {
            if let name = pendingName {
                raw.fields.append(SIPHeaderField(name, String(decoding: trim(pendingValue), as: UTF8.self)))
                pendingName = nil
                pendingValue.removeAll(keepingCapacity: true)
            }
        }

        while i < b.count {
            var lineEnd = i
            while lineEnd < b.count, b[lineEnd] != 0x0A { lineEnd += 1 }
            guard lineEnd < b.count else {
                raw.fault = raw.fault ?? SIPParseError(.malformedHeader, "headers not ended by an empty line")
                break
            }
            var contentEnd = lineEnd
            if contentEnd > i, b[contentEnd - 1] == 0x0D { contentEnd -= 1 }
            let line = b[i..<contentEnd]
            let next = lineEnd + 1
            guard line.count <= limits.maxLineBytes else {
                throw SIPParseError(.limitExceeded, "header line longer than \(limits.maxLineBytes) bytes")
            }
            // A NUL may stand in a quoted-pair (RFC 4475 §3.1.1.2), so only the typed headers judge it;
            // a bare CR is never legal.
            if lineNumber == 0, line.contains(0) { throw SIPParseError(.malformedStartLine, "NUL byte in the start line") }
            if line.contains(0x0D) {
                if lineNumber == 0 { throw SIPParseError(.malformedStartLine, "bare CR in the start line") }
                raw.fault = raw.fault ?? SIPParseError(.malformedHeader, "bare CR in a header line")
            }
            if lineNumber == 0 {
                raw.startLine = String(decoding: line, as: UTF8.self)
            } else if line.isEmpty {
                flush(&raw)
                raw.bodyStart = next
                return raw
            } else if SIPChar.isSpace(line.first!) {
                // Folded continuation (RFC 3261 §7.3.1): joins the previous value with one space.
                if pendingName == nil {
                    raw.fault = raw.fault ?? SIPParseError(.malformedHeader, "continuation line before any header")
                } else {
                    pendingValue.append(0x20)
                    pendingValue.append(contentsOf: trim(line))
                    guard pendingValue.count <= limits.maxLineBytes else {
                        throw SIPParseError(.limitExceeded, "header value longer than \(limits.maxLineBytes) bytes")
                    }
                }
            } else {
                flush(&raw)
                guard raw.fields.count < limits.maxHeaderLines else {
                    throw SIPParseError(.limitExceeded, "more than \(limits.maxHeaderLines) header lines")
                }
                if let colon = line.firstIndex(of: 0x3A) {
                    var nameEnd = colon
                    while nameEnd > line.startIndex, SIPChar.isSpace(b[nameEnd - 1]) { nameEnd -= 1 }
                    let name = line[line.startIndex..<nameEnd]
                    if name.isEmpty || !name.allSatisfy(SIPChar.isToken) {
                        raw.fault = raw.fault ?? SIPParseError(.malformedHeader, "bad header name '\(printable(name))'")
                    } else {
                        pendingName = SIPHeaderName(String(decoding: name, as: UTF8.self))
                        pendingValue.append(contentsOf: line[(colon + 1)...])
                    }
                } else {
                    raw.fault = raw.fault ?? SIPParseError(.malformedHeader, "header line without a colon: '\(printable(line))'")
                }
            }
            lineNumber += 1
            i = next
        }
        flush(&raw)
        return raw
    }

    // MARK: Second pass: typed headers

    private func build(_ raw: inout RawMessage, bytes: [UInt8], streamed: Bool) throws(SIPParseError) -> SIPMessage {
        enum Start {
            case request(SIPMethod, String)
            case response(SIPStatus, String)
        }
        // The start line is checked first, but a fault in it is thrown only after the headers had
        // their chance to make a response context.
        var startFault: SIPParseError?
        var start: Start?
        let parts = raw.startLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        if raw.startLine.utf8.count >= 4, raw.startLine.prefix(4).uppercased() == "SIP/" {
            if parts.count >= 2, parts[0].uppercased() == "SIP/2.0", parts[1].utf8.count == 3,
                parts[1].utf8.allSatisfy(SIPChar.isDigit), let code = Int(parts[1]), code >= 100
            {
                start = .response(SIPStatus(code), parts.count == 3 ? parts[2] : "")
            } else {
                // Nothing answers a response; it is dropped.
                throw SIPParseError(.malformedStartLine, "malformed status line")
            }
        } else if parts.count == 3, !parts[0].isEmpty, parts[0].utf8.allSatisfy(SIPChar.isToken), !parts[1].isEmpty {
            let version = parts[2]
            if version.uppercased() != "SIP/2.0" {
                startFault = Self.isVersionToken(version)
                    ? SIPParseError(.unsupportedVersion, "SIP version \(version) not supported")
                    : SIPParseError(.malformedStartLine, "malformed request line")
            }
            start = .request(SIPMethod(parts[0]), parts[1])
        } else {
            startFault = SIPParseError(.malformedStartLine, "malformed request line")
            // A readable method is enough to answer 400 (RFC 4475 §3.1.2.9).
            if let method = parts.first, !method.isEmpty, method.utf8.allSatisfy(SIPChar.isToken) {
                start = .request(SIPMethod(method), "")
            }
        }

        var via: [SIPVia] = []
        var from: SIPNameAddr?
        var to: SIPNameAddr?
        var callID: String?
        var cseq: SIPCSeq?
        var maxForwards: Int?
        var contact: [SIPContact] = []
        var contentLength: Int?
        var others = SIPHeaders()
        var fault = raw.fault

        func note(_ error: SIPParseError) { if fault == nil { fault = error } }

        for field in raw.fields {
            do throws(SIPParseError) {
                switch field.name {
                case .via:
                    for part in splitCommaList(field.value) { via.append(try SIPVia.parse(part)) }
                case .from:
                    guard from == nil else { throw SIPParseError(.malformedHeader, "more than one From header") }
                    from = try SIPNameAddr.parse(field.value, header: "From")
                case .to:
                    guard to == nil else { throw SIPParseError(.malformedHeader, "more than one To header") }
                    to = try SIPNameAddr.parse(field.value, header: "To")
                case .callID:
                    guard callID == nil else { throw SIPParseError(.malformedHeader, "more than one Call-ID header") }
                    let v = field.value
                    guard !v.isEmpty, v.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                        throw SIPParseError(.malformedHeader, "bad Call-ID")
                    }
                    callID = v
                case .cseq:
                    guard cseq == nil else { throw SIPParseError(.malformedHeader, "more than one CSeq header") }
                    cseq = try SIPCSeq.parse(field.value)
                case .maxForwards:
                    guard maxForwards == nil else { throw SIPParseError(.malformedHeader, "more than one Max-Forwards header") }
                    let v = field.value
                    // Leading zeros are legal (RFC 4475 §3.1.1.1); the value is a hop count up to 255.
                    guard !v.isEmpty, v.utf8.count <= 10, v.utf8.allSatisfy(SIPChar.isDigit), let n = Int(v), n <= 255 else {
                        throw SIPParseError(.malformedHeader, "bad Max-Forwards '\(v)'")
                    }
                    maxForwards = n
                case .contact:
                    for part in splitCommaList(field.value) { contact.append(try SIPContact.parse(part)) }
                case .contentLength:
                    let v = field.value
                    guard contentLength == nil else { throw SIPParseError(.badContentLength, "more than one Content-Length header") }
                    guard !v.isEmpty, v.utf8.count <= 9, v.utf8.allSatisfy(SIPChar.isDigit), let n = Int(v) else {
                        throw SIPParseError(.badContentLength, "bad Content-Length '\(v)'")
                    }
                    contentLength = n
                default:
                    others.add(field.name, field.value)
                }
            } catch {
                note(error)
            }
        }

        var context: SIPResponseContext?
        if case .request(let method, _)? = start, let from, let to, let callID, let cseq, !via.isEmpty {
            context = SIPResponseContext(method: method, via: via, from: from, to: to, callID: callID, cseq: cseq)
        }
        func fail(_ error: SIPParseError) -> SIPParseError {
            var e = error
            e.context = context
            return e
        }
        if let startFault { throw fail(startFault) }
        if let fault { throw fail(fault) }
        if via.isEmpty { throw fail(SIPParseError(.missingHeader, "missing Via header")) }
        guard let from else { throw fail(SIPParseError(.missingHeader, "missing From header")) }
        guard let to else { throw fail(SIPParseError(.missingHeader, "missing To header")) }
        guard let callID else { throw fail(SIPParseError(.missingHeader, "missing Call-ID header")) }
        guard let cseq else { throw fail(SIPParseError(.missingHeader, "missing CSeq header")) }

        guard let bodyStart = raw.bodyStart else {
            throw fail(SIPParseError(.malformedHeader, "headers not ended by an empty line"))
        }
        let available = bytes.count - bodyStart
        let body: [UInt8]
        if let contentLength {
            guard contentLength <= available else {
                throw fail(SIPParseError(.badContentLength, "Content-Length \(contentLength) is more than the \(available) body bytes"))
            }
            body = Array(bytes[bodyStart..<bodyStart + contentLength])
        } else {
            if streamed { throw fail(SIPParseError(.badContentLength, "no Content-Length on a stream transport")) }
            body = Array(bytes[bodyStart...])
        }

        switch start! {
        case .response(let status, let reason):
            return .response(
                SIPResponse(
                    status: status, reason: reason, via: via, from: from, to: to, callID: callID, cseq: cseq,
                    contact: contact, headers: others, body: body))
        case .request(let method, let uriText):
            guard cseq.method == method else {
                throw fail(SIPParseError(.cseqMismatch, "CSeq method \(cseq.method) does not match \(method)"))
            }
            let uri: SIPURI
            do { uri = try SIPURI.parse(uriText) } catch { throw fail(SIPParseError(.malformedURI, "bad Request-URI: \(error.detail)")) }
            // Headers are not allowed in a Request-URI (RFC 3261 §19.1.5, RFC 4475 §3.1.2.11).
            guard uri.headers.isEmpty else { throw fail(SIPParseError(.malformedURI, "bad Request-URI: it carries headers")) }
            return .request(
                SIPRequest(
                    method: method, uri: uri, via: via, from: from, to: to, callID: callID, cseq: cseq,
                    maxForwards: maxForwards, contact: contact, headers: others, body: body))
        }
    }
}

private func trim(_ bytes: some Collection<UInt8>) -> ArraySlice<UInt8> {
    var s = ArraySlice(bytes)
    while let f = s.first, SIPChar.isSpace(f) { s = s.dropFirst() }
    while let l = s.last, SIPChar.isSpace(l) { s = s.dropLast() }
    return s
}

/// A header fragment for an error message: printable ASCII only, and short.
private func printable(_ bytes: some Collection<UInt8>) -> String {
    String(String(decoding: bytes.prefix(40).map { $0 >= 0x20 && $0 < 0x7F ? $0 : 0x3F }, as: UTF8.self))
}
