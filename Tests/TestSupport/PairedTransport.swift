import Logging
import NIOCore
public import SIP
public import SIPMessage

/// A send to an address of `PairedTransport.refusing`.
public enum TestTransportError: Error { case refused(Int) }

/// Two stacks wired back to back in memory: what one sends, the other receives on the next turn
/// of the shared manual clock. For scenario tests of a UAC against a UAS without sockets.
public final class PairedTransport: SIPTransport {
    public let port: Int
    weak var other: PairedTransport?
    weak var stack: SIPStack?
    let clock: ManualScheduler
    /// Every message this side sent, for assertions.
    public var sent: [SIPMessage] = []
    /// While set, messages from this side are lost (to test retransmission and timeouts).
    public var dropping = false
    /// Addresses (by port) nothing answers at: messages to them are recorded and lost.
    public var unreachable: Set<Int> = []
    /// Addresses (by port) whose sends fail at once, as a refused TCP connection would.
    public var refusing: Set<Int> = []

    init(port: Int, clock: ManualScheduler) {
        self.port = port
        self.clock = clock
    }

    public func send(_ bytes: [UInt8], to peer: SIPPeer, onFailure: @escaping (any Error) -> Void) {
        if let m = try? SIPParser().parse(bytes) { sent.append(m) }
        if refusing.contains(peer.port) { return onFailure(TestTransportError.refused(peer.port)) }
        guard !dropping, !unreachable.contains(peer.port), let other else { return }
        let from = SIPPeer(peer.transport, try! SocketAddress(ipAddress: "127.0.0.1", port: port))
        _ = clock.schedule(after: .zero) { [weak other] in other?.stack?.receive(bytes, from: from) }
    }

    public func advertisedEndpoint(for transport: SIPTransportKind) -> (host: String, port: Int) { ("127.0.0.1", port) }

    public var sentRequests: [SIPRequest] { sent.compactMap { if case .request(let r) = $0 { r } else { nil } } }
    public var sentResponses: [SIPResponse] { sent.compactMap { if case .response(let r) = $0 { r } else { nil } } }

    /// Two stacks on one clock: a (port 5060) and b (port 5070).
    public static func pair() -> (a: SIPStack, b: SIPStack, aWire: PairedTransport, bWire: PairedTransport, clock: ManualScheduler) {
        let clock = ManualScheduler()
        let ta = PairedTransport(port: 5060, clock: clock)
        let tb = PairedTransport(port: 5070, clock: clock)
        ta.other = tb
        tb.other = ta
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let a = SIPStack(configuration: .init(product: "a"), scheduler: clock, transport: ta, logger: logger)
        let b = SIPStack(configuration: .init(product: "b"), scheduler: clock, transport: tb, logger: logger)
        ta.stack = a
        tb.stack = b
        return (a, b, ta, tb, clock)
    }
}
