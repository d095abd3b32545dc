public import SIPMessage

/// One INVITE usage of a dialog, from either side (RFC 3261 §13–15): the call leg as the call layer
/// sees it. A UAS session is offered by the session layer and answered with `ring`, `answer` or
/// `reject`; a UAC session is made by `SessionLayer.invite` and reports through `onEvent`.
public final class InviteSession {
    public enum Role: Sendable { case uas, uac }

    public enum State: Sendable, Equatable {
        /// UAS: INVITE received, nothing but 100 sent. UAC: INVITE sent.
        case initial
        /// A provisional with a tag went out (UAS) or came in (UAC).
        case early
        /// UAS: 2xx sent, waiting for the ACK.
        case accepted
        /// ACKed: the call is up.
        case confirmed
        /// We sent BYE and wait for its answer.
        case terminating
        case ended
    }

    /// Why a session ended, for logs and call records.
    public enum EndReason: Sendable, Equatable, CustomStringConvertible {
        case remoteHangup
        case localHangup
        case cancelled
        case rejected(SIPStatus)
        /// UAC: the far end refused (status and reason phrase).
        case failed(SIPStatus, String)
        case ackTimeout
        case timeout
        case transportFailure
        /// RFC 4028: the session was not refreshed in time (or our refresh failed); we sent BYE.
        case sessionExpired

        public var description: String {
            switch self {
            case .remoteHangup: "remote hangup"
            case .localHangup: "local hangup"
            case .cancelled: "cancelled"
            case .rejected(let s): "rejected \(s.rawValue)"
            case .failed(let s, let r): "failed \(s.rawValue) \(r)"
            case .ackTimeout: "no ACK"
            case .timeout: "timeout"
            case .transportFailure: "transport failure"
            case .sessionExpired: "session timer expired"
            }
        }
    }

    /// What a session tells its owner.
    public enum Event: Sendable {
        /// UAC: a provisional response (180 Ringing, 183).
        case progress(SIPResponse)
        /// UAC: the far end answered; its SDP answer. UAS: the ACK arrived.
        case answered(SDPSession?)
        case ended(EndReason)
    }

    public let id: UInt64
    public let role: Role
    public let callID: String
    /// The INVITE that started the session (as received, or as we sent it).
    public private(set) var invite: SIPRequest
    public private(set) var state: State = .initial
    public internal(set) var dialog: SIPDialog?
    /// The far end's SDP (offer for a UAS, answer for a UAC), as last negotiated.
    public internal(set) var remoteSDP: SDPSession?
    /// Our SDP as last sent; its version goes up on each new offer or answer (RFC 3264 §8).
    public internal(set) var localSDP: SDPSession?
    public var onEvent: ((Event) -> Void)?
    /// Set when the session ends.
    public private(set) var endReason: EndReason?
    /// Where the INVITE came from (UAS) or went to (UAC); for a UAC, the address it went to last
    /// (see `alternates`).
    public private(set) var peer: SIPPeer
    /// Further addresses of the same destination, in order (a trunk's other DNS targets): the
    /// request goes to the next when the current one fails before anything but 100 Trying has
    /// come back, by silence (Timer B), a send that failed or a 503 (RFC 3263 §4.3). Once a
    /// 180 or 183 has come the callee is found, and what follows is the call's outcome.
    public var alternates: [SIPPeer] = []
    /// Told of each move: the address given up, why, and the 503 when that was why (its
    /// Retry-After says how long to leave that address alone, RFC 3261 §21.5.4).
    public var onFailover: ((_ from: SIPPeer, _ to: SIPPeer, _ why: String, _ response: SIPResponse?) -> Void)?

