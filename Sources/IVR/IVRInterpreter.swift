/// What happens to one caller in the IVR: a pure state machine over an `IVRFlow`.
///
/// Events in (the prompt finished, a key, a timer fired, the wall-clock time for schedules);
/// actions out (play, stop playing, arm a timer, route, record a voicemail, hang up). It never
/// touches a socket, timer or clock: the call session performs the actions and feeds back what
/// happened, and tests drive it with a fake clock. Playlists and timers carry ids, so a prompt
/// that ends or a timer that fires after the caller moved on is recognised and ignored.
public struct IVRInterpreter: Sendable {
    public enum Event: Sendable, Equatable {
        case promptFinished(id: Int)
        case digit(Character)
        case timeout(id: Int)
    }

    public enum Action: Sendable, Equatable {
        /// Play these prompts (in `language`) as one playlist; a key stops it when `bargeIn`.
        case play(id: Int, prompts: [String], language: String, bargeIn: Bool)
        case stopPlayback
        /// Send `.timeout(id)` after `seconds` (an earlier timer is then void).
        case startTimer(id: Int, seconds: Double)
        case route(IVRFlow.Route)
        case voicemail(box: String?)
        case surveyScore(Int)
        case hangUp(reason: String)
    }

    /// Where the caller is.
    enum State: Sendable, Equatable {
        case idle
        /// A playlist runs in `node`; when it ends, `then`.
        case playing(node: String, id: Int, bargeIn: Bool, then: After)
        /// Waiting for a key in a menu, collect or survey node.
        case waiting(node: String, timer: Int)
        /// Left the IVR (routed, voicemail, hung up).
        case done
    }

    enum After: Sendable, Equatable {
        case next(String)
        case waitForKey
        case voicemail(String?)
        case hangUp
    }

    public let flow: IVRFlow
    public private(set) var language: String
    public private(set) var variables: [String: String] = [:]
    /// Nodes visited and menu keys chosen ("main=1"), for the call's record.
    public private(set) var path: [String] = []
    public private(set) var surveyScore: Int?
    var state: State = .idle
    private var failures = 0
    private var collected = ""
    private var lastID = 0
    /// Keys pressed over a plain prompt, kept for the next node that asks for one (type-ahead): a
    /// caller who knows the menu presses 1 during the welcome and is routed at once, rather than
    /// losing the key and waiting out the menu (issue 20, item 3: what looked like an RFC 4733
    /// receiver that heard nothing was the welcome swallowing the key).
    private var typeAhead: [Character] = []
    static let typeAheadLimit = 16

    /// More steps than this without waiting means the flow loops; `validate` refuses such flows,
    /// so this only guards a flow that skipped validation.
    static let stepLimit = 64

    public init(flow: IVRFlow, language: String) {
        self.flow = flow
        self.language = language
    }

    public var isFinished: Bool { state == .done }

    /// The node the caller is in, if still in the IVR.
    public var currentNode: String? {
        switch state {
        case .playing(let n, _, _, _), .waiting(let n, _): n
        case .idle, .done: nil
        }
    }

    /// Enters `node` (a number's entry, or a queue's `ivr:NODE` exit); `now` is Unix time for
    /// schedules.
    public mutating func start(at node: String, now: Double) -> [Action] {
        var out: [Action] = []
        enter(node, now: now, into: &out)
        return out
    }

    public mutating func handle(_ event: Event, now: Double) -> [Action] {
        var out: [Action] = []
        switch (state, event) {
        case (.playing(let node, let id, _, let then), .promptFinished(let finished)) where id == finished:
            afterPlaying(node, then, now: now, into: &out)
        case (.playing(let node, _, true, let then), .digit(let key)):
            out.append(.stopPlayback)
            switch then {
            case .waitForKey:
                input(key, in: node, now: now, into: &out)
                feedTypeAhead(now: now, into: &out)
            case .next:
                // A key skips a plain prompt and is kept for the next node that asks for one.
                if typeAhead.count < Self.typeAheadLimit { typeAhead.append(key) }
                afterPlaying(node, then, now: now, into: &out)
            case .voicemail, .hangUp:
                afterPlaying(node, then, now: now, into: &out)
            }
        case (.waiting(let node, _), .digit(let key)):
            input(key, in: node, now: now, into: &out)
        case (.waiting(let node, let timer), .timeout(let fired)) where timer == fired:
            timedOut(in: node, now: now, into: &out)
        default:
            // A stale prompt end or timer, or a key while a prompt plays that may not be interrupted.
            break
        }
        return out
    }

