public import Logging
import NIOCore
public import SIPMessage

// The transaction layer's shell (RFC 3261 §17) and the dispatcher above it.
//
// Everything here runs on the stack's one event loop, so nothing is locked. A datagram or stream
// frame comes in through `receive`, is parsed, and then:
//   response → the client transaction whose branch and method match, or is dropped (§17.1.3);
//   request  → a retransmission is absorbed by its server transaction; otherwise a new one is made
//              and the request is offered to each handler in turn, as libre's `sip_recv` does. When
//              none claims it, the stack answers itself (481 in a dialog, 405/501 outside), so every
//              request gets a final response.

/// A layer above the transactions (registrar, session layer, OPTIONS responder...).
public protocol SIPRequestHandler: AnyObject {
    /// Handles a new request; returns false to let the next handler see it. The handler answers
    /// through `transaction` now or later.
    func handle(_ transaction: ServerTransaction) -> Bool
    /// An ACK that matched no INVITE server transaction: the ACK of a 2xx (§13.2.2.4), which
    /// belongs to a dialog. Returns whether a dialog took it.
    func handleAck(_ request: SIPRequest, from peer: SIPPeer) -> Bool
}

extension SIPRequestHandler {
    public func handleAck(_ request: SIPRequest, from peer: SIPPeer) -> Bool { false }
}

/// Decides whether a source may talk to us at all, and learns from its failures. The stack asks it
/// before parsing, and tells it about every parse error and refused request.
public protocol SIPSourceFilter: AnyObject {
    func admit(_ peer: SIPPeer) -> Bool
    func recordFailure(_ peer: SIPPeer, reason: String)
}

public final class SIPStack {
    /// Static settings of the stack.
    public struct Configuration: Sendable {
        public var timers: SIPTimerValues
        public var parserLimits: SIPParserLimits
        /// `User-Agent` / `Server` value.
        public var product: String
        /// Option tags we support (Supported header; anything else in Require gets 420).
        public var supported: [String]

        public init(
            timers: SIPTimerValues = SIPTimerValues(), parserLimits: SIPParserLimits = SIPParserLimits(),
            product: String = "acdd", supported: [String] = ["replaces", "timer"]
        ) {
            self.timers = timers
            self.parserLimits = parserLimits
            self.product = product
            self.supported = supported
        }
    }

    /// Counters for status and tests, read on the loop.
    public struct Statistics: Sendable, Hashable {
        public var messagesReceived = 0
        public var parseErrors = 0
        public var filtered = 0
        public var retransmissionsAbsorbed = 0
        public var requestsSent = 0
        public var responsesSent = 0
        public var transactionTimeouts = 0
        public var strayResponses = 0
    }

    public let configuration: Configuration
    public let scheduler: any SIPScheduler
    public let transport: any SIPTransport
    public var logger: Logger
    public var handlers: [any SIPRequestHandler] = []
    public var sourceFilter: (any SIPSourceFilter)?
    public private(set) var statistics = Statistics()
    /// Methods this UA implements, for Allow and the 405/501 decision.
    public var allowedMethods: [SIPMethod] = [.invite, .ack, .bye, .cancel, .options, .register, .info, .update, .refer, .notify]

    let parser: SIPParser
    var serverTransactions: [ServerTransactionKey: ServerTransaction] = [:]
    /// Non-INVITE server transactions that sent their final response over UDP and now only wait
    /// out Timer J (RFC 3261 §17.2.2, Completed): all that state needs is the response's bytes and
    /// where they go. INVITE transactions in Accepted with their 2xx ACKed wait here too, with no
    /// bytes (they answer nothing). Under churn tens of thousands wait at once (issue 5), and the whole
    /// transaction with its request, machine and timer was 3,456 bytes each
    /// (bench/results/2026-11-23-transaction-memory.txt).
    var answered = ExpiringRecords<ServerTransactionKey, AnsweredRequest>()
    /// INVITE client transactions in Accepted (RFC 6026): until Timer M every 2xx that matches,
    /// a retransmission or a fork's answer, goes to the TU, which ACKs it (and hangs a fork up).
    /// That needs only where to send it; the transaction with its request and timers goes.
    var accepted = ExpiringRecords<ClientTransactionKey, (ClientTransaction.Event) -> Void>()
    /// One sweep for both kinds of record: all wait 64*T1.
    var recordSweep: SIPTimerToken?
    var clientTransactions: [ClientTransactionKey: ClientTransaction] = [:]
    var idCounter: UInt64 = 0
    var rng = SystemRandomNumberGenerator()

