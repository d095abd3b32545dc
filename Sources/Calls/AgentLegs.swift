import ACD
import Logging
import Media
import NIOCore
import SIP
import SIPMessage
import JSON

/// The B2BUA's second leg: the call to an agent's phone that the ACD offered a caller to.
///
/// The leg's RTP port is allocated on the caller's media loop, so once the agent answers the two
/// legs are relayed by `RTPBridge` without crossing threads. Who ends a leg decides what the ACD
/// hears: a phone that refuses or fails is `agentDeclined` (the ACD rings the next agent), a
/// connected agent who hangs up is `agentHungUp`; a leg we end ourselves (RONA, the caller left,
/// another agent answered a ring-all) is `withdrawn` and reports nothing, since the ACD caused it.
final class AgentLeg {
    let session: InviteSession
    /// The caller's session id and the ACD's id of the call.
    let caller: UInt64
    let uniqueID: String
    let agent: String
    let lease: RTPPortLease
    var answered = false
    var withdrawn = false
    /// The agent's phone put the caller on hold (re-INVITE sendonly or inactive).
    var held = false
    /// A leg to a forward target; it is not forwarded again.
    var forwarded = false
    /// A call to a number the caller was transferred to: no agent, nothing for the ACD.
    var external = false
    var noAnswerTimer: SIPTimerToken?
    var mediaCheck: SIPTimerToken?

    init(session: InviteSession, caller: UInt64, uniqueID: String, agent: String, lease: RTPPortLease) {
        self.session = session
        self.caller = caller
        self.uniqueID = uniqueID
        self.agent = agent
        self.lease = lease
    }
}

extension InboundCallService {
    /// Calls to agents' phones in progress (ringing or connected), for status.
    public var agentLegCount: Int { agentLegs.count }

