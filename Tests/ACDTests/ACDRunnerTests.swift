import ACD
import Foundation
import Testing

/// The ACD thread: events from many threads, actions out in order, snapshots that include a
/// command's effect by the time its reply arrives, and timers fired by the real clock.
@Suite struct ACDRunnerTests {
    final class Sink: @unchecked Sendable {
        private let lock = NSLock()
        private var actions: [ACDAction] = []
        func add(_ a: [ACDAction]) { lock.withLock { actions += a } }
        var all: [ACDAction] { lock.withLock { actions } }
    }

    static func engine(ringSeconds: Int = 15) throws -> ACDEngine {
        var g = GroupSettings(name: "g")
        g.ringSeconds = ringSeconds
        return try ACDEngine(settings: ACDSettings(groups: [g], agents: (1...4).map { AgentSettings(id: "a\($0)", skills: [.init("g", 5)]) }))
    }

    @Test func aCommandsReplyCarriesItsEffect() async throws {
        let sink = Sink()
        let runner = ACDRunner(engine: try Self.engine(), publishIntervalMs: 10_000) { a, _ in sink.add(a) }
        runner.start()
        defer { runner.stop() }
        let snap = try await runner.request(.agentLogin(agent: "a1", device: "sip:a1@x")).get()
        #expect(snap.agents.first { $0.id == "a1" }?.state == .ready)
        #expect(runner.snapshot.agents.first { $0.id == "a1" }?.state == .ready)
        let refused = await runner.request(.agentLogin(agent: "a1", device: "sip:a1@x"))
        #expect(throws: ACDError.self) { try refused.get() }
        #expect(runner.counters.refused == 1)
    }

    /// The call layer's requests (is this answer accepted?) get their outcome without forcing a
    /// snapshot; operators' requests still see their effect.
    @Test func aCallRequestIsAnsweredWithoutPublishingASnapshot() async throws {
        let sink = Sink()
        // An hour: on a loaded machine (a whole test run beside a build) this test once took
        // 84 s, and the periodic snapshot of a 60 s interval came in between.
        let runner = ACDRunner(engine: try Self.engine(), publishIntervalMs: 3_600_000) { a, _ in sink.add(a) }
        runner.start()
        defer { runner.stop() }
        _ = try await runner.request(.agentLogin(agent: "a1", device: "sip:a1@x")).get()
        let before = runner.snapshot
        let outcome: Result<ACDSnapshot, ACDError> = await withCheckedContinuation { c in
            runner.send(.agentPause(agent: "a1", reason: "lunch"), withSnapshot: false) { c.resume(returning: $0) }
        }
        #expect((try? outcome.get()) != nil)
        #expect(runner.snapshot === before)
        #expect(runner.snapshot.agents.first { $0.id == "a1" }?.state == .ready)
        let refused: Result<ACDSnapshot, ACDError> = await withCheckedContinuation { c in
            runner.send(.agentLogin(agent: "a1", device: "sip:a1@x"), withSnapshot: false) { c.resume(returning: $0) }
        }
        #expect(throws: ACDError.self) { try refused.get() }
        // The next operator's request publishes everything applied so far.
        let snap = try await runner.request(.agentLogin(agent: "a2", device: "sip:a2@x")).get()
        #expect(snap.agents.first { $0.id == "a1" }?.state == .notReady)
    }

    @Test func eventsFromManyThreadsAreAllApplied() async throws {
        let sink = Sink()
        let runner = ACDRunner(engine: try Self.engine()) { a, _ in sink.add(a) }
        runner.start()
        for i in 1...4 { _ = await runner.request(.agentLogin(agent: "a\(i)", device: "d", pausedReason: "x")) }
        let group = DispatchGroup()
        for t in 0..<4 {
            group.enter()
            Thread.detachNewThread {
                for i in 0..<250 { runner.send(.callArrived(CallArrival(call: "t\(t)-\(i)", group: "g"))) }
                group.leave()
            }
        }
        group.wait()
        let snap = try await runner.request(.tick).get()
        #expect(snap.waiting.count == 1000)
        #expect(sink.all.filter { if case .log(let e) = $0 { e.event == "ENTERQUEUE" } else { false } }.count == 1000)
        runner.stop()
    }

    @Test func timersFireOnTheRealClock() async throws {
        let sink = Sink()
        let runner = ACDRunner(engine: try Self.engine(ringSeconds: 1)) { a, _ in sink.add(a) }
        runner.start()
        defer { runner.stop() }
        _ = await runner.request(.agentLogin(agent: "a1", device: "d"))
        runner.send(.callArrived(CallArrival(call: "c1", group: "g")))
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, !sink.all.contains(.cancelOffer(call: "c1", agent: "a1")) { try await Task.sleep(for: .milliseconds(20)) }
        #expect(sink.all.contains(.cancelOffer(call: "c1", agent: "a1")), "ring no answer after 1 s")
        // The snapshot follows within the publish interval without any command.
        try await Task.sleep(for: .milliseconds(300))
        #expect(runner.snapshot.agents.first { $0.id == "a1" }?.reason == "rona")
    }
}
