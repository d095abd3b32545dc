import Foundation
import Testing

@testable import IVR

/// Runs an interpreter the way a call session does, on a fake clock: each prompt lasts two
/// seconds, timers fire when the clock passes them, and everything the caller would hear or meet
/// is recorded.
struct IVRHarness {
    var ivr: IVRInterpreter
    var now: Double
    var playing: (id: Int, endsAt: Double)?
    var timer: (id: Int, at: Double)?
    /// Each playlist started, in order.
    var heard: [[String]] = []
    /// Route, voicemail, score and hang-up actions, in order.
    var outcomes: [IVRInterpreter.Action] = []
    var stops = 0
    static let promptSeconds = 2.0

    init(_ flow: IVRFlow, language: String = "en", now: Double = 1_795_000_000) {
        ivr = IVRInterpreter(flow: flow, language: language)
        self.now = now
    }

    mutating func apply(_ actions: [IVRInterpreter.Action]) {
        for a in actions {
            switch a {
            case .play(let id, let prompts, _, _):
                heard.append(prompts)
                playing = (id, now + Double(prompts.count) * Self.promptSeconds)
                timer = nil
            case .stopPlayback:
                stops += 1
                playing = nil
            case .startTimer(let id, let seconds):
                timer = (id, now + seconds)
            default:
                outcomes.append(a)
                playing = nil
                timer = nil
            }
        }
    }

    mutating func start(_ node: String) { apply(ivr.start(at: node, now: now)) }

    mutating func press(_ key: Character) { apply(ivr.handle(.digit(key), now: now)) }

    /// Moves the clock, delivering prompt ends and timeouts in time order.
    mutating func advance(_ seconds: Double) {
        let target = now + seconds
        while true {
            let p = playing.map { $0.endsAt } ?? .infinity
            let t = timer.map { $0.at } ?? .infinity
            let next = min(p, t)
            guard next <= target + 1e-9 else { break }
            now = next
            if p <= t, let play = playing {
                playing = nil
                apply(ivr.handle(.promptFinished(id: play.id), now: now))
            } else if let tm = timer {
                timer = nil
                apply(ivr.handle(.timeout(id: tm.id), now: now))
            }
        }
        now = target
    }
}

/// The shape of the default configuration's flow.
func sampleFlow(open: Bool = true) -> IVRFlow {
    var menu = IVRFlow.Menu(prompts: ["main-menu"], choices: ["1": "sales", "2": "support", "0": "voicemail"], failure: "goodbye")
    menu.timeoutSeconds = 5
    menu.retries = 2
    return IVRFlow(
        nodes: [
            "welcome": .play(prompts: ["welcome"], bargeIn: true, next: "hours"),
            "hours": .hours(schedule: "main", open: "menu", closed: "closed"),
            "menu": .menu(menu),
            "sales": .route(.init(group: "sales")),
            "support": .route(.init(group: "support", priority: 1)),
            "voicemail": .voicemail(box: nil, prompts: ["voicemail"]),
            "closed": .play(prompts: ["closed"], bargeIn: false, next: "voicemail"),
            "goodbye": .hangUp(prompts: ["goodbye"]),
        ],
        entries: ["100": "welcome"],
        schedules: ["main": open ? .always(name: "main") : BusinessHours(name: "main", timeZone: TimeZone(identifier: "UTC")!, ranges: [])])
}

@Suite struct IVRInterpreterTests {
    @Test func welcomeThenMenuThenChoiceRoutes() {
        var h = IVRHarness(sampleFlow())
        h.start("welcome")
        #expect(h.heard == [["welcome"]])
        h.advance(2)
        #expect(h.heard == [["welcome"], ["main-menu"]])
        h.advance(2)  // menu prompt done; the 5 s wait begins
        h.advance(1)
        h.press("1")
        #expect(h.outcomes == [.route(.init(group: "sales"))])
        #expect(h.ivr.path == ["welcome", "hours", "menu", "menu=1", "sales"])
        #expect(h.ivr.isFinished)
    }

    @Test func keyInterruptsTheMenuPrompt() {
        var h = IVRHarness(sampleFlow())
        h.start("welcome")
        h.advance(2.5)  // half a second into the menu
        h.press("2")
        #expect(h.stops == 1)
        #expect(h.outcomes == [.route(.init(group: "support", priority: 1))])
    }

