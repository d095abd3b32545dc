import ACD
import Logging
import Media
import NIOCore
import SIP

/// The shell's one way into a call's machine, and the switch that carries its actions out. Each
/// action's work lives in the file of its operation (AgentLegs.swift: legs and the bridge;
/// CallFlow.swift: prompts, the IVR and the queue; Voicemail.swift; CallRecording.swift;
/// CallDetail.swift: the record); this file only routes.
extension InboundCallService {
    /// The moment, as the machine takes it.
    var now: CallTime { CallTime(wall: scheduler.wallClock, monotonic: scheduler.now) }

    /// Feeds `event` to the call's machine and carries out what it asks, then any event that
    /// came up meanwhile, in order.
    func deliver(_ event: CallEvent, to call: ActiveCall) {
        call.inbox.append(event)
        guard !call.delivering else { return }
        call.delivering = true
        while !call.inbox.isEmpty {
            let next = call.inbox.removeFirst()
            for action in call.machine.handle(next, at: now) { perform(action, call) }
        }
        call.delivering = false
    }

    /// Carries out actions the machine returned outside `deliver` (`failedBeforeAnswer`).
    func perform(_ actions: [CallAction], _ call: ActiveCall) {
        for action in actions { perform(action, call) }
    }

    private func perform(_ action: CallAction, _ call: ActiveCall) {
        let id = call.session.id
        switch action {
        case .play(let prompts, let language, let interruptible, let serial):
            playPrompts(prompts, language: language, interruptible: interruptible, call: call) { service in
                if let call = service.calls[id] { service.deliver(.playbackEnded(serial: serial), to: call) }
            }
        case .playVoicemailIntro(let withPrompt, let serial):
            playVoicemailIntro(call, withPrompt: withPrompt, serial: serial)
        case .playMusic:
            startMusic(call)
        case .playRingback:
            let plan = policy.tones
            if let lease = call.lease { onMedia(lease) { $0.play(TonePlayer(.ringback, plan: plan)) } }
        case .stopPlayback:
            if let lease = call.lease { onMedia(lease) { $0.stopPlayback() } }
        case .arm(let timer, let after):
            call.timers[timer]?.cancel()
            call.timers[timer] = scheduler.schedule(after: after) { [weak self] in
                guard let self, let call = self.calls[id] else { return }
                call.timers[timer] = nil
                if timer == .mediaCheck { self.sampleMedia(call) } else { self.deliver(.timer(timer), to: call) }
            }
        case .disarm(let timer):
            call.timers.removeValue(forKey: timer)?.cancel()
        case .tellACD(let event):
            // From now on the ACD's id is the callback's, no longer this caller's.
            if case .callerCallback(let unique, _) = event, byUniqueID[unique] == id { byUniqueID[unique] = nil }
            acd?(event)
        case .saveCallback(let number):
            saveCallback(call, number: number)
        case .confirmAnswer(let agent, let acdCall, let leg):
            let (service, sip) = (bound, loop)
            acdRequest?(.agentAnswered(agent: agent, call: acdCall)) { error in
                guard error != nil else { return }
                sip.execute {
                    guard let call = service.value.calls[id] else { return }
                    service.value.deliver(.answerRefused(leg), to: call)
                }
            }
        case .enqueue(let route):
            enqueue(call, route)
        case .requeue(let group, let agent):
            acd?(.callArrived(CallArrival(call: call.machine.acdCall, group: group, callerID: call.info.caller, agent: agent)))
        case .dial(let leg, let device):
            dial(call, leg: leg, device: device)
        case .screenPop(let leg):
            if let agent = call.machine.leg(leg)?.agent { emit(call, "agent.ringing", screenPop(call, agent: agent)) }
        case .hangUpLeg(let leg):
            if let card = soundCardLeg(call, leg) {
                // Out of the stream at once (before a bridge that follows); the end is reported
                // back after this action, as a SIP leg's end would be.
                if card.bridge != nil { unbridgeSoundCard(call, card) }
                _ = scheduler.schedule(after: .milliseconds(0)) { [weak self] in self?.endSoundCard(card, end: .ended("local hangup")) }
            }
            legSession(call, leg)?.session.hangUp()
        case .completeRefer(let leg):
            // The caller is ours again: the transfer has succeeded as far as the agent is concerned.
            let session = legSession(call, leg)?.session
            _ = scheduler.schedule(after: .milliseconds(0)) { [weak session] in
                session?.notifyRefer(status: .ok, final: true)
                session?.hangUp()
            }
        case .hangUpCaller:
            call.session.hangUp()
        case .bridge(let leg):
            bridge(call, to: leg)
        case .split:
            for card in soundCardLegs.values where card.call == id && card.bridge != nil { unbridgeSoundCard(call, card) }
            if let lease = call.lease { onMedia(lease) { RTPBridge.split($0) } }
        case .bridgeLegs(let a, let b):
            bridgeLegs(call, a, b)
        case .mix(let legs):
            let members = legs.compactMap { joiningMember(call, $0) }
            let room = "call-\(id)"
            if let lease = call.lease {
                onMedia(lease) { callerStream in
                    guard let mixer = callerStream.clock?.room(room) else { return }
                    for member in members { member.join(mixer) }
                }
            }
        case .recordParty(let leg):
            if let lease = legSession(call, leg)?.lease { recordParty(call, lease) }
            if let card = soundCardLeg(call, leg) { recordCard(call, card, as: .party) }
        case .unmix:
            if let recording = call.recording, !recording.stopped, let lease = call.lease {
                let box = recording.tap
                onMedia(lease) { _ in box.value?.detachParty() }
            }
            let room = "call-\(id)"
            if let lease = call.lease {
                onMedia(lease) { callerStream in
                    guard let mixer = callerStream.clock?.existingRoom(room) else { return }
                    for p in mixer.participants { mixer.remove(p) }
                }
            }
        case .acceptLine(let leg):
            acceptLine(call, as: leg)
        case .monitorMix(let agent, let supervisor, let mode):
            monitorMix(call, agent: agent, supervisor: supervisor, mode: mode)
        case .monitorRole(let agent, let supervisor, let mode):
            monitorRole(call, agent: agent, supervisor: supervisor, mode: mode)
        case .playRingbackTo(let leg):
            let plan = policy.tones
            if let lease = legSession(call, leg)?.lease { onMedia(lease) { $0.play(TonePlayer(.ringback, plan: plan)) } }
            if let card = soundCardLeg(call, leg) {
                if card.bridge != nil { unbridgeSoundCard(call, card) }
                card.phone.playRingback()
            }
        case .startRecording(let leg):
            if let lease = legSession(call, leg)?.lease { recordBridge(call, agentLease: lease) }
            if let card = soundCardLeg(call, leg), let bridge = card.bridge {
                // A recording under way takes the card from here; the first one starts now.
                recordCard(call, card, as: .agent)
                if call.recording == nil { recordBridge(call, agentLease: nil, card: bridge) }
            }
        case .stopRecording:
            stopRecording(call)
        case .startVoicemail(let box):
            startRecordingVoicemail(call, box: box)
        case .stopVoicemail:
            stopVoicemail(call)
        case .emit(let type, let data):
            emit(call, type, data)
            // A supervisor's session is an event on the operators' stream too (O3).
            if type == "call.monitor" { observer?("monitor", call.summary, data) }
        case .writeRecord(let facts):
            writeRecord(call, facts)
        case .sendDigits(let digits):
            let events = digitsAsEvents(call)
            if let lease = call.lease {
                onMedia(lease) { stream in
                    if !events || !stream.sendDigits(digits) { stream.play(DTMFTonePlayer(digits)) }
                }
            }
        case .log(let level, let message, let fields):
            var meta: Logger.Metadata = ["call.id": "\(id)", "call.unique_id": "\(call.machine.uniqueID)"]
            for (k, v) in fields { meta[k] = "\(v)" }
            switch level {
            case .info: logger.info("\(message)", metadata: meta)
            case .notice: logger.notice("\(message)", metadata: meta)
            case .warning: logger.warning("\(message)", metadata: meta)
            }
        }
    }

