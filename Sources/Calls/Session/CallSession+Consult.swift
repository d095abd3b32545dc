import ACD
import JSON

/// Consultation (FEATURES A4): the agent puts the caller on hold with music and calls another
/// agent, a group or a number; then hands the caller over (attended transfer), goes back to the
/// caller (return), or the consulted party declines or hangs up and the caller comes back.
///
/// A consult to an agent or a group is a call of its own in the ACD (`<unique id>-cN`), queued
/// ahead of the group's callers, so the ACD reserves the agent, rings them under the group's
/// rules and counts the consult like any call it routes. After an attended transfer the ACD goes
/// on with that consult call: the caller's conversation is now its (`acdCall`), and the caller's
/// own call leaves the ACD with ATTENDEDTRANSFER.
extension CallSession {
    /// Ahead of any caller's priority, so a consult never waits behind the queue.
    static let consultPriority = 1_000_000

    /// Whether the agent on the line may consult now.
    public var canConsult: Bool { phase == .bridged && consult == nil && transferableLeg != nil }

    /// The consult's id in the ACD while it has one: the shell sends that call's offers here.
    public var consultACDCall: String? { consult?.acdCall }

    /// Whether the agent's phone may open a second line to consult: the caller talks to the
    /// agent or is held by the agent's phone (as a phone holds before it dials).
    public var canConsultFromLine: Bool { (phase == .bridged || phase == .held) && consult == nil && transferableLeg != nil }

    mutating func startConsult(_ target: ConsultTarget, at time: CallTime, into out: inout [CallAction]) {
        guard canConsult, let agentLeg = connected else { return }
        phase = .consulting
        out.append(.split)
        out.append(.playMusic)
        out.append(.playRingbackTo(agentLeg))
        out.append(.log(.info, "agent consults; the caller holds", ["consult.target": target.description]))
        beginConsult(target, line: nil, into: &out)
    }

    /// The agent's phone dialled `target` on its second line: that line is answered at once and
    /// hears ringback until the party answers; the caller holds with music meanwhile.
    mutating func startLineConsult(_ target: ConsultTarget, at time: CallTime, into out: inout [CallAction]) {
        guard canConsultFromLine, let agentLeg = connected, let agent = leg(agentLeg)?.agent else { return }
        let line = newLeg(.line(agent: agent), forwarded: true)
        update(line) { $0.state = .answered }
        out.append(.acceptLine(line))
        if phase == .bridged {
            out.append(.split)
            out.append(.playMusic)
        }
        phase = .consulting
        out.append(.playRingbackTo(line))
        out.append(.log(.info, "agent consults on the phone's second line; the caller holds", ["consult.target": target.description, "agent.id": agent]))
        watch(line, at: time, into: &out)
        beginConsult(target, line: line, into: &out)
    }

    private mutating func beginConsult(_ target: ConsultTarget, line: LegID?, into out: inout [CallAction]) {
        switch target {
        case .number(let n):
            consult = Consult(target: target, acdCall: nil, acdHasIt: false, line: line)
            let id = newLeg(.number(n), forwarded: true, consult: true)
            consult?.leg = id
            out.append(.dial(id, device: "tel:\(n)"))
        case .agent(let a, let group):
            askACD(for: target, group: group, agent: a, line: line, into: &out)
        case .group(let group):
            askACD(for: target, group: group, agent: nil, line: line, into: &out)
        }
    }

    private mutating func askACD(for target: ConsultTarget, group: String, agent: String?, line: LegID?, into out: inout [CallAction]) {
        consults += 1
        let id = "\(uniqueID)-c\(consults)"
        consult = Consult(target: target, acdCall: id, acdHasIt: true, line: line)
        out.append(.tellACD(.callArrived(CallArrival(call: id, group: group, priority: Self.consultPriority, callerID: caller, agent: agent))))
    }

    mutating func consultOffer(_ agent: String, device: String, into out: inout [CallAction]) {
        guard consult != nil, consult?.answered == false else { return }
        let id = newLeg(.agent(agent), forwarded: true, consult: true)
        consult?.leg = id
        out.append(.dial(id, device: device))
    }

    mutating func consultAnswered(_ leg: CallLeg, usable: Bool, at time: CallTime, into out: inout [CallAction]) {
        guard leg.isOffer, consult?.answered == false, let agentLeg = connected else {
            if leg.state == .releasing { out.append(.hangUpLeg(leg.id)) } else { release(leg.id, into: &out) }
            return
        }
        guard usable else {
            out.append(.log(.warning, "consulted phone answered with unusable SDP; hanging it up", ["agent.id": leg.agent ?? leg.number ?? ""]))
            out.append(.hangUpLeg(leg.id))
            return
        }
        update(leg.id) { $0.state = .answered }
        consult?.answered = true
        consult?.leg = leg.id
        out.append(.bridgeLegs(consult?.line ?? agentLeg, leg.id))
        out.append(.log(.info, "consulted party answered", ["consult.target": consult?.target.description ?? ""]))
        watch(leg.id, at: time, into: &out)
        if let a = leg.agent, let id = consult?.acdCall { out.append(.confirmAnswer(agent: a, call: id, leg: leg.id)) }
    }

