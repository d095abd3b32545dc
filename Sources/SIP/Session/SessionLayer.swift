import Logging
public import SIPMessage

/// The answer to a new offer inside a call.
public enum ReofferDecision: Sendable {
    case answer(SDPSession)
    case refuse(SIPStatus)
}

/// Decides about calls; the call layer implements it.
public protocol SessionLayerDelegate: AnyObject {
    /// A new INVITE outside any dialog. The delegate answers through the session (ring, answer,
    /// reject), now or later.
    func incomingSession(_ session: InviteSession)
    /// The far end offers new SDP inside the call (re-INVITE, UPDATE): our answer, or a refusal.
    func reoffer(_ offer: SDPSession?, in session: InviteSession) -> ReofferDecision
    /// Any session ended, for whatever reason.
    func sessionEnded(_ session: InviteSession, reason: InviteSession.EndReason)
    /// The far end asks us to call `target` instead (REFER, RFC 3515: a blind transfer). Return
    /// nil to accept (202; progress goes back through `InviteSession.notifyRefer`), or a refusal.
    func refer(_ session: InviteSession, to target: SIPURI) -> SIPStatus?
    /// A BYE ended `session` (after `sessionEnded`); the delegate answers it by calling `respond`
    /// (on this loop), now or once what the call's end wrote is safe.
    func byeReceived(_ session: InviteSession, respond: @escaping () -> Void)
}

extension SessionLayerDelegate {
    public func refer(_ session: InviteSession, to target: SIPURI) -> SIPStatus? { .forbidden }
    public func byeReceived(_ session: InviteSession, respond: @escaping () -> Void) { respond() }
}

/// The INVITE dialogs of the stack (RFC 3261 §12–15), both as UAS and as UAC: it finds the dialog of
/// every in-dialog request, answers BYE, re-INVITE, UPDATE, INFO and OPTIONS inside calls, and hands
/// new calls to its delegate.
public final class SessionLayer: SIPRequestHandler {
    public let stack: SIPStack
    public weak var delegate: (any SessionLayerDelegate)?
    /// While false (draining for shutdown), new INVITEs get 503 with Retry-After.
    public var acceptingCalls = true
    /// Sessions whose dialog exists (answered, or accepted and waiting for the ACK).
    public private(set) var dialogs: [DialogID: InviteSession] = [:]
    /// Every session not ended yet, dialog or not.
    public private(set) var sessions: [UInt64: InviteSession] = [:]
    var logger: Logger { stack.logger }
    /// RFC 4028 for calls we answer: the session interval we offer or accept at most (0: no
    /// timers) and the shortest we accept (`Min-SE`, at least 90 s by the RFC).
    public var sessionExpires = 1800
    public var minSE = 90
    private var nextID: UInt64 = 0

    public init(stack: SIPStack) {
        self.stack = stack
        stack.strayInviteSuccessHandler = { [weak self] response, peer in self?.strayInviteSuccess(response, from: peer) }
    }

    /// Our Contact for a transport.
    public func contactURI(for transport: SIPTransportKind) -> SIPURI {
        let local = stack.transport.advertisedEndpoint(for: transport)
        var uri = SIPURI(scheme: .sip, user: "acdd", host: local.host, port: local.port)
        if transport != .udp { uri.parameters["transport"] = .some(transport.rawValue.lowercased()) }
        return uri
    }

    private func makeID() -> UInt64 {
        nextID += 1
        return nextID
    }

    /// An id for a session not yet placed (pass it to `invite(id:)`): a call that must be named
    /// before its INVITE goes out (an agent's own call, which the ACD is asked about first).
    public func reserveID() -> UInt64 { makeID() }

    // MARK: Requests

