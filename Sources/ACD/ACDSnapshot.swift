public import Atomics

/// The ACD's live state as operators see it (FEATURES O1): an immutable copy taken on the engine's
/// thread and published through an atomic reference, so reading it never waits for routing.
public final class ACDSnapshot: Sendable, AtomicReference {
    public struct AgentView: Sendable, Equatable {
        public var id: String
        public var name: String
        public var state: AgentStateName
        public var reason: String?
        public var secondsInState: Int
        /// The call it is ringing for or talking on.
        public var call: String?
        public var device: String
        public var skills: [AgentSettings.Skill]
        public var stats: AgentStats
        public var retired: Bool
    }

    public struct GroupView: Sendable, Equatable {
        public var name: String
        public var strategy: RoutingStrategy
        public var waiting: Int
        /// Waiting callers whose agent's phone is ringing.
        public var ringing: Int
        public var longestWaitSeconds: Int
        public var agentsLoggedIn: Int
        public var agentsReady: Int
        /// Logged in and not paused.
        public var agentsAvailable: Int
        public var stats: GroupStats
        /// Share of finished waits answered within the threshold; nil before any.
        public var serviceLevel: Double?
        public var serviceLevelSeconds: Int
        public var averageSpeedOfAnswerSeconds: Double?
        public var averageHandleSeconds: Double?
        /// What a caller joining now would be told.
        public var estimatedWaitSeconds: Int?
        public var retired: Bool
    }

    public struct CallerView: Sendable, Equatable {
        public var call: String
        public var group: String
        public var position: Int
        public var priority: Int
        public var waitedSeconds: Int
        public var offeredTo: [String]
        public var callerID: String
        /// The number a callback will call; nil for a caller on the line.
        public var callback: String?
    }

    public let takenAt: ACDTime
    public let agents: [AgentView]
    public let groups: [GroupView]
    /// Waiting callers, by group then position.
    public let waiting: [CallerView]
    /// Callers connected to an agent.
    public let connected: Int

    init(takenAt: ACDTime, agents: [AgentView], groups: [GroupView], waiting: [CallerView], connected: Int) {
        self.takenAt = takenAt
        self.agents = agents
        self.groups = groups
        self.waiting = waiting
        self.connected = connected
    }

    public static let empty = ACDSnapshot(takenAt: 0, agents: [], groups: [], waiting: [], connected: 0)
}

extension ACDEngine {
    /// Copies the live state for operators. O(agents + callers); the runner calls it when something
    /// changed, at most every few tens of milliseconds, and right after operators' commands.
    public func snapshot(now: ACDTime) -> ACDSnapshot {
        // Sorted by position, not by value: moving whole Agent values through a sort cost more
        // than everything else in a snapshot of 1,000 agents (perf, bench/README).
        var byOrder = agents.values.indices.map { ($0, agents.values[$0].order) }
        byOrder.sort { $0.1 < $1.1 }
        let agentViews = byOrder.map { (index, _) -> ACDSnapshot.AgentView in
            let a = agents.values[index]
            var reason: String?
            var call: String?
            switch a.state {
            case .notReady(let r): reason = r
            case .ringing(let c, _, _): call = c
            case .onCall(let c): call = c
            case .outbound(let c, _): call = c
            default: break
            }
            return ACDSnapshot.AgentView(
                id: a.settings.id, name: a.settings.name, state: stateName(a.state), reason: reason, secondsInState: Int(max(0, now - a.since) / 1000),
                call: call, device: a.state == .loggedOut ? "" : a.device, skills: a.settings.skills, stats: a.stats, retired: a.retired)
        }
        var groupViews: [ACDSnapshot.GroupView] = []
        var waiting: [ACDSnapshot.CallerView] = []
        let names = groups.keys.sorted { a, b in
            (groups[a]!.retired ? 1 : 0, a) < (groups[b]!.retired ? 1 : 0, b)
        }
        for name in names {
            let g = groups[name]!
            var longest: ACDTime = 0
            var ringing = 0
            for (i, call) in g.queue.enumerated() {
                let c = callers[call]!
                longest = max(longest, now - c.enteredAt)
                if !c.offeredTo.isEmpty { ringing += 1 }
                waiting.append(ACDSnapshot.CallerView(
                    call: call, group: name, position: i + 1, priority: c.arrival.priority, waitedSeconds: Int(max(0, now - c.enteredAt) / 1000),
                    offeredTo: c.offeredTo, callerID: c.arrival.callerID, callback: c.arrival.callback))
            }
            let s = g.stats
            let finished = s.answered + s.abandoned + s.timedOut + s.exitedEmpty + s.exitedKey
            groupViews.append(ACDSnapshot.GroupView(
                name: name, strategy: g.settings.strategy, waiting: g.queue.count, ringing: ringing, longestWaitSeconds: Int(longest / 1000),
                agentsLoggedIn: g.loggedIn, agentsReady: g.ready.count, agentsAvailable: g.available, stats: s,
                serviceLevel: finished > 0 ? Double(s.answeredWithinServiceLevel) / Double(finished) : nil,
                serviceLevelSeconds: g.settings.serviceLevelSeconds,
                averageSpeedOfAnswerSeconds: s.answered > 0 ? Double(s.answerWaitMs) / Double(s.answered) / 1000 : nil,
                averageHandleSeconds: s.handled > 0 ? Double(s.handleMs) / Double(s.handled) / 1000 : nil,
                estimatedWaitSeconds: estimatedWait(g, position: g.queue.count + 1), retired: g.retired))
        }
        let connected = callers.values.reduce(0) { n, c in if case .connected = c.phase { n + 1 } else { n } }
        return ACDSnapshot(takenAt: now, agents: agentViews, groups: groupViews, waiting: waiting, connected: connected)
    }

