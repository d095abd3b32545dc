import HeapModule

/// The automatic call distributor: every skill group, waiting caller and agent, as one value.
///
/// Events go in through `handle(_:now:into:)`, actions come out in the caller's buffer; the engine
/// touches no clock, socket or file, so a test drives it with a fake clock and checks every rule.
/// In the daemon one thread owns it (`ACDRunner`) and everything else talks to that thread through
/// a lock-free inbox (docs/architecture.md).
///
/// Design notes:
/// - A refused event (an illegal agent transition, an unknown call) throws before changing
///   anything, so a refusal never leaves half a change behind.
/// - Timers (ring no answer, wrap-up, maximum wait, widening, announcements) sit in one heap and are
///   checked against the current state when they fire instead of being cancelled: a stale timer is
///   simply ignored, which keeps every state change O(1) in timers.
/// - Queues are arrays of call ids in service order. Callers being offered stay in place (they keep
///   their position if the ring fails); `offeredTo` marks them.
public struct ACDEngine: Sendable {
    // MARK: State

    struct Agent: Sendable {
        enum State: Sendable, Equatable {
            case loggedOut, ready
            case notReady(String)
            case ringing(call: String, since: ACDTime, until: ACDTime)
            case onCall(String)
            case wrapUp(until: ACDTime)
            /// On a call the agent placed; `resume` is the not-ready reason to return to (nil:
            /// back to ready). No wrap-up: the agent chose to call, and chooses when to be ready.
            case outbound(call: String, resume: String?)
        }

        var settings: AgentSettings
        var order: Int
        var state: State = .loggedOut
        var since: ACDTime = 0
        var device = ""
        var loginAt: ACDTime = 0
        /// When the last call ended (or the login): what "longest idle" compares.
        var idleSince: ACDTime = 0
        /// Removed from the configuration while logged in: takes no new call, leaves when done.
        var retired = false
        var stats = AgentStats()
        var perGroup: [String: AgentStats] = [:]
        /// Talk time of the call whose wrap-up is running, for the group's handle time.
        var pendingHandle: (group: String, talkMs: ACDTime, wrapStart: ACDTime)?
    }

    struct Caller: Sendable {
        enum Phase: Sendable, Equatable {
            case waiting
            case connected(agent: String, at: ACDTime, holdMs: ACDTime)
        }

        var arrival: CallArrival
        var group: String
        var enteredAt: ACDTime
        var origPosition: Int
        var phase: Phase = .waiting
        var offeredTo: [String] = []
        var ringStart: ACDTime = 0
        var nextAnnounceAt: ACDTime?
        var isCallback: Bool { arrival.callback != nil }
    }

    struct Group: Sendable {
        var settings: GroupSettings
        var queue: [String] = []
        var ready: Set<String> = []
        var loggedIn = 0
        var available = 0
        var roundRobinLast = -1
        var stats = GroupStats()
        var recentHandles: [ACDTime] = []
        var recentNext = 0
        /// Removed by a reload while callers still wait: no one joins, it goes when empty.
        var retired = false

        mutating func recordHandle(_ handle: ACDTime) {
            stats.handleMs += handle
            stats.handled += 1
            if recentHandles.count < ACDEngine.recentWindow {
                recentHandles.append(handle)
            } else {
                recentHandles[recentNext] = handle
            }
            recentNext = (recentNext + 1) % ACDEngine.recentWindow
        }
    }

    struct Timer: Comparable, Sendable {
        enum Kind: Sendable {
            case ring(agent: String, call: String)
            case wrapUp(agent: String)
            case maxWait(call: String, entered: ACDTime)
            case widen(call: String, entered: ACDTime)
            case announce(call: String)
        }

        var at: ACDTime
        var seq: UInt64
        var kind: Kind

        static func < (a: Timer, b: Timer) -> Bool { (a.at, a.seq) < (b.at, b.seq) }
        static func == (a: Timer, b: Timer) -> Bool { a.at == b.at && a.seq == b.seq }
    }

    private(set) var agents: [String: Agent] = [:]
    private(set) var callers: [String: Caller] = [:]
    /// Calls agents placed themselves, by call id: whose they are.
    private(set) var outboundCalls: [String: String] = [:]
    private(set) var groups: [String: Group] = [:]
    private var timers = Heap<Timer>()
    private var timerSeq: UInt64 = 0
    private var rng: SplitMix64
    /// Configuration order of groups, for deterministic snapshots and dispatch.
    private var groupOrder: [String] = []

    /// How many recent handle times feed the estimated wait.
    static let recentWindow = 20

    /// `now` is the shell's clock at creation: agents start logged out since then.
    public init(settings: ACDSettings, seed: UInt64 = 0x5EED, now: ACDTime = 0) throws(ACDError) {
        rng = SplitMix64(seed: seed)
        var ignored: [ACDAction] = []
        try configure(settings, now: now, log: false, into: &ignored)
    }

    /// When the engine next needs a `.tick`, if ever. May be early (a stale timer), never late.
    public var nextDeadline: ACDTime? { timers.min?.at }

    // MARK: Events

