import ACD
public import CRMBridge
public import IVR
import JSON

/// One call as a pure state machine: its phase, the legs it owns and what its record will say,
/// driven by `CallEvent`s and answering with `CallAction`s (shared/ARCHITECTURE.md, "Pure cores,
/// thin shells").
///
/// It touches no socket, timer or clock: time comes in with each event, and the shell
/// (`InboundCallService`) carries the actions out and reports back. Every rule of the call path
/// lives here, so a rule is tested in microseconds with a fake clock (Tests/CallsTests), and the
/// shell only knows how to do things, never whether to. Before it, a call was a class of twenty
/// mutable fields whose phase was guessed from which optionals were set (issue 18).
public struct CallSession: Sendable {
    /// Where the call is. `calls` shows the raw value.
    public enum Phase: String, Sendable, Equatable {
        /// Admitted; the RTP port is being found.
        case answering
        /// Our 200 is out; the ACK has not come.
        case answered
        /// Up, running a test number (or nothing more).
        case connected
        case ivr
        /// Waiting in `queue` with music on hold.
        case queued
        /// An agent's phone rings.
        case ringing
        /// Talking to an agent.
        case bridged
        /// The agent talks to someone else (or waits for them) while the caller holds with music.
        case consulting
        /// The caller, the agent and the party consulted all hear each other.
        case conference
        /// The agent's phone holds the caller, who hears music.
        case held
        /// A number the caller was transferred to is being called; the caller hears ringback.
        case transferring
        /// Talking to that number.
        case transferred
        case voicemail
        /// The agent hung up first and the caller scores the call (C6).
        case survey
        /// An agent's feature code is being applied.
        case feature
        /// An agent's own call: the agent answered and the number is being called while the
        /// agent hears ringback (click-to-dial, issue 19).
        case calling
        /// A waiting caller pressed the group's callback key and chooses the number to be called
        /// back at; they keep their place in the queue meanwhile.
        case callback
        case ended
    }

    struct SurveyAfter: Sendable, Equatable {
        var cause: String
        var by: String
    }

    /// What a call is allowed, from the configuration when it started: a reload applies to the
    /// calls after it, so a live call never finds the IVR node or the group it is in gone.
    public struct Rules: Sendable {
        public var language: String
        /// An agent's own call: how long the agent's phone, then the number, may ring.
        public var agentRingSeconds = 30
        public var outboundNoAnswerSeconds = 45
        /// The key that asks for a callback, per group that offers one.
        public var callbackKeys: [String: Character] = [:]
        /// No RTP from an answered leg for this long ends the call; nil: never.
        public var mediaTimeout: Duration?
        public var forwarding: [String: CallPolicy.Forwarding]
        public var flow: IVRFlow
        /// Voicemail needs a directory, a writer and the prompts.
        public var voicemail: Bool
        public var voicemailMaxSeconds: Int
        /// Groups whose callers take the survey when the agent hangs up first.
        public var surveyGroups: Set<String>

        public init(
            language: String = "en", mediaTimeout: Duration? = .seconds(30), forwarding: [String: CallPolicy.Forwarding] = [:], flow: IVRFlow = IVRFlow(),
            voicemail: Bool = true, voicemailMaxSeconds: Int = 120, surveyGroups: Set<String> = [], callbackKeys: [String: Character] = [:]
        ) {
            self.callbackKeys = callbackKeys
            self.surveyGroups = surveyGroups
            self.language = language
            self.mediaTimeout = mediaTimeout
            self.forwarding = forwarding
            self.flow = flow
            self.voicemail = voicemail
            self.voicemailMaxSeconds = voicemailMaxSeconds
        }
    }

    /// Who started the call: a caller who rang in, or an agent who placed it. On an agent's own
    /// call the agent's leg is the machine's first leg (`.caller`): it is the one rung first and
    /// the one that hears the ringback and the prompts, and the number is an ordinary other leg.
    public enum Direction: String, Sendable { case inbound, outbound }

