import SIP
import SIPMessage

/// One trunk's registration with its carrier as the SIP loop runs it: the pure machine
/// (SIP's `OutboundRegistration`) and what the wire needs beside it, one Call-ID for the life of
/// the registration with a rising CSeq (RFC 3261 §10.2), the digest client, the last challenge.
final class TrunkRegistrationRunner {
    let trunk: CallPolicy.Trunk
    var machine: OutboundRegistration
    let callID: String
    let fromTag: String
    var cseq: UInt32 = 0
    var digest: DigestClient
    var lastChallenge: SIPResponse?
    var timer: SIPTimerToken?
    /// Answers to an attempt that was given up on are ignored.
    var attempt = 0

    init(trunk: CallPolicy.Trunk, callID: String, fromTag: String) {
        self.trunk = trunk
        machine = OutboundRegistration(registrars: trunk.registrars.count, expires: trunk.registerExpires)
        self.callID = callID
        self.fromTag = fromTag
        digest = DigestClient(username: trunk.username ?? "", password: trunk.password ?? "")
    }

    /// The same registration as `other`: a reload that changed nothing keeps it running.
    func sameSettings(as other: CallPolicy.Trunk) -> Bool {
        trunk.registrars.map(\.description) == other.registrars.map(\.description) && trunk.registerExpires == other.registerExpires
            && trunk.registerDomain == other.registerDomain && trunk.username == other.username && trunk.password == other.password
    }
}

/// A trunk's registration, for status.
public struct TrunkRegistrationState: Sendable {
    public var trunk: String
    public var state: String
    public var registrar: String
    public var registeredUntil: Double?
    public var lastStatus: Int?
    public var lastFailure: String?
}

extension InboundCallService {
    /// Registers every trunk that names registrars, and stops registering those that no longer do
    /// (at start-up and after a reload; a trunk whose settings did not change goes on as it was).
    public func startTrunkRegistrations() {
        let wanted = policy.trunks.filter { !$0.registrars.isEmpty && $0.username != nil }
        for (name, runner) in registrations where !wanted.contains(where: { $0.name == name && runner.sameSettings(as: $0) }) {
            unregister(runner)
            registrations[name] = nil
        }
        for trunk in wanted where registrations[trunk.name] == nil {
            let runner = TrunkRegistrationRunner(trunk: trunk, callID: sessions.stack.makeCallID(), fromTag: sessions.stack.makeTag())
            registrations[trunk.name] = runner
            perform(runner.machine.start(now: scheduler.wallClock), runner)
        }
    }

    /// At shutdown: each registration is withdrawn (Expires: 0), without waiting for the answers.
    public func stopTrunkRegistrations() {
        for runner in registrations.values { unregister(runner) }
        registrations = [:]
    }

    public var trunkRegistrationStates: [TrunkRegistrationState] {
        registrations.values.sorted { $0.trunk.name < $1.trunk.name }.map { r in
            TrunkRegistrationState(
                trunk: r.trunk.name, state: r.machine.state.rawValue, registrar: r.trunk.registrars[r.machine.current].description,
                registeredUntil: r.machine.registeredUntil, lastStatus: r.machine.lastStatus, lastFailure: r.machine.lastFailure)
        }
    }

    private func unregister(_ runner: TrunkRegistrationRunner) {
        runner.timer?.cancel()
        runner.timer = nil
        runner.attempt += 1
        if runner.machine.state == .registered {
            var request = registerRequest(runner, registrar: runner.machine.current, expires: 0)
            if let challenge = runner.lastChallenge { _ = runner.digest.authorize(&request, challengedBy: challenge) }
            _ = sessions.stack.sendRequest(request, to: runner.trunk.registrars[runner.machine.current]) { _ in }
            logger.info("trunk registration withdrawn", metadata: ["trunk": "\(runner.trunk.name)"])
        }
        runner.machine.stop()
    }

