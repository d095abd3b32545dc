import ACD
import Logging

/// What an agent dials from their own phone to change state without a desktop (FEATURES A2):
/// `*11` log in on this phone, `*12` log out, `*21` ready, `*22` not ready ("break"), and
/// `*22N` not ready with reason digit N (1 break, 2 lunch, 3 training, other digits
/// `reason-N`). The daemon answers, confirms with a prompt ("invalid" when the ACD refuses, such
/// as ready while on a call) and hangs up.
enum FeatureCode: Equatable {
    case login, logout, ready
    case pause(reason: String)

    static let reasons: [Character: String] = ["1": "break", "2": "lunch", "3": "training"]

    init?(_ dialled: String) {
        switch dialled {
        case "*11": self = .login
        case "*12": self = .logout
        case "*21": self = .ready
        case "*22": self = .pause(reason: "break")
        default:
            guard dialled.count == 4, dialled.hasPrefix("*22"), let d = dialled.last, d.isASCII, d.isNumber else { return nil }
            self = .pause(reason: Self.reasons[d] ?? "reason-\(d)")
        }
    }

    func event(agent: String) -> ACDEvent {
        switch self {
        case .login: .agentLogin(agent: agent, device: "sip:\(agent)")
        case .logout: .agentLogout(agent: agent)
        case .ready: .agentReady(agent: agent)
        case .pause(let reason): .agentPause(agent: agent, reason: reason)
        }
    }

    var confirmation: String {
        switch self {
        case .login: "agent-logged-in"
        case .logout: "agent-logged-out"
        case .ready: "agent-ready"
        case .pause: "agent-paused"
        }
    }

    static let prompts = ["agent-logged-in", "agent-logged-out", "agent-ready", "agent-paused", "invalid", "goodbye"]
}

extension InboundCallService {
    /// Prompts the feature codes play; checked at start-up and reload.
    public static var featureCodePrompts: [String] { FeatureCode.prompts }

    func runFeatureCode(_ code: FeatureCode, agent: String, call: ActiveCall) {
        let id = call.session.id
        guard let acdRequest else {
            logger.error("feature code without an ACD; hanging up", metadata: ["call.id": "\(id)"])
            return hangUp(call, cause: "no ACD")
        }
        deliver(.startService(.featureCode), to: call)
        let (service, sip) = (bound, loop)
        acdRequest(code.event(agent: agent)) { error in
            sip.execute { service.value.featureCodeDone(code, agent: agent, call: id, error: error) }
        }
    }

    private func featureCodeDone(_ code: FeatureCode, agent: String, call id: UInt64, error: ACDError?) {
        guard let call = calls[id] else { return }
        var meta: Logger.Metadata = ["call.id": "\(id)", "agent.id": "\(agent)", "agent.code": "\(call.summary.called)"]
        if let error { meta["acd.error"] = "\(error)" }
        logger.info(error == nil ? "feature code applied" : "feature code refused", metadata: meta)
        let prompts = error == nil ? [code.confirmation] : ["invalid", "goodbye"]
        playPrompts(prompts, language: policy.language, call: call) { service in
            if let call = service.calls[id] { service.hangUp(call, cause: "feature code done") }
        }
    }
}
