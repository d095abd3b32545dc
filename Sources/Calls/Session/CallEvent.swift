public import ACD
public import CRMBridge
public import IVR
public import JSON

/// The moment an event happens, as the session needs it: Unix time for what is recorded and
/// reported, and the scheduler's monotonic clock for the watchdog. The shell reads both once per
/// event, so the session never reads a clock.
public struct CallTime: Sendable, Equatable {
    public var wall: Double
    public var monotonic: Duration
    public init(wall: Double, monotonic: Duration) {
        self.wall = wall
        self.monotonic = monotonic
    }
}

/// Timers a call arms. One of each at a time: arming one again replaces it.
public enum CallTimer: Hashable, Sendable {
    /// The IVR interpreter's timer (a menu's wait for a key).
    case ivr
    /// Forward an agent's ringing leg on no answer.
    case noAnswer(LegID)
    /// Look at every answered leg's packet count (once a second).
    case mediaCheck
    /// The longest voicemail.
    case voicemailLimit
    /// The wait for a callback's number to be keyed.
    case callbackEntry
    /// A predictive campaign's answered customer must have an agent within 2 s.
    case connectDeadline
}

/// Why a prompt was played, so its end leads where it should. Each playback has its own serial:
/// an end reported for a playback that was replaced is not taken for the new one's.
public enum PlaybackPurpose: Sendable, Equatable {
    case ivr(Int)
    /// A position announcement over the music; the music goes on after it.
    case announcement
    /// Prompts before the call is hung up with `cause`.
    case farewell(cause: String)
    /// The voicemail prompt (unless the IVR just played it) and the beep; recording follows.
    case voicemailIntro(box: String)
}

/// Where a caller is transferred to, once the shell has checked it exists.
public enum TransferDestination: Sendable, Equatable, CustomStringConvertible {
    case group(String)
    /// An agent, waited for in one of their groups.
    case agent(String, group: String)
    case number(String)

    public var description: String {
        switch self {
        case .group(let g): "group:\(g)"
        case .agent(let a, _): "agent:\(a)"
        case .number(let n): "number:\(n)"
        }
    }
}

/// Whom an agent consults while the caller holds (FEATURES A4).
public enum ConsultTarget: Sendable, Equatable, CustomStringConvertible {
    /// One agent (who must be ready: the shell checks), reached through the ACD in `group`.
    case agent(String, group: String)
    /// Whoever the ACD picks in the group, ahead of the group's callers.
    case group(String)
    /// A number through the trunk.
    case number(String)

    public var description: String {
        switch self {
        case .agent(let a, _): "agent:\(a)"
        case .group(let g): "group:\(g)"
        case .number(let n): "number:\(n)"
        }
    }
}

/// How a leg's SIP session ended, as far as the session cares.
public enum LegEnd: Sendable, Equatable {
    /// The far end refused with this status (486 busy, 603 decline...).
    case refused(status: Int)
    /// It ended after answering, or for any other reason (timeout, transport failure, BYE).
    case ended(String)
}

/// Everything that can happen to a call. The shell turns SIP, media, ACD and operator input into
/// these, with the time, and carries out what `CallSession.handle` returns.
public enum CallEvent: Sendable, Equatable {
    // The caller's leg.
    /// Our 200 OK went out.
    case answered
    /// The caller's ACK arrived.
    case acked
    /// The caller holds us (their re-INVITE) or takes us off hold.
    case callerHold(Bool)
    /// The caller's session ended, with the cause and who ended it for the record.
    case callerEnded(cause: String, by: String)
    case key(Character)

    // What the number called does, chosen by the shell at the answer.
    case startIVR(node: String)
    /// A test number or an agent's feature code, run by the shell itself.
    case startService(CallService)

    // The CRM.
    /// The lookup by the caller's number answered (nil: unknown, or it timed out).
    case lookupDone(CRMCustomer?)