    /// Type-ahead: a key over the welcome skips it and answers the menu that follows, which is
    /// not played. This is what issue 20 reported as an RFC 4733 sender that was not heard.
    @Test func keyOverTheWelcomeSkipsItAndAnswersTheMenu() {
        var h = IVRHarness(sampleFlow())
        h.start("welcome")
        h.advance(0.5)
        h.press("1")
        #expect(h.heard == [["welcome"]])
        #expect(h.stops == 1)
        #expect(h.outcomes == [.route(.init(group: "sales"))])
        #expect(h.ivr.path == ["welcome", "hours", "menu", "menu=1", "sales"])
    }

    /// A key the menu does not offer, typed ahead, is an invalid choice like any other: the caller
    /// hears the menu again and the next key chooses.
    @Test func anInvalidKeyTypedAheadCountsAsAFailedTry() {
        var h = IVRHarness(sampleFlow())
        h.start("welcome")
        h.press("7")
        #expect(h.heard == [["welcome"], ["invalid", "main-menu"]])
        #expect(h.outcomes.isEmpty)
        h.press("2")
        #expect(h.outcomes == [.route(.init(group: "support", priority: 1))])
    }

    /// Several keys typed over a prompt fill a collect node that follows; none is kept once the
    /// caller has left the IVR, and a prompt that may not be interrupted hears none.
    @Test func keysTypedAheadFillACollectAndStopAtTheExit() {
        var c = IVRFlow.Collect(prompts: ["please-hold"], variable: "account", maxDigits: 3, next: "route", failure: "bye")
        c.timeoutSeconds = 3
        let flow = IVRFlow(
            nodes: [
                "intro": .play(prompts: ["welcome"], bargeIn: true, next: "collect"), "collect": .collect(c),
                "route": .route(.init(group: "sales")), "bye": .hangUp(prompts: []),
            ],
            entries: ["100": "intro"])
        var h = IVRHarness(flow)
        h.start("intro")
        h.press("4")
        #expect(h.heard == [["welcome"]])
        #expect(h.ivr.currentNode == "collect")
        h.press("5")
        h.press("6")
        #expect(h.ivr.variables["account"] == "456")
        #expect(h.outcomes == [.route(.init(group: "sales"))])

        var closed = IVRHarness(sampleFlow(open: false))
        closed.start("welcome")
        closed.press("1")  // skips the welcome; the closed notice may not be skipped
        #expect(closed.heard == [["welcome"], ["closed"]])
        #expect(closed.outcomes.isEmpty)
    }

    @Test func keyDoesNotInterruptAPromptWithoutBargeIn() {
        var h = IVRHarness(sampleFlow(open: false))
        h.start("welcome")
        h.advance(2)
        #expect(h.heard.last == ["closed"])
        h.press("5")
        #expect(h.stops == 0)
        h.advance(2)
        #expect(h.heard.last == ["voicemail"])
        h.advance(2)
        #expect(h.outcomes == [.voicemail(box: nil)])
    }

    /// Timeout edge: nothing at 4.99 s, the no-input prompt at 5 s.
    @Test func noInputTimesOutExactlyAfterTheTimeout() {
        var h = IVRHarness(sampleFlow())
        h.start("menu")
        h.advance(2)  // prompt done
        h.advance(4.99)
        #expect(h.heard == [["main-menu"]])
        h.advance(0.01)
        #expect(h.heard == [["main-menu"], ["no-input", "main-menu"]])
    }

    @Test func retriesThenFailureNode() {
        var h = IVRHarness(sampleFlow())
        h.start("menu")
        h.advance(2)
        h.press("9")
        #expect(h.heard.last == ["invalid", "main-menu"])
        h.advance(4)
        h.advance(5)  // silence: the second failure
        #expect(h.heard.last == ["no-input", "main-menu"])
        h.press("7")  // during the prompt: barge-in, third failure > 2 retries
        #expect(h.heard.last == ["goodbye"])
        #expect(h.outcomes.isEmpty)
        h.press("1")  // goodbye cannot be interrupted
        h.advance(2)
        #expect(h.outcomes == [.hangUp(reason: "flow")])
        #expect(h.ivr.path.suffix(2) == ["menu=failed", "goodbye"])
    }

    @Test func aGoodKeyAfterAFailureStillChooses() {
        var h = IVRHarness(sampleFlow())
        h.start("menu")
        h.advance(2)
        h.press("9")
        h.advance(1)
        h.press("0")
        #expect(h.heard.last == ["voicemail"])
        h.advance(2)
        #expect(h.outcomes == [.voicemail(box: nil)])
    }

    @Test func closedHoursGoToTheClosedBranch() {
        var h = IVRHarness(sampleFlow(open: false))
        h.start("welcome")
        h.advance(2)
        #expect(h.heard == [["welcome"], ["closed"]])
        #expect(h.ivr.path == ["welcome", "hours", "closed"])
    }