    weak var layer: SessionLayer?
    var serverTransaction: ServerTransaction?
    var clientTransaction: ClientTransaction?
    var credentials: DigestClient?
    private var authAttempted = false
    private var cancelRequested = false
    private var provisionalSeen = false
    /// Moves to another of `alternates` so far.
    public private(set) var failovers = 0
    /// A re-INVITE of the far end waiting for its ACK, or one of ours waiting for its answer.
    var pendingReinvite = false
    /// The session timer our 2xx agreed (RFC 4028), and its running clock: our next refresh, or
    /// the moment the far end's refresh is overdue.
    public internal(set) var sessionTimer: SessionTimer?
    var sessionTimerToken: SIPTimerToken?
    /// Ends a cancelled INVITE that never gets its final response.
    var cancelGuardToken: SIPTimerToken?
    var reinviteTransaction: ServerTransaction?

    init(id: UInt64, role: Role, invite: SIPRequest, peer: SIPPeer, layer: SessionLayer) {
        self.id = id
        self.role = role
        self.callID = invite.callID
        self.invite = invite
        self.peer = peer
        self.layer = layer
    }

    public var isEnded: Bool { state == .ended }

    // MARK: UAS

    /// Sends 180 Ringing, making the dialog early.
    public func ring() {
        guard let (tx, r) = unansweredResponse(.ringing) else { return }
        state = .early
        tx.respond(r)
    }

    /// Sends 183 Session Progress with our SDP answer (early media: prompts or ringback played
    /// before the call is answered). The 200 that follows carries the same SDP.
    public func progress(_ sdp: SDPSession) {
        guard let (tx, response) = unansweredResponse(.sessionProgress) else { return }
        var r = response
        r.headers.add(.contentType, "application/sdp")
        r.body = sdp.serialized()
        localSDP = sdp
        state = .early
        tx.respond(r)
    }

    /// Answers with 200 OK and our SDP; the call is up when the ACK arrives.
    public func answer(_ sdp: SDPSession) {
        guard let (tx, response) = unansweredResponse(.ok), let layer else { return }
        var r = response
        r.headers.add(.allow, layer.stack.allowedMethods.map(\.rawValue).joined(separator: ", "))
        r.headers.add(.supported, layer.stack.configuration.supported.joined(separator: ", "))
        r.headers.add(.contentType, "application/sdp")
        r.body = sdp.serialized()
        addSessionTimer(to: &r)
        localSDP = sdp
        dialog = SIPDialog(uasFor: invite, localTag: tx.toTag, peer: tx.responsePeer)
        state = .accepted
        layer.register(self)
        tx.respond(r)
        startSessionTimer()
    }

    // MARK: Session timer (RFC 4028)

    /// The agreed timer in a 2xx: `Session-Expires`, and `Require: timer` when the far end is to
    /// refresh.
    func addSessionTimer(to response: inout SIPResponse) {
        guard let timer = sessionTimer else { return }
        response.headers.add(.sessionExpires, timer.headerValue)
        if timer.refresher == .uac { response.headers.add(.require, "timer") }
    }

    /// A refresh from the far end was accepted: the clock starts again. On a call we answered the
    /// 2xx repeats the (maybe changed) timer; on one we placed the phone sent this request, so
    /// `refresher` in our terms would name the wrong side, and the 2xx says nothing of it.
    func refreshed(_ timer: SessionTimer?, answering response: inout SIPResponse) {
        guard role == .uas else { return startSessionTimer() }
        sessionTimer = timer
        addSessionTimer(to: &response)
        startSessionTimer()
    }

    /// (Re)starts the clock: we refresh at half the interval, or end the session when the far
    /// end's refresh is overdue.
    func startSessionTimer() {
        sessionTimerToken?.cancel()
        sessionTimerToken = nil
        guard let timer = sessionTimer, let layer else { return }
        let delay = timer.weRefresh ? timer.refreshAfter : timer.expireAfter
        sessionTimerToken = layer.stack.scheduler.schedule(after: .seconds(delay)) { [weak self] in
            guard let self else { return }
            self.sessionTimerToken = nil
            if timer.weRefresh { self.sendRefresh() } else { self.expire("no refresh within \(timer.expireAfter) s of a \(timer.interval) s session") }
        }
    }

