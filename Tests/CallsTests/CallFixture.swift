import ACD
@testable import Calls
import IVR
import Testing

/// One caller and two agents (shared/STYLE.md §6, after baresip's `test/call.h`): a
/// `CallSession` driven as the shell drives it, with the real ACD engine run synchronously beside
/// it and a fake clock. Timers fire when the clock passes them; the ACD's offers, withdrawals and
/// exits come back into the session; phones are the test's to answer or refuse. Everything said is
/// kept, so a test checks what was done and what the ACD wrote in its queue log.
struct CallFixture {
    var session: CallSession
    var engine: ACDEngine
    /// Seconds since the start; the wall clock is `origin` later.
    var seconds = 0.0
    static let origin = 1_800_000_000.0
    var timers: [CallTimer: Double] = [:]
    /// Every action of the session, in order.
    var actions: [CallAction] = []
    /// The queue log the ACD wrote: its events, and whole lines.
    var queueLog: [String] = []
    var queueLines: [QueueLogEntry] = []
    /// Legs the session asked for, by id, with the device.
    var dialled: [LegID: String] = [:]
    /// Legs the session hung up.
    var hungUp: [LegID] = []
    /// The playback the caller hears now (prompts), if any.
    var playing: (serial: Int, prompts: [String])?
    var heard: [[String]] = []
    /// Packets each leg has sent so far, for the watchdog's samples, and legs that send none.
    var packets: [LegID: Int] = [:]
    var silent: Set<LegID> = []
    private var lastTick = 0.0
    /// The record, once written.
    var record: CallRecordFacts?
    var records = 0
    var callerHungUp = false
    /// Callbacks the session asked the worklist to save.
    var savedCallbacks: [String] = []
    /// The ACD refuses every answer, as when its ring timeout crossed the phone's 200.
    var refuseAnswers = false
    private var inbox: [CallEvent] = []
    private var busy = false

    static let unique = "1800000000.1"

    init(rules: CallSession.Rules = CallFixture.rules(), configure: (inout GroupSettings) -> Void = { _ in }) throws {
        session = CallSession(uniqueID: Self.unique, caller: "0301234567", rules: rules)
        var sales = GroupSettings(name: "sales")
        sales.wrapUpSeconds = 0
        configure(&sales)
        var support = GroupSettings(name: "support")
        support.wrapUpSeconds = 0
        engine = try ACDEngine(
            settings: ACDSettings(
                groups: [sales, support],
                agents: [
                    AgentSettings(id: "1001", skills: [.init("sales", 8), .init("support", 3)]),
                    AgentSettings(id: "1002", skills: [.init("sales", 5), .init("support", 7)]),
                ]))
    }

    /// The default configuration's flow: welcome, hours (open), menu 1 sales / 2 support / 0 voicemail.
    static func flow() -> IVRFlow {
        var menu = IVRFlow.Menu(prompts: ["main-menu"], choices: ["1": "sales", "2": "support", "0": "voicemail"], failure: "goodbye")
        menu.timeoutSeconds = 5
        menu.retries = 2
        return IVRFlow(
            nodes: [
                "welcome": .play(prompts: ["welcome"], bargeIn: true, next: "menu"), "menu": .menu(menu),
                "sales": .route(.init(group: "sales")), "support": .route(.init(group: "support")),
                "voicemail": .voicemail(box: nil, prompts: ["voicemail"]), "goodbye": .hangUp(prompts: ["goodbye"]),
            ],
            entries: ["100": "welcome"])
    }

    static func rules(forwarding: [String: CallPolicy.Forwarding] = [:], mediaTimeout: Duration? = .seconds(30)) -> CallSession.Rules {
        CallSession.Rules(language: "en", mediaTimeout: mediaTimeout, forwarding: forwarding, flow: flow(), voicemail: true, voicemailMaxSeconds: 60)
    }

