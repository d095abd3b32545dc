import ACD
import Logging
import Media
import NIOCore
import SIP
import SIPMessage

/// The SIP session and RTP port of one of a call's other legs (an agent's phone, a forward
/// target, a number). What the leg means for the call (ringing, answered, withdrawn, held) is the
/// call's machine's (`CallLeg`); this only holds the I/O.
///
/// The leg's RTP port is allocated on the caller's media loop, so once the far end answers the two
/// legs are relayed by `RTPBridge` without crossing threads.
final class AgentLeg {
    let session: InviteSession
    /// The caller's session id, and the leg within the call.
    let caller: UInt64
    let leg: LegID
    let lease: RTPPortLease

    init(session: InviteSession, caller: UInt64, leg: LegID, lease: RTPPortLease) {
        self.session = session
        self.caller = caller
        self.leg = leg
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
            // The trunks whose longest matching prefix is longest of all (one without prefixes
            // matches everything, shortest), in configuration order; of those the first not known
            // to be down, or the first when every one is down (a probe may be wrong, a call that
            // tries costs little).
            let carriers = Self.route(number, policy.trunks)
            guard let trunk = carriers.first(where: { !trunkIsDown($0.name) }) ?? carriers.first, let peer = trunk.outbound else {
                return .failure(DeviceError("no trunk has an outbound address for external number \(number)"))
            }
            let credentials = trunk.username.flatMap { u in trunk.password.map { DigestClient(username: u, password: $0) } }
            // A trunk named by DNS: the Request-URI carries its name, and the INVITE goes to its
            // targets in turn (RFC 3263), those a call failed at lately last.
            if let name = trunk.outboundName {
                let targets = orderedTargets(of: trunk)
                return .success(Destination(
                    uri: SIPURI(user: number, host: name, port: trunk.outboundNamePort), peer: targets.first ?? peer, credentials: credentials,
                    trunk: trunk.name, alternates: Array(targets.dropFirst())))
            }
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

    /// The outbound routes for `number`: trunks with an `outbound` address whose best prefix is
    /// the longest any of them has, in configuration order.
    static func route(_ number: String, _ trunks: [CallPolicy.Trunk]) -> [CallPolicy.Trunk] {
        let scored = trunks.compactMap { t -> (CallPolicy.Trunk, Int)? in
            guard t.outbound != nil else { return nil }
            if t.prefixes.isEmpty { return (t, 0) }
            let best = t.prefixes.filter { number.hasPrefix($0) }.map(\.count).max()
            return best.map { (t, $0) }
        }
        guard let top = scored.map(\.1).max() else { return [] }
        return scored.filter { $0.1 == top }.map(\.0)
    }

    /// Where an agent's leg is sent.
    struct Destination {
        var uri: SIPURI
        var peer: SIPPeer
        var credentials: DigestClient?
        /// The trunk an external number goes out on.
        var trunk: String?
        /// The trunk's further targets, tried in turn when `peer` fails (RFC 3263 §4.3).
        var alternates: [SIPPeer] = []
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

    /// Starts the leg `leg` to `device`: finds it, allocates its port near the caller's, and
    /// rings it. What cannot be started is reported to the machine, which decides what follows.
    func dial(_ call: ActiveCall, leg: LegID, device: String) {
        let id = call.session.id
        let meta: Logger.Metadata = ["call.id": "\(id)", "call.unique_id": "\(call.machine.uniqueID)", "agent.leg": "\(leg)", "agent.device": "\(device)"]
        guard let callerLease = call.lease else { return deliver(.legFailed(leg, reason: "the caller has no media"), to: call) }
        if device.hasPrefix("alsa:") { return dialSoundCard(call, leg: leg, device: device) }
        let target: Destination
        switch locate(device) {
        case .success(let t): target = t
        case .failure(let why): return deliver(.legFailed(leg, reason: "\(why)"), to: call)
        }
        ports.allocate(near: callerLease).hop(to: loop).assumeIsolated().whenComplete { [weak self] result in
            guard let self else { return }
            guard case .success(let lease) = result else {
                self.logger.warning("no RTP port for the leg", metadata: meta)
                if let call = self.calls[id] { self.deliver(.legFailed(leg, reason: "no free RTP port"), to: call) }
                return
            }
            // The caller left, or the offer was withdrawn, while the port was found.
            guard let call = self.calls[id], call.machine.leg(leg)?.state == .dialling else {
                lease.loop.execute { lease.release() }
                return
            }
            self.ring(call, leg: leg, target: target, lease: lease, meta: meta)
        }
    }

    private func ring(_ call: ActiveCall, leg: LegID, target: Destination, lease: RTPPortLease, meta: Logger.Metadata) {
        // The caller's codec first, so the relay needs no transcoding when the phone agrees.
        var capabilities = policy.media
        if let codec = call.audio?.codec { capabilities.codecs = [codec] + capabilities.codecs.filter { $0 != codec } }
        let sdp = SDPNegotiation.offer(capabilities: capabilities, localPort: lease.rtpPort, sessionID: String(call.session.id), sessionVersion: 1)
        // An agent's own call shows the trunk's caller id (or its first number); a transfer shows
        // the caller's number.
        let shown: String
        if call.machine.campaignGroup != nil {
            // A predictive campaign's customer, to the agent's phone.
            shown = call.machine.caller
        } else if call.machine.direction == .outbound, let trunk = policy.trunks.first(where: { $0.name == target.trunk }) {
            shown = trunk.callerID ?? trunk.numbers.first ?? "anonymous"
        } else {
            shown = call.session.invite.from.uri.user ?? "anonymous"
        }
        let callerURI = SIPURI(user: shown, host: policy.media.address)
        let session = sessions.invite(
            to: target.uri, peer: target.peer, from: SIPNameAddr(uri: callerURI), offer: sdp, credentials: target.credentials,
            headers: [
                SIPHeaderField(.init("X-ACD-Call"), call.machine.uniqueID),
                SIPHeaderField(.init("X-ACD-Queue"), call.machine.queue ?? ""),
            ], alternates: target.alternates, onFailover: failoverHandler(target, call: call.machine.uniqueID))
        agentLegs[session.id] = AgentLeg(session: session, caller: call.session.id, leg: leg, lease: lease)
        call.legSessions[leg] = session.id
        let legSessionID = session.id
        session.onEvent = { [weak self] event in
            if case .answered(let answer) = event { self?.legAnswered(legSessionID, answer: answer) }
        }
        deliver(.legRinging(leg), to: call)
        var ringing = meta.merging(["agent.sip_leg": "\(legSessionID)", "agent.peer": "\(target.peer)"]) { $1 }
        if let agent = call.machine.leg(leg)?.agent { ringing["agent.id"] = "\(agent)" }
        if let trunk = target.trunk { ringing["agent.trunk"] = "\(trunk)" }
        logger.info("ringing agent", metadata: ringing)
    }

    /// The leg's phone answered: its SDP is applied, and the machine decides whether it is bridged.
    private func legAnswered(_ sessionID: UInt64, answer: SDPSession?) {
        guard let agentLeg = agentLegs[sessionID] else { return }
        guard let call = calls[agentLeg.caller] else { return agentLeg.session.hangUp() }
        var usable = false
        do {
            guard let answer else { throw SDPNegotiationError.noAudio }
            let audio = try SDPNegotiation.accept(answer: answer, capabilities: policy.media)
            apply(audio, inbandDTMF: false, to: agentLeg.lease)
            usable = true
            logger.info(
                "leg answered", metadata: ["call.id": "\(agentLeg.caller)", "agent.leg": "\(agentLeg.leg)", "agent.codec": "\(audio.codec.rawValue)"])
        } catch {
            logger.warning("answer's SDP not usable", metadata: ["call.id": "\(agentLeg.caller)", "agent.leg": "\(agentLeg.leg)", "sdp.error": "\(error)"])
        }
        deliver(.legAnswered(agentLeg.leg, usable: usable), to: call)
    }

    /// Connects the caller to the leg's audio on their shared loop (stopping what the caller hears).
    func bridge(_ call: ActiveCall, to leg: LegID) {
        if let card = soundCardLeg(call, leg) { return bridgeSoundCard(call, card) }
        guard let callerLease = call.lease, let agentStream = legSession(call, leg)?.lease.stream else { return }
        onMedia(callerLease) { callerStream in
            callerStream.stopPlayback()
            callerStream.onPlaybackEnded = nil
            RTPBridge.join(callerStream, agentStream)
        }
    }

    /// A leg's SIP session is over: its port goes back (which splits a bridge), and the machine
    /// hears how it ended.
    func agentLegEnded(_ agentLeg: AgentLeg, reason: InviteSession.EndReason) {
        var meta: Logger.Metadata = [
            "call.id": "\(agentLeg.caller)", "agent.leg": "\(agentLeg.leg)", "agent.sip_leg": "\(agentLeg.session.id)", "call.reason": "\(reason)",
        ]
        releaseReadingFigures(agentLeg.lease) { [weak self] q, relayed in
            meta["rtp.packets_in"] = "\(q.packetsIn)"
            meta["rtp.packets_out"] = "\(q.packetsOut)"
            meta["rtp.relayed"] = "\(relayed)"
            meta["rtp.lost"] = "\(q.lost)"
            self?.logger.info("agent leg ended", metadata: meta)
        }
        guard let call = calls[agentLeg.caller] else { return }
        if call.legSessions[agentLeg.leg] == agentLeg.session.id { call.legSessions[agentLeg.leg] = nil }
        let end: LegEnd
        switch reason {
        case .failed(let status, _): end = .refused(status: Int(status.rawValue))
        default: end = .ended("\(reason)")
        }
        deliver(.legEnded(agentLeg.leg, end), to: call)
    }

    /// A re-INVITE from the leg's phone: hold (it offers sendonly or inactive) or retrieve.
    func agentReoffer(_ offer: SDPSession?, leg agentLeg: AgentLeg) -> ReofferDecision {
        let lease = agentLeg.lease
        guard let offer else {
            return .answer(SDPNegotiation.offer(capabilities: policy.media, localPort: lease.rtpPort, sessionID: String(agentLeg.session.id), sessionVersion: 1))
        }
        let answer: SDPSession
        let audio: NegotiatedAudio
        do {
            (answer, audio) = try SDPNegotiation.answer(offer, capabilities: policy.media, localPort: lease.rtpPort, sessionID: String(agentLeg.session.id), sessionVersion: 1)
        } catch {
            logger.warning("agent's re-INVITE refused", metadata: ["call.id": "\(agentLeg.caller)", "agent.leg": "\(agentLeg.leg)", "sdp.error": "\(error)"])
            return .refuse(.notAcceptableHere)
        }
        apply(audio, inbandDTMF: false, to: lease)
        // Our direction is the mirror of the phone's: recvonly or inactive means the phone holds.
        if let call = calls[agentLeg.caller] { deliver(.legHold(agentLeg.leg, audio.direction == .recvonly || audio.direction == .inactive), to: call) }
        return .answer(answer)
    }
}