    /// Our refresh: an UPDATE without a body, or a re-INVITE where the far end takes no UPDATE.
    /// 408, 481, a timeout or a send that fails ends the session (§10); any other answer keeps it.
    private func sendRefresh() {
        guard let layer, var dialog, let timer = sessionTimer, state == .confirmed || state == .accepted else { return }
        guard timer.refreshByUpdate else { return sendReinviteRefresh() }
        var update = dialog.makeRequest(.update, via: layer.stack.makeVia(transport: dialog.peer.transport), contact: nil)
        self.dialog = dialog
        // `refresher` names a side of this request, not of the INVITE: we send it and we refresh.
        update.headers.add(.sessionExpires, "\(timer.interval);refresher=uac")
        update.headers.add(.supported, "timer")
        layer.stack.sendRequest(update, to: dialog.peer) { [weak self] event in
            guard let self, !self.isEnded else { return }
            switch event {
            case .response(let r) where r.status.isFinal:
                if r.status == .requestTimeout || r.status == .callDoesNotExist {
                    self.expire("our refresh got \(r.status.rawValue)")
                } else {
                    self.startSessionTimer()
                }
            case .timeout: self.expire("our refresh got no answer")
            case .transportFailure: self.expire("our refresh could not be sent")
            default: break
            }
        }
    }

    /// A refresh by re-INVITE (RFC 4028 §7.4): our SDP as last sent, unchanged and under the same
    /// version (RFC 3264 §8: no change), so the media stays as it is. Its 2xx is ACKed (again for
    /// each retransmission); 491 (the far end's re-INVITE crossed ours) is retried after 2.1-4 s
    /// (RFC 3261 §14.1); 408, 481, a timeout or a failed send ends the session.
    private func sendReinviteRefresh() {
        guard let layer, var dialog, let timer = sessionTimer, let sdp = localSDP, !pendingReinvite else {
            // The far end's own re-INVITE is in progress: it refreshes the session itself.
            return startSessionTimer()
        }
        var reinvite = dialog.makeRequest(.invite, via: layer.stack.makeVia(transport: dialog.peer.transport), contact: layer.contactURI(for: dialog.peer.transport))
        self.dialog = dialog
        reinvite.headers.add(.sessionExpires, "\(timer.interval);refresher=uac")
        reinvite.headers.add(.supported, "timer")
        reinvite.headers.add(.allow, layer.stack.allowedMethods.map(\.rawValue).joined(separator: ", "))
        reinvite.headers.add(.contentType, "application/sdp")
        reinvite.body = sdp.serialized()
        pendingReinvite = true
        let sequence = reinvite.cseq.sequence
        layer.stack.sendRequest(reinvite, to: dialog.peer) { [weak self] event in
            guard let self, !self.isEnded else { return }
            switch event {
            case .response(let r) where r.status.isFinal:
                if (200..<300).contains(r.status.rawValue) {
                    if var d = self.dialog, let layer = self.layer {
                        let ack = d.makeRequest(.ack, via: layer.stack.makeVia(transport: d.peer.transport), contact: nil, cseq: sequence)
                        layer.stack.sendStateless(ack, to: d.peer)
                    }
                    guard self.pendingReinvite else { return }  // a retransmitted 2xx: ACKed again, nothing more
                    self.pendingReinvite = false
                    if !r.body.isEmpty, let answer = try? SDPSession.parse(r.body) {
                        if let old = self.remoteSDP, old.serialized() != answer.serialized() {
                            layer.logger.notice(
                                "the far end answered our session refresh with new SDP; the media is kept as it was", metadata: ["sip.call_id": "\(self.callID)"])
                        }
                    }
                    self.startSessionTimer()
                    return
                }
                self.pendingReinvite = false
                if r.status == .requestTimeout || r.status == .callDoesNotExist {
                    self.expire("our refresh got \(r.status.rawValue)")
                } else if r.status.rawValue == 491 {
                    let wait = Int64.random(in: 2100...4000)
                    self.sessionTimerToken = layer.stack.scheduler.schedule(after: .milliseconds(wait)) { [weak self] in
                        self?.sessionTimerToken = nil
                        self?.sendReinviteRefresh()
                    }
                } else {
                    self.startSessionTimer()
                }
            case .timeout:
                self.pendingReinvite = false
                self.expire("our refresh got no answer")
            case .transportFailure:
                self.pendingReinvite = false
                self.expire("our refresh could not be sent")
            default: break
            }
        }
    }

