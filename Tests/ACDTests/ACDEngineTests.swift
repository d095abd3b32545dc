import ACD
import Testing

@Suite struct AgentTransitionTests {
    enum State: String, CaseIterable { case loggedOut, ready, notReady, ringing, onCall, wrapUp }
    enum Command: String, CaseIterable { case login, logout, ready, pause, answer, decline, hangUp }

    /// One agent in one group with 30 s of wrap-up, brought to `state` by legal steps.
    static func agent(in state: State) throws -> Harness {
        var h = try Harness(configure: { $0.wrapUpSeconds = 30 }, levels: [5])
        switch state {
        case .loggedOut: break
        case .ready: try h.send(.agentLogin(agent: "a1", device: "d"))
        case .notReady:
            try h.send(.agentLogin(agent: "a1", device: "d"))
            try h.send(.agentPause(agent: "a1", reason: "lunch"))
        case .ringing, .onCall, .wrapUp:
            try h.send(.agentLogin(agent: "a1", device: "d"))
            try h.arrive("c1")
            if state != .ringing { try h.send(.agentAnswered(agent: "a1", call: "c1")) }
            if state == .wrapUp { try h.send(.agentHungUp(agent: "a1")) }
        }
        return h
    }

    static func event(_ c: Command) -> ACDEvent {
        switch c {
        case .login: .agentLogin(agent: "a1", device: "d")
        case .logout: .agentLogout(agent: "a1")
        case .ready: .agentReady(agent: "a1")
        case .pause: .agentPause(agent: "a1", reason: "break")
        case .answer: .agentAnswered(agent: "a1", call: "c1")
        case .decline: .agentDeclined(agent: "a1", call: "c1")
        case .hangUp: .agentHungUp(agent: "a1")
        }
    }

    /// FEATURES A2: the legal transitions and where they lead; everything else is refused.
    static let legal: [State: [Command: AgentStateName]] = [
        .loggedOut: [.login: .ready],
        .ready: [.logout: .loggedOut, .pause: .notReady],
        .notReady: [.logout: .loggedOut, .ready: .ready, .pause: .notReady],
        .ringing: [.logout: .loggedOut, .answer: .onCall, .decline: .notReady],
        .onCall: [.hangUp: .wrapUp],
        .wrapUp: [.logout: .loggedOut, .ready: .ready, .pause: .notReady],
    ]

    @Test(arguments: State.allCases)
    func everyCommandFrom(_ state: State) throws {
        for command in Command.allCases {
            var h = try Self.agent(in: state)
            if let expected = Self.legal[state]?[command] {
                try h.send(Self.event(command))
                #expect(h.agent("a1").state == expected, "\(state) + \(command)")
            } else {
                let before = h.engine.snapshot(now: h.now)
                let error = h.refuse(Self.event(command))
                #expect(error?.code == .illegalTransition, "\(state) + \(command): \(String(describing: error))")
                #expect(error?.message.contains("a1") == true)
                #expect(h.engine.snapshot(now: h.now).agents == before.agents, "a refusal changed nothing")
            }
        }
    }

    @Test func loginCanStartNotReadyAndUnknownAgentsAreRefused() throws {
        var h = try Harness(levels: [5])
        try h.send(.agentLogin(agent: "a1", device: "d", pausedReason: "training"))
        #expect(h.agent("a1").state == .notReady)
        #expect(h.agent("a1").reason == "training")
        #expect(h.refuse(.agentLogin(agent: "zz", device: "d"))?.code == .unknownAgent)
        #expect(h.refuse(.agentPause(agent: "a1", reason: ""))?.code == .invalid)
        #expect(h.events == ["AGENTLOGIN", "ADDMEMBER", "PAUSE"])
    }

    @Test func logoutWhileRingingPutsTheCallerBackAndLogsOff() throws {
        var h = try Harness(levels: [5, 5])
        try h.loginAll(["a1"])
        try h.arrive("c1")
        try h.send(.agentLogin(agent: "a2", device: "d2"))
        let out = try h.send(.agentLogout(agent: "a1"))
        #expect(out.contains(.cancelOffer(call: "c1", agent: "a1")))
        #expect(offers(out) == ["c1→a2"])
        #expect(h.events.suffix(3) == ["RINGCANCELED", "REMOVEMEMBER", "AGENTLOGOFF"])
        #expect(h.agent("a1").state == .loggedOut)
    }