    /// Applies one event. Appends what the shell must do to `actions`; throws (changing nothing)
    /// when the event is not allowed in the current state.
    public mutating func handle(_ event: ACDEvent, now: ACDTime, into actions: inout [ACDAction]) throws(ACDError) {
        switch event {
        case .callArrived(let arrival):
            guard callers[arrival.call] == nil else { throw ACDError(.duplicateCall, "call \(arrival.call) is already in the ACD") }
            guard let g = groups[arrival.group], !g.retired else { throw ACDError(.unknownGroup, "no group '\(arrival.group)'") }
            for skill in arrival.requiredSkills where !(1...10).contains(skill.level) {
                throw ACDError(.invalid, "required level of '\(skill.name)' must be 1-10, not \(skill.level)")
            }
            if let p = arrival.position, p < 1 { throw ACDError(.invalid, "position must be 1 or more, not \(p)") }
            if let only = arrival.agent {
                guard let a = agents[only], !a.retired else { throw ACDError(.unknownAgent, "no agent '\(only)'") }
                guard a.settings.level(arrival.group) != nil else { throw ACDError(.invalid, "agent \(only) is not in group '\(arrival.group)'") }
            }
            enqueue(arrival, into: arrival.group, now: now, hops: 0, into: &actions)

        case .callerHungUp(let call) where outboundCalls[call] != nil:
            endOutbound(call, now: now, into: &actions)

        case .callerHungUp(let call):
            guard let c = callers[call] else { throw ACDError(.unknownCall, "no call \(call) in the ACD") }
            switch c.phase {
            case .waiting where c.isCallback:
                // A callback withdrawn (an operator, or it was served elsewhere): not an abandon.
                let position = removeFromQueue(call)
                releaseOffers(of: call, now: now, into: &actions)
                groups[inPlace: c.group].stats.callbacksWithdrawn += 1
                actions.append(.log(QueueLogEntry(call: call, queue: c.group, event: "CALLBACKCANCEL", data: [String(position), String(c.origPosition), seconds(now - c.enteredAt)])))
                forget(call)
                dispatch(group: c.group, now: now, into: &actions)
            case .waiting:
                let position = removeFromQueue(call)
                releaseOffers(of: call, now: now, into: &actions)
                let wait = now - c.enteredAt
                groups[inPlace: c.group].stats.abandoned += 1
                groups[inPlace: c.group].stats.abandonedWaitMs += wait
                actions.append(.log(QueueLogEntry(call: call, queue: c.group, event: "ABANDON", data: [String(position), String(c.origPosition), seconds(wait)])))
                forget(call)
            case .connected(let agent, _, _):
                complete(call, agent: agent, event: "COMPLETECALLER", now: now, into: &actions)
            }

        case .callerCallback(let call, let number):
            guard let c = callers[call] else { throw ACDError(.unknownCall, "no call \(call) in the ACD") }
            guard c.phase == .waiting, !c.isCallback else { throw ACDError(.illegalTransition, "call \(call) is not a caller waiting in a queue") }
            guard !number.isEmpty else { throw ACDError(.invalid, "a callback needs a number") }
            callers[inPlace: call].arrival.callback = number
            callers[inPlace: call].nextAnnounceAt = nil
            // A ring for the caller who is leaving is withdrawn; the callback is offered afresh.
            let ringing = !c.offeredTo.isEmpty
            releaseOffers(of: call, now: now, into: &actions)
            groups[inPlace: c.group].stats.callbacks += 1
            let position = (groups[inPlace: c.group].queue.firstIndex(of: call) ?? 0) + 1
            actions.append(.log(QueueLogEntry(call: call, queue: c.group, event: "CALLBACK", data: [number, String(position), String(c.origPosition), seconds(now - c.enteredAt)])))
            if ringing { dispatch(group: c.group, now: now, into: &actions) }

        case .callbackAssigned(let call, let agent):
            guard let c = callers[call] else { throw ACDError(.unknownCall, "no call \(call) in the ACD") }
            guard c.phase == .waiting, c.isCallback else { throw ACDError(.illegalTransition, "call \(call) is not a callback waiting in a queue") }
            if let agent {
                guard let a = agents[agent], !a.retired else { throw ACDError(.unknownAgent, "no agent '\(agent)'") }
                guard a.settings.level(c.group) != nil else { throw ACDError(.invalid, "agent \(agent) is not in group '\(c.group)'") }
            }
            callers[inPlace: call].arrival.agent = agent
            // A ring of someone else is withdrawn; the callback is offered afresh.
            releaseOffers(of: call, now: now, into: &actions)
            let position = (groups[inPlace: c.group].queue.firstIndex(of: call) ?? 0) + 1
            actions.append(.log(QueueLogEntry(call: call, queue: c.group, event: "CALLBACKASSIGN", data: [agent ?? "", String(position)])))
            dispatch(group: c.group, now: now, into: &actions)

        case .callerPressed(let call, let key):
            guard let c = callers[call] else { throw ACDError(.unknownCall, "no call \(call) in the ACD") }
            guard c.phase == .waiting, let g = groups[c.group], g.settings.exitKey == key else { return }
            let position = removeFromQueue(call)
            releaseOffers(of: call, now: now, into: &actions)
            groups[inPlace: c.group].stats.exitedKey += 1
            actions.append(.log(QueueLogEntry(call: call, queue: c.group, event: "EXITWITHKEY", data: [key, String(position), String(c.origPosition), seconds(now - c.enteredAt)])))
            leave(c, reason: .key, then: g.settings.exitTarget, now: now, hops: 0, into: &actions)

        case .agentLogin(let id, let device, let pausedReason):
            let a = try agent(id)
            guard !a.retired else { throw ACDError(.unknownAgent, "agent \(id) was removed from the configuration") }
            guard a.state == .loggedOut else { throw ACDError(.illegalTransition, "agent \(id) is already logged in (\(stateName(a.state).rawValue))") }
            if let r = pausedReason, r.isEmpty { throw ACDError(.invalid, "a not-ready reason must not be empty") }
            agents[inPlace: id].device = device
            agents[inPlace: id].loginAt = now
            agents[inPlace: id].idleSince = now
            actions.append(.log(QueueLogEntry(agent: agentField(id), event: "AGENTLOGIN", data: [device])))
            for g in memberGroups(of: id) { actions.append(.log(QueueLogEntry(queue: g, agent: agentField(id), event: "ADDMEMBER"))) }
            if let reason = pausedReason {
                setState(id, .notReady(reason), now: now, into: &actions)
                logPause(id, "PAUSE", reason, into: &actions)
                checkLeaveRules(groups: memberGroups(of: id), now: now, into: &actions)
            } else {
                setState(id, .ready, now: now, into: &actions)
                dispatch(agent: id, now: now, into: &actions)
            }

        case .agentLogout(let id):
            let a = try agent(id)
            switch a.state {
            case .loggedOut: throw ACDError(.illegalTransition, "agent \(id) is not logged in")
            case .onCall, .outbound: throw ACDError(.illegalTransition, "agent \(id) is on a call: log out after it ends")
            case .ringing(let call, _, _):
                let group = withdrawOffer(call, from: id, now: now, into: &actions)
                logOut(id, now: now, into: &actions)
                if let group { dispatch(group: group, now: now, into: &actions) }
                return
            case .wrapUp: finishWrapUp(id, now: now)
            case .ready, .notReady: break
            }
            logOut(id, now: now, into: &actions)

        case .agentReady(let id):
            let a = try agent(id)
            switch a.state {
            case .notReady(let reason):
                setState(id, .ready, now: now, into: &actions)
                logPause(id, "UNPAUSE", reason, into: &actions)
            case .wrapUp:
                finishWrapUp(id, now: now)
                setState(id, .ready, now: now, into: &actions)
            case .ready: throw ACDError(.illegalTransition, "agent \(id) is already ready")
            default:
                throw ACDError(.illegalTransition, "agent \(id) is \(stateName(a.state).rawValue): ready is reachable only from not ready or wrap-up")
            }
            dispatch(agent: id, now: now, into: &actions)

        case .agentPause(let id, let reason):
            let a = try agent(id)
            guard !reason.isEmpty else { throw ACDError(.invalid, "a not-ready reason must not be empty") }
            switch a.state {
            case .ready, .notReady: break
            case .wrapUp: finishWrapUp(id, now: now)
            default:
                throw ACDError(.illegalTransition, "agent \(id) is \(stateName(a.state).rawValue): not ready is reachable only from ready or wrap-up")
            }
            setState(id, .notReady(reason), now: now, into: &actions)
            logPause(id, "PAUSE", reason, into: &actions)
            checkLeaveRules(groups: memberGroups(of: id), now: now, into: &actions)

        case .agentAnswered(let id, let call):
            let a = try agent(id)
            guard case .ringing(call, let ringSince, _) = a.state, let c = callers[call] else {
                throw ACDError(.illegalTransition, "agent \(id) is not ringing for call \(call)")
            }
            connect(c, agent: id, ringSince: ringSince, now: now, into: &actions)

        case .agentDeclined(let id, let call):
            let a = try agent(id)
            guard case .ringing(call, _, _) = a.state else { throw ACDError(.illegalTransition, "agent \(id) is not ringing for call \(call)") }
            ringFailed(agent: id, call: call, reason: "rejected", cancel: false, now: now, into: &actions)

        case .agentOutbound(let id, let call):
            let a = try agent(id)
            guard !a.retired else { throw ACDError(.unknownAgent, "agent \(id) was removed from the configuration") }
            guard callers[call] == nil, outboundCalls[call] == nil else { throw ACDError(.duplicateCall, "call \(call) is already in the ACD") }
            let resume: String?
            switch a.state {
            case .ready: resume = nil
            case .notReady(let reason): resume = reason
            case .wrapUp:
                finishWrapUp(id, now: now)
                resume = nil
            default:
                throw ACDError(.illegalTransition, "agent \(id) is \(stateName(a.state).rawValue): a call can be placed only when ready, not ready or in wrap-up")
            }
            outboundCalls[call] = id
            agents[inPlace: id].stats.outbound += 1
            setState(id, .outbound(call: call, resume: resume), now: now, into: &actions)
            checkLeaveRules(groups: memberGroups(of: id), now: now, into: &actions)

        case .agentHungUp(let id):
            let a = try agent(id)
            if case .outbound(let call, _) = a.state { return endOutbound(call, now: now, into: &actions) }
            guard case .onCall(let call) = a.state else { throw ACDError(.illegalTransition, "agent \(id) is not on a call") }
            complete(call, agent: id, event: "COMPLETEAGENT", now: now, into: &actions)

        case .callTransferred(let call, let target):
            guard let c = callers[call] else { throw ACDError(.unknownCall, "no call \(call) in the ACD") }
            guard case .connected(let agent, _, _) = c.phase else { throw ACDError(.illegalTransition, "call \(call) is not connected to an agent") }
            // Asterisk 12+'s form: BLINDTRANSFER|extension|context|holdtime|calltime|origposition.
            complete(call, agent: agent, event: "BLINDTRANSFER", transferFields: [target, "acdd"], now: now, into: &actions)

        case .callAttendedTransfer(let call, let consult):
            guard let c = callers[call] else { throw ACDError(.unknownCall, "no call \(call) in the ACD") }
            guard case .connected(let agent, _, _) = c.phase else { throw ACDError(.illegalTransition, "call \(call) is not connected to an agent") }
            // ATTENDEDTRANSFER|BRIDGE|<the bridge it went into>|holdtime|calltime|origposition.
            complete(call, agent: agent, event: "ATTENDEDTRANSFER", transferFields: ["BRIDGE", consult], now: now, into: &actions)

        case .surveyAnswered(let call, let queue, let agent, let score):
            guard (1...5).contains(score) else { throw ACDError(.invalid, "a survey score is 1-5, not \(score)") }
            actions.append(.log(QueueLogEntry(call: call, queue: queue, agent: agentField(agent), event: "SURVEY", data: [String(score)])))

        case .agentSetSkills(let id, let skills):
            let a = try agent(id)
            for s in skills where !(1...10).contains(s.level) { throw ACDError(.invalid, "skill level of '\(s.name)' must be 1-10, not \(s.level)") }
            var seen: Set<String> = []
            for s in skills where !seen.insert(s.name).inserted { throw ACDError(.invalid, "skill '\(s.name)' is given twice") }
            let before = Set(memberGroups(of: id))
            removeContribution(id)
            agents[inPlace: id].settings.skills = skills
            addContribution(id)
            let after = Set(memberGroups(of: id))
            if a.state != .loggedOut {
                for g in groupOrder where before.contains(g) && !after.contains(g) {
                    actions.append(.log(QueueLogEntry(queue: g, agent: agentField(id), event: "REMOVEMEMBER")))
                }
                for g in groupOrder where after.contains(g) && !before.contains(g) {
                    actions.append(.log(QueueLogEntry(queue: g, agent: agentField(id), event: "ADDMEMBER")))
                }
            }
            checkLeaveRules(groups: Array(before.subtracting(after)), now: now, into: &actions)
            dispatch(agent: id, now: now, into: &actions)

        case .agentReset(let id):
            let a = try agent(id)
            var redispatch: String?
            switch a.state {
            case .loggedOut: throw ACDError(.illegalTransition, "agent \(id) is logged out: nothing to reset")
            case .ringing(let call, _, _): redispatch = withdrawOffer(call, from: id, now: now, into: &actions)
            case .onCall(let call):
                complete(call, agent: id, event: "COMPLETEAGENT", resetReason: "reset", now: now, into: &actions)
                actions.append(.endCall(call: call))
                checkLeaveRules(groups: memberGroups(of: id), now: now, into: &actions)
                return
            case .outbound(let call, _):
                outboundCalls[call] = nil
                actions.append(.endCall(call: call))
            case .wrapUp: finishWrapUp(id, now: now)
            case .ready, .notReady: break
            }
            guard agents[id] != nil, agents[inPlace: id].state != .loggedOut else { return }
            setState(id, .notReady("reset"), now: now, into: &actions)
            logPause(id, "PAUSE", "reset", into: &actions)
            if let redispatch { dispatch(group: redispatch, now: now, into: &actions) }
            checkLeaveRules(groups: memberGroups(of: id), now: now, into: &actions)

        case .configure(let settings):
            try configure(settings, now: now, log: true, into: &actions)

        case .tick:
            // Each timer fires at its own deadline, not at the (later) tick: a wrap-up of 10 s
            // counts as 10 s in handle time however late the tick came.
            while let t = timers.min, t.at <= now {
                timers.removeMin()
                fire(t, now: t.at, into: &actions)
            }
        }
    }

