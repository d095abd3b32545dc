/// A SIP response status code (RFC 3261 §21) with its standard reason phrase. Code compares by the
/// number; the phrase on the wire may differ (it carries our parse-error reasons, for example).
public struct SIPStatus: RawRepresentable, Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: Int

    public init(rawValue: Int) { self.rawValue = rawValue }
    public init(_ code: Int) { self.rawValue = code }

    public static func < (lhs: SIPStatus, rhs: SIPStatus) -> Bool { lhs.rawValue < rhs.rawValue }

    public var isSuccess: Bool { (200..<300).contains(rawValue) }
    public var isFinal: Bool { rawValue >= 200 }

    public static let trying = SIPStatus(100)
    public static let ringing = SIPStatus(180)
    public static let sessionProgress = SIPStatus(183)
    public static let ok = SIPStatus(200)
    public static let accepted = SIPStatus(202)
    public static let badRequest = SIPStatus(400)
    public static let unauthorized = SIPStatus(401)
    public static let forbidden = SIPStatus(403)
    public static let notFound = SIPStatus(404)
    public static let methodNotAllowed = SIPStatus(405)
    public static let proxyAuthenticationRequired = SIPStatus(407)
    public static let requestTimeout = SIPStatus(408)
    public static let unsupportedMediaType = SIPStatus(415)
    public static let badExtension = SIPStatus(420)
    public static let sessionIntervalTooSmall = SIPStatus(422)
    public static let intervalTooBrief = SIPStatus(423)
    public static let temporarilyUnavailable = SIPStatus(480)
    public static let callDoesNotExist = SIPStatus(481)
    public static let loopDetected = SIPStatus(482)
    public static let tooManyHops = SIPStatus(483)
    public static let busyHere = SIPStatus(486)
    public static let requestTerminated = SIPStatus(487)
    public static let notAcceptableHere = SIPStatus(488)
    public static let requestPending = SIPStatus(491)
    public static let serverInternalError = SIPStatus(500)
    public static let notImplemented = SIPStatus(501)
    public static let serviceUnavailable = SIPStatus(503)
    public static let versionNotSupported = SIPStatus(505)
    public static let messageTooLarge = SIPStatus(513)
    public static let decline = SIPStatus(603)

    /// The phrase RFC 3261 gives the code, or a class phrase for codes it does not list.
    public var reasonPhrase: String {
        switch rawValue {
        case 100: "Trying"
        case 180: "Ringing"
        case 181: "Call Is Being Forwarded"
        case 182: "Queued"
        case 183: "Session Progress"
        case 200: "OK"
        case 202: "Accepted"
        case 300: "Multiple Choices"
        case 301: "Moved Permanently"
        case 302: "Moved Temporarily"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 407: "Proxy Authentication Required"
        case 408: "Request Timeout"
        case 413: "Request Entity Too Large"
        case 415: "Unsupported Media Type"
        case 416: "Unsupported URI Scheme"
        case 420: "Bad Extension"
        case 422: "Session Interval Too Small"
        case 423: "Interval Too Brief"
        case 480: "Temporarily Unavailable"
        case 481: "Call/Transaction Does Not Exist"
        case 482: "Loop Detected"
        case 483: "Too Many Hops"
        case 484: "Address Incomplete"
        case 486: "Busy Here"
        case 487: "Request Terminated"
        case 488: "Not Acceptable Here"
        case 491: "Request Pending"
        case 500: "Server Internal Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Server Time-out"
        case 505: "Version Not Supported"
        case 513: "Message Too Large"
        case 600: "Busy Everywhere"
        case 603: "Decline"
        case 604: "Does Not Exist Anywhere"
        case 606: "Not Acceptable"
        default:
            switch rawValue / 100 {
            case 1: "Provisional"
            case 2: "Success"
            case 3: "Redirection"
            case 4: "Client Error"
            case 5: "Server Error"
            default: "Global Failure"
            }
        }
    }

    public var description: String { "\(rawValue) \(reasonPhrase)" }
}
