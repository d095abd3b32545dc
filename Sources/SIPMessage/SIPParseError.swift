/// Why a datagram or stream segment is not a SIP message we accept.
///
/// Errors compare by `code`; `detail` names the fault for people and for the reason phrase of the
/// `400` the transport sends back. `context` holds what was parsed before the fault, when it is
/// enough to address a response (RFC 3261 §8.2.6 needs Via, From, To, Call-ID and CSeq); without it
/// the message is dropped.
public struct SIPParseError: Error, Sendable, CustomStringConvertible {
    /// The kind of fault, after libre's split of argument, parse and protocol errors.
    public enum Code: Sendable, Hashable {
        /// Nothing but whitespace (keep-alives are handled before parsing).
        case empty
        /// Over a configured limit: message size, line length, header count.
        case limitExceeded
        /// The request or status line does not follow the grammar.
        case malformedStartLine
        /// A SIP version other than SIP/2.0 (answered 505 where possible).
        case unsupportedVersion
        /// A header line without a colon, with a bad name, or a value that does not parse.
        case malformedHeader
        /// A header every request or response must carry is absent.
        case missingHeader
        /// A URI that does not follow RFC 3261 §25 / RFC 3966.
        case malformedURI
        /// Content-Length disagrees with the bytes that arrived.
        case badContentLength
        /// The CSeq method differs from the request method (RFC 3261 §8.1.1.5).
        case cseqMismatch
        /// The body (SDP) does not follow its grammar.
        case malformedBody
    }

    public let code: Code
    public let detail: String
    /// What the 400 (or 505) answer needs, if the message got that far.
    public var context: SIPResponseContext?

    public init(_ code: Code, _ detail: String, context: SIPResponseContext? = nil) {
        self.code = code
        self.detail = detail
        self.context = context
    }

    /// A reason phrase for the error response: the detail, cleaned of anything a phrase cannot hold.
    public var reasonPhrase: String {
        let cleaned = detail.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : String($0) }.joined()
        return String(cleaned.prefix(120))
    }

    public var description: String { detail }
}

/// The headers a response to a request copies (RFC 3261 §8.2.6.2), parsed from a request even when a
/// later part of it is broken.
public struct SIPResponseContext: Sendable, Hashable {
    public var method: SIPMethod
    public var via: [SIPVia]
    public var from: SIPNameAddr
    public var to: SIPNameAddr
    public var callID: String
    public var cseq: SIPCSeq
}
