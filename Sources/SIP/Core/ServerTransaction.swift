public import SIPMessage

/// A server transaction as the layers above see it: the request, where it came from, and the way to
/// answer it. The state machine inside is one of the two RFC 3261 §17.2 machines.
public final class ServerTransaction {
    enum Machine {
        case invite(ServerInviteTransaction)
        case nonInvite(ServerNonInviteTransaction)
    }

    /// The request; once the final response is sent, only its essentials (`SIPRequest.essentials`):
    /// the transaction then merely absorbs retransmissions for up to 32 s, and under load tens of
    /// thousands wait at once (bench/README.md, "Memory of a lingering transaction").
    public private(set) var request: SIPRequest
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
    private var timers = TransactionTimerSet()
    /// The last response as sent, for retransmissions.
    private var lastSentBytes: [UInt8]?
    /// When Timer L ends Accepted (an INVITE answered with a 2xx).
    private var timerLDeadline: Duration?

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
        let sent = step { $0.respond(response) } nonInvite: { $0.respond(response) }
        if !sent {
            stack?.logger.warning(
                "response after the final one ignored",
                metadata: ["sip.call_id": "\(request.callID)", "sip.status": "\(response.status.rawValue)"])
        }
    }

    /// Convenience: `respond(makeResponse(status))`.
    public func respond(_ status: SIPStatus, reason: String? = nil) { respond(makeResponse(status, reason: reason)) }

    func start() {
        step { $0.start() } nonInvite: { _ in [] }
    }

    func receiveRetransmission() {
        step { $0.receiveRetransmission() } nonInvite: { $0.receiveRetransmission() }
    }

    /// An ACK for a non-2xx, or the dialog layer reporting the ACK of our 2xx.
    public func receiveAck() {
        step { $0.receiveAck() } nonInvite: { _ in [] }
        // Accepted and ACKed: until Timer L the transaction only absorbs INVITE retransmissions,
        // which a record of its key does as well (`SIPStack.answered`, with no bytes). At 500
        // calls/s, 32 s of Timer L keeps about 16,000 INVITE transactions waiting at once.
        if case .invite(let m) = machine, m.onlyAbsorbs, let stack, let timerL = timerLDeadline {
            timers.cancelAll()
            onCancel = nil
            onFailure = nil
            lastSentBytes = nil
            stack.retire(self, response: [], after: max(.zero, timerL - stack.scheduler.now))
        }
    }

    private func timerFired(_ timer: TransactionTimer) {
        timers.fired(timer)
        step { $0.timerFired(timer) } nonInvite: { $0.timerFired(timer) }
    }

    private func transportFailed() {
        step { $0.transportFailed() } nonInvite: { $0.transportFailed() }
    }

    /// Feeds an event to whichever machine this is and performs what it asks for. Returns whether
    /// the machine asked for anything.
    @discardableResult
    private func step(
        invite: (inout ServerInviteTransaction) -> [TransactionAction], nonInvite: (inout ServerNonInviteTransaction) -> [TransactionAction]
    ) -> Bool {
        let actions: [TransactionAction]
        switch machine {
        case .invite(var m):
            actions = invite(&m)
            machine = .invite(m)
        case .nonInvite(var m):
            actions = nonInvite(&m)
            machine = .nonInvite(m)
        }
        perform(actions)
        return !actions.isEmpty
    }

    private func perform(_ actions: [TransactionAction]) {
        guard let stack else { return }
        for action in actions {
            switch action {
            case .send(.response(let response)):
                let bytes = response.serialized()
                lastSentBytes = bytes
                stack.didSend(request: false)
                stack.transport.send(bytes, to: responsePeer) { [weak self] _ in self?.transportFailed() }
                if response.status.isFinal {
                    request = request.essentials
                    onCancel = nil
                }
            case .resend:
                // Retransmissions reuse the bytes of the first sending.
                guard let bytes = lastSentBytes else { break }
                stack.didSend(request: false)
                stack.transport.send(bytes, to: responsePeer) { [weak self] _ in self?.transportFailed() }
            case .send(.request):
                break
            case .startTimer(.j, let delay) where delay > .zero && lastSentBytes != nil:
                // Completed over UDP: the stack keeps the response's bytes in a compact record and
                // this object, with the request and the machine, can go (`SIPStack.answered`).
                // Nothing can reach it any more but a late `respond`, which is ignored.
                timers.cancelAll()
                onCancel = nil
                onFailure = nil
                stack.retire(self, response: lastSentBytes ?? [], after: delay)
                lastSentBytes = nil
            case .startTimer(let timer, let delay):
                if timer == .l { timerLDeadline = stack.scheduler.now + delay }
                timers.start(timer, after: delay, on: stack.scheduler) { [weak self] in self?.timerFired(timer) }
            case .cancelTimer(let timer):
                timers.cancel(timer)
            case .timedOut:
                stack.didTimeOut()
                onFailure?(action)
            case .transportFailed, .ackNotReceived:
                onFailure?(action)
            case .deliver:
                break
            case .terminated:
                timers.cancelAll()
                onCancel = nil
                onFailure = nil
                stack.forget(self)
            }
        }
    }
}