    /// The session is over by its timer: BYE, and the session ends with `.sessionExpired`.
    private func expire(_ why: String) {
        guard !isEnded, state != .terminating, let layer, var dialog else { return }
        layer.logger.notice("session timer expired; sending BYE", metadata: ["sip.call_id": "\(callID)", "sip.session_timer": "\(why)"])
        state = .terminating
        let bye = dialog.makeRequest(.bye, via: layer.stack.makeVia(transport: dialog.peer.transport), contact: nil)
        self.dialog = dialog
        layer.stack.sendRequest(bye, to: dialog.peer) { _ in }
        end(.sessionExpired)
    }

    /// A response to our unanswered INVITE, with our Contact; nil unless this is a UAS session that
    /// has not sent its final response.
    private func unansweredResponse(_ status: SIPStatus) -> (ServerTransaction, SIPResponse)? {
        guard role == .uas, state == .initial || state == .early, let tx = serverTransaction, let layer else { return nil }
        var r = tx.makeResponse(status)
        r.contact = [.address(SIPNameAddr(uri: layer.contactURI(for: peer.transport)))]
        return (tx, r)
    }

    /// Refuses the call (before it is answered).
    public func reject(_ status: SIPStatus, reason: String? = nil, headers: [SIPHeaderField] = []) {
        guard role == .uas, state == .initial || state == .early, let tx = serverTransaction else { return }
        var r = tx.makeResponse(status, reason: reason)
        for h in headers { r.headers.add(h.name, h.value) }
        tx.respond(r)
        end(.rejected(status))
    }

    // MARK: UAC

    /// Stops a call we placed before it is answered (§9.1): CANCEL once a provisional has come.
    public func cancel() {
        guard role == .uac, state == .initial || state == .early else { return }
        cancelRequested = true
        if provisionalSeen { sendCancel() }
    }

    private func sendCancel() {
        guard let layer, let tx = clientTransaction else { return }
        // A callee that answers neither the CANCEL nor the INVITE would hold the session (and
        // whatever the call layer keeps for it, an RTP port) for ever: after 64*T1 the INVITE
        // counts as cancelled and its transaction is destroyed (RFC 3261 §9.1).
        cancelGuardToken?.cancel()
        cancelGuardToken = layer.stack.scheduler.schedule(after: layer.stack.configuration.timers.transactionTimeout) { [weak self] in
            guard let self, self.state == .initial || self.state == .early else { return }
            self.clientTransaction?.abandon()
            self.end(.cancelled)
        }
        var headers = SIPHeaders()
        for field in invite.headers where field.name == .route { headers.add(.route, field.value) }
        let cancel = SIPRequest(
            method: .cancel, uri: invite.uri, via: Array(invite.via.prefix(1)), from: invite.from, to: invite.to,
            callID: invite.callID, cseq: SIPCSeq(invite.cseq.sequence, .cancel), maxForwards: 70, headers: headers)
        layer.stack.sendRequest(cancel, to: tx.peer) { _ in }
    }

    func handleInviteEvent(_ event: ClientTransaction.Event) {
        guard let layer else { return }
        switch event {
        case .response(let response):
            let code = response.status.rawValue
            switch code {
            case 100:
                provisionalSeen = true
                if cancelRequested { sendCancel() }
            case 101..<200:
                provisionalSeen = true
                if state == .initial { state = .early }
                if cancelRequested {
                    sendCancel()
                } else {
                    onEvent?(.progress(response))
                }
            case 200..<300:
                handleSuccess(response)
            case 401, 407:
                guard !authAttempted, state == .initial || state == .early, var client = credentials else {
                    end(.failed(response.status, response.reason))
                    return
                }
                authAttempted = true
                var retry = invite
                retry.via = [layer.stack.makeVia(transport: peer.transport)]
                retry.cseq = SIPCSeq(invite.cseq.sequence + 1, .invite)
                guard client.authorize(&retry, challengedBy: response) else {
                    end(.failed(response.status, response.reason))
                    return
                }
                credentials = client
                invite = retry
                provisionalSeen = false
                clientTransaction = layer.stack.sendRequest(retry, to: peer) { [weak self] in self?.handleInviteEvent($0) }
            case 503 where failOver("503 \(response.reason)", response):
                return
            default:
                if state != .ended { end(cancelRequested && code == 487 ? .cancelled : .failed(response.status, response.reason)) }
            }
        case .timeout:
            if failOver("no response", nil) { return }
            if state == .initial || state == .early { end(.timeout) }
        case .transportFailure:
            if failOver("the request could not be sent", nil) { return }
            if state != .ended { end(.transportFailure) }
        }
    }

