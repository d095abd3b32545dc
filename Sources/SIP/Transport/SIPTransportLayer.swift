import CMediaIO
import Glibc
public import Logging
public import NIOCore
import NIOPosix
import NIOSSL
public import SIPMessage

// The UDP, TCP and TLS transports (RFC 3261 §18, §26.2) on SwiftNIO. TLS listens on a port of
// its own (5061 by convention) and is TCP with NIOSSL's handler in front of the framing.
//
// Both listen on the same address and port and live on the stack's single event loop, together with
// every accepted or opened TCP connection, so delivering a message to the stack is a plain call.
// UDP gets a 4 MiB receive buffer and vector reads: with the default buffer a burst of a few
// thousand datagrams is dropped in the kernel without anyone noticing (see ENVIRONMENT.md).
//
// The UDP socket is made here (CMediaIO) and handed to NIO, which reads it; we send on our own
// duplicate of its descriptor with sendto. NIO's datagram channel treats most send errors (EINVAL
// for port 0 in a Via, ENETUNREACH, EACCES, ENOBUFS) as fatal and closes itself, and a closed
// channel reads no more: one request with a bad Via took SIP over UDP off the air (issue 20). A
// send that fails here is counted, logged once per peer, and the listener reads on.

public final class SIPTransportLayer: SIPTransport {
    public struct Configuration: Sendable {
        public var host: String
        /// 0 picks a free port (UDP first, then TCP on the same one).
        public var port: Int
        /// The host we put in Via and Contact; must be set when listening on a wildcard address.
        public var advertisedHost: String
        public var parserLimits: SIPParserLimits
        public var receiveBufferBytes: Int
        public var maxConnections: Int
        public var enableTCP: Bool
        /// TLS: where it listens (port 0: any free one) and the certificates; nil: no TLS, and
        /// requests to TLS peers fail as transport errors.
        public var tlsHost: String?
        public var tlsPort: Int
        public var tls: SIPTLSFiles?

        public init(
            host: String, port: Int, advertisedHost: String? = nil, parserLimits: SIPParserLimits = SIPParserLimits(),
            receiveBufferBytes: Int = 4 << 20, maxConnections: Int = 2048, enableTCP: Bool = true,
            tlsHost: String? = nil, tlsPort: Int = 5061, tls: SIPTLSFiles? = nil
        ) {
            self.tlsHost = tlsHost
            self.tlsPort = tlsPort
            self.tls = tls
            self.host = host
            self.port = port
            self.advertisedHost = advertisedHost ?? host
            self.parserLimits = parserLimits
            self.receiveBufferBytes = receiveBufferBytes
            self.maxConnections = maxConnections
            self.enableTCP = enableTCP
        }
    }

    public let loop: any EventLoop
    public let configuration: Configuration
    let logger: Logger
    /// Where received messages go; set to the stack's `receive` once it exists.
    public var deliver: (([UInt8], SIPPeer) -> Void)?
    private(set) var udpChannel: (any Channel)?
    private var tcpServer: (any Channel)?
    private var tlsServer: (any Channel)?
    /// Stream connections, TCP and TLS, by peer (transport and address).
    private var connections: [SIPPeer: any Channel] = [:]
    private var pending: [SIPPeer: [([UInt8], (any Error) -> Void)]] = [:]
    private var boundPort = 0
    private var tlsBoundPort = 0
    /// The contexts new TLS connections use; replaced by `reloadTLS`, which leaves connections
    /// already up as they are.
    private var tlsContexts: SIPTLSContexts?
    private var warnedConnectionLimit = false
    /// Our duplicate of the UDP socket's descriptor, sent on directly (-1 before start, after close).
    private var udpSendFD: CInt = -1
    private var closing = false
    /// Peers a failed send was logged for; cleared when it grows past `warnedPeersLimit`, so a
    /// flood of bad Vias costs one line per peer, not one per datagram, and no unbounded memory.
    private var warnedPeers = Set<SocketAddress>()
    static let warnedPeersLimit = 1024

