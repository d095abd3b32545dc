import Foundation
import NIOCore
import NIOPosix
import SIP
import Testing

/// The production scheduler on a real event loop: long delays go on its timing wheel.
@Suite struct EventLoopSchedulerTests {
    final class Log: @unchecked Sendable {
        private let lock = NSLock()
        private var entries: [(String, Double)] = []
        func add(_ name: String, _ at: Double) { lock.withLock { entries.append((name, at)) } }
        var all: [(String, Double)] { lock.withLock { entries } }
    }

    @Test func wheelTimersFireAfterTheirDeadlineInOrderAndCancelledOnesNever() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let loop = group.next()
        let log = Log()
        let start = Date()
        try loop.submit {
            let scheduler = EventLoopScheduler(loop: loop)
            for (name, ms) in [("b", 1300), ("a", 1000), ("c", 1600), ("short", 200)] {
                _ = scheduler.schedule(after: .milliseconds(ms)) { log.add(name, Date().timeIntervalSince(start)) }
            }
            let cancelled = scheduler.schedule(after: .milliseconds(1100)) { log.add("cancelled", Date().timeIntervalSince(start)) }
            cancelled.cancel()
            // A timer set from a firing one (a re-armed timer) fires too.
            _ = scheduler.schedule(after: .milliseconds(1050)) {
                _ = scheduler.schedule(after: .milliseconds(1000)) { log.add("again", Date().timeIntervalSince(start)) }
            }
            // Keep the scheduler alive as the stack does.
            Holder.keep(scheduler)
        }.wait()
        Thread.sleep(forTimeInterval: 2.5)
        let entries = log.all
        #expect(entries.map(\.0) == ["short", "a", "b", "c", "again"], "\(entries)")
        let due: [String: Double] = ["short": 0.2, "a": 1.0, "b": 1.3, "c": 1.6, "again": 2.05]
        for (name, at) in entries {
            let d = try #require(due[name])
            #expect(at >= d && at < d + 0.25, "\(name) fired at \(at) s, due \(d) s")
        }
    }
}

/// Keeps schedulers alive for the length of a test (the wheel's task holds them weakly).
enum Holder {
    nonisolated(unsafe) static var kept: [AnyObject] = []
    static func keep(_ o: AnyObject) { kept.append(o) }
}
