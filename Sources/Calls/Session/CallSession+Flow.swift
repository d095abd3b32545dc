import ACD
import IVR
import JSON

/// The caller's way before an agent: keys, the IVR (the pure `IVRInterpreter`, whose actions
/// become the call's), the queue with its announcements and exits, and voicemail.
extension CallSession {
    /// "You are caller number N. The estimated wait is M minutes."
    public static func announcement(position: Int, estimatedWaitSeconds: Int?) -> [String] {
        var prompts = ["caller-number"] + sayNumber(position)
        if let seconds = estimatedWaitSeconds {
            let minutes = max(1, (seconds + 59) / 60)
            prompts += ["estimated-wait"] + sayNumber(minutes) + [minutes == 1 ? "minute" : "minutes"]
        }
        return prompts
    }

    /// Prompt names that say `n`: one prompt up to 20, digit by digit above.
    static func sayNumber(_ n: Int) -> [String] {
        if (0...20).contains(n) { return ["number-\(n)"] }
        return String(max(0, n)).map { "number-\($0)" }
    }

    static let allBusy = ["all-busy", "goodbye"]

    mutating func pressed(_ key: Character, at time: CallTime, into out: inout [CallAction]) {
        digits.append(key)
        out.append(.log(.info, "key pressed", ["call.digit": "\(key)"]))
        if phase == .callback { return callbackEntry(key, into: &out) }
        if callbackKey(key, into: &out) { return }
        if phase == .voicemail {
            if recordingVoicemail, key == "#" { stopVoicemail(reason: "caller pressed #", thank: true, into: &out) }
        } else if ivr != nil {
            ivrEvent(.digit(key), at: time, into: &out)
        } else if acdHasCall, connected == nil, direction == .inbound {
            out.append(.tellACD(.callerPressed(call: acdCall, key: String(key))))
        }
    }

    // MARK: IVR

    mutating func startIVR(at node: String, flow: IVRFlow? = nil, time: CallTime, into out: inout [CallAction]) {
        var interpreter = IVRInterpreter(flow: flow ?? rules.flow, language: rules.language)
        phase = .ivr
        ivrPathBefore = ivrPath
        let actions = interpreter.start(at: node, now: time.wall)
        ivr = interpreter
        perform(actions, at: time, into: &out)
    }

    mutating func ivrEvent(_ event: IVRInterpreter.Event, at time: CallTime, into out: inout [CallAction]) {
        guard var interpreter = ivr else { return }
        let actions = interpreter.handle(event, now: time.wall)
        ivr = interpreter
        perform(actions, at: time, into: &out)
    }

    private mutating func perform(_ actions: [IVRInterpreter.Action], at time: CallTime, into out: inout [CallAction]) {
        if let interpreter = ivr {
            let before = ivrPath.count
            ivrPath = ivrPathBefore + interpreter.path
            // Keys chosen in menus (`menu=1`) go to the CRM; collected digits never do.
            for step in ivrPath.dropFirst(before) where step.contains("=") {
                let parts = step.split(separator: "=", maxSplits: 1).map(String.init)
                out.append(
                    .emit(
                        "call.ivr_choice",
                        ["node": .string(parts[0]), "choice": .string(parts.count > 1 ? parts[1] : ""), "path": .array(ivrPath.map { .string($0) })]))
            }
        }
        for action in actions {
            switch action {
            case .play(let id, let prompts, let language, let bargeIn):
                play(prompts, language: language, interruptible: bargeIn, for: .ivr(id), into: &out)
            case .stopPlayback:
                playback = nil
                out.append(.stopPlayback)
            case .startTimer(let id, let seconds):
                ivrTimerID = id
                out.append(.arm(.ivr, after: .milliseconds(Int64(seconds * 1000))))
            case .route(let route):
                leaveIVR(into: &out)
                enqueue(route, at: time, into: &out)
            case .voicemail(let box):
                leaveIVR(into: &out)
                voicemail(box: box, prompted: true, into: &out)
            case .surveyScore(let score):
                surveyScore = score
                out.append(.log(.info, "survey answered", ["call.survey": "\(score)"]))
                if phase == .survey, let agent {
                    out.append(.tellACD(.surveyAnswered(call: acdCall, queue: queue ?? "NONE", agent: agent, score: score)))
                }
            case .hangUp(let reason):
                leaveIVR(into: &out)
                out.append(.log(.info, "IVR hangs up", ["ivr.reason": reason, "ivr.path": ivrPath.joined(separator: ">")]))
                let end = facts.surveyAfter ?? SurveyAfter(cause: "ivr: \(reason)", by: "system")
                hangUp(cause: end.cause, by: end.by, at: time, into: &out)
            }
        }
    }

    mutating func leaveIVR(into out: inout [CallAction]) {
        ivr = nil
        out.append(.disarm(.ivr))
    }

    // MARK: Queue

    /// Into the ACD. A caller who keys ahead over the welcome is routed within milliseconds of the
    /// answer, before the CRM has said who they are; their priority and own agent depend on it,
    /// so they wait for the answer (the shell's lookup ends within `crm.lookup_timeout_ms`) with
    /// music.
    mutating func enqueue(_ route: IVRFlow.Route, at time: CallTime, into out: inout [CallAction]) {
        guard lookupDone else {
            routeAfterLookup = route
            out.append(.playMusic)
            return
        }
        acdHasCall = true
        facts.queuedAt = facts.queuedAt ?? time.wall
        queue = route.group
        phase = .queued
        playback = nil
        out.append(.playMusic)
        out.append(.enqueue(route))
    }

