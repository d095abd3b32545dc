public import SIPMessage

/// A server transaction as the layers above see it: the request, where it came from, and the way to
/// answer it. The state machine inside is one of the two RFC 3261 §17.2 machines.
public final class ServerTransaction {
    enum Machine {
        case invite(ServerInviteTransaction)
        case nonInvite(ServerNonInviteTransaction)
    }

    public let request: SIPRequest
    public let source: SIPPeer
    /// Where responses go (§18.2.2).
    public let responsePeer: SIPPeer
    /// The To tag of our responses, chosen once so that every response of the transaction agrees.
    public let toTag: String
    /// Called when a CANCEL arrives for this INVITE before its final response.
    public var onCancel: (() -> Void)?
    /// Called when the 2xx was never ACKed (§13.3.1.4) or the transport failed.
    public var onFailure: ((TransactionAction) -> Void)?

    let key: ServerTransactionKey
    private weak var stack: SIPStack?
    private var machine: Machine
    private var timers: [TransactionTimer: SIPTimerToken] = [:]
    private var lastSentBytes: (SIPResponse, [UInt8])?

    init(stack: SIPStack, key: ServerTransactionKey, request: SIPRequest, source: SIPPeer, responsePeer: SIPPeer) {
        self.stack = stack
        self.key = key
        self.request = request
        self.source = source
        self.responsePeer = responsePeer
        self.toTag = request.to.tag ?? stack.makeTag()
        let reliable = source.transport.isReliable
        if request.method == .invite {
            machine = .invite(ServerInviteTransaction(request: request, reliable: reliable, timers: stack.configuration.timers))
        } else {
            machine = .nonInvite(ServerNonInviteTransaction(request: request, reliable: reliable, timers: stack.configuration.timers))
        }
    }

    public var hasFinalResponse: Bool {
        switch machine {
        case .invite(let m): m.hasFinalResponse
        case .nonInvite(let m): m.hasFinalResponse
        }
    }

    public var isTerminated: Bool {
        switch machine {
        case .invite(let m): m.state == .terminated
        case .nonInvite(let m): m.state == .terminated
        }
    }

    /// A response with our To tag and Server header, ready to be adjusted and sent.
    public func makeResponse(_ status: SIPStatus, reason: String? = nil) -> SIPResponse {
        var response = request.response(status, reason: reason, toTag: toTag)
        if let product = stack?.configuration.product { response.headers.add(.server, product) }
        return response
    }

    /// Sends a response through the transaction. A second final response is ignored (and logged).
    public func respond(_ response: SIPResponse) {
        let actions: [TransactionAction]
        switch machine {
        case .invite(var m):
            actions = m.respond(response)
            machine = .invite(m)
        case .nonInvite(var m):
            actions = m.respond(response)
            machine = .nonInvite(m)
        }
        if actions.isEmpty {
            stack?.logger.warning(
                "response after the final one ignored",
                metadata: ["sip.call_id": "\(request.callID)", "sip.status": "\(response.status.rawValue)"])
        }
        perform(actions)
    }

    /// Convenience: `respond(makeResponse(status))`.
    public func respond(_ status: SIPStatus, reason: String? = nil) { respond(makeResponse(status, reason: reason)) }

    func start() {
        if case .invite(var m) = machine {
            let actions = m.start()
            machine = .invite(m)
            perform(actions)
        }
    }

    func receiveRetransmission() {
        switch machine {
        case .invite(var m):
            let a = m.receiveRetransmission()
            machine = .invite(m)
            perform(a)
        case .nonInvite(var m):
            let a = m.receiveRetransmission()
            machine = .nonInvite(m)
            perform(a)
        }
    }

    /// An ACK for a non-2xx, or the dialog layer reporting the ACK of our 2xx.
    public func receiveAck() {
        guard case .invite(var m) = machine else { return }
        let a = m.receiveAck()
        machine = .invite(m)
        perform(a)
    }

    private func timerFired(_ timer: TransactionTimer) {
        timers[timer] = nil
        switch machine {
        case .invite(var m):
            let a = m.timerFired(timer)
            machine = .invite(m)
            perform(a)
        case .nonInvite(var m):
            let a = m.timerFired(timer)
            machine = .nonInvite(m)
            perform(a)
        }
    }

    private func transportFailed() {
        switch machine {
        case .invite(var m):
            let a = m.transportFailed()
            machine = .invite(m)
            perform(a)
        case .nonInvite(var m):
            let a = m.transportFailed()
            machine = .nonInvite(m)
            perform(a)
        }
    }

    private func perform(_ actions: [TransactionAction]) {
        guard let stack else { return }
        for action in actions {
            switch action {
            case .send(.response(let response)):
                // Retransmissions reuse the bytes of the first sending.
                let bytes: [UInt8]
                if let last = lastSentBytes, last.0 == response { bytes = last.1 } else {
                    bytes = response.serialized()
                    lastSentBytes = (response, bytes)
                }
                stack.didSend(request: false)
                stack.transport.send(bytes, to: responsePeer) { [weak self] _ in self?.transportFailed() }
            case .send(.request):
                break
            case .startTimer(let timer, let delay):
                timers[timer]?.cancel()
                timers[timer] = stack.scheduler.schedule(after: delay) { [weak self] in self?.timerFired(timer) }
            case .cancelTimer(let timer):
                timers.removeValue(forKey: timer)?.cancel()
            case .timedOut:
                stack.didTimeOut()
                onFailure?(action)
            case .transportFailed, .ackNotReceived:
                onFailure?(action)
            case .deliver:
                break
            case .terminated:
                for token in timers.values { token.cancel() }
                timers.removeAll()
                onCancel = nil
                onFailure = nil
                stack.forget(self)
            }
        }
    }
}