    @Test func resetEndsWhatTheEngineBelievesAndPausesTheAgent() throws {
        var h = try Harness(levels: [5])
        try h.loginAll(["a1"])
        try h.arrive("c1")
        try h.send(.agentAnswered(agent: "a1", call: "c1"))
        let out = try h.send(.agentReset(agent: "a1"))
        #expect(out.contains(.endCall(call: "c1")))
        #expect(h.agent("a1").state == .notReady)
        #expect(h.agent("a1").reason == "reset")
        #expect(h.refuse(.callerHungUp(call: "c1"))?.code == .unknownCall)
    }
}

@Suite struct StrategyTests {
    @Test func longestIdleTakesWhoseLastCallEndedLongestAgo() throws {
        var h = try Harness(strategy: .longestIdle)
        try h.loginAll(["a1", "a2", "a3"])
        #expect(offeredAgents(try h.arrive("c1")) == ["a1"])
        try h.serve("c1", by: "a1")
        #expect(offeredAgents(try h.arrive("c2")) == ["a2"])
        try h.serve("c2", by: "a2")
        #expect(offeredAgents(try h.arrive("c3")) == ["a3"])
    }

    @Test func roundRobinRemembersWhereItWas() throws {
        var h = try Harness(strategy: .roundRobin)
        try h.loginAll(["a1", "a2", "a3"])
        var picked: [String] = []
        for i in 1...5 {
            let a = offeredAgents(try h.arrive("c\(i)"))
            picked += a
            try h.serve("c\(i)", by: a[0], talk: 1)
        }
        #expect(picked == ["a1", "a2", "a3", "a1", "a2"])
    }

    @Test func fewestCallsIgnoresIdleTime() throws {
        var h = try Harness(strategy: .fewestCalls)
        try h.loginAll(["a1"])
        for c in ["c1", "c2"] {
            #expect(offeredAgents(try h.arrive(c)) == ["a1"])
            try h.serve(c, by: "a1", talk: 5)
        }
        h.now += 100_000
        try h.loginAll(["a2"])  // idle for less time than a1, but no calls
        #expect(offeredAgents(try h.arrive("c3")) == ["a2"])
    }

    @Test func leastTalkTimeIgnoresIdleTime() throws {
        var h = try Harness(strategy: .leastTalkTime)
        try h.loginAll(["a1", "a2"])
        #expect(offeredAgents(try h.arrive("c1")) == ["a1"])
        try h.serve("c1", by: "a1", talk: 300)
        h.now += 100_000
        #expect(offeredAgents(try h.arrive("c2")) == ["a2"])
        try h.serve("c2", by: "a2", talk: 5)
        // a1 has been idle longer, but a2 has talked less.
        #expect(offeredAgents(try h.arrive("c3")) == ["a2"])
    }

    @Test func ringAllRingsEveryoneAndTheFirstAnswerWins() throws {
        var h = try Harness(strategy: .ringAll)
        try h.loginAll(["a1", "a2", "a3"])
        #expect(offeredAgents(try h.arrive("c1")) == ["a1", "a2", "a3"])
        let out = try h.send(.agentAnswered(agent: "a2", call: "c1"))
        #expect(out.contains(.cancelOffer(call: "c1", agent: "a1")))
        #expect(out.contains(.cancelOffer(call: "c1", agent: "a3")))
        #expect(h.agent("a1").state == .ready && h.agent("a3").state == .ready && h.agent("a2").state == .onCall)
        #expect(h.log.filter { $0.event == "RINGCANCELED" }.count == 2)
    }

    @Test func linearAlwaysStartsFromTheTop() throws {
        var h = try Harness(strategy: .linear)
        try h.loginAll(["a3", "a2", "a1"])  // login order does not matter
        for c in ["c1", "c2", "c3"] {
            #expect(offeredAgents(try h.arrive(c)) == ["a1"])
            try h.serve(c, by: "a1", talk: 1)
        }
        try h.arrive("c4")
        #expect(offeredAgents(try h.arrive("c5")) == ["a2"])
    }

