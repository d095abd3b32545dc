import Foundation
public import Logging
public import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// What the daemon does with a control request. `respond` may be called from any thread, once;
/// `connection` stays usable for lines sent later (event subscriptions) until it closes.
public protocol ControlCommandHandler: AnyObject, Sendable {
    func handle(_ request: ControlRequest, connection: ControlConnection, respond: @escaping @Sendable (ControlResponse) -> Void)
}

/// One client of the control socket, for lines the daemon sends on its own (events).
public final class ControlConnection: Sendable {
    public let peer: ControlPeer
    let channel: any Channel

    init(peer: ControlPeer, channel: any Channel) {
        self.peer = peer
        self.channel = channel
    }

    /// Sends one line from any thread. Returns false, sending nothing, when the client is gone or
    /// is not reading fast enough (its socket buffer is full): a slow subscriber loses events
    /// instead of making the daemon hold an ever-growing queue for it.
    @discardableResult
    public func send(_ line: [UInt8]) -> Bool {
        guard channel.isActive, channel.isWritable else { return false }
        channel.writeAndFlush(channel.allocator.buffer(bytes: line), promise: nil)
        return true
    }

    /// Completes when the client disconnects.
    public var closed: EventLoopFuture<Void> { channel.closeFuture }
}

/// Who is on the other end of a control connection (SO_PEERCRED).
public struct ControlPeer: Sendable, Hashable, CustomStringConvertible {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    public var description: String { "pid=\(pid) uid=\(uid) gid=\(gid)" }
}

/// Who may use the control socket: root, the daemon's own user, and members of the operator group
/// (FEATURES S3). File permissions keep the rest out first; this check is the second lock, and the
/// one that can say why.
public struct ControlAccess: Sendable {
    public var operatorGroup: String?

    public init(operatorGroup: String?) { self.operatorGroup = operatorGroup }

    public func allows(_ peer: ControlPeer) -> Bool {
        if peer.uid == 0 || peer.uid == getuid() { return true }
        guard let name = operatorGroup, let group = getgrnam(name) else { return false }
        let gid = group.pointee.gr_gid
        if peer.gid == gid { return true }
        // Supplementary membership: the peer's user name listed in the group.
        guard let pw = getpwuid(peer.uid), let userName = String(validatingCString: pw.pointee.pw_name) else { return false }
        var member = group.pointee.gr_mem
        while let m = member?.pointee {
            if String(cString: m) == userName { return true }
            member = member?.advanced(by: 1)
        }
        return false
    }
}

/// The control socket: a Unix stream socket speaking newline-delimited JSON.
public final class ControlServer: Sendable {
    public let path: String
    let channel: any Channel

    private init(path: String, channel: any Channel) {
        self.path = path
        self.channel = channel
    }

    /// Binds the socket (replacing a stale file left by a crash), sets its mode and group.
    public static func start(
        path: String, mode: Int, group: String?, access: @escaping @Sendable (ControlPeer) -> Bool, handler: any ControlCommandHandler,
        loopGroup: any EventLoopGroup, logger: Logger
    ) async throws -> ControlServer {
        let fm = FileManager.default
        try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        if fm.fileExists(atPath: path) {
            if isListening(path) { throw ControlStartError("another daemon is listening on \(path)") }
            try fm.removeItem(atPath: path)
        }
        let channel = try await ServerBootstrap(group: loopGroup)
            .serverChannelOption(.backlog, value: 64)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineDecoder(limit: controlMaxLineBytes)))
                    try channel.pipeline.syncOperations.addHandler(ControlConnectionHandler(handler: handler, access: access, logger: logger))
                }
            }
            .bind(unixDomainSocketPath: path)
            .get()
        chmod(path, mode_t(mode))
        if let group, let g = getgrnam(group) {
            if chown(path, uid_t.max, g.pointee.gr_gid) != 0 {
                logger.warning("could not give the control socket to its group", metadata: ["control.group": "\(group)", "control.path": "\(path)"])
            }
        } else if let group {
            logger.warning("operator group does not exist", metadata: ["control.group": "\(group)"])
        }
        return ControlServer(path: path, channel: channel)
    }

    public func close() async {
        try? await channel.close()
        try? FileManager.default.removeItem(atPath: path)
    }

    private static func isListening(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8.prefix(107)) + [0]
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in raw.copyBytes(from: bytes) }
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        } == 0
    }
}

