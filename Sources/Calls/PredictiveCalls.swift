import ACD
import Campaigns
import Logging
import Media
import NIOCore
import SIP
import SIPMessage
import JSON

/// The I/O of a predictive campaign's call (issue 19, part 3): the number is called through the
/// trunk its prefix routes to, with no agent on the line; the machine
/// (Session/CallSession+Predictive.swift) queues the answer for the next agent.
extension InboundCallService {
    /// Calls the contact's number; `done` hears the call's unique id once the INVITE is out, or
    /// why it could not be.
    func placeCustomerCall(_ campaign: CampaignCall, group: String, ringSeconds: Int, done: @escaping (Result<String, DialError>) -> Void) {
        let number = campaign.contact.number
        func fail(_ why: String) { done(.failure(DialError(why))) }
        if let why = overloadRefusal() { return fail("the daemon refuses new calls now: \(why)") }
        guard case .success(let out) = locate("tel:\(number)") else { return fail("no trunk carries \(number)") }
        ports.allocate(near: nil).hop(to: loop).assumeIsolated().whenComplete { [weak self] result in
            guard let self else { return }
            guard case .success(let lease) = result else { return fail("no free RTP port in \(self.ports.range)") }
            let id = self.sessions.reserveID()
            let startedAt = self.scheduler.wallClock
            let unique = String(format: "%.0f.%llu", startedAt.rounded(.down), id)
            let sdp = SDPNegotiation.offer(capabilities: self.policy.media, localPort: lease.rtpPort, sessionID: String(id), sessionVersion: 1)
            let trunk = self.policy.trunks.first { $0.name == out.trunk }
            let shown = trunk?.callerID ?? trunk?.numbers.first ?? "anonymous"
            let session = self.sessions.invite(
                to: out.uri, peer: out.peer, from: SIPNameAddr(uri: SIPURI(user: shown, host: self.policy.media.address)), offer: sdp, credentials: out.credentials,
                headers: [SIPHeaderField(.init("X-ACD-Call"), unique), SIPHeaderField(.init("X-ACD-Campaign"), campaign.campaign)], id: id,
                alternates: out.alternates, onFailover: self.failoverHandler(out, call: unique))
            var rules = self.rules
            rules.outboundNoAnswerSeconds = ringSeconds
            let call = ActiveCall(
                session: session, machine: CallSession(
                    uniqueID: unique, customer: number, campaignGroup: group, abandonPrompt: campaign.abandonPrompt ?? CampaignSettings.defaultAbandonPrompt, rules: rules),
                info: CallSummary(id: id, callID: session.callID, caller: shown, called: number, origin: out.trunk ?? "", state: "ringing", startedAt: startedAt))
            call.info.uniqueID = unique
            call.info.account = campaign.campaign
            call.info.localRTPPort = lease.rtpPort
            call.lease = lease
            self.calls[id] = call
            self.byUniqueID[unique] = id
            self.campaignCalls[unique] = campaign
            session.onEvent = { [weak self] event in
                guard let self, case .answered(let answer) = event, let call = self.calls[id] else { return }
                self.agentPhoneAnswered(call, answer: answer)
                self.campaignDialer?.customerAnswered(unique, ringSeconds: self.scheduler.wallClock - startedAt)
            }
            let (service, sip) = (self.bound, self.loop)
            self.onMedia(lease) { stream in
                stream.onDigit = { digit in sip.execute { service.value.keyPressed(digit, call: id) } }
                stream.onBadPacket = { why in sip.execute { service.value.logger.warning("RTP datagram refused", metadata: ["call.id": "\(id)", "rtp.error": "\(why)"]) } }
            }
            self.logger.info(
                "campaign dialling a number", metadata: ["call.id": "\(id)", "call.unique_id": "\(unique)", "call.to": "\(number)", "campaign.name": "\(campaign.campaign)"])
            self.perform(call.machine.startCustomerCall(at: self.now), call)
            self.emit(call, "call.outbound", ["number": .string(number), "trunk": .string(out.trunk ?? ""), "sip_call_id": .string(session.callID), "campaign": campaign.screenPop])
            done(.success(unique))
        }
    }
}