    @Test func randomReachesEveryoneAndRepeatsWithTheSameSeed() throws {
        func run(seed: UInt64) throws -> [String] {
            var h = try Harness(groups: [{ var g = GroupSettings(name: "g"); g.strategy = .random; g.wrapUpSeconds = 0; return g }()],
                                agents: ["a1", "a2", "a3"].map { AgentSettings(id: $0, skills: [.init("g", 5)]) }, seed: seed)
            try h.loginAll(["a1", "a2", "a3"])
            var picked: [String] = []
            for i in 0..<300 {
                let a = offeredAgents(try h.arrive("c\(i)"))[0]
                picked.append(a)
                try h.serve("c\(i)", by: a, talk: 1)
            }
            return picked
        }
        let picked = try run(seed: 7)
        for a in ["a1", "a2", "a3"] { #expect(picked.filter { $0 == a }.count > 60, "\(a) picked too rarely") }
        #expect(try run(seed: 7) == picked)
        #expect(try run(seed: 8) != picked)
    }

    @Test func weightedRandomFollowsSkillLevels() throws {
        var h = try Harness(strategy: .weightedRandom, levels: [9, 1])
        try h.loginAll(["a1", "a2"])
        var a1 = 0
        for i in 0..<1000 {
            let a = offeredAgents(try h.arrive("c\(i)"))[0]
            if a == "a1" { a1 += 1 }
            try h.serve("c\(i)", by: a, talk: 1)
        }
        // Expected 900 of 1000; the bound is over 6 standard deviations (sqrt(1000*0.9*0.1) = 9.5).
        #expect((840...960).contains(a1), "a1 took \(a1) of 1000")
    }

    @Test func bestSkillTakesTheHighestLevelThenLongestIdle() throws {
        var h = try Harness(strategy: .bestSkill, levels: [5, 9, 9])
        try h.loginAll(["a1", "a2", "a3"])
        #expect(offeredAgents(try h.arrive("c1")) == ["a2"])
        #expect(offeredAgents(try h.arrive("c2")) == ["a3"])
        #expect(offeredAgents(try h.arrive("c3")) == ["a1"])
    }
}

@Suite struct QueueTests {
    /// Priorities and asked-for positions (Asterisk's rules): never ahead of a higher priority,
    /// FIFO among equals, and the twelfth caller refused by the maximum length of 11.
    @Test func twelveCallersTable() throws {
        var h = try Harness(configure: { $0.maxLength = 11; $0.overflow = .voicemail(nil) })
        let table: [(String, Int, Int?)] = [
            ("c1", 0, nil), ("c2", 0, nil), ("c3", 5, nil), ("c4", 0, 1), ("c5", 10, nil), ("c6", 5, nil),
            ("c7", 0, 3), ("c8", 5, 1), ("c9", 0, 100), ("c10", -1, nil), ("c11", 0, nil), ("c12", 10, 1),
        ]
        var last: [ACDAction] = []
        for (call, priority, position) in table { last = try h.arrive(call, priority: priority, position: position) }
        #expect(h.waiting() == ["c5", "c8", "c3", "c6", "c7", "c4", "c1", "c2", "c9", "c11", "c10"])
        #expect(last == [.leave(call: "c12", group: "g", reason: .full, then: .voicemail(nil))])
        #expect(h.group().stats.refused == 1)
        #expect(h.group().stats.entered == 11)
    }

    @Test func pausedAgentsAreNeverOffered() throws {
        var h = try Harness()
        try h.loginAll(["a1", "a2", "a3"])
        try h.send(.agentPause(agent: "a1", reason: "break"))
        try h.send(.agentPause(agent: "a2", reason: "lunch"))
        #expect(offeredAgents(try h.arrive("c1")) == ["a3"])
        #expect(offeredAgents(try h.arrive("c2")) == [])
        #expect(offeredAgents(try h.send(.agentReady(agent: "a2"))) == ["a2"])
    }

