import ACD
@testable import Calls
import IVR
import Testing

/// Every rule of the call session, on the fixture's fake clock with the real ACD engine beside
/// it. The same paths run end to end against the daemon in Tests/IntegrationTests.
@Suite struct CallSessionTests {
    @Test func menuToQueueToAgentAndTheAgentHangsUp() throws {
        var f = try CallFixture()
        f.loginBoth()
        f.answer()
        #expect(f.phase == .ivr)
        #expect(f.heard == [["welcome"]])
        f.finishPlayback()
        #expect(f.heard.last == ["main-menu"])
        f.advance(2)
        f.send(.key("1"))
        #expect(f.phase == .ringing)
        let leg = try #require(f.ringingLeg())
        #expect(f.dialled[leg] == "sip:1001")  // longest idle
        #expect(f.session.agent == "1001")
        f.advance(3)
        f.pickUp(leg)
        #expect(f.phase == .bridged)
        #expect(f.actions.contains(.bridge(leg)) && f.actions.contains(.startRecording(leg)))
        #expect(f.queueLog.contains("CONNECT"))
        f.advance(20)
        f.send(.legEnded(leg, .ended("remote hangup")))
        #expect(f.callerHungUp)
        #expect(f.queueLog.last == "COMPLETEAGENT")
        let record = try #require(f.record)
        #expect(record.outcome == "connected" && record.agent == "1001" && record.queue == "sales")
        #expect(record.waitSeconds == 3 && record.talkSeconds == 20)
        #expect(record.cause == "agent hung up" && record.by == "agent")
        #expect(record.ivrPath == "welcome>menu>menu=1>sales")
        // The caller's BYE comes back: nothing more for the ACD, and one record only.
        f.send(.callerEnded(cause: "ended by the daemon", by: "system"))
        #expect(f.phase == .ended && f.records == 1)
        #expect(!f.actions.contains(.tellACD(.callerHungUp(call: CallFixture.unique))))
    }

    /// A key over the welcome skips it and chooses sales: the caller is queued at once.
    @Test func typeAheadQueuesAtOnceButWaitsForTheLookup() throws {
        var f = try CallFixture()
        f.loginBoth()
        f.answer(lookup: false)
        f.send(.key("1"))
        // Routed before the CRM said who this is: music, and nothing for the ACD yet.
        #expect(f.phase == .ivr && f.heard.last == ["music"])
        #expect(!f.session.acdHasCall && f.ringingLeg() == nil)
        #expect(!f.queueLog.contains("ENTERQUEUE"))
        f.send(.lookupDone(nil))
        #expect(f.phase == .ringing && f.ringingLeg() != nil)
        #expect(f.queueLog.contains("ENTERQUEUE"))
    }

    /// A phone that refuses (486) is a decline: the ACD offers the call to the other agent.
    @Test func aRefusingPhoneSendsTheOfferOn() throws {
        var f = try CallFixture()
        f.loginBoth()
        let reached = f.reachSales()
        let first = try #require(reached)
        f.send(.legRinging(first))
        f.send(.legEnded(first, .refused(status: 486)))
        let second = try #require(f.ringingLeg())
        #expect(second != first)
        #expect(f.dialled[second] == "sip:1002")
        #expect(f.phase == .ringing && f.session.agent == "1002")
    }

    /// Ring no answer: the ACD withdraws after ring_seconds; the leg is hung up by us, and its end
    /// tells the ACD nothing more. The 49.9 s / 50 s edge of the group's timer is the engine's test.
    @Test func ringNoAnswerWithdrawsAndTheLegsEndSaysNothing() throws {
        var f = try CallFixture { $0.ringSeconds = 5 }
        f.loginBoth()
        let reached = f.reachSales()
        let leg = try #require(reached)
        f.send(.legRinging(leg))
        f.advance(4.9)
        #expect(f.hungUp.isEmpty)
        f.advance(0.2)
        #expect(f.hungUp.contains(leg))
        #expect(f.queueLog.contains("RINGNOANSWER"))
        let actionsBefore = f.actions.count
        f.send(.legEnded(leg, .ended("cancelled")))
        #expect(!f.actions[actionsBefore...].contains { if case .tellACD = $0 { true } else { false } })
    }