    public init(configuration: Configuration, scheduler: any SIPScheduler, transport: any SIPTransport, logger: Logger) {
        self.configuration = configuration
        self.scheduler = scheduler
        self.transport = transport
        self.logger = logger
        self.parser = SIPParser(limits: configuration.parserLimits)
    }

    /// Server transactions still alive, including those that only absorb retransmissions.
    public var serverTransactionCount: Int { serverTransactions.count + answered.count }
    /// Client transactions still alive, including INVITEs in Accepted kept as records.
    public var clientTransactionCount: Int { clientTransactions.count + accepted.count }

    // MARK: Identifiers

    /// A branch with the RFC 3261 magic cookie, unique to this process (§8.1.1.7).
    public func makeBranch() -> String {
        idCounter &+= 1
        return SIPVia.magicCookie + hex(rng.next()) + String(idCounter, radix: 36)
    }

    /// A tag or Call-ID part with 64 bits of randomness (§19.3).
    public func makeTag() -> String { hex(rng.next()) }

    public func makeCallID() -> String {
        let host = transport.advertisedEndpoint(for: .udp).host
        return hex(rng.next()) + hex(rng.next()) + "@" + host
    }

    private func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    /// A Via for a request we send over `transport`, with rport (RFC 3581) so that answers come back
    /// through NATs.
    public func makeVia(transport kind: SIPTransportKind, branch: String? = nil) -> SIPVia {
        let local = transport.advertisedEndpoint(for: kind)
        var via = SIPVia(transport: kind.rawValue, host: local.host, port: local.port, branch: branch ?? makeBranch())
        via.parameters["rport"] = .some(nil)
        return via
    }

    // MARK: Receiving

    /// Entry point for the transports: one datagram, or one framed message from a stream.
    public func receive(_ bytes: [UInt8], from peer: SIPPeer) {
        statistics.messagesReceived += 1
        if let filter = sourceFilter, !filter.admit(peer) {
            statistics.filtered += 1
            return
        }
        if SIPParser.isKeepAlive(bytes) {
            // RFC 5626 §3.5.1: a double CRLF ping gets a single CRLF pong on streams.
            if peer.transport.isReliable, bytes.count >= 4 { transport.send([0x0D, 0x0A], to: peer) { _ in } }
            return
        }
        let message: SIPMessage
        do {
            message = try parser.parse(bytes, streamed: peer.transport.isReliable)
        } catch {
            statistics.parseErrors += 1
            sourceFilter?.recordFailure(peer, reason: error.detail)
            if let context = error.context, context.method != .ack {
                let status: SIPStatus = error.code == .unsupportedVersion ? .versionNotSupported : .badRequest
                var response = SIPResponse(status, reason: error.reasonPhrase, context: context, toTag: makeTag())
                response.headers.add(.server, configuration.product)
                sendResponse(response, to: responsePeer(for: context.via[0], source: peer))
            }
            return
        }
        switch message {
        case .request(var request):
            stampReceived(&request, from: peer)
            receiveRequest(request, from: peer)
        case .response(let response):
            receiveResponse(response, from: peer)
        }
    }

    /// RFC 3261 §18.2.1 and RFC 3581: note the source address in the top Via so that responses,
    /// including those of a later layer, go back where the request came from.
    private func stampReceived(_ request: inout SIPRequest, from peer: SIPPeer) {
        guard var top = request.via.first else { return }
        if top.host != peer.ip { top.parameters["received"] = .some(peer.ip) }
        if top.rport.present { top.parameters["rport"] = .some(String(peer.port)) }
        request.via[0] = top
    }

    /// Where a response goes (§18.2.2, RFC 3581 §4): back over the same connection for streams; for
    /// datagrams to the source address, at the rport or else the Via port.
    func responsePeer(for via: SIPVia, source: SIPPeer) -> SIPPeer {
        if source.transport.isReliable { return source }
        if via.rport.present { return source }
        var address = source.address
        let port = via.port ?? 5060
        if let ip = source.address.ipAddress, let a = try? SocketAddress(ipAddress: ip, port: port) { address = a }
        return SIPPeer(.udp, address)
    }