    /// Where to send the INVITE for an agent's device: `sip:USER` is a phone registered as USER,
    /// `sip:USER@ADDRESS[:PORT]` a phone at a fixed address, and `tel:NUMBER` (or just the
    /// digits) an external number through the first trunk with an `outbound` address, answering
    /// its challenge with the trunk's credentials. Nil with the reason otherwise.
    func locate(_ device: String) -> Result<Destination, DeviceError> {
        if device.hasPrefix("sip:") && !device.contains("@") {
            let user = String(device.dropFirst(4))
            guard let binding = bindings?(user).first else { return .failure(DeviceError("phone \(user) is not registered")) }
            return .success(Destination(uri: binding.contact.uri, peer: Self.peer(for: binding)))
        }
        let number = device.hasPrefix("tel:") ? String(device.dropFirst(4)) : device
        if !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || "+*#".contains($0)) }) {
            guard let trunk = policy.trunks.first(where: { $0.outbound != nil }), let peer = trunk.outbound else {
                return .failure(DeviceError("no trunk has an outbound address for external number \(number)"))
            }
            let credentials = trunk.username.flatMap { u in trunk.password.map { DigestClient(username: u, password: $0) } }
            return .success(Destination(uri: SIPURI(user: number, host: peer.ip, port: peer.port), peer: peer, credentials: credentials, trunk: trunk.name))
        }
        guard let uri = try? SIPURI.parse(device), uri.scheme == .sip else {
            return .failure(DeviceError("device '\(device)' is not sip:USER, sip:USER@ADDRESS:PORT or tel:NUMBER"))
        }
        guard let address = try? SocketAddress(ipAddress: uri.host, port: uri.port ?? 5060) else {
            return .failure(DeviceError("device '\(device)' needs an IP address"))
        }
        return .success(Destination(uri: uri, peer: SIPPeer(.udp, address)))
    }

    /// Where an agent's leg is sent.
    struct Destination {
        var uri: SIPURI
        var peer: SIPPeer
        var credentials: DigestClient?
        /// The trunk an external number goes out on.
        var trunk: String?
    }

    /// Where a registered phone is reached: over UDP the Contact's address (RFC 3261 §8.1.2),
    /// which may differ from where the REGISTER came from; the source when the Contact names no
    /// IP address, and over TCP, where the phone's own connection is the way back.
    static func peer(for binding: SIPBinding) -> SIPPeer {
        let uri = binding.contact.uri
        guard binding.source.transport == .udp, let address = try? SocketAddress(ipAddress: uri.host, port: uri.port ?? 5060) else {
            return binding.source
        }
        return SIPPeer(.udp, address)
    }

    struct DeviceError: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    /// Rings `agent` for the caller `unique`.
    func offer(_ unique: String, to agent: String, device: String) {
        guard let call = caller(unique) else {
            // The caller left between the ACD's decision and now; the ACD hears of it from the hang-up.
            return
        }
        // Unconditional forwarding: the offer rings the forward target instead.
        if let always = policy.forwarding[agent]?.always {
            logger.info("agent forwards every call", metadata: ["call.id": "\(call.session.id)", "agent.id": "\(agent)", "agent.forward_to": "\(always)"])
            return dial(call, agent: agent, device: always, forwarded: true)
        }
        dial(call, agent: agent, device: device, forwarded: false)
    }

    /// Calls the number the caller was transferred to (`blindTransfer`).
    func dialNumber(_ call: ActiveCall, _ number: String) {
        dial(call, agent: "number:\(number)", device: "tel:\(number)", forwarded: true, external: true)
    }

    /// A leg that could not even be started: the ACD offers the call to someone else, or a
    /// transferred caller is told and let go.
    private func legImpossible(_ call: ActiveCall, agent: String, external: Bool) {
        if external {
            let id = call.session.id
            playPrompts(["all-busy", "goodbye"], language: policy.language, call: call) { service in
                if let call = service.calls[id] { service.hangUp(call, cause: "transfer target unreachable") }
            }
        } else {
            acd?(.agentDeclined(agent: agent, call: call.summary.uniqueID))
        }
    }

    /// Rings `device` for `agent`'s offer of `call`; `forwarded` legs are not forwarded again.
    private func dial(_ call: ActiveCall, agent: String, device: String, forwarded: Bool, external: Bool = false) {
        let unique = call.summary.uniqueID
        guard let callerLease = call.lease else { return }
        let meta: Logger.Metadata = ["call.id": "\(call.session.id)", "call.unique_id": "\(unique)", "agent.id": "\(agent)", "agent.device": "\(device)"]
        let target: Destination
        switch locate(device) {
        case .success(let t): target = t
        case .failure(let why):
            logger.warning("agent's phone cannot be rung", metadata: meta.merging(["agent.reason": "\(why)"]) { $1 })
            return legImpossible(call, agent: agent, external: external)
        }
        call.pendingOffers.insert(agent)
        if !external {
            call.summary.agent = agent
            call.summary.state = "ringing"
        }
        ports.allocate(near: callerLease).hop(to: loop).assumeIsolated().whenComplete { [weak self] result in
            guard let self else { return }
            guard case .success(let lease) = result else {
                call.pendingOffers.remove(agent)
                self.logger.warning("no RTP port for the agent's leg", metadata: meta)
                return self.legImpossible(call, agent: agent, external: external)
            }
            guard self.calls[call.session.id] === call, call.pendingOffers.remove(agent) != nil else {
                // The caller left or the offer was withdrawn while the port was found.
                lease.loop.execute { lease.release() }
                return
            }
            self.ring(call, agent: agent, target: target, lease: lease, forwarded: forwarded, external: external, meta: meta)
        }
    }

    private func ring(
        _ call: ActiveCall, agent: String, target: Destination, lease: RTPPortLease, forwarded: Bool, external: Bool, meta: Logger.Metadata
    ) {
        // The caller's codec first, so the relay needs no transcoding when the phone agrees.
        var capabilities = policy.media
        if let codec = call.audio?.codec { capabilities.codecs = [codec] + capabilities.codecs.filter { $0 != codec } }
        let sdp = SDPNegotiation.offer(capabilities: capabilities, localPort: lease.rtpPort, sessionID: String(call.session.id), sessionVersion: 1)
        let callerURI = SIPURI(user: call.session.invite.from.uri.user ?? "anonymous", host: policy.media.address)
        let session = sessions.invite(
            to: target.uri, peer: target.peer, from: SIPNameAddr(uri: callerURI), offer: sdp, credentials: target.credentials,
            headers: [
                SIPHeaderField(.init("X-ACD-Call"), call.summary.uniqueID),
                SIPHeaderField(.init("X-ACD-Queue"), call.summary.queue ?? ""),
            ])
        let leg = AgentLeg(session: session, caller: call.session.id, uniqueID: call.summary.uniqueID, agent: agent, lease: lease)
        leg.forwarded = forwarded
        leg.external = external
        agentLegs[session.id] = leg
        if !forwarded, let rule = policy.forwarding[agent], let target = rule.noAnswer {
            let legID = session.id
            leg.noAnswerTimer = scheduler.schedule(after: .seconds(Int64(rule.noAnswerSeconds))) { [weak self] in
                guard let self, let leg = self.agentLegs[legID], !leg.answered, !leg.withdrawn else { return }
                self.forward(leg, to: target, because: "no answer")
            }
        }
        call.offers[agent] = session.id
        let legID = session.id
        session.onEvent = { [weak self] event in
            if case .answered(let answer) = event { self?.agentAnswered(legID, answer: answer) }
        }
        if !external { emit(call, "agent.ringing", screenPop(call, agent: agent)) }
        var ringing = meta.merging(["agent.leg": "\(legID)", "agent.peer": "\(target.peer)"]) { $1 }
        if let trunk = target.trunk { ringing["agent.trunk"] = "\(trunk)" }
        logger.info("ringing agent", metadata: ringing)
    }

    /// The ACD stops ringing `agent` (RONA, the caller left, another agent answered).
    func withdrawOffer(_ unique: String, from agent: String) {
        if let call = caller(unique) {
            call.pendingOffers.remove(agent)
            if let legID = call.offers.removeValue(forKey: agent), let leg = agentLegs[legID] {
                leg.withdrawn = true
                leg.session.hangUp()
            }
            if call.offers.isEmpty && call.connectedLeg == nil {
                call.summary.agent = nil
                call.summary.state = "queued"
            }
            return
        }
        for leg in agentLegs.values where leg.uniqueID == unique && leg.agent == agent && !leg.answered {
            leg.withdrawn = true
            leg.session.hangUp()
        }
    }

    private func agentAnswered(_ legID: UInt64, answer: SDPSession?) {
        guard let leg = agentLegs[legID] else { return }
        let meta: Logger.Metadata = ["call.id": "\(leg.caller)", "call.unique_id": "\(leg.uniqueID)", "agent.id": "\(leg.agent)"]
        guard !leg.withdrawn, let call = calls[leg.caller], call.connectedLeg == nil else {
            leg.withdrawn = true
            return leg.session.hangUp()
        }
        let audio: NegotiatedAudio
        do {
            guard let answer else { throw SDPNegotiationError.noAudio }
            audio = try SDPNegotiation.accept(answer: answer, capabilities: policy.media)
        } catch {
            logger.warning("agent's phone answered with unusable SDP; hanging it up", metadata: meta.merging(["sdp.error": "\(error)"]) { $1 })
            return leg.session.hangUp()
        }
        leg.answered = true
        leg.noAnswerTimer?.cancel()
        call.offers[leg.agent] = nil
        call.connectedLeg = legID
        if !leg.external { call.summary.agent = leg.agent }
        call.summary.state = leg.external ? "transferred" : "bridged"
        let now = scheduler.wallClock
        call.record.connectedAt = now
        if leg.external { call.record.transferredOut = true } else { call.record.firstConnectedAt = call.record.firstConnectedAt ?? now }
        apply(audio, inbandDTMF: false, to: leg.lease)
        let agentStream = leg.lease.stream
        if let callerLease = call.lease {
            onMedia(callerLease) { callerStream in
                callerStream.stopPlayback()
                callerStream.onPlaybackEnded = nil
                RTPBridge.join(callerStream, agentStream)
            }
        }
        recordBridge(call, agentLease: leg.lease)
        emit(call, "call.answered", [
            "agent": .string(leg.external ? "" : leg.agent), "number": leg.external ? .string(String(leg.agent.dropFirst("number:".count))) : .null,
            "queue": JSONValue(call.summary.queue), "waited_seconds": JSONValue(Int(call.record.queuedAt.map { now - $0 } ?? 0)),
        ])
        logger.info("agent answered; call bridged", metadata: meta.merging(["agent.codec": "\(audio.codec.rawValue)"]) { $1 })
        scheduleMediaCheck(leg, answeredAt: scheduler.now)
        guard !leg.external else { return }
        let (service, sip) = (bound, loop)
        let caller = call.session.id
        acdRequest?(.agentAnswered(agent: leg.agent, call: leg.uniqueID)) { error in
            guard let error else { return }
            sip.execute { service.value.answerRefused(legID, caller: caller, error: error) }
        }
    }

    /// The ACD had already moved on (a ring timeout crossed the answer): the agent's leg ends and
    /// the caller goes back to the music, still in the queue.
    private func answerRefused(_ legID: UInt64, caller: UInt64, error: ACDError) {
        logger.notice("ACD refused the agent's answer; back to the queue", metadata: ["call.id": "\(caller)", "acd.error": "\(error)"])
        if let leg = agentLegs[legID] {
            leg.withdrawn = true
            leg.session.hangUp()
        }
        guard let call = calls[caller], call.connectedLeg == legID else { return }
        call.connectedLeg = nil
        call.record.connectedAt = nil
        if call.record.talkSeconds == 0 { call.record.firstConnectedAt = nil }
        call.summary.agent = nil
        call.summary.state = "queued"
        startMusic(call)
    }

    /// An agent's leg is over: its port goes back (which splits a bridge), and the ACD and the
    /// caller hear what it means.
    func agentLegEnded(_ leg: AgentLeg, reason: InviteSession.EndReason) {
        leg.mediaCheck?.cancel()
        leg.noAnswerTimer?.cancel()
        let lease = leg.lease
        let call = calls[leg.caller]
        var meta: Logger.Metadata = [
            "call.id": "\(leg.caller)", "call.unique_id": "\(leg.uniqueID)", "agent.id": "\(leg.agent)", "agent.leg": "\(leg.session.id)",
            "call.reason": "\(reason)", "agent.answered": "\(leg.answered)", "agent.withdrawn": "\(leg.withdrawn)",
        ]
        releaseReadingFigures(lease) { [weak self] q, relayed in
            meta["rtp.packets_in"] = "\(q.packetsIn)"
            meta["rtp.packets_out"] = "\(q.packetsOut)"
            meta["rtp.relayed"] = "\(relayed)"
            meta["rtp.lost"] = "\(q.lost)"
            self?.logger.info("agent leg ended", metadata: meta)
        }
        if leg.answered {
            if !leg.withdrawn && !leg.external { acd?(.agentHungUp(agent: leg.agent)) }
            if let call, call.connectedLeg == leg.session.id {
                call.connectedLeg = nil
                call.inACD = false
                byUniqueID[call.summary.uniqueID] = nil
                hangUp(call, cause: leg.external ? "transfer target hung up" : "agent hung up", by: "agent")
            }
        } else {
            if let call, call.offers[leg.agent] == leg.session.id {
                call.offers[leg.agent] = nil
                if call.offers.isEmpty && call.connectedLeg == nil {
                    call.summary.agent = nil
                    call.summary.state = "queued"
                }
            }
            if !leg.withdrawn, leg.external, let call {
                logger.info("transfer target did not answer", metadata: ["call.id": "\(leg.caller)", "transfer.to": "\(leg.agent)", "call.reason": "\(reason)"])
                return legImpossible(call, agent: leg.agent, external: true)
            }
            if !leg.withdrawn {
                if case .failed(let status, _) = reason, [486, 600, 603].contains(status.rawValue), !leg.forwarded,
                    let target = policy.forwarding[leg.agent]?.busy, call != nil
                {
                    return forward(leg, to: target, because: "busy")
                }
                acd?(.agentDeclined(agent: leg.agent, call: leg.uniqueID))
            }
        }
    }

    /// Forwarding on busy or no answer: the phone's leg ends without a word to the ACD (the agent
    /// is still ringing as far as it knows) and the forward target is rung instead; the group's
    /// ring timeout still applies to the whole.
    private func forward(_ leg: AgentLeg, to device: String, because why: String) {
        guard let call = calls[leg.caller] else { return }
        logger.info("forwarding the agent's call", metadata: ["call.id": "\(leg.caller)", "agent.id": "\(leg.agent)", "agent.forward_to": "\(device)", "agent.forward_reason": "\(why)"])
        if !leg.withdrawn {
            leg.withdrawn = true
            leg.session.hangUp()
        }
        if call.offers[leg.agent] == leg.session.id { call.offers[leg.agent] = nil }
        dial(call, agent: leg.agent, device: device, forwarded: true)
    }

    /// A re-INVITE from the agent's phone: hold (sendonly or inactive) takes the caller out of the
    /// bridge and plays them music on hold; retrieve (sendrecv) joins the two again.
    func agentReoffer(_ offer: SDPSession?, leg: AgentLeg) -> ReofferDecision {
        let lease = leg.lease
        guard let offer else {
            return .answer(SDPNegotiation.offer(capabilities: policy.media, localPort: lease.rtpPort, sessionID: String(leg.session.id), sessionVersion: 1))
        }
        let answer: SDPSession
        let audio: NegotiatedAudio
        do {
            (answer, audio) = try SDPNegotiation.answer(offer, capabilities: policy.media, localPort: lease.rtpPort, sessionID: String(leg.session.id), sessionVersion: 1)
        } catch {
            logger.warning("agent's re-INVITE refused", metadata: ["agent.id": "\(leg.agent)", "sdp.error": "\(error)"])
            return .refuse(.notAcceptableHere)
        }
        apply(audio, inbandDTMF: false, to: lease)
        // Our direction is the mirror of the phone's: recvonly or inactive means the phone holds.
        let hold = audio.direction == .recvonly || audio.direction == .inactive
        guard leg.answered, let call = calls[leg.caller], call.connectedLeg == leg.session.id, let callerLease = call.lease, hold != leg.held else {
            return .answer(answer)
        }
        leg.held = hold
        let agentStream = lease.stream
        let music = policy.prompts?.music(policy.musicOnHold)
        if hold {
            call.summary.state = "held"
            onMedia(callerLease) { callerStream in
                RTPBridge.split(callerStream)
                if let music { callerStream.play(ClipPlayer([music], loops: true)) }
            }
        } else {
            call.summary.state = "bridged"
            onMedia(callerLease) { callerStream in
                callerStream.stopPlayback()
                RTPBridge.join(callerStream, agentStream)
            }
        }
        logger.info(hold ? "agent holds the caller" : "agent retrieves the caller", metadata: ["call.id": "\(leg.caller)", "agent.id": "\(leg.agent)"])
        return .answer(answer)
    }

    /// Ends a connected call from the agent's side at once (the phone went away): the ACD hears
    /// COMPLETEAGENT now, and the caller is not kept waiting for a BYE the phone may never answer.
    private func endAgentSide(_ leg: AgentLeg) {
        if !leg.withdrawn && !leg.external { acd?(.agentHungUp(agent: leg.agent)) }
        leg.withdrawn = true
        if let call = calls[leg.caller], call.connectedLeg == leg.session.id {
            call.connectedLeg = nil
            call.inACD = false
            byUniqueID[call.summary.uniqueID] = nil
            hangUp(call, cause: "agent's phone sent no RTP")
        }
        leg.session.hangUp()
    }

    /// The agent's phone must keep sending RTP too (`media.timeout_seconds`), unless it holds the
    /// caller: a phone that went away ends the call rather than leave the caller talking to nobody.
    private func scheduleMediaCheck(_ leg: AgentLeg, answeredAt: Duration) {
        let limit = policy.mediaTimeoutSeconds
        guard limit > 0 else { return }
        let legID = leg.session.id
        leg.mediaCheck = scheduler.schedule(after: .seconds(1)) { [weak self] in
            guard let self, let leg = self.agentLegs[legID] else { return }
            let lease = leg.lease
            lease.loop.submit { lease.stream.lastPacketAt }.hop(to: self.loop).assumeIsolated().whenSuccess { [weak self] last in
                guard let self, let leg = self.agentLegs[legID] else { return }
                let silentFor: Duration = last.map { .nanoseconds((NIODeadline.now() - $0).nanoseconds) } ?? (self.scheduler.now - answeredAt)
                if !leg.held && silentFor >= .seconds(limit) {
                    self.logger.notice(
                        "no RTP from the agent's phone; hanging up",
                        metadata: ["call.id": "\(leg.caller)", "agent.id": "\(leg.agent)", "call.cause": "media_timeout", "rtp.silent_seconds": "\(limit)"])
                    self.endAgentSide(leg)
                } else {
                    self.scheduleMediaCheck(leg, answeredAt: answeredAt)
                }
            }
        }
    }
}
