import Foundation

/// How a campaign's calls reach its agents (issue 19, part 3).
public enum DialMode: String, Sendable, Codable, CaseIterable {
    /// The agent sees the contact first and accepts (dials) or skips it.
    case preview
    /// One call per ready agent: the agent's phone rings, then the contact's number, as an
    /// agent's own call (click-to-dial), so nobody the campaign calls is left without an agent.
    case progressive
    /// Numbers are dialled ahead of agents by the predictive pacer; an answer joins the group's
    /// queue for the next agent, and one no agent takes within 2 s is abandoned.
    case predictive
}

/// A campaign as an operator created it: who calls, when, and how often a contact is tried.
/// Kept as JSON in its database row, so a setting added later reads its default from old rows.
public struct CampaignSettings: Sendable, Equatable, Codable {
    public var name: String
    /// The skill group whose agents make the calls.
    public var group: String
    public var mode: DialMode
    /// When a contact may be called, in the contact's own time zone.
    public var hours: CallingHours
    /// The time zone of contacts whose row names none.
    public var timeZone: String
    /// Tries of a number (busy, no answer, failed) before the contact is `failed`.
    public var attempts: Int
    /// Seconds before the next try, by how the last one ended (`busy`, `no-answer`, `failed`,
    /// `abandoned`).
    public var retrySeconds: [String: Int]
    /// Predictive: the abandon rate to hold the campaign under (16 CFR 310.4(b)(4): 3 %).
    public var abandonTarget: Double = 0.03
    /// Predictive: how long a number may ring before it counts as not answered.
    public var ringSeconds: Int = 25
    /// Predictive: at most this many lines dialled per agent.
    public var maxLinesPerAgent: Double = 3
    /// Predictive: the prompt an answered customer hears when no agent takes them in time. The
    /// rule wants the seller's name and a number to call back, which differ per campaign, so each
    /// campaign names its own (`<prompts>/<language>/<name>.wav`).
    public var abandonPrompt: String = Self.defaultAbandonPrompt

    public static let defaultAbandonPrompt = "campaign-abandon"

    public static let defaultRetry = ["busy": 600, "no-answer": 3600, "failed": 3600, "abandoned": 3600]

    public init(
        name: String, group: String, mode: DialMode, hours: CallingHours = CallingHours(), timeZone: String = "UTC", attempts: Int = 3,
        retrySeconds: [String: Int] = Self.defaultRetry
    ) {
        self.name = name
        self.group = group
        self.mode = mode
        self.hours = hours
        self.timeZone = timeZone
        self.attempts = attempts
        self.retrySeconds = retrySeconds
    }

    /// What is wrong with it, if anything (names are ids in the control protocol and the
    /// queue of events; numbers must be sane).
    public func problems() -> [String] {
        var out: [String] = []
        if name.isEmpty || name.count > 64 || !name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) {
            out.append("campaign name '\(name)' must be 1-64 letters, digits, '-', '_' or '.'")
        }
        if group.isEmpty { out.append("a campaign needs a group") }
        if TimeZone(identifier: timeZone) == nil { out.append("unknown time zone '\(timeZone)'") }
        if !(1...20).contains(attempts) { out.append("attempts must be 1-20, not \(attempts)") }
        if !(0.001...0.03).contains(abandonTarget) { out.append("abandon_target must be 0.001-0.03, not \(abandonTarget)") }
        if !(10...60).contains(ringSeconds) { out.append("ring_seconds must be 10-60, not \(ringSeconds)") }
        if !(1...5).contains(maxLinesPerAgent) { out.append("max_lines_per_agent must be 1-5, not \(maxLinesPerAgent)") }
        // A prompt's name becomes a file name: no separators, no dots, so it stays in its folder.
        if abandonPrompt.isEmpty || abandonPrompt.count > 64 || !abandonPrompt.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_".contains($0)) }) {
            out.append("abandon_prompt '\(abandonPrompt)' must be a prompt's name: 1-64 letters, digits, '-' or '_'")
        }
        for (outcome, seconds) in retrySeconds.sorted(by: { $0.key < $1.key }) {
            if !Self.defaultRetry.keys.contains(outcome) { out.append("retry outcome '\(outcome)' is not busy, no-answer, failed or abandoned") }
            if !(10...604_800).contains(seconds) { out.append("retry of \(outcome) must be 10-604800 seconds, not \(seconds)") }
        }
        return out
    }

    private enum CodingKeys: String, CodingKey {
        case name, group, mode, hours, timeZone = "time_zone", attempts, retrySeconds = "retry_seconds", abandonTarget = "abandon_target"
        case ringSeconds = "ring_seconds", maxLinesPerAgent = "max_lines_per_agent", abandonPrompt = "abandon_prompt"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        group = try c.decode(String.self, forKey: .group)
        mode = try c.decode(DialMode.self, forKey: .mode)
        hours = try c.decodeIfPresent(CallingHours.self, forKey: .hours) ?? CallingHours()
        timeZone = try c.decodeIfPresent(String.self, forKey: .timeZone) ?? "UTC"
        attempts = try c.decodeIfPresent(Int.self, forKey: .attempts) ?? 3
        retrySeconds = try c.decodeIfPresent([String: Int].self, forKey: .retrySeconds) ?? Self.defaultRetry
        abandonTarget = try c.decodeIfPresent(Double.self, forKey: .abandonTarget) ?? 0.03
        ringSeconds = try c.decodeIfPresent(Int.self, forKey: .ringSeconds) ?? 25
        maxLinesPerAgent = try c.decodeIfPresent(Double.self, forKey: .maxLinesPerAgent) ?? 3
        abandonPrompt = try c.decodeIfPresent(String.self, forKey: .abandonPrompt) ?? Self.defaultAbandonPrompt
    }
}

/// A campaign's life: created, then started, paused and started again, stopped; finished once
/// every contact is reached, failed or not to be called (loading more and starting again goes on).
public enum CampaignStatus: String, Sendable, Codable {
    case created, running, paused, stopped, finished
}
