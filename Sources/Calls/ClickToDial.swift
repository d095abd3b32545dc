import ACD
import Logging
import Media
import NIOCore
import SIP
import SIPMessage
import JSON

/// Click-to-dial (FEATURES A5; issue 19): the I/O of an agent's own call. The machine
/// (Session/CallSession+Outbound.swift) decides what follows each answer and refusal; this finds
/// the agent's phone and the trunk, asks the ACD, and places the first INVITE.
extension InboundCallService {
    public struct DialError: Error, CustomStringConvertible, Equatable {
        public var description: String
        init(_ d: String) { description = d }
        public init(description: String) { self.description = description }
    }

    /// Rings `agent`'s phone, then `number` once the agent answers. `done` hears, on the SIP loop,
    /// the call's id and unique id once the agent's phone is being rung, or why nothing was
    /// started: every check is made before the ACD takes the agent off offers, and the ACD's own
    /// refusal (an agent ringing or on a call) comes back as it said it.
    public func placeCall(
        agent: String, number: String, campaign: CampaignCall? = nil, account: String? = nil,
        done: @escaping (Result<(id: UInt64, uniqueID: String), DialError>) -> Void
    ) {
        func fail(_ why: String) {
            logger.notice("call not placed", metadata: ["agent.id": "\(agent)", "call.to": "\(number)", "call.reason": "\(why)"])
            done(.failure(DialError(why)))
        }
        guard !number.isEmpty, number.count <= 32, number.allSatisfy({ $0.isASCII && ($0.isNumber || "+*#".contains($0)) }) else {
            return fail("'\(number)' is not a number (digits, +, * and # only, at most 32)")
        }
        if let account, account.isEmpty || account.count > 40 || !account.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) {
            return fail("account '\(account)' must be 1-40 letters, digits, '-', '_' or '.'")
        }
        if let why = overloadRefusal() { return fail("the daemon refuses new calls now: \(why)") }
        guard let device = agentDevice?(agent) else { return fail("agent \(agent) is not logged in") }
        if device.hasPrefix("alsa:") { return fail("agent \(agent) is on the sound card, which cannot place calls yet") }
        let phone: Destination
        switch locate(device) {
        case .success(let d): phone = d
        case .failure(let why): return fail("agent \(agent)'s phone cannot be reached: \(why)")
        }
        guard case .success(let out) = locate("tel:\(number)") else { return fail("no trunk carries \(number)") }
        guard let acdRequest else { return fail("no ACD runs") }
        ports.allocate(near: nil).hop(to: loop).assumeIsolated().whenComplete { [weak self] result in
            guard let self else { return }
            guard case .success(let lease) = result else { return fail("no free RTP port in \(self.ports.range)") }
            let id = self.sessions.reserveID()
            let startedAt = self.scheduler.wallClock
            let unique = String(format: "%.0f.%llu", startedAt.rounded(.down), id)
            // The ACD answers on its own thread; what follows runs back here.
            let answered = NIOLoopBound({ (error: ACDError?) in
                if let error {
                    lease.loop.execute { lease.release() }
                    return fail(error.message)
                }
                self.ringAgent(
                    agent: agent, number: number, phone: phone, trunk: out.trunk ?? "", id: id, unique: unique, startedAt: startedAt, lease: lease, campaign: campaign)
                // A campaign's calls are billed to the campaign unless told otherwise.
                self.calls[id]?.info.account = account ?? campaign?.campaign
                done(.success((id, unique)))
            }, eventLoop: self.loop)
            let sip = self.loop
            acdRequest(.agentOutbound(agent: agent, call: unique)) { error in sip.execute { answered.value(error) } }
        }
    }

    /// `callbackOf`: the attempt of a callback the ACD offered to the agent; `campaign`: a
    /// campaign's try of a contact.
    func ringAgent(
        agent: String, number: String, phone: Destination, trunk: String, id: UInt64, unique: String, startedAt: Double, lease: RTPPortLease,
        callbackOf: String? = nil, campaign: CampaignCall? = nil
    ) {
        let sdp = SDPNegotiation.offer(capabilities: policy.media, localPort: lease.rtpPort, sessionID: String(id), sessionVersion: 1)
        // The agent's phone shows the number it is about to call.
        let display = campaign.map { "\($0.campaign) \($0.contact.name.isEmpty ? number : $0.contact.name)" } ?? (callbackOf == nil ? "Call \(number)" : "Callback \(number)")
        let from = SIPNameAddr(displayName: display, uri: SIPURI(user: number, host: policy.media.address))
        let session = sessions.invite(
            to: phone.uri, peer: phone.peer, from: from, offer: sdp, credentials: phone.credentials,
            headers: [
                SIPHeaderField(.init("X-ACD-Call"), unique), SIPHeaderField(.init("X-ACD-Direction"), "outbound"),
                SIPHeaderField(.init("X-ACD-Callback"), callbackOf ?? ""), SIPHeaderField(.init("X-ACD-Campaign"), campaign?.campaign ?? ""),
            ], id: id, alternates: phone.alternates, onFailover: failoverHandler(phone, call: unique))
        var rules = self.rules
        if let ring = campaign?.ringSeconds { rules.outboundNoAnswerSeconds = ring }
        let call = ActiveCall(
            session: session, machine: CallSession(uniqueID: unique, agent: agent, dials: number, rules: rules, callbackOf: callbackOf),
            info: CallSummary(id: id, callID: session.callID, caller: agent, called: number, origin: trunk, state: "ringing", startedAt: startedAt))
        call.info.uniqueID = unique
        call.info.localRTPPort = lease.rtpPort
        call.lease = lease
        calls[id] = call
        byUniqueID[unique] = id
        // The ACD's withdrawal of the offer, or its end of the call, finds the attempt.
        if let callbackOf { byUniqueID[callbackOf] = id }
        if let campaign { campaignCalls[unique] = campaign }
        session.onEvent = { [weak self] event in
            guard let self, case .answered(let answer) = event, let call = self.calls[id] else { return }
            self.agentPhoneAnswered(call, answer: answer)
        }
        let (service, sip) = (bound, loop)
        onMedia(lease) { stream in
            stream.onDigit = { digit in sip.execute { service.value.keyPressed(digit, call: id) } }
            stream.onBadPacket = { why in sip.execute { service.value.logger.warning("RTP datagram refused", metadata: ["call.id": "\(id)", "rtp.error": "\(why)"]) } }
        }
        logger.info(
            "placing a call: ringing the agent", metadata: ["call.id": "\(id)", "call.unique_id": "\(unique)", "agent.id": "\(agent)", "call.to": "\(number)", "agent.peer": "\(phone.peer)"])
        perform(call.machine.startOutbound(at: now), call)
        var event: [String: JSONValue] = ["agent": .string(agent), "number": .string(number), "trunk": .string(trunk), "sip_call_id": .string(session.callID)]
        if let callbackOf, let entry = callbacks[callbackOf] {
            // The screen pop of a callback: whose, from which queue, and how many tries so far.
            event["callback"] = ["id": .string(callbackOf), "queue": .string(entry.queue), "caller": .string(entry.caller), "attempts": JSONValue(entry.attempts)]
        }
        if let campaign { event["campaign"] = campaign.screenPop }
        emit(call, "call.outbound", .object(event))
    }

    /// The agent's phone (or a predictive campaign's customer) answered our INVITE: its audio is
    /// set up before the machine goes on, and an answer we cannot use ends the attempt.
    func agentPhoneAnswered(_ call: ActiveCall, answer: SDPSession?) {
        guard let lease = call.lease else { return }
        do {
            guard let answer else { throw SDPNegotiationError.noAudio }
            let audio = try SDPNegotiation.accept(answer: answer, capabilities: policy.media)
            call.audio = audio
            call.info.codec = audio.codec.rawValue
            call.info.remoteRTP = "\(audio.remoteAddress):\(audio.remotePort)"
            apply(audio, inbandDTMF: false, to: lease)
        } catch {
            logger.warning("agent's phone answered with SDP we cannot use", metadata: ["call.id": "\(call.session.id)", "sdp.error": "\(error)"])
            return hangUp(call, cause: "agent's phone answered with unusable SDP: \(error)")
        }
        call.info.answeredAt = scheduler.wallClock
        observer?("answered", call.summary, nil)
        deliver(.answered, to: call)
    }
}