    @Test func wrapUpIsRespectedAndAnAgentsOwnTimeWins() throws {
        var g = GroupSettings(name: "g")
        g.wrapUpSeconds = 30
        var h = try Harness(groups: [g], agents: [AgentSettings(id: "a1", skills: [.init("g", 5)]), AgentSettings(id: "a2", skills: [.init("g", 5)], wrapUpSeconds: 5)])
        try h.loginAll(["a1"])
        try h.arrive("c1")
        try h.serve("c1", by: "a1")
        #expect(h.agent("a1").state == .wrapUp)
        try h.arrive("c2")
        #expect(offers(try h.advance(29.9)) == [])
        #expect(offers(try h.advance(0.1)) == ["c2→a1"])
        try h.send(.agentAnswered(agent: "a1", call: "c2"))
        try h.loginAll(["a2"])
        try h.arrive("c3")
        try h.serve("c3", by: "a2")
        try h.arrive("c4")
        #expect(offers(try h.advance(5)) == ["c4→a2"])
    }

    @Test func ringNoAnswerRequeuesAtTheHeadAndPausesTheAgent() throws {
        var h = try Harness(configure: { $0.ringSeconds = 15 })
        try h.loginAll(["a1", "a2"])
        #expect(offeredAgents(try h.arrive("c1")) == ["a1"])
        try h.arrive("c2")
        try h.send(.agentAnswered(agent: "a2", call: "c2"))
        try h.arrive("c3", position: 1)  // jumps ahead of the ringing c1
        #expect(h.waiting() == ["c3", "c1"])
        let out = try h.advance(15)
        #expect(out.contains(.cancelOffer(call: "c1", agent: "a1")))
        #expect(h.agent("a1").state == .notReady && h.agent("a1").reason == "rona")
        #expect(h.waiting() == ["c1", "c3"])
        #expect(h.log.contains { $0.event == "RINGNOANSWER" && $0.agent == "Agent/a1" && $0.data == ["15000"] })
        #expect(h.log.contains { $0.event == "PAUSE" && $0.data == ["rona"] })
        h.now += 10_000
        #expect(offers(try h.send(.agentHungUp(agent: "a2"))) == ["c1→a2"])
    }

    @Test func aCallerNeverRingsTwoAgentsOutsideRingAll() throws {
        var h = try Harness()
        try h.loginAll(["a1", "a2", "a3"])
        #expect(offeredAgents(try h.arrive("c1")).count == 1)
        try h.advance(15)  // RONA; offered to exactly one other
        #expect(h.engine.snapshot(now: h.now).waiting.first?.offeredTo.count == 1)
    }

    @Test func overflowOnTimeToAnotherGroupOrToVoicemail() throws {
        var sales = GroupSettings(name: "sales")
        sales.maxWaitSeconds = 30
        sales.overflow = .group("support")
        var support = GroupSettings(name: "support")
        support.maxWaitSeconds = 60
        support.overflow = .voicemail("support")
        var h = try Harness(groups: [sales, support], agents: [AgentSettings(id: "a1", skills: [.init("support", 5)])])
        try h.arrive("c1", group: "sales", priority: 3)
        let moved = try h.advance(30)
        #expect(moved.contains(.leave(call: "c1", group: "sales", reason: .timeout, then: .group("support"))))
        #expect(h.waiting("support") == ["c1"])
        #expect(h.engine.snapshot(now: h.now).waiting[0].priority == 3)
        #expect(h.events == ["ENTERQUEUE", "EXITWITHTIMEOUT", "ENTERQUEUE"])
        #expect(h.log[1].data == ["1", "1", "30"])
        let out = try h.advance(60)
        #expect(out.contains(.leave(call: "c1", group: "support", reason: .timeout, then: .voicemail("support"))))
        #expect(h.waiting("support").isEmpty)
        #expect(h.group("sales").stats.timedOut == 1 && h.group("support").stats.timedOut == 1)
    }

    @Test func maxWaitDoesNotCutARingShort() throws {
        var h = try Harness(configure: { $0.maxWaitSeconds = 20; $0.ringSeconds = 15 }, levels: [5])
        try h.arrive("c1")
        h.now += 10_000
        try h.loginAll(["a1"])  // c1 rings from t=10 s to t=25 s
        #expect(try h.advance(10).isEmpty)  // t=21: past max wait, but ringing
        try h.send(.agentAnswered(agent: "a1", call: "c1"))
        #expect(h.group().stats.answered == 1 && h.group().stats.timedOut == 0)
    }