    private func perform(_ actions: [OutboundRegistration.Action], _ runner: TrunkRegistrationRunner) {
        for action in actions {
            switch action {
            case .send(let index, let expires, let authorized):
                send(runner, registrar: index, expires: expires, authorized: authorized)
            case .wait(let seconds):
                runner.timer?.cancel()
                let attempt = runner.attempt
                runner.timer = scheduler.schedule(after: .milliseconds(Int64(seconds * 1000))) { [weak self, weak runner] in
                    guard let self, let runner, runner.attempt == attempt else { return }
                    runner.timer = nil
                    runner.attempt += 1
                    self.perform(runner.machine.timerFired(now: self.scheduler.wallClock), runner)
                }
            case .changed(let state, let reason):
                let registrar = runner.trunk.registrars[runner.machine.current].description
                if state == .registered {
                    logger.notice("trunk registered", metadata: ["trunk": "\(runner.trunk.name)", "trunk.registrar": "\(registrar)", "trunk.reason": "\(reason)"])
                    onAlarm?("trunk_registered", ["trunk": runner.trunk.name, "registrar": registrar])
                } else {
                    logger.error("trunk registration failed", metadata: ["trunk": "\(runner.trunk.name)", "trunk.reason": "\(reason)"])
                    onAlarm?("trunk_registration_failed", ["trunk": runner.trunk.name, "reason": reason])
                }
            }
        }
    }

    private func registerRequest(_ runner: TrunkRegistrationRunner, registrar index: Int, expires: Int) -> SIPRequest {
        let stack = sessions.stack
        let registrar = runner.trunk.registrars[index]
        let domain = runner.trunk.registerDomain ?? registrar.ip
        let user = runner.trunk.username ?? ""
        let aor = SIPNameAddr(uri: SIPURI(user: user, host: domain))
        var from = aor
        from.tag = runner.fromTag
        var contact = sessions.contactURI(for: registrar.transport)
        contact.user = user
        var headers = SIPHeaders()
        headers.add(.expires, String(expires))
        headers.add(.userAgent, stack.configuration.product)
        runner.cseq += 1
        return SIPRequest(
            method: .register, uri: SIPURI(host: domain), via: [stack.makeVia(transport: registrar.transport)], from: from, to: aor,
            callID: runner.callID, cseq: SIPCSeq(runner.cseq, .register), contact: [.address(SIPNameAddr(uri: contact))], headers: headers)
    }

    private func send(_ runner: TrunkRegistrationRunner, registrar index: Int, expires: Int, authorized: Bool) {
        var request = registerRequest(runner, registrar: index, expires: expires)
        if authorized, let challenge = runner.lastChallenge, !runner.digest.authorize(&request, challengedBy: challenge) {
            return perform(runner.machine.handle(.refused(status: Int(challenge.status.rawValue), reason: "a challenge we cannot answer"), now: scheduler.wallClock), runner)
        }
        runner.attempt += 1
        let attempt = runner.attempt
        let contactUser = runner.trunk.username ?? ""
        _ = sessions.stack.sendRequest(request, to: runner.trunk.registrars[index]) { [weak self, weak runner] event in
            guard let self, let runner, runner.attempt == attempt else { return }
            let outcome: OutboundRegistration.Outcome
            switch event {
            case .response(let r):
                guard r.status.isFinal else { return }
                switch r.status.rawValue {
                case 200..<300:
                    // The time granted: our Contact's expires, else Expires, else what we asked.
                    let mine = r.contact.compactMap(\.nameAddr).first { $0.uri.user == contactUser }
                    let granted = mine?.parameters.value("expires").flatMap { Int($0) } ?? r.headers.integer(.expires) ?? expires
                    outcome = .registered(grantedSeconds: granted)
                case 401, 407:
                    runner.lastChallenge = r
                    outcome = .challenged
                case 423:
                    outcome = .intervalTooBrief(minExpires: r.headers.integer(.minExpires) ?? 0)
                default:
                    outcome = .refused(status: Int(r.status.rawValue), reason: r.reason)
                }
            case .timeout:
                outcome = .noAnswer("no final response (Timer F)")
            case .transportFailure:
                outcome = .noAnswer("the REGISTER could not be sent")
            }
            runner.attempt += 1
            self.perform(runner.machine.handle(outcome, now: self.scheduler.wallClock), runner)
        }
    }
}