    /// Whether keys go to the caller as RFC 4733 events: the leg negotiated them and its trunk
    /// does not want tones.
    func digitsAsEvents(_ call: ActiveCall) -> Bool { call.audio?.telephoneEventPayloadType != nil && !call.inbandDTMF }

    /// The SIP session and port of one of the call's other legs.
    func legSession(_ call: ActiveCall, _ leg: LegID) -> AgentLeg? {
        call.legSessions[leg].flatMap { agentLegs[$0] }
    }

    /// The watchdog's reading: every answered leg's packets received, read on the legs' loops.
    private func sampleMedia(_ call: ActiveCall) {
        let id = call.session.id
        var leases: [(LegID, RTPPortLease)] = []
        for leg in call.machine.legs where leg.state == .answered {
            if leg.id == .caller, let lease = call.lease { leases.append((leg.id, lease)) }
            if leg.id != .caller, let lease = legSession(call, leg.id)?.lease { leases.append((leg.id, lease)) }
        }
        let reads = leases.map { leg, lease in lease.loop.submit { (leg, lease.stream.packetsReceived) } }
        EventLoopFuture.whenAllSucceed(reads, on: loop).assumeIsolated().whenSuccess { [weak self] pairs in
            guard let self, let call = self.calls[id] else { return }
            self.deliver(.mediaSample(Dictionary(pairs, uniquingKeysWith: { a, _ in a })), to: call)
        }
    }
}