    private func receiveRequest(_ request: SIPRequest, from peer: SIPPeer) {
        if request.method == .ack {
            if let invite = serverTransactions[ServerTransactionKey(request: request, ackOf: true)] {
                invite.receiveAck()
                return
            }
            for handler in handlers where handler.handleAck(request, from: peer) { return }
            logger.debug("ACK matched no transaction or dialog", metadata: ["sip.call_id": "\(request.callID)"])
            return
        }
        let key = ServerTransactionKey(request: request, ackOf: false)
        if let existing = serverTransactions[key] {
            statistics.retransmissionsAbsorbed += 1
            existing.receiveRetransmission()
            return
        }
        if let (record, serial) = answered.entry(key) {
            statistics.retransmissionsAbsorbed += 1
            // An INVITE in Accepted whose 2xx was ACKed: absorbed, nothing sent (RFC 6026 §8.7).
            if record.bytes.isEmpty { return }
            // Completed: the final response goes again (§17.2.2).
            didSend(request: false)
            transport.send(record.bytes, to: record.peer) { [weak self] _ in self?.answered.remove(key, serial: serial) }
            return
        }
        let transaction = ServerTransaction(
            stack: self, key: key, request: request, source: peer,
            responsePeer: responsePeer(for: request.via[0], source: peer))
        serverTransactions[key] = transaction
        transaction.start()

        if let refusal = precheck(request) {
            sourceFilter?.recordFailure(peer, reason: "\(refusal.status.rawValue) \(refusal.reason)")
            transaction.respond(refusal)
            return
        }
        if request.method == .cancel {
            handleCancel(transaction)
            return
        }
        for handler in handlers where handler.handle(transaction) { return }
        transaction.respond(fallbackResponse(for: request))
    }

    /// The checks of RFC 3261 §8.2.1–§8.2.2 that do not depend on who handles the request.
    private func precheck(_ request: SIPRequest) -> SIPResponse? {
        // We are a UA, never a proxy: a request that may travel no further is refused (the issue's
        // contract: Max-Forwards 0 → 483).
        if request.maxForwards == 0 { return request.response(.tooManyHops, toTag: makeTag()) }
        switch request.uri.scheme {
        case .sip, .sips, .tel: break
        case .other:
            var r = request.response(SIPStatus(416), toTag: makeTag())
            r.headers.add(.server, configuration.product)
            return r
        }
        if request.method != .cancel {
            let unsupported = request.headers.tokens(.require).filter { !configuration.supported.contains($0.lowercased()) }
            if !unsupported.isEmpty {
                var r = request.response(.badExtension, toTag: makeTag())
                r.headers.add(.unsupported, unsupported.joined(separator: ", "))
                return r
            }
        }
        return nil
    }

    /// CANCEL (§9.2): 200 to the CANCEL, then the INVITE's owner is told; if it does not answer the
    /// INVITE itself, the stack answers 487 for it.
    private func handleCancel(_ cancel: ServerTransaction) {
        guard let invite = serverTransactions[ServerTransactionKey(request: cancel.request, method: .invite)] else {
            cancel.respond(cancel.request.response(.callDoesNotExist, toTag: makeTag()))
            return
        }
        cancel.respond(cancel.request.response(.ok, toTag: invite.toTag))
        guard !invite.hasFinalResponse else { return }
        invite.onCancel?()
        if !invite.hasFinalResponse {
            invite.respond(invite.request.response(.requestTerminated, toTag: invite.toTag))
        }
    }

    /// The answer when no layer claims a request (libre's 481/501 fallbacks).
    func fallbackResponse(for request: SIPRequest) -> SIPResponse {
        var response: SIPResponse
        if request.to.tag != nil, allowedMethods.contains(request.method) {
            response = request.response(.callDoesNotExist, toTag: nil)
        } else if allowedMethods.contains(request.method) || [.subscribe, .notify, .refer, .message, .prack, .publish].contains(request.method) {
            response = request.response(.methodNotAllowed, toTag: makeTag())
            response.headers.add(.allow, allowedMethods.map(\.rawValue).joined(separator: ", "))
        } else {
            response = request.response(.notImplemented, toTag: makeTag())
            response.headers.add(.allow, allowedMethods.map(\.rawValue).joined(separator: ", "))
        }
        return response
    }

    private func receiveResponse(_ response: SIPResponse, from peer: SIPPeer) {
        // §18.1.2: a response must name us in the top Via, and carry exactly one Via.
        guard response.via.count == 1, let branch = response.branch else {
            statistics.strayResponses += 1
            return
        }
        let key = ClientTransactionKey(branch: branch, method: response.cseq.method)
        if let transaction = clientTransactions[key] {
            transaction.receive(response)
            return
        }
        if let deliver = accepted[key] {
            // Accepted (RFC 6026 §8.4): a 2xx goes up, anything else is absorbed.
            if response.status.isSuccess { deliver(.response(response)) }
            return
        }
        statistics.strayResponses += 1
        // A 2xx retransmission after the INVITE transaction ended belongs to the dialog (§13.2.2.4).
        if response.cseq.method == .invite, response.status.isSuccess {
            strayInviteSuccessHandler?(response, peer)
        }
    }

