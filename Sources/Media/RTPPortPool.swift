public import NIOCore

/// A pair of bound UDP ports for one call leg: RTP on an even port, RTCP on the next (RFC 3550
/// §11). Holding the sockets, not just the numbers, is what makes the allocation real: a port
/// another process holds is skipped, and nothing else can take ours while the call lasts.
/// Unchecked Sendable only so it can travel in an EventLoopFuture: it is made, used and released on
/// the pool's loop.
public final class RTPPortLease: @unchecked Sendable {
    public let rtpPort: Int
    /// The media loop the leg lives on: every use of `stream` and `rtcp` happens there.
    public let loop: any EventLoop
    let rtp: MediaSocket
    let rtcpSocket: MediaSocket
    /// What arrives on the RTP socket, and what is sent back.
    public let stream: RTPStream
    /// Reports in and out on the RTCP socket.
    public let rtcp: RTCPSession
    fileprivate weak var pool: RTPPortPool?
    private var released = false

    fileprivate init(rtpPort: Int, rtp: MediaSocket, rtcpSocket: MediaSocket, stream: RTPStream, session: RTCPSession, pool: RTPPortPool) {
        self.rtpPort = rtpPort
        self.loop = pool.loop
        self.rtp = rtp
        self.rtcpSocket = rtcpSocket
        self.stream = stream
        self.rtcp = session
        self.pool = pool
    }

    /// RTP packets received on the lease so far.
    public var packetsReceived: Int { stream.packetsReceived }

    /// Closes the sockets and gives the ports back. On `loop` only.
    public func release() {
        guard !released else { return }
        released = true
        rtcp.sendBye()
        stream.stopPlayback()
        RTPBridge.split(stream)
        rtp.close()
        rtcpSocket.close()
        stream.transport = nil
        rtcp.transport = nil
        pool?.returned(rtpPort)
    }
}

/// Hands out RTP/RTCP port pairs from the configured range, the longest free first, so that a port
/// just freed is not reused at once (late packets of the old call would land in the new one). Lives on one
/// event loop.
public final class RTPPortPool {
    public enum AllocationError: Error, Sendable { case exhausted }

    public let host: String
    public let range: ClosedRange<Int>
    let loop: MediaLoop
    /// Free RTP ports of this pool's share, in the order they are to be used: a returned port goes
    /// to the back, so it rests as long as possible before a new call gets it. Taking the next one
    /// is O(1); the earlier scan for the next port not in use cost a set lookup per pair passed,
    /// which near exhaustion (2,500 pairs per loop, 1,000 allocations/s) was about a quarter of the
    /// daemon's samples in a `perf` profile of bench/full-path.sh.
    private var free = CircularBuffer<Int>()
    /// The loop's 20 ms playback clock, shared by every leg the pool hands out.
    public let clock: MediaClock
    /// How often each leg sends an RTCP report, on average (RFC 3550 suggests 5 s).
    public var rtcpInterval: TimeAmount = .seconds(5)
    /// The CNAME in our SDES packets.
    public var cname = "acdd"
    private var leases: [Int: RTPPortLease] = [:]
    /// Told when a lease is given back (the pools' shared count).
    var onReturn: (() -> Void)?
    private var reportTimer: RepeatedTask?

    /// This pool's share of the range: pairs whose index modulo `shares` is `share`, so that
    /// pools on several loops split one range without sharing any state.
    let share: Int
    let shares: Int

    public init(host: String, range: ClosedRange<Int>, loop: MediaLoop, share: Int = 0, of shares: Int = 1) {
        precondition(shares >= 1 && (0..<shares).contains(share))
        self.host = host
        self.range = range
        self.loop = loop
        self.share = share
        self.shares = shares
        self.clock = MediaClock(loop: loop)
        free.reserveCapacity(capacity)
        for port in stride(from: firstEven + 2 * share, through: range.upperBound - 1, by: 2 * shares) { free.append(port) }
    }

    public var leasedCount: Int { leases.count }
    /// How many pairs the range holds.
    public var capacity: Int {
        let pairs = (range.upperBound - firstEven + 1) / 2
        return pairs / shares + (share < pairs % shares ? 1 : 0)
    }
    private var firstEven: Int { range.lowerBound % 2 == 0 ? range.lowerBound : range.lowerBound + 1 }

    /// Binds the next free pair; fails with `.exhausted` when every pair is taken or unbindable.
    /// Binding is a system call, not I/O to wait for, so the future is already complete when it
    /// comes back on the pool's loop.
    public func allocate() -> EventLoopFuture<RTPPortLease> {
        loop.makeCompletedFuture(Result { () throws(AllocationError) in try allocateNow() })
    }

    /// RTP sockets get a 1 MiB kernel receive buffer (a held-up loop loses nothing for a while);
    /// RTCP sockets keep the default. Neither has a read buffer of its own: datagrams are read
    /// into the loop's arena, which is why a leg costs no user-space receive memory.
    private func allocateNow() throws(AllocationError) -> RTPPortLease {
        // Each free pair is tried at most once; one held by another program goes to the back.
        for _ in 0..<free.count {
            let port = free.removeFirst()
            let stream = RTPStream()
            stream.clock = clock
            let session = RTCPSession(stream: stream, cname: cname)
            let rtp: MediaSocket, rtcp: MediaSocket
            do {
                rtp = try loop.open(host: host, port: port, receiveBuffer: 1 << 20, receiver: stream)
            } catch {
                free.append(port)  // held by someone else: skip it and try the next pair
                continue
            }
            do {
                rtcp = try loop.open(host: host, port: port + 1, receiveBuffer: 0, receiver: session)
            } catch {
                rtp.close()
                free.append(port)
                continue
            }
            stream.transport = rtp
            session.transport = rtcp
            let lease = RTPPortLease(rtpPort: port, rtp: rtp, rtcpSocket: rtcp, stream: stream, session: session, pool: self)
            leased(lease)
            return lease
        }
        throw .exhausted
    }

    fileprivate func returned(_ port: Int) {
        guard leases.removeValue(forKey: port) != nil else { return }
        free.append(port)
        onReturn?()
        if leases.isEmpty {
            reportTimer?.cancel()
            reportTimer = nil
        }
    }

    /// Every leg's reports are due at their own random times; one timer per pool checks them
    /// four times a second while any leg is out.
    private func leased(_ lease: RTPPortLease) {
        leases[lease.rtpPort] = lease
        guard reportTimer == nil else { return }
        let bound = NIOLoopBound(self, eventLoop: loop)
        reportTimer = loop.scheduleRepeatedTask(initialDelay: .milliseconds(250), delay: .milliseconds(250)) { _ in
            let pool = bound.value
            let now = NIODeadline.now(), wall = wallClockNanoseconds()
            for lease in pool.leases.values { lease.rtcp.tick(now: now, wallNanoseconds: wall, interval: pool.rtcpInterval) }
        }
    }
}
