import Logging
import SIP
import SIPMessage

/// OPTIONS keep-alive to each trunk's outbound address (issue 20): one probe every
/// `keepaliveSeconds`, judged by `TrunkHealth`. Changes are logged and raised as alarms
/// (`trunk_down`, `trunk_up`) once each, and `locate` sends numbers out on a trunk that is not
/// down. Everything here runs on the SIP loop.
extension InboundCallService {
    /// Starts (or, after a reload, re-aims) the probes: a trunk that keeps its name, address and
    /// threshold keeps its health; trunks gone or without keep-alive stop being probed.
    public func startTrunkKeepalive() {
        let probed = policy.trunks.filter { $0.outbound != nil && $0.keepaliveSeconds > 0 }
        let names = Set(probed.map(\.name))
        for (name, token) in keepaliveTimers where !names.contains(name) {
            token.cancel()
            keepaliveTimers[name] = nil
            keepalivePending[name] = nil
            trunkHealth[name] = nil
        }
        for trunk in probed {
            let target = trunk.outbound.map { "\($0.ip):\($0.port)" } ?? ""
            if let h = trunkHealth[trunk.name], h.failuresToDown == trunk.keepaliveFailures, h.target == target {} else {
                trunkHealth[trunk.name] = TrunkHealth(trunk: trunk.name, target: target, failuresToDown: trunk.keepaliveFailures)
            }
            if keepaliveTimers[trunk.name] == nil { keepaliveTick(trunk.name) }
        }
    }

    public func stopTrunkKeepalive() {
        for token in keepaliveTimers.values { token.cancel() }
        keepaliveTimers = [:]
        keepalivePending = [:]
    }

    /// Trunks probed, by name, for status.
    public var trunkStates: [TrunkHealth] { trunkHealth.values.sorted { $0.trunk < $1.trunk } }

    /// Whether numbers should avoid this trunk: probed and found down.
    func trunkIsDown(_ name: String) -> Bool { trunkHealth[name]?.state == .down }

    private func keepaliveTick(_ name: String) {
        keepaliveTimers[name] = nil
        guard let trunk = policy.trunks.first(where: { $0.name == name }), let peer = trunk.outbound, trunk.keepaliveSeconds > 0 else {
            keepalivePending[name] = nil
            return
        }
        // The last probe is still unanswered when the next is due: that is a failure.
        if keepalivePending.removeValue(forKey: name) != nil {
            keepaliveOutcome(name, .failed("no answer within \(trunk.keepaliveSeconds) s"))
        }
        keepaliveSerial &+= 1
        let serial = keepaliveSerial
        keepalivePending[name] = serial
        sendKeepalive(to: peer) { [weak self] outcome in
            guard let self, self.keepalivePending[name] == serial else { return }
            self.keepalivePending[name] = nil
            self.keepaliveOutcome(name, outcome)
        }
        keepaliveTimers[name] = scheduler.schedule(after: .seconds(trunk.keepaliveSeconds)) { [weak self] in self?.keepaliveTick(name) }
    }

    /// One OPTIONS outside any dialog (RFC 3261 §11); the first final response, a timeout or a
    /// send that failed is the outcome.
    private func sendKeepalive(to peer: SIPPeer, _ done: @escaping (TrunkHealth.Outcome) -> Void) {
        let stack = sessions.stack
        let uri = SIPURI(host: peer.ip, port: peer.port)
        var from = SIPNameAddr(uri: SIPURI(user: "acdd", host: policy.media.address))
        from.tag = stack.makeTag()
        var headers = SIPHeaders()
        headers.add(.userAgent, stack.configuration.product)
        let request = SIPRequest(
            method: .options, uri: uri, via: [stack.makeVia(transport: peer.transport)], from: from, to: SIPNameAddr(uri: uri),
            callID: stack.makeCallID(), cseq: SIPCSeq(1, .options), headers: headers)
        var reported = false
        stack.sendRequest(request, to: peer) { event in
            guard !reported else { return }
            switch event {
            case .response(let r):
                guard r.status.isFinal else { return }
                reported = true
                done(.answered(status: Int(r.status.rawValue)))
            case .timeout:
                reported = true
                done(.failed("no final response (Timer F)"))
            case .transportFailure:
                reported = true
                done(.failed("the probe could not be sent"))
            }
        }
    }

    private func keepaliveOutcome(_ name: String, _ outcome: TrunkHealth.Outcome) {
        guard var health = trunkHealth[name] else { return }
        let change = health.observe(outcome, at: scheduler.wallClock)
        trunkHealth[name] = health
        guard let change else { return }
        let peer = health.target
        switch change {
        case .down(let reason):
            logger.error("trunk is down", metadata: ["trunk": "\(name)", "trunk.outbound": "\(peer)", "trunk.reason": "\(reason)"])
            onAlarm?("trunk_down", ["trunk": name, "outbound": peer, "reason": reason])
        case .up(let wasDown):
            guard wasDown else {
                return logger.info("trunk answers its keep-alive", metadata: ["trunk": "\(name)", "trunk.outbound": "\(peer)"])
            }
            logger.notice("trunk is up again", metadata: ["trunk": "\(name)", "trunk.outbound": "\(peer)", "trunk.status": "\(health.lastStatus ?? 0)"])
            onAlarm?("trunk_up", ["trunk": name, "outbound": peer, "status": "\(health.lastStatus ?? 0)"])
        }
    }
}