    /// A 200 that crosses our CANCEL is hung up, never bridged.
    @Test func anAnswerAfterTheWithdrawalIsHungUp() throws {
        var f = try CallFixture { $0.ringSeconds = 2 }
        f.acd(.agentLogin(agent: "1001", device: "sip:1001"))
        let reached = f.reachSales()
        let leg = try #require(reached)
        f.send(.legRinging(leg))
        f.advance(2.1)
        #expect(f.hungUp == [leg])
        f.send(.legAnswered(leg, usable: true))
        #expect(f.hungUp == [leg, leg])
        #expect(!f.actions.contains(.bridge(leg)))
        #expect(f.phase == .queued)
    }

    /// The ACD had moved on when the answer came: the leg goes, the caller hears music again and
    /// the half-second of "talk" leaves no trace in the record.
    @Test func anAnswerTheACDRefusesGoesBackToTheQueue() throws {
        var f = try CallFixture()
        f.loginBoth()
        let reached = f.reachSales()
        let leg = try #require(reached)
        f.refuseAnswers = true
        f.pickUp(leg)
        #expect(f.hungUp == [leg])
        #expect(f.session.connected == nil && f.session.agent == nil)
        #expect(f.phase == .queued && f.heard.last == ["music"])
        f.advance(0.5)
        f.send(.callerEnded(cause: "caller hung up", by: "caller"))
        #expect(f.record?.outcome == "abandoned" && f.record?.agent == nil && f.record?.talkSeconds == nil)
    }

    @Test func busyForwardingRingsTheTargetWithoutTellingTheACD() throws {
        var f = try CallFixture(rules: CallFixture.rules(forwarding: ["1001": CallPolicy.Forwarding(busy: "tel:0800")]))
        f.acd(.agentLogin(agent: "1001", device: "sip:1001"))
        let reached = f.reachSales()
        let leg = try #require(reached)
        f.send(.legRinging(leg))
        let told = f.actions.count
        f.send(.legEnded(leg, .refused(status: 486)))
        let forward = try #require(f.ringingLeg())
        #expect(f.dialled[forward] == "tel:0800")
        #expect(!f.actions[told...].contains(.tellACD(.agentDeclined(agent: "1001", call: CallFixture.unique))))
        // Forwarded once only: the target's refusal is a decline.
        f.send(.legRinging(forward))
        f.send(.legEnded(forward, .refused(status: 486)))
        #expect(f.actions.contains(.tellACD(.agentDeclined(agent: "1001", call: CallFixture.unique))))
    }

    @Test func noAnswerForwardingFiresAtItsSecondAndNotBefore() throws {
        var f = try CallFixture(rules: CallFixture.rules(forwarding: ["1001": CallPolicy.Forwarding(noAnswer: "tel:0800", noAnswerSeconds: 4)]))
        f.acd(.agentLogin(agent: "1001", device: "sip:1001"))
        let reached = f.reachSales()
        let leg = try #require(reached)
        f.send(.legRinging(leg))
        f.advance(3.999)
        #expect(f.hungUp.isEmpty)
        f.advance(0.001)
        #expect(f.hungUp == [leg])
        let forward = try #require(f.ringingLeg())
        #expect(f.dialled[forward] == "tel:0800")
        f.pickUp(forward)
        #expect(f.phase == .bridged && f.session.agent == "1001")
    }