    /// A consulted leg refused or could not be reached: a group's ACD tries the next agent; an
    /// agent or a number is the end of the consult, and the caller comes back.
    mutating func consultDeclined(_ leg: CallLeg, into out: inout [CallAction]) {
        guard let c = consult, c.leg == leg.id || leg.agent != nil else { return }
        if case .group = c.target, let a = leg.agent, let id = c.acdCall {
            out.append(.tellACD(.agentDeclined(agent: a, call: id)))
            return
        }
        out.append(.log(.info, "consulted party declined; the caller is back", ["consult.target": c.target.description]))
        endConsult(into: &out)
    }

    mutating func consultLegEnded(_ leg: CallLeg, _ end: LegEnd, into out: inout [CallAction]) {
        switch leg.state {
        case .releasing, .ended:
            return
        case .dialling, .ringing:
            consultDeclined(leg, into: &out)
        case .answered:
            // (Once handed over, the leg is the caller's connection and ends as any agent's.)
            if let a = leg.agent { out.append(.tellACD(.agentHungUp(agent: a))) }
            consult?.acdHasIt = false
            out.append(.log(.info, "consulted party hung up; the caller is back", ["consult.target": consult?.target.description ?? ""]))
            endConsult(into: &out)
        }
    }

    mutating func consultReturn(into out: inout [CallAction]) {
        guard consult != nil else { return }
        out.append(.log(.info, "agent returns to the caller", ["consult.target": consult?.target.description ?? ""]))
        endConsult(into: &out)
    }

    /// Drops what is left of the consult (its leg, its call in the ACD) and, unless the call is
    /// ending, joins the caller and the agent again.
    mutating func endConsult(retrieve: Bool = true, into out: inout [CallAction]) {
        guard let c = consult else { return }
        if let id = c.leg { release(id, into: &out) }
        for leg in legs where leg.consult && leg.isLive { release(leg.id, into: &out) }
        // The second line was for the consult: it ends with it, and the phone still holds the
        // caller on its first until it retrieves.
        if let line = c.line { release(line, into: &out) }
        if c.acdHasIt, let id = c.acdCall { out.append(.tellACD(.callerHungUp(call: id))) }
        consult = nil
        if phase == .conference { out.append(.unmix) }
        guard retrieve, let agentLeg = connected else { return }
        if leg(agentLeg)?.held == true {
            phase = .held
            out.append(.playMusic)
            return
        }
        phase = .bridged
        out.append(.bridge(agentLeg))
    }

    /// The attended transfer: the caller is joined to the consulted party and the agent's leg
    /// ends; the record keeps one file and one timeline for the call, both agents in it.
    mutating func consultComplete(agentGone: Bool = false, byRefer: Bool = false, at time: CallTime, into out: inout [CallAction]) {
        guard let c = consult, c.answered, let target = c.leg, let agentLeg = connected, let from = leg(agentLeg)?.agent,
            let party = leg(target), party.state == .answered
        else { return }
        let description = c.target.description
        let wasConference = phase == .conference
        if let id = c.acdCall {
            out.append(.tellACD(.callAttendedTransfer(call: acdCall, consult: id)))
            acdCall = id
            acdHasCall = true
        } else {
            out.append(.tellACD(.callTransferred(call: acdCall, to: description)))
            acdHasCall = false
            facts.transferredOut = true
        }
        facts.transfers.append("attended:\(description)")
        out.append(.emit("call.transferred", ["from_agent": .string(from), "to": .string(description), "attended": .bool(true)]))
        if !agentGone { letGo(agentLeg, byRefer: byRefer, into: &out) }
        if let line = c.line { release(line, into: &out) }
        consult = nil
        connected = target
        if let a = party.agent {
            agent = a
            phase = .bridged
        } else {
            phase = .transferred
        }
        update(target) { $0.held = false }
        if wasConference { out.append(.unmix) }
        out.append(.bridge(target))
        out.append(.startRecording(target))
        out.append(.log(.info, "call transferred after consultation", ["agent.id": from, "transfer.to": description]))
    }

    /// Three-way (FEATURES A4): from a consultation whose party answered, the caller joins the
    /// agent and the party consulted in the call's conference. Afterwards the agent leaving hands
    /// the caller over, the party consulted leaving (or `return`) leaves caller and agent, and
    /// `transfer --complete` lets the agent go.
    mutating func startConference(into out: inout [CallAction]) {
        guard phase == .consulting, let c = consult, c.answered, let agentLeg = connected, let party = c.leg else { return }
        phase = .conference
        facts.transfers.append("conference:\(c.target.description)")
        out.append(.mix([.caller, c.line ?? agentLeg, party]))
        out.append(.recordParty(party))
        out.append(.emit("call.conference", ["agent": .string(agent ?? ""), "with": .string(c.target.description)]))
        out.append(.log(.info, "conference of three", ["consult.target": c.target.description]))
    }

    /// Whether the agent may make a conference now.
    public var canConference: Bool { phase == .consulting && consult?.answered == true }
}
