public import Logging
public import SIPMessage

// The registrar (RFC 3261 §10.3): agents' phones bind their contact addresses to their user (the
// address-of-record), with digest authentication. Bindings live in memory on the SIP loop, which is
// the truth for routing, and are mirrored to a store so that they survive a restart.

/// One contact bound to an address-of-record.
public struct SIPBinding: Sendable, Hashable {
    /// The user part of the address-of-record (agent phones: "1001").
    public var aor: String
    public var contact: SIPNameAddr
    /// Wall-clock second when the binding lapses.
    public var expires: Double
    public var callID: String
    public var cseq: UInt32
    /// Where the REGISTER came from: requests to the phone go there (it works through NATs and
    /// reuses the phone's TCP connection).
    public var source: SIPPeer
    public var userAgent: String?

    public init(aor: String, contact: SIPNameAddr, expires: Double, callID: String, cseq: UInt32, source: SIPPeer, userAgent: String?) {
        self.aor = aor
        self.contact = contact
        self.expires = expires
        self.callID = callID
        self.cseq = cseq
        self.source = source
        self.userAgent = userAgent
    }

    /// The contact's q-value (§20.10), 1 when absent.
    public var q: Double { contact.parameters.value("q").flatMap(Double.init) ?? 1 }
}

/// Where bindings are kept across restarts. Called on the SIP loop; implementations must not block
/// it (the SQLite one queues its writes on a writer thread).
public protocol SIPBindingStore: AnyObject {
    func loadBindings() -> [SIPBinding]
    func saveBinding(_ binding: SIPBinding)
    func removeBinding(aor: String, contactURI: String)
}

public struct RegistrarPolicy: Sendable, Hashable {
    public var minExpires: Int
    public var maxExpires: Int
    public var defaultExpires: Int
    public var maxContactsPerAOR: Int

    public init(minExpires: Int = 60, maxExpires: Int = 3600, defaultExpires: Int = 3600, maxContactsPerAOR: Int = 10) {
        self.minExpires = minExpires
        self.maxExpires = maxExpires
        self.defaultExpires = defaultExpires
        self.maxContactsPerAOR = maxContactsPerAOR
    }
}

public final class Registrar: SIPRequestHandler {
    public var policy: RegistrarPolicy
    /// Looks a user's password up; nil for users who may not register.
    public var passwords: (String) -> String?
    /// Told whenever the bindings of an address-of-record change.
    public var onChange: ((String) -> Void)?
    let authenticator: DigestAuthenticator
    let scheduler: any SIPScheduler
    let store: (any SIPBindingStore)?
    let logger: Logger
    /// Learns about refused requests (for the source guard).
    let reportFailure: (SIPPeer, String) -> Void
    private var bindings: [String: [SIPBinding]] = [:]
    private var sweepTimer: SIPTimerToken?

    public init(
        policy: RegistrarPolicy, authenticator: DigestAuthenticator, passwords: @escaping (String) -> String?,
        scheduler: any SIPScheduler, store: (any SIPBindingStore)?, logger: Logger,
        reportFailure: @escaping (SIPPeer, String) -> Void = { _, _ in }
    ) {
        self.policy = policy
        self.authenticator = authenticator
        self.passwords = passwords
        self.scheduler = scheduler
        self.store = store
        self.logger = logger
        self.reportFailure = reportFailure
        let now = scheduler.wallClock
        for binding in store?.loadBindings() ?? [] {
            if binding.expires > now {
                bindings[binding.aor, default: []].append(binding)
            } else {
                store?.removeBinding(aor: binding.aor, contactURI: binding.contact.uri.description)
            }
        }
        scheduleSweep()
    }

    deinit { sweepTimer?.cancel() }

    /// Live bindings of a user, best q-value first.
    public func bindings(for aor: String) -> [SIPBinding] {
        let now = scheduler.wallClock
        return (bindings[aor] ?? []).filter { $0.expires > now }.sorted { $0.q > $1.q }
    }

    /// Every live binding, for status.
    public var allBindings: [SIPBinding] {
        bindings.keys.sorted().flatMap { bindings(for: $0) }
    }

    public func handle(_ transaction: ServerTransaction) -> Bool {
        guard transaction.request.method == .register else { return false }
        register(transaction)
        return true
    }

    private func register(_ tx: ServerTransaction) {
        let request = tx.request
        let peer = tx.source
        switch authenticator.verify(request, proxy: false, password: passwords) {
        case .challenge(let stale, let reason):
            if let reason {
                reportFailure(peer, "REGISTER: \(reason)")
                logger.info("REGISTER challenged again", metadata: ["sip.source": "\(peer)", "sip.reason": "\(reason)"])
            }
            tx.respond(authenticator.challengeResponse(to: tx, proxy: false, stale: stale))
            return
        case .forbidden(let reason):
            reportFailure(peer, "REGISTER: \(reason)")
            tx.respond(.forbidden)
            return
        case .malformed(let reason):
            reportFailure(peer, "REGISTER: \(reason)")
            tx.respond(.badRequest, reason: reason)
            return
        case .authenticated(let user):
            guard request.to.uri.user.map({ percentDecoded($0) }) == user else {
                reportFailure(peer, "REGISTER: \(user) may not register \(request.to.uri)")
                tx.respond(.forbidden, reason: "Not your address-of-record")
                return
            }
            update(tx, aor: user)
        }
    }