    @Test func abandonWhileWaitingAndWhileRinging() throws {
        var h = try Harness(levels: [5])
        try h.send(.agentLogin(agent: "a1", device: "d", pausedReason: "break"))
        try h.arrive("c1")
        try h.arrive("c2")
        h.now += 12_000
        try h.send(.callerHungUp(call: "c1"))
        #expect(h.log.last == QueueLogEntry(call: "c1", queue: "g", event: "ABANDON", data: ["1", "1", "12"]))
        #expect(h.waiting() == ["c2"])
        try h.send(.agentReady(agent: "a1"))
        let out = try h.send(.callerHungUp(call: "c2"))
        #expect(out.contains(.cancelOffer(call: "c2", agent: "a1")))
        #expect(h.agent("a1").state == .ready)
        #expect(h.group().stats.abandoned == 2)
        #expect(h.waiting().isEmpty)
    }

    @Test func exitKeyTakesTheCallerToItsTarget() throws {
        var h = try Harness(configure: { $0.exitKey = "0"; $0.exitTarget = .voicemail(nil) })
        try h.arrive("c1")
        h.now += 7_000
        #expect(try h.send(.callerPressed(call: "c1", key: "5")).isEmpty)
        let out = try h.send(.callerPressed(call: "c1", key: "0"))
        #expect(out.contains(.leave(call: "c1", group: "g", reason: .key, then: .voicemail(nil))))
        #expect(h.log.last?.event == "EXITWITHKEY" && h.log.last?.data == ["0", "1", "1", "7"])
        #expect(h.group().stats.exitedKey == 1)
    }

    @Test func joinAndLeaveRulesWhenTheGroupIsEmpty() throws {
        var h = try Harness(configure: { $0.joinRefusedWhen = .noAgents; $0.leaveWhen = .allPaused; $0.overflow = .ivr("menu") }, levels: [5])
        #expect(try h.arrive("c1") == [.leave(call: "c1", group: "g", reason: .joinEmpty, then: .ivr("menu"))])
        #expect(!h.events.contains("ENTERQUEUE"))
        try h.loginAll(["a1"])
        try h.arrive("c2")
        try h.send(.agentDeclined(agent: "a1", call: "c2"))  // a1 goes not ready: no one is available
        #expect(h.events.suffix(3) == ["RINGNOANSWER", "PAUSE", "EXITEMPTY"])
        #expect(h.all.last == .leave(call: "c2", group: "g", reason: .empty, then: .ivr("menu")))
    }

    @Test func tiersWidenAfterTheConfiguredTimeKeepingThePlace() throws {
        var h = try Harness(configure: { $0.tiers = [8, 5]; $0.widenAfterSeconds = 20 }, levels: [5, 7, 9])
        try h.loginAll(["a1", "a2", "a3"])
        try h.send(.agentPause(agent: "a3", reason: "break"))
        #expect(offers(try h.arrive("c1")) == [])
        try h.arrive("c2")
        #expect(offers(try h.advance(19)) == [])
        // Both widened at once; c1 keeps its place ahead of c2 and gets the longest idle.
        #expect(offers(try h.advance(1)) == ["c1→a1", "c2→a2"])
    }

    @Test func requiredSkillsAndMinimumLevelsNarrowTheChoice() throws {
        let agents = [
            AgentSettings(id: "a1", skills: [.init("g", 9)]),
            AgentSettings(id: "a2", skills: [.init("g", 3), .init("french", 8)]),
            AgentSettings(id: "a3", skills: [.init("g", 6), .init("french", 4)]),
        ]
        var h = try Harness(groups: [GroupSettings(name: "g")], agents: agents)
        try h.loginAll(["a1", "a2", "a3"])
        #expect(offeredAgents(try h.send(.callArrived(CallArrival(call: "c1", group: "g", requiredSkills: [.init("french", 5)])))) == ["a2"])
        #expect(offeredAgents(try h.send(.callArrived(CallArrival(call: "c2", group: "g", requiredSkills: [.init("french", 1)], minimumLevel: 5)))) == ["a3"])
        #expect(offeredAgents(try h.send(.callArrived(CallArrival(call: "c3", group: "g", requiredSkills: [.init("french", 1)])))) == [])
        #expect(h.refuse(.callArrived(CallArrival(call: "c4", group: "nope")))?.code == .unknownGroup)
        #expect(h.refuse(.callArrived(CallArrival(call: "c3", group: "g")))?.code == .duplicateCall)
    }

