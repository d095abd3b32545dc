public import SIPMessage

/// A client transaction as the layers above see it: responses come to `onEvent`.
public final class ClientTransaction {
    /// What the transaction user learns.
    public enum Event: Sendable {
        case response(SIPResponse)
        /// Timer B or F fired with no final response (treated as 408).
        case timeout
        /// The request could not be sent (treated as 503, §8.1.3.1).
        case transportFailure
    }

    enum Machine {
        case invite(ClientInviteTransaction)
        case nonInvite(ClientNonInviteTransaction)
    }

    /// The request; once a final response arrived, only its essentials (`SIPRequest.essentials`),
    /// as for server transactions.
    public private(set) var request: SIPRequest
    public let peer: SIPPeer
    let key: ClientTransactionKey
    private weak var stack: SIPStack?
    private var machine: Machine
    private var onEvent: ((Event) -> Void)?
    private var timers = TransactionTimerSet()
    private var requestBytes: [UInt8] = []

    init(stack: SIPStack, key: ClientTransactionKey, request: SIPRequest, peer: SIPPeer, onEvent: @escaping (Event) -> Void) {
        self.stack = stack
        self.key = key
        self.request = request
        self.peer = peer
        self.onEvent = onEvent
        let reliable = peer.transport.isReliable
        if request.method == .invite {
            machine = .invite(ClientInviteTransaction(request: request, reliable: reliable, timers: stack.configuration.timers))
        } else {
            machine = .nonInvite(ClientNonInviteTransaction(request: request, reliable: reliable, timers: stack.configuration.timers))
        }
    }

    public var isTerminated: Bool {
        switch machine {
        case .invite(let m): m.state == .terminated
        case .nonInvite(let m): m.state == .terminated
        }
    }

    func start() {
        requestBytes = request.serialized()
        step { $0.start() } nonInvite: { $0.start() }
    }

    func receive(_ response: SIPResponse) {
        step { $0.receive(response) } nonInvite: { $0.receive(response) }
    }

    /// Keeps what a transaction waiting out Timer D, K or M needs, and lets the rest go.
    private func shed() {
        request = request.essentials
        requestBytes = []
        switch machine {
        case .invite(var m):
            m.shed()
            machine = .invite(m)
        case .nonInvite(var m):
            m.shed()
            machine = .nonInvite(m)
        }
    }

    private func timerFired(_ timer: TransactionTimer) {
        timers.fired(timer)
        step { $0.timerFired(timer) } nonInvite: { $0.timerFired(timer) }
    }

    /// Destroys an INVITE transaction that waits for a final response (see
    /// `ClientInviteTransaction.abandon`); the transaction user hears nothing more.
    public func abandon() {
        step { $0.abandon() } nonInvite: { _ in [] }
    }

    private func transportFailed() {
        step { $0.transportFailed() } nonInvite: { $0.transportFailed() }
    }

    /// Feeds an event to whichever machine this is and performs what it asks for.
    private func step(
        invite: (inout ClientInviteTransaction) -> [TransactionAction], nonInvite: (inout ClientNonInviteTransaction) -> [TransactionAction]
    ) {
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
    }

    private func perform(_ actions: [TransactionAction]) {
        guard let stack else { return }
        for action in actions {
            switch action {
            case .send(.request(let r)):
                let bytes = r.method == request.method && !requestBytes.isEmpty ? requestBytes : r.serialized()
                stack.didSend(request: true)
                stack.transport.send(bytes, to: peer) { [weak self] _ in self?.transportFailed() }
            case .send(.response), .resend:
                break
            case .startTimer(.m, let delay):
                // Accepted: a record that passes 2xx up replaces this object until Timer M
                // (`SIPStack.accepted`). Tens of thousands wait out Timer M at once under churn.
                timers.cancelAll()
                stack.retire(self, deliver: onEvent ?? { _ in }, after: delay)
                onEvent = nil
            case .startTimer(let timer, let delay):
                timers.start(timer, after: delay, on: stack.scheduler) { [weak self] in self?.timerFired(timer) }
            case .cancelTimer(let timer):
                timers.cancel(timer)
            case .deliver(let response):
                onEvent?(.response(response))
                if response.status.isFinal { shed() }
            case .timedOut:
                stack.didTimeOut()
                onEvent?(.timeout)
            case .transportFailed:
                onEvent?(.transportFailure)
            case .ackNotReceived:
                break
            case .terminated:
                timers.cancelAll()
                onEvent = nil
                stack.forget(self)
            }
        }
    }
}
