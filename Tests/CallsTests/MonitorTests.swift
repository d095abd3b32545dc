import ACD
@testable import Calls
import JSON
import Testing

/// A supervisor on an agent's call (FEATURES O3): rung, mixed in, switched between modes, and
/// gone the moment the two-party conversation is.
@Suite struct MonitorTests {
    /// The caller talks to 1001; the supervisor's phone `sip:1003` is rung and answers in `mode`.
    /// The caller talking to 1001.
    static func talking(rules: CallSession.Rules = CallFixture.rules()) throws -> (CallFixture, agent: LegID) {
        var f = try CallFixture(rules: rules)
        f.loginBoth()
        let reached = f.reachSales()
        let agent = try #require(reached)
        f.pickUp(agent)
        return (f, agent)
    }

    static func monitored(_ mode: MonitorMode = .listen) throws -> (CallFixture, agent: LegID, supervisor: LegID) {
        var (f, agent) = try talking()
        f.advance(5)
        f.send(.monitor(device: "sip:1003", mode: mode, by: "operator:sup"))
        let supervisor = try #require(f.session.monitor?.leg)
        #expect(f.dialled[supervisor] == "sip:1003")
        #expect(f.phase == .bridged)
        f.pickUp(supervisor)
        return (f, agent, supervisor)
    }

    func monitorStates(_ f: CallFixture) -> [String] {
        f.actions.compactMap { action in
            if case .emit("call.monitor", let data) = action { return data["state"]?.stringValue }
            return nil
        }
    }

    @Test func theSupervisorIsMixedInOnceTheirPhoneAnswers() throws {
        let (f, agent, supervisor) = try Self.monitored()
        #expect(f.actions.contains(.monitorMix(agent: agent, supervisor: supervisor, mode: .listen)))
        #expect(f.session.monitor?.answered == true && f.session.monitor?.by == "operator:sup")
        #expect(monitorStates(f) == ["ringing", "started"])
        // The ACD knows nothing of it: the agent is still on the call.
        #expect(f.queueLog.last == "CONNECT")
    }

    /// Keys 0–3 as FreeSWITCH's eavesdrop reads them; other keys and the caller's keys do nothing.
    @Test func theSupervisorsKeysSwitchTheMode() throws {
        var (f, agent, supervisor) = try Self.monitored()
        f.send(.legKey(supervisor, "2"))
        #expect(f.session.monitor?.mode == .whisper && f.actions.last { if case .monitorRole = $0 { true } else { false } } == .monitorRole(agent: agent, supervisor: supervisor, mode: .whisper))
        f.send(.legKey(supervisor, "3"))
        #expect(f.session.monitor?.mode == .barge)
        f.send(.legKey(supervisor, "1"))
        #expect(f.session.monitor?.mode == .whisperCaller)
        f.send(.legKey(supervisor, "0"))
        #expect(f.session.monitor?.mode == .listen)
        let before = f.actions.count
        f.send(.legKey(supervisor, "9"))
        f.send(.legKey(agent, "3"))  // the agent's phone cannot barge anyone in
        f.send(.monitorMode(.listen))  // no change
        #expect(f.actions.count == before && f.session.monitor?.mode == .listen)
        f.send(.monitorMode(.barge))
        #expect(f.actions.last { if case .monitorRole = $0 { true } else { false } } == .monitorRole(agent: agent, supervisor: supervisor, mode: .barge))
    }

    /// The mode can be chosen before the phone answers; it is the one mixed in.
    @Test func aModeChangedWhileRingingIsTheOneMixed() throws {
        var (f, agent) = try Self.talking()
        f.send(.monitor(device: "sip:1003", mode: .listen, by: "operator:sup"))
        let supervisor = try #require(f.session.monitor?.leg)
        f.send(.monitorMode(.whisper))
        #expect(!f.actions.contains { if case .monitorRole = $0 { true } else { false } })
        f.pickUp(supervisor)
        #expect(f.actions.contains(.monitorMix(agent: agent, supervisor: supervisor, mode: .whisper)))
    }

    /// The supervisor hanging up leaves the caller and the agent bridged again.
    @Test func theSupervisorLeavingRestoresTheBridge() throws {
        var (f, agent, supervisor) = try Self.monitored()
        let before = f.actions.count
        f.send(.legEnded(supervisor, .ended("remote hangup")))
        let after = Array(f.actions[before...])
        #expect(after.contains(.unmix))
        let unmix = try #require(after.firstIndex(of: .unmix))
        #expect(after[unmix...].contains(.bridge(agent)))
        #expect(f.session.monitor == nil && f.phase == .bridged && !f.callerHungUp)
        #expect(monitorStates(f).last == "ended")
        // A new supervisor may come.
        f.send(.monitor(device: "sip:1004", mode: .barge, by: "operator:sup"))
        #expect(f.session.monitor?.device == "sip:1004")
    }