    private mutating func nextID() -> Int {
        lastID += 1
        return lastID
    }

    private mutating func play(_ prompts: [String], in node: String, bargeIn: Bool, then: After, now: Double, into out: inout [Action]) {
        guard !prompts.isEmpty else { return afterPlaying(node, then, now: now, into: &out) }
        if bargeIn, !typeAhead.isEmpty {
            switch then {
            case .waitForKey:
                // The caller answered before the question: it is not asked.
                input(typeAhead.removeFirst(), in: node, now: now, into: &out)
                return feedTypeAhead(now: now, into: &out)
            case .next:
                // A prompt the caller could skip is skipped by keys already pressed.
                return afterPlaying(node, then, now: now, into: &out)
            case .voicemail, .hangUp:
                typeAhead.removeAll()
            }
        }
        let id = nextID()
        state = .playing(node: node, id: id, bargeIn: bargeIn, then: then)
        out.append(.play(id: id, prompts: prompts, language: language, bargeIn: bargeIn))
    }

    /// Gives keys still typed ahead to a node that waits for them (a collect node takes several);
    /// once the caller leaves the IVR, or a node plays what may not be skipped, the rest are dropped.
    private mutating func feedTypeAhead(now: Double, into out: inout [Action]) {
        while !typeAhead.isEmpty, case .waiting(let node, _) = state {
            input(typeAhead.removeFirst(), in: node, now: now, into: &out)
        }
        if case .waiting = state { return }
        if case .playing(_, _, true, _) = state { return }
        typeAhead.removeAll()
    }

    private mutating func afterPlaying(_ node: String, _ then: After, now: Double, into out: inout [Action]) {
        switch then {
        case .next(let next): enter(next, now: now, into: &out)
        case .waitForKey: wait(in: node, into: &out)
        case .voicemail(let box):
            state = .done
            out.append(.voicemail(box: box))
        case .hangUp:
            state = .done
            out.append(.hangUp(reason: "flow"))
        }
    }

    private mutating func wait(in node: String, into out: inout [Action]) {
        let seconds: Double
        switch flow.nodes[node] {
        case .menu(let m)?: seconds = m.timeoutSeconds
        case .collect(let c)?: seconds = c.timeoutSeconds
        case .survey(let s)?: seconds = s.timeoutSeconds
        default: seconds = 5
        }
        let id = nextID()
        state = .waiting(node: node, timer: id)
        out.append(.startTimer(id: id, seconds: seconds))
    }

    private mutating func enter(_ start: String, now: Double, into out: inout [Action]) {
        var name = start
        for _ in 0..<Self.stepLimit {
            guard let node = flow.nodes[name] else {
                state = .done
                out.append(.hangUp(reason: "no IVR node '\(name)'"))
                return
            }
            path.append(name)
            failures = 0
            switch node {
            case .play(let prompts, let bargeIn, let next):
                return play(prompts, in: name, bargeIn: bargeIn, then: .next(next), now: now, into: &out)
            case .menu(let m):
                return play(m.prompts, in: name, bargeIn: true, then: .waitForKey, now: now, into: &out)
            case .collect(let c):
                collected = ""
                return play(c.prompts, in: name, bargeIn: true, then: .waitForKey, now: now, into: &out)
            case .survey(let s):
                return play(s.prompts, in: name, bargeIn: true, then: .waitForKey, now: now, into: &out)
            case .voicemail(let box, let prompts):
                return play(prompts, in: name, bargeIn: true, then: .voicemail(box), now: now, into: &out)
            case .hangUp(let prompts):
                return play(prompts, in: name, bargeIn: false, then: .hangUp, now: now, into: &out)
            case .route(let r):
                state = .done
                out.append(.route(r))
                return
            case .hours(let schedule, let open, let closed):
                let isOpen = flow.schedules[schedule]?.isOpen(at: now) ?? false
                name = isOpen ? open : closed
            case .setLanguage(let l, let next):
                language = l
                name = next
            case .goto(let next):
                name = next
            }
        }
        state = .done
        out.append(.hangUp(reason: "IVR flow loops at '\(name)' without waiting"))
    }