    /// Sends that did not leave, for status.
    public struct SendFailures: Sendable, Hashable {
        /// Refused by the kernel (a bad port or address, no route, too large) or a TCP write that
        /// failed: the transaction hears of it as a transport error (RFC 3261 §17.1.4, §17.2.4).
        public var failed = 0
        /// Datagrams dropped because the send buffer was full (EAGAIN, ENOBUFS): lost as on the
        /// wire, and left to retransmission.
        public var dropped = 0
        /// Times the UDP listener's channel closed without `close()` and was opened again.
        public var listenerReopened = 0
    }
    public private(set) var sendFailures = SendFailures()

    public init(loop: any EventLoop, configuration: Configuration, logger: Logger) {
        self.loop = loop
        self.configuration = configuration
        self.logger = logger
    }

    /// The port UDP and TCP listen on (after `start`).
    public var port: Int { boundPort }
    /// The port TLS listens on (after `start`; 0 without TLS).
    public var tlsPort: Int { tlsBoundPort }
    public var connectionCount: Int { connections.count }

    /// Datagrams taken per read (recvmmsg). Eight keeps the receive buffer at 512 KiB with the
    /// default 64 KiB message limit.
    static let vectorReadMessages = 8

    /// Binds UDP, TCP and TLS. Runs on `loop`.
    public func start() -> EventLoopFuture<Void> {
        let bound = NIOLoopBound(self, eventLoop: loop)
        if let files = configuration.tls {
            do {
                tlsContexts = try SIPTLSContexts(files)
            } catch {
                return loop.makeFailedFuture(error)
            }
        }
        let fd = mediaio_udp_socket(
            configuration.host, CInt(configuration.port), CInt(configuration.receiveBufferBytes), CInt(configuration.receiveBufferBytes))
        guard fd >= 0 else {
            return loop.makeFailedFuture(IOError(errnoCode: -fd, reason: "bind SIP UDP \(configuration.host):\(configuration.port)"))
        }
        let sendFD = dup(fd)
        guard sendFD >= 0 else {
            let e = errno
            mediaio_close(fd)
            return loop.makeFailedFuture(IOError(errnoCode: e, reason: "dup SIP UDP socket"))
        }
        udpSendFD = sendFD
        return openUDPChannel(on: fd).flatMap { channel in
            let me = bound.value
            me.boundPort = channel.localAddress?.port ?? me.configuration.port
            guard me.configuration.enableTCP else { return me.startTLS() }
            return ServerBootstrap(group: me.loop, childGroup: me.loop)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(.backlog, value: 256)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { child in
                    child.eventLoop.makeCompletedFuture {
                        try bound.value.setUpStream(child, .tcp)
                    }
                }
                .bind(host: me.configuration.host, port: me.boundPort)
                .flatMap { server in
                    bound.value.tcpServer = server
                    return bound.value.startTLS()
                }
                .flatMapError { error in
                    // No half-started transport: the UDP listener goes too.
                    bound.value.close().flatMapThrowing { throw error }
                }
        }
    }