    /// The id the ACD, the queue log and the records know the call by.
    public let uniqueID: String
    public let direction: Direction
    /// The number an agent's own call dials once the agent answers.
    public let target: String?
    /// A callback's attempt: the callback's id in the ACD, which offered it to the agent.
    public let callbackOf: String?
    /// A predictive campaign's call: the customer is called first, and once they answer they
    /// join this group's queue for the next agent (CallSession+Predictive.swift).
    public let campaignGroup: String?
    /// What the campaign's customer hears when no agent takes them within 2 s.
    public internal(set) var abandonPrompt = "campaign-abandon"
    /// The caller's number (ENTERQUEUE's caller id after a transfer).
    public let caller: String
    public var rules: Rules
    public internal(set) var phase: Phase = .answering
    public internal(set) var legs: [CallLeg]
    /// The leg the caller talks to, once it answered.
    public internal(set) var connected: LegID?
    /// The group the caller waits in or was answered from.
    public internal(set) var queue: String?
    /// The agent ringing or connected.
    public internal(set) var agent: String?
    /// Keys pressed, in order.
    public internal(set) var digits = ""
    /// IVR nodes visited and menu keys chosen, over every visit to the IVR.
    public internal(set) var ivrPath: [String] = []
    public internal(set) var surveyScore: Int?
    public internal(set) var service: CallService?
    /// The CRM's answer about the caller, once it came.
    public internal(set) var customer: CRMCustomer?
    public internal(set) var lookupDone = false
    /// Whether the ACD holds the call (waiting, ringing or connected to an agent): it must hear
    /// when the caller goes.
    public internal(set) var acdHasCall = false
    /// The ACD's id of the caller's conversation: the call's own, or after an attended transfer
    /// the consult call's, which the ACD goes on with.
    public internal(set) var acdCall: String
    /// The consultation in progress, if any.
    public internal(set) var consult: Consult?
    /// A supervisor ringing or monitoring the conversation, if any.
    public internal(set) var monitor: Monitor?
    var consults = 0
    /// A predictive campaign's customer reached an agent in time.
    var campaignConnectedNoted = false

    /// What an agent's consultation holds.
    public struct Consult: Sendable, Equatable {
        public let target: ConsultTarget
        /// The consult's own call in the ACD; nil for a number.
        public let acdCall: String?
        /// The leg rung or answered for it.
        public internal(set) var leg: LegID?
        public internal(set) var answered = false
        /// The ACD still holds the consult call (waiting, ringing or connected).
        var acdHasIt: Bool
        /// The agent's second line the consult runs on, when the phone started it; else the
        /// agent talks on the call's own leg.
        public internal(set) var line: LegID?
    }

    var ivr: IVRInterpreter?
    var ivrPathBefore: [String] = []
    var ivrTimerID = 0
    /// Where the IVR sent the caller before the CRM lookup answered (see `enqueue`).
    var routeAfterLookup: IVRFlow.Route?
    var recordingVoicemail = false
    /// The playback whose end means something, and what.
    var playback: (serial: Int, purpose: PlaybackPurpose)?
    var serials = 0
    var facts = Facts()
    var nextLeg = 1

    /// What the call-detail record needs besides the phase.
    struct Facts: Sendable, Equatable {
        var queuedAt: Double?
        var firstConnectedAt: Double?
        /// The current stretch talking to someone, and the stretches before it.
        var connectedAt: Double?
        var talkSeconds = 0.0
        var transfers: [String] = []
        var voicemail = false
        /// The queue let the caller go (maximum wait with nowhere to go, or refused to queue).
        var queueLetGo = false
        var transferredOut = false
        /// How the conversation ended, when the caller went on to the survey: the record says
        /// that, whatever ends the survey.
        var surveyAfter: SurveyAfter?
        var failed = false
        var written = false
        /// An agent's own call: when the number answered, and how it ended when it did not.
        var targetAnsweredAt: Double?
        var outboundOutcome: String?
        /// The number a waiting caller asked to be called back at, once saved.
        var callbackNumber: String?
        /// An agent's own call: the agent's phone answered.
        var agentAnswered = false
    }

    /// Keys typed for the callback's number, and the number waiting to be saved.
    var callbackDigits = ""
    var callbackSaving: String?

    public init(uniqueID: String, caller: String, rules: Rules) {
        self.uniqueID = uniqueID
        self.caller = caller
        direction = .inbound
        target = nil
        callbackOf = nil
        campaignGroup = nil
        self.rules = rules
        acdCall = uniqueID
        legs = [CallLeg(id: .caller, role: .caller, state: .ringing)]
    }

    public func leg(_ id: LegID) -> CallLeg? { legs.first { $0.id == id } }

    /// The caller holds us: their audio is not expected, and the view says so.
    public var callerHeld: Bool { legs[0].held }

