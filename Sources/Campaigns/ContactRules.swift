import Foundation

/// How one try of a contact ended, as the dialer hears it from the call's record.
public enum AttemptOutcome: String, Sendable, Equatable {
    case connected, busy
    case noAnswer = "no-answer"
    case failed
    /// Answered, and no agent took the call within 2 s (predictive): tried again later.
    case abandoned
    /// The trunk refused for load (503) or no trunk could take the call: not the contact's
    /// fault, so not a try; the dialer backs off instead.
    case congestion
    /// The agent's phone did not answer or refused, or the agent was taken meanwhile: the number
    /// was never dialled, so not a try either.
    case notDialled = "not-dialled"
}

/// The rules of a contact's life, pure: when it may be called, and what a try's end makes of it.
public enum ContactRules {
    /// Whether `contact` may be dialled at `now`: `nil` if so, or when it may be (its next try,
    /// or its calling hours opening), or `.never` for a number on the do-not-call list.
    public enum Wait: Equatable, Sendable {
        case until(Double)
        case never(ContactStatus)
    }

    public static func wait(_ contact: Contact, settings: CampaignSettings, now: Double, doNotCall: (String) -> Bool) -> Wait? {
        guard contact.status == .pending else { return .never(contact.status) }
        if doNotCall(contact.number) { return .never(.dnc) }
        if let next = contact.nextAt, next > now { return .until(next) }
        let zone = TimeZone(identifier: contact.timeZone ?? settings.timeZone) ?? TimeZone(identifier: "UTC")!
        guard let open = settings.hours.nextOpening(at: now, in: zone) else { return .never(.failed) }
        return open > now ? .until(open) : nil
    }

    /// The contact after a try ended with `outcome` at `now`.
    public static func after(_ outcome: AttemptOutcome, _ contact: Contact, settings: CampaignSettings, now: Double) -> Contact {
        var c = contact
        c.lastOutcome = outcome.rawValue
        switch outcome {
        case .connected:
            c.attempts += 1
            c.status = .done
            c.nextAt = nil
        case .busy, .noAnswer, .failed, .abandoned:
            c.attempts += 1
            if c.attempts >= settings.attempts {
                c.status = .failed
                c.nextAt = nil
            } else {
                c.status = .pending
                c.nextAt = now + Double(settings.retrySeconds[outcome.rawValue] ?? CampaignSettings.defaultRetry[outcome.rawValue] ?? 3600)
            }
        case .congestion, .notDialled:
            c.status = .pending
            c.nextAt = nil
        }
        return c
    }
}

/// Backs a campaign's dialling off while its trunk refuses for load (503, or no trunk free):
/// 5 s, doubling to a minute; the first call that gets through resets it.
public struct TrunkBackoff: Sendable, Equatable {
    public private(set) var until: Double = 0
    public private(set) var step: Double = 0
    public static let first = 5.0, longest = 60.0

    public init() {}

    public mutating func congested(at now: Double) {
        step = step == 0 ? Self.first : min(step * 2, Self.longest)
        until = now + step
    }

    public mutating func through() {
        step = 0
        until = 0
    }

    public func allows(at now: Double) -> Bool { now >= until }
}