    @Test func staleEventsAreIgnored() {
        var h = IVRHarness(sampleFlow())
        h.start("menu")
        let firstPlay = h.playing!.id
        h.advance(2)
        let firstTimer = h.timer!.id
        h.press("9")  // new playlist
        #expect(h.ivr.handle(.promptFinished(id: firstPlay), now: h.now).isEmpty)
        #expect(h.ivr.handle(.timeout(id: firstTimer), now: h.now).isEmpty)
        #expect(h.ivr.currentNode == "menu")
    }

    func collectFlow(min: Int = 1, max: Int = 4) -> IVRFlow {
        var c = IVRFlow.Collect(prompts: ["please-hold"], variable: "account", maxDigits: max, next: "route", failure: "bye")
        c.minDigits = min
        c.timeoutSeconds = 3
        c.retries = 1
        return IVRFlow(
            nodes: ["collect": .collect(c), "route": .route(.init(group: "sales")), "bye": .hangUp(prompts: [])],
            entries: ["100": "collect"])
    }

    @Test func collectStopsAtMaxDigits() {
        var h = IVRHarness(collectFlow())
        h.start("collect")
        h.press("1")  // barges in and counts
        h.press("2")
        h.press("3")
        #expect(h.outcomes.isEmpty)
        h.press("4")
        #expect(h.ivr.variables["account"] == "1234")
        #expect(h.outcomes == [.route(.init(group: "sales"))])
        #expect(!h.ivr.path.contains { $0.contains("1234") })
    }

    @Test func collectEndsOnTerminatorOrInterDigitTimeout() {
        var h = IVRHarness(collectFlow())
        h.start("collect")
        h.advance(2)
        h.press("4")
        h.press("2")
        h.press("#")
        #expect(h.ivr.variables["account"] == "42")

        var t = IVRHarness(collectFlow())
        t.start("collect")
        t.advance(2)
        t.press("7")
        t.advance(2.99)
        #expect(t.outcomes.isEmpty)
        t.advance(0.01)
        #expect(t.ivr.variables["account"] == "7")
    }

    @Test func collectBelowMinimumRetriesThenFails() {
        var h = IVRHarness(collectFlow(min: 3))
        h.start("collect")
        h.advance(2)
        h.press("1")
        h.press("#")
        #expect(h.heard.last == ["invalid", "please-hold"])
        h.advance(4)
        h.advance(2.99)
        #expect(h.outcomes.isEmpty)
        h.advance(0.01)  // silence: second failure > 1 retry
        #expect(h.outcomes == [.hangUp(reason: "flow")])
        #expect(h.ivr.variables["account"] == nil)
    }

    @Test func surveyStoresTheScore() {
        let flow = IVRFlow(nodes: ["survey": .survey(.init())], entries: ["100": "survey"])
        var h = IVRHarness(flow)
        h.start("survey")
        #expect(h.heard == [["survey-intro", "survey-question"]])
        h.advance(4)
        h.press("8")
        #expect(h.heard.last == ["invalid", "survey-question"])
        h.press("4")
        #expect(h.outcomes == [.surveyScore(4)])
        #expect(h.heard.last == ["survey-thanks"])
        h.advance(2)
        #expect(h.outcomes == [.surveyScore(4), .hangUp(reason: "flow")])
        #expect(h.ivr.surveyScore == 4)
    }

    @Test func setLanguageChangesThePromptsLanguage() {
        let flow = IVRFlow(
            nodes: ["de": .setLanguage("de", next: "hello"), "hello": .play(prompts: ["welcome"], bargeIn: false, next: "bye"), "bye": .hangUp(prompts: [])],
            entries: ["100": "de"])
        var ivr = IVRInterpreter(flow: flow, language: "en")
        let actions = ivr.start(at: "de", now: 0)
        #expect(actions == [.play(id: 1, prompts: ["welcome"], language: "de", bargeIn: false)])
    }

    @Test func anUnvalidatedLoopIsCutOff() {
        let flow = IVRFlow(nodes: ["a": .goto("b"), "b": .goto("a")], entries: ["100": "a"])
        var ivr = IVRInterpreter(flow: flow, language: "en")
        let actions = ivr.start(at: "a", now: 0)
        #expect(actions.count == 1)
        guard case .hangUp(let why)? = actions.first else { Issue.record("expected a hang-up"); return }
        #expect(why.contains("loops"))
        #expect(ivr.isFinished)
    }
}
