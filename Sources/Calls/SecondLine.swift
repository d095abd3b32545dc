import Logging
import Media
import SIP
import SIPMessage

/// What a second-line INVITE carries until the machine takes it.
struct PendingLine {
    let session: InviteSession
    let lease: RTPPortLease
    let answer: SDPSession
    let audio: NegotiatedAudio
}

/// The agent's phone on its second line (FEATURES A4, RFC 5589 §7): it holds the caller, dials a
/// group, an agent or a number, talks to them, then sends REFER with Replaces naming that second
/// call on the first. The second call is a consultation of the first, with the line as the
/// agent's side of it, and the REFER is the attended transfer.
extension InboundCallService {
    /// The call agent `agent` is on, if its phone may consult from a second line now.
    func lineCall(for agent: String) -> ActiveCall? {
        calls.values.first { call in
            guard call.machine.agent == agent, call.machine.canConsultFromLine, let leg = call.machine.transferableLeg else { return false }
            return call.machine.leg(leg)?.agent == agent
        }
    }

    /// Checks the target as `acdctl consult` does, finds a port beside the caller's, answers
    /// the line and starts the consultation; a refused target is answered with its status.
    func openLine(_ session: InviteSession, for call: ActiveCall, target: TransferTarget, meta: Logger.Metadata) {
        var meta = meta
        meta["call.id"] = "\(call.session.id)"
        meta["consult.target"] = "\(target)"
        let consultTarget: ConsultTarget
        switch checkedConsultTarget(target, call) {
        case .success(let t): consultTarget = t
        case .failure(let why):
            logger.notice("second line refused", metadata: meta.merging(["call.reason": "\(why)"]) { $1 })
            session.reject(.busyHere, reason: String(why.description.prefix(100)))
            return
        }
        guard let callerLease = call.lease else { return session.reject(.temporarilyUnavailable) }
        let callID = call.session.id
        ports.allocate(near: callerLease).hop(to: loop).assumeIsolated().whenComplete { [weak self] result in
            guard let self else { return }
            guard case .success(let lease) = result else {
                self.logger.warning("no RTP port for the second line", metadata: meta)
                return session.reject(.serviceUnavailable)
            }
            guard let call = self.calls[callID], call.machine.canConsultFromLine else {
                lease.loop.execute { lease.release() }
                return session.reject(.busyHere, reason: "The call is no longer held or talking")
            }
            let answer: SDPSession
            let audio: NegotiatedAudio
            do {
                guard let offer = session.remoteSDP else { throw SDPNegotiationError.noAudio }
                (answer, audio) = try SDPNegotiation.answer(
                    offer, capabilities: self.policy.media, localPort: lease.rtpPort, sessionID: String(session.id), sessionVersion: 1)
            } catch {
                lease.loop.execute { lease.release() }
                self.logger.notice("second line refused", metadata: meta.merging(["sdp.error": "\(error)"]) { $1 })
                return session.reject(.notAcceptableHere)
            }
            call.pendingLine = PendingLine(session: session, lease: lease, answer: answer, audio: audio)
            self.deliver(.lineConsult(consultTarget), to: call)
            if let pending = call.pendingLine {
                // The machine did not take it (the call changed meanwhile).
                call.pendingLine = nil
                let lease = pending.lease
                lease.loop.execute { lease.release() }
                return session.reject(.busyHere)
            }
            if let id = call.machine.consultACDCall {
                self.byUniqueID[id] = callID
                call.consultIDs.append(id)
            }
            self.logger.info("agent consults on the second line", metadata: meta)
        }
    }

    /// `.acceptLine`: the line becomes a leg of the call and is answered.
    func acceptLine(_ call: ActiveCall, as leg: LegID) {
        guard let pending = call.pendingLine else { return }
        call.pendingLine = nil
        agentLegs[pending.session.id] = AgentLeg(session: pending.session, caller: call.session.id, leg: leg, lease: pending.lease)
        call.legSessions[leg] = pending.session.id
        apply(pending.audio, inbandDTMF: false, to: pending.lease)
        pending.session.answer(pending.answer)
    }

    /// REFER with Replaces on the agent's first line: the attended transfer to the party on the
    /// second. Returns nil when accepted (the machine tells the phone by NOTIFY), else the status.
    func referReplacing(_ session: InviteSession, replaces: SIPReplaces, call: ActiveCall, agentLeg: AgentLeg) -> SIPStatus? {
        let named = sessions.dialogs[DialogID(callID: replaces.callID, localTag: replaces.toTag, remoteTag: replaces.fromTag)]
        guard let line = named.flatMap({ agentLegs[$0.id] }), line.caller == call.session.id, call.machine.consult?.line == line.leg else {
            // RFC 3891 §3's 481, reported as the outcome of the request the REFER asked for
            // (RFC 3515 §2.4.5): the REFER's own dialog is fine and the call goes on.
            logger.notice(
                "REFER with Replaces names no second line of this call", metadata: ["call.id": "\(call.session.id)", "sip.replaces": "\(replaces.callID)"])
            _ = scheduler.schedule(after: .milliseconds(0)) { [weak session] in session?.notifyRefer(status: .callDoesNotExist, final: true) }
            return nil
        }
        guard call.machine.consult?.answered == true else {
            logger.notice("REFER with Replaces refused: the party consulted has not answered", metadata: ["call.id": "\(call.session.id)"])
            return .forbidden
        }
        logger.info("attended transfer from the agent's phone", metadata: ["call.id": "\(call.session.id)", "agent.leg": "\(agentLeg.leg)"])
        deliver(.consultCompleteByRefer, to: call)
        return nil
    }
}
