import IVR
import ACD

/// The IVR part of the file: `[[hours]]` schedules, `[ivr] entries` (number → first node) and one
/// `[ivr.nodes.NAME]` table per node with a `type`. Everything but the prompt files is checked
/// here, with the node's line; the prompts are checked against the loaded prompt set
/// (`checkPrompts`) when it is loaded, at start-up and on reload.
extension DaemonConfiguration {
    static let nodeTypes = ["play", "menu", "collect", "hours", "route", "voicemail", "language", "survey", "goto", "hangup"]

    static func readHours(_ root: ConfigReader) throws(ConfigError) -> [String: BusinessHours] {
        var schedules: [String: BusinessHours] = [:]
        for h in try root.tables("hours") {
            let name = try h.requiredString("name")
            if schedules[name] != nil { throw h.error("schedule '\(name)' is defined twice", key: "name") }
            let open = try h.strings("open") ?? []
            let holidays = try h.strings("holidays") ?? []
            do {
                schedules[name] = try BusinessHours(name: name, timeZone: try h.string("time_zone", default: "UTC"), open: open, holidays: holidays)
            } catch {
                throw h.error("schedule '\(name)': \(error)", key: "open")
            }
            try h.finish()
        }
        return schedules
    }

    static func readIVR(_ root: ConfigReader, groups: [GroupSettings], schedules: [String: BusinessHours]) throws(ConfigError) -> (IVRFlow, [String: String]) {
        let section = try root.section("ivr")
        var flow = IVRFlow(schedules: schedules)
        var lines: [String: String] = [:]
        for (number, node, _) in try section.stringTable("entries") ?? [] { flow.entries[number] = node }
        let nodes = try section.section("nodes")
        for (name, n) in try nodes.namedSections() {
            lines[name] = nodes.location(of: name)
            flow.nodes[name] = try readNode(name, n)
            try n.finish()
        }
        try nodes.finish()
        try section.finish()

        let exits = queueExits(groups)
        let groupNames = Set(groups.map(\.name))
        do {
            try flow.validate(defaultLanguage: "", groups: groupNames, otherEntries: exits) { _, _ in true }
        } catch {
            throw ConfigError(error.description, at: lines[error.node] ?? section.location(of: "entries"))
        }
        for (name, node) in flow.nodes {
            if case .route(let r) = node, let skill = r.requiredSkills.keys.sorted().first(where: { !groupNames.contains($0) }) {
                throw ConfigError("IVR node '\(name)': required skill '\(skill)' is not a group's skill", at: lines[name]!)
            }
        }
        return (flow, lines)
    }