    /// The state as `acdctl calls` shows it.
    public var displayState: String {
        if callerHeld, [.connected, .bridged].contains(phase) { return "held" }
        return phase.rawValue
    }

    /// Keys can go to the caller only while they talk to someone: over a prompt or the music
    /// they would replace what the caller is meant to hear.
    public var canSendDigits: Bool { [.connected, .bridged, .transferred].contains(phase) && !facts.written }

    /// Whether the call-detail record was written (the call is as good as over).
    public var recordWritten: Bool { facts.written }

    // MARK: Handling events

    public mutating func handle(_ event: CallEvent, at time: CallTime) -> [CallAction] {
        var out: [CallAction] = []
        guard phase != .ended else { return out }
        switch event {
        case .answered where campaignGroup != nil:
            customerAnswered(at: time, into: &out)
        case .answered where direction == .outbound:
            agentAnswered(at: time, into: &out)
        case .customerNotReached(let outcome, let cause):
            customerNotReached(outcome: outcome, cause: cause, at: time, into: &out)
        case .answered:
            legs[0].state = .answered
            phase = .answered
            watch(.caller, at: time, into: &out)
        case .acked:
            if phase == .answered { phase = .connected }
        case .callerHold(let held):
            legs[0].held = held
        case .callerEnded(let cause, let by):
            callerEnded(cause: cause, by: by, at: time, into: &out)
        case .key(let key):
            pressed(key, at: time, into: &out)
        case .startIVR(let node):
            startIVR(at: node, time: time, into: &out)
        case .startService(let s):
            service = s
            if s == .featureCode { phase = .feature }
        case .lookupDone(let customer):
            guard !lookupDone else { break }
            lookupDone = true
            self.customer = customer
            if let route = routeAfterLookup {
                routeAfterLookup = nil
                enqueue(route, at: time, into: &out)
            }
        case .playbackEnded(let serial):
            playbackEnded(serial, at: time, into: &out)
        case .timer(let timer):
            fired(timer, at: time, into: &out)
        case .mediaSample(let counts):
            sample(counts, at: time, into: &out)
        case .offer(let agent, let device):
            offer(agent, device: device, into: &out)
        case .withdraw where callbackOf != nil:
            callbackWithdrawn(at: time, into: &out)
        case .withdraw(let agent):
            withdraw(agent, into: &out)
        case .announce(let position, let wait):
            guard acdHasCall, connected == nil else { break }
            play(Self.announcement(position: position, estimatedWaitSeconds: wait), for: .announcement, into: &out)
        case .leaveQueue(let reason, let then):
            leaveQueue(reason, then: then, at: time, into: &out)
        case .acdEnds:
            out.append(.log(.info, "ACD ends the call", [:]))
            hangUp(cause: "ended by the ACD", by: "system", at: time, into: &out)
        case .answerRefused(.caller) where callbackOf != nil:
            acdHasCall = false
            out.append(.log(.notice, "ACD refused the agent's answer to the callback", [:]))
            hangUp(cause: "ACD refused the answer", by: "system", at: time, into: &out)
        case .callbackSaved(let saved):
            callbackSaved(saved, at: time, into: &out)
        case .answerRefused(let id):
            answerRefused(id, into: &out)
        case .legRinging(let id):
            legRinging(id, into: &out)
        case .legFailed(let id, let reason):
            legFailed(id, reason: reason, at: time, into: &out)
        case .legAnswered(let id, let usable):
            legAnswered(id, usable: usable, at: time, into: &out)
        case .legEnded(let id, let end):
            legEnded(id, end, at: time, into: &out)
        case .legHold(let id, let held):
            legHold(id, held, into: &out)
        case .transfer(let destination, let byRefer):
            transfer(to: destination, byRefer: byRefer, at: time, into: &out)
        case .release(let cause, let by):
            hangUp(cause: cause, by: by, at: time, into: &out)
        case .consult(let target): startConsult(target, at: time, into: &out)
        case .consultOffer(let agent, let device): consultOffer(agent, device: device, into: &out)
        case .consultWithdraw(let agent):
            for leg in legs where leg.consult && leg.agent == agent && leg.isOffer { release(leg.id, into: &out) }
        case .consultLeftQueue(let reason):
            consult?.acdHasIt = false
            out.append(.log(.info, "consult call left the queue", ["queue.leave_reason": reason.rawValue]))
            endConsult(into: &out)
        case .consultReturn: consultReturn(into: &out)
        case .consultComplete: consultComplete(at: time, into: &out)
        case .lineConsult(let target): startLineConsult(target, at: time, into: &out)
        case .consultCompleteByRefer: consultComplete(byRefer: true, at: time, into: &out)
        case .conference: startConference(into: &out)
        case .survey(let by, let byRefer): surveyRequested(by: by, byRefer: byRefer, at: time, into: &out)
        case .monitor(let device, let mode, let by): startMonitor(device: device, mode: mode, by: by, at: time, into: &out)
        case .monitorMode(let mode): changeMonitor(to: mode, into: &out)
        case .monitorStop(let by): out.append(contentsOf: endMonitor(reason: "stopped by \(by)"))
        case .legKey(let id, let key):
            if monitor?.leg == id, let mode = MonitorMode(key: key) { changeMonitor(to: mode, into: &out) }
        case .sendDigits(let digits):
            guard canSendDigits else { break }
            out.append(.sendDigits(digits))
            out.append(.log(.info, "keys sent to the caller", ["call.digits": digits]))
        }
        // A supervisor joins a two-party conversation only: whatever ended it (hold, a
        // consultation, a transfer, the survey, the end of the call) ends the monitoring first,
        // so the mix is gone before the caller's new audio starts.
        if monitor != nil, phase != .bridged { out.insert(contentsOf: endMonitor(reason: "the call is \(phase.rawValue)"), at: 0) }
        if campaignGroup != nil, !campaignConnectedNoted, connected != nil {
            campaignConnectedNoted = true
            campaignConnected(into: &out)
        }
        return out
    }

