import Atomics
public import NIOCore

/// One port pool per event loop, so call legs spread over every core: each pool owns a share of
/// the configured range and binds its sockets on its own loop, where that leg's RTP, RTCP,
/// playback, bridging and mixing then run without a lock. Legs that must meet (the two sides of
/// a bridge, the members of a conference) are allocated on the same loop by passing `near:`.
///
/// Called from the call layer's loop; each allocation hops to the chosen pool's loop. Unchecked
/// Sendable: the array never changes, and a pool's mutable state is touched only on its own loop
/// (its `loop`, `share` and `capacity` are fixed at init).
public final class RTPPortPools: @unchecked Sendable {
    let pools: [RTPPortPool]
    public let range: ClosedRange<Int>
    private let next = ManagedAtomic<Int>(0)
    private let leased = ManagedAtomic<Int>(0)

    public init(host: String, range: ClosedRange<Int>, loops: [MediaLoop]) {
        precondition(!loops.isEmpty)
        self.range = range
        let counter = leased
        pools = loops.enumerated().map { i, loop in
            let pool = RTPPortPool(host: host, range: range, loop: loop, share: i, of: loops.count)
            pool.onReturn = { counter.wrappingDecrement(ordering: .relaxed) }
            return pool
        }
    }

    /// The media loops, for probes of how far behind they are.
    public var loops: [MediaLoop] { pools.map(\.loop) }

    /// Leases out now, across all loops (for status).
    public var leasedCount: Int { leased.load(ordering: .relaxed) }
    /// RTP and RTCP datagrams the kernel refused to send, across all loops (for status).
    public var sendFailures: Int { pools.reduce(0) { $0 + $1.loop.sendFailures } }
    public var capacity: Int { pools.reduce(0) { $0 + $1.capacity } }

    /// A port pair on `near`'s loop, or on the next loop in turn.
    public func allocate(near: RTPPortLease? = nil) -> EventLoopFuture<RTPPortLease> {
        let pool: RTPPortPool
        if let near, let same = pools.first(where: { $0.loop === near.loop }) {
            pool = same
        } else {
            pool = pools[next.loadThenWrappingIncrement(ordering: .relaxed) % pools.count]
        }
        let counter = leased
        let bound = UncheckedPool(pool: pool)
        return pool.loop.flatSubmit { bound.pool.allocate() }.map { lease in
            counter.wrappingIncrement(ordering: .relaxed)
            return lease
        }
    }

    /// Applies RTCP settings on every pool's loop.
    public func configure(rtcpInterval: TimeAmount, cname: String) {
        for pool in pools {
            let bound = UncheckedPool(pool: pool)
            pool.loop.execute {
                bound.pool.rtcpInterval = rtcpInterval
                bound.pool.cname = cname
            }
        }
    }
}

/// A pool carried to its own loop: it is only ever touched there.
private struct UncheckedPool: @unchecked Sendable {
    let pool: RTPPortPool
}
