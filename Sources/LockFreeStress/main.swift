import Dispatch
import Foundation
import LockFree

// Stress of the lock-free structures. `make test` builds this with ThreadSanitizer and runs it: every
// item must arrive exactly once and in its producer's order, and no wake-up may be lost. Exit status
// 0 means all held; anything else names what broke.
//
// Usage: lockfree-stress [--inbox-items N] [--ring-items N] [--producers P] [--spin]
// (--spin: the consumer polls instead of sleeping, to time the queue alone.)

var inboxItems = 1_000_000
var ringItems = 2_000_000
var producers = 4
nonisolated(unsafe) var spin = false
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    switch a {
    case "--inbox-items": inboxItems = Int(args.next() ?? "") ?? inboxItems
    case "--ring-items": ringItems = Int(args.next() ?? "") ?? ringItems
    case "--producers": producers = Int(args.next() ?? "") ?? producers
    case "--spin": spin = true
    default:
        FileHandle.standardError.write(Data("usage: lockfree-stress [--inbox-items N] [--ring-items N] [--producers P] [--spin]\n".utf8))
        exit(2)
    }
}

/// MPSC: `producers` threads push (producer, sequence) pairs; every producer pauses now and then so
/// the consumer keeps going to sleep and the wake-up handshake is exercised, not just the queue.
func stressInbox(items: Int, producers: Int) -> [String] {
    var failures: [String] = []
    // 1,024 slots: small enough that producers keep finding it full, so the full/wait path and
    // slot reuse across laps are stressed, not just the fast path.
    let inbox = MPSCInbox<(producer: Int, seq: Int)>(capacity: 1_024)
    let wakeup = Wakeup()
    let perProducer = items / producers
    let done = DispatchGroup()
    let finished = ManagedCounter()
    for p in 0..<producers {
        done.enter()
        Thread.detachNewThread {
            for i in 0..<perProducer {
                // Half the producers claim with fetch-and-add (`push`), half with compare-and-swap
                // (`tryPush`, retried when full), so the two claims are stressed against each other.
                if p % 2 == 0 {
                    inbox.push((p, i))
                } else {
                    while !inbox.tryPush((p, i)) { sched_yield() }
                }
                if !spin { wakeup.notify() }
                if i % 50_000 == 49_999 { usleep(200) }
            }
            finished.increment()
            done.leave()
        }
    }
    var next = [Int](repeating: 0, count: producers)
    var received = 0
    var lostWakeups = 0
    let start = DispatchTime.now()
    while received < perProducer * producers {
        while let (p, seq) = inbox.pop() {
            if seq != next[p] {
                failures.append("inbox: producer \(p) item \(seq) arrived when \(next[p]) was due")
                return failures
            }
            next[p] += 1
            received += 1
        }
        if received == perProducer * producers { break }
        if spin {
            sched_yield()
            continue
        }
        let woken = wakeup.wait(until: .now() + .seconds(2)) { inbox.isEmpty }
        if !woken && finished.value < producers { lostWakeups += 1 }
        if DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds > 300_000_000_000 {
            failures.append("inbox: gave up after 300 s with \(received) of \(perProducer * producers) items")
            return failures
        }
    }
    done.wait()
    if inbox.pop() != nil { failures.append("inbox: an item arrived twice or from nowhere") }
    if lostWakeups > 0 { failures.append("inbox: \(lostWakeups) wake-ups lost (consumer slept 2 s with producers running)") }
    let ms = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
    print("inbox: \(received) items from \(producers) producers, each once and in order; \(inbox.fullWaits) pushes waited for room (\(Int(ms)) ms)")
    return failures
}

/// SPSC: frames with a sequence number and a payload derived from it, filled and read in place.
struct Frame {
    var seq = 0
    var samples = [Int16](repeating: 0, count: 160)
}

func stressRing(items: Int) -> [String] {
    var failures: [String] = []
    let ring = SPSCRing<Frame>(capacity: 256) { Frame() }
    let total = items
    let producerDone = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
        var i = 0
        while i < total {
            let pushed = ring.push { f in
                f.seq = i
                f.samples.withUnsafeMutableBufferPointer { b in for k in 0..<b.count { b[k] = Int16(truncatingIfNeeded: i &+ k) } }
            }
            if pushed { i += 1 }
        }
        producerDone.signal()
    }
    var expected = 0
    var bad: String?
    let start = DispatchTime.now()
    while expected < total {
        let popped = ring.pop { f in
            if f.seq != expected, bad == nil { bad = "ring: frame \(f.seq) arrived when \(expected) was due" }
            if bad == nil {
                f.samples.withUnsafeBufferPointer { b in
                    for k in 0..<b.count where b[k] != Int16(truncatingIfNeeded: expected &+ k) { bad = "ring: frame \(expected) was torn at sample \(k)"; break }
                }
            }
        }
        if let bad {
            failures.append(bad)
            return failures
        }
        if popped { expected += 1 }
    }
    producerDone.wait()
    if ring.pop({ _ in }) { failures.append("ring: a frame arrived twice") }
    let ms = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
    print("ring: \(expected) frames, each once, in order and whole (\(Int(ms)) ms)")
    return failures
}

/// A counter for "how many producers have finished", read by the consumer.
final class ManagedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func increment() { lock.withLock { n += 1 } }
    var value: Int { lock.withLock { n } }
}

let failures = stressInbox(items: inboxItems, producers: producers) + stressRing(items: ringItems)
if failures.isEmpty {
    print("lockfree-stress: all held")
} else {
    for f in failures { print("FAIL: \(f)") }
    exit(1)
}