    /// Sends the INVITE again to the next of `alternates`, as a new transaction (a new branch,
    /// the request otherwise the same, RFC 3263 §4.3); false when there is none or it is too late.
    private func failOver(_ why: String, _ response: SIPResponse?) -> Bool {
        guard let layer, role == .uac, state == .initial, !cancelRequested, !alternates.isEmpty else { return false }
        let given = peer
        let next = alternates.removeFirst()
        peer = next
        var retry = invite
        retry.via = [layer.stack.makeVia(transport: next.transport)]
        // A challenge answered for the last address means nothing to the next.
        retry.headers.remove(.authorization)
        retry.headers.remove(.proxyAuthorization)
        invite = retry
        authAttempted = false
        provisionalSeen = false
        onFailover?(given, next, why, response)
        failovers += 1
        let attempt = failovers
        let tx = layer.stack.sendRequest(retry, to: next) { [weak self] in self?.handleInviteEvent($0) }
        // A send that fails at once has moved on to the next address already.
        if failovers == attempt { clientTransaction = tx }
        return true
    }

    /// A 2xx to our INVITE: make the dialog, ACK it (§13.2.2.4); a late 2xx after a CANCEL or a
    /// second answer from a fork is ACKed and hung up at once.
    func handleSuccess(_ response: SIPResponse) {
        guard let layer else { return }
        if let dialog, dialog.id.remoteTag == response.to.tag {
            // A retransmitted 2xx: ACK again.
            sendAck(dialog)
            return
        }
        var newDialog = SIPDialog(uacFor: invite, response: response, peer: peer)
        if dialog != nil || state == .ended || cancelRequested {
            sendAck(newDialog)
            let bye = newDialog.makeRequest(.bye, via: layer.stack.makeVia(transport: newDialog.peer.transport), contact: nil)
            layer.stack.sendRequest(bye, to: newDialog.peer) { _ in }
            if state != .ended && dialog == nil { end(.cancelled) }
            return
        }
        dialog = newDialog
        state = .confirmed
        if !response.body.isEmpty { remoteSDP = try? SDPSession.parse(response.body) }
        layer.register(self)
        // The owner hears of the answer before the ACK leaves: a phone starts its media when the
        // ACK arrives, and its first packet must find the call already bridged (the owner hands
        // the bridge to a media loop before this returns). A BYE the owner sends from the
        // handler waits for the ACK, so the far end never sees them the wrong way round.
        acknowledging = true
        onEvent?(.answered(remoteSDP))
        acknowledging = false
        sendAck(newDialog)
        if byeAfterAck {
            byeAfterAck = false
            transmitBye()
            return
        }
        if let timer = SessionTimer.fromAnswer(response) {
            sessionTimer = timer
            startSessionTimer()
        }
    }

    /// While the owner handles a 2xx we have not yet ACKed, and whether it hung up meanwhile.
    private var acknowledging = false
    private var byeAfterAck = false

    private func sendAck(_ dialog: SIPDialog) {
        guard let layer else { return }
        var d = dialog
        var ack = d.makeRequest(.ack, via: layer.stack.makeVia(transport: d.peer.transport), contact: nil, cseq: invite.cseq.sequence)
        if let auth = invite.headers[.authorization] { ack.headers.add(.authorization, auth) }
        if let auth = invite.headers[.proxyAuthorization] { ack.headers.add(.proxyAuthorization, auth) }
        layer.stack.sendStateless(ack, to: d.peer)
    }

