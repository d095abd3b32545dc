import ACD
@testable import Calls
import IVR
import Testing

/// The survey after a conversation (FEATURES C6): an agent who hangs up first on a call of a
/// group with `survey = true` leaves the caller on the line to score the call.
@Suite struct SurveyTests {
    static func surveyRules() -> CallSession.Rules {
        var rules = CallFixture.rules()
        rules.surveyGroups = ["sales"]
        return rules
    }

    /// Connected to 1001 in sales and talked for 30 s.
    static func talking(_ rules: CallSession.Rules = surveyRules()) throws -> (CallFixture, LegID) {
        var f = try CallFixture(rules: rules)
        f.loginBoth()
        let reached = f.reachSales()
        let leg = try #require(reached)
        f.advance(2)
        f.pickUp(leg)
        #expect(f.phase == .bridged)
        f.advance(30)
        return (f, leg)
    }

    @Test func theAgentHangingUpFirstLeavesTheCallerToScoreIt() throws {
        var (f, leg) = try Self.talking()
        f.send(.legEnded(leg, .ended("remote hangup")))
        #expect(f.phase == .survey && !f.callerHungUp)
        #expect(f.records == 0)
        // The agent is free (wrap-up) and the recording holds the conversation only.
        #expect(f.queueLog.last == "COMPLETEAGENT")
        #expect(f.actions.contains(.stopRecording))
        #expect(f.heard.last == ["agent-was", "number-1", "number-0", "number-0", "number-1", "survey-question"])
        f.advance(3)  // the survey's seconds are not talk time
        f.send(.key("4"))
        #expect(f.session.surveyScore == 4)
        #expect(f.heard.last == ["survey-thanks"])
        let line = try #require(f.queueLines.last)
        #expect(line.event == "SURVEY" && line.data == ["4"] && line.queue == "sales" && line.agent == "Agent/1001")
        #expect(line.call == CallFixture.unique)
        f.finishPlayback()
        #expect(f.callerHungUp)
        let record = try #require(f.record)
        #expect(record.surveyScore == 4 && record.talkSeconds == 30)
        // The record says how the conversation ended, not that the survey hung up.
        #expect(record.cause == "agent hung up" && record.by == "agent" && record.outcome == "connected")
        #expect(record.ivrPath.hasSuffix(">after-call-survey>after-call-survey=4"))
    }

    /// Hanging up in the survey leaves the score empty (not zero), and no SURVEY line.
    @Test func aCallerWhoHangsUpLeavesTheScoreEmpty() throws {
        var (f, leg) = try Self.talking()
        f.send(.legEnded(leg, .ended("remote hangup")))
        f.advance(1)
        f.send(.callerEnded(cause: "caller hung up", by: "caller"))
        let record = try #require(f.record)
        #expect(record.surveyScore == nil && record.cause == "agent hung up" && record.by == "agent")
        #expect(!f.queueLog.contains("SURVEY"))
        #expect(f.phase == .ended && f.timers[.ivr] == nil)
    }

    /// No key at all: asked again once, then the call ends with no score.
    @Test func aCallerWhoNeverAnswersTimesOutWithNoScore() throws {
        var (f, leg) = try Self.talking()
        f.send(.legEnded(leg, .ended("remote hangup")))
        f.finishPlayback()
        f.advance(5)
        #expect(f.heard.last == ["invalid", "survey-question"] && !f.callerHungUp)
        f.finishPlayback()
        f.advance(5)
        #expect(f.callerHungUp)
        let record = try #require(f.record)
        #expect(record.surveyScore == nil && record.ivrPath.hasSuffix("after-call-survey=none"))
        #expect(!f.queueLog.contains("SURVEY"))
    }

    /// A key outside 1–5 is asked again, and a right one then counts.
    @Test func aWrongKeyIsAskedAgain() throws {
        var (f, leg) = try Self.talking()
        f.send(.legEnded(leg, .ended("remote hangup")))
        f.send(.key("9"))
        #expect(f.session.surveyScore == nil && f.heard.last == ["invalid", "survey-question"])
        f.send(.key("5"))
        #expect(f.session.surveyScore == 5)
    }

    /// The caller hanging up first ends the call as ever: there is nobody to ask.
    @Test func theCallerHangingUpFirstTakesNoSurvey() throws {
        var (f, leg) = try Self.talking()
        f.send(.callerEnded(cause: "caller hung up", by: "caller"))
        #expect(f.phase == .ended && f.hungUp.contains(leg))
        #expect(f.queueLog.last == "COMPLETECALLER")
        #expect(f.record?.surveyScore == nil)
    }

    /// A group without the option hangs the caller up when the agent does, as before.
    @Test func aGroupWithoutTheSurveyHangsUp() throws {
        var (f, leg) = try Self.talking(CallFixture.rules())
        f.send(.legEnded(leg, .ended("remote hangup")))
        #expect(f.callerHungUp && f.phase != .survey)
    }

    /// `acdctl survey CALL`: the agent's leg is released and the caller scores the call even in a
    /// group without the option; the record names who sent the caller there.
    @Test func anOperatorOrAgentCanStartTheSurvey() throws {
        var (f, leg) = try Self.talking(CallFixture.rules())
        f.send(.survey(by: "operator:root"))
        #expect(f.phase == .survey && f.hungUp.contains(leg) && f.queueLog.last == "COMPLETEAGENT")
        // The leg's own end, once our BYE is answered, changes nothing.
        f.send(.legEnded(leg, .ended("BYE answered")))
        #expect(f.phase == .survey)
        f.send(.key("2"))
        f.finishPlayback()
        let record = try #require(f.record)
        #expect(record.surveyScore == 2 && record.by == "operator:root")
    }

    /// From the agent's phone (REFER to `survey`): the phone hears its REFER succeeded before
    /// its BYE, as for a blind transfer.
    @Test func theAgentsPhoneCanStartTheSurvey() throws {
        var (f, leg) = try Self.talking(CallFixture.rules())
        f.send(.survey(by: "agent", byRefer: true))
        #expect(f.phase == .survey && f.actions.contains(.completeRefer(leg)) && !f.actions.contains(.hangUpLeg(leg)))
        f.send(.key("5"))
        f.finishPlayback()
        #expect(f.record?.surveyScore == 5 && f.record?.by == "agent")
    }

    /// Only a caller talking to an agent can be sent to the survey.
    @Test func aSurveyNeedsAnAgentOnTheCall() throws {
        var f = try CallFixture(rules: Self.surveyRules())
        f.loginBoth()
        f.reachSales()
        f.send(.survey(by: "operator:root"))
        #expect(f.phase == .ringing)
    }

    /// An agent id that is not all digits is not spelled out.
    @Test func aNamedAgentIsNotSpoken() {
        #expect(CallSession.survey(naming: "alice").prompts == ["survey-intro", "survey-question"])
        #expect(CallSession.survey(naming: "0042").prompts == ["agent-was", "number-0", "number-0", "number-4", "number-2", "survey-question"])
    }
}
