/// The IVR as configured: named nodes, the numbers that enter them, and the schedules the `hours`
/// nodes ask. A plain value; `IVRInterpreter` walks it for one call, `validate` refuses a flow
/// that cannot work before any caller meets it.
public struct IVRFlow: Sendable, Equatable {
    /// Where a caller goes to wait for an agent.
    public struct Route: Sendable, Equatable {
        public var group: String
        public var priority: Int
        /// Extra skills the agent must have (a language, say): name → minimum level.
        public var requiredSkills: [String: Int]
        /// Minimum level in the group's own skill.
        public var minimumLevel: Int

        public init(group: String, priority: Int = 0, requiredSkills: [String: Int] = [:], minimumLevel: Int = 0) {
            self.group = group
            self.priority = priority
            self.requiredSkills = requiredSkills
            self.minimumLevel = minimumLevel
        }
    }

    /// A menu: a prompt, then one key chooses the next node.
    public struct Menu: Sendable, Equatable {
        public var prompts: [String]
        public var choices: [Character: String]
        /// Seconds to wait for a key after the prompt has finished.
        public var timeoutSeconds: Double = 5
        /// Tries after the first: invalid keys and silences both count.
        public var retries: Int = 2
        public var invalidPrompts: [String] = ["invalid"]
        public var noInputPrompts: [String] = ["no-input"]
        /// Where a caller goes after the last failed try.
        public var failure: String

        public init(prompts: [String], choices: [Character: String], failure: String) {
            self.prompts = prompts
            self.choices = choices
            self.failure = failure
        }
    }

    /// Collects up to `maxDigits` keys into a variable.
    public struct Collect: Sendable, Equatable {
        public var prompts: [String]
        public var variable: String
        public var maxDigits: Int
        public var minDigits: Int = 1
        /// A key that ends the entry early (not stored).
        public var terminator: Character? = "#"
        /// Seconds to wait for the first key after the prompt, and between keys.
        public var timeoutSeconds: Double = 5
        public var retries: Int = 2
        public var invalidPrompts: [String] = ["invalid"]
        public var noInputPrompts: [String] = ["no-input"]
        public var next: String
        public var failure: String

        public init(prompts: [String], variable: String, maxDigits: Int, next: String, failure: String) {
            self.prompts = prompts
            self.variable = variable
            self.maxDigits = maxDigits
            self.next = next
            self.failure = failure
        }
    }

    /// The satisfaction survey: one key 1–5 is the score.
    public struct Survey: Sendable, Equatable {
        public var prompts: [String] = ["survey-intro", "survey-question"]
        public var thanks: [String] = ["survey-thanks"]
        public var timeoutSeconds: Double = 5
        public var retries: Int = 1
        public var invalidPrompts: [String] = ["invalid"]
        public var next: String?

        public init(next: String? = nil) { self.next = next }
    }

    /// What one node does.
    public enum Node: Sendable, Equatable {
        /// Plays prompts; a key stops them when `bargeIn` (and is then ignored).
        case play(prompts: [String], bargeIn: Bool, next: String)
        case menu(Menu)
        case collect(Collect)
        /// Goes to `open` or `closed` by the named schedule.
        case hours(schedule: String, open: String, closed: String)
        case route(Route)
        /// Records a message for `box` (nil: the default box) after `prompts`.
        case voicemail(box: String?, prompts: [String])
        case setLanguage(String, next: String)
        case survey(Survey)
        case goto(String)
        case hangUp(prompts: [String])

        /// Every node this one can lead to.
        public var successors: [String] {
            switch self {
            case .play(_, _, let next), .setLanguage(_, let next), .goto(let next): [next]
            case .menu(let m): m.choices.keys.sorted().compactMap { m.choices[$0] } + [m.failure]
            case .collect(let c): [c.next, c.failure]
            case .hours(_, let open, let closed): [open, closed]
            case .survey(let s): s.next.map { [$0] } ?? []
            case .route, .voicemail, .hangUp: []
            }
        }

        /// Whether the caller is asked for a key here: a loop through such a node waits for them.
        public var waitsForInput: Bool {
            switch self {
            case .menu, .collect, .survey: true
            default: false
            }
        }

        /// Every prompt this node may play.
        public var prompts: [String] {
            switch self {
            case .play(let p, _, _), .voicemail(_, let p), .hangUp(let p): p
            case .menu(let m): m.prompts + m.invalidPrompts + m.noInputPrompts
            case .collect(let c): c.prompts + c.invalidPrompts + c.noInputPrompts
            case .survey(let s): s.prompts + s.thanks + s.invalidPrompts
            case .hours, .route, .setLanguage, .goto: []
            }
        }