    public func handle(_ tx: ServerTransaction) -> Bool {
        let request = tx.request
        if request.to.tag == nil {
            guard request.method == .invite else { return false }
            incoming(tx)
            return true
        }
        guard let fromTag = request.from.tag, let toTag = request.to.tag,
            let session = dialogs[DialogID(callID: request.callID, localTag: toTag, remoteTag: fromTag)],
            var dialog = session.dialog
        else { return false }
        // §12.2.2: requests must come in order.
        if let last = dialog.remoteSequence, request.cseq.sequence <= last, request.method != .ack {
            tx.respond(.serverInternalError, reason: "CSeq out of order")
            return true
        }
        dialog.remoteSequence = request.cseq.sequence
        session.setDialog(dialog)
        switch request.method {
        case .bye:
            logger.debug("BYE received", metadata: ["sip.call_id": "\(request.callID)"])
            session.remoteBye()
            if let delegate { delegate.byeReceived(session) { tx.respond(.ok) } } else { tx.respond(.ok) }
        case .invite, .update:
            reoffer(tx, session)
        case .info, .options:
            tx.respond(.ok)
        case .notify:
            // Only our own REFER subscriptions exist, and we send no REFER: nothing to update.
            tx.respond(.ok)
        case .refer:
            refer(tx, session)
        default:
            return false
        }
        return true
    }

    /// RFC 3515 §2.4: one Refer-To, a SIP URI; accepted with 202 and followed by NOTIFYs.
    private func refer(_ tx: ServerTransaction, _ session: InviteSession) {
        let values = tx.request.headers.values(.referTo)
        guard values.count == 1, let target = try? SIPNameAddr.parse(values[0], header: "Refer-To").uri else {
            return tx.respond(.badRequest, reason: "REFER needs exactly one Refer-To with a SIP URI")
        }
        guard let delegate else { return tx.respond(.forbidden) }
        if let refusal = delegate.refer(session, to: target) {
            return tx.respond(refusal)
        }
        tx.respond(.accepted)
        session.notifyRefer(status: .trying, final: false)
    }

    public func handleAck(_ request: SIPRequest, from peer: SIPPeer) -> Bool {
        guard let fromTag = request.from.tag, let toTag = request.to.tag,
            let session = dialogs[DialogID(callID: request.callID, localTag: toTag, remoteTag: fromTag)]
        else { return false }
        if session.pendingReinvite, let tx = session.reinviteTransaction {
            tx.receiveAck()
            session.pendingReinvite = false
            session.reinviteTransaction = nil
            return true
        }
        // Late offer: the answer comes in the ACK (RFC 3264 §5... §13.2.1).
        if session.remoteSDP == nil, !request.body.isEmpty { session.remoteSDP = try? SDPSession.parse(request.body) }
        session.ackReceived(request)
        return true
    }