    private static func readNode(_ name: String, _ n: ConfigReader) throws(ConfigError) -> IVRFlow.Node {
        let type = try n.requiredString("type")
        func keys(_ key: String) throws(ConfigError) -> [Character] {
            guard let text = try n.string(key) else { return [] }
            guard text.count == 1, "0123456789*#".contains(text) else { throw n.error("\(key) must be one key: 0-9, * or #, not '\(text)'", key: key) }
            return [Character(text)]
        }
        switch type {
        case "play":
            return .play(prompts: try n.strings("prompts") ?? [], bargeIn: try n.bool("barge_in", default: true), next: try n.requiredString("next"))
        case "menu":
            var choices: [Character: String] = [:]
            for (key, target, at) in try n.stringTable("choices") ?? [] {
                guard key.count == 1, "0123456789*#".contains(key) else { throw ConfigError("menu choice '\(key)' must be one key: 0-9, * or #", at: at) }
                choices[Character(key)] = target
            }
            var m = IVRFlow.Menu(prompts: try n.strings("prompts") ?? [], choices: choices, failure: try n.requiredString("failure"))
            m.timeoutSeconds = Double(try n.integer("timeout_seconds", default: 5, range: 1...60))
            m.retries = try n.integer("retries", default: 2, range: 0...10)
            m.invalidPrompts = try n.strings("invalid_prompts") ?? m.invalidPrompts
            m.noInputPrompts = try n.strings("no_input_prompts") ?? m.noInputPrompts
            return .menu(m)
        case "collect":
            let maxDigits = try n.integer("max_digits", default: 1, range: 1...32)
            var c = IVRFlow.Collect(
                prompts: try n.strings("prompts") ?? [], variable: try n.requiredString("variable"), maxDigits: maxDigits,
                next: try n.requiredString("next"), failure: try n.requiredString("failure"))
            c.minDigits = try n.integer("min_digits", default: 1, range: 1...maxDigits)
            let terminator = try n.string("terminator", default: "#")
            if terminator.isEmpty {
                c.terminator = nil
            } else {
                c.terminator = try keys("terminator").first
            }
            c.timeoutSeconds = Double(try n.integer("timeout_seconds", default: 5, range: 1...60))
            c.retries = try n.integer("retries", default: 2, range: 0...10)
            c.invalidPrompts = try n.strings("invalid_prompts") ?? c.invalidPrompts
            c.noInputPrompts = try n.strings("no_input_prompts") ?? c.noInputPrompts
            return .collect(c)
        case "hours":
            return .hours(schedule: try n.requiredString("schedule"), open: try n.requiredString("open"), closed: try n.requiredString("closed"))
        case "route":
            var skills: [String: Int] = [:]
            for (skill, level, at) in try n.integerTable("skills") ?? [] {
                guard (1...10).contains(level) else { throw ConfigError("skill level of '\(skill)' must be 1-10, not \(level)", at: at) }
                skills[skill] = level
            }
            return .route(
                .init(
                    group: try n.requiredString("group"), priority: try n.integer("priority", default: 0, range: 0...100), requiredSkills: skills,
                    minimumLevel: try n.integer("min_level", default: 0, range: 0...10)))
        case "voicemail":
            return .voicemail(box: try n.string("box"), prompts: try n.strings("prompts") ?? ["voicemail"])
        case "language":
            let language = try n.requiredString("language")
            guard !language.contains("/"), language != ".", language != ".." else { throw n.error("language must be a folder name under paths.prompts", key: "language") }
            return .setLanguage(language, next: try n.requiredString("next"))
        case "survey":
            var s = IVRFlow.Survey(next: try n.string("next"))
            s.prompts = try n.strings("prompts") ?? s.prompts
            s.thanks = try n.strings("thanks") ?? s.thanks
            s.timeoutSeconds = Double(try n.integer("timeout_seconds", default: 5, range: 1...60))
            s.retries = try n.integer("retries", default: 1, range: 0...10)
            if s.prompts.isEmpty { throw n.error("a survey needs prompts (the question)", key: "prompts") }
            return .survey(s)
        case "goto":
            return .goto(try n.requiredString("next"))
        case "hangup":
            return .hangUp(prompts: try n.strings("prompts") ?? [])
        default:
            throw n.error("IVR node '\(name)': type must be one of \(nodeTypes.joined(separator: ", ")), not '\(type)'", key: "type")
        }
    }

    /// Checks that every prompt the flow plays has a file, in the default language and every
    /// language a node switches to; the error points at the node's line.
    public func checkPrompts(hasPrompt: (String, String) -> Bool) throws(ConfigError) {
        do {
            try ivr.validate(defaultLanguage: prompts.language, groups: Set(groups.map(\.name)), otherEntries: ivrQueueExits, hasPrompt: hasPrompt)
        } catch {
            throw ConfigError(error.description, at: ivrLines[error.node] ?? source)
        }
        // The survey after an agent hangs up names the agent digit by digit.
        guard !surveyGroups.isEmpty else { return }
        let surveyPrompts = ["agent-was", "survey-intro", "survey-question", "survey-thanks", "invalid"] + (0...9).map { "number-\($0)" }
        for name in surveyPrompts where !hasPrompt(name, prompts.language) {
            throw ConfigError("groups \(surveyGroups.sorted().joined(separator: ", ")) have survey = true, which needs the prompt '\(name)' in \(prompts.language)", at: source)
        }
    }

    var ivrQueueExits: Set<String> { Self.queueExits(groups) }

    /// Nodes entered from a queue (`ivr:NODE` overflow or exit targets).
    static func queueExits(_ groups: [GroupSettings]) -> Set<String> {
        var exits: Set<String> = []
        for g in groups {
            for target in [g.overflow, g.exitTarget] { if case .ivr(let node) = target { exits.insert(node) } }
        }
        return exits
    }
}
