public import NIOCore

/// The SIP transports the stack speaks.
public enum SIPTransportKind: String, Sendable, Hashable, CaseIterable {
    case udp = "UDP"
    case tcp = "TCP"
    /// TCP under TLS (RFC 3261 §26.2): a stream like TCP, on a port of its own.
    case tls = "TLS"

    /// Over a reliable transport no retransmission timers run (RFC 3261 §17); both streams are,
    /// and both answer on the connection a request came on.
    public var isReliable: Bool { self != .udp }
}

/// The far end of a message: a transport and a socket address. Over TCP and TLS the transport
/// keeps one connection per peer, so the address also names the connection to answer on.
public struct SIPPeer: Sendable, Hashable, CustomStringConvertible {
    public var transport: SIPTransportKind
    public var address: SocketAddress

    public init(_ transport: SIPTransportKind, _ address: SocketAddress) {
        self.transport = transport
        self.address = address
    }

    public var ip: String { address.ipAddress ?? "?" }
    public var port: Int { address.port ?? 0 }

    public var description: String { "\(transport.rawValue.lowercased()):\(address.ipAddress ?? "?"):\(address.port ?? 0)" }
}

/// What the stack needs from the transports: send bytes, and know our own address for Via and Contact.
public protocol SIPTransport: AnyObject {
    /// Sends a serialized message. `onFailure` runs on the stack's loop if it cannot be sent.
    func send(_ bytes: [UInt8], to peer: SIPPeer, onFailure: @escaping (any Error) -> Void)
    /// The host and port we advertise for a transport (Via sent-by, Contact).
    func advertisedEndpoint(for transport: SIPTransportKind) -> (host: String, port: Int)
}