    private func incoming(_ tx: ServerTransaction) {
        guard acceptingCalls else {
            var r = tx.makeResponse(.serviceUnavailable, reason: "Shutting down")
            r.headers.add(.retryAfter, "30")
            tx.respond(r)
            return
        }
        let request = tx.request
        if !request.body.isEmpty, let type = request.headers[.contentType]?.lowercased(), !type.hasPrefix("application/sdp") {
            var r = tx.makeResponse(.unsupportedMediaType)
            r.headers.add(.accept, "application/sdp")
            tx.respond(r)
            return
        }
        if let value = request.headers[.replaces] {
            // RFC 3891 §3. We take part in attended transfers through REFER (the call layer), but
            // never hand one of our dialogs to a new INVITE (pickup, a transfer completed
            // elsewhere): a Replaces naming no dialog gets the 481 the RFC names, one naming a
            // dialog is declined, and that dialog goes on.
            guard let replaces = try? SIPReplaces.parse(value) else {
                logger.notice("INVITE refused: its Replaces does not parse", metadata: ["sip.call_id": "\(request.callID)", "sip.replaces": "\(value)"])
                return tx.respond(.badRequest, reason: "Replaces needs Call-ID;to-tag=...;from-tag=...")
            }
            guard dialogs[DialogID(callID: replaces.callID, localTag: replaces.toTag, remoteTag: replaces.fromTag)] != nil else {
                logger.notice("INVITE refused: its Replaces names no dialog", metadata: ["sip.call_id": "\(request.callID)", "sip.replaces": "\(value)"])
                return tx.respond(.callDoesNotExist, reason: "Replaces names no dialog")
            }
            logger.notice("INVITE refused: acdd does not replace a dialog by INVITE", metadata: ["sip.call_id": "\(request.callID)", "sip.replaces": "\(value)"])
            return tx.respond(.decline, reason: "Dialogs are not replaced by INVITE here")
        }
        let timer: SessionTimer?
        switch SessionTimer.negotiate(request, ourInterval: sessionExpires, ourMinSE: minSE) {
        case .none: timer = nil
        case .timer(let t, _): timer = t
        case .tooSmall(let min):
            logger.info("INVITE refused: session interval too small", metadata: ["sip.call_id": "\(request.callID)", "sip.session_expires": "\(request.headers[.sessionExpires] ?? "")"])
            var r = tx.makeResponse(.sessionIntervalTooSmall)
            r.headers.add(.minSE, String(min))
            return tx.respond(r)
        case .malformed(let why):
            logger.info("INVITE refused: bad Session-Expires", metadata: ["sip.call_id": "\(request.callID)", "sip.reason": "\(why)"])
            return tx.respond(.badRequest, reason: why)
        }
        let session = InviteSession(id: makeID(), role: .uas, invite: request, peer: tx.source, layer: self)
        session.sessionTimer = timer
        if !request.body.isEmpty {
            do {
                session.remoteSDP = try SDPSession.parse(request.body)
            } catch {
                stack.sourceFilter?.recordFailure(tx.source, reason: error.detail)
                logger.info("INVITE with bad SDP", metadata: ["sip.call_id": "\(request.callID)", "sip.reason": "\(error.detail)"])
                tx.respond(.badRequest, reason: error.reasonPhrase)
                return
            }
        }
        session.setUASTransaction(tx)
        sessions[session.id] = session
        guard let delegate else {
            session.reject(.temporarilyUnavailable)
            return
        }
        delegate.incomingSession(session)
    }

    /// A new offer inside a call (§14.2): 491 while another offer is outstanding, else the
    /// delegate's answer.
    private func reoffer(_ tx: ServerTransaction, _ session: InviteSession) {
        if session.pendingReinvite || session.state == .accepted {
            var r = tx.makeResponse(.requestPending)
            r.headers.add(.retryAfter, "1")
            tx.respond(r)
            return
        }
        var offer: SDPSession?
        if !tx.request.body.isEmpty {
            do { offer = try SDPSession.parse(tx.request.body) } catch {
                tx.respond(.badRequest, reason: error.reasonPhrase)
                return
            }
        }
        guard let delegate else {
            tx.respond(.notAcceptableHere)
            return
        }
        // A re-INVITE or UPDATE refreshes the session timer (RFC 4028 §9), and may change it.
        var refreshed = session.sessionTimer
        if session.role == .uas, session.sessionTimer != nil || tx.request.headers[.sessionExpires] != nil {
            switch SessionTimer.negotiate(tx.request, ourInterval: sessionExpires, ourMinSE: minSE) {
            case .none: break
            case .timer(let t, _): refreshed = t
            case .tooSmall(let min):
                var r = tx.makeResponse(.sessionIntervalTooSmall)
                r.headers.add(.minSE, String(min))
                return tx.respond(r)
            case .malformed(let why): return tx.respond(.badRequest, reason: why)
            }
        }
        // An UPDATE without a body changes no media (RFC 3311 §5.2): it is a refresh, answered
        // here, whatever the call layer would say to an offer.
        if tx.request.method == .update && offer == nil {
            var r = tx.makeResponse(.ok)
            session.refreshed(refreshed, answering: &r)
            return tx.respond(r)
        }
        switch delegate.reoffer(offer, in: session) {
        case .answer(let answer):
            let sdp = session.nextLocalSDP(from: answer)
            var r = tx.makeResponse(.ok)
            session.refreshed(refreshed, answering: &r)
            r.contact = [.address(SIPNameAddr(uri: contactURI(for: session.peer.transport)))]
            r.headers.add(.contentType, "application/sdp")
            r.body = sdp.serialized()
            session.localSDP = sdp
            if offer != nil { session.remoteSDP = offer }
            if tx.request.method == .invite {
                session.pendingReinvite = true
                session.reinviteTransaction = tx
                tx.onFailure = { [weak session] action in
                    if action == .ackNotReceived { session?.pendingReinvite = false }
                }
            }
            if let target = tx.request.contact.first?.nameAddr?.uri, var d = session.dialog {
                d.remoteTarget = target  // a target refresh (§12.2.2)
                session.setDialog(d)
            }
            tx.respond(r)
        case .refuse(let status):
            tx.respond(status)
        }
    }