    // MARK: Queue

    private mutating func enqueue(_ arrival: CallArrival, into groupName: String, now: ACDTime, hops: Int, into actions: inout [ACDAction]) {
        let g = groups[inPlace: groupName]
        var record = Caller(arrival: arrival, group: groupName, enteredAt: now, origPosition: 0)
        let callback = arrival.callback != nil
        if !callback, isEmpty(g, under: g.settings.joinRefusedWhen) {
            groups[inPlace: groupName].stats.refused += 1
            leave(record, reason: .joinEmpty, then: g.settings.overflow, now: now, hops: hops, into: &actions)
            return
        }
        if !callback, g.settings.maxLength > 0 && g.queue.count >= g.settings.maxLength {
            groups[inPlace: groupName].stats.refused += 1
            leave(record, reason: .full, then: g.settings.overflow, now: now, hops: hops, into: &actions)
            return
        }
        let index = insertionIndex(in: g, priority: arrival.priority, position: arrival.position)
        groups[inPlace: groupName].queue.insert(arrival.call, at: index)
        record.origPosition = index + 1
        let s = g.settings
        if s.announceSeconds > 0, !callback {
            record.nextAnnounceAt = now + ACDTime(s.announceSeconds) * 1000
            schedule(record.nextAnnounceAt!, .announce(call: arrival.call))
        }
        callers[arrival.call] = record
        // A callback joining from the worklist (a retry, a restart) was counted when it was asked
        // for; its ENTERQUEUE is logged again so the queue log's CONNECT has one before it.
        if callback { groups[inPlace: groupName].stats.callbacksJoined += 1 } else { groups[inPlace: groupName].stats.entered += 1 }
        actions.append(.log(QueueLogEntry(call: arrival.call, queue: groupName, event: "ENTERQUEUE", data: ["", arrival.callerID])))
        if let number = arrival.callback {
            actions.append(.log(QueueLogEntry(call: arrival.call, queue: groupName, event: "CALLBACK", data: [number, String(index + 1), String(index + 1), "0"])))
            return dispatch(group: groupName, now: now, into: &actions)
        }
        if s.maxWaitSeconds > 0 { schedule(now + ACDTime(s.maxWaitSeconds) * 1000, .maxWait(call: arrival.call, entered: now)) }
        if s.tiers.count > 1 && s.widenAfterSeconds > 0 {
            for k in 1..<s.tiers.count { schedule(now + ACDTime(k * s.widenAfterSeconds) * 1000, .widen(call: arrival.call, entered: now)) }
        }
        if isEmpty(g, under: s.leaveWhen) {
            exitEmpty(arrival.call, now: now, into: &actions)
            return
        }
        dispatch(group: groupName, now: now, into: &actions)
    }

