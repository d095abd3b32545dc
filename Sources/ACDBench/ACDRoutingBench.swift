import ACD
import Foundation
import LockFree
import Synchronization

// ACD and LockFree benchmarks (bench/README.md):
//   acd-bench routing [cycles] [runs]   decision latency with 10,000 waiting callers, 1,000 agents, 50 groups
//   acd-bench inbox [items] [runs]      MPSC inbox against a mutex-protected deque, 1, 2 and 4 producers
//   acd-bench ring [frames] [runs]      SPSC frame ring against a mutex-protected ring

func percentile(_ sorted: [UInt64], _ p: Double) -> UInt64 { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
@inline(__always) func nowNanos() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

enum RoutingBench {
    /// 50 groups with every strategy but ring-all in turn; 1,000 agents with 3 skills each; 10,000
    /// callers waiting while every agent is on a call. One cycle: an agent hangs up (the routing
    /// decision: it is offered the best waiting caller across its groups), answers, and a new
    /// caller arrives so the queues stay at 10,000.
    static func run(cycles: Int, runs: Int) {
        let strategies = RoutingStrategy.allCases.filter { $0 != .ringAll }
        var rng = SystemRandomNumberGenerator()
        let groups = (0..<50).map { i -> GroupSettings in
            var g = GroupSettings(name: "g\(i)")
            g.strategy = strategies[i % strategies.count]
            g.wrapUpSeconds = 0
            g.ringSeconds = 600
            return g
        }
        let agents = (0..<1000).map { i -> AgentSettings in
            var names = Set<Int>()
            while names.count < 3 { names.insert(Int.random(in: 0..<50, using: &rng)) }
            return AgentSettings(id: "a\(i)", skills: names.sorted().map { .init("g\($0)", Int.random(in: 1...10, using: &rng)) })
        }
        print("routing: 50 groups, 1,000 agents (3 skills each), 10,000 waiting callers; \(cycles) cycles per run")
        print("run  decision p50  decision p99  arrival p50  arrival p99  events/s")
        var p99s: [Double] = [], rates: [Double] = []
        for run in 1...runs {
            var engine = try! ACDEngine(settings: ACDSettings(groups: groups, agents: agents), seed: UInt64(run))
            var out: [ACDAction] = []
            out.reserveCapacity(64)
            var now: ACDTime = 0
            var next = 0
            var ringing: [String: String] = [:]  // agent → call
            func take(_ actions: [ACDAction]) {
                for case .offer(let call, let agent, _, _) in actions { ringing[agent] = call }
            }
            for a in agents {
                try! engine.handle(.agentLogin(agent: a.id, device: "d"), now: now, into: &out)
            }
            out.removeAll()
            for _ in 0..<11_000 {
                try! engine.handle(.callArrived(CallArrival(call: "c\(next)", group: "g\(next % 50)", priority: next % 7 == 0 ? 1 : 0)), now: now, into: &out)
                next += 1
                now += 1
            }
            take(out)
            out.removeAll()
            for (agent, call) in ringing { try! engine.handle(.agentAnswered(agent: agent, call: call), now: now, into: &out) }
            ringing.removeAll()
            out.removeAll()
            let waiting = engine.snapshot(now: now).waiting.count
            var decisions: [UInt64] = [], arrivals: [UInt64] = []
            decisions.reserveCapacity(cycles)
            arrivals.reserveCapacity(cycles)
            var events = 0
            let start = nowNanos()
            for i in 0..<cycles {
                let agent = agents[i % agents.count].id
                now += 10
                var t = nowNanos()
                try! engine.handle(.agentHungUp(agent: agent), now: now, into: &out)
                decisions.append(nowNanos() - t)
                events += 1
                for case .offer(let call, let a, _, _) in out where a == agent {
                    try! engine.handle(.agentAnswered(agent: agent, call: call), now: now, into: &out)
                    events += 1
                }
                out.removeAll(keepingCapacity: true)
                t = nowNanos()
                try! engine.handle(.callArrived(CallArrival(call: "c\(next)", group: "g\(next % 50)", priority: next % 7 == 0 ? 1 : 0)), now: now, into: &out)
                arrivals.append(nowNanos() - t)
                events += 1
                next += 1
                out.removeAll(keepingCapacity: true)
            }
            let elapsed = Double(nowNanos() - start) / 1e9
            decisions.sort()
            arrivals.sort()
            let rate = Double(events) / elapsed
            p99s.append(Double(percentile(decisions, 0.99)))
            rates.append(rate)
            precondition(engine.invariantViolations().isEmpty && waiting >= 9_000)
            print(String(format: "%3d  %9.2f µs  %9.2f µs  %8.2f µs  %8.2f µs  %9.0f", run,
                         Double(percentile(decisions, 0.5)) / 1000, Double(percentile(decisions, 0.99)) / 1000,
                         Double(percentile(arrivals, 0.5)) / 1000, Double(percentile(arrivals, 0.99)) / 1000, rate))
        }
        print(String(format: "median of runs: decision p99 %.2f µs, %.0f events/s", median(p99s) / 1000, median(rates)))
    }
}

/// The inbox's mutex-protected twin: the same contract (bounded, preallocated, a full inbox makes
/// the producer yield and retry) with the indices and slots under one Mutex.
final class MutexInbox<T: Sendable>: Sendable {
    private struct State {
        var head = 0, tail = 0
        var slots: [T?]
    }
    private let state: Mutex<State>
    let capacity: Int
    init(capacity: Int) {
        self.capacity = capacity
        state = Mutex(State(slots: Array(repeating: nil, count: capacity)))
    }
    func tryPush(_ x: T) -> Bool {
        state.withLock { s in
            guard s.tail - s.head < capacity else { return false }
            s.slots[s.tail % capacity] = x
            s.tail += 1
            return true
        }
    }
    func push(_ x: T) { while !tryPush(x) { sched_yield() } }
    func pop() -> T? {
        state.withLock { s in
            guard s.head < s.tail else { return nil }
            defer { s.head += 1 }
            return s.slots[s.head % capacity].take()
        }
    }
}

/// The ring's mutex-protected twin: preallocated frames, indices under a Mutex.
final class MutexRing: @unchecked Sendable {
    private let lock = Mutex<(head: Int, tail: Int)>((0, 0))
    private var slots: [Frame]
    let capacity: Int
    init(capacity: Int) {
        self.capacity = capacity
        slots = Array(repeating: Frame(), count: capacity)
    }
    func push(_ fill: (inout Frame) -> Void) -> Bool {
        lock.withLock { s in
            guard s.tail - s.head < capacity else { return false }
            fill(&slots[s.tail % capacity])
            s.tail += 1
            return true
        }
    }
    func pop(_ read: (inout Frame) -> Void) -> Bool {
        lock.withLock { s in
            guard s.head < s.tail else { return false }
            read(&slots[s.head % capacity])
            s.head += 1
            return true
        }
    }
}

/// A 20 ms G.711 frame: what a media loop hands a recorder.
struct Frame {
    var stamp: UInt64 = 0
    var samples = [Int16](repeating: 0, count: 160)
}

enum QueueBench {
    /// Producers push their send time; the consumer takes items and records push→pop latency.
    ///
    /// Two consumers, interleaved run by run. `idle` steps aside (`sched_yield`) when it finds the
    /// inbox empty, as the ACD thread does (it sleeps until a producer wakes it). `hot` polls
    /// without pause: it reads the very slot the producer is about to write, so much of what it
    /// measures is that cache line moving back and forth between the two cores, and it never leaves
    /// its core to the producers. Both twins get the same consumer.
    static func inbox(items: Int, runs: Int) {
        print("inbox: \(items) items per run, capacity 16,384 each; throughput and push→pop latency (every 64th item)")
        print("producers  consumer  kind      items/s      p50 ns   p99 ns")
        var summary: [String] = []
        for producers in [1, 2, 4] {
            var rates: [String: [Double]] = [:], p99s: [String: [Double]] = [:]
            for _ in 1...runs {
                for consumer in ["idle", "hot"] {
                    for kind in ["lockfree", "mutex"] {
                        let (rate, p50, p99) = inboxRun(kind: kind, idle: consumer == "idle", producers: producers, items: items)
                        rates[consumer + kind, default: []].append(rate)
                        p99s[consumer + kind, default: []].append(Double(p99))
                        print(String(format: "%9d  %-8@  %-8@ %10.0f  %8d %8d", producers, consumer, kind, rate, p50, p99))
                    }
                }
            }
            for consumer in ["idle", "hot"] {
                let lf = median(rates[consumer + "lockfree"]!), mx = median(rates[consumer + "mutex"]!)
                summary.append(String(format: "%d producers, %@ consumer, median of %d runs: lock-free %.1f M/s vs mutex %.1f M/s (%.2fx); p99 %.0f ns vs %.0f ns",
                                      producers, consumer, runs, lf / 1e6, mx / 1e6, lf / mx,
                                      median(p99s[consumer + "lockfree"]!), median(p99s[consumer + "mutex"]!)))
            }
        }
        summary.forEach { print($0) }
    }

    private static func inboxRun(kind: String, idle: Bool, producers: Int, items: Int) -> (rate: Double, p50: UInt64, p99: UInt64) {
        let lf = MPSCInbox<UInt64>(capacity: 16_384)
        let mx = MutexInbox<UInt64>(capacity: 16_384)
        let each = items / producers
        let go = DispatchSemaphore(value: 0)
        let done = DispatchGroup()
        for _ in 0..<producers {
            done.enter()
            Thread.detachNewThread {
                go.wait()
                // Every 64th item carries its send time (0 otherwise), so the clock is not what
                // limits the rate being measured.
                for i in 0..<each {
                    let stamp: UInt64 = i & 63 == 0 ? nowNanos() : 0
                    if kind == "lockfree" { lf.push(stamp) } else { mx.push(stamp) }
                }
                done.leave()
            }
        }
        var latencies = [UInt64]()
        latencies.reserveCapacity(each * producers / 64 + producers)
        var received = 0
        for _ in 0..<producers { go.signal() }
        let start = nowNanos()
        while received < each * producers {
            if let t = kind == "lockfree" ? lf.pop() : mx.pop() {
                received += 1
                if t != 0 { latencies.append(nowNanos() &- t) }
            } else if idle {
                sched_yield()
            }
        }
        let rate = Double(received) / (Double(nowNanos() - start) / 1e9)
        // The producers' threads are gone before the next run starts on the same cores.
        done.wait()
        latencies.sort()
        return (rate, percentile(latencies, 0.5), percentile(latencies, 0.99))
    }

    static func ring(frames: Int, runs: Int) {
        print("ring: \(frames) frames of 160 samples per run, one producer, one consumer, capacity 256")
        var lockFree: [Double] = [], mutex: [Double] = []
        for _ in 1...runs {
            for kind in ["lockfree", "mutex"] {
                let lf = SPSCRing<Frame>(capacity: 256) { Frame() }
                let mx = MutexRing(capacity: 256)
                Thread.detachNewThread {
                    var i = 0
                    while i < frames {
                        let fill: (inout Frame) -> Void = { f in
                            f.stamp = nowNanos()
                            f.samples.withUnsafeMutableBufferPointer { b in for k in 0..<b.count { b[k] = Int16(truncatingIfNeeded: i &+ k) } }
                        }
                        if kind == "lockfree" ? lf.push(fill) : mx.push(fill) { i += 1 }
                    }
                }
                var latencies = [UInt64]()
                latencies.reserveCapacity(frames)
                var sum = 0
                let start = nowNanos()
                while latencies.count < frames {
                    let read: (inout Frame) -> Void = { f in
                        latencies.append(nowNanos() &- f.stamp)
                        sum &+= Int(f.samples[0])
                    }
                    _ = kind == "lockfree" ? lf.pop(read) : mx.pop(read)
                }
                let rate = Double(frames) / (Double(nowNanos() - start) / 1e9)
                latencies.sort()
                if kind == "lockfree" { lockFree.append(rate) } else { mutex.append(rate) }
                print(String(format: "%-8@ %10.0f frames/s  p50 %6d ns  p99 %7d ns", kind, rate, percentile(latencies, 0.5), percentile(latencies, 0.99)))
            }
        }
        print(String(format: "median of runs: lock-free %.0f/s vs mutex %.0f/s (%.2fx)", median(lockFree), median(mutex), median(lockFree) / median(mutex)))
    }
}
