@testable import Calls
import Foundation
import SIP
import SIPMessage
import Testing
import TestSupport

/// Shedding new calls when the SIP loop falls behind (issue 24), or past `daemon.max_calls`.
@Suite struct OverloadGuardTests {
    @Test func lateTimersEnterOverloadAndACalmSpellLeavesIt() {
        var g = OverloadGuard(enterMilliseconds: 250, recoverSeconds: 2)
        #expect(g.observe(lateMilliseconds: 249, at: 0) == nil && !g.overloaded)
        #expect(g.observe(lateMilliseconds: 400, at: 0.1) == .entered(lateMilliseconds: 400) && g.overloaded)
        // Half the threshold or more keeps it; under half must last 2 s.
        #expect(g.observe(lateMilliseconds: 130, at: 0.2) == nil)
        #expect(g.observe(lateMilliseconds: 100, at: 0.3) == nil)
        #expect(g.observe(lateMilliseconds: 900, at: 1.0) == nil && g.worstMilliseconds == 900)
        #expect(g.observe(lateMilliseconds: 10, at: 1.1) == nil)
        #expect(g.observe(lateMilliseconds: 10, at: 3.0) == nil && g.overloaded)
        #expect(g.observe(lateMilliseconds: 10, at: 3.1) == .left(afterSeconds: 3.0) && !g.overloaded)
        #expect(g.episodes == 1)
        // Off: nothing ever counts.
        var off = OverloadGuard(enterMilliseconds: 0)
        #expect(off.observe(lateMilliseconds: 10_000, at: 0) == nil && !off.overloaded)
    }

    /// Overloaded, the shell refuses an INVITE at once with 503 and Retry-After, and makes no call.
    @Test func anOverloadedShellRefusesNewCallsWithRetryAfter() throws {
        let f = try ShellFixture()
        try f.on { _ = f.service.overload.observe(lateMilliseconds: 1000, at: 0) }
        let invite = SIPFixtures.request(.invite, uri: "sip:100@127.0.0.1:5060", viaPort: 5080, callID: "shed-1", fromUser: "0301234567")
        try f.receive(invite, fromPort: 5080)
        let refused = try f.await("503") { s in s.response.flatMap { $0.callID == "shed-1" && $0.status.isFinal ? $0 : nil } }
        #expect(refused.status == .serviceUnavailable && refused.headers[.retryAfter] == "5")
        #expect(try f.calls().isEmpty && f.on { f.service.refusedOverloadCount } == 1)
    }

    /// Descriptors (issue 20): counted every 100 ms, each call admitted since the count assumed
    /// to take `perCall` more; refused while fewer than the reserve would be left.
    @Test func callsAreRefusedBeforeTheDescriptorsRunOut() {
        var b = DescriptorBudget(limit: 300, reserve: 100)
        #expect(b.admit() == nil, "not counted yet: no limit known to hold to")
        b.counted(open: 150)
        // 300 - 100 = 200 usable; 150 open leaves room for 8 calls of 6.
        var admitted = 0
        while b.admit() == nil { admitted += 1 }
        #expect(admitted == 8)
        #expect(b.short && b.admit() == "Too many open files")
        b.counted(open: 190)
        #expect(b.admit() == nil && b.admit() == "Too many open files", "a fresh count decides again")
        b.counted(open: 120)
        #expect(!b.short)
        var off = DescriptorBudget(limit: 300, reserve: 0)
        off.counted(open: 299)
        #expect(off.admit() == nil && !off.short, "reserve 0 turns the check off")
    }
}
