import ACD
import Config
import Testing

@Suite struct GroupConfigurationTests {
    func parse(_ groups: String, agentExtra: String = "", _ overrides: [String: String] = [:]) throws(ConfigError) -> DaemonConfiguration {
        try DaemonConfiguration.parse("""
            [[trunks]]
            name = "t"
            addresses = ["127.0.0.1"]
            numbers = ["100"]

            \(groups)

            [[agents]]
            id = "1001"
            password = "p"
            skills = { sales = 8 }
            \(agentExtra)
            """, file: "test.toml", directory: "/etc/acdd", overrides: overrides)
    }

    @Test func everyQueueRuleIsRead() throws {
        let c = try parse("""
            [[groups]]
            name = "sales"
            strategy = "ring-all"
            ring_seconds = 20
            wrap_up_seconds = 30
            max_length = 25
            max_wait_seconds = 300
            overflow = "group:support"
            join_refused_when = "no-agents"
            leave_when = "all-paused"
            service_level_seconds = 30
            announce_seconds = 45
            tiers = [8, 5, 1]
            widen_after_seconds = 60
            exit_key = "0"
            exit_target = "voicemail:sales"

            [[groups]]
            name = "support"
            """, agentExtra: "wrap_up_seconds = 5")
        let s = c.groups[0]
        #expect(s.strategy == .ringAll && s.ringSeconds == 20 && s.wrapUpSeconds == 30 && s.maxLength == 25 && s.maxWaitSeconds == 300)
        #expect(s.overflow == .group("support") && s.joinRefusedWhen == .noAgents && s.leaveWhen == .allPaused)
        #expect(s.serviceLevelSeconds == 30 && s.announceSeconds == 45 && s.tiers == [8, 5, 1] && s.widenAfterSeconds == 60)
        #expect(s.exitKey == "0" && s.exitTarget == .voicemail("sales"))
        #expect(c.groups[1] == GroupSettings(name: "support").with { $0.wrapUpSeconds = 10 })
        #expect(c.acdSettings.agents[0].wrapUpSeconds == 5)
        #expect(try parse("[[groups]]\nname = \"sales\"", ["groups.0.tiers": "[9, 4]", "groups.0.widen_after_seconds": "30"]).groups[0].tiers == [9, 4])
    }

    @Test(arguments: [
        ("overflow = \"group:nowhere\"", "names no group 'nowhere'"),
        ("overflow = \"elsewhere\"", "overflow must be group:NAME"),
        ("strategy = \"fastest\"", "strategy must be one of longest-idle"),
        ("tiers = [5, 8]", "highest first"),
        ("tiers = [8, 5]", "widen_after_seconds"),
        ("exit_key = \"10\"", "exit_key must be one key"),
        ("leave_when = \"sometimes\"", "leave_when must be one of never, no-agents, all-paused"),
        ("announce_seconds = 3", "at least 10"),
        ("ring_seconds = 0", "ring_seconds must be between 1 and 600"),
        ("survey = \"yes\"", "survey must be true or false"),
    ])
    func badRulesAreRefusedWithTheirLine(_ line: String, _ mentions: String) {
        do {
            _ = try parse("[[groups]]\nname = \"sales\"\n\(line)")
            Issue.record("accepted: \(line)")
        } catch {
            #expect(error.description.contains(mentions), "\(error.description)")
            #expect(error.description.hasPrefix("test.toml:"), "\(error.description)")
        }
    }
}

extension GroupConfigurationTests {
    /// `survey = true` marks the group for the survey after the agent hangs up (C6); it needs
    /// the survey's prompts, which are checked with the rest.
    @Test func surveyGroupsAreReadAndNeedTheirPrompts() throws {
        let c = try parse("[[groups]]\nname = \"sales\"\nsurvey = true\n\n[[groups]]\nname = \"support\"")
        #expect(c.surveyGroups == ["sales"])
        #expect(try parse("[[groups]]\nname = \"sales\"").surveyGroups.isEmpty)
        #expect(try parse("[[groups]]\nname = \"sales\"", ["groups.0.survey": "true"]).surveyGroups == ["sales"])
        do {
            try c.checkPrompts { name, _ in name != "agent-was" }
            Issue.record("a survey group without the agent-was prompt was accepted")
        } catch {
            #expect(error.description.contains("survey = true, which needs the prompt 'agent-was'"), "\(error.description)")
        }
        try c.checkPrompts { _, _ in true }
    }
}

extension GroupSettings {
    func with(_ change: (inout GroupSettings) -> Void) -> GroupSettings {
        var copy = self
        change(&copy)
        return copy
    }
}