    // Playback and timers.
    case playbackEnded(serial: Int)
    case timer(CallTimer)
    /// The watchdog's reading: each answered leg's packets received so far.
    case mediaSample([LegID: Int])

    // The ACD.
    case offer(agent: String, device: String)
    case withdraw(agent: String)
    case announce(position: Int, estimatedWaitSeconds: Int?)
    case leaveQueue(reason: LeaveReason, then: QueueExit)
    /// The ACD forgot the call (an operator's reset) and asks for it to end.
    case acdEnds
    /// The callback the caller asked for is on disk (or could not be written).
    case callbackSaved(Bool)
    /// A predictive campaign's number was not answered: `busy`, `no-answer`, `congestion`,
    /// `failed`, and the SIP cause.
    case customerNotReached(outcome: String, cause: String)
    /// The ACD had moved on when the agent answered (a ring timeout crossed the answer).
    case answerRefused(LegID)

    // Other legs.
    /// The leg's INVITE is out.
    case legRinging(LegID)
    /// The leg could not even be started (no RTP port, a device that cannot be reached).
    case legFailed(LegID, reason: String)
    /// The leg answered; `usable` is false when its SDP could not be accepted.
    case legAnswered(LegID, usable: Bool)
    case legEnded(LegID, LegEnd)
    /// The leg's far end holds (re-INVITE sendonly or inactive) or retrieves.
    case legHold(LegID, Bool)

    // Operators and phones.
    /// Blind transfer of the caller away from the agent they talk to; `byRefer` when the agent's
    /// phone asked (REFER), which is told before its leg is hung up.
    case transfer(TransferDestination, byRefer: Bool)
    /// End the call from our side (shutdown, a finished service, no ACD to queue in, an operator).
    case release(cause: String, by: String)
    /// Keys to send to the caller (an agent steering a far IVR), as the caller's leg negotiated.
    case sendDigits(String)

    // Consultation (the shell has checked the target exists).
    /// The agent puts the caller on hold and calls `target`.
    case consult(ConsultTarget)
    /// The ACD's offer of the consult call to an agent, its withdrawal, and its giving up.
    case consultOffer(agent: String, device: String)
    case consultWithdraw(agent: String)
    case consultLeftQueue(reason: LeaveReason)
    /// Drop the consulted party and take the caller back.
    case consultReturn
    /// Hand the caller to the consulted party (attended transfer); the agent goes to wrap-up.
    case consultComplete
    /// The agent's phone called `target` on its second line (the shell has checked it) while on
    /// this call: a consultation whose agent side is that line.
    case lineConsult(ConsultTarget)
    /// The agent's phone sent REFER with Replaces naming its second line: the attended transfer,
    /// told to the phone by NOTIFY before its legs are hung up.
    case consultCompleteByRefer
    /// The caller, the agent and the party consulted talk together.
    case conference
    /// The agent (or an operator, `by`) ends the conversation and sends the caller to the survey;
    /// `byRefer` when the agent's phone asked (REFER to `survey`), which hears so before its BYE.
    case survey(by: String, byRefer: Bool = false)

    // Supervisors (O3).
    /// Ring `device` and join it to the conversation in `mode`.
    case monitor(device: String, mode: MonitorMode, by: String)
    case monitorMode(MonitorMode)
    /// An operator (`by`) ends the supervisor's session; the conversation goes on.
    case monitorStop(by: String)
    /// A key from a leg other than the caller's (a supervisor switching modes).
    case legKey(LegID, Character)
}

/// How a supervisor takes part in an agent's call (FEATURES O3).
public enum MonitorMode: String, Sendable, Hashable, CaseIterable {
    /// Hears both sides; heard by nobody.
    case listen
    /// Hears both sides; heard by the agent only (coaching).
    case whisper
    /// Heard by the caller only (FreeSWITCH eavesdrop's "speak with the other half").
    case whisperCaller = "whisper-caller"
    /// Joins the conversation: all three hear each other.
    case barge