    @Test func anAgentInSeveralGroupsTakesTheMostUrgentCaller() throws {
        var h = try Harness(
            groups: [GroupSettings(name: "sales"), GroupSettings(name: "support")],
            agents: [AgentSettings(id: "a1", skills: [.init("sales", 8), .init("support", 3)])])
        try h.arrive("s1", group: "sales")
        h.now += 1000
        try h.arrive("t1", group: "support")
        try h.arrive("t2", group: "support", priority: 5)
        #expect(offers(try h.send(.agentLogin(agent: "a1", device: "d"))) == ["t2→a1"])
        try h.serve("t2", by: "a1")
        h.now += 10_000
        #expect(offers(try h.send(.agentReady(agent: "a1"))) == ["s1→a1"])
    }
}

@Suite struct StatisticsTests {
    @Test func serviceLevelSpeedOfAnswerAndHandleTime() throws {
        var h = try Harness(configure: { $0.serviceLevelSeconds = 20; $0.wrapUpSeconds = 10 }, levels: [5])
        try h.send(.agentLogin(agent: "a1", device: "d", pausedReason: "setup"))
        try h.arrive("c1")
        h.now += 10_000
        try h.send(.agentReady(agent: "a1"))
        try h.serve("c1", by: "a1", talk: 50)  // waited 10 s
        try h.arrive("c2")
        try h.arrive("c3")
        try h.advance(20)  // wrap-up of 10 s ended at +10, c2 rings since then
        try h.send(.agentAnswered(agent: "a1", call: "c2"))  // waited 20 s
        try h.send(.callerHungUp(call: "c3"))
        let g = h.group()
        #expect(g.stats.answered == 2 && g.stats.abandoned == 1 && g.stats.answeredWithinServiceLevel == 2)
        #expect(g.serviceLevel == 2.0 / 3.0)
        #expect(g.averageSpeedOfAnswerSeconds == 15)
        #expect(g.averageHandleSeconds == 60)  // 50 s talk + 10 s wrap-up
        #expect(g.stats.entered == g.stats.answered + g.stats.abandoned + g.waiting)
        #expect(h.agent("a1").stats.answered == 2)
    }

    @Test func announcementsCarryPositionAndEstimatedWait() throws {
        var h = try Harness(configure: { $0.announceSeconds = 30 }, levels: [5])
        try h.loginAll(["a1"])
        try h.arrive("c1")
        try h.serve("c1", by: "a1", talk: 60)  // history: 60 s handle time
        try h.arrive("c2")
        try h.send(.agentAnswered(agent: "a1", call: "c2"))
        try h.arrive("c3")
        try h.arrive("c4")
        let out = try h.advance(30)
        #expect(out.contains(.announce(call: "c3", position: 1, estimatedWaitSeconds: 60)))
        #expect(out.contains(.announce(call: "c4", position: 2, estimatedWaitSeconds: 120)))
        #expect(h.group().estimatedWaitSeconds == 180)
        #expect(try h.advance(30).filter { if case .announce = $0 { true } else { false } }.count == 2)
    }
}

@Suite struct ConfigurationTests {
    @Test func reloadKeepsWaitingCallersAndRetiresWhatIsStillInUse() throws {
        var h = try Harness(groups: [GroupSettings(name: "g"), GroupSettings(name: "old")], agents: [
            AgentSettings(id: "a1", skills: [.init("g", 5)]), AgentSettings(id: "a2", skills: [.init("old", 5)]),
        ])
        try h.send(.agentLogin(agent: "a1", device: "d", pausedReason: "x"))
        try h.arrive("c1", group: "old")
        try h.arrive("c2")
        try h.arrive("c3")
        var g = GroupSettings(name: "g")
        g.strategy = .ringAll
        try h.send(.configure(ACDSettings(groups: [g], agents: [AgentSettings(id: "a1", skills: [.init("g", 5)]), AgentSettings(id: "a3", skills: [.init("g", 5)])])))
        #expect(h.waiting() == ["c2", "c3"])
        #expect(h.waiting("old") == ["c1"])
        #expect(h.group("old").retired)
        #expect(h.refuse(.callArrived(CallArrival(call: "c9", group: "old")))?.code == .unknownGroup)
        #expect(h.engine.snapshot(now: h.now).agents.map(\.id) == ["a1", "a3"])
        try h.send(.callerHungUp(call: "c1"))
        #expect(!h.engine.snapshot(now: h.now).groups.contains { $0.name == "old" })
        #expect(h.events.contains("CONFIGRELOAD"))
        #expect(h.group().strategy == .ringAll)
    }