    /// Receives 2xx responses to INVITE whose transaction is gone, so the session layer can ACK them.
    public var strayInviteSuccessHandler: ((SIPResponse, SIPPeer) -> Void)?

    // MARK: Sending

    /// Sends a response outside any transaction (errors for unparseable requests).
    func sendResponse(_ response: SIPResponse, to peer: SIPPeer) {
        statistics.responsesSent += 1
        transport.send(response.serialized(), to: peer) { [weak self] error in
            self?.logger.debug("could not send response", metadata: ["sip.peer": "\(peer)", "error": "\(error)"])
        }
    }

    /// Sends a request outside any transaction: the ACK for a 2xx (§13.2.2.4).
    public func sendStateless(_ request: SIPRequest, to peer: SIPPeer) {
        statistics.requestsSent += 1
        transport.send(request.serialized(), to: peer) { [weak self] error in
            self?.logger.debug("could not send request", metadata: ["sip.peer": "\(peer)", "error": "\(error)"])
        }
    }

    /// Starts a client transaction. `onEvent` gets every response, then at most one of timeout or
    /// transport failure.
    @discardableResult
    public func sendRequest(
        _ request: SIPRequest, to peer: SIPPeer, onEvent: @escaping (ClientTransaction.Event) -> Void
    ) -> ClientTransaction {
        precondition(request.method != .ack, "ACK is sent with sendStateless")
        let key = ClientTransactionKey(branch: request.branch ?? "", method: request.method)
        let transaction = ClientTransaction(stack: self, key: key, request: request, peer: peer, onEvent: onEvent)
        clientTransactions[key] = transaction
        transaction.start()
        return transaction
    }

    func didSend(request: Bool) {
        if request { statistics.requestsSent += 1 } else { statistics.responsesSent += 1 }
    }

    func didTimeOut() { statistics.transactionTimeouts += 1 }

    func forget(_ server: ServerTransaction) {
        if serverTransactions[server.key] === server { serverTransactions[server.key] = nil }
    }

    /// A non-INVITE transaction's final response went out over UDP: keep only what Completed needs
    /// until Timer J (`delay`) ends it. An INVITE in Accepted whose 2xx was ACKed comes with no
    /// bytes: its record only absorbs retransmissions until Timer L. Expiries are kept in arrival
    /// order; all are 64*T1 from a recent moment, so one that is due behind a later one is
    /// forgotten late by at most the gap between its 2xx and its ACK.
    func retire(_ server: ServerTransaction, response bytes: [UInt8], after delay: Duration) {
        forget(server)
        answered.insert(AnsweredRequest(bytes: bytes, peer: server.responsePeer), for: server.key, until: scheduler.now + delay)
        armRecordSweep()
    }

    /// An INVITE client transaction entered Accepted: only a record that passes 2xx responses to
    /// `deliver` stays, until Timer M (`delay`).
    func retire(_ client: ClientTransaction, deliver: @escaping (ClientTransaction.Event) -> Void, after delay: Duration) {
        forget(client)
        accepted.insert(deliver, for: client.key, until: scheduler.now + delay)
        armRecordSweep()
    }

    private func armRecordSweep() {
        guard recordSweep == nil, let next = [answered.nextDeadline, accepted.nextDeadline].compactMap({ $0 }).min() else { return }
        recordSweep = scheduler.schedule(after: max(.zero, next - scheduler.now)) { [weak self] in
            guard let self else { return }
            self.recordSweep = nil
            let now = self.scheduler.now
            self.answered.expire(upTo: now)
            self.accepted.expire(upTo: now)
            self.armRecordSweep()
        }
    }

    func forget(_ client: ClientTransaction) {
        if clientTransactions[client.key] === client { clientTransactions[client.key] = nil }
    }
}

/// What is left of a non-INVITE server transaction in Completed, or of an ACKed INVITE in
/// Accepted (no bytes), see `SIPStack.answered`.
struct AnsweredRequest {
    let bytes: [UInt8]
    let peer: SIPPeer
}

extension SIPMethod {
    static let publish = SIPMethod("PUBLISH")
}
