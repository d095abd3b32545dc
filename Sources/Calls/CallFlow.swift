public import ACD
import IVR
import Prompts
import Logging
import Media
import NIOCore
import SIP
import JSON

/// The I/O of a caller's way through the product: prompts and music on the caller's leg, the
/// ACD's requests turned into the call's events, and the queue entry the machine asks for. What
/// happens when is `CallSession`'s (Session/CallSession+Flow.swift).
///
/// Everything here runs on the SIP loop; prompts are started on the caller's media loop and their
/// ends come back as events with their serial, so an end that comes after something else was
/// played is recognised and ignored.
extension InboundCallService {
    /// Prompts the queue plays besides the IVR's: position and wait announcements, and the
    /// goodbye of a queue that lets a caller go. Checked at start-up and reload.
    public static var queuePrompts: [String] {
        ["caller-number", "estimated-wait", "minute", "minutes", "all-busy", "goodbye", "voicemail", "voicemail-saved"] + (0...20).map { "number-\($0)" }
    }

    // MARK: IVR

    func startIVR(_ call: ActiveCall, at node: String) {
        guard policy.prompts != nil else {
            logger.error("IVR without a prompt store; hanging up", metadata: ["call.id": "\(call.session.id)"])
            return hangUp(call, cause: "no prompts")
        }
        deliver(.startIVR(node: node), to: call)
    }

    /// Plays prompts on the caller's leg; `ended` runs here (SIP loop) when they finish, unless
    /// something else was played or the call ended first.
    func playPrompts(
        _ prompts: [String], language: String, interruptible: Bool = false, call: ActiveCall, ended: @escaping (InboundCallService) -> Void
    ) {
        guard let store = policy.prompts else { return }
        do {
            playClips(try store.require(prompts, language: language), interruptible: interruptible, call: call, ended: ended)
        } catch {
            // Every configured prompt was checked at load; this is a language switch to a
            // language the check did not know, or a bug. The caller moves on rather than waits.
            let id = call.session.id
            logger.error("prompt missing; skipping it", metadata: ["call.id": "\(id)", "prompt.error": "\(error)"])
            let callback = NIOLoopBound(ended, eventLoop: loop)
            let service = bound
            loop.execute { if service.value.calls[id] != nil { callback.value(service.value) } }
        }
    }

    /// Plays decoded clips on the caller's leg, as `playPrompts`.
    func playClips(_ clips: [AudioClip], interruptible: Bool = false, call: ActiveCall, ended: @escaping (InboundCallService) -> Void) {
        guard let lease = call.lease else { return }
        let callback = NIOLoopBound(ended, eventLoop: loop)
        let (service, sip) = (bound, loop)
        onMedia(lease) { stream in
            let player = ClipPlayer(clips, interruptible: interruptible)
            stream.onPlaybackEnded = { [weak player] source in
                guard let player, source === player else { return }
                sip.execute { callback.value(service.value) }
            }
            stream.play(player)
        }
    }

    // MARK: Queue

    /// The machine queued the caller: the ACD hears of it with the priority and own agent the CRM
    /// record gives.
    func enqueue(_ call: ActiveCall, _ route: IVRFlow.Route) {
        let id = call.session.id
        guard let acd else {
            logger.error("no ACD to queue the call in; hanging up", metadata: ["call.id": "\(id)", "queue.name": "\(route.group)"])
            return hangUp(call, cause: "no ACD")
        }
        let priority = priority(for: call, route: route.priority)
        let own = ownAgent(for: call, group: route.group)
        emit(call, "call.queued", [
            "queue": .string(route.group), "priority": JSONValue(priority), "vip": .bool(call.machine.customer?.vip ?? false), "agent": JSONValue(own),
        ])
        acd(
            .callArrived(
                CallArrival(
                    call: call.machine.uniqueID, group: route.group, priority: priority,
                    requiredSkills: route.requiredSkills.sorted { $0.key < $1.key }.map { .init($0.key, $0.value) },
                    minimumLevel: route.minimumLevel, callerID: call.machine.campaignGroup != nil ? call.machine.caller : call.info.caller, agent: own)))
        logger.info("call queued", metadata: ["call.id": "\(id)", "call.unique_id": "\(call.machine.uniqueID)", "queue.name": "\(route.group)"])
    }

    /// Music on hold, looping, on the caller's leg.
    func startMusic(_ call: ActiveCall) {
        guard let lease = call.lease, let clip = policy.prompts?.music(policy.musicOnHold) else { return }
        onMedia(lease) { stream in
            stream.onPlaybackEnded = nil
            stream.play(ClipPlayer([clip], loops: true))
        }
    }

    /// What the ACD asks of calls; runs on the SIP loop, one batch at a time. A consult's own call
    /// in the ACD maps to the call it was made from; its requests become the consult's events.
    public func handleACD(_ actions: [ACDAction]) {
        for action in actions {
            switch action {
            case .offer(let unique, let agent, _, let device):
                guard let call = caller(unique) else {
                    if callbacks[unique] != nil { offerCallback(unique, agent: agent, device: device) }
                    continue
                }
                deliver(isConsult(unique, call) ? .consultOffer(agent: agent, device: device) : .offer(agent: agent, device: device), to: call)
            case .cancelOffer(let unique, let agent):
                guard let call = caller(unique) else { continue }
                deliver(isConsult(unique, call) ? .consultWithdraw(agent: agent) : .withdraw(agent: agent), to: call)
            case .announce(let unique, let position, let wait):
                if let call = caller(unique), !isConsult(unique, call) { deliver(.announce(position: position, estimatedWaitSeconds: wait), to: call) }
            case .leave(let unique, _, let reason, let then):
                guard let call = caller(unique) else { continue }
                deliver(isConsult(unique, call) ? .consultLeftQueue(reason: reason) : .leaveQueue(reason: reason, then: then), to: call)
            case .endCall(let unique):
                guard let call = caller(unique) else { continue }
                deliver(isConsult(unique, call) ? .consultReturn : .acdEnds, to: call)
            case .log, .agentChanged:
                break
            }
        }
    }

    private func isConsult(_ unique: String, _ call: ActiveCall) -> Bool { call.machine.consultACDCall == unique }

    /// The call the ACD knows by `unique`, while it is in progress.
    func caller(_ unique: String) -> ActiveCall? { byUniqueID[unique].flatMap { calls[$0] } }
}