    private mutating func input(_ key: Character, in name: String, now: Double, into out: inout [Action]) {
        switch flow.nodes[name] {
        case .menu(let m)?:
            if let next = m.choices[key] {
                path.append("\(name)=\(key)")
                enter(next, now: now, into: &out)
            } else {
                retry(name, prompts: m.invalidPrompts + m.prompts, retries: m.retries, failure: m.failure, now: now, into: &out)
            }
        case .collect(let c)?:
            if key == c.terminator {
                if collected.count >= c.minDigits { return finishCollect(c, now: now, into: &out) }
                return retryCollect(c, name, invalid: true, now: now, into: &out)
            }
            collected.append(key)
            if collected.count >= c.maxDigits { return finishCollect(c, now: now, into: &out) }
            wait(in: name, into: &out)
        case .survey(let s)?:
            if let score = key.wholeNumberValue, (1...5).contains(score) {
                surveyScore = score
                variables["survey"] = String(score)
                path.append("\(name)=\(key)")
                out.append(.surveyScore(score))
                play(s.thanks, in: name, bargeIn: false, then: s.next.map { .next($0) } ?? .hangUp, now: now, into: &out)
            } else {
                retrySurvey(s, name, now: now, into: &out)
            }
        default:
            break
        }
    }

    private mutating func timedOut(in name: String, now: Double, into out: inout [Action]) {
        switch flow.nodes[name] {
        case .menu(let m)?:
            retry(name, prompts: m.noInputPrompts + m.prompts, retries: m.retries, failure: m.failure, now: now, into: &out)
        case .collect(let c)?:
            if collected.count >= c.minDigits { return finishCollect(c, now: now, into: &out) }
            retryCollect(c, name, invalid: !collected.isEmpty, now: now, into: &out)
        case .survey(let s)?:
            retrySurvey(s, name, now: now, into: &out)
        default:
            break
        }
    }

    private mutating func retry(_ name: String, prompts: [String], retries: Int, failure: String, now: Double, into out: inout [Action]) {
        failures += 1
        guard failures <= retries else {
            path.append("\(name)=failed")
            return enter(failure, now: now, into: &out)
        }
        play(prompts, in: name, bargeIn: true, then: .waitForKey, now: now, into: &out)
    }

    private mutating func retryCollect(_ c: IVRFlow.Collect, _ name: String, invalid: Bool, now: Double, into out: inout [Action]) {
        collected = ""
        retry(name, prompts: (invalid ? c.invalidPrompts : c.noInputPrompts) + c.prompts, retries: c.retries, failure: c.failure, now: now, into: &out)
    }

    private mutating func retrySurvey(_ s: IVRFlow.Survey, _ name: String, now: Double, into out: inout [Action]) {
        failures += 1
        guard failures <= s.retries else {
            path.append("\(name)=none")
            if let next = s.next { return enter(next, now: now, into: &out) }
            state = .done
            out.append(.hangUp(reason: "flow"))
            return
        }
        play(s.invalidPrompts + Array(s.prompts.suffix(1)), in: name, bargeIn: true, then: .waitForKey, now: now, into: &out)
    }

    private mutating func finishCollect(_ c: IVRFlow.Collect, now: Double, into out: inout [Action]) {
        // The value goes into a variable only, never into the path: it may be an account or card number.
        variables[c.variable] = collected
        collected = ""
        enter(c.next, now: now, into: &out)
    }
}
