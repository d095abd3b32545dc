import ACD
import JSON

/// The B2BUA's other legs: the ACD's offers to agents' phones, forwarding, the answer and the
/// bridge, hold from the agent's phone, and blind transfer.
///
/// Who ends a leg decides what the ACD hears: a phone that refuses or fails is `agentDeclined`
/// (the ACD rings the next agent), a connected agent who hangs up is `agentHungUp`; a leg we end
/// ourselves (`releasing`: RONA, the caller left, another agent answered) reports nothing, since
/// the ACD caused it.
extension CallSession {
    static let busyStatuses: Set<Int> = [486, 600, 603]

    /// The agent's leg an operator or the phone may transfer the caller away from.
    public var transferableLeg: LegID? {
        guard phase == .bridged || phase == .held, let id = connected, let leg = leg(id), leg.agent != nil, leg.state == .answered else { return nil }
        return id
    }

    mutating func offer(_ agent: String, device: String, into out: inout [CallAction]) {
        // The caller may have left between the ACD's decision and now; it hears of that anyway.
        guard acdHasCall else { return }
        if let always = rules.forwarding[agent]?.always {
            out.append(.log(.info, "agent forwards every call", ["agent.id": agent, "agent.forward_to": always]))
            return dial(.agent(agent), device: always, forwarded: true, into: &out)
        }
        dial(.agent(agent), device: device, forwarded: false, into: &out)
    }

    mutating func dial(_ role: CallLeg.Role, device: String, forwarded: Bool, into out: inout [CallAction]) {
        let id = newLeg(role, forwarded: forwarded)
        if case .agent(let a) = role {
            agent = a
            if connected == nil { phase = .ringing }
        }
        out.append(.dial(id, device: device))
    }

    mutating func legRinging(_ id: LegID, into out: inout [CallAction]) {
        guard let leg = leg(id), leg.state == .dialling else { return }
        update(id) { $0.state = .ringing }
        guard let a = leg.agent else { return }
        if !leg.forwarded, !leg.consult, let rule = rules.forwarding[a], rule.noAnswer != nil {
            out.append(.arm(.noAnswer(id), after: .seconds(Int64(rule.noAnswerSeconds))))
        }
        out.append(.screenPop(id))
    }

    /// A leg that could not even be started: the ACD offers the call to someone else, or a
    /// transferred caller is told and let go.
    mutating func legFailed(_ id: LegID, reason: String, at time: CallTime, into out: inout [CallAction]) {
        guard let leg = leg(id), leg.isOffer else { return }
        if monitor?.leg == id {
            out.append(.log(.warning, "supervisor's phone cannot be rung", ["monitor.device": monitor?.device ?? "", "monitor.reason": reason]))
            return monitorLegEnded(id, reason: reason, into: &out)
        }
        update(id) { $0.state = .ended }
        out.append(.log(.warning, "leg cannot be started", ["agent.id": leg.agent ?? leg.number ?? "", "agent.reason": reason]))
        if leg.consult { return consultDeclined(leg, into: &out) }
        if direction == .outbound, leg.number != nil { return numberNotReached(outcome: "failed", cause: "call failed: \(reason)", into: &out) }
        if leg.number != nil { return farewell(Self.allBusy, cause: "transfer target unreachable", into: &out) }
        if let a = leg.agent { out.append(.tellACD(.agentDeclined(agent: a, call: acdCall))) }
        offerGone()
    }

    /// The ACD stops ringing `agent` (RONA, the caller left, another agent answered).
    mutating func withdraw(_ agent: String, into out: inout [CallAction]) {
        for leg in legs where leg.agent == agent && leg.isOffer { release(leg.id, into: &out) }
        offerGone()
    }

    /// No agent rings any more: back to waiting, unless someone answered.
    mutating func offerGone() {
        guard connected == nil, phase == .ringing, !legs.contains(where: { $0.agent != nil && $0.isOffer }) else { return }
        phase = .queued
        agent = nil
    }