    // MARK: Both

    /// Ends the call from our side: BYE once it is up, CANCEL (UAC) or 480 (UAS) before.
    public func hangUp() {
        switch (role, state) {
        case (.uas, .initial), (.uas, .early):
            reject(.temporarilyUnavailable)
        case (.uac, .initial), (.uac, .early):
            cancel()
        case (_, .accepted), (_, .confirmed):
            sendBye()
        default:
            break
        }
    }

    private func sendBye() {
        guard !acknowledging else {
            state = .terminating
            byeAfterAck = true
            return
        }
        transmitBye()
    }

    private func transmitBye() {
        guard let layer, var dialog else { return }
        state = .terminating
        let bye = dialog.makeRequest(.bye, via: layer.stack.makeVia(transport: dialog.peer.transport), contact: nil)
        self.dialog = dialog
        layer.stack.sendRequest(bye, to: dialog.peer) { [weak self] event in
            guard let self else { return }
            switch event {
            case .response(let r) where r.status.isFinal: self.end(.localHangup)
            case .timeout, .transportFailure: self.end(.localHangup)
            default: break
            }
        }
    }

    /// Tells the far end how the transfer it asked for goes (RFC 3515 §2.4.4): a NOTIFY with the
    /// status line of our call to the target as message/sipfrag; `final` ends the subscription.
    public func notifyRefer(status: SIPStatus, final: Bool) {
        guard let layer, var dialog, state == .confirmed || state == .accepted else { return }
        var notify = dialog.makeRequest(.notify, via: layer.stack.makeVia(transport: dialog.peer.transport), contact: nil)
        self.dialog = dialog
        notify.headers.add(.event, "refer")
        notify.headers.add(SIPHeaderName("Subscription-State"), final ? "terminated;reason=noresource" : "active;expires=60")
        notify.headers.add(.contentType, "message/sipfrag;version=2.0")
        notify.body = Array("SIP/2.0 \(status.rawValue) \(status.reasonPhrase)\r\n".utf8)
        layer.stack.sendRequest(notify, to: dialog.peer) { _ in }
    }

    /// The far end hung up.
    func remoteBye() { end(.remoteHangup) }

    func ackReceived(_ ack: SIPRequest) {
        serverTransaction?.receiveAck()
        if state == .accepted {
            state = .confirmed
            onEvent?(.answered(remoteSDP))
        }
    }

    func end(_ reason: EndReason) {
        guard state != .ended else { return }
        state = .ended
        endReason = reason
        sessionTimerToken?.cancel()
        sessionTimerToken = nil
        cancelGuardToken?.cancel()
        cancelGuardToken = nil
        serverTransaction?.onCancel = nil
        layer?.unregister(self)
        let handler = onEvent
        onEvent = nil
        handler?(.ended(reason))
        layer?.sessionEnded(self, reason: reason)
    }

    /// Next SDP version for a new answer or offer of ours (RFC 3264 §8).
    func nextLocalSDP(from sdp: SDPSession) -> SDPSession {
        var s = sdp
        if let previous = localSDP { s.origin.sessionVersion = previous.origin.sessionVersion + 1 }
        return s
    }

    func setUASTransaction(_ tx: ServerTransaction) {
        serverTransaction = tx
        tx.onCancel = { [weak self] in
            guard let self, let tx = self.serverTransaction else { return }
            tx.respond(tx.makeResponse(.requestTerminated))
            self.end(.cancelled)
        }
        tx.onFailure = { [weak self] action in
            guard let self else { return }
            switch action {
            case .ackNotReceived:
                // §13.3.1.4: no ACK for our 2xx — end the dialog with BYE.
                if self.state == .accepted { self.sendBye() }
                self.end(.ackTimeout)
            case .transportFailed:
                self.end(.transportFailure)
            default:
                break
            }
        }
    }
}