    var now: CallTime { CallTime(wall: Self.origin + seconds, monotonic: .milliseconds(Int64((seconds * 1000).rounded()))) }
    var phase: CallSession.Phase { session.phase }

    // MARK: Driving

    /// Feeds an event, then everything it leads to (ACD answers, immediate reports), in order.
    mutating func send(_ event: CallEvent) {
        inbox.append(event)
        guard !busy else { return }
        busy = true
        while !inbox.isEmpty {
            let next = inbox.removeFirst()
            let out = session.handle(next, at: now)
            actions += out
            for action in out { perform(action) }
        }
        busy = false
    }

    private mutating func perform(_ action: CallAction) {
        switch action {
        case .play(let prompts, _, _, let serial):
            playing = (serial, prompts)
            heard.append(prompts)
        case .playVoicemailIntro(let withPrompt, let serial):
            let prompts = (withPrompt ? ["voicemail"] : []) + ["beep"]
            playing = (serial, prompts)
            heard.append(prompts)
        case .playMusic:
            playing = nil
            heard.append(["music"])
        case .playRingback:
            playing = nil
            heard.append(["ringback"])
        case .stopPlayback, .bridge:
            playing = nil
        case .arm(let timer, let after):
            timers[timer] = seconds + Double(after.components.seconds) + Double(after.components.attoseconds) / 1e18
        case .disarm(let timer):
            timers[timer] = nil
        case .tellACD(let event):
            acd(event)
        case .confirmAnswer(let agent, let call, let leg):
            if refuseAnswers || !acd(.agentAnswered(agent: agent, call: call)) { inbox.append(.answerRefused(leg)) }
        case .enqueue(let route):
            acd(.callArrived(CallArrival(call: Self.unique, group: route.group, priority: route.priority, callerID: session.caller)))
        case .requeue(let group, let agent):
            acd(.callArrived(CallArrival(call: Self.unique, group: group, callerID: session.caller, agent: agent)))
        case .dial(let leg, let device):
            dialled[leg] = device
        case .hangUpLeg(let leg), .completeRefer(let leg):
            hungUp.append(leg)
        case .hangUpCaller:
            callerHungUp = true
        case .saveCallback(let number):
            savedCallbacks.append(number)
        case .writeRecord(let facts):
            record = facts
            records += 1
        case .screenPop, .split, .startRecording, .stopRecording, .startVoicemail, .stopVoicemail, .emit, .log, .sendDigits, .bridgeLegs, .playRingbackTo, .mix, .unmix,
            .monitorMix, .monitorRole, .acceptLine, .recordParty:
            break
        }
    }

    /// Sends an event to the ACD; its actions for this call come back as events. False if refused.
    @discardableResult
    mutating func acd(_ event: ACDEvent) -> Bool {
        var out: [ACDAction] = []
        do {
            try engine.handle(event, now: ACDTime((seconds * 1000).rounded()), into: &out)
        } catch {
            return false
        }
        for action in out {
            switch action {
            case .offer(let call, let agent, _, let device):
                if call == session.consultACDCall { inbox.append(.consultOffer(agent: agent, device: device)) }
                else if call == session.acdCall { inbox.append(.offer(agent: agent, device: device)) }
            case .cancelOffer(let call, let agent):
                if call == session.consultACDCall { inbox.append(.consultWithdraw(agent: agent)) }
                else if call == session.acdCall { inbox.append(.withdraw(agent: agent)) }
            case .announce(let call, let position, let wait) where call == session.acdCall:
                inbox.append(.announce(position: position, estimatedWaitSeconds: wait))
            case .leave(let call, _, let reason, let then):
                if call == session.consultACDCall { inbox.append(.consultLeftQueue(reason: reason)) }
                else if call == session.acdCall { inbox.append(.leaveQueue(reason: reason, then: then)) }
            case .endCall(let call) where call == session.acdCall: inbox.append(.acdEnds)
            case .log(let entry):
                queueLog.append(entry.event)
                queueLines.append(entry)
            default: break
            }
        }
        return true
    }

