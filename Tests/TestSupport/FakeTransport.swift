import NIOCore
public import SIP
public import SIPMessage

/// A transport that records what the stack sends instead of putting it on a wire (after sipgo's
/// fakes/udp_conn.go). Tests read `sent`, and can make sends fail.
public final class FakeTransport: SIPTransport {
    public struct Sent: Sendable {
        public let bytes: [UInt8]
        public let peer: SIPPeer
        public var message: SIPMessage? { try? SIPParser().parse(bytes) }
        public var response: SIPResponse? {
            if case .response(let r)? = message { return r }
            return nil
        }
        public var request: SIPRequest? {
            if case .request(let r)? = message { return r }
            return nil
        }
    }

    public var sent: [Sent] = []
    /// When set, every send fails with this error.
    public var failure: (any Error)?
    public var host = "127.0.0.1"
    public var port = 5060

    public init() {}

    public func send(_ bytes: [UInt8], to peer: SIPPeer, onFailure: @escaping (any Error) -> Void) {
        if let failure {
            onFailure(failure)
            return
        }
        sent.append(Sent(bytes: bytes, peer: peer))
    }

    public func advertisedEndpoint(for transport: SIPTransportKind) -> (host: String, port: Int) { (host, port) }

    /// Returns what was sent since the last call.
    public func drain() -> [Sent] {
        defer { sent.removeAll() }
        return sent
    }

    public var responses: [SIPResponse] { sent.compactMap(\.response) }
    public var requests: [SIPRequest] { sent.compactMap(\.request) }
}

public struct FakeTransportError: Error { public init() {} }

extension SIPPeer {
    /// A UDP peer on loopback, for tests.
    public static func udp(_ port: Int, ip: String = "127.0.0.1") -> SIPPeer {
        SIPPeer(.udp, try! SocketAddress(ipAddress: ip, port: port))
    }

    public static func tcp(_ port: Int, ip: String = "127.0.0.1") -> SIPPeer {
        SIPPeer(.tcp, try! SocketAddress(ipAddress: ip, port: port))
    }
}
