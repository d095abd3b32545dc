import Foundation

/// What a pacer sees each time it is asked how many numbers to dial now (once a second).
public struct PacerState: Sendable, Equatable {
    /// Agents of the campaign waiting for a call.
    public var ready: Int
    /// Agents on a campaign call or in its wrap-up, with the seconds each has spent so far.
    public var busy: [Double]
    /// Numbers dialled and still ringing.
    public var ringing: Int
    /// How long each of them has rung, when known (a number that has rung long is less likely
    /// to be answered); empty: the pacer takes them as just dialled.
    public var ringingAges: [Double]
    /// Answered calls waiting for an agent (at most the 2 s the abandon rule allows).
    public var waiting: Int

    public init(ready: Int, busy: [Double] = [], ringing: Int = 0, ringingAges: [Double] = [], waiting: Int = 0) {
        self.ready = ready
        self.busy = busy
        self.ringing = ringing
        self.ringingAges = ringingAges
        self.waiting = waiting
    }
}

/// What happened to a call the pacer dialled, and what agents did: the pacer's measurements.
public enum PacerEvent: Sendable, Equatable {
    /// A number was answered by a person after ringing this long.
    case answered(ringSeconds: Double)
    /// A number was not answered (busy, no answer, failed), this long after it was dialled.
    case notAnswered(afterSeconds: Double)
    /// An answered call was given an agent within the 2 s.
    case connected
    /// An answered call no agent took within 2 s: abandoned, as 16 CFR 310.4(b)(4) counts it.
    case abandoned
    /// An agent finished a campaign call and its wrap-up, this long after it was connected.
    case handled(seconds: Double)
}

/// Decides how many numbers to dial now. Pure: it is told the time and what happened.
public protocol Pacer {
    var name: String { get }
    mutating func dials(_ state: PacerState, now: Double) -> Int
    mutating func observe(_ event: PacerEvent, now: Double)
}

/// One call per ready agent, dialled once they are ready and reserved for them: never an
/// abandoned call, and agents wait through every ring (the baseline predictive dialling beats).
public struct ProgressivePacer: Pacer {
    public let name = "progressive"
    public init() {}
    public mutating func dials(_ s: PacerState, now: Double) -> Int { max(0, s.ready - s.ringing - s.waiting) }
    public mutating func observe(_ event: PacerEvent, now: Double) {}
}

/// The adaptive dial level of VICIdial's ADAPT_ dial methods, as its PREDICTIVE.txt and
/// AST_VDadapt describe them, for comparison on the same traffic: lines kept dialling are
/// (agents on a call + agents ready) × level; every 15 s the level is multiplied by one plus
/// the last minute's average (ready agents − calls waiting) over the average agents, kept
/// within 1 and the maximum level (3.0); halved when over half the last minute's calls
/// dropped (more than 20 calls); and once today's drops over answers pass the limit (over 50
/// calls), set to 1.0 (ADAPT_HARD_LIMIT) or halved (ADAPT_AVERAGE). Intensity 0, difference
/// target 0, as the defaults.
public struct VicidialAdaptPacer: Pacer {
    public enum Method: String, Sendable { case hardLimit = "ADAPT_HARD_LIMIT", average = "ADAPT_AVERAGE" }
    public let method: Method
    public var name: String { "vicidial-\(method == .hardLimit ? "hard-limit" : "average")" }
    public private(set) var level: Double
    let maxLevel: Double
    let dropLimit: Double
    private var samples: [(t: Double, agents: Double, diff: Double)] = []
    private var lastAdapt = -Double.infinity
    private var calls: [(t: Double, answered: Bool, dropped: Bool)] = []
    private var callsTotal = 0, answersTotal = 0, dropsTotal = 0

    public init(method: Method, startLevel: Double = 1.0, maxLevel: Double = 3.0, dropLimit: Double = 3.0) {
        self.method = method
        level = startLevel
        self.maxLevel = maxLevel
        self.dropLimit = dropLimit
    }

    public mutating func dials(_ s: PacerState, now: Double) -> Int {
        let onCall = s.busy.count
        samples.append((now, Double(onCall + s.ready), Double(s.ready - s.waiting)))
        samples.removeAll { $0.t < now - 60 }
        if now - lastAdapt >= 15 { adapt(now) }
        let lines = Int((Double(onCall + s.ready) * level).rounded(.down))
        // Lines in use: calls ringing, answered and waiting, and agents' calls.
        return max(0, lines - s.ringing - s.waiting - onCall)
    }