    /// Moves the clock, firing timers in time order and ticking the ACD once a second as the
    /// daemon does (a tick first when both fall on the same instant). The watchdog's timer is
    /// answered with a sample: every answered leg has sent 50 more packets, unless it is `silent`.
    mutating func advance(_ delta: Double) {
        let target = seconds + delta
        while true {
            let nextTimer = timers.min { $0.value < $1.value }
            let nextTick = lastTick + 1
            let due = min(nextTimer?.value ?? .infinity, nextTick)
            guard due <= target + 1e-9 else { break }
            seconds = max(seconds, due)
            if nextTick <= due {
                lastTick = nextTick
                acd(.tick)
                drain()
            } else if let (timer, _) = nextTimer {
                timers[timer] = nil
                if timer == .mediaCheck {
                    var sample: [LegID: Int] = [:]
                    for leg in session.legs where leg.state == .answered {
                        if !silent.contains(leg.id) { packets[leg.id, default: 0] += 50 }
                        sample[leg.id] = packets[leg.id] ?? 0
                    }
                    send(.mediaSample(sample))
                } else {
                    send(.timer(timer))
                }
            }
        }
        seconds = target
    }

    /// Runs events the ACD produced outside `send` (ticks).
    private mutating func drain() {
        guard !inbox.isEmpty else { return }
        let first = inbox.removeFirst()
        send(first)
    }

    /// The current playlist finishes on its own.
    mutating func finishPlayback() {
        guard let p = playing else { return }
        playing = nil
        send(.playbackEnded(serial: p.serial))
    }

    // MARK: The usual steps

    mutating func loginBoth() {
        acd(.agentLogin(agent: "1001", device: "sip:1001"))
        seconds += 0.5
        acd(.agentLogin(agent: "1002", device: "sip:1002"))
        seconds += 0.5
    }

    /// The call is answered and ACKed, the CRM lookup answers, the IVR starts.
    mutating func answer(lookup: Bool = true) {
        send(.answered)
        send(.acked)
        if lookup { send(.lookupDone(nil)) }
        send(.startIVR(node: "welcome"))
    }

    /// The caller chooses sales over the welcome (type-ahead); returns the leg that rings.
    @discardableResult
    mutating func reachSales() -> LegID? {
        answer()
        send(.key("1"))
        return ringingLeg()
    }

    /// An agent's own call (click-to-dial) replaces the fixture's caller: the ACD takes the agent
    /// off offers first, as the shell asks it, then the agent's phone is rung. False if refused.
    @discardableResult
    mutating func placeCall(agent: String = "1001", number: String = "5551234") -> Bool {
        guard acd(.agentOutbound(agent: agent, call: Self.unique)) else { return false }
        session = CallSession(uniqueID: Self.unique, agent: agent, dials: number, rules: session.rules)
        let out = session.startOutbound(at: now)
        actions += out
        for action in out { perform(action) }
        return true
    }

    /// A predictive campaign's call replaces the fixture's caller: the customer is dialled first.
    mutating func dialCustomer(number: String = "5551234", group: String = "sales", abandonPrompt: String = "campaign-abandon") {
        session = CallSession(uniqueID: Self.unique, customer: number, campaignGroup: group, abandonPrompt: abandonPrompt, rules: session.rules)
        let out = session.startCustomerCall(at: now)
        actions += out
        for action in out { perform(action) }
    }

    /// The newest leg asked for that has not ended.
    func ringingLeg() -> LegID? {
        session.legs.last { $0.id != .caller && ($0.state == .dialling || $0.state == .ringing) }?.id
    }

    /// The phone of `leg` rings, then answers.
    mutating func pickUp(_ leg: LegID) {
        send(.legRinging(leg))
        send(.legAnswered(leg, usable: true))
    }
}