    mutating func legAnswered(_ id: LegID, usable: Bool, at time: CallTime, into out: inout [CallAction]) {
        guard let leg = leg(id) else { return }
        if leg.consult { return consultAnswered(leg, usable: usable, at: time, into: &out) }
        if monitor?.leg == id { return monitorAnswered(id, usable: usable, at: time, into: &out) }
        guard leg.isOffer, connected == nil else {
            // Withdrawn, or another leg answered first: a 200 that crossed our CANCEL gets a BYE.
            if leg.state == .releasing { out.append(.hangUpLeg(id)) } else { release(id, into: &out) }
            return
        }
        guard usable else {
            // Hung up as it is; when it ends the ACD hears a decline, as from a phone that refused.
            out.append(.log(.warning, "agent's phone answered with unusable SDP; hanging it up", ["agent.id": leg.agent ?? ""]))
            out.append(.hangUpLeg(id))
            return
        }
        update(id) { $0.state = .answered }
        out.append(.disarm(.noAnswer(id)))
        connected = id
        // The number an agent's own call dials is the conversation, not a transfer away from it.
        let external = leg.number != nil && direction == .inbound
        if let a = leg.agent { agent = a }
        phase = external ? .transferred : .bridged
        facts.connectedAt = time.wall
        if external { facts.transferredOut = true } else { facts.firstConnectedAt = facts.firstConnectedAt ?? time.wall }
        if direction == .outbound { facts.targetAnsweredAt = facts.targetAnsweredAt ?? time.wall }
        playback = nil
        out.append(.bridge(id))
        out.append(.startRecording(id))
        out.append(
            .emit(
                "call.answered",
                [
                    "agent": .string(leg.agent ?? ""), "number": leg.number.map { .string($0) } ?? .null, "queue": queue.map { .string($0) } ?? .null,
                    "waited_seconds": .number(Double(Int(facts.queuedAt.map { time.wall - $0 } ?? 0))),
                ]))
        watch(id, at: time, into: &out)
        if let a = leg.agent { out.append(.confirmAnswer(agent: a, call: acdCall, leg: id)) }
    }

    /// The ACD had already moved on (a ring timeout crossed the answer): the agent's leg ends and
    /// the caller goes back to the music, still in the queue.
    mutating func answerRefused(_ id: LegID, into out: inout [CallAction]) {
        out.append(.log(.notice, "ACD refused the agent's answer; back to the queue", ["agent.leg": "\(id)"]))
        release(id, into: &out)
        if leg(id)?.consult == true {
            // The consult call stays with the ACD, which offers it again (or the agent returns).
            consult?.answered = false
            consult?.leg = nil
            return
        }
        guard connected == id else { return }
        connected = nil
        facts.connectedAt = nil
        if facts.talkSeconds == 0 { facts.firstConnectedAt = nil }
        agent = nil
        phase = .queued
        out.append(.split)
        out.append(.playMusic)
    }

    mutating func legEnded(_ id: LegID, _ end: LegEnd, at time: CallTime, into out: inout [CallAction]) {
        guard let leg = leg(id) else { return }
        if let c = consult, c.line == id, leg.state != .ended {
            // The agent hung up the second line: the consult is over, and the caller waits on the
            // first (held by the phone, or talking again if the phone had not held).
            update(id) { $0.state = .ended; $0.watch = nil }
            out.append(.log(.info, "agent hung up the second line; the consult ends", ["consult.target": c.target.description]))
            return endConsult(into: &out)
        }
        if monitor?.leg == id {
            let reason: String
            switch end {
            case .refused(let status): reason = "refused (\(status))"
            case .ended(let why): reason = leg.state == .answered ? "supervisor hung up" : why
            }
            return monitorLegEnded(id, reason: reason, into: &out)
        }
        update(id) {
            $0.state = .ended
            $0.watch = nil
        }
        out.append(.disarm(.noAnswer(id)))
        if leg.consult, connected != id { return consultLegEnded(leg, end, into: &out) }
        switch leg.state {
        case .releasing, .ended:
            return
        case .answered:
            // The agent hung up while consulting: an answered consult takes the caller (the usual
            // attended transfer by hanging up), which the ACD logs instead of the agent's hang-up.
            if connected == id, consult?.answered == true { return consultComplete(agentGone: true, at: time, into: &out) }
            if let a = leg.agent { out.append(.tellACD(.agentHungUp(agent: a))) }
            guard connected == id else { return }
            if direction == .outbound {
                // The ACD still has the call: the hang-up below tells it, and the agent is free.
                connected = nil
                return hangUp(cause: "customer hung up", by: "customer", at: time, into: &out)
            }
            // One still ringing is dropped with the call.
            if consult != nil { endConsult(retrieve: false, into: &out) }
            connected = nil
            acdHasCall = false
            if leg.number == nil, let a = leg.agent, takesSurvey(afterAgent: a) { return startSurvey(agent: a, cause: "agent hung up", by: "agent", at: time, into: &out) }
            hangUp(cause: leg.number != nil ? "transfer target hung up" : "agent hung up", by: "agent", at: time, into: &out)
        case .dialling, .ringing:
            if direction == .outbound, leg.number != nil {
                out.append(.disarm(.noAnswer(id)))
                let (outcome, cause) = Self.notReached(end)
                return numberNotReached(outcome: outcome, cause: cause, into: &out)
            }
            if let n = leg.number {
                out.append(.log(.info, "transfer target did not answer", ["transfer.to": "number:\(n)", "call.reason": "\(end)"]))
                return farewell(Self.allBusy, cause: "transfer target unreachable", into: &out)
            }
            guard let a = leg.agent else { return }
            if case .refused(let status) = end, Self.busyStatuses.contains(status), !leg.forwarded, let target = rules.forwarding[a]?.busy {
                // The ACD still thinks the agent rings; the group's ring timeout covers the whole.
                out.append(.log(.info, "forwarding the agent's call", ["agent.id": a, "agent.forward_to": target, "agent.forward_reason": "busy"]))
                return dial(.agent(a), device: target, forwarded: true, into: &out)
            }
            out.append(.tellACD(.agentDeclined(agent: a, call: acdCall)))
            offerGone()
        }
    }