    /// The TLS listener, when configured: each accepted connection gets a server handler made
    /// from the contexts current at that moment.
    private func startTLS() -> EventLoopFuture<Void> {
        guard tlsContexts != nil, let host = configuration.tlsHost else { return loop.makeSucceededVoidFuture() }
        let bound = NIOLoopBound(self, eventLoop: loop)
        return ServerBootstrap(group: loop, childGroup: loop)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    let me = bound.value
                    guard let contexts = me.tlsContexts else { throw ChannelError.ioOnClosedChannel }
                    try child.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: contexts.server))
                    try me.setUpStream(child, .tls)
                }
            }
            .bind(host: host, port: configuration.tlsPort)
            .map { server in
                bound.value.tlsServer = server
                bound.value.tlsBoundPort = server.localAddress?.port ?? bound.value.configuration.tlsPort
            }
    }

    /// Reads the certificate files again (a renewed certificate): new TLS connections use them,
    /// those up keep theirs. Throws, and keeps the old ones, when the files are not usable.
    public func reloadTLS(_ files: SIPTLSFiles) throws(SIPTLSError) {
        tlsContexts = try SIPTLSContexts(files)
    }

    /// Whether requests can go to TLS peers (certificates loaded).
    public var tlsReady: Bool { tlsContexts != nil }

    /// The names TLS peers are known by (a trunk's DNS name, for its resolved addresses): sent
    /// as SNI and checked against the certificate instead of the address.
    private var serverNames: [SocketAddress: String] = [:]

    /// Names (or, with nil, unnames) the TLS server at `address`; takes effect on the next
    /// connection to it.
    public func setServerName(_ name: String?, for address: SocketAddress) {
        serverNames[address] = name
    }

    /// Hands the bound socket `fd` to NIO for reading; NIO owns (and closes) `fd`.
    private func openUDPChannel(on fd: CInt) -> EventLoopFuture<any Channel> {
        let bound = NIOLoopBound(self, eventLoop: loop)
        return DatagramBootstrap(group: loop)
            // A vector read splits its one receive buffer evenly among its messages, so the buffer
            // must hold `messages` datagrams of the largest size we accept. With one 64 KiB buffer
            // for 32 messages, anything over 2 KiB was cut short (largeDatagramsArriveWhole).
            .channelOption(.datagramVectorReadMessageCount, value: Self.vectorReadMessages)
            .channelOption(
                .recvAllocator,
                value: FixedSizeRecvByteBufferAllocator(capacity: Self.vectorReadMessages * (configuration.parserLimits.maxMessageBytes + 1)))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UDPInboundHandler(transport: bound))
                }
            }
            .withBoundSocket(fd)
            .map { channel in
                bound.value.udpChannel = channel
                return channel
            }
    }

    /// NIO closed the UDP channel though nobody asked (a read error it deems fatal). The socket
    /// itself is still open through our duplicate, with whatever the kernel holds for it, so a new
    /// channel on another duplicate reads on from where the old one stopped.
    func udpChannelClosed(_ channel: any Channel) {
        guard udpChannel === channel else { return }
        udpChannel = nil
        guard !closing, udpSendFD >= 0 else { return }
        sendFailures.listenerReopened += 1
        logger.error("SIP UDP listener closed unexpectedly; reopening it", metadata: ["sip.reopened": "\(sendFailures.listenerReopened)"])
        let bound = NIOLoopBound(self, eventLoop: loop)
        // A pause, so a socket that fails every read cannot spin the loop.
        loop.scheduleTask(in: .milliseconds(100)) {
            let me = bound.value
            guard !me.closing, me.udpSendFD >= 0, me.udpChannel == nil else { return }
            let fd = dup(me.udpSendFD)
            guard fd >= 0 else { return me.logger.critical("cannot reopen the SIP UDP listener", metadata: ["error": "\(errno)"]) }
            me.openUDPChannel(on: fd).whenFailure { error in
                bound.value.logger.critical("cannot reopen the SIP UDP listener", metadata: ["error": "\(error)"])
            }
        }
    }

    func setUpStream(_ channel: any Channel, _ kind: SIPTransportKind) throws {
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SIPFrameDecoder(parser: SIPParser(limits: configuration.parserLimits))))
        try channel.pipeline.syncOperations.addHandler(StreamInboundHandler(transport: NIOLoopBound(self, eventLoop: loop), kind: kind))
    }

    /// Closes the listeners and every connection.
    public func close() -> EventLoopFuture<Void> {
        closing = true
        var futures: [EventLoopFuture<Void>] = []
        if let udpChannel { futures.append(udpChannel.close()) }
        if udpSendFD >= 0 {
            mediaio_close(udpSendFD)
            udpSendFD = -1
        }
        if let tcpServer { futures.append(tcpServer.close()) }
        if let tlsServer { futures.append(tlsServer.close()) }
        for c in connections.values { futures.append(c.close()) }
        return EventLoopFuture.andAllComplete(futures, on: loop)
    }

    public func advertisedEndpoint(for transport: SIPTransportKind) -> (host: String, port: Int) {
        (configuration.advertisedHost, transport == .tls && tlsBoundPort != 0 ? tlsBoundPort : boundPort)
    }

    public func send(_ bytes: [UInt8], to peer: SIPPeer, onFailure: @escaping (any Error) -> Void) {
        switch peer.transport {
        case .udp:
            guard udpSendFD >= 0 else {
                onFailure(ChannelError.ioOnClosedChannel)
                return
            }
            let fd = udpSendFD
            let rc = bytes.withUnsafeBytes { data in
                peer.address.withSockAddr { address, length in
                    mediaio_send_sockaddr(fd, data.baseAddress, data.count, address, CUnsignedInt(length))
                }
            }
            if rc < 0 { udpSendFailed(errno: -rc, bytes: bytes.count, to: peer, onFailure: onFailure) }
        case .tcp, .tls:
            let failed: (any Error) -> Void = { [weak self] error in
                self?.tcpSendFailed(error, to: peer)
                onFailure(error)
            }
            if let channel = connections[peer] {
                let promise = loop.makePromise(of: Void.self)
                promise.futureResult.assumeIsolated().whenFailure(failed)
                channel.writeAndFlush(channel.allocator.buffer(bytes: bytes), promise: promise)
            } else {
                connect(to: peer, first: (bytes, failed))
            }
        }
    }

    private func udpSendFailed(errno code: CInt, bytes: Int, to peer: SIPPeer, onFailure: @escaping (any Error) -> Void) {
        let error = IOError(errnoCode: code, reason: "sendto")
        let full = code == EAGAIN || code == EWOULDBLOCK || code == ENOBUFS
        if full { sendFailures.dropped += 1 } else { sendFailures.failed += 1 }
        warnOnce(peer, [
            "sip.peer": "\(peer)", "sip.bytes": "\(bytes)", "sip.errno": "\(code)", "error": "\(String(cString: strerror(code)))",
            "sip.send": "\(full ? "dropped" : "failed")",
        ])
        // A full buffer is loss, which retransmission covers; anything else the transaction hears
        // of, after this send returns (it may be in the middle of its own actions).
        guard !full else { return }
        loop.assumeIsolated().execute { onFailure(error) }
    }

    private func tcpSendFailed(_ error: any Error, to peer: SIPPeer) {
        sendFailures.failed += 1
        warnOnce(peer, ["sip.peer": "\(peer)", "error": "\(error)", "sip.send": "failed"])
    }

    private func warnOnce(_ peer: SIPPeer, _ metadata: Logger.Metadata) {
        if warnedPeers.count >= Self.warnedPeersLimit { warnedPeers.removeAll(keepingCapacity: true) }
        guard warnedPeers.insert(peer.address).inserted else { return }
        logger.warning("SIP message could not be sent; the listener reads on", metadata: metadata)
    }

    /// Opens a connection for a peer we have none to; messages sent meanwhile wait for it. A TLS
    /// peer's certificate is checked against `tls.ca` and the address connected to; a handshake
    /// that fails closes the connection, and what waited on it fails as a transport error.
    private func connect(to peer: SIPPeer, first: ([UInt8], (any Error) -> Void)) {
        if pending[peer] != nil {
            pending[peer]!.append(first)
            return
        }
        if peer.transport == .tls && tlsContexts == nil {
            tcpSendFailed(SIPTLSError(description: "SIP over TLS is not configured (sip.tls_listen, tls_certificate, tls_key)"), to: peer)
            let fail = first.1
            loop.assumeIsolated().execute { fail(SIPTLSError(description: "SIP over TLS is not configured")) }
            return
        }
        pending[peer] = [first]
        let bound = NIOLoopBound(self, eventLoop: loop)
        let address = peer.address
        let client = peer.transport == .tls ? tlsContexts?.client : nil
        let serverName = serverNames[address]
        ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let client {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: client, serverHostname: serverName))
                    }
                    try bound.value.setUpStream(channel, peer.transport)
                }
            }
            .connect(to: address)
            .assumeIsolated()
            .whenComplete { result in
                let me = bound.value
                let waiting = me.pending.removeValue(forKey: peer) ?? []
                switch result {
                case .success(let channel):
                    for (bytes, fail) in waiting {
                        let promise = me.loop.makePromise(of: Void.self)
                        promise.futureResult.assumeIsolated().whenFailure(fail)
                        channel.writeAndFlush(channel.allocator.buffer(bytes: bytes), promise: promise)
                    }
                case .failure(let error):
                    me.logger.info("\(peer.transport.rawValue) connect failed", metadata: ["sip.peer": "\(peer)", "error": "\(error)"])
                    for (_, fail) in waiting { fail(error) }
                }
            }
    }

    func connectionOpened(_ channel: any Channel, _ kind: SIPTransportKind) -> Bool {
        guard let remote = channel.remoteAddress else { return false }
        guard connections.count < configuration.maxConnections else {
            if !warnedConnectionLimit {
                warnedConnectionLimit = true
                logger.warning("TCP connection limit reached; refusing new connections", metadata: ["sip.max_connections": "\(configuration.maxConnections)"])
            }
            return false
        }
        warnedConnectionLimit = false
        connections[SIPPeer(kind, remote)] = channel
        return true
    }

    func connectionClosed(_ channel: any Channel, remote: SocketAddress?, _ kind: SIPTransportKind) {
        if let remote, connections[SIPPeer(kind, remote)] === channel { connections[SIPPeer(kind, remote)] = nil }
    }
}

