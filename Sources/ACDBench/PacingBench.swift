import Campaigns
import Foundation

/// `acd-bench pacing [hours] [seed]`: the pacers against the same simulated traffic (issue 19):
/// 20, 50 and 100 agents; answer rates 0.3, and 0.2 turning to 0.4 at half time. One line per
/// pacer and traffic.
enum PacingBench {
    static func run(hours: Double, seed: UInt64) {
        print("hours=\(hours) seed=\(seed) talk=log-normal mean 120 s sigma 0.6, wrap 10 s, ring 4-14 s answered, 30 % of the rest busy at once, others ring 22 s")
        print(String(format: "%-8@ %-10@ %-24@ %8@ %8@ %8@ %9@ %10@ %10@", "agents", "answer", "pacer", "dialled", "answered", "abandon", "rate %", "worst h %", "occupancy"))
        for agents in [20, 50, 100] {
            for (rate, later) in [(0.3, nil), (0.2, 0.4)] as [(Double, Double?)] {
                var traffic = PacingSimulation.Traffic(agents: agents, answerRate: rate, answerRateLater: later, seconds: hours * 3600, seed: seed)
                traffic.seed = seed
                var pacers: [any Pacer] = [
                    ProgressivePacer(), VicidialAdaptPacer(method: .hardLimit), VicidialAdaptPacer(method: .average), PredictivePacer(target: 0.03),
                ]
                for i in pacers.indices {
                    var p = pacers[i]
                    let r = simulate(traffic, &p)
                    pacers[i] = p
                    let answer = later.map { String(format: "%.1f→%.1f", rate, $0) } ?? String(format: "%.1f", rate)
                    print(
                        String(
                            format: "%-8d %-10@ %-24@ %8d %8d %8d %9.2f %10.2f %10.3f", agents, answer, r.pacer, r.dialled, r.answered, r.abandoned, r.abandonRate * 100,
                            r.worstHourAbandonRate * 100, r.occupancy))
                }
            }
        }
    }

    static func simulate(_ t: PacingSimulation.Traffic, _ p: inout any Pacer) -> PacingSimulation.Result {
        func go<P: Pacer>(_ pacer: inout P) -> PacingSimulation.Result { PacingSimulation.run(t, pacer: &pacer) }
        return go(&p)
    }
}
