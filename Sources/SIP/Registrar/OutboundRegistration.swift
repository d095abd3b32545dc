/// Our registration with a carrier (issue 20): a trunk that must REGISTER to receive calls, with a
/// list of the carrier's registrars to fail over between. Pure: the shell sends what it says,
/// times what it asks to be timed, and tells it how each attempt ended.
///
/// The rules, as carriers expect them of a PBX:
/// - a challenge (401/407) is answered once per attempt; a second one means the credentials are
///   wrong, and counts as that registrar refusing us;
/// - 423 Interval Too Brief is retried at once with the registrar's Min-Expires;
/// - a refusal, no answer within `attemptSeconds`, or a send that failed moves on to the next
///   registrar at once; when every registrar has failed in a row the trunk is `failed` and the
///   round starts again from the first after 30 s, doubling to 5 minutes;
/// - a registration is refreshed before it lapses (a tenth of the granted time early, at least
///   5 s), on the registrar that granted it; a failed refresh fails over like a first attempt.
public struct OutboundRegistration: Sendable, Equatable {
    public enum State: String, Sendable {
        case unregistered, registering, registered, failed
    }

    public enum Outcome: Sendable, Equatable {
        case registered(grantedSeconds: Int)
        case challenged
        case intervalTooBrief(minExpires: Int)
        case refused(status: Int, reason: String)
        case noAnswer(String)
    }

    public enum Action: Sendable, Equatable {
        /// A REGISTER to registrar `registrar` asking for `expires` seconds; `authorized` answers
        /// the challenge the last attempt got.
        case send(registrar: Int, expires: Int, authorized: Bool)
        /// Call `timerFired` after this long (replaces any earlier wait).
        case wait(seconds: Double)
        /// The trunk's registration changed state (log and alarm once).
        case changed(State, reason: String)
    }

    public let registrars: Int
    public private(set) var expires: Int
    public private(set) var state: State = .unregistered
    /// The registrar in use, or being tried.
    public private(set) var current = 0
    public private(set) var failuresInRow = 0
    public private(set) var lastStatus: Int?
    public private(set) var lastFailure: String?
    /// When the registration we hold lapses (the shell's wall clock), nil without one.
    public private(set) var registeredUntil: Double?
    private var retryStep = 0
    private var challengeAnswered = false
    /// The failure of this episode was reported (once, until the next registration).
    private var failureReported = false
    /// Seconds an attempt may go unanswered before the next registrar is tried (Timer F's 32 s
    /// would keep a trunk without calls for half a minute per dead registrar).
    public static let attemptSeconds = 5.0

    public init(registrars: Int, expires: Int) {
        precondition(registrars > 0)
        self.registrars = registrars
        self.expires = expires
    }

    public mutating func start(now: Double) -> [Action] {
        state = .registering
        return [.send(registrar: current, expires: expires, authorized: false), .wait(seconds: Self.attemptSeconds)]
    }

    /// The wait asked for has passed: an unanswered attempt, a refresh due, or a retry due.
    public mutating func timerFired(now: Double) -> [Action] {
        switch state {
        case .registering:
            return handle(.noAnswer("no answer within \(Int(Self.attemptSeconds)) s"), now: now)
        case .registered, .failed:
            if state == .failed { state = .registering }
            challengeAnswered = false
            return [.send(registrar: current, expires: expires, authorized: false), .wait(seconds: Self.attemptSeconds)]
        case .unregistered:
            return []
        }
    }

    public mutating func handle(_ outcome: Outcome, now: Double) -> [Action] {
        switch outcome {
        case .registered(let granted):
            let was = state
            lastStatus = 200
            lastFailure = nil
            failuresInRow = 0
            retryStep = 0
            challengeAnswered = false
            failureReported = false
            let seconds = max(1, granted)
            registeredUntil = now + Double(seconds)
            state = .registered
            let early = max(5.0, Double(seconds) / 10)
            var out: [Action] = [.wait(seconds: max(1, Double(seconds) - early))]
            if was != .registered { out.insert(.changed(.registered, reason: "registered for \(seconds) s at registrar \(current + 1) of \(registrars)"), at: 0) }
            return out
        case .challenged:
            guard !challengeAnswered else { return fail("the registrar refused our credentials", status: 401) }
            challengeAnswered = true
            return [.send(registrar: current, expires: expires, authorized: true), .wait(seconds: Self.attemptSeconds)]
        case .intervalTooBrief(let minimum):
            guard minimum > expires else { return fail("423 without a longer Min-Expires", status: 423) }
            expires = minimum
            challengeAnswered = false
            return [.send(registrar: current, expires: expires, authorized: false), .wait(seconds: Self.attemptSeconds)]
        case .refused(let status, let reason):
            return fail("\(status) \(reason)", status: status)
        case .noAnswer(let why):
            return fail(why, status: nil)
        }
    }

    private mutating func fail(_ why: String, status: Int?) -> [Action] {
        lastStatus = status
        lastFailure = why
        challengeAnswered = false
        failuresInRow += 1
        if failuresInRow < registrars {
            current = (current + 1) % registrars
            state = .registering
            return [.send(registrar: current, expires: expires, authorized: false), .wait(seconds: Self.attemptSeconds)]
        }
        // Every registrar failed in a row: wait, then start again from the first.
        failuresInRow = 0
        current = 0
        registeredUntil = nil
        state = .failed
        let backoff = min(300, 30 * Double(1 << min(retryStep, 4)))
        retryStep += 1
        var out: [Action] = [.wait(seconds: backoff)]
        if !failureReported {
            failureReported = true
            out.insert(.changed(.failed, reason: "every registrar failed; the last: \(why)"), at: 0)
        }
        return out
    }

    /// The daemon stops, or the trunk no longer registers: nothing more is sent but the
    /// un-REGISTER the shell sends itself.
    public mutating func stop() {
        state = .unregistered
        registeredUntil = nil
    }
}
