// The vocabulary of the ACD engine: its settings, the events it takes and the actions it returns.
// Everything here is a plain value, so the engine can be driven by tests with a fake clock.

/// Milliseconds on a monotonic clock chosen by the shell. The engine never reads a clock itself.
public typealias ACDTime = Int64

/// How a group picks among the ready agents who may take a caller (FEATURES A3).
public enum RoutingStrategy: String, CaseIterable, Sendable {
    /// The agent whose last call ended longest ago (or who logged in longest ago, if none yet).
    case longestIdle = "longest-idle"
    /// The next agent after the one last offered, in configuration order ("rrmemory").
    case roundRobin = "round-robin"
    /// The agent who answered the fewest calls of this group.
    case fewestCalls = "fewest-calls"
    /// The agent with the least talk time in this group.
    case leastTalkTime = "least-talk-time"
    /// Every eligible agent rings at once; the first to answer takes the call.
    case ringAll = "ring-all"
    /// Top-down in configuration order.
    case linear
    case random
    /// Random, weighted by the agent's skill level in the group.
    case weightedRandom = "weighted-random"
    /// The highest skill level first; longest idle among equals.
    case bestSkill = "best-skill"
}

/// When a group counts as "empty" for its join and leave rules.
public enum EmptyRule: String, CaseIterable, Sendable {
    /// Never: callers join and stay whoever is logged in.
    case never
    /// No agent of the group is logged in.
    case noAgents = "no-agents"
    /// No agent of the group is logged in and out of "not ready" (all paused or logged out).
    case allPaused = "all-paused"
}

/// Where a caller goes when they leave a queue other than by being answered or hanging up.
public enum QueueExit: Sendable, Hashable, CustomStringConvertible {
    /// Into another group's queue (the engine does this itself, keeping the caller's priority).
    case group(String)
    /// To a voicemail box (nil: the group's own).
    case voicemail(String?)
    /// To a node of the IVR flow.
    case ivr(String)
    /// A goodbye and the call ends.
    case hangUp

    /// `group:NAME`, `voicemail`, `voicemail:BOX`, `ivr:NODE` or `hangup`.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        switch (parts.first, parts.count) {
        case ("group"?, 2) where !parts[1].isEmpty: self = .group(parts[1])
        case ("voicemail"?, 1): self = .voicemail(nil)
        case ("voicemail"?, 2) where !parts[1].isEmpty: self = .voicemail(parts[1])
        case ("ivr"?, 2) where !parts[1].isEmpty: self = .ivr(parts[1])
        case ("hangup"?, 1): self = .hangUp
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .group(let g): "group:\(g)"
        case .voicemail(let box): box.map { "voicemail:\($0)" } ?? "voicemail"
        case .ivr(let node): "ivr:\(node)"
        case .hangUp: "hangup"
        }
    }
}

/// One skill group: its queue's rules.
public struct GroupSettings: Sendable, Equatable {
    public var name: String
    public var strategy: RoutingStrategy = .longestIdle
    /// How long an agent's phone rings before RONA (ring no answer).
    public var ringSeconds: Int = 15
    /// After-call work; an agent's own setting wins.
    public var wrapUpSeconds: Int = 10
    /// Callers allowed to wait at once (0: no limit); the next is refused as `full`.
    public var maxLength: Int = 0
    /// Longest a caller waits before leaving to `overflow` (0: no limit).
    public var maxWaitSeconds: Int = 0
    /// Where callers go on timeout, a full queue or an empty group.
    public var overflow: QueueExit = .hangUp
    public var joinRefusedWhen: EmptyRule = .never
    public var leaveWhen: EmptyRule = .never
    /// Service level threshold: answered within this many seconds counts as "in service level".
    public var serviceLevelSeconds: Int = 20
    /// Position and wait announcements every this many seconds (0: none).
    public var announceSeconds: Int = 0
    /// Skill-level tiers, highest first (e.g. [8, 5, 1]): a caller starts with agents at level ≥
    /// the first and widens to the next every `widenAfterSeconds`, keeping their place. Empty: any
    /// level.
    public var tiers: [Int] = []
    public var widenAfterSeconds: Int = 0
    /// A key that takes a waiting caller out of the queue to `exitTarget`.
    public var exitKey: String?
    public var exitTarget: QueueExit = .voicemail(nil)
    /// A key that lets a waiting caller ask to be called back (keeping their place), how many
    /// times a callback's number is tried, and how long apart (issue 19).
    public var callbackKey: String?
    public var callbackAttempts = 3
    public var callbackRetrySeconds = 300
    /// A caller who hangs up after waiting this long becomes a callback of the group's worklist
    /// for agents to work (FEATURES A8); 0: never.
    public var callbackMissedSeconds = 0

