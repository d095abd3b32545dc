import ACD
import Testing

/// Drives an engine with a fake clock and keeps what it said. Every event is followed by an
/// invariant check, so each test also checks the invariants along its path.
struct Harness {
    var engine: ACDEngine
    var now: ACDTime = 0
    var log: [QueueLogEntry] = []
    var all: [ACDAction] = []

    init(groups: [GroupSettings], agents: [AgentSettings], seed: UInt64 = 1) throws {
        engine = try ACDEngine(settings: ACDSettings(groups: groups, agents: agents), seed: seed)
    }

    /// Three agents in one group `g` (levels 5, 7, 9 unless given).
    init(strategy: RoutingStrategy = .longestIdle, configure: (inout GroupSettings) -> Void = { _ in }, levels: [Int] = [5, 7, 9]) throws {
        var g = GroupSettings(name: "g")
        g.strategy = strategy
        g.wrapUpSeconds = 0
        configure(&g)
        try self.init(groups: [g], agents: levels.enumerated().map { i, l in AgentSettings(id: "a\(i + 1)", skills: [.init("g", l)]) })
    }

    @discardableResult
    mutating func send(_ event: ACDEvent, sourceLocation: SourceLocation = #_sourceLocation) throws(ACDError) -> [ACDAction] {
        var out: [ACDAction] = []
        try engine.handle(event, now: now, into: &out)
        all += out
        for case .log(let e) in out { log.append(e) }
        let problems = engine.invariantViolations()
        #expect(problems.isEmpty, "after \(event): \(problems)", sourceLocation: sourceLocation)
        return out
    }

    /// Sends an event that must be refused; returns the error.
    mutating func refuse(_ event: ACDEvent, sourceLocation: SourceLocation = #_sourceLocation) -> ACDError? {
        do {
            try send(event)
            Issue.record("\(event) was accepted", sourceLocation: sourceLocation)
            return nil
        } catch {
            return error
        }
    }

    @discardableResult
    mutating func advance(_ seconds: Double) throws -> [ACDAction] {
        now += ACDTime(seconds * 1000)
        return try send(.tick)
    }

    mutating func loginAll(_ ids: [String]) throws {
        for id in ids {
            try send(.agentLogin(agent: id, device: "sip:\(id)@test"))
            now += 1000
        }
    }

    @discardableResult
    mutating func arrive(_ call: String, group: String = "g", priority: Int = 0, position: Int? = nil) throws -> [ACDAction] {
        try send(.callArrived(CallArrival(call: call, group: group, priority: priority, position: position, callerID: "caller-\(call)")))
    }

    /// Answers, talks `talk` seconds, and the agent hangs up.
    mutating func serve(_ call: String, by agent: String, talk: Double = 60) throws {
        try send(.agentAnswered(agent: agent, call: call))
        now += ACDTime(talk * 1000)
        try send(.agentHungUp(agent: agent))
    }

    func agent(_ id: String) -> ACDSnapshot.AgentView { engine.snapshot(now: now).agents.first { $0.id == id }! }
    func group(_ name: String = "g") -> ACDSnapshot.GroupView { engine.snapshot(now: now).groups.first { $0.name == name }! }
    func waiting(_ name: String = "g") -> [String] { engine.snapshot(now: now).waiting.filter { $0.group == name }.map(\.call) }
    var events: [String] { log.map(\.event) }
}

func offers(_ actions: [ACDAction]) -> [String] {
    actions.compactMap { if case .offer(let call, let agent, _, _) = $0 { "\(call)→\(agent)" } else { nil } }
}

func offeredAgents(_ actions: [ACDAction]) -> [String] {
    actions.compactMap { if case .offer(_, let agent, _, _) = $0 { agent } else { nil } }
}
