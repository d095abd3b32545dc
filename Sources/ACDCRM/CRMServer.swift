import Control
import CRMBridge
import Foundation
import GRDB
import Logging
import NIOCore
import NIOPosix
import JSON

/// One connection from the daemon. Lines read in one go are applied in one transaction and
/// acknowledged only after it commits, so an acknowledged event is on the store's disk; a line that
/// is not a valid event or lookup is logged and not acknowledged.
final class CRMConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let database: CRMDatabase
    let logger: Logger
    private var input: [UInt8] = []
    private var lines: [[UInt8]] = []
    /// Events received again (already applied) since start: the daemon sends at least once.
    private(set) var duplicates = 0

    init(database: CRMDatabase, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        input += bytes.readBytes(length: bytes.readableBytes) ?? []
        while let nl = input.firstIndex(of: 0x0A) {
            lines.append(Array(input[..<nl]))
            input.removeFirst(nl + 1)
        }
        if input.count > CRMProtocol.maxLine {
            logger.error("line longer than \(CRMProtocol.maxLine) bytes; closing the connection")
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        guard !lines.isEmpty else { return }
        let batch = lines
        lines.removeAll()
        var replies: [String] = []
        var duplicatesHere = 0
        do {
            try database.queue.write { db in
                for raw in batch {
                    let value: JSONValue
                    switch CRMProtocol.parse(raw) {
                    case .failure(let e):
                        logger.warning("line refused", metadata: ["crm.error": "\(e)"])
                        continue
                    case .success(let v): value = v
                    }
                    guard let id = value["id"]?.stringValue else { continue }
                    switch value["type"]?.stringValue {
                    case "event":
                        let line = String(decoding: raw, as: UTF8.self)
                        if try !CRMDatabase.apply(value, line: line, db: db) { duplicatesHere += 1 }
                        replies.append(CRMProtocol.ack(id))
                    case "lookup":
                        let (customer, history) = try CRMDatabase.lookup(value["number"]?.stringValue ?? "", db: db)
                        replies.append(CRMProtocol.customer(id: id, customer: customer, history: history))
                    default:
                        logger.warning("unknown line type", metadata: ["crm.type": "\(value["type"]?.stringValue ?? "")"])
                    }
                }
            }
        } catch {
            // Nothing is acknowledged: the daemon keeps the events and sends them again.
            logger.error("cannot store events; not acknowledged", metadata: ["error": "\(error)"])
            return
        }
        if duplicatesHere > 0 {
            duplicates += duplicatesHere
            logger.info("dropped events seen before", metadata: ["crm.duplicates": "\(duplicatesHere)"])
        }
        var out = context.channel.allocator.buffer(capacity: replies.reduce(0) { $0 + $1.utf8.count + 1 })
        for r in replies {
            out.writeString(r)
            out.writeInteger(UInt8(0x0A))
        }
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.warning("connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }
}

enum CRMServer {
    /// Listens on `socketPath` (a stale socket file is replaced) until the process ends.
    static func run(socketPath: String, database: CRMDatabase, logger: Logger) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let directory = (socketPath as NSString).deletingLastPathComponent
        if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        unlink(socketPath)
        let channel = try ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(CRMConnectionHandler(database: database, logger: logger))
                }
            }
            .bind(unixDomainSocketPath: socketPath).wait()
        logger.notice("acd-crm listening", metadata: ["crm.socket": "\(socketPath)"])
        try channel.closeFuture.wait()
    }
}