    private func update(_ tx: ServerTransaction, aor: String) {
        let request = tx.request
        let now = scheduler.wallClock
        var current = bindings(for: aor)
        let headerExpires = request.headers.integer(.expires)
        if request.headers[.expires] != nil && headerExpires == nil {
            tx.respond(.badRequest, reason: "Bad Expires header")
            return
        }

        if request.contact.contains(.all) {
            // §10.3 step 6: "*" only alone and with Expires: 0.
            guard request.contact.count == 1, headerExpires == 0 else {
                tx.respond(.badRequest, reason: "Contact * needs to be alone with Expires: 0")
                return
            }
            if current.contains(where: { $0.callID == request.callID && $0.cseq >= request.cseq.sequence }) {
                tx.respond(.badRequest, reason: "CSeq not above the binding's")
                return
            }
            for binding in current { store?.removeBinding(aor: aor, contactURI: binding.contact.uri.description) }
            current = []
            commit(aor, current)
            logger.info("phone unregistered all contacts", metadata: ["sip.aor": "\(aor)"])
            reply(tx, current)
            return
        }

        var changes: [(SIPBinding, remove: Bool)] = []
        for contact in request.contact {
            guard case .address(let address) = contact else { continue }
            var expires = policy.defaultExpires
            if let param = address.parameters["expires"] {
                guard let text = param, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), !text.isEmpty, let v = Int(text.prefix(10)) else {
                    tx.respond(.badRequest, reason: "Bad expires parameter")
                    return
                }
                expires = v
            } else if let headerExpires {
                expires = headerExpires
            }
            if expires > 0 && expires < policy.minExpires {
                var r = tx.makeResponse(.intervalTooBrief)
                r.headers.add(.minExpires, String(policy.minExpires))
                tx.respond(r)
                return
            }
            expires = min(expires, policy.maxExpires)
            if let existing = current.first(where: { $0.contact.uri.isEquivalent(to: address.uri) }),
                existing.callID == request.callID, existing.cseq >= request.cseq.sequence
            {
                tx.respond(.badRequest, reason: "CSeq not above the binding's")
                return
            }
            var stored = address
            stored.parameters["expires"] = nil
            let binding = SIPBinding(
                aor: aor, contact: stored, expires: now + Double(expires), callID: request.callID,
                cseq: request.cseq.sequence, source: tx.source, userAgent: request.headers[.userAgent])
            changes.append((binding, expires == 0))
        }
        for (binding, remove) in changes {
            current.removeAll { $0.contact.uri.isEquivalent(to: binding.contact.uri) }
            if !remove { current.append(binding) }
        }
        guard current.count <= policy.maxContactsPerAOR else {
            tx.respond(.forbidden, reason: "Too many contacts")
            return
        }
        for (binding, remove) in changes {
            if remove {
                store?.removeBinding(aor: aor, contactURI: binding.contact.uri.description)
            } else {
                store?.saveBinding(binding)
            }
        }
        if !changes.isEmpty {
            commit(aor, current)
            logger.info(
                "phone registered",
                metadata: ["sip.aor": "\(aor)", "sip.contacts": "\(current.count)", "sip.source": "\(tx.source)"])
        }
        reply(tx, current)
    }

    private func commit(_ aor: String, _ list: [SIPBinding]) {
        bindings[aor] = list.isEmpty ? nil : list
        onChange?(aor)
    }

    /// 200 OK listing every current binding with its remaining time (§10.3 step 8).
    private func reply(_ tx: ServerTransaction, _ list: [SIPBinding]) {
        let now = scheduler.wallClock
        var r = tx.makeResponse(.ok)
        r.contact = list.map { binding in
            var c = binding.contact
            c.parameters["expires"] = .some(String(max(0, Int((binding.expires - now).rounded()))))
            return .address(c)
        }
        tx.respond(r)
    }

    private func scheduleSweep() {
        sweepTimer = scheduler.schedule(after: .seconds(15)) { [weak self] in
            self?.sweep()
            self?.scheduleSweep()
        }
    }

    /// Drops lapsed bindings from memory and store.
    public func sweep() {
        let now = scheduler.wallClock
        for (aor, list) in bindings {
            let live = list.filter { $0.expires > now }
            guard live.count != list.count else { continue }
            for gone in list where gone.expires <= now {
                store?.removeBinding(aor: aor, contactURI: gone.contact.uri.description)
                logger.info("registration expired", metadata: ["sip.aor": "\(aor)", "sip.contact": "\(gone.contact.uri)"])
            }
            commit(aor, live)
        }
    }
}

/// Answers OPTIONS outside dialogs (RFC 3261 §11.2): what we allow, accept and support. While the
/// daemon drains for shutdown it answers 503, which tells load balancers to send calls elsewhere.
public final class OptionsResponder: SIPRequestHandler {
    public var acceptingCalls = true
    private let allow: [SIPMethod]
    private let supported: [String]

    public init(allow: [SIPMethod], supported: [String]) {
        self.allow = allow
        self.supported = supported
    }

    public func handle(_ transaction: ServerTransaction) -> Bool {
        guard transaction.request.method == .options, transaction.request.to.tag == nil else { return false }
        var r = transaction.makeResponse(acceptingCalls ? .ok : .serviceUnavailable)
        r.headers.add(.allow, allow.map(\.rawValue).joined(separator: ", "))
        r.headers.add(.accept, "application/sdp")
        r.headers.add(SIPHeaderName("Accept-Encoding"), "identity")
        r.headers.add(SIPHeaderName("Accept-Language"), "en")
        r.headers.add(.supported, supported.joined(separator: ", "))
        transaction.respond(r)
        return true
    }
}