    /// Asterisk's rule: ahead of every lower priority; at the asked-for position if that is not
    /// ahead of a higher priority; otherwise last among equals.
    private func insertionIndex(in g: Group, priority: Int, position: Int?) -> Int {
        if position == nil, let last = g.queue.last, callers[inPlace: last].arrival.priority >= priority { return g.queue.count }
        for (i, id) in g.queue.enumerated() {
            let p = callers[inPlace: id].arrival.priority
            if priority > p { return i }
            if let position, priority >= p, position <= i + 1 { return i }
        }
        return g.queue.count
    }

    /// Removes a waiting caller from its queue; returns the 1-based position it had.
    private mutating func removeFromQueue(_ call: String) -> Int {
        let group = callers[inPlace: call].group
        let index = groups[inPlace: group].queue.firstIndex(of: call)!
        groups[inPlace: group].queue.remove(at: index)
        return index + 1
    }

    /// Drops a caller's record; a retired group goes once its last caller has.
    private mutating func forget(_ call: String) {
        guard let c = callers.removeValue(forKey: call) else { return }
        if let g = groups[c.group], g.retired, g.queue.isEmpty, !callers.values.contains(where: { $0.group == c.group }) {
            groups[c.group] = nil
            groupOrder.removeAll { $0 == c.group }
        }
    }

    /// A caller out of a queue unanswered: the shell takes them on, or the engine queues them in
    /// the overflow group. A chain of overflows longer than the number of groups ends in hang-up,
    /// so two groups overflowing into each other cannot loop.
    private mutating func leave(_ c: Caller, reason: LeaveReason, then target: QueueExit, now: ACDTime, hops: Int, into actions: inout [ACDAction]) {
        forget(c.arrival.call)
        if case .group(let next) = target, let g = groups[next], !g.retired, hops < groups.count {
            actions.append(.leave(call: c.arrival.call, group: c.group, reason: reason, then: target))
            var arrival = c.arrival
            arrival.group = next
            arrival.position = nil
            enqueue(arrival, into: next, now: now, hops: hops + 1, into: &actions)
        } else if case .group = target {
            actions.append(.leave(call: c.arrival.call, group: c.group, reason: reason, then: .hangUp))
        } else {
            actions.append(.leave(call: c.arrival.call, group: c.group, reason: reason, then: target))
        }
    }

    private mutating func exitEmpty(_ call: String, now: ACDTime, into actions: inout [ACDAction]) {
        let c = callers[inPlace: call]
        let position = removeFromQueue(call)
        releaseOffers(of: call, now: now, into: &actions)
        groups[inPlace: c.group].stats.exitedEmpty += 1
        actions.append(.log(QueueLogEntry(call: call, queue: c.group, event: "EXITEMPTY", data: [String(position), String(c.origPosition), seconds(now - c.enteredAt)])))
        leave(c, reason: .empty, then: groups[inPlace: c.group].settings.overflow, now: now, hops: 0, into: &actions)
    }

    private func isEmpty(_ g: Group, under rule: EmptyRule) -> Bool {
        switch rule {
        case .never: false
        case .noAgents: g.loggedIn == 0
        case .allPaused: g.available == 0
        }
    }

