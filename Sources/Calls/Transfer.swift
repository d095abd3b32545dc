import ACD
import Logging
import Media
public import SIP
public import SIPMessage

/// Blind transfer of a caller who is talking to an agent, asked for by the agent's phone (REFER)
/// or by an operator (the control socket). The target is a skill group: the ACD logs TRANSFER and
/// sends the agent to wrap-up, the agent's leg ends, and the caller waits in the new group with
/// music on hold, keeping the same call id in the queue log.
extension InboundCallService {
    public struct TransferError: Error, CustomStringConvertible, Sendable {
        public var description: String
        public init(_ d: String) { description = d }
    }

    /// Transfers the caller with session id `callID` (as `acdctl calls` shows it) to `group`.
    public func transfer(call callID: UInt64, toGroup group: String) -> Result<Void, TransferError> {
        guard let call = calls[callID] else { return .failure(TransferError("no call \(callID)")) }
        guard let legID = call.connectedLeg, let leg = agentLegs[legID] else {
            return .failure(TransferError("call \(callID) is not talking to an agent"))
        }
        guard knownGroups.contains(group) else { return .failure(TransferError("no group '\(group)'")) }
        blindTransfer(call, from: leg, toGroup: group)
        leg.session.hangUp()
        return .success(())
    }

    /// The groups a caller may be transferred to: every configured group.
    var knownGroups: Set<String> { Set(policy.groups) }

    func blindTransfer(_ call: ActiveCall, from leg: AgentLeg, toGroup group: String) {
        let unique = call.summary.uniqueID
        acd?(.callTransferred(call: unique, to: "group:\(group)"))
        leg.withdrawn = true
        call.connectedLeg = nil
        call.summary.agent = nil
        call.summary.queue = group
        call.summary.state = "queued"
        if let lease = call.lease { onMedia(lease) { RTPBridge.split($0) } }
        startMusic(call)
        acd?(.callArrived(CallArrival(call: unique, group: group, callerID: call.summary.caller)))
        logger.info("call transferred", metadata: ["call.id": "\(call.session.id)", "agent.id": "\(leg.agent)", "transfer.to": "group:\(group)"])
    }

    /// REFER from an agent's phone: `sip:GROUP@...` sends the caller to that group.
    public func refer(_ session: InviteSession, to target: SIPURI) -> SIPStatus? {
        guard let leg = agentLegs[session.id], leg.answered, let call = calls[leg.caller], call.connectedLeg == session.id else {
            logger.notice("REFER refused: not an agent's connected call", metadata: ["sip.call_id": "\(session.callID)"])
            return .forbidden
        }
        let name = target.user.map { percentDecoded($0) } ?? ""
        guard knownGroups.contains(name) else {
            logger.notice("REFER refused: the target is not a group", metadata: ["call.id": "\(call.session.id)", "transfer.to": "\(target)"])
            return .notFound
        }
        blindTransfer(call, from: leg, toGroup: name)
        // The caller is ours again: the transfer has succeeded as far as the agent is concerned.
        _ = scheduler.schedule(after: .milliseconds(0)) { [weak session] in
            session?.notifyRefer(status: .ok, final: true)
            session?.hangUp()
        }
        return nil
    }
}
