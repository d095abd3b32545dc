import ACD
import Logging
import Media
public import SIP
public import SIPMessage

/// Blind transfer of a caller who is talking to an agent (FEATURES A4), asked for by the agent's
/// phone (REFER) or by an operator (the control socket). Here the target is checked against the
/// configuration; what follows (TRANSFER for the ACD, the agent's leg ending, the caller waiting in
/// a group, for an agent, or hearing ringback while a number is called) is the call machine's
/// (`CallSession.transfer`).
extension InboundCallService {
    public struct TransferError: Error, CustomStringConvertible, Sendable, Equatable {
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
        guard call.machine.transferableLeg != nil else { return .failure(TransferError("call \(callID) is not talking to an agent")) }
        if let problem = check(target) { return .failure(problem) }
        if let problem = loggedOut(target) { return .failure(problem) }
        deliver(.transfer(destination(target, call), byRefer: false), to: call)
        return .success(())
    }

    /// A caller sent to wait for an agent who is logged out would wait for nobody.
    private func loggedOut(_ target: TransferTarget) -> TransferError? {
        guard case .agent(let a) = target, agentLoggedIn?(a) == false else { return nil }
        return TransferError("agent \(a) is logged out")
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

    /// A checked target as the machine takes it: an agent is waited for in the group the caller
    /// was in, when the agent serves it, else in the agent's first.
    private func destination(_ target: TransferTarget, _ call: ActiveCall) -> TransferDestination {
        switch target {
        case .group(let g): return .group(g)
        case .number(let n): return .number(n)
        case .agent(let a):
            let groups = policy.agentGroups[a] ?? []
            return .agent(a, group: call.machine.queue.flatMap { groups.contains($0) ? $0 : nil } ?? groups[0])
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

    /// REFER from an agent's phone: `sip:GROUP@…`, `sip:AGENT@…` or `sip:NUMBER@…`.
    public func refer(_ session: InviteSession, to target: SIPURI) -> SIPStatus? {
        let replaces: SIPReplaces?
        do {
            replaces = try SIPReplaces.inReferTarget(target)
        } catch {
            logger.notice("REFER refused: its Replaces does not parse", metadata: ["sip.call_id": "\(session.callID)", "sip.error": "\(error)"])
            return .badRequest
        }
        if let replaces {
            // Attended: the first line's REFER during a consultation on the second.
            guard let agentLeg = agentLegs[session.id], let call = calls[agentLeg.caller], call.machine.connected == agentLeg.leg,
                call.machine.consult != nil
            else {
                logger.notice("REFER with Replaces refused: not an agent's call in a consultation", metadata: ["sip.call_id": "\(session.callID)"])
                return .forbidden
            }
            return referReplacing(session, replaces: replaces, call: call, agentLeg: agentLeg)
        }
        guard let agentLeg = agentLegs[session.id], let call = calls[agentLeg.caller], call.machine.transferableLeg == agentLeg.leg else {
            logger.notice("REFER refused: not an agent's connected call", metadata: ["sip.call_id": "\(session.callID)"])
            return .forbidden
        }
        if target.user.map({ percentDecoded($0) }) == Self.surveyTarget, policy.groups.contains(Self.surveyTarget) == false {
            // The agent's own way to start the survey (C6): a blind transfer to `survey`.
            guard let agent = call.machine.agent, case .success = checkSurveyPrompts() else {
                logger.notice("REFER to the survey refused: its prompts are not installed", metadata: ["call.id": "\(call.session.id)"])
                return .notFound
            }
            logger.info("caller sent to the survey by the agent's phone", metadata: ["call.id": "\(call.session.id)", "agent.id": "\(agent)"])
            deliver(.survey(by: "agent", byRefer: true), to: call)
            return nil
        }
        guard let target = transferTarget(target) else {
            logger.notice("REFER refused: the target is no group, agent or number", metadata: ["call.id": "\(call.session.id)", "transfer.to": "\(target)"])
            return .notFound
        }
        if let problem = loggedOut(target) {
            logger.notice("REFER refused: \(problem)", metadata: ["call.id": "\(call.session.id)", "transfer.to": "\(target)"])
            return .temporarilyUnavailable
        }
        deliver(.transfer(destination(target, call), byRefer: true), to: call)
        return nil
    }

    /// An operator ends the call (FEATURES O3): BYE to the caller and every other leg, the ACD
    /// hears the caller went, and the record says who released it.
    public func release(call callID: UInt64, by who: String) -> Result<Void, TransferError> {
        guard let call = calls[callID], !call.machine.recordWritten else { return .failure(TransferError("no call \(callID)")) }
        emit(call, "call.released", ["by": .string(who), "state": .string(call.machine.displayState)])
        observer?("released", call.summary, nil)
        logger.notice("call released by an operator", metadata: ["call.id": "\(callID)", "call.released_by": "\(who)", "call.state": "\(call.machine.displayState)"])
        deliver(.release(cause: "released by operator", by: who), to: call)
        return .success(())
    }

    /// The agent's conversation ends and the caller scores it (C6), whatever their group says:
    /// the agent's leg is hung up and goes to wrap-up.
    public func survey(call callID: UInt64, by who: String) -> Result<String, TransferError> {
        guard let call = calls[callID], !call.machine.recordWritten else { return .failure(TransferError("no call \(callID)")) }
        guard let leg = call.machine.transferableLeg, let agent = call.machine.leg(leg)?.agent else {
            return .failure(TransferError("call \(callID) is not talking to an agent (\(call.machine.displayState))"))
        }
        if case .failure(let e) = checkSurveyPrompts() { return .failure(e) }
        logger.info("caller sent to the survey", metadata: ["call.id": "\(callID)", "agent.id": "\(agent)", "call.survey_by": "\(who)"])
        deliver(.survey(by: who), to: call)
        return .success(agent)
    }

    /// The name an agent's phone transfers to (REFER) to start the survey, unless a group has it.
    static let surveyTarget = "survey"

    private func checkSurveyPrompts() -> Result<Void, TransferError> {
        guard let store = policy.prompts, store.prompt("survey-question", language: policy.language) != nil, store.prompt("agent-was", language: policy.language) != nil else {
            return .failure(TransferError("the survey's prompts (agent-was, survey-question) are not installed for \(policy.language)"))
        }
        return .success(())
    }

    /// Keys to the caller (FEATURES A4: an agent steering a far IVR); returns how they went.
    public func sendDigits(call callID: UInt64, _ digits: String) -> Result<String, TransferError> {
        guard let call = calls[callID] else { return .failure(TransferError("no call \(callID)")) }
        guard !digits.isEmpty, digits.count <= 32, digits.allSatisfy({ TelephoneEvent.code($0) != nil }) else {
            return .failure(TransferError("'\(digits)' is not 1 to 32 keys of 0-9 * # A-D"))
        }
        guard call.machine.canSendDigits else { return .failure(TransferError("call \(callID) is not talking to anyone (\(call.machine.displayState))")) }
        deliver(.sendDigits(digits), to: call)
        return .success(digitsAsEvents(call) ? "rfc4733" : "inband")
    }

    /// The agent on call `callID` puts the caller on hold and calls `target`: an agent (who must be
    /// ready), a group (routed by the ACD ahead of its callers) or a number through the trunk.
    public func consult(call callID: UInt64, _ target: TransferTarget) -> Result<String, TransferError> {
        guard let call = calls[callID] else { return .failure(TransferError("no call \(callID)")) }
        guard call.machine.canConsult else {
            let why = call.machine.consult != nil ? "is consulting already" : "is not talking to an agent (\(call.machine.displayState))"
            return .failure(TransferError("call \(callID) \(why)"))
        }
        let consultTarget: ConsultTarget
        switch checkedConsultTarget(target, call) {
        case .success(let t): consultTarget = t
        case .failure(let e): return .failure(e)
        }
        deliver(.consult(consultTarget), to: call)
        if let id = call.machine.consultACDCall {
            byUniqueID[id] = callID
            call.consultIDs.append(id)
        }
        return .success(consultTarget.description)
    }

    /// A consult target as the machine takes it, once it exists and (an agent) is ready.
    func checkedConsultTarget(_ target: TransferTarget, _ call: ActiveCall) -> Result<ConsultTarget, TransferError> {
        if let problem = check(target) { return .failure(problem) }
        switch target {
        case .group(let g): return .success(.group(g))
        case .number(let n): return .success(.number(n))
        case .agent(let a):
            guard a != call.machine.agent else { return .failure(TransferError("agent \(a) is the one on the call")) }
            guard agentReady?(a) == true else { return .failure(TransferError("agent \(a) is not ready")) }
            let groups = policy.agentGroups[a] ?? []
            return .success(.agent(a, group: call.machine.queue.flatMap { groups.contains($0) ? $0 : nil } ?? groups[0]))
        }
    }

    /// Hands the caller to the party consulted (`transfer --complete`).
    public func completeConsult(call callID: UInt64) -> Result<String, TransferError> {
        guard let call = calls[callID] else { return .failure(TransferError("no call \(callID)")) }
        guard let c = call.machine.consult else { return .failure(TransferError("call \(callID) is not consulting")) }
        guard c.answered else { return .failure(TransferError("the consulted \(c.target) has not answered")) }
        deliver(.consultComplete, to: call)
        return .success(c.target.description)
    }

    /// Drops the consulted party and takes the caller back (`return`).
    public func returnFromConsult(call callID: UInt64) -> Result<Void, TransferError> {
        guard let call = calls[callID] else { return .failure(TransferError("no call \(callID)")) }
        guard call.machine.consult != nil else { return .failure(TransferError("call \(callID) is not consulting")) }
        deliver(.consultReturn, to: call)
        return .success(())
    }

    /// The caller, the agent and the party consulted together (`conference`).
    public func conference(call callID: UInt64) -> Result<String, TransferError> {
        guard let call = calls[callID] else { return .failure(TransferError("no call \(callID)")) }
        guard let c = call.machine.consult else { return .failure(TransferError("call \(callID) is not consulting")) }
        guard call.machine.canConference else {
            return .failure(TransferError(call.machine.phase == .conference ? "call \(callID) is in a conference already" : "the consulted \(c.target) has not answered"))
        }
        deliver(.conference, to: call)
        return .success(c.target.description)
    }
}
