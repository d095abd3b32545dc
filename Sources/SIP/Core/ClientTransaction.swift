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

    public let request: SIPRequest
    public let peer: SIPPeer
    let key: ClientTransactionKey
    private weak var stack: SIPStack?
    private var machine: Machine
    private var onEvent: ((Event) -> Void)?
    private var timers: [TransactionTimer: SIPTimerToken] = [:]
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
        switch machine {
        case .invite(var m):
            let a = m.start()
            machine = .invite(m)
            perform(a)
        case .nonInvite(var m):
            let a = m.start()
            machine = .nonInvite(m)
            perform(a)
        }
    }

    func receive(_ response: SIPResponse) {
        switch machine {
        case .invite(var m):
            let a = m.receive(response)
            machine = .invite(m)
            perform(a)
        case .nonInvite(var m):
            let a = m.receive(response)
            machine = .nonInvite(m)
            perform(a)
        }
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
            case .send(.request(let r)):
                let bytes = r.method == request.method ? requestBytes : r.serialized()
                stack.didSend(request: true)
                stack.transport.send(bytes, to: peer) { [weak self] _ in self?.transportFailed() }
            case .send(.response):
                break
            case .startTimer(let timer, let delay):
                timers[timer]?.cancel()
                timers[timer] = stack.scheduler.schedule(after: delay) { [weak self] in self?.timerFired(timer) }
            case .cancelTimer(let timer):
                timers.removeValue(forKey: timer)?.cancel()
            case .deliver(let response):
                onEvent?(.response(response))
            case .timedOut:
                stack.didTimeOut()
                onEvent?(.timeout)
            case .transportFailed:
                onEvent?(.transportFailure)
            case .ackNotReceived:
                break
            case .terminated:
                for token in timers.values { token.cancel() }
                timers.removeAll()
                onEvent = nil
                stack.forget(self)
            }
        }
    }
}
