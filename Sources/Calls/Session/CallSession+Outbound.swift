import ACD
import JSON

/// An agent's own call (click-to-dial, FEATURES A5; issue 19): the agent's phone is rung first,
/// and once it answers the number is dialled through a trunk while the agent hears ringback;
/// the number's answer bridges the two and starts the recording. Busy, no answer and failure are
/// told to the agent by a prompt, and the record says which, with the SIP status.
///
/// The ACD has the call from the start (`agentOutbound`, asked by the shell before the machine is
/// made), so every way the call ends tells it `callerHungUp`, as for a caller of a queue.
extension CallSession {
    /// Prompts the agent hears when the number is not reached; checked at start-up and reload.
    public static let outboundPrompts = ["number-busy", "no-answer", "call-failed"]

    /// `callbackOf`: the attempt of a callback the ACD offered to the agent (its id there); the
    /// ACD then times the agent's ring and hears the answer, and a ring that fails leaves the
    /// callback waiting in its place.
    public init(uniqueID: String, agent: String, dials number: String, rules: Rules, callbackOf: String? = nil) {
        self.uniqueID = uniqueID
        caller = agent
        direction = .outbound
        target = number
        self.callbackOf = callbackOf
        campaignGroup = nil
        self.rules = rules
        acdCall = callbackOf ?? uniqueID
        legs = [CallLeg(id: .caller, role: .caller, state: .ringing)]
        self.agent = agent
        acdHasCall = true
        phase = .ringing
    }

    /// The shell has sent the INVITE to the agent's phone: its ring is timed from now.
    public mutating func startOutbound(at time: CallTime) -> [CallAction] {
        guard direction == .outbound, phase == .ringing, callbackOf == nil else { return [] }
        return [.arm(.noAnswer(.caller), after: .seconds(Int64(rules.agentRingSeconds)))]
    }

    /// The agent's phone answered: the number is dialled, and the agent hears ringback.
    mutating func agentAnswered(at time: CallTime, into out: inout [CallAction]) {
        guard legs[0].isOffer, let number = target else { return }
        legs[0].state = .answered
        facts.agentAnswered = true
        out.append(.disarm(.noAnswer(.caller)))
        if let a = agent, callbackOf != nil { out.append(.confirmAnswer(agent: a, call: acdCall, leg: .caller)) }
        watch(.caller, at: time, into: &out)
        phase = .calling
        out.append(.playRingback)
        let id = newLeg(.number(number), forwarded: false)
        out.append(.dial(id, device: "tel:\(number)"))
        out.append(.arm(.noAnswer(id), after: .seconds(Int64(rules.outboundNoAnswerSeconds))))
        out.append(.emit("call.dialling", ["agent": .string(agent ?? ""), "number": .string(number)]))
        out.append(.log(.info, "agent answered; dialling the number", ["agent.id": agent ?? "", "call.to": number]))
    }

    /// A ring that went on too long: the agent's phone ends the attempt; the number's is told to
    /// the agent.
    mutating func outboundNoAnswer(_ id: LegID, at time: CallTime, into out: inout [CallAction]) {
        if id == .caller, campaignGroup != nil {
            // A predictive campaign's customer who does not answer.
            guard legs[0].isOffer else { return }
            facts.outboundOutcome = "no-answer"
            out.append(.log(.info, "number not reached", ["call.to": caller, "call.outcome": "no-answer"]))
            return hangUp(cause: "no answer after \(rules.outboundNoAnswerSeconds) s", by: "system", at: time, into: &out)
        }
        if id == .caller {
            guard legs[0].isOffer else { return }
            facts.outboundOutcome = "failed"
            out.append(.log(.info, "agent's phone did not answer", ["agent.id": agent ?? "", "call.ring_seconds": "\(rules.agentRingSeconds)"]))
            return hangUp(cause: "agent's phone did not answer", by: "system", at: time, into: &out)
        }
        guard let leg = leg(id), leg.isOffer else { return }
        release(id, into: &out)
        numberNotReached(outcome: "no-answer", cause: "no answer after \(rules.outboundNoAnswerSeconds) s", into: &out)
    }

    /// The number could not be reached: the agent hears why, then the call ends.
    mutating func numberNotReached(outcome: String, cause: String, into out: inout [CallAction]) {
        guard facts.outboundOutcome == nil, phase == .calling else { return }
        facts.outboundOutcome = outcome
        let prompt =
            switch outcome {
            case "busy": "number-busy"
            case "no-answer": "no-answer"
            default: "call-failed"
            }
        out.append(.log(.info, "number not reached", ["call.to": target ?? "", "call.outcome": outcome, "call.cause": cause]))
        out.append(.emit("call.not_reached", ["number": .string(target ?? ""), "outcome": .string(outcome), "cause": .string(cause)]))
        farewell([prompt], cause: cause, into: &out)
    }

    /// How a refusal of the number reads in the record: busy and declined (486, 600, 603), no
    /// answer (408, 480, 487 after the far end's own timer), failed otherwise; the status is kept.
    static func notReached(_ end: LegEnd) -> (outcome: String, cause: String) {
        switch end {
        case .refused(let status) where busyStatuses.contains(status): ("busy", "number busy (\(status))")
        case .refused(let status) where [408, 480, 487].contains(status): ("no-answer", "no answer (\(status))")
        // The carrier has no room now: not the number's fault (a campaign backs off).
        case .refused(503): ("congestion", "trunk congested (503)")
        case .refused(let status): ("failed", "call failed (\(status))")
        case .ended(let why): ("failed", "call failed (\(why))")
        }
    }
}