    // MARK: Outgoing calls

    /// Places a call (INVITE with our offer). Events arrive through the returned session's
    /// `onEvent`; set it before the next turn of the loop. `alternates` and `onFailover` are
    /// given here, not set after, because a UDP send can fail before this returns.
    public func invite(
        to uri: SIPURI, peer: SIPPeer, from: SIPNameAddr, offer: SDPSession, credentials: DigestClient? = nil,
        headers: [SIPHeaderField] = [], id: UInt64? = nil, alternates: [SIPPeer] = [],
        onFailover: ((_ from: SIPPeer, _ to: SIPPeer, _ why: String, _ response: SIPResponse?) -> Void)? = nil
    ) -> InviteSession {
        var fromParty = from
        fromParty.tag = stack.makeTag()
        var extra = SIPHeaders()
        for h in headers { extra.add(h.name, h.value) }
        extra.add(.allow, stack.allowedMethods.map(\.rawValue).joined(separator: ", "))
        extra.add(.supported, stack.configuration.supported.joined(separator: ", "))
        extra.add(.userAgent, stack.configuration.product)
        extra.add(.contentType, "application/sdp")
        let request = SIPRequest(
            method: .invite, uri: uri, via: [stack.makeVia(transport: peer.transport)], from: fromParty,
            to: SIPNameAddr(uri: uri), callID: stack.makeCallID(), cseq: SIPCSeq(1, .invite), maxForwards: 70,
            contact: [.address(SIPNameAddr(uri: contactURI(for: peer.transport)))], headers: extra, body: offer.serialized())
        let session = InviteSession(id: id ?? makeID(), role: .uac, invite: request, peer: peer, layer: self)
        session.localSDP = offer
        session.credentials = credentials
        session.alternates = alternates
        session.onFailover = onFailover
        sessions[session.id] = session
        session.clientTransaction = stack.sendRequest(request, to: peer) { [weak session] in session?.handleInviteEvent($0) }
        return session
    }

    /// A 2xx whose INVITE transaction is gone (§13.2.2.4): ACK it again if the dialog is ours.
    private func strayInviteSuccess(_ response: SIPResponse, from peer: SIPPeer) {
        guard let localTag = response.from.tag, let remoteTag = response.to.tag,
            let session = dialogs[DialogID(callID: response.callID, localTag: localTag, remoteTag: remoteTag)]
        else { return }
        session.handleSuccess(response)
    }

    // MARK: Bookkeeping

    func register(_ session: InviteSession) {
        if let d = session.dialog { dialogs[d.id] = session }
    }

    func unregister(_ session: InviteSession) {
        if let d = session.dialog, dialogs[d.id] === session { dialogs[d.id] = nil }
        sessions[session.id] = nil
    }

    func sessionEnded(_ session: InviteSession, reason: InviteSession.EndReason) {
        delegate?.sessionEnded(session, reason: reason)
    }

    /// Ends every call: BYE for answered ones, 480 or CANCEL for the rest. Returns how many there were.
    @discardableResult
    public func hangUpAll() -> Int {
        let all = Array(sessions.values)
        for s in all { s.hangUp() }
        return all.count
    }
}

extension InviteSession {
    func setDialog(_ d: SIPDialog) { dialog = d }
}
