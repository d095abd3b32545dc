import ACD
import IVR

/// A predictive campaign's call (issue 19, part 3): the customer is called first, with no agent
/// on the line; once they answer they join the campaign group's queue ahead of callers, and the
/// next agent the ACD offers takes them as any caller (screen pop, ring, bridge, recording,
/// transfer). An answered customer who has no agent within 2 s hears the campaign's message and
/// the call ends: abandoned, as 16 CFR 310.4(b)(4) counts it.
extension CallSession {
    /// Ahead of callers: an answered customer must be connected within 2 s.
    public static let campaignPriority = 100

    public init(uniqueID: String, customer number: String, campaignGroup group: String, abandonPrompt: String = "campaign-abandon", rules: Rules) {
        self.uniqueID = uniqueID
        caller = number
        direction = .outbound
        target = number
        callbackOf = nil
        campaignGroup = group
        self.abandonPrompt = abandonPrompt
        self.rules = rules
        acdCall = uniqueID
        legs = [CallLeg(id: .caller, role: .caller, state: .ringing)]
        phase = .ringing
        // No lookup is waited for: the 2 s start at the answer.
        lookupDone = true
    }

    /// The INVITE to the customer is out: their ring is timed from now.
    public mutating func startCustomerCall(at time: CallTime) -> [CallAction] {
        guard campaignGroup != nil, phase == .ringing else { return [] }
        return [.arm(.noAnswer(.caller), after: .seconds(Int64(rules.outboundNoAnswerSeconds)))]
    }

    mutating func customerAnswered(at time: CallTime, into out: inout [CallAction]) {
        guard let group = campaignGroup, legs[0].isOffer else { return }
        legs[0].state = .answered
        facts.targetAnsweredAt = time.wall
        out.append(.disarm(.noAnswer(.caller)))
        watch(.caller, at: time, into: &out)
        acdHasCall = true
        facts.queuedAt = time.wall
        queue = group
        phase = .queued
        out.append(.enqueue(IVRFlow.Route(group: group, priority: Self.campaignPriority)))
        out.append(.arm(.connectDeadline, after: .seconds(2)))
        out.append(.log(.info, "campaign customer answered; queued for an agent", ["queue.name": group, "call.to": caller]))
    }

    /// Connected to an agent in time: the deadline is off.
    mutating func campaignConnected(into out: inout [CallAction]) {
        out.append(.disarm(.connectDeadline))
    }

    mutating func connectDeadlinePassed(at time: CallTime, into out: inout [CallAction]) {
        guard campaignGroup != nil, connected == nil, facts.outboundOutcome == nil, legs[0].state == .answered else { return }
        facts.outboundOutcome = "abandoned"
        if acdHasCall {
            acdHasCall = false
            out.append(.tellACD(.callerHungUp(call: acdCall)))
        }
        for leg in legs where leg.id != .caller && leg.isLive { release(leg.id, into: &out) }
        agent = nil
        out.append(.log(.notice, "campaign call abandoned: no agent within 2 s", ["queue.name": queue ?? "", "call.to": caller]))
        out.append(.emit("call.abandoned", ["number": .string(caller), "queue": .string(queue ?? "")]))
        phase = .connected
        farewell([abandonPrompt], cause: "no agent within 2 s", into: &out)
    }

    mutating func customerNotReached(outcome: String, cause: String, at time: CallTime, into out: inout [CallAction]) {
        guard campaignGroup != nil, legs[0].isOffer else { return }
        facts.outboundOutcome = outcome
        out.append(.disarm(.noAnswer(.caller)))
        out.append(.log(.info, "number not reached", ["call.to": caller, "call.outcome": outcome, "call.cause": cause]))
        callerEnded(cause: cause, by: "system", at: time, into: &out)
    }
}