    // MARK: Shared steps

    mutating func newLeg(_ role: CallLeg.Role, forwarded: Bool, consult: Bool = false) -> LegID {
        let id = LegID(nextLeg)
        nextLeg += 1
        legs.append(CallLeg(id: id, role: role, state: .dialling, forwarded: forwarded, consult: consult))
        return id
    }

    mutating func update(_ id: LegID, _ change: (inout CallLeg) -> Void) {
        guard let i = legs.firstIndex(where: { $0.id == id }) else { return }
        change(&legs[i])
    }

    mutating func play(_ prompts: [String], language: String? = nil, interruptible: Bool = false, for purpose: PlaybackPurpose, into out: inout [CallAction]) {
        serials += 1
        playback = (serials, purpose)
        out.append(.play(prompts: prompts, language: language ?? rules.language, interruptible: interruptible, serial: serials))
    }

    /// Prompts, then the call ends.
    mutating func farewell(_ prompts: [String], cause: String, into out: inout [CallAction]) {
        play(prompts, for: .farewell(cause: cause), into: &out)
    }

    mutating func playbackEnded(_ serial: Int, at time: CallTime, into out: inout [CallAction]) {
        guard let current = playback, current.serial == serial else { return }
        playback = nil
        switch current.purpose {
        case .ivr(let id):
            ivrEvent(.promptFinished(id: id), at: time, into: &out)
        case .announcement:
            if acdHasCall, connected == nil { out.append(.playMusic) }
        case .farewell(let cause):
            hangUp(cause: cause, by: "system", at: time, into: &out)
        case .voicemailIntro(let box):
            startRecordingVoicemail(box: box, into: &out)
        }
    }

    mutating func fired(_ timer: CallTimer, at time: CallTime, into out: inout [CallAction]) {
        switch timer {
        case .ivr: ivrEvent(.timeout(id: ivrTimerID), at: time, into: &out)
        case .noAnswer(let id): noAnswer(id, at: time, into: &out)
        case .mediaCheck: break  // the shell answers it with `.mediaSample`
        case .voicemailLimit: stopVoicemail(reason: "maximum length", thank: true, into: &out)
        case .callbackEntry: callbackEntryTimedOut(into: &out)
        case .connectDeadline: connectDeadlinePassed(at: time, into: &out)
        }
    }