    mutating func leaveQueue(_ reason: LeaveReason, then: QueueExit, at time: CallTime, into out: inout [CallAction]) {
        let meta = ["queue.leave_reason": reason.rawValue, "queue.then": "\(then)"]
        if case .group(let next) = then {
            // The ACD has queued the caller in the next group already; the music goes on.
            out.append(.log(.info, "call moves to another queue", meta.merging(["queue.name": next]) { $1 }))
            queue = next
            return
        }
        out.append(.log(.info, "call leaves the queue", meta.merging(["queue.name": queue ?? ""]) { $1 }))
        acdHasCall = false
        switch then {
        case .ivr(let node): startIVR(at: node, time: time, into: &out)
        case .voicemail(let box): voicemail(box: box, prompted: false, into: &out)
        case .hangUp, .group:
            facts.queueLetGo = true
            farewell(Self.allBusy, cause: "queue: \(reason.rawValue)", into: &out)
        }
    }

    // MARK: Voicemail

    /// The caller leaves a message: the voicemail prompt (unless the IVR node just played it), a
    /// beep, then what they say is recorded until they press #, hang up, or the maximum length.
    mutating func voicemail(box: String?, prompted: Bool, into out: inout [CallAction]) {
        phase = .voicemail
        facts.voicemail = true
        guard rules.voicemail else {
            out.append(.log(.warning, "voicemail is not configured; ending the call", ["call.cause": "voicemail_unavailable"]))
            return farewell(Self.allBusy, cause: "voicemail unavailable", into: &out)
        }
        serials += 1
        playback = (serials, .voicemailIntro(box: box ?? "default"))
        out.append(.playVoicemailIntro(withPrompt: !prompted, serial: serials))
    }

    mutating func startRecordingVoicemail(box: String, into out: inout [CallAction]) {
        recordingVoicemail = true
        out.append(.startVoicemail(box: box))
        out.append(.arm(.voicemailLimit, after: .seconds(Int64(rules.voicemailMaxSeconds))))
    }

    /// Ends the recording; when the caller is still there they hear that it was saved, and the
    /// call ends.
    mutating func stopVoicemail(reason: String, thank: Bool, into out: inout [CallAction]) {
        guard recordingVoicemail else { return }
        recordingVoicemail = false
        out.append(.disarm(.voicemailLimit))
        out.append(.stopVoicemail)
        out.append(.log(.info, "voicemail ends", ["voicemail.reason": reason]))
        if thank { farewell(["voicemail-saved", "goodbye"], cause: "voicemail: \(reason)", into: &out) }
    }

    // MARK: Survey

    /// The node the survey after a conversation runs as (added to a copy of the flow).
    static let surveyNode = "after-call-survey"

    /// "The agent who served you was number 1 0 0 1. How satisfied were you...?" An id that is
    /// not all digits is not spoken; the caller hears the plain introduction instead.
    static func survey(naming agent: String) -> IVRFlow.Survey {
        var s = IVRFlow.Survey()
        let spoken = !agent.isEmpty && agent.allSatisfy { $0.isASCII && $0.isNumber }
        s.prompts = (spoken ? ["agent-was"] + agent.map { "number-\($0)" } : ["survey-intro"]) + ["survey-question"]
        s.timeoutSeconds = 5
        s.retries = 1
        return s
    }

    /// Whether the caller answered by `agent` in `queue` goes to the survey when the agent hangs up.
    func takesSurvey(afterAgent agent: String?) -> Bool {
        guard agent != nil, let queue else { return false }
        return rules.surveyGroups.contains(queue)
    }

    /// The conversation is over but the caller stays: the recording stops (it holds the
    /// conversation only), and the survey's end, or the caller's, ends the call with the record
    /// saying how the conversation ended. Hanging up or not answering leaves the score empty.
    mutating func startSurvey(agent: String, cause: String, by: String, at time: CallTime, into out: inout [CallAction]) {
        endTalk(at: time)
        facts.surveyAfter = SurveyAfter(cause: cause, by: by)
        out.append(.split)
        out.append(.stopRecording)
        out.append(.log(.info, "caller goes to the survey", ["agent.id": agent, "queue.name": queue ?? ""]))
        var flow = rules.flow
        flow.nodes[Self.surveyNode] = .survey(Self.survey(naming: agent))
        startIVR(at: Self.surveyNode, flow: flow, time: time, into: &out)
        if ivr != nil { phase = .survey }
    }

    /// `acdctl survey CALL`: the agent's leg is released (COMPLETEAGENT, wrap-up) and the caller
    /// scores the call, whatever the group says.
    mutating func surveyRequested(by: String, byRefer: Bool = false, at time: CallTime, into out: inout [CallAction]) {
        guard let id = transferableLeg, let agent = leg(id)?.agent else { return }
        out.append(.tellACD(.agentHungUp(agent: agent)))
        letGo(id, byRefer: byRefer, into: &out)
        connected = nil
        acdHasCall = false
        startSurvey(agent: agent, cause: "agent ended the call for the survey", by: by, at: time, into: &out)
    }
}