        public var kind: String {
            switch self {
            case .play: "play"
            case .menu: "menu"
            case .collect: "collect"
            case .hours: "hours"
            case .route: "route"
            case .voicemail: "voicemail"
            case .setLanguage: "language"
            case .survey: "survey"
            case .goto: "goto"
            case .hangUp: "hangup"
            }
        }
    }

    public var nodes: [String: Node]
    /// Called number → first node.
    public var entries: [String: String]
    public var schedules: [String: BusinessHours]

    public init(nodes: [String: Node] = [:], entries: [String: String] = [:], schedules: [String: BusinessHours] = [:]) {
        self.nodes = nodes
        self.entries = entries
        self.schedules = schedules
    }

    /// A flow that cannot work, with the node that shows it.
    public struct Fault: Error, Sendable, Equatable, CustomStringConvertible {
        public var node: String
        public var message: String
        public var description: String { "IVR node '\(node)': \(message)" }
    }

    /// Refuses a flow a caller could get stuck in or fall out of: a successor, schedule or group
    /// that does not exist, a prompt with no file (in the default language and every language a
    /// node switches to), a node no entry reaches, or a loop that never waits for a key (a caller
    /// would hear it forever). `otherEntries` are nodes entered from elsewhere (a queue's
    /// `ivr:NODE` exit); `groups` the skill groups that exist.
    public func validate(
        defaultLanguage: String, groups: Set<String>, otherEntries: Set<String> = [], hasPrompt: (String, String) -> Bool
    ) throws(Fault) {
        for (number, node) in entries.sorted(by: { $0.key < $1.key }) where nodes[node] == nil {
            throw Fault(node: node, message: "number \(number) enters it, but no such node exists")
        }
        for node in otherEntries.sorted() where nodes[node] == nil {
            throw Fault(node: node, message: "a queue exits to it, but no such node exists")
        }
        var languages: Set<String> = [defaultLanguage]
        for (_, node) in nodes { if case .setLanguage(let l, _) = node { languages.insert(l) } }
        for name in nodes.keys.sorted() {
            let node = nodes[name]!
            for next in node.successors where nodes[next] == nil {
                throw Fault(node: name, message: "leads to '\(next)', which does not exist")
            }
            for language in languages.sorted() {
                for prompt in node.prompts where !hasPrompt(prompt, language) {
                    throw Fault(node: name, message: "prompt '\(prompt)' has no file in language '\(language)'")
                }
            }
            switch node {
            case .hours(let schedule, _, _) where schedules[schedule] == nil:
                throw Fault(node: name, message: "schedule '\(schedule)' is not defined under [[hours]]")
            case .route(let r) where !groups.contains(r.group):
                throw Fault(node: name, message: "routes to group '\(r.group)', which does not exist")
            case .menu(let m) where m.choices.isEmpty:
                throw Fault(node: name, message: "a menu needs at least one choice")
            case .collect(let c) where c.maxDigits < c.minDigits || c.minDigits < 1:
                throw Fault(node: name, message: "needs 1 <= min_digits <= max_digits")
            default: break
            }
        }

        // Reachable from an entry.
        var seen = Set<String>()
        var stack = Array(Set(entries.values).union(otherEntries))
        while let n = stack.popLast() {
            guard seen.insert(n).inserted, let node = nodes[n] else { continue }
            stack.append(contentsOf: node.successors)
        }
        if let lost = nodes.keys.sorted().first(where: { !seen.contains($0) }) {
            throw Fault(node: lost, message: "no entry (number or queue exit) leads to it")
        }

        // A cycle among nodes that never wait for a key: depth-first search with colours.
        var colour: [String: Int] = [:]  // 1 on the path, 2 done
        func visit(_ n: String) -> String? {
            colour[n] = 1
            if let node = nodes[n], !node.waitsForInput {
                for next in node.successors {
                    guard let succ = nodes[next], !succ.waitsForInput else { continue }
                    if colour[next] == 1 { return next }
                    if colour[next] == nil, let found = visit(next) { return found }
                }
            }
            colour[n] = 2
            return nil
        }
        for n in nodes.keys.sorted() where colour[n] == nil {
            if let looped = visit(n) {
                throw Fault(node: looped, message: "is on a loop that never waits for a key; a caller would go round it forever")
            }
        }
    }

    /// Every prompt any node plays, for the start-up check.
    public var promptNames: Set<String> { Set(nodes.values.flatMap(\.prompts)) }
}