    public init(name: String) { self.name = name }
}

/// One agent as configured.
public struct AgentSettings: Sendable, Equatable {
    public var id: String
    public var name: String
    /// Skill → level 1–10. A skill named like a group makes the agent a member of that group.
    public var skills: [Skill]
    /// Overrides the group's wrap-up time when set.
    public var wrapUpSeconds: Int?

    public struct Skill: Sendable, Equatable {
        public var name: String
        public var level: Int
        public init(_ name: String, _ level: Int) {
            self.name = name
            self.level = level
        }
    }

    public init(id: String, name: String? = nil, skills: [Skill], wrapUpSeconds: Int? = nil) {
        self.id = id
        self.name = name ?? id
        self.skills = skills
        self.wrapUpSeconds = wrapUpSeconds
    }

    public func level(_ skill: String) -> Int? { skills.first { $0.name == skill }?.level }
}

/// Groups and agents, in configuration order (which `linear` and `round-robin` follow).
public struct ACDSettings: Sendable, Equatable {
    public var groups: [GroupSettings]
    public var agents: [AgentSettings]

    public init(groups: [GroupSettings], agents: [AgentSettings]) {
        self.groups = groups
        self.agents = agents
    }
}

/// A caller asking to wait for an agent.
public struct CallArrival: Sendable, Equatable {
    /// The call's unique id; the queue log's call id column.
    public var call: String
    public var group: String
    /// Higher goes first; FIFO within a priority.
    public var priority: Int
    /// Asked-for 1-based position; never ahead of a higher priority.
    public var position: Int?
    /// Extra skills the agent must have, with minimum levels (a language, say).
    public var requiredSkills: [AgentSettings.Skill]
    /// Minimum level in the group's own skill.
    public var minimumLevel: Int
    /// Caller id for ENTERQUEUE.
    public var callerID: String
    /// Only this agent may take the call (a transfer to an agent); nil: anyone eligible.
    public var agent: String?
    /// A callback waiting its turn (C4, A8): the number to call when an agent takes it. It waits
    /// for ever, whatever the group's maximum wait, join and leave rules, and hears nothing.
    public var callback: String?

    public init(
        call: String, group: String, priority: Int = 0, position: Int? = nil, requiredSkills: [AgentSettings.Skill] = [], minimumLevel: Int = 0, callerID: String = "",
        agent: String? = nil, callback: String? = nil
    ) {
        self.agent = agent
        self.callback = callback
        self.call = call
        self.group = group
        self.priority = priority
        self.position = position
        self.requiredSkills = requiredSkills
        self.minimumLevel = minimumLevel
        self.callerID = callerID
    }
}

