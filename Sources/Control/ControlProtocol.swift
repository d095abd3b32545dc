import Foundation
public import JSON

// The control-socket protocol (docs/control-protocol.md), shared by the server and acdctl.
//
// One JSON object per line, both ways. A request names a command and carries an `id` the response
// repeats:
//   → {"id": 7, "command": "status"}
//   ← {"id": 7, "ok": true, "result": {...}}
//   ← {"id": 8, "ok": false, "error": {"code": "unknown_command", "message": "no command 'x'"}}
// A line that is not a JSON object gets an error with `"id": null`; the connection stays open.

/// The protocol version, reported by `status`; bumped when a message changes incompatibly.
public let controlProtocolVersion = 1

/// Maximum length of one request line; longer lines get `line_too_long` and are skipped.
public let controlMaxLineBytes = 65_536

public struct ControlRequest: Codable, Sendable, Equatable {
    public var id: JSONValue?
    public var command: String
    public var args: [String: JSONValue]?

    public init(id: JSONValue?, command: String, args: [String: JSONValue]? = nil) {
        self.id = id
        self.command = command
        self.args = args
    }
}

/// Error codes a response may carry.
public struct ControlErrorCode: RawRepresentable, Codable, Sendable, Hashable {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    /// The line is not a JSON object with a string `command`.
    public static let badRequest = ControlErrorCode(rawValue: "bad_request")
    /// The line is longer than `controlMaxLineBytes`.
    public static let lineTooLong = ControlErrorCode(rawValue: "line_too_long")
    public static let unknownCommand = ControlErrorCode(rawValue: "unknown_command")
    /// An argument is missing or has the wrong type or value.
    public static let invalidArgument = ControlErrorCode(rawValue: "invalid_argument")
    /// The peer's credentials do not allow control.
    public static let permissionDenied = ControlErrorCode(rawValue: "permission_denied")
    /// The command was understood but failed (a reload refused, for example).
    public static let failed = ControlErrorCode(rawValue: "failed")
    public static let notFound = ControlErrorCode(rawValue: "not_found")
    /// The command is not allowed in the current state (an agent already ready, say).
    public static let illegalTransition = ControlErrorCode(rawValue: "illegal_transition")
}

public struct ControlError: Codable, Sendable, Equatable, Error {
    public var code: ControlErrorCode
    public var message: String

    public init(_ code: ControlErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }
}

public struct ControlResponse: Codable, Sendable, Equatable {
    public var id: JSONValue?
    public var ok: Bool
    public var result: JSONValue?
    public var error: ControlError?

    public init(id: JSONValue?, result: JSONValue) {
        self.id = id
        self.ok = true
        self.result = result
    }

    public init(id: JSONValue?, error: ControlError) {
        self.id = id
        self.ok = false
        self.error = error
    }

    // `id` is always written, as null when unknown, so clients can correlate errors.
    enum CodingKeys: String, CodingKey { case id, ok, result, error }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id ?? .null, forKey: .id)
        try c.encode(ok, forKey: .ok)
        try c.encodeIfPresent(result, forKey: .result)
        try c.encodeIfPresent(error, forKey: .error)
    }
}

public enum ControlCodec {
    /// A JSON value as one line, written directly: keys sorted by their UTF-8 bytes, slashes and
    /// non-ASCII text as they are, integers without a fraction. CRM events and the control
    /// socket's event stream are `JSONValue`s, several per call; at 500 calls/s Foundation's
    /// `JSONEncoder` took about 5 % of the daemon's samples in a `perf` profile (bench/README.md,
    /// "Full path with everything on"). Replies to commands, which are rare, still use it.
    public static func encodeLine(_ value: JSONValue) -> [UInt8] { value.encodedLine() }

    public static func encodeLine(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("{\"ok\":false}".utf8)
        return Array(data) + [0x0A]
    }

    /// Decodes a request line, or says what is wrong with it.
    public static func decodeRequest(_ line: [UInt8]) -> Result<ControlRequest, ControlError> {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line)), object is [String: Any] else {
            return .failure(ControlError(.badRequest, "a request is one JSON object per line"))
        }
        do {
            return .success(try JSONDecoder().decode(ControlRequest.self, from: Data(line)))
        } catch {
            return .failure(ControlError(.badRequest, "a request needs a string \"command\" (and optional \"id\" and \"args\" object)"))
        }
    }
}
