import JSON

/// A supervisor on an agent's call (FEATURES O3): their phone is rung and, once it answers, the
/// caller's bridge with the agent becomes a mix of three in which the supervisor listens,
/// whispers to the agent (or the caller), or barges in. The mode changes from `acdctl
/// monitor-mode` or the supervisor's keys. One supervisor per call; the monitoring lasts while
/// the caller and the agent talk, and ends the moment that conversation does.
extension CallSession {
    /// What a supervisor's session holds.
    public struct Monitor: Sendable, Hashable {
        public let leg: LegID
        public let device: String
        /// Who asked (`operator:<user>`), for the events and the log.
        public let by: String
        public internal(set) var mode: MonitorMode
        public internal(set) var answered = false
    }

    /// Whether a supervisor may join now: a caller talking to an agent, and no one monitoring.
    public var canMonitor: Bool { phase == .bridged && monitor == nil && transferableLeg != nil && !callerHeld }

    mutating func startMonitor(device: String, mode: MonitorMode, by: String, at time: CallTime, into out: inout [CallAction]) {
        guard canMonitor else { return }
        let id = newLeg(.supervisor(device: device), forwarded: true)
        monitor = Monitor(leg: id, device: device, by: by, mode: mode)
        out.append(.log(.info, "supervisor's phone rung to monitor the call", ["monitor.device": device, "monitor.mode": mode.rawValue, "monitor.by": by]))
        out.append(.emit("call.monitor", monitorEvent("ringing")))
        out.append(.dial(id, device: device))
    }

    func monitorEvent(_ state: String, reason: String? = nil) -> JSONValue {
        var data: [String: JSONValue] = [
            "state": .string(state), "device": .string(monitor?.device ?? ""), "mode": .string(monitor?.mode.rawValue ?? ""),
            "by": .string(monitor?.by ?? ""), "agent": agent.map { .string($0) } ?? .null,
        ]
        if let reason { data["reason"] = .string(reason) }
        return .object(data)
    }

    /// The supervisor's phone answered: into the mix, unless the conversation is already over.
    mutating func monitorAnswered(_ id: LegID, usable: Bool, at time: CallTime, into out: inout [CallAction]) {
        guard let m = monitor, m.leg == id, !m.answered, let agentLeg = connected, phase == .bridged else { return release(id, into: &out) }
        guard usable else {
            out.append(.log(.warning, "supervisor's phone answered with unusable SDP; hanging it up", ["monitor.device": m.device]))
            return out.append(contentsOf: endMonitor(reason: "unusable SDP"))
        }
        update(id) { $0.state = .answered }
        monitor?.answered = true
        out.append(.monitorMix(agent: agentLeg, supervisor: id, mode: m.mode))
        out.append(.log(.info, "supervisor monitors the call", ["monitor.device": m.device, "monitor.mode": m.mode.rawValue, "agent.id": agent ?? ""]))
        out.append(.emit("call.monitor", monitorEvent("started")))
        watch(id, at: time, into: &out)
    }

    mutating func changeMonitor(to mode: MonitorMode, into out: inout [CallAction]) {
        guard let m = monitor, m.mode != mode else { return }
        monitor?.mode = mode
        if m.answered, let agentLeg = connected { out.append(.monitorRole(agent: agentLeg, supervisor: m.leg, mode: mode)) }
        out.append(.log(.info, "supervisor changes mode", ["monitor.mode": mode.rawValue, "monitor.was": m.mode.rawValue]))
        out.append(.emit("call.monitor", monitorEvent("mode")))
    }

    /// The supervisor's leg ended or could not be rung: the caller and the agent go on as a bridge.
    mutating func monitorLegEnded(_ id: LegID, reason: String, into out: inout [CallAction]) {
        update(id) {
            $0.state = .ended
            $0.watch = nil
        }
        out.append(contentsOf: endMonitor(reason: reason))
    }

    /// Ends the monitoring: the supervisor's leg is hung up and, when the mix was made and the
    /// conversation goes on, the caller and the agent are bridged again.
    mutating func endMonitor(reason: String) -> [CallAction] {
        guard let m = monitor else { return [] }
        var out: [CallAction] = []
        release(m.leg, into: &out)
        if m.answered {
            out.append(.unmix)
            if phase == .bridged, let agentLeg = connected { out.append(.bridge(agentLeg)) }
        }
        out.append(.log(.info, "monitoring ends", ["monitor.device": m.device, "monitor.reason": reason]))
        out.append(.emit("call.monitor", monitorEvent("ended", reason: reason)))
        monitor = nil
        return out
    }
}