    /// Hold from the agent's phone: music, no watchdog while held; retrieve: the bridge again.
    @Test func holdAndRetrieveFromThePhone() throws {
        var f = try CallFixture(rules: CallFixture.rules(mediaTimeout: .seconds(5)))
        f.loginBoth()
        let reached = f.reachSales()
        let leg = try #require(reached)
        f.pickUp(leg)
        f.send(.legHold(leg, true))
        #expect(f.phase == .held && f.heard.last == ["music"])
        f.silent = [leg]
        f.advance(10)
        #expect(!f.callerHungUp, "a held agent's phone sends nothing and is not hung up")
        f.send(.legHold(leg, false))
        #expect(f.phase == .bridged && f.actions.last == .log(.info, "agent retrieves the caller", ["agent.id": "1001"]))
        #expect(f.actions.filter { $0 == .bridge(leg) }.count == 2)
    }

    /// The watchdog on the scheduler's clock: a caller silent for 29.9 s stays; at 30 s the call ends.
    @Test func mediaWatchdogEndsASilentCallerAtTheLimit() throws {
        var f = try CallFixture()
        f.answer()
        f.silent = [.caller]
        f.advance(29.9)
        #expect(!f.callerHungUp)
        f.advance(0.1)
        #expect(f.callerHungUp)
        #expect(f.record?.cause == "media timeout")
    }

    /// A phone that stops sending ends the call from the agent's side at once.
    @Test func mediaWatchdogEndsTheCallWhenTheAgentsPhoneGoesSilent() throws {
        var f = try CallFixture(rules: CallFixture.rules(mediaTimeout: .seconds(3)))
        f.loginBoth()
        let reached = f.reachSales()
        let leg = try #require(reached)
        f.pickUp(leg)
        f.silent = [leg]
        f.advance(2.9)
        #expect(!f.callerHungUp)
        f.advance(0.2)
        #expect(f.callerHungUp)
        #expect(f.hungUp.contains(leg))
        #expect(f.record?.cause == "agent's phone sent no RTP")
        #expect(f.queueLog.contains("COMPLETEAGENT"))
    }

    /// The caller hangs up while an agent rings: ABANDON, the ringing leg is hung up.
    @Test func callerHangsUpWhileRinging() throws {
        var f = try CallFixture()
        f.loginBoth()
        let reached = f.reachSales()
        let leg = try #require(reached)
        f.send(.legRinging(leg))
        f.advance(2)
        f.send(.callerEnded(cause: "caller hung up", by: "caller"))
        #expect(f.hungUp == [leg])
        #expect(f.queueLog.contains("ABANDON"))
        #expect(f.record?.outcome == "abandoned" && f.record?.waitSeconds == 2 && f.record?.by == "caller")
        #expect(f.phase == .ended)
        // Reports about the leg after the call ended change nothing.
        f.send(.legAnswered(leg, usable: true))
        #expect(!f.actions.contains(.bridge(leg)))
    }

    /// A leg still finding its RTP port when it is withdrawn is not hung up (it has no session);
    /// the shell drops it when the port comes.
    @Test func aWithdrawnLegStillDiallingHasNothingToHangUp() throws {
        var f = try CallFixture()
        f.loginBoth()
        let reached = f.reachSales()
        let leg = try #require(reached)
        f.send(.callerEnded(cause: "caller hung up", by: "caller"))
        #expect(f.hungUp.isEmpty)
        #expect(f.session.leg(leg)?.state == .releasing)
    }

