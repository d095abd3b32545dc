public import ACD
import IVR
import Logging
import Media
import NIOCore
import SIP
import JSON

/// A caller's way through the product: the IVR (the pure `IVRInterpreter`, performed here), then
/// the ACD (music on hold, announcements, the queue's exits), then an agent (AgentLegs.swift).
///
/// Everything here runs on the SIP loop; prompts are started on the caller's media loop and their
/// ends come back as events. The interpreter ignores ends and timeouts that are stale, so a key
/// pressed while a prompt finishes on another thread cannot confuse it.
extension InboundCallService {
    /// Prompts the queue plays besides the IVR's: position and wait announcements, and the
    /// goodbye of a queue that lets a caller go. Checked at start-up and reload.
    public static var queuePrompts: [String] {
        ["caller-number", "estimated-wait", "minute", "minutes", "all-busy", "goodbye", "voicemail", "voicemail-saved"] + (0...20).map { "number-\($0)" }
    }

    /// Prompt names that say `n`: one prompt up to 20, digit by digit above.
    static func sayNumber(_ n: Int) -> [String] {
        if (0...20).contains(n) { return ["number-\(n)"] }
        return String(max(0, n)).map { "number-\($0)" }
    }

    /// "You are caller number N. The estimated wait is M minutes."
    static func announcement(position: Int, estimatedWaitSeconds: Int?) -> [String] {
        var prompts = ["caller-number"] + sayNumber(position)
        if let seconds = estimatedWaitSeconds {
            let minutes = max(1, (seconds + 59) / 60)
            prompts += ["estimated-wait"] + sayNumber(minutes) + [minutes == 1 ? "minute" : "minutes"]
        }
        return prompts
    }

    // MARK: IVR

    func startIVR(_ call: ActiveCall, at node: String) {
        guard policy.prompts != nil else {
            logger.error("IVR without a prompt store; hanging up", metadata: ["call.id": "\(call.session.id)"])
            return hangUp(call, cause: "no prompts")
        }
        var ivr = IVRInterpreter(flow: policy.ivr, language: policy.language)
        call.summary.state = "ivr"
        let actions = ivr.start(at: node, now: scheduler.wallClock)
        call.ivrPathBefore = call.summary.ivrPath
        call.ivr = ivr
        perform(actions, call)
    }

    func ivrEvent(_ event: IVRInterpreter.Event, call id: UInt64) {
        guard let call = calls[id], var ivr = call.ivr else { return }
        let actions = ivr.handle(event, now: scheduler.wallClock)
        call.ivr = ivr
        perform(actions, call)
    }

    private func perform(_ actions: [IVRInterpreter.Action], _ call: ActiveCall) {
        let id = call.session.id
        if let ivr = call.ivr {
            let before = call.summary.ivrPath.count
            call.summary.ivrPath = call.ivrPathBefore + ivr.path
            // Keys chosen in menus (`menu=1`) go to the CRM; collected digits never do.
            for step in call.summary.ivrPath.dropFirst(before) where step.contains("=") {
                let parts = step.split(separator: "=", maxSplits: 1).map(String.init)
                emit(call, "call.ivr_choice", ["node": .string(parts[0]), "choice": .string(parts.count > 1 ? parts[1] : ""), "path": .array(call.summary.ivrPath.map { .string($0) })])
            }
        }
        for action in actions {
            switch action {
            case .play(let playID, let prompts, let language, let bargeIn):
                playPrompts(prompts, language: language, interruptible: bargeIn, call: call) { service in
                    service.ivrEvent(.promptFinished(id: playID), call: id)
                }
            case .stopPlayback:
                if let lease = call.lease { onMedia(lease) { $0.stopPlayback() } }
            case .startTimer(let timerID, let seconds):
                call.ivrTimer?.cancel()
                call.ivrTimer = scheduler.schedule(after: .milliseconds(Int64(seconds * 1000))) { [weak self] in
                    self?.ivrEvent(.timeout(id: timerID), call: id)
                }
            case .route(let route):
                leaveIVR(call)
                enqueue(call, route)
            case .voicemail(let box):
                leaveIVR(call)
                voicemail(call, box: box, prompted: true)
            case .surveyScore(let score):
                call.summary.surveyScore = score
                logger.info("survey answered", metadata: ["call.id": "\(id)", "call.survey": "\(score)"])
            case .hangUp(let reason):
                leaveIVR(call)
                logger.info("IVR hangs up", metadata: ["call.id": "\(id)", "ivr.reason": "\(reason)", "ivr.path": "\(call.summary.ivrPath.joined(separator: ">"))"])
                hangUp(call, cause: "ivr: \(reason)")
            }
        }
    }