public struct ControlStartError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

/// Splits lines; a line over the limit is reported once as `nil` and skipped up to its newline.
struct LineDecoder: ByteToMessageDecoder {
    typealias InboundOut = [UInt8]?
    let limit: Int
    var skipping = false
    /// Bytes already searched for a newline, so a slow sender costs O(n) in all.
    var scanned = 0

    init(limit: Int) { self.limit = limit }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        let searchFrom = view.index(view.startIndex, offsetBy: min(scanned, view.count))
        if let newline = view[searchFrom...].firstIndex(of: 0x0A) {
            scanned = 0
            let length = newline - view.startIndex
            let line = buffer.readBytes(length: length + 1)!.dropLast()
            if skipping {
                skipping = false
            } else if line.count > limit {
                context.fireChannelRead(wrapInboundOut(nil))
            } else {
                context.fireChannelRead(wrapInboundOut(Array(line.last == 0x0D ? line.dropLast() : line)))
            }
            return .continue
        }
        scanned = view.count
        if view.count > limit {
            if !skipping {
                skipping = true
                context.fireChannelRead(wrapInboundOut(nil))
            }
            buffer.moveReaderIndex(forwardBy: view.count)
            scanned = 0
        }
        return .needMoreData
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

private final class ControlConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = [UInt8]?
    let handler: any ControlCommandHandler
    let access: @Sendable (ControlPeer) -> Bool
    let logger: Logger
    var peer = ControlPeer(pid: 0, uid: UInt32.max, gid: UInt32.max)
    var allowed = false
    var loggedGarbage = false
    var connection: ControlConnection?

    init(handler: any ControlCommandHandler, access: @escaping @Sendable (ControlPeer) -> Bool, logger: Logger) {
        self.handler = handler
        self.access = access
        self.logger = logger
    }

    func channelActive(context: ChannelHandlerContext) {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; } — three 32-bit words on Linux; Glibc
        // hides the struct behind _GNU_SOURCE, so it is read as words.
        var cred: [UInt32] = [0, UInt32.max, UInt32.max]
        var len = socklen_t(12)
        let rc = try? context.pipeline.syncOperations.withUnsafeTransportIfAvailable(of: NIOBSDSocket.Handle.self) { fd in
            cred.withUnsafeMutableBytes { getsockopt(fd, SOL_SOCKET, 17 /* SO_PEERCRED */, $0.baseAddress, &len) }
        }
        if rc == 0 { peer = ControlPeer(pid: Int32(bitPattern: cred[0]), uid: cred[1], gid: cred[2]) }
        allowed = access(peer)
        if !allowed {
            logger.warning("control connection refused", metadata: ["control.peer": "\(peer)"])
            let response = ControlResponse(id: nil, error: ControlError(.permissionDenied, "uid \(peer.uid) may not use this socket"))
            let out = context.channel.allocator.buffer(bytes: ControlCodec.encodeLine(response))
            let channel = context.channel
            context.writeAndFlush(wrapOutbound(out)).whenComplete { _ in channel.close(promise: nil) }
        }
        context.fireChannelActive()
    }

    private func wrapOutbound(_ b: ByteBuffer) -> NIOAny { NIOAny(b) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard allowed else { return }
        guard let line = unwrapInboundIn(data) else {
            reply(context, ControlResponse(id: nil, error: ControlError(.lineTooLong, "request longer than \(controlMaxLineBytes) bytes")))
            return
        }
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }
        switch ControlCodec.decodeRequest(line) {
        case .failure(let error):
            if !loggedGarbage {
                loggedGarbage = true
                logger.info("malformed control request", metadata: ["control.peer": "\(peer)", "control.error": "\(error.message)"])
            }
            reply(context, ControlResponse(id: nil, error: error))
        case .success(let request):
            let channel = context.channel
            connection = connection ?? ControlConnection(peer: peer, channel: channel)
            handler.handle(request, connection: connection!) { response in
                channel.writeAndFlush(channel.allocator.buffer(bytes: ControlCodec.encodeLine(response)), promise: nil)
            }
        }
    }

    private func reply(_ context: ChannelHandlerContext, _ response: ControlResponse) {
        context.writeAndFlush(wrapOutbound(context.channel.allocator.buffer(bytes: ControlCodec.encodeLine(response))), promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