    @Test func aRemovedAgentFinishesItsCallThenLeaves() throws {
        var h = try Harness(levels: [5, 5])
        try h.loginAll(["a1", "a2"])
        try h.arrive("c1")
        try h.send(.agentAnswered(agent: "a1", call: "c1"))
        try h.send(.configure(ACDSettings(groups: [GroupSettings(name: "g")], agents: [AgentSettings(id: "a2", skills: [.init("g", 5)])])))
        #expect(h.agent("a1").retired)
        try h.send(.agentHungUp(agent: "a1"))
        #expect(!h.engine.snapshot(now: h.now).agents.contains { $0.id == "a1" })
        #expect(h.log.last?.event == "AGENTLOGOFF")
    }

    @Test func skillChangesMoveAnAgentBetweenGroups() throws {
        var h = try Harness(groups: [GroupSettings(name: "sales"), GroupSettings(name: "support")], agents: [AgentSettings(id: "a1", skills: [.init("sales", 5)])])
        try h.loginAll(["a1"])
        try h.arrive("t1", group: "support")
        let out = try h.send(.agentSetSkills(agent: "a1", skills: [.init("support", 4)]))
        #expect(offers(out) == ["t1→a1"])
        #expect(h.events.suffix(2) == ["REMOVEMEMBER", "ADDMEMBER"])
        #expect(h.refuse(.agentSetSkills(agent: "a1", skills: [.init("support", 11)]))?.code == .invalid)
    }

    @Test func badSettingsAreRefusedWithTheirName() {
        #expect(throws: ACDError.self) {
            _ = try ACDEngine(settings: ACDSettings(groups: [GroupSettings(name: "g"), GroupSettings(name: "g")], agents: []))
        }
        do {
            _ = try ACDEngine(settings: ACDSettings(groups: [], agents: [AgentSettings(id: "a1", skills: [.init("g", 0)])]))
            Issue.record("a level of 0 was accepted")
        } catch {
            #expect(error.message.contains("a1"))
        }
    }
}

@Suite struct QueueLogFormatTests {
    @Test func asteriskLineFormat() {
        let e = QueueLogEntry(call: "c1", queue: "sales", agent: "Agent/1001", event: "CONNECT", data: ["5", "c1", "2"])
        #expect(e.line(epoch: 1_700_000_000) == "1700000000|c1|sales|Agent/1001|CONNECT|5|c1|2")
        #expect(QueueLogEntry(event: "CONFIGRELOAD").line(epoch: 1) == "1|NONE|NONE|NONE|CONFIGRELOAD")
        #expect(QueueLogEntry(call: "a|b", event: "X", data: ["line\nbreak"]).line(epoch: 1) == "1|a_b|NONE|NONE|X|line_break")
    }

    @Test func exitTargetsParse() {
        #expect(QueueExit("group:support") == .group("support"))
        #expect(QueueExit("voicemail") == .voicemail(nil))
        #expect(QueueExit("voicemail:sales") == .voicemail("sales"))
        #expect(QueueExit("ivr:menu") == .ivr("menu"))
        #expect(QueueExit("hangup") == .hangUp)
        for bad in ["", "group:", "queue:x", "ivr", "hangup:now"] { #expect(QueueExit(bad) == nil, "\(bad)") }
    }
}

@Suite struct ClockTests {
    /// Agents are logged out since the engine was made, on the shell's clock, not since time 0.
    @Test func timeInStateStartsAtCreation() throws {
        let e = try ACDEngine(settings: ACDSettings(groups: [GroupSettings(name: "g")], agents: [AgentSettings(id: "a1", skills: [])]), now: 7_000_000)
        #expect(e.snapshot(now: 7_003_000).agents[0].secondsInState == 3)
    }
}
