import Logging
public import NIOCore
public import NIOPosix
public import SIP

/// A stack on a real event loop, listening on loopback, answering OPTIONS.
public final class LiveStack: @unchecked Sendable {
    // Unchecked: every field below is touched only on `loop` (set up through `submit`).
    public let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    public var loop: any EventLoop { group.next() }
    public var transport: SIPTransportLayer!
    public var stack: SIPStack!

    /// `tls`: also listen for TLS (on a free port) with these certificates, and connect to TLS
    /// peers trusting their `ca`.
    public init(tls: SIPTLSFiles? = nil) throws {
        let loop = group.next()
        try loop.submit {
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let transport = SIPTransportLayer(
                loop: loop, configuration: .init(host: "127.0.0.1", port: 0, tlsHost: tls == nil ? nil : "127.0.0.1", tlsPort: 0, tls: tls), logger: logger)
            let stack = SIPStack(configuration: .init(), scheduler: EventLoopScheduler(loop: loop), transport: transport, logger: logger)
            transport.deliver = { stack.receive($0, from: $1) }
            stack.handlers = [OptionsResponder(allow: [.options], supported: [])]
            self.transport = transport
            self.stack = stack
        }.wait()
        try loop.flatSubmit { self.transport.start() }.wait()
    }

    public var port: Int { try! loop.submit { self.transport.port }.wait() }
    public var tlsPort: Int { try! loop.submit { self.transport.tlsPort }.wait() }

    public func shutdown() throws {
        try loop.flatSubmit { self.transport.close() }.wait()
        try group.syncShutdownGracefully()
    }
}