    /// Checks the engine's invariants; returns what is broken (empty when all hold). For tests and
    /// for a debug assertion in the runner.
    public func invariantViolations() -> [String] {
        var problems: [String] = []
        var queued: [String: String] = [:]
        for (name, g) in groups {
            for call in g.queue {
                if let other = queued[call] { problems.append("call \(call) is in \(other) and \(name)") }
                queued[call] = name
                guard let c = callers[call] else {
                    problems.append("queue \(name) holds unknown call \(call)")
                    continue
                }
                if c.group != name { problems.append("call \(call) is queued in \(name) but belongs to \(c.group)") }
                if c.phase != .waiting { problems.append("connected call \(call) is still queued") }
            }
            if Set(g.queue).count != g.queue.count { problems.append("queue \(name) holds a call twice") }
            let s = g.stats
            if s.entered + s.callbacksJoined != s.answered + s.abandoned + s.timedOut + s.exitedEmpty + s.exitedKey + s.callbacksWithdrawn + g.queue.count {
                problems.append("group \(name): entered \(s.entered) + callbacks joined != answered+abandoned+timed out+exited+withdrawn+waiting")
            }
            var loggedIn = 0, available = 0
            var ready: Set<String> = []
            for (id, a) in agents where !a.retired && a.state != .loggedOut && a.settings.level(name) != nil {
                loggedIn += 1
                if case .notReady = a.state {} else { available += 1 }
                if a.state == .ready { ready.insert(id) }
            }
            if loggedIn != g.loggedIn || available != g.available || ready != g.ready {
                problems.append("group \(name): counters \(g.loggedIn)/\(g.available)/\(g.ready.count) but agents say \(loggedIn)/\(available)/\(ready.count)")
            }
        }
        for (call, c) in callers {
            switch c.phase {
            case .waiting:
                if queued[call] == nil { problems.append("waiting call \(call) is in no queue") }
                if c.offeredTo.count > 1 && groups[c.group]?.settings.strategy != .ringAll {
                    problems.append("call \(call) rings \(c.offeredTo.count) agents outside ring-all")
                }
                for id in c.offeredTo {
                    guard case .ringing(call, _, _) = agents[id]?.state else {
                        problems.append("call \(call) is offered to \(id), who is not ringing for it")
                        continue
                    }
                }
            case .connected(let agent, _, _):
                if agents[agent]?.state != .onCall(call) { problems.append("call \(call) is connected to \(agent), who is not on it") }
            }
        }
        for (id, a) in agents {
            switch a.state {
            case .ringing(let call, _, _):
                if callers[call]?.offeredTo.contains(id) != true { problems.append("agent \(id) rings for \(call), which is not offered to it") }
            case .onCall(let call):
                guard let c = callers[call], case .connected(id, _, _) = c.phase else {
                    problems.append("agent \(id) is on \(call), which is not connected to it")
                    continue
                }
            case .outbound(let call, _):
                if outboundCalls[call] != id { problems.append("agent \(id) is on outbound call \(call), which is not theirs") }
            default: break
            }
        }
        return problems
    }
}