    @Test func blindTransferToAGroupAndToANumber() throws {
        var f = try CallFixture()
        f.loginBoth()
        let reached = f.reachSales()
        let leg = try #require(reached)
        f.pickUp(leg)
        f.advance(10)
        f.send(.transfer(.group("support"), byRefer: false))
        #expect(f.queueLog.contains("BLINDTRANSFER"))
        #expect(f.hungUp.contains(leg))
        // Agent 1001 is in wrap-up (0 s here) and is offered again only after; 1002 serves support.
        let second = try #require(f.ringingLeg())
        #expect(f.session.queue == "support")
        f.pickUp(second)
        f.advance(5)
        f.send(.transfer(.number("0800123"), byRefer: true))
        #expect(f.actions.contains(.completeRefer(second)))
        #expect(f.phase == .transferring && f.heard.last == ["ringback"])
        #expect(!f.session.acdHasCall)
        let number = try #require(f.ringingLeg())
        #expect(f.dialled[number] == "tel:0800123")
        f.pickUp(number)
        #expect(f.phase == .transferred)
        f.advance(5)
        f.send(.legEnded(number, .ended("remote hangup")))
        let record = try #require(f.record)
        #expect(record.outcome == "transferred")
        #expect(record.transfers == "group:support;number:0800123")
        #expect(record.talkSeconds == 20)
        #expect(record.cause == "transfer target hung up")
    }

    /// A number that cannot be reached: the caller hears "all busy, goodbye" and the call ends.
    @Test func aTransferToANumberThatFailsSaysGoodbye() throws {
        var f = try CallFixture()
        f.loginBoth()
        let reached = f.reachSales()
        let leg = try #require(reached)
        f.pickUp(leg)
        f.send(.transfer(.number("0800"), byRefer: false))
        let number = try #require(f.ringingLeg())
        f.send(.legFailed(number, reason: "no trunk"))
        #expect(f.heard.last == ["all-busy", "goodbye"])
        #expect(!f.callerHungUp)
        f.finishPlayback()
        #expect(f.callerHungUp && f.record?.cause == "transfer target unreachable")
    }

    @Test func aTransferWithNoAgentOnTheLineIsIgnored() throws {
        var f = try CallFixture()
        f.answer()
        let before = f.actions.count
        f.send(.transfer(.group("support"), byRefer: false))
        #expect(f.actions.count == before)
        #expect(f.session.transferableLeg == nil)
    }

    /// Menu 0: the prompt was just played, so only the beep; # ends the message, "saved", goodbye.
    @Test func voicemailFromTheMenuUntilHash() throws {
        var f = try CallFixture()
        f.answer()
        f.send(.key("0"))
        #expect(f.heard.last == ["voicemail"])  // the IVR's voicemail node plays its prompt
        f.finishPlayback()
        #expect(f.phase == .voicemail)
        #expect(f.heard.last == ["beep"])
        f.finishPlayback()
        #expect(f.actions.contains(.startVoicemail(box: "default")))
        f.advance(3)
        f.send(.key("#"))
        #expect(f.actions.contains(.stopVoicemail))
        #expect(f.heard.last == ["voicemail-saved", "goodbye"])
        f.finishPlayback()
        #expect(f.callerHungUp && f.record?.outcome == "voicemail" && f.record?.cause == "voicemail: caller pressed #")
    }

    /// The group's maximum wait with overflow to voicemail: the queue's exit plays the prompt.
    @Test func queueOverflowToVoicemailAndTheLimit() throws {
        var f = try CallFixture {
            $0.maxWaitSeconds = 2
            $0.overflow = .voicemail(nil)
        }
        f.reachSales()
        #expect(f.phase == .queued)
        f.advance(2.5)
        #expect(f.phase == .voicemail && f.queueLog.contains("EXITWITHTIMEOUT"))
        #expect(f.heard.last == ["voicemail", "beep"])
        f.finishPlayback()
        f.advance(59.9)
        #expect(!f.actions.contains(.stopVoicemail))
        f.advance(0.2)
        #expect(f.actions.contains(.stopVoicemail))
        #expect(f.heard.last == ["voicemail-saved", "goodbye"])
    }

    @Test func aQueueThatLetsTheCallerGoSaysGoodbye() throws {
        var f = try CallFixture { $0.maxWaitSeconds = 1 }
        f.reachSales()
        f.advance(1.5)
        #expect(f.heard.last == ["all-busy", "goodbye"])
        f.finishPlayback()
        #expect(f.record?.outcome == "timeout" && f.record?.cause == "queue: timeout")
    }