    private mutating func checkLeaveRules(groups names: [String], now: ACDTime, into actions: inout [ACDAction]) {
        for name in names {
            guard let g = groups[name], isEmpty(g, under: g.settings.leaveWhen) else { continue }
            for call in g.queue where callers[call]?.offeredTo.isEmpty == true && callers[call]?.isCallback == false {
                exitEmpty(call, now: now, into: &actions)
            }
        }
    }

    // MARK: Routing

    /// The lowest level a caller accepts right now: their own minimum, and the group's tier.
    private func minimumLevel(_ c: Caller, _ s: GroupSettings, now: ACDTime) -> Int {
        var tier = 0
        if !s.tiers.isEmpty {
            let k = s.widenAfterSeconds > 0 ? Int((now - c.enteredAt) / (ACDTime(s.widenAfterSeconds) * 1000)) : 0
            tier = s.tiers[min(k, s.tiers.count - 1)]
        }
        return max(tier, c.arrival.minimumLevel)
    }

    private func eligible(_ a: Agent, for c: Caller, group: String, minimum: Int) -> Bool {
        guard !a.retired, let level = a.settings.level(group), level >= minimum else { return false }
        if let only = c.arrival.agent, only != a.settings.id { return false }
        for r in c.arrival.requiredSkills {
            guard let l = a.settings.level(r.name), l >= r.level else { return false }
        }
        return true
    }

    /// Offers waiting callers of a group to its ready agents, in queue order, until one runs out.
    private mutating func dispatch(group name: String, now: ACDTime, into actions: inout [ACDAction]) {
        guard let g = groups[name], !g.ready.isEmpty else { return }
        // Callers with the same constraints as one that found no agent find none either.
        var hopeless: [(Int, [AgentSettings.Skill], String?)] = []
        for call in g.queue {
            guard !groups[inPlace: name].ready.isEmpty else { return }
            let c = callers[inPlace: call]
            guard c.offeredTo.isEmpty, c.phase == .waiting else { continue }
            let minimum = minimumLevel(c, g.settings, now: now)
            if hopeless.contains(where: { $0.0 == minimum && $0.1 == c.arrival.requiredSkills && $0.2 == c.arrival.agent }) { continue }
            var candidates: [String] = []
            for id in groups[inPlace: name].ready where eligible(agents[inPlace: id], for: c, group: name, minimum: minimum) { candidates.append(id) }
            guard !candidates.isEmpty else {
                hopeless.append((minimum, c.arrival.requiredSkills, c.arrival.agent))
                continue
            }
            offer(call, to: pick(candidates, group: name), now: now, into: &actions)
        }
    }

    /// Finds the best waiting caller for an agent who just became ready: across the agent's
    /// groups, the highest priority, then the longest in queue.
    private mutating func dispatch(agent id: String, now: ACDTime, into actions: inout [ACDAction]) {
        guard let a = agents[id], a.state == .ready, !a.retired else { return }
        var best: (call: String, priority: Int, entered: ACDTime)?
        for skill in a.settings.skills {
            guard let g = groups[skill.name] else { continue }
            for call in g.queue {
                let c = callers[inPlace: call]
                guard c.offeredTo.isEmpty, c.phase == .waiting else { continue }
                if let b = best, (c.arrival.priority, -c.enteredAt) <= (b.priority, -b.entered) { break }
                if eligible(a, for: c, group: skill.name, minimum: minimumLevel(c, g.settings, now: now)) {
                    best = (call, c.arrival.priority, c.enteredAt)
                    break
                }
            }
        }
        if let best { offer(best.call, to: [id], now: now, into: &actions) }
    }

    /// The group's strategy. Strategies that take the best by a key break ties by configuration
    /// order inside the key; only those that walk the list in order sort it (a sort per offer
    /// was 6 % of the daemon's CPU with 1,000 ready agents).
    private mutating func pick(_ unordered: [String], group: String) -> [String] {
        let g = groups[inPlace: group]
        func order(_ id: String) -> Int { agents[inPlace: id].order }
        func inOrder() -> [String] { unordered.sorted { order($0) < order($1) } }
        func idle(_ id: String) -> ACDTime { agents[inPlace: id].idleSince }
        func level(_ id: String) -> Int { agents[inPlace: id].settings.level(group) ?? 0 }
        func stat(_ id: String) -> AgentStats { agents[inPlace: id].perGroup[group] ?? AgentStats() }
        switch g.settings.strategy {
        case .longestIdle:
            return [unordered.min { (idle($0), order($0)) < (idle($1), order($1)) }!]
        case .fewestCalls:
            return [unordered.min { (stat($0).answered, idle($0), order($0)) < (stat($1).answered, idle($1), order($1)) }!]
        case .leastTalkTime:
            return [unordered.min { (stat($0).talkMs, idle($0), order($0)) < (stat($1).talkMs, idle($1), order($1)) }!]
        case .bestSkill:
            return [unordered.min { (-level($0), idle($0), order($0)) < (-level($1), idle($1), order($1)) }!]
        case .linear:
            return [unordered.min { order($0) < order($1) }!]
        case .ringAll:
            return inOrder()
        case .roundRobin:
            let candidates = inOrder()
            let next = candidates.first { agents[inPlace: $0].order > g.roundRobinLast } ?? candidates[0]
            return [next]
        case .random:
            let candidates = inOrder()
            return [candidates[Int(rng.next() % UInt64(candidates.count))]]
        case .weightedRandom:
            let candidates = inOrder()
            let total = candidates.reduce(0) { $0 + level($1) }
            var roll = Int(rng.next() % UInt64(total))
            for id in candidates {
                roll -= level(id)
                if roll < 0 { return [id] }
            }
            return [candidates[candidates.count - 1]]
        }
    }

    private mutating func offer(_ call: String, to ids: [String], now: ACDTime, into actions: inout [ACDAction]) {
        let group = callers[inPlace: call].group
        let ring = ACDTime(groups[inPlace: group].settings.ringSeconds) * 1000
        callers[inPlace: call].offeredTo = ids
        callers[inPlace: call].ringStart = now
        for id in ids {
            setState(id, .ringing(call: call, since: now, until: now + ring), now: now, into: &actions)
            agents[inPlace: id].stats.offered += 1
            agents[inPlace: id].perGroup[group, default: AgentStats()].offered += 1
            schedule(now + ring, .ring(agent: id, call: call))
            actions.append(.offer(call: call, agent: id, group: group, device: agents[inPlace: id].device))
        }
        groups[inPlace: group].roundRobinLast = agents[inPlace: ids[ids.count - 1]].order
    }

