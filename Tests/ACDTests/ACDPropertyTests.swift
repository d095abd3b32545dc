import ACD
import PropertyBased
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Random sequences of events, legal and illegal, against a configuration that uses most rules at
/// once (overflow, maximum length, exit key, ring-all, tiers, announcements, wrap-up, callbacks and their assignment). After every
/// event the engine's own invariants must hold (the harness checks them); at the end, every caller
/// is accounted for exactly once from the queue log alone.
@Suite struct ACDPropertyTests {
    static func settings() -> ACDSettings {
        var sales = GroupSettings(name: "sales")
        sales.maxWaitSeconds = 60
        sales.overflow = .group("support")
        sales.maxLength = 6
        sales.exitKey = "0"
        sales.wrapUpSeconds = 3
        sales.ringSeconds = 8
        var support = GroupSettings(name: "support")
        support.strategy = .ringAll
        support.maxWaitSeconds = 90
        support.overflow = .voicemail(nil)
        support.tiers = [7, 3]
        support.widenAfterSeconds = 10
        support.announceSeconds = 20
        support.leaveWhen = .allPaused
        support.ringSeconds = 5
        return ACDSettings(groups: [sales, support], agents: [
            AgentSettings(id: "a1", skills: [.init("sales", 8), .init("support", 3)]),
            AgentSettings(id: "a2", skills: [.init("sales", 5), .init("support", 7)]),
            AgentSettings(id: "a3", skills: [.init("sales", 3), .init("support", 9)]),
            AgentSettings(id: "a4", skills: [.init("support", 6)], wrapUpSeconds: 5),
        ])
    }

    static let agents = ["a1", "a2", "a3", "a4"]

    /// Decodes one random number into an event; the state decides whom it is about.
    static func event(_ n: Int, _ h: Harness, calls: inout Int) -> ACDEvent {
        let arg = n / 16
        let agent = agents[arg % agents.count]
        let view = h.engine.snapshot(now: h.now)
        let agentCall = view.agents.first { $0.id == agent }?.call ?? "c\(arg % max(calls, 1))"
        let someCall = "c\(arg % max(calls, 1))"
        switch n % 16 {
        case 0:
            calls += 1
            return .callArrived(CallArrival(
                call: "c\(calls - 1)", group: arg % 2 == 0 ? "sales" : "support", priority: arg % 3, position: arg % 5 == 0 ? arg % 4 + 1 : nil))
        case 1: return .callerHungUp(call: someCall)
        case 2: return .callerPressed(call: someCall, key: arg % 2 == 0 ? "0" : "5")
        case 3: return .agentLogin(agent: agent, device: "d", pausedReason: arg % 3 == 0 ? "late" : nil)
        case 4: return .agentLogout(agent: agent)
        case 5: return .agentReady(agent: agent)
        case 6: return .agentPause(agent: agent, reason: "break")
        case 7: return .agentAnswered(agent: agent, call: agentCall)
        case 8: return .agentDeclined(agent: agent, call: agentCall)
        case 9: return .agentHungUp(agent: agent)
        case 10: return .callTransferred(call: agentCall, to: "2000")
        case 11: return .tick
        case 13: return .callerCallback(call: someCall, number: "555\(arg % 10)")
        case 14: return .callbackAssigned(call: someCall, agent: arg % 3 == 0 ? nil : agent)
        case 12: return .agentSetSkills(agent: agent, skills: arg % 2 == 0 ? [.init("sales", arg % 10 + 1)] : [.init("support", arg % 10 + 1), .init("sales", 2)])
        default: return .agentReset(agent: agent)
        }
    }

    @Test func randomEventSequencesKeepTheInvariants() async {
        await propertyCheck(count: propertyCount, input: Gen.int(in: 0...99_999).array(of: 1...250)) { ops in
            var h = try! Harness(groups: Self.settings().groups, agents: Self.settings().agents, seed: 42)
            var calls = 0
            var lastState: [String: AgentStateName] = [:]
            for n in ops {
                let event = Self.event(n, h, calls: &calls)
                if case .tick = event { h.now += ACDTime((n / 16) % 30) * 1000 } else { h.now += 250 }
                let before = h.engine.snapshot(now: h.now)
                do {
                    let out = try h.send(event)
                    // A call reaches only a ready agent (FEATURES A2), seen from the actions alone.
                    var previous: ACDAction?
                    for action in out {
                        if case .offer(_, let agent, _, _) = action {
                            // ...announced by the change to ringing, which is checked to come from ready.
                            #expect(previous == .agentChanged(agent: agent, state: .ringing, reason: nil))
                        }
                        if case .agentChanged(let agent, let state, _) = action {
                            if state == .ringing { #expect(lastState[agent] == .ready || lastState[agent] == nil, "\(agent) rang from \(String(describing: lastState[agent]))") }
                            lastState[agent] = state
                        }
                        previous = action
                    }
                } catch {
                    let after = h.engine.snapshot(now: h.now)
                    #expect(after.agents == before.agents && after.waiting == before.waiting && after.groups == before.groups, "refused \(event) changed state")
                }
            }
            // Every caller who entered a queue left it exactly once per entry, or is still waiting.
            let waiting = Set(h.engine.snapshot(now: h.now).waiting.map(\.call))
            var entered: [String: Int] = [:], ended: [String: Int] = [:], connected: [String: Int] = [:]
            for e in h.log {
                switch e.event {
                case "ENTERQUEUE": entered[e.call, default: 0] += 1
                case "CONNECT":
                    ended[e.call, default: 0] += 1
                    connected[e.call, default: 0] += 1
                case "ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY", "CALLBACKCANCEL": ended[e.call, default: 0] += 1
                default: break
                }
            }
            for (call, n) in entered {
                #expect(n == ended[call, default: 0] + (waiting.contains(call) ? 1 : 0), "call \(call): entered \(n), left \(ended[call, default: 0])")
                #expect(connected[call, default: 0] <= 1)
            }
            for g in h.engine.snapshot(now: h.now).groups {
                let s = g.stats
                #expect(s.entered + s.callbacksJoined == s.answered + s.abandoned + s.timedOut + s.exitedEmpty + s.exitedKey + s.callbacksWithdrawn + g.waiting)
                #expect(s.answeredWithinServiceLevel <= s.answered && s.completed <= s.answered && s.transferred <= s.completed)
            }
        }
    }
}

/// 300 sequences in `make test`; `ACD_PROPERTY_COUNT=20000` for a longer hunt.
let propertyCount = Int(Environment.value("ACD_PROPERTY_COUNT") ?? "") ?? 300

enum Environment {
    static func value(_ name: String) -> String? {
        guard let p = getenv(name) else { return nil }
        return String(cString: p)
    }
}