    /// Keys while queued go to the ACD (its exit key); keys while talking to an agent do not.
    @Test func keysGoWhereThePhaseSays() throws {
        var f = try CallFixture()
        f.acd(.agentLogin(agent: "1001", device: "sip:1001"))
        f.acd(.agentPause(agent: "1001", reason: "lunch"))
        f.reachSales()
        f.send(.key("5"))
        #expect(f.actions.contains(.tellACD(.callerPressed(call: CallFixture.unique, key: "5"))))
        f.acd(.agentReady(agent: "1001"))
        f.advance(1)
        let leg = try #require(f.ringingLeg())
        f.pickUp(leg)
        let before = f.actions.count
        f.send(.key("7"))
        #expect(!f.actions[before...].contains { if case .tellACD = $0 { true } else { false } })
        #expect(f.session.digits == "157")
    }

    /// A prompt's end reported after something else was played is not taken for the new one's.
    @Test func aStalePlaybackEndIsIgnored() throws {
        var f = try CallFixture()
        f.answer()
        let welcome = try #require(f.playing?.serial)
        f.send(.key("9"))  // skips the welcome; 9 is no choice: "invalid", then the menu
        f.send(.playbackEnded(serial: welcome))
        #expect(f.session.ivr?.currentNode == "menu")
        #expect(f.phase == .ivr)
    }

    /// Our hang-up writes the record; the caller's end afterwards writes nothing more.
    @Test func theRecordIsWrittenOnce() throws {
        var f = try CallFixture()
        f.answer()
        f.send(.release(cause: "daemon shutdown", by: "system"))
        f.send(.callerEnded(cause: "ended by the daemon", by: "system"))
        #expect(f.records == 1 && f.record?.cause == "daemon shutdown" && f.record?.outcome == "ivr")
    }

    @Test func theViewShowsHoldByTheCaller() throws {
        var f = try CallFixture()
        f.answer()
        f.send(.callerHold(true))
        #expect(f.session.displayState == "ivr")
        f.send(.release(cause: "x", by: "system"))
        var g = try CallFixture()
        g.send(.answered)
        g.send(.acked)
        g.send(.startService(.test))
        g.send(.callerHold(true))
        #expect(g.session.displayState == "held")
        g.send(.callerHold(false))
        #expect(g.session.displayState == "connected")
    }

    /// An operator's release while the agent rings: the record names the operator, the ringing
    /// leg is released and the ACD hears an abandon, all at once, before the caller answers our
    /// BYE; the caller's end then changes nothing.
    @Test func anOperatorReleasesARingingCall() throws {
        var f = try CallFixture()
        f.loginBoth()
        let reached = f.reachSales()
        let leg = try #require(reached)
        f.send(.legRinging(leg))
        f.send(.release(cause: "released by operator", by: "operator:alice"))
        #expect(f.callerHungUp && f.record?.by == "operator:alice" && f.record?.outcome == "abandoned")
        #expect(f.hungUp == [leg] && f.queueLog.filter { $0 == "ABANDON" }.count == 1)
        f.send(.callerEnded(cause: "ended by the daemon", by: "system"))
        #expect(f.hungUp == [leg] && f.queueLog.filter { $0 == "ABANDON" }.count == 1 && f.records == 1)
    }

    /// Keys go to the caller only while they talk to someone.
    @Test func keysToTheCallerOnlyWhileTalking() throws {
        var f = try CallFixture()
        f.loginBoth()
        f.answer()
        f.send(.sendDigits("12"))
        #expect(!f.actions.contains(.sendDigits("12")) && !f.session.canSendDigits)
        f.send(.key("1"))
        let leg = try #require(f.ringingLeg())
        f.pickUp(leg)
        f.send(.sendDigits("12"))
        #expect(f.actions.contains(.sendDigits("12")))
        f.send(.legHold(leg, true))
        #expect(!f.session.canSendDigits, "over the music on hold they would replace it")
    }
}