    /// Stops every ring of a caller who is leaving; the agents go back to ready without blame.
    private mutating func releaseOffers(of call: String, now: ACDTime, into actions: inout [ACDAction]) {
        guard let c = callers[call] else { return }
        callers[inPlace: call].offeredTo = []
        for id in c.offeredTo {
            actions.append(.cancelOffer(call: call, agent: id))
            actions.append(.log(QueueLogEntry(call: call, queue: c.group, agent: agentField(id), event: "RINGCANCELED", data: [String(now - c.ringStart)])))
            setState(id, .ready, now: now, into: &actions)
        }
        for id in c.offeredTo { dispatch(agent: id, now: now, into: &actions) }
    }

    /// An agent stops ringing for a reason of their own (logout, reset): the caller goes back to
    /// the head of the queue. Returns the group to dispatch once the agent's new state is set.
    private mutating func withdrawOffer(_ call: String, from id: String, now: ACDTime, into actions: inout [ACDAction]) -> String? {
        guard let c = callers[call] else { return nil }
        actions.append(.cancelOffer(call: call, agent: id))
        actions.append(.log(QueueLogEntry(call: call, queue: c.group, agent: agentField(id), event: "RINGCANCELED", data: [String(now - c.ringStart)])))
        callers[inPlace: call].offeredTo.removeAll { $0 == id }
        if callers[inPlace: call].offeredTo.isEmpty { moveToHead(call) }
        return c.group
    }

    private mutating func ringFailed(agent id: String, call: String, reason: String, cancel: Bool, now: ACDTime, into actions: inout [ACDAction]) {
        let c = callers[inPlace: call]
        if cancel { actions.append(.cancelOffer(call: call, agent: id)) }
        actions.append(.log(QueueLogEntry(call: call, queue: c.group, agent: agentField(id), event: "RINGNOANSWER", data: [String(now - c.ringStart)])))
        agents[inPlace: id].stats.missed += 1
        agents[inPlace: id].perGroup[c.group, default: AgentStats()].missed += 1
        groups[inPlace: c.group].stats.ringNoAnswer += 1
        setState(id, .notReady(reason), now: now, into: &actions)
        logPause(id, "PAUSE", reason, into: &actions)
        callers[inPlace: call].offeredTo.removeAll { $0 == id }
        if callers[inPlace: call].offeredTo.isEmpty {
            moveToHead(call)
            dispatch(group: c.group, now: now, into: &actions)
        }
        checkLeaveRules(groups: memberGroups(of: id), now: now, into: &actions)
    }

    /// RONA: back to the head of the queue, behind only callers of a higher priority.
    private mutating func moveToHead(_ call: String) {
        let c = callers[inPlace: call]
        var q = groups[inPlace: c.group].queue
        q.remove(at: q.firstIndex(of: call)!)
        let index = q.firstIndex { callers[inPlace: $0].arrival.priority <= c.arrival.priority } ?? q.count
        q.insert(call, at: index)
        groups[inPlace: c.group].queue = q
    }

    private mutating func connect(_ c: Caller, agent id: String, ringSince: ACDTime, now: ACDTime, into actions: inout [ACDAction]) {
        let call = c.arrival.call
        _ = removeFromQueue(call)
        for other in c.offeredTo where other != id {
            actions.append(.cancelOffer(call: call, agent: other))
            actions.append(.log(QueueLogEntry(call: call, queue: c.group, agent: agentField(other), event: "RINGCANCELED", data: [String(now - c.ringStart)])))
            setState(other, .ready, now: now, into: &actions)
        }
        callers[inPlace: call].offeredTo = []
        let hold = now - c.enteredAt
        callers[inPlace: call].phase = .connected(agent: id, at: now, holdMs: hold)
        setState(id, .onCall(call), now: now, into: &actions)
        // Mutated in place: a copy of the group would make the next queue change copy the queue.
        let withinServiceLevel = hold <= ACDTime(groups[inPlace: c.group].settings.serviceLevelSeconds) * 1000
        groups[inPlace: c.group].stats.answered += 1
        groups[inPlace: c.group].stats.answerWaitMs += hold
        groups[inPlace: c.group].stats.longestAnsweredWaitMs = max(groups[inPlace: c.group].stats.longestAnsweredWaitMs, hold)
        if withinServiceLevel { groups[inPlace: c.group].stats.answeredWithinServiceLevel += 1 }
        agents[inPlace: id].stats.answered += 1
        agents[inPlace: id].perGroup[c.group, default: AgentStats()].answered += 1
        actions.append(.log(QueueLogEntry(call: call, queue: c.group, agent: agentField(id), event: "CONNECT", data: [seconds(hold), call, seconds(now - ringSince)])))
        for other in c.offeredTo where other != id { dispatch(agent: other, now: now, into: &actions) }
    }

    /// Ends a connected call (COMPLETECALLER, COMPLETEAGENT, BLINDTRANSFER or ATTENDEDTRANSFER)
    /// and starts wrap-up.
    /// `resetReason`: an operator's reset; no wrap-up, the agent goes straight to not ready.
    private mutating func complete(
        _ call: String, agent id: String, event: String, transferFields: [String]? = nil, resetReason: String? = nil, now: ACDTime,
        into actions: inout [ACDAction]
    ) {
        let c = callers[inPlace: call]
        guard case .connected(_, let at, let hold) = c.phase else { return }
        let talk = now - at
        var data = [seconds(hold), seconds(talk), String(c.origPosition)]
        if let transferFields {
            data = transferFields + data
            groups[inPlace: c.group].stats.transferred += 1
        }
        actions.append(.log(QueueLogEntry(call: call, queue: c.group, agent: agentField(id), event: event, data: data)))
        groups[inPlace: c.group].stats.completed += 1
        groups[inPlace: c.group].stats.talkMs += talk
        agents[inPlace: id].stats.talkMs += talk
        agents[inPlace: id].perGroup[c.group, default: AgentStats()].talkMs += talk
        agents[inPlace: id].idleSince = now
        forget(call)
        let wrap = ACDTime(agents[inPlace: id].settings.wrapUpSeconds ?? groups[c.group]?.settings.wrapUpSeconds ?? 0) * 1000
        agents[inPlace: id].pendingHandle = (c.group, talk, now)
        if let resetReason {
            finishWrapUp(id, now: now)
            setState(id, .notReady(resetReason), now: now, into: &actions)
            logPause(id, "PAUSE", resetReason, into: &actions)
        } else if agents[inPlace: id].retired {
            finishWrapUp(id, now: now)
            logOut(id, now: now, into: &actions)
        } else if wrap > 0 {
            setState(id, .wrapUp(until: now + wrap), now: now, into: &actions)
            schedule(now + wrap, .wrapUp(agent: id))
        } else {
            finishWrapUp(id, now: now)
            setState(id, .ready, now: now, into: &actions)
            dispatch(agent: id, now: now, into: &actions)
        }
    }