/// Everything that can happen to the ACD.
public enum ACDEvent: Sendable, Equatable {
    case callArrived(CallArrival)
    /// The caller hung up: abandon while waiting or ringing, COMPLETECALLER when connected.
    case callerHungUp(call: String)
    case callerPressed(call: String, key: String)
    /// The waiting caller asked to be called back at `number` and hangs up: the call keeps its
    /// place as a callback, which is offered to an agent like a caller when its turn comes.
    case callerCallback(call: String, number: String)
    /// A waiting callback is given to one agent of its group (`agent` nil: to anyone again). It
    /// keeps its place; only that agent is offered it (CALLBACKASSIGN).
    case callbackAssigned(call: String, agent: String?)
    /// Logs an agent in on a device (phone URI or number); `pausedReason` logs in not ready.
    case agentLogin(agent: String, device: String, pausedReason: String? = nil)
    case agentLogout(agent: String)
    case agentReady(agent: String)
    case agentPause(agent: String, reason: String)
    case agentAnswered(agent: String, call: String)
    /// The agent's phone refused the offered call (busy, declined, unreachable).
    case agentDeclined(agent: String, call: String)
    /// The agent ended the connected call.
    case agentHungUp(agent: String)
    /// The agent places a call of their own (click-to-dial) as `call`: they take no offers until
    /// it ends (`callerHungUp(call:)`), then go back to ready or to the reason they paused with.
    case agentOutbound(agent: String, call: String)
    /// The agent transferred the connected call away without talking to the target first
    /// (BLINDTRANSFER).
    case callTransferred(call: String, to: String)
    /// The agent handed the connected call to the party they had consulted, whose own call in the
    /// ACD is `consult` (ATTENDEDTRANSFER): the agent goes to wrap-up, and from now on the caller's
    /// conversation is that consult call's.
    case callAttendedTransfer(call: String, consult: String)
    /// The caller scored the agent in the survey after the call (C6): the engine has already
    /// forgotten the call, so this only writes `SURVEY|score` to the queue log, in order with the
    /// call's other lines (as Asterisk dialplans do with QueueLog()).
    case surveyAnswered(call: String, queue: String, agent: String, score: Int)
    case agentSetSkills(agent: String, skills: [AgentSettings.Skill])
    /// An operator forces a stuck agent to not ready, ending what the engine believes it is doing.
    case agentReset(agent: String)
    case configure(ACDSettings)
    /// The clock moved: ring timeouts, wrap-up ends, maximum waits, widening, announcements.
    case tick
}

/// Why a caller left a queue unanswered.
public enum LeaveReason: String, Sendable, Equatable {
    /// The queue was at its maximum length (the caller never joined).
    case full
    /// The group was empty under its join rule (the caller never joined).
    case joinEmpty = "join-empty"
    /// The group became empty under its leave rule.
    case empty
    case timeout
    case key
}

/// A line of the queue log, without its timestamp (the shell adds wall-clock time).
public struct QueueLogEntry: Sendable, Equatable, CustomStringConvertible {
    public var call: String
    public var queue: String
    public var agent: String
    public var event: String
    public var data: [String]

    public init(call: String = "NONE", queue: String = "NONE", agent: String = "NONE", event: String, data: [String] = []) {
        self.call = call
        self.queue = queue
        self.agent = agent
        self.event = event
        self.data = data
    }

    /// Asterisk's format: `epoch|callid|queue|agent|event|data1|data2...`.
    public func line(epoch: Int) -> String {
        ([String(epoch), call, queue, agent, event] + data).map(Self.clean).joined(separator: "|")
    }

    /// `|` and line breaks would break the format; they are replaced.
    static func clean(_ s: String) -> String {
        s.contains(where: { $0 == "|" || $0 == "\n" || $0 == "\r" }) ? String(s.map { $0 == "|" || $0 == "\n" || $0 == "\r" ? "_" : $0 }) : s
    }

    public var description: String { line(epoch: 0) }
}

/// An agent's state as operators and the event stream see it.
public enum AgentStateName: String, Sendable, Equatable {
    case loggedOut = "logged-out", ready, notReady = "not-ready", ringing, onCall = "on-call", wrapUp = "wrap-up"
}

/// What the engine asks its shell to do.
public enum ACDAction: Sendable, Equatable {
    /// Ring `agent` on `device` (what the agent logged in with) for `call`, a call from `group`.
    case offer(call: String, agent: String, group: String, device: String)
    /// Stop ringing `agent` for `call`.
    case cancelOffer(call: String, agent: String)
    /// Tell a waiting caller their position and estimated wait (seconds; nil when unknown).
    case announce(call: String, position: Int, estimatedWaitSeconds: Int?)
    /// The caller left the ACD unanswered; the shell takes them to `then`.
    case leave(call: String, group: String, reason: LeaveReason, then: QueueExit)
    /// The engine forgot a connected call on an operator's reset; the shell should end it.
    case endCall(call: String)
    case log(QueueLogEntry)
    case agentChanged(agent: String, state: AgentStateName, reason: String?)
}

/// A refused event: what was wrong, for an operator or a log line.
public struct ACDError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case unknownAgent = "unknown_agent", unknownGroup = "unknown_group", unknownCall = "unknown_call"
        case duplicateCall = "duplicate_call", illegalTransition = "illegal_transition", invalid
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
