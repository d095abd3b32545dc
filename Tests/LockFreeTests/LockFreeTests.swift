import Dispatch
import Foundation
import LockFree
import Testing

// Behaviour of the lock-free structures. Their concurrency is shown by `lockfree-stress`, which
// `make test` runs under ThreadSanitizer; here a shorter concurrent run checks the same properties
// in the normal build.

@Suite struct MPSCInboxTests {
    @Test func fifoForOneProducer() {
        let inbox = MPSCInbox<Int>(capacity: 128)
        #expect(inbox.isEmpty)
        #expect(inbox.pop() == nil)
        for i in 0..<100 { inbox.push(i) }
        #expect(!inbox.isEmpty)
        for i in 0..<100 { #expect(inbox.pop() == i) }
        #expect(inbox.pop() == nil)
        #expect(inbox.isEmpty)
    }

    @Test func releasesWhatIsLeftWhenDropped() {
        final class Token: @unchecked Sendable {
            let onDeinit: () -> Void
            init(_ f: @escaping () -> Void) { onDeinit = f }
            deinit { onDeinit() }
        }
        let freed = LockedCount()
        do {
            let inbox = MPSCInbox<Token>(capacity: 16)
            for _ in 0..<10 { inbox.push(Token { freed.add() }) }
            _ = inbox.pop()
        }
        #expect(freed.value == 10)
    }

    @Test func manyProducersEachItemOnceInOrder() {
        // A small inbox, so producers keep finding it full and the wait path is exercised too.
        let inbox = MPSCInbox<(Int, Int)>(capacity: 64)
        let wakeup = Wakeup()
        let producers = 4, each = 50_000
        for p in 0..<producers {
            Thread.detachNewThread {
                for i in 0..<each {
                    inbox.push((p, i))
                    wakeup.notify()
                }
            }
        }
        var next = [Int](repeating: 0, count: producers)
        var received = 0
        while received < producers * each {
            while let (p, i) = inbox.pop() {
                #expect(i == next[p])
                next[p] = i + 1
                received += 1
            }
            if received < producers * each {
                #expect(wakeup.wait(until: .now() + .seconds(10)) { inbox.isEmpty }, "a wake-up was lost")
            }
        }
        #expect(next == [Int](repeating: each, count: producers))
    }

    @Test func refusesWhenFullAndSlotsComeBackAfterPops() {
        let inbox = MPSCInbox<Int>(capacity: 3)
        #expect(inbox.capacity == 4)
        for i in 0..<4 { #expect(inbox.tryPush(i)) }
        #expect(!inbox.tryPush(99))
        #expect(inbox.pop() == 0)
        #expect(inbox.tryPush(4))
        #expect(!inbox.tryPush(100))
        for lap in 0..<1_000 {
            // Many laps: sequence numbers keep advancing and every slot is reused.
            #expect(inbox.pop() == lap + 1)
            #expect(inbox.tryPush(lap + 5))
        }
        #expect(inbox.fullWaits == 0)
    }

    @Test func blockingPushWaitsForRoomAndCountsTheWait() {
        let inbox = MPSCInbox<Int>(capacity: 2)
        #expect(inbox.tryPush(0) && inbox.tryPush(1))
        let pushed = LockedCount()
        Thread.detachNewThread {
            inbox.push(2)
            pushed.add()
        }
        // The producer cannot finish until a slot is freed.
        usleep(50_000)
        #expect(pushed.value == 0)
        #expect(inbox.pop() == 0)
        let deadline = DispatchTime.now() + .seconds(10)
        while pushed.value == 0 && DispatchTime.now() < deadline { usleep(1_000) }
        #expect(pushed.value == 1)
        #expect(inbox.fullWaits == 1)
        #expect(inbox.pop() == 1)
        #expect(inbox.pop() == 2)
        #expect(inbox.pop() == nil)
    }
}

@Suite struct WakeupTests {
    @Test func waitTimesOutWhenNobodyNotifies() {
        let w = Wakeup()
        let start = DispatchTime.now()
        #expect(w.wait(until: .now() + .milliseconds(50)) { true } == false)
        #expect(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds >= 40_000_000)
    }

    @Test func doesNotSleepWhenWorkArrivedBeforeTheWait() {
        let w = Wakeup()
        #expect(w.wait(until: .now() + .seconds(5)) { false })
    }

    @Test func notifyWakesASleeper() {
        let w = Wakeup()
        Thread.detachNewThread {
            usleep(20_000)
            w.notify()
        }
        #expect(w.wait(until: .now() + .seconds(10)) { true })
    }
}

@Suite struct SPSCRingTests {
    @Test func roundsCapacityUpAndRefusesWhenFull() {
        let ring = SPSCRing<Int>(capacity: 3) { -1 }
        #expect(ring.capacity == 4)
        for i in 0..<4 { #expect(ring.push { $0 = i }) }
        #expect(!ring.push { $0 = 99 })
        #expect(ring.count == 4)
        var out: [Int] = []
        while ring.pop({ out.append($0) }) {}
        #expect(out == [0, 1, 2, 3])
        #expect(ring.push { $0 = 4 })
        var got = -1
        #expect(ring.pop { got = $0 })
        #expect(got == 4)
        #expect(!ring.pop { _ in })
    }

    @Test func slotsAreReusedNotReallocated() {
        // The slot's storage made at init is what the producer fills: its identity survives laps.
        final class Box { var v = 0 }
        var made = 0
        let ring = SPSCRing<Box>(capacity: 2) { made += 1; return Box() }
        for lap in 0..<100 {
            #expect(ring.push { $0.v = lap })
            var got = -1
            #expect(ring.pop { got = $0.v })
            #expect(got == lap)
        }
        #expect(made == 2)
    }

    @Test func oneProducerOneConsumerInOrder() {
        let ring = SPSCRing<Int>(capacity: 64) { 0 }
        let total = 200_000
        Thread.detachNewThread {
            var i = 0
            while i < total { if ring.push({ $0 = i }) { i += 1 } }
        }
        var expected = 0
        var disorder = 0
        while expected < total {
            if ring.pop({ if $0 != expected { disorder += 1 } }) { expected += 1 }
        }
        #expect(disorder == 0)
    }
}

final class LockedCount: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.withLock { n += 1 } }
    var value: Int { lock.withLock { n } }
}
