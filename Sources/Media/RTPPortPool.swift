public import NIOCore
import NIOPosix

/// A pair of bound UDP ports for one call leg: RTP on an even port, RTCP on the next (RFC 3550
/// §11). Holding the sockets, not just the numbers, is what makes the allocation real: a port
/// another process holds is skipped, and nothing else can take ours while the call lasts.
/// Unchecked Sendable only so it can travel in an EventLoopFuture: it is made, used and released on
/// the pool's loop.
public final class RTPPortLease: @unchecked Sendable {
    public let rtpPort: Int
    let rtp: any Channel
    let rtcp: any Channel
    fileprivate let counter: PacketCounter
    fileprivate weak var pool: RTPPortPool?
    private var released = false

    fileprivate init(rtpPort: Int, rtp: any Channel, rtcp: any Channel, counter: PacketCounter, pool: RTPPortPool) {
        self.rtpPort = rtpPort
        self.rtp = rtp
        self.rtcp = rtcp
        self.counter = counter
        self.pool = pool
    }

    /// RTP packets received on the lease so far (until the media engine takes the socket over).
    public var packetsReceived: Int { counter.packets }

    /// Closes the sockets and gives the ports back.
    public func release() {
        guard !released else { return }
        released = true
        rtp.close(promise: nil)
        rtcp.close(promise: nil)
        pool?.returned(rtpPort)
    }
}

/// Hands out RTP/RTCP port pairs from the configured range, round robin so that a port just freed
/// is not reused at once (late packets of the old call would land in the new one). Lives on one
/// event loop.
public final class RTPPortPool {
    public enum AllocationError: Error, Sendable { case exhausted }

    public let host: String
    public let range: ClosedRange<Int>
    let loop: any EventLoop
    private var inUse: Set<Int> = []
    private var cursor: Int

    public init(host: String, range: ClosedRange<Int>, loop: any EventLoop) {
        self.host = host
        self.range = range
        self.loop = loop
        self.cursor = range.lowerBound % 2 == 0 ? range.lowerBound : range.lowerBound + 1
    }

    public var leasedCount: Int { inUse.count }
    /// How many pairs the range holds.
    public var capacity: Int { (range.upperBound - firstEven + 1) / 2 }
    private var firstEven: Int { range.lowerBound % 2 == 0 ? range.lowerBound : range.lowerBound + 1 }

    /// Binds the next free pair; fails with `.exhausted` when every pair is taken or unbindable.
    public func allocate() -> EventLoopFuture<RTPPortLease> {
        attempt(remaining: capacity)
    }

    private func nextCandidate() -> Int? {
        for _ in 0..<capacity {
            let port = cursor
            cursor += 2
            if cursor + 1 > range.upperBound { cursor = firstEven }
            if !inUse.contains(port) { return port }
        }
        return nil
    }

    private func attempt(remaining: Int) -> EventLoopFuture<RTPPortLease> {
        guard remaining > 0, let port = nextCandidate() else { return loop.makeFailedFuture(AllocationError.exhausted) }
        inUse.insert(port)
        let counter = PacketCounter()
        let bound = NIOLoopBound(self, eventLoop: loop)
        return bind(port, counter: counter).flatMap { rtp in
            bound.value.bind(port + 1, counter: nil).map { rtcp in
                RTPPortLease(rtpPort: port, rtp: rtp, rtcp: rtcp, counter: counter, pool: bound.value)
            }.flatMapError { error in
                rtp.close(promise: nil)
                return bound.value.loop.makeFailedFuture(error)
            }
        }.flatMapError { _ in
            // Held by someone else: skip it and try the next pair.
            bound.value.inUse.remove(port)
            return bound.value.attempt(remaining: remaining - 1)
        }
    }

    private func bind(_ port: Int, counter: PacketCounter?) -> EventLoopFuture<any Channel> {
        DatagramBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(DrainHandler(counter: counter))
                }
            }
            .bind(host: host, port: port)
    }

    fileprivate func returned(_ port: Int) { inUse.remove(port) }
}

final class PacketCounter: @unchecked Sendable {
    // Unchecked: touched only on the pool's loop, where the channel lives.
    var packets = 0
}

/// Reads and discards what arrives, counting RTP packets.
private final class DrainHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let counter: PacketCounter?
    init(counter: PacketCounter?) { self.counter = counter }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { counter?.packets += 1 }
}
