import ACD
import Logging
import Media
public import SIP
public import SIPMessage

/// Blind transfer of a caller who is talking to an agent (FEATURES A4), asked for by the agent's
/// phone (REFER) or by an operator (the control socket). The ACD logs TRANSFER and sends the
/// agent to wrap-up, and the agent's leg ends. Then, by target:
/// - a group: the caller waits there with music on hold, keeping the same call id;
/// - an agent: the caller waits in a group of that agent's for that agent only;
/// - a number: the caller hears ringback while the number is called through the trunk, and is
///   bridged to it; the call has left the ACD.
extension InboundCallService {
    public struct TransferError: Error, CustomStringConvertible, Sendable {
        public var description: String
        public init(_ d: String) { description = d }
    }

    public enum TransferTarget: Sendable, Equatable, CustomStringConvertible {
        case group(String)
        case agent(String)
        case number(String)

        public var description: String {
            switch self {
            case .group(let g): "group:\(g)"
            case .agent(let a): "agent:\(a)"
            case .number(let n): "number:\(n)"
            }
        }
    }

    /// Transfers the caller with session id `callID` (as `acdctl calls` shows it).
    public func transfer(call callID: UInt64, to target: TransferTarget) -> Result<Void, TransferError> {
        guard let call = calls[callID] else { return .failure(TransferError("no call \(callID)")) }
        guard let legID = call.connectedLeg, let leg = agentLegs[legID], !leg.external else {
            return .failure(TransferError("call \(callID) is not talking to an agent"))
        }
        if let problem = check(target) { return .failure(problem) }
        blindTransfer(call, from: leg, to: target)
        leg.session.hangUp()
        return .success(())
    }

    private func check(_ target: TransferTarget) -> TransferError? {
        switch target {
        case .group(let g): return policy.groups.contains(g) ? nil : TransferError("no group '\(g)'")
        case .agent(let a): return (policy.agentGroups[a] ?? []).isEmpty ? TransferError("no agent '\(a)' in any group") : nil
        case .number(let n):
            guard !n.isEmpty, n.allSatisfy({ $0.isASCII && ($0.isNumber || "+*#".contains($0)) }) else { return TransferError("'\(n)' is not a number") }
            return policy.trunks.contains { $0.outbound != nil } ? nil : TransferError("no trunk has an outbound address for external numbers")
        }
    }

    /// What a REFER's target names: a group, an agent, or digits (a number).
    func transferTarget(_ uri: SIPURI) -> TransferTarget? {
        let name = uri.user.map { percentDecoded($0) } ?? ""
        if policy.groups.contains(name) { return .group(name) }
        if !(policy.agentGroups[name] ?? []).isEmpty { return .agent(name) }
        if check(.number(name)) == nil { return .number(name) }
        return nil
    }

    func blindTransfer(_ call: ActiveCall, from leg: AgentLeg, to target: TransferTarget) {
        let unique = call.summary.uniqueID
        acd?(.callTransferred(call: unique, to: target.description))
        call.record.transfers.append(target.description)
        emit(call, "call.transferred", ["from_agent": .string(leg.agent), "to": .string(target.description)])
        bridgeEnded(call)
        leg.withdrawn = true
        call.connectedLeg = nil
        call.summary.agent = nil
        if let lease = call.lease { onMedia(lease) { RTPBridge.split($0) } }
        logger.info("call transferred", metadata: ["call.id": "\(call.session.id)", "agent.id": "\(leg.agent)", "transfer.to": "\(target)"])
        switch target {
        case .group(let group):
            requeue(call, group: group, agent: nil)
        case .agent(let agent):
            // The group the caller was in, when the agent serves it; else the agent's first.
            let groups = policy.agentGroups[agent] ?? []
            let group = call.summary.queue.flatMap { groups.contains($0) ? $0 : nil } ?? groups[0]
            requeue(call, group: group, agent: agent)
        case .number(let number):
            call.inACD = false
            byUniqueID[unique] = nil
            call.summary.state = "transferring"
            let plan = policy.tones
            if let lease = call.lease { onMedia(lease) { $0.play(TonePlayer(.ringback, plan: plan)) } }
            dialNumber(call, number)
        }
    }

    private func requeue(_ call: ActiveCall, group: String, agent: String?) {
        call.summary.queue = group
        call.summary.state = "queued"
        startMusic(call)
        acd?(.callArrived(CallArrival(call: call.summary.uniqueID, group: group, callerID: call.summary.caller, agent: agent)))
    }

    /// REFER from an agent's phone: `sip:GROUP@…`, `sip:AGENT@…` or `sip:NUMBER@…`.
    public func refer(_ session: InviteSession, to target: SIPURI) -> SIPStatus? {
        guard let leg = agentLegs[session.id], leg.answered, !leg.external, let call = calls[leg.caller], call.connectedLeg == session.id else {
            logger.notice("REFER refused: not an agent's connected call", metadata: ["sip.call_id": "\(session.callID)"])
            return .forbidden
        }
        guard let where_ = transferTarget(target) else {
            logger.notice("REFER refused: the target is no group, agent or number", metadata: ["call.id": "\(call.session.id)", "transfer.to": "\(target)"])
            return .notFound
        }
        blindTransfer(call, from: leg, to: where_)
        // The caller is ours again: the transfer has succeeded as far as the agent is concerned.
        _ = scheduler.schedule(after: .milliseconds(0)) { [weak session] in
            session?.notifyRefer(status: .ok, final: true)
            session?.hangUp()
        }
        return nil
    }
}