    /// Forwarding on no answer: the phone's leg ends without a word to the ACD and the forward
    /// target is rung instead.
    mutating func noAnswer(_ id: LegID, at time: CallTime, into out: inout [CallAction]) {
        if direction == .outbound { return outboundNoAnswer(id, at: time, into: &out) }
        guard let leg = leg(id), leg.isOffer, let a = leg.agent, let target = rules.forwarding[a]?.noAnswer else { return }
        out.append(.log(.info, "forwarding the agent's call", ["agent.id": a, "agent.forward_to": target, "agent.forward_reason": "no answer"]))
        release(id, into: &out)
        dial(.agent(a), device: target, forwarded: true, into: &out)
    }

    /// Hold from the connected leg's phone takes the caller out of the bridge, to music;
    /// retrieve joins the two again.
    mutating func legHold(_ id: LegID, _ held: Bool, into out: inout [CallAction]) {
        guard let leg = leg(id), leg.state == .answered, leg.held != held else { return }
        update(id) { $0.held = held }
        // While consulting the caller holds anyway; the agent's own hold changes nothing here.
        guard connected == id, phase != .consulting, phase != .conference else { return }
        if held {
            phase = .held
            out.append(.split)
            out.append(.playMusic)
        } else {
            phase = leg.number != nil && direction == .inbound ? .transferred : .bridged
            out.append(.bridge(id))
        }
        out.append(.log(.info, held ? "agent holds the caller" : "agent retrieves the caller", ["agent.id": leg.agent ?? leg.number ?? ""]))
    }

    /// Blind transfer (FEATURES A4): the ACD logs TRANSFER and sends the agent to wrap-up, the
    /// agent's leg ends, and the caller waits in the group (for the agent, when one is named) or
    /// hears ringback while the number is called.
    mutating func transfer(to destination: TransferDestination, byRefer: Bool, at time: CallTime, into out: inout [CallAction]) {
        guard let id = transferableLeg, let from = leg(id)?.agent else { return }
        out.append(.tellACD(.callTransferred(call: acdCall, to: destination.description)))
        facts.transfers.append(destination.description)
        out.append(.emit("call.transferred", ["from_agent": .string(from), "to": .string(destination.description)]))
        endTalk(at: time)
        letGo(id, byRefer: byRefer, into: &out)
        connected = nil
        agent = nil
        out.append(.split)
        out.append(.log(.info, "call transferred", ["agent.id": from, "transfer.to": destination.description]))
        switch destination {
        case .group(let group): requeue(group, agent: nil, into: &out)
        case .agent(let a, let group): requeue(group, agent: a, into: &out)
        case .number(let n):
            acdHasCall = false
            phase = .transferring
            out.append(.playRingback)
            dial(.number(n), device: "tel:\(n)", forwarded: true, into: &out)
        }
    }

    /// Hangs up the agent's leg from our side; when its phone asked (REFER), the phone hears
    /// first that the REFER succeeded (NOTIFY 200), then the BYE.
    mutating func letGo(_ id: LegID, byRefer: Bool, into out: inout [CallAction]) {
        guard byRefer else { return release(id, into: &out) }
        update(id) { $0.state = .releasing }
        out.append(.disarm(.noAnswer(id)))
        out.append(.completeRefer(id))
    }

    private mutating func requeue(_ group: String, agent: String?, into out: inout [CallAction]) {
        acdCall = uniqueID
        queue = group
        phase = .queued
        out.append(.playMusic)
        out.append(.requeue(group: group, agent: agent))
    }
}
