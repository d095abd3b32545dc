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
}