    /// Ends the call from our side: the record is written now, with this as its end, rather than
    /// when the caller answers our BYE, and the ACD and the other legs are told at once (a trunk
    /// that never answers our BYE must not hold an agent until Timer F).
    mutating func hangUp(cause: String, by: String, at time: CallTime, into out: inout [CallAction]) {
        writeRecord(cause: cause, by: by, at: time, into: &out)
        if acdHasCall {
            acdHasCall = false
            out.append(.tellACD(acdGoodbye))
        }
        if let c = consult, c.acdHasIt, let id = c.acdCall {
            consult?.acdHasIt = false
            out.append(.tellACD(.callerHungUp(call: id)))
        }
        for leg in legs where leg.id != .caller && leg.isLive { release(leg.id, into: &out) }
        out.append(.hangUpCaller)
    }

    /// The caller's session is over: nothing of the call may stay behind (timer, queue entry,
    /// another leg).
    mutating func callerEnded(cause: String, by: String, at time: CallTime, into out: inout [CallAction]) {
        let end = facts.surveyAfter ?? SurveyAfter(cause: cause, by: by)
        writeRecord(cause: end.cause, by: end.by, at: time, into: &out)
        if ivr != nil { leaveIVR(into: &out) }
        if recordingVoicemail {
            recordingVoicemail = false
            out.append(.disarm(.voicemailLimit))
            out.append(.stopVoicemail)
            out.append(.log(.info, "voicemail ends", ["voicemail.reason": "caller hung up"]))
        }
        if acdHasCall {
            acdHasCall = false
            out.append(.tellACD(acdGoodbye))
        }
        if let c = consult, c.acdHasIt, let id = c.acdCall { out.append(.tellACD(.callerHungUp(call: id))) }
        if phase == .conference { out.append(.unmix) }
        consult = nil
        for leg in legs where leg.id != .caller && leg.isLive { release(leg.id, into: &out) }
        routeAfterLookup = nil
        legs[0].state = .ended
        out.append(.disarm(.mediaCheck))
        phase = .ended
    }

    /// What the ACD hears when the call ends while it has it: the caller went; for a callback's
    /// attempt whose agent never answered, the agent declined (the callback keeps its place).
    var acdGoodbye: ACDEvent {
        if callbackOf != nil, !facts.agentAnswered, let a = agent { return .agentDeclined(agent: a, call: acdCall) }
        return .callerHungUp(call: acdCall)
    }

    /// Hangs a leg up from our side; what it reports afterwards changes nothing.
    mutating func release(_ id: LegID, into out: inout [CallAction]) {
        guard let leg = leg(id), leg.isLive else { return }
        update(id) { $0.state = .releasing }
        out.append(.disarm(.noAnswer(id)))
        // A leg still finding its port has no session yet: the shell drops it when the port comes.
        if leg.state != .dialling { out.append(.hangUpLeg(id)) }
    }

    /// The caller stops talking to the connected leg: its minutes are counted.
    mutating func endTalk(at time: CallTime) {
        guard let since = facts.connectedAt else { return }
        facts.talkSeconds += time.wall - since
        facts.connectedAt = nil
    }

    /// Once per call, at the first of our hang-up or the caller's; recording stops with it, so the
    /// file ends where the record does.
    mutating func writeRecord(cause: String, by: String, outcome: String? = nil, at time: CallTime, into out: inout [CallAction]) {
        guard !facts.written else { return }
        facts.written = true
        endTalk(at: time)
        out.append(.stopRecording)
        let f = facts
        out.append(
            .writeRecord(
                CallRecordFacts(
                    end: time.wall, outcome: outcome ?? self.outcome, cause: cause, by: by, queue: queue, agent: f.firstConnectedAt == nil ? nil : agent,
                    waitSeconds: f.queuedAt.map { Int(((f.firstConnectedAt ?? time.wall) - $0).rounded()) },
                    talkSeconds: f.firstConnectedAt == nil ? nil : Int(f.talkSeconds.rounded()), ivrPath: ivrPath.joined(separator: ">"),
                    transfers: f.transfers.joined(separator: ";"), surveyScore: surveyScore, direction: direction, targetAnsweredAt: f.targetAnsweredAt,
                    callbackNumber: f.callbackNumber, callbackOf: callbackOf, agentAnswered: f.agentAnswered)))
    }

    /// A call admitted but never answered (no RTP port, an SDP we cannot meet).
    public mutating func failedBeforeAnswer(cause: String, at time: CallTime) -> [CallAction] {
        var out: [CallAction] = []
        writeRecord(cause: cause, by: "system", outcome: "failed", at: time, into: &out)
        phase = .ended
        return out
    }

