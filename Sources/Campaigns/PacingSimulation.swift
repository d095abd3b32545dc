import Foundation

/// A pacer against simulated traffic on a fake clock (issue 19): agents, numbers that answer
/// with a set probability after a drawn ring time, hold times drawn from a log-normal, wrap-up,
/// and the 2-second abandon rule. Pure and seeded, so two pacers see the same traffic: the
/// same answers, ring times and hold times in the order calls are made.
public struct PacingSimulation {
    public struct Traffic: Sendable {
        public var agents: Int
        /// Probability a dialled number is answered by a person.
        public var answerRate: Double
        /// From `answerRate` to this at half time (a list whose quality changes), if set.
        public var answerRateLater: Double?
        /// Seconds an answered number rings first, uniform in this range.
        public var ringSeconds: ClosedRange<Double> = 4...14
        /// An unanswered number: busy at once (this share), or rings out at the dial timeout.
        public var busyShare = 0.3
        public var dialTimeout = 22.0
        /// Talk time: log-normal with this mean and shape.
        public var talkMean = 120.0
        public var talkSigma = 0.6
        public var wrapSeconds = 10.0
        public var seconds = 4 * 3600.0
        public var seed: UInt64 = 1

        public init(agents: Int, answerRate: Double, answerRateLater: Double? = nil, seconds: Double = 4 * 3600, seed: UInt64 = 1) {
            self.agents = agents
            self.answerRate = answerRate
            self.answerRateLater = answerRateLater
            self.seconds = seconds
            self.seed = seed
        }
    }

    public struct Result: Sendable, Equatable {
        public var pacer: String
        public var dialled = 0, answered = 0, connected = 0, abandoned = 0
        /// Agents' time on calls and wrap-up over their logged-in time.
        public var occupancy = 0.0
        /// Talk seconds per agent per hour.
        public var talkPerAgentHour = 0.0
        /// The worst abandon rate of any hour.
        public var worstHourAbandonRate = 0.0
        public var abandonRate: Double { answered == 0 ? 0 : Double(abandoned) / Double(answered) }
    }

    /// Deterministic: SplitMix64.
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
        mutating func normal() -> Double {
            let u = max(unit(), 1e-12), v = unit()
            return sqrt(-2 * log(u)) * cos(2 * .pi * v)
        }
    }

    enum Agent { case ready, busy(since: Double, until: Double) }

    /// One call's fate, drawn when it is dialled (from the traffic's own stream).
    struct Fate {
        var answers: Bool
        var after: Double
        var talk: Double
    }

    public static func run(_ t: Traffic, pacer: inout some Pacer) -> Result {
        var rng = Random(state: t.seed)
        var result = Result(pacer: pacer.name)
        var agents = [Agent](repeating: .ready, count: t.agents)
        var ringing: [(end: Double, start: Double, fate: Fate)] = []
        var waiting: [(answeredAt: Double, talk: Double)] = []
        var busySeconds = 0.0
        var hourAnswered = [Int](repeating: 0, count: Int(t.seconds / 3600) + 1)
        var hourAbandoned = hourAnswered
        let step = 0.1
        var now = 0.0
        var nextDecision = 0.0
        func connect(_ i: Int, talk: Double) {
            agents[i] = .busy(since: now, until: now + talk + t.wrapSeconds)
        }
        while now < t.seconds {
            // Agents finishing.
            for i in agents.indices {
                if case .busy(let since, let until) = agents[i], until <= now {
                    agents[i] = .ready
                    busySeconds += until - since
                    pacer.observe(.handled(seconds: until - since), now: now)
                }
            }
            // Calls ringing that end now.
            var still: [(end: Double, start: Double, fate: Fate)] = []
            for c in ringing {
                guard c.end <= now else {
                    still.append(c)
                    continue
                }
                if c.fate.answers {
                    result.answered += 1
                    hourAnswered[Int(now / 3600)] += 1
                    pacer.observe(.answered(ringSeconds: c.fate.after), now: now)
                    waiting.append((now, c.fate.talk))
                } else {
                    pacer.observe(.notAnswered(afterSeconds: c.fate.after), now: now)
                }
            }
            ringing = still
            // Answered calls to ready agents, oldest first; past 2 s, abandoned.
            while let w = waiting.first {
                if let i = agents.firstIndex(where: { if case .ready = $0 { true } else { false } }) {
                    waiting.removeFirst()
                    connect(i, talk: w.talk)
                    result.connected += 1
                    pacer.observe(.connected, now: now)
                } else if now - w.answeredAt > 2 {
                    waiting.removeFirst()
                    result.abandoned += 1
                    hourAbandoned[Int(now / 3600)] += 1
                    pacer.observe(.abandoned, now: now)
                } else {
                    break
                }
            }
            if now >= nextDecision {
                nextDecision += 1
                let ready = agents.filter { if case .ready = $0 { true } else { false } }.count
                let busy = agents.compactMap { a -> Double? in if case .busy(let since, _) = a { now - since } else { nil } }
                let n = pacer.dials(
                    PacerState(ready: ready, busy: busy, ringing: ringing.count, ringingAges: ringing.map { now - $0.start }, waiting: waiting.count), now: now)
                let rate = now >= t.seconds / 2 ? (t.answerRateLater ?? t.answerRate) : t.answerRate
                for _ in 0..<n {
                    result.dialled += 1
                    let answers = rng.unit() < rate
                    let busyAtOnce = rng.unit() < t.busyShare
                    let ring = t.ringSeconds.lowerBound + rng.unit() * (t.ringSeconds.upperBound - t.ringSeconds.lowerBound)
                    let mu = log(t.talkMean) - t.talkSigma * t.talkSigma / 2
                    let talk = exp(mu + t.talkSigma * rng.normal())
                    let after = answers ? ring : (busyAtOnce ? 1 : t.dialTimeout)
                    ringing.append((now + after, now, Fate(answers: answers, after: after, talk: talk)))
                }
            }
            now += step
        }
        for a in agents { if case .busy(let since, _) = a { busySeconds += now - since } }
        result.occupancy = busySeconds / (Double(t.agents) * t.seconds)
        result.talkPerAgentHour = result.occupancy * 3600
        result.worstHourAbandonRate = zip(hourAnswered, hourAbandoned).filter { $0.0 >= 20 }.map { Double($0.1) / Double($0.0) }.max() ?? 0
        return result
    }
}