    /// The agent's own call ended: back to where they dialled from, ready (and offered the next
    /// caller) or paused with the same reason; an agent removed from the configuration leaves.
    private mutating func endOutbound(_ call: String, now: ACDTime, into actions: inout [ACDAction]) {
        guard let id = outboundCalls.removeValue(forKey: call), let a = agents[id], case .outbound(call, let resume) = a.state else { return }
        agents[inPlace: id].stats.outboundMs += now - a.since
        agents[inPlace: id].idleSince = now
        if a.retired { return logOut(id, now: now, into: &actions) }
        if let resume {
            setState(id, .notReady(resume), now: now, into: &actions)
        } else {
            setState(id, .ready, now: now, into: &actions)
            dispatch(agent: id, now: now, into: &actions)
        }
    }

    /// Records the handle time (talk + after-call work) of the call whose wrap-up ends now.
    private mutating func finishWrapUp(_ id: String, now: ACDTime) {
        guard let p = agents[id]?.pendingHandle else { return }
        agents[inPlace: id].pendingHandle = nil
        guard groups[p.group] != nil else { return }
        let handle = p.talkMs + (now - p.wrapStart)
        groups[inPlace: p.group].recordHandle(handle)
    }

    private mutating func logOut(_ id: String, now: ACDTime, into actions: inout [ACDAction]) {
        let a = agents[inPlace: id]
        for g in memberGroups(of: id) { actions.append(.log(QueueLogEntry(queue: g, agent: agentField(id), event: "REMOVEMEMBER"))) }
        actions.append(.log(QueueLogEntry(agent: agentField(id), event: "AGENTLOGOFF", data: [a.device, seconds(now - a.loginAt)])))
        let groupsBefore = memberGroups(of: id)
        setState(id, .loggedOut, now: now, into: &actions)
        if a.retired { agents[id] = nil }
        checkLeaveRules(groups: groupsBefore, now: now, into: &actions)
    }

    // MARK: Timers

    private mutating func schedule(_ at: ACDTime, _ kind: Timer.Kind) {
        timerSeq &+= 1
        timers.insert(Timer(at: at, seq: timerSeq, kind: kind))
    }

    private mutating func fire(_ t: Timer, now: ACDTime, into actions: inout [ACDAction]) {
        switch t.kind {
        case .ring(let id, let call):
            guard let a = agents[id], case .ringing(call, _, let until) = a.state, until == t.at else { return }
            ringFailed(agent: id, call: call, reason: "rona", cancel: true, now: now, into: &actions)
        case .wrapUp(let id):
            guard let a = agents[id], case .wrapUp(let until) = a.state, until == t.at else { return }
            finishWrapUp(id, now: now)
            setState(id, .ready, now: now, into: &actions)
            dispatch(agent: id, now: now, into: &actions)
        case .maxWait(let call, let entered):
            guard let c = callers[call], c.phase == .waiting, c.enteredAt == entered, !c.isCallback else { return }
            if !c.offeredTo.isEmpty {
                // Not while a phone rings for them: try again when that ring has ended.
                let until = c.offeredTo.compactMap { id -> ACDTime? in
                    if case .ringing(_, _, let u) = agents[id]?.state { return u } else { return nil }
                }.max() ?? now
                schedule(max(until, now) + 1, .maxWait(call: call, entered: entered))
                return
            }
            let position = removeFromQueue(call)
            groups[inPlace: c.group].stats.timedOut += 1
            actions.append(.log(QueueLogEntry(call: call, queue: c.group, event: "EXITWITHTIMEOUT", data: [String(position), String(c.origPosition), seconds(now - c.enteredAt)])))
            leave(c, reason: .timeout, then: groups[inPlace: c.group].settings.overflow, now: now, hops: 0, into: &actions)
        case .widen(let call, let entered):
            guard let c = callers[call], c.phase == .waiting, c.enteredAt == entered, c.offeredTo.isEmpty else { return }
            dispatch(group: c.group, now: now, into: &actions)
        case .announce(let call):
            guard let c = callers[call], c.phase == .waiting, c.nextAnnounceAt == t.at, let g = groups[c.group] else { return }
            let next = now + ACDTime(g.settings.announceSeconds) * 1000
            callers[inPlace: call].nextAnnounceAt = next
            schedule(next, .announce(call: call))
            guard c.offeredTo.isEmpty, let index = g.queue.firstIndex(of: call) else { return }
            actions.append(.announce(call: call, position: index + 1, estimatedWaitSeconds: estimatedWait(g, position: index + 1)))
        }
    }

    /// From recent history: positions ahead shared among the agents who are working, times the
    /// mean handle time of the group's last calls. Unknown without history or staff.
    func estimatedWait(_ g: Group, position: Int) -> Int? {
        guard !g.recentHandles.isEmpty, g.available > 0 else { return nil }
        let mean = g.recentHandles.reduce(0, +) / ACDTime(g.recentHandles.count)
        let rounds = (position + g.available - 1) / g.available
        return Int((ACDTime(rounds) * mean + 999) / 1000)
    }

    // MARK: Agents

    private func agent(_ id: String) throws(ACDError) -> Agent {
        guard let a = agents[id] else { throw ACDError(.unknownAgent, "no agent '\(id)'") }
        return a
    }

    /// The groups an agent is a member of, in the agent's skill order.
    func memberGroups(of id: String) -> [String] {
        agents[id]?.settings.skills.compactMap { groups[$0.name] != nil ? $0.name : nil } ?? []
    }

    private func agentField(_ id: String) -> String { "Agent/\(id)" }

    private mutating func logPause(_ id: String, _ event: String, _ reason: String, into actions: inout [ACDAction]) {
        for g in memberGroups(of: id) { actions.append(.log(QueueLogEntry(queue: g, agent: agentField(id), event: event, data: [reason]))) }
    }

    /// Every state change goes through here, so the groups' counters and ready sets stay true.
    private mutating func setState(_ id: String, _ state: Agent.State, now: ACDTime, into actions: inout [ACDAction]) {
        removeContribution(id)
        agents[inPlace: id].state = state
        agents[inPlace: id].since = now
        addContribution(id)
        var reason: String?
        if case .notReady(let r) = state { reason = r }
        actions.append(.agentChanged(agent: id, state: stateName(state), reason: reason))
    }