    private func leaveIVR(_ call: ActiveCall) {
        call.ivrTimer?.cancel()
        call.ivrTimer = nil
        call.ivr = nil
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

    func enqueue(_ call: ActiveCall, _ route: IVRFlow.Route) {
        let id = call.session.id
        guard call.lookupDone else {
            // A caller who keys ahead over the welcome is routed within milliseconds of the
            // answer, before the CRM has said who they are; their priority and own agent depend
            // on it, so they wait for the answer (at most `crm.lookup_timeout_ms`) with music.
            call.routeAfterLookup = route
            return startMusic(call)
        }
        guard let acd else {
            logger.error("no ACD to queue the call in; hanging up", metadata: ["call.id": "\(id)", "queue.name": "\(route.group)"])
            return hangUp(call, cause: "no ACD")
        }
        call.inACD = true
        call.record.queuedAt = call.record.queuedAt ?? scheduler.wallClock
        call.summary.queue = route.group
        call.summary.state = "queued"
        byUniqueID[call.summary.uniqueID] = id
        startMusic(call)
        let priority = priority(for: call, route: route.priority)
        let own = ownAgent(for: call, group: route.group)
        emit(call, "call.queued", [
            "queue": .string(route.group), "priority": JSONValue(priority), "vip": .bool(call.customer?.vip ?? false), "agent": JSONValue(own),
        ])
        acd(
            .callArrived(
                CallArrival(
                    call: call.summary.uniqueID, group: route.group, priority: priority,
                    requiredSkills: route.requiredSkills.sorted { $0.key < $1.key }.map { .init($0.key, $0.value) },
                    minimumLevel: route.minimumLevel, callerID: call.summary.caller, agent: own)))
        logger.info("call queued", metadata: ["call.id": "\(id)", "call.unique_id": "\(call.summary.uniqueID)", "queue.name": "\(route.group)"])
    }

    /// Music on hold, looping, on the caller's leg.
    func startMusic(_ call: ActiveCall) {
        guard let lease = call.lease, let clip = policy.prompts?.music(policy.musicOnHold) else { return }
        onMedia(lease) { stream in
            stream.onPlaybackEnded = nil
            stream.play(ClipPlayer([clip], loops: true))
        }
    }

    /// The position and wait announcement over the music, which then starts again.
    private func announce(_ call: ActiveCall, position: Int, estimatedWaitSeconds: Int?) {
        guard call.connectedLeg == nil else { return }
        let prompts = Self.announcement(position: position, estimatedWaitSeconds: estimatedWaitSeconds)
        playPrompts(prompts, language: policy.language, call: call) { service in
            guard let call = service.calls[call.session.id], call.inACD, call.connectedLeg == nil else { return }
            service.startMusic(call)
        }
    }

    /// What the ACD asks of calls; runs on the SIP loop, one batch at a time.
    public func handleACD(_ actions: [ACDAction]) {
        for action in actions {
            switch action {
            case .offer(let unique, let agent, _, let device):
                offer(unique, to: agent, device: device)
            case .cancelOffer(let unique, let agent):
                withdrawOffer(unique, from: agent)
            case .announce(let unique, let position, let wait):
                if let call = caller(unique) { announce(call, position: position, estimatedWaitSeconds: wait) }
            case .leave(let unique, let group, let reason, let then):
                leaveQueue(unique, group: group, reason: reason, then: then)
            case .endCall(let unique):
                if let call = caller(unique) {
                    logger.info("ACD ends the call", metadata: ["call.id": "\(call.session.id)", "call.unique_id": "\(unique)"])
                    hangUp(call, cause: "ended by the ACD")
                }
            case .log, .agentChanged:
                break
            }
        }
    }

    func caller(_ unique: String) -> ActiveCall? { byUniqueID[unique].flatMap { calls[$0] } }

    private func leaveQueue(_ unique: String, group: String, reason: LeaveReason, then: QueueExit) {
        guard let call = caller(unique) else { return }
        let meta: Logger.Metadata = [
            "call.id": "\(call.session.id)", "queue.name": "\(group)", "queue.leave_reason": "\(reason.rawValue)", "queue.then": "\(then)",
        ]
        if case .group(let next) = then {
            // The ACD has queued the caller in the next group already; the music goes on.
            call.summary.queue = next
            return logger.info("call moves to another queue", metadata: meta)
        }
        logger.info("call leaves the queue", metadata: meta)
        call.inACD = false
        byUniqueID[unique] = nil
        switch then {
        case .ivr(let node): startIVR(call, at: node)
        case .voicemail(let box): voicemail(call, box: box, prompted: false)
        case .hangUp, .group:
            call.record.queueLetGo = true
            playPrompts(["all-busy", "goodbye"], language: policy.language, call: call) { service in
                if let call = service.calls[call.session.id] { service.hangUp(call, cause: "queue: \(reason.rawValue)") }
            }
        }
    }

    /// The caller's call ended: nothing of it may stay behind (timer, queue entry, agent leg).
    func leaveCallFlow(_ call: ActiveCall) {
        leaveIVR(call)
        stopVoicemail(call, reason: "caller hung up")
        if call.inACD {
            call.inACD = false
            byUniqueID[call.summary.uniqueID] = nil
            acd?(.callerHungUp(call: call.summary.uniqueID))
        }
        call.pendingOffers.removeAll()
        for legID in Array(call.offers.values) + (call.connectedLeg.map { [$0] } ?? []) {
            guard let leg = agentLegs[legID] else { continue }
            leg.withdrawn = true
            leg.session.hangUp()
        }
        call.offers.removeAll()
        call.connectedLeg = nil
    }
}