    /// An operator ends the session: the supervisor's leg is hung up, the bridge comes back, and
    /// the events say who stopped it; with nobody monitoring it changes nothing.
    @Test func anOperatorStopsTheMonitoring() throws {
        var (f, agent, supervisor) = try Self.monitored(.barge)
        let before = f.actions.count
        f.send(.monitorStop(by: "operator:boss"))
        let after = Array(f.actions[before...])
        #expect(after.contains(.hangUpLeg(supervisor)))
        let unmix = try #require(after.firstIndex(of: .unmix))
        #expect(after[unmix...].contains(.bridge(agent)))
        #expect(f.session.monitor == nil && f.phase == .bridged && !f.callerHungUp)
        let ended = f.actions.compactMap { action -> JSONValue? in
            if case .emit("call.monitor", let data) = action, data["state"] == "ended" { return data }
            return nil
        }
        #expect(ended.last?["reason"] == "stopped by operator:boss")
        let quiet = f.actions.count
        f.send(.monitorStop(by: "operator:boss"))
        #expect(f.actions.count == quiet)
    }

    /// A phone that refuses or cannot be rung ends the session; the bridge was never touched.
    @Test func aRefusingSupervisorPhoneChangesNothing() throws {
        var (f, _) = try Self.talking()
        f.send(.monitor(device: "sip:1003", mode: .listen, by: "operator:sup"))
        let supervisor = try #require(f.session.monitor?.leg)
        f.send(.legRinging(supervisor))
        f.send(.legEnded(supervisor, .refused(status: 486)))
        #expect(f.session.monitor == nil && f.phase == .bridged)
        #expect(!f.actions.contains(.unmix))
        #expect(!f.queueLog.contains("RINGCANCELED"))  // not the ACD's
        f.send(.monitor(device: "sip:1003", mode: .listen, by: "operator:sup"))
        let second = try #require(f.session.monitor?.leg)
        f.send(.legFailed(second, reason: "phone 1003 is not registered"))
        #expect(f.session.monitor == nil && f.phase == .bridged)
    }

    /// Hold, a consultation, the survey or the end of the call end the monitoring first: the mix
    /// goes before the caller's music or prompts start, and the supervisor's phone is hung up.
    @Test func theConversationEndingEndsTheMonitoringFirst() throws {
        var (f, agent, supervisor) = try Self.monitored(.barge)
        var before = f.actions.count
        f.send(.legHold(agent, true))
        var after = Array(f.actions[before...])
        #expect(after.prefix(2).contains(.hangUpLeg(supervisor)))
        let unmix = try #require(after.firstIndex(of: .unmix))
        let music = try #require(after.firstIndex(of: .playMusic))
        #expect(unmix < music && !after.contains(.bridge(agent)))
        #expect(f.session.monitor == nil && f.phase == .held)

        // Monitored again after the retrieve, then the caller hangs up.
        f.send(.legHold(agent, false))
        f.send(.monitor(device: "sip:1003", mode: .listen, by: "operator:sup"))
        let second = try #require(f.session.monitor?.leg)
        f.pickUp(second)
        before = f.actions.count
        f.send(.callerEnded(cause: "caller hung up", by: "caller"))
        after = Array(f.actions[before...])
        #expect(after.contains(.hangUpLeg(second)) && after.contains(.hangUpLeg(agent)))
        #expect(f.phase == .ended && f.session.monitor == nil)
    }

    @Test func theSurveyEndsTheMonitoring() throws {
        var rules = CallFixture.rules()
        rules.surveyGroups = ["sales"]
        var (f, agent) = try Self.talking(rules: rules)
        f.send(.monitor(device: "sip:1003", mode: .whisper, by: "operator:sup"))
        let supervisor = try #require(f.session.monitor?.leg)
        f.pickUp(supervisor)
        let before = f.actions.count
        f.send(.legEnded(agent, .ended("remote hangup")))
        let after = Array(f.actions[before...])
        #expect(f.phase == .survey && after.contains(.hangUpLeg(supervisor)))
        let unmix = try #require(after.firstIndex(of: .unmix))
        let prompt = try #require(after.firstIndex { if case .play = $0 { true } else { false } })
        #expect(unmix < prompt)
    }

    /// Only a caller talking to an agent can be monitored, by one supervisor at a time.
    @Test func monitoringNeedsABridgedCallAndOneSupervisor() throws {
        var f = try CallFixture()
        f.loginBoth()
        let reached = f.reachSales()
        let agent = try #require(reached)
        f.send(.monitor(device: "sip:1003", mode: .listen, by: "operator:sup"))
        #expect(f.session.monitor == nil)  // ringing
        f.pickUp(agent)
        f.send(.monitor(device: "sip:1003", mode: .listen, by: "operator:a"))
        f.send(.monitor(device: "sip:1004", mode: .listen, by: "operator:b"))
        #expect(f.session.monitor?.by == "operator:a")
        #expect(f.session.legs.filter { if case .supervisor = $0.role { true } else { false } }.count == 1)
    }
}