    private mutating func adapt(_ now: Double) {
        lastAdapt = now
        guard !samples.isEmpty else { return }
        let agents = samples.map(\.agents).reduce(0, +) / Double(samples.count)
        let diff = samples.map(\.diff).reduce(0, +) / Double(samples.count)
        var next = level
        if agents > 0 && diff != 0 { next = level * (1 + diff / agents) }
        next = min(max(next, 1), maxLevel)
        let minute = calls.filter { $0.t >= now - 60 }
        let minuteDrops = minute.filter(\.dropped).count
        if minute.count > 20 && Double(minuteDrops) / Double(minute.count) > 0.5 { next /= 2 }
        if callsTotal > 50 && Double(dropsTotal) / Double(max(answersTotal, 1)) * 100 > dropLimit {
            next = method == .hardLimit ? 1.0 : next / 2
        }
        level = max(next, 1)
        calls.removeAll { $0.t < now - 60 }
    }

    public mutating func observe(_ event: PacerEvent, now: Double) {
        switch event {
        case .answered:
            callsTotal += 1
            answersTotal += 1
            calls.append((now, true, false))
        case .notAnswered:
            callsTotal += 1
            calls.append((now, false, false))
        case .abandoned:
            dropsTotal += 1
            calls.append((now, true, true))
        case .connected, .handled:
            break
        }
    }
}

/// The daemon's predictive pacer. It measures the answer rate (over the last 1,000 numbers
/// whose fate is known, so the quick answers do not outweigh the slow ring-outs), how long
/// answered and unanswered numbers ring, and the agents' handle time; then it dials the most
/// numbers for which the expected abandoned calls, over the expected answered ones, stay
/// within a risk budget. Each ringing number is answered with the probability its ring so far
/// leaves (one that has rung past most answers will not be), the agents free when answers come
/// are the ready ones plus each busy one with the chance its call ends within the ring time,
/// given how long it has gone already (from the measured handle times: a call just connected
/// rarely ends at once). The budget is the closed loop: it shrinks while the measured abandon rate
/// (the last 500 answered calls, and every call of the campaign) is over 80 % of the target,
/// and grows slowly while under, so the campaign's rate is held below the target (3 %).
public struct PredictivePacer: Pacer {
    public let name = "predictive"
    public let target: Double
    /// Dials at most this many lines per agent (a trunk's sanity limit).
    public let maxLinesPerAgent: Double
    public private(set) var budget: Double
    /// The loop's gain on the dials beyond one per free agent: 0 is progressive.
    public private(set) var gain = 0.0
    private var outcomes = Window<Bool>(size: 1000)
    private var answeredRings = Window<Double>(size: 500)
    private var unansweredRings = Window<Double>(size: 500)
    private var handleTimes = Window<Double>(size: 500)
    private var recent = Window<Bool>(size: 500)
    public private(set) var answered = 0, abandoned = 0

    struct Window<T> {
        let size: Int
        var items: [T] = []
        var next = 0
        mutating func add(_ x: T) {
            if items.count < size { items.append(x) } else { items[next] = x }
            next = (next + 1) % size
        }
    }

    public init(target: Double = 0.03, maxLinesPerAgent: Double = 3) {
        self.target = target
        self.maxLinesPerAgent = maxLinesPerAgent
        budget = target / 2
    }

    /// A restart goes on from the campaign's figures (its last 30 days): the loop's long-run
    /// measure includes them.
    public mutating func seed(answered: Int, abandoned: Int) {
        self.answered += answered
        self.abandoned += abandoned
    }

    /// Answered over known, with a prior of 0.3 worth 20 numbers.
    public var answerRateEstimate: Double {
        (Double(outcomes.items.filter { $0 }.count) + 6) / (Double(outcomes.items.count) + 20)
    }

    /// The chance a number that has rung `age` seconds is still to be answered.
    func answerChance(age: Double, p: Double) -> Double {
        guard age > 0.5 else { return p }
        func survival(_ w: [Double], prior: Double) -> Double {
            guard !w.isEmpty else { return prior }
            return Double(w.filter { $0 > age }.count) / Double(w.count)
        }
        // Before any measure: answers within 20 s, ring-outs after.
        let s = survival(answeredRings.items, prior: age < 20 ? 1 - age / 20 : 0)
        let u = survival(unansweredRings.items, prior: 1)
        let a = p * s, b = (1 - p) * u
        return a + b > 0 ? a / (a + b) : 0
    }

