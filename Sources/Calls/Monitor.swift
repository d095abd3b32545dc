import Logging
import Media

/// Supervisors on agents' calls (FEATURES O3): `acdctl monitor` and `monitor-mode` reach the
/// call's machine through here, and the mix the machine asks for is made on the caller's loop,
/// where the caller's and the agent's streams already live.
extension InboundCallService {
    /// Rings `device` (a registered phone `sip:USER`, a number, `sip:USER@ADDRESS:PORT`, or the
    /// host's sound card `alsa:NAME`, which joins at once) and joins it to call `callID`'s
    /// conversation in `mode`. Returns the agent monitored.
    public func monitor(call callID: UInt64, device: String, mode: MonitorMode, by who: String) -> Result<String, TransferError> {
        guard let call = calls[callID], !call.machine.recordWritten else { return .failure(TransferError("no call \(callID)")) }
        if let m = call.machine.monitor { return .failure(TransferError("call \(callID) is monitored already (by \(m.by) on \(m.device))")) }
        guard call.machine.canMonitor, let agent = call.machine.agent else {
            return .failure(TransferError("call \(callID) is not a caller talking to an agent (\(call.machine.displayState))"))
        }
        if !device.hasPrefix("alsa:"), case .failure(let why) = locate(device) { return .failure(TransferError("cannot ring \(device): \(why)")) }
        logger.notice("supervisor monitors a call", metadata: ["call.id": "\(callID)", "agent.id": "\(agent)", "monitor.device": "\(device)", "monitor.mode": "\(mode.rawValue)", "monitor.by": "\(who)"])
        deliver(.monitor(device: device, mode: mode, by: who), to: call)
        return .success(agent)
    }

    public func monitorMode(call callID: UInt64, _ mode: MonitorMode) -> Result<Void, TransferError> {
        guard let call = calls[callID], !call.machine.recordWritten else { return .failure(TransferError("no call \(callID)")) }
        guard call.machine.monitor != nil else { return .failure(TransferError("call \(callID) is not being monitored")) }
        deliver(.monitorMode(mode), to: call)
        return .success(())
    }

    /// Ends the supervisor's session (their leg is hung up; a sound card is put down); the caller
    /// and the agent go on bridged. Returns the supervisor's device.
    public func monitorStop(call callID: UInt64, by who: String) -> Result<String, TransferError> {
        guard let call = calls[callID], !call.machine.recordWritten else { return .failure(TransferError("no call \(callID)")) }
        guard let m = call.machine.monitor else { return .failure(TransferError("call \(callID) is not being monitored")) }
        deliver(.monitorStop(by: who), to: call)
        return .success(m.device)
    }

    /// The caller, the agent and the supervisor in the call's room; the supervisor's keys switch
    /// the mode. The agent or the supervisor may be on the sound card.
    func monitorMix(_ call: ActiveCall, agent: LegID, supervisor: LegID, mode: MonitorMode) {
        guard let callerLease = call.lease, let agentMember = joiningMember(call, agent), let supervisorMember = joiningMember(call, supervisor)
        else { return }
        let id = call.session.id
        let (service, sip) = (bound, loop)
        onMedia(callerLease) { callerStream in
            guard let room = callerStream.clock?.room("call-\(id)") else { return }
            let caller = room.add(callerStream)
            let agentParty = agentMember.join(room)
            supervisorMember.join(room, role: Self.role(mode, caller: caller.id, agent: agentParty.id))
            guard case .stream(let supervisorStream) = supervisorMember else { return }
            supervisorStream.onDigit = { key in
                sip.execute {
                    guard let call = service.value.calls[id] else { return }
                    service.value.deliver(.legKey(supervisor, key), to: call)
                }
            }
        }
    }

    func monitorRole(_ call: ActiveCall, agent: LegID, supervisor: LegID, mode: MonitorMode) {
        guard let callerLease = call.lease, let agentMember = member(call, agent), let supervisorMember = member(call, supervisor) else { return }
        let id = call.session.id
        onMedia(callerLease) { callerStream in
            guard let room = callerStream.clock?.existingRoom("call-\(id)"),
                let caller = room.participants.first(where: { $0.stream === callerStream }),
                let agentParty = room.participants.first(where: agentMember.isParty),
                let party = room.participants.first(where: supervisorMember.isParty)
            else { return }
            party.role = Self.role(mode, caller: caller.id, agent: agentParty.id)
        }
    }

    /// Who hears the supervisor: nobody, the agent, the caller, or both.
    static func role(_ mode: MonitorMode, caller: Int, agent: Int) -> Mixer.Role {
        switch mode {
        case .listen: .listener
        case .whisper: .whisper(to: agent)
        case .whisperCaller: .whisper(to: caller)
        case .barge: .talker
        }
    }
}