    var outcome: String {
        if facts.callbackNumber != nil { return "callback" }
        if direction == .outbound {
            if let o = facts.outboundOutcome { return o }
            if facts.firstConnectedAt != nil { return "connected" }
            // A campaign's customer who hung up before the 2 s were over.
            if campaignGroup != nil { return facts.targetAnsweredAt != nil ? "hung-up" : "failed" }
            // The agent answered and hung up before the number did; or the agent never answered.
            return legs[0].state == .answered ? "cancelled" : "failed"
        }
        switch service {
        case .featureCode?: return "feature"
        case .test?: return "test"
        case nil: break
        }
        if facts.voicemail { return "voicemail" }
        if facts.transferredOut { return "transferred" }
        if facts.firstConnectedAt != nil { return "connected" }
        if facts.queueLetGo { return "timeout" }
        if facts.queuedAt != nil { return "abandoned" }
        return "ivr"
    }

    // MARK: The media watchdog

    /// Starts watching an answered leg, from now.
    mutating func watch(_ id: LegID, at time: CallTime, into out: inout [CallAction]) {
        guard let limit = rules.mediaTimeout else { return }
        let first = !legs.contains { $0.watch != nil }
        update(id) { $0.watch = MediaWatch(packets: -1, since: time.monotonic) }
        if first { out.append(.arm(.mediaCheck, after: min(.seconds(1), limit))) }
    }

    /// A leg whose packet count stood still for the timeout, while not held, has gone away: the
    /// caller's ends the call; an agent's ends it from the agent's side at once, rather than leave
    /// the caller talking to nobody while a BYE goes unanswered.
    mutating func sample(_ counts: [LegID: Int], at time: CallTime, into out: inout [CallAction]) {
        guard let limit = rules.mediaTimeout else { return }
        var silent: [LegID] = []
        for i in legs.indices {
            guard legs[i].state == .answered, var w = legs[i].watch, let count = counts[legs[i].id] else { continue }
            if count != w.packets {
                if w.packets >= 0 || count > 0 { w.since = time.monotonic }
                w.packets = count
            }
            if legs[i].held { w.since = time.monotonic }
            legs[i].watch = w
            if time.monotonic - w.since >= limit { silent.append(legs[i].id) }
        }
        for id in silent {
            let seconds = "\(limit.components.seconds)"
            if id == .caller {
                out.append(.log(.notice, "no RTP; hanging up", ["call.cause": "media_timeout", "rtp.silent_seconds": seconds, "rtp.packets_in": "\(counts[id] ?? 0)"]))
                hangUp(cause: "media timeout", by: "system", at: time, into: &out)
                return
            }
            guard let leg = leg(id) else { continue }
            out.append(.log(.notice, "no RTP from the agent's phone; hanging up", ["agent.id": leg.agent ?? leg.number ?? "", "call.cause": "media_timeout", "rtp.silent_seconds": seconds]))
            if let agent = leg.agent { out.append(.tellACD(.agentHungUp(agent: agent))) }
            release(id, into: &out)
            if connected == id {
                connected = nil
                // An agent's own call: the ACD hears of it from the hang-up (no agent leg here).
                if direction == .inbound { acdHasCall = false }
                hangUp(cause: direction == .inbound ? "agent's phone sent no RTP" : "no RTP from the customer", by: "system", at: time, into: &out)
                return
            }
        }
        out.append(.arm(.mediaCheck, after: .seconds(1)))
    }
}

/// What the session knows of a call for its call-detail record; the shell adds the SIP facts
/// (ids, numbers, times of start and answer, codec, recording).
public struct CallRecordFacts: Sendable, Equatable {
    public var end: Double
    public var outcome: String
    public var cause: String
    public var by: String
    public var queue: String?
    public var agent: String?
    public var waitSeconds: Int?
    public var talkSeconds: Int?
    public var ivrPath: String
    public var transfers: String
    public var surveyScore: Int?
    public var direction: CallSession.Direction = .inbound
    /// An agent's own call: when the number answered (billing starts there, not at the agent's
    /// answer).
    public var targetAnsweredAt: Double?
    /// The number the caller asked to be called back at (outcome `callback`).
    public var callbackNumber: String?
    /// A callback's attempt: the callback, and whether the agent took it (else the ACD offers it
    /// again and the attempt does not count).
    public var callbackOf: String?
    public var agentAnswered = false
}