private final class UDPInboundHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let transport: NIOLoopBound<SIPTransportLayer>

    init(transport: NIOLoopBound<SIPTransportLayer>) { self.transport = transport }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        var buffer = envelope.data
        let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
        transport.value.deliver?(bytes, SIPPeer(.udp, envelope.remoteAddress))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // ICMP errors surface here on Linux (ECONNREFUSED for a closed peer port); they concern one
        // peer, not the socket.
        transport.value.logger.debug("UDP error", metadata: ["error": "\(error)"])
    }

    func channelInactive(context: ChannelHandlerContext) {
        transport.value.udpChannelClosed(context.channel)
        context.fireChannelInactive()
    }
}

/// Framed messages from a TCP or TLS connection (`kind`), to the stack.
private final class StreamInboundHandler: ChannelInboundHandler {
    typealias InboundIn = [UInt8]
    let transport: NIOLoopBound<SIPTransportLayer>
    let kind: SIPTransportKind
    private var remote: SocketAddress?

    init(transport: NIOLoopBound<SIPTransportLayer>, kind: SIPTransportKind) {
        self.transport = transport
        self.kind = kind
    }

    func channelActive(context: ChannelHandlerContext) {
        remote = context.channel.remoteAddress
        if !transport.value.connectionOpened(context.channel, kind) { context.close(promise: nil) }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        transport.value.connectionClosed(context.channel, remote: remote, kind)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let remote else { return }
        transport.value.deliver?(unwrapInboundIn(data), SIPPeer(kind, remote))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A framing error leaves the stream unreadable, and so does a failed TLS handshake:
        // report it against the peer and close.
        if let remote, let parseError = error as? SIPParseError {
            transport.value.logger.info(
                "closing \(kind.rawValue) connection after a framing error", metadata: ["sip.peer": "\(remote)", "sip.reason": "\(parseError.detail)"])
        } else if kind == .tls, let remote {
            transport.value.logger.info("closing TLS connection after an error", metadata: ["sip.peer": "\(remote)", "error": "\(error)"])
        }
        context.close(promise: nil)
    }
}
