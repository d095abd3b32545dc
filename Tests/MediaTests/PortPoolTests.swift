import NIOCore
import Testing

@testable import Media

/// Port pairs over two loops, with real sockets on loopback.
@Suite struct PortPoolTests {
    @Test func twoLoopsShareTheRangeAndLegsThatMeetShareALoop() throws {
        let group = try MediaLoopGroup(count: 2)
        defer { group.stop() }
        let base = 46000 + Int.random(in: 0..<100) * 20
        let pools = RTPPortPools(host: "127.0.0.1", range: base...(base + 15), loops: group.loops)
        #expect(pools.capacity == 8)
        var leases: [RTPPortLease] = []
        for _ in 0..<4 { leases.append(try pools.allocate().wait()) }
        // Round robin over the loops, each with its own even ports.
        #expect(Set(leases.map { ObjectIdentifier($0.loop) }).count == 2)
        #expect(Set(leases.map(\.rtpPort)).count == 4 && leases.allSatisfy { $0.rtpPort % 2 == 0 && (base...(base + 14)).contains($0.rtpPort) })
        // Allocated near a lease: the same loop, whatever the turn.
        for _ in 0..<2 {
            let near = try pools.allocate(near: leases[0]).wait()
            #expect(near.loop === leases[0].loop)
            leases.append(near)
        }
        #expect(pools.leasedCount == 6)
        // The first loop's share (4 pairs) is now used up: asking near it again fails; the other
        // loop still has two.
        #expect(throws: RTPPortPool.AllocationError.exhausted) { try pools.allocate(near: leases[0]).wait() }
        let other = try #require(leases.first { $0.loop !== leases[0].loop })
        for _ in 0..<2 { leases.append(try pools.allocate(near: other).wait()) }
        #expect(Set(leases.map(\.rtpPort)).count == 8 && pools.leasedCount == 8)
        #expect(throws: RTPPortPool.AllocationError.exhausted) { try pools.allocate().wait() }
        for lease in leases { try lease.loop.submit { lease.release() }.wait() }
        #expect(pools.leasedCount == 0)
        #expect(try pools.allocate().wait().rtpPort >= base)
    }

    /// A freed pair goes to the back: every other free pair is used before it comes round again,
    /// and a pair another program holds is skipped and tried again later.
    @Test func theLongestFreePairComesFirstAndAHeldOneIsSkipped() throws {
        let group = try MediaLoopGroup(count: 1)
        defer { group.stop() }
        let base = 47000 + Int.random(in: 0..<100) * 20
        let loop = group.loops[0]
        // The pool lives on its loop; the test reaches it only through tasks there.
        let pool = try loop.submit { NIOLoopBound(RTPPortPool(host: "127.0.0.1", range: base...(base + 7), loop: loop), eventLoop: loop) }.wait()
        let allocate = { try loop.flatSubmit { pool.value.allocate() }.wait() }
        var squatter: UDPPeer? = try UDPPeer(port: base + 2)
        var leases: [RTPPortLease] = []
        for _ in 0..<3 { leases.append(try allocate()) }
        #expect(leases.map(\.rtpPort) == [base, base + 4, base + 6])
        #expect(throws: RTPPortPool.AllocationError.exhausted) { try allocate() }
        squatter = nil
        _ = squatter
        let (first, second) = (leases[0], leases[1])
        try loop.submit { second.release(); first.release() }.wait()
        #expect(try loop.submit { pool.value.leasedCount }.wait() == 1)
        // base + 2 waited longest (skipped while held), then base + 4, then base.
        let next = try (0..<3).map { _ in try allocate().rtpPort }
        #expect(next == [base + 2, base + 4, base])
    }
}