    private mutating func removeContribution(_ id: String) { contribute(id, sign: -1) }
    private mutating func addContribution(_ id: String) { contribute(id, sign: 1) }

    private mutating func contribute(_ id: String, sign: Int) {
        guard let a = agents[id], !a.retired, a.state != .loggedOut else { return }
        let available: Bool = if case .notReady = a.state { false } else { true }
        for skill in a.settings.skills where groups[skill.name] != nil {
            groups[inPlace: skill.name].loggedIn += sign
            if available { groups[inPlace: skill.name].available += sign }
            if a.state == .ready {
                if sign > 0 { groups[inPlace: skill.name].ready.insert(id) } else { groups[inPlace: skill.name].ready.remove(id) }
            }
        }
    }

    func stateName(_ s: Agent.State) -> AgentStateName {
        switch s {
        case .loggedOut: .loggedOut
        case .ready: .ready
        case .notReady: .notReady
        case .ringing: .ringing
        case .onCall, .outbound: .onCall
        case .wrapUp: .wrapUp
        }
    }

    private func seconds(_ ms: ACDTime) -> String { String(max(0, ms) / 1000) }

    // MARK: Configuration

    /// Applies groups and agents without losing anyone: waiting callers keep their places, logged
    /// in agents keep their state, and removed groups and agents stay until nobody needs them.
    private mutating func configure(_ settings: ACDSettings, now: ACDTime, log: Bool, into actions: inout [ACDAction]) throws(ACDError) {
        var names: Set<String> = []
        for g in settings.groups {
            guard !g.name.isEmpty, names.insert(g.name).inserted else { throw ACDError(.invalid, "group '\(g.name)' is empty or defined twice") }
            guard g.tiers.allSatisfy({ (1...10).contains($0) }) else { throw ACDError(.invalid, "tiers of '\(g.name)' must be levels 1-10") }
            guard g.ringSeconds > 0 else { throw ACDError(.invalid, "ring time of '\(g.name)' must be positive") }
        }
        var ids: Set<String> = []
        for a in settings.agents {
            guard !a.id.isEmpty, ids.insert(a.id).inserted else { throw ACDError(.invalid, "agent '\(a.id)' is empty or defined twice") }
            for s in a.skills where !(1...10).contains(s.level) { throw ACDError(.invalid, "skill level of '\(s.name)' for agent \(a.id) must be 1-10") }
        }
        for id in agents.keys { removeContribution(id) }
        for g in settings.groups {
            if groups[g.name] != nil {
                groups[inPlace: g.name].settings = g
                groups[inPlace: g.name].retired = false
            } else {
                groups[g.name] = Group(settings: g)
            }
        }
        for name in groups.keys where !names.contains(name) {
            if callers.values.contains(where: { $0.group == name }) { groups[inPlace: name].retired = true } else { groups[name] = nil }
        }
        groupOrder = settings.groups.map(\.name) + groupOrder.filter { !names.contains($0) && groups[$0] != nil }
        for (order, s) in settings.agents.enumerated() {
            if agents[s.id] != nil {
                agents[inPlace: s.id].settings = s
                agents[inPlace: s.id].order = order
                agents[inPlace: s.id].retired = false
            } else {
                agents[s.id] = Agent(settings: s, order: order, since: now)
            }
        }
        for (id, a) in agents where !ids.contains(id) {
            if a.state == .loggedOut { agents[id] = nil } else { agents[inPlace: id].retired = true }
        }
        for id in agents.keys { addContribution(id) }
        guard log else { return }
        actions.append(.log(QueueLogEntry(event: "CONFIGRELOAD")))
        for name in groupOrder { dispatch(group: name, now: now, into: &actions) }
        checkLeaveRules(groups: groupOrder, now: now, into: &actions)
    }
}

/// Per group: what happened to the callers who came (FEATURES O1's numbers). Every caller who
/// entered is, at any moment, waiting or counted in exactly one of answered, abandoned, timedOut,
/// exitedEmpty and exitedKey.
public struct GroupStats: Sendable, Equatable, Codable {
    public var entered = 0
    /// Refused at the door (full, or empty under the join rule); not counted in `entered`.
    public var refused = 0
    public var answered = 0
    public var abandoned = 0
    public var timedOut = 0
    public var exitedEmpty = 0
    public var exitedKey = 0
    public var answeredWithinServiceLevel = 0
    public var ringNoAnswer = 0
    /// Connected calls that have ended, and of those, transferred away.
    public var completed = 0
    public var transferred = 0
    public var abandonedWaitMs: ACDTime = 0
    public var answerWaitMs: ACDTime = 0
    public var longestAnsweredWaitMs: ACDTime = 0
    public var talkMs: ACDTime = 0
    /// Talk plus after-call work, over `handled` calls.
    public var handleMs: ACDTime = 0
    public var handled = 0
    /// Callers who asked to be called back while waiting (offered, not abandoned).
    public var callbacks = 0
    /// Callbacks that joined from the worklist (a retry, a restart): counted when asked for, so
    /// not in `entered`; and callbacks withdrawn while waiting (cancelled, not abandoned).
    public var callbacksJoined = 0
    public var callbacksWithdrawn = 0

    public init() {}
}

public struct AgentStats: Sendable, Equatable, Codable {
    public var offered = 0
    public var answered = 0
    /// Rings not answered (RONA) or refused by the phone.
    public var missed = 0
    public var talkMs: ACDTime = 0
    /// Calls the agent placed (click-to-dial), and the time spent on them, ringing included.
    public var outbound = 0
    public var outboundMs: ACDTime = 0

    public init() {}
}

/// A small, fast, seedable generator (SplitMix64), so random strategies are reproducible in tests.
struct SplitMix64: Sendable {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Dictionary {
    /// The value for a key that must be present, read and changed where it lives. `dict[key]!.x = y`
    /// moves the whole value out of the table and back, and `dict[key]!.x` copies it (retaining
    /// every field); for the engine's large Group and Agent values that was 17% of routing time in
    /// memmove alone (bench/README.md). Going through `values[index]` borrows the stored value.
    @inline(__always)
    subscript(inPlace key: Key) -> Value {
        _read { yield values[index(forKey: key)!] }
        _modify { yield &values[index(forKey: key)!] }
    }
}
