import Foundation
public import JSON

/// The CRM wire protocol (docs/crm-protocol.md): JSON lines over a Unix stream socket, the daemon
/// connecting to the store. Every line carries `v` (the schema version) and `type`.
public enum CRMProtocol {
    public static let version = 1
    /// Longest line either side accepts; longer is garbage.
    public static let maxLine = 1 << 20

    /// An event line: `id` unique for ever (the store drops a second copy), `stream` the call's
    /// unique id (or `agent:<id>` for agent state), `seq` its order within the stream from 1.
    public static func event(id: String, type: String, stream: String, seq: Int, time: Double, data: JSONValue) -> String {
        line([
            "v": JSONValue(version), "type": "event", "id": .string(id), "event": .string(type), "stream": .string(stream), "seq": JSONValue(seq),
            "time": JSONValue(time), "data": data,
        ])
    }

    public static func ack(_ id: String) -> String { line(["v": JSONValue(version), "type": "ack", "id": .string(id)]) }

    public static func lookup(id: String, number: String) -> String {
        line(["v": JSONValue(version), "type": "lookup", "id": .string(id), "number": .string(number)])
    }

    /// The answer to a lookup: the customer (null when unknown) and their recent contacts.
    public static func customer(id: String, customer: JSONValue, history: [JSONValue]) -> String {
        line(["v": JSONValue(version), "type": "customer", "id": .string(id), "customer": customer, "history": .array(history)])
    }

    /// One JSON object, keys sorted, as a line without its newline.
    public static func line(_ value: JSONValue) -> String {
        String(decoding: value.encodedLine().dropLast(), as: UTF8.self)
    }

    /// A line received: a JSON object with our version and a type, or why not.
    public static func parse(_ line: [UInt8]) -> Result<JSONValue, ProtocolError> {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(line)), case .object = value else {
            return .failure(ProtocolError("not a JSON object: \(String(decoding: line.prefix(80), as: UTF8.self))"))
        }
        guard value["v"]?.doubleValue == Double(version) else {
            return .failure(ProtocolError("schema version \(value["v"]?.stringValue ?? "missing"), expected \(version)"))
        }
        guard value["type"]?.stringValue != nil else { return .failure(ProtocolError("no type")) }
        return .success(value)
    }

    public struct ProtocolError: Error, CustomStringConvertible, Sendable {
        public let description: String
        init(_ d: String) { description = d }
    }
}

/// What a lookup by the caller's number found: for the screen pop (FEATURES A6) and routing (C7).
public struct CRMCustomer: Sendable, Equatable {
    public var record: JSONValue
    public var history: [JSONValue]

    public init(record: JSONValue, history: [JSONValue]) {
        self.record = record
        self.history = history
    }

    /// A VIP jumps the queue.
    public var vip: Bool { record["vip"] == .bool(true) }
    /// The agent who looks after this customer, if any.
    public var agent: String? { record["agent"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } }
}