    public mutating func dials(_ s: PacerState, now: Double) -> Int {
        let agents = s.ready + s.busy.count
        guard agents > 0 else { return 0 }
        let p = min(max(answerRateEstimate, 0.02), 1)
        let ring = answeredRings.items.isEmpty ? 8 : answeredRings.items.reduce(0, +) / Double(answeredRings.items.count)
        // Each busy agent is free within the ring time and the 2 s an answer may wait.
        let handles = handleTimes.items.sorted()
        let horizon = ring + 2
        func survives(_ t: Double) -> Double {
            guard !handles.isEmpty else { return exp(-t / 120) }
            var lo = 0, hi = handles.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if handles[mid] <= t { lo = mid + 1 } else { hi = mid }
            }
            return Double(handles.count - lo) / Double(handles.count)
        }
        let freeChances = s.busy.map { e -> Double in
            let alive = survives(e)
            // Past every handle time measured: it ends any moment.
            return alive <= 0 ? 1 : min(1, max(0, (alive - survives(e + horizon)) / alive))
        }
        var chances = (0..<s.ringing).map { i in i < s.ringingAges.count ? answerChance(age: s.ringingAges[i], p: p) : p }
        let cap = max(0, Int((Double(agents) * maxLinesPerAgent).rounded(.down)) - s.ringing - s.waiting)
        let frees = Self.poissonBinomial(freeChances)
        func ratio(_ n: Int) -> Double {
            Self.abandonRatio(answers: Self.poissonBinomial(chances + Array(repeating: p, count: n)), expected: chances.reduce(0, +) + Double(n) * p, waiting: s.waiting, ready: s.ready, frees: frees)
        }
        // Progressive at least: a ready agent with no number ringing for them gets one.
        let floor = max(0, min(cap, s.ready - s.ringing - s.waiting))
        guard cap > floor, ratio(floor + 1) <= budget else { return floor }
        var lo = floor + 1, hi = cap
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if ratio(mid) <= budget { lo = mid } else { hi = mid - 1 }
        }
        chances.removeAll()
        // The model's extra dials, scaled by what the abandons measured so far allow.
        return floor + Int((Double(lo - floor) * gain).rounded(.down))
    }

    /// Expected abandoned over expected answered: abandoned = max(0, answers + waiting −
    /// (ready + freed)).
    static func abandonRatio(answers: [Double], expected: Double, waiting: Int, ready: Int, frees: [Double]) -> Double {
        var expectedAbandon = 0.0
        for (a, pa) in answers.enumerated() where pa > 1e-12 {
            let need = a + waiting - ready
            guard need > 0 else { continue }
            for (f, pf) in frees.enumerated() where f < need { expectedAbandon += pa * pf * Double(need - f) }
        }
        let answered = expected + Double(waiting)
        return answered > 0 ? expectedAbandon / answered : 0
    }

    static func binomial(_ n: Int, _ p: Double) -> [Double] { poissonBinomial(Array(repeating: p, count: n)) }

    /// The distribution of how many of independent events with these chances happen.
    static func poissonBinomial(_ chances: [Double]) -> [Double] {
        var out = [Double](repeating: 0, count: chances.count + 1)
        out[0] = 1
        for (k, p) in chances.enumerated() {
            var j = k + 1
            while j > 0 {
                out[j] = out[j] * (1 - p) + out[j - 1] * p
                j -= 1
            }
            out[0] *= 1 - p
        }
        return out
    }

    public mutating func observe(_ event: PacerEvent, now: Double) {
        switch event {
        case .answered(let ring):
            outcomes.add(true)
            answeredRings.add(ring)
        case .notAnswered(let after):
            outcomes.add(false)
            unansweredRings.add(after)
        case .connected, .abandoned:
            let dropped = event == .abandoned
            answered += 1
            if dropped { abandoned += 1 }
            recent.add(dropped)
            adjust()
        case .handled(let seconds):
            handleTimes.add(seconds)
        }
    }

    /// The closed loop, once per answered call: the gain falls fast while the abandon rate
    /// measured (recent, or over the campaign) is over 80 % of the target, and rises slowly
    /// while under. At 0 the pacer dials as progressive does, which abandons nothing, so the
    /// loop can always bring the rate back.
    private mutating func adjust() {
        let short = Double(recent.items.filter { $0 }.count) / Double(max(recent.items.count, 1))
        let long = Double(abandoned) / Double(max(answered, 1))
        let measured = max(short, long)
        gain = measured > target * 0.8 ? gain * 0.95 : min(gain * 1.01 + 0.001, 1.5)
    }
}