    /// The supervisor's keys, as FreeSWITCH's eavesdrop reads them on the agent's channel:
    /// 0 back to listening, 1 speak to the other half (the caller), 2 speak to the channel
    /// listened to (the agent), 3 three-way.
    public init?(key: Character) {
        switch key {
        case "0": self = .listen
        case "1": self = .whisperCaller
        case "2": self = .whisper
        case "3": self = .barge
        default: return nil
        }
    }
}

/// What the number called runs, besides the IVR.
public enum CallService: Sendable, Equatable {
    /// The echo, playback, bridge and conference test numbers.
    case test
    /// An agent's feature code (log in, log out, ready, pause).
    case featureCode
}

/// What the session asks its shell to do, in order.
public enum CallAction: Sendable, Equatable {
    /// Play prompts on the caller's leg; `interruptible` lets a key stop them. The shell reports
    /// `.playbackEnded(serial)` when they finish on their own.
    case play(prompts: [String], language: String, interruptible: Bool, serial: Int)
    /// The voicemail prompt (when `withPrompt`) and the beep.
    case playVoicemailIntro(withPrompt: Bool, serial: Int)
    case playMusic
    case playRingback
    case stopPlayback
    case arm(CallTimer, after: Duration)
    case disarm(CallTimer)
    case tellACD(ACDEvent)
    /// Tell the ACD the agent answered the ACD's call `call`; a refusal comes back as
    /// `.answerRefused(leg)`.
    case confirmAnswer(agent: String, call: String, leg: LegID)
    /// Queue the caller (the shell works out priority and own agent from the CRM record, and
    /// tells the CRM and the ACD).
    case enqueue(IVRFlow.Route)
    /// Requeue a transferred caller in `group` (for `agent` only, when named).
    case requeue(group: String, agent: String?)
    /// Start a leg to `device` (a phone or number, as the ACD or a forward names it).
    case dial(LegID, device: String)
    /// The screen pop for the agent now ringing on `leg`.
    case screenPop(LegID)
    case hangUpLeg(LegID)
    /// Tell the agent's phone its REFER succeeded, then hang its leg up.
    case completeRefer(LegID)
    case hangUpCaller
    /// Connect the caller's audio to `leg` (and stop what the caller hears).
    case bridge(LegID)
    /// Take the caller out of any bridge.
    case split
    /// Connect two legs other than the caller (the agent and the party consulted).
    case bridgeLegs(LegID, LegID)
    /// Turn the caller's bridge with `agent` into a mix with the supervisor's leg, which takes
    /// part as `mode` says; `.unmix` ends it.
    case monitorMix(agent: LegID, supervisor: LegID, mode: MonitorMode)
    /// The supervisor's part in the mix changes.
    case monitorRole(agent: LegID, supervisor: LegID, mode: MonitorMode)
    /// Answer the agent's second-line INVITE the shell holds, as leg `LegID`.
    case acceptLine(LegID)
    /// The call's recording takes in this leg too (the third of a conference) until `.unmix`.
    case recordParty(LegID)
    /// Ringback to a leg other than the caller's (the agent while the consulted party rings).
    case playRingbackTo(LegID)
    /// Put these legs (the caller first) in the call's conference, each hearing the others.
    case mix([LegID])
    /// End the call's conference (its legs are bridged again, or end, by the actions after).
    case unmix
    /// Record the call with `leg` as the other side (a later agent joins the same file).
    case startRecording(LegID)
    case stopRecording
    case startVoicemail(box: String)
    /// Write the caller's callback to the worklist; `.callbackSaved` reports back.
    case saveCallback(number: String)
    case stopVoicemail
    case emit(String, JSONValue)
    /// The call-detail record, written once.
    case writeRecord(CallRecordFacts)
    case log(CallLogLevel, String, [String: String])
    /// Keys to the caller: RFC 4733 events when the leg negotiated them, tones otherwise.
    case sendDigits(String)
}

public enum CallLogLevel: Sendable, Equatable { case info, notice, warning }
