import Config
import Foundation
import IVR
import Testing

/// The IVR's part of the file: every node type read, and every way a flow cannot work refused
/// with the node's name and line.
@Suite struct IVRConfigurationTests {
    let base = """
        [[trunks]]
        name = "t"
        addresses = ["127.0.0.1"]
        numbers = ["100"]

        [[groups]]
        name = "sales"

        [[hours]]
        name = "office"
        time_zone = "Europe/Berlin"
        open = ["mon-fri 08:00-18:00"]
        holidays = ["12-25"]

        [ivr]
        entries = { "100" = "start" }

        """

    func parse(_ nodes: String, _ overrides: [String: String] = [:]) throws(ConfigError) -> DaemonConfiguration {
        try DaemonConfiguration.parse(base + nodes, file: "test.toml", directory: "/etc/acdd", overrides: overrides)
    }

    func refusal(_ nodes: String, _ overrides: [String: String] = [:]) -> ConfigError? {
        do {
            _ = try parse(nodes, overrides)
            return nil
        } catch {
            return error
        }
    }

    @Test func everyNodeTypeIsRead() throws {
        let c = try parse(
            """
            [ivr.nodes.start]
            type = "language"
            language = "en"
            next = "hours"

            [ivr.nodes.hours]
            type = "hours"
            schedule = "office"
            open = "menu"
            closed = "closed"

            [ivr.nodes.menu]
            type = "menu"
            prompts = ["main-menu"]
            choices = { "1" = "account", "2" = "survey", "*" = "menu-again", "0" = "voicemail" }
            timeout_seconds = 7
            retries = 1
            failure = "bye"

            [ivr.nodes.menu-again]
            type = "goto"
            next = "menu"

            [ivr.nodes.account]
            type = "collect"
            prompts = ["please-hold"]
            variable = "account"
            max_digits = 6
            min_digits = 4
            terminator = "#"
            next = "sales"
            failure = "bye"

            [ivr.nodes.sales]
            type = "route"
            group = "sales"
            priority = 5
            min_level = 3

            [ivr.nodes.survey]
            type = "survey"
            next = "bye"

            [ivr.nodes.closed]
            type = "play"
            prompts = ["closed"]
            barge_in = false
            next = "voicemail"

            [ivr.nodes.voicemail]
            type = "voicemail"
            box = "sales"

            [ivr.nodes.bye]
            type = "hangup"
            prompts = ["goodbye"]
            """)
        let flow = c.ivr
        #expect(flow.entries == ["100": "start"])
        #expect(flow.nodes.count == 10)
        guard case .menu(let m)? = flow.nodes["menu"] else { Issue.record("menu not read"); return }
        #expect(m.choices == ["1": "account", "2": "survey", "*": "menu-again", "0": "voicemail"] && m.timeoutSeconds == 7 && m.retries == 1 && m.failure == "bye")
        guard case .collect(let col)? = flow.nodes["account"] else { Issue.record("collect not read"); return }
        #expect(col.maxDigits == 6 && col.minDigits == 4 && col.terminator == "#" && col.variable == "account")
        #expect(flow.nodes["sales"] == .route(.init(group: "sales", priority: 5, minimumLevel: 3)))
        #expect(flow.nodes["closed"] == .play(prompts: ["closed"], bargeIn: false, next: "voicemail"))
        #expect(flow.nodes["voicemail"] == .voicemail(box: "sales", prompts: ["voicemail"]))
        #expect(flow.schedules["office"]?.timeZone.identifier == "Europe/Berlin")
    }

    @Test func unknownSuccessorIsRefusedAtTheNodesLine() {
        let e = refusal(
            """
            [ivr.nodes.start]
            type = "play"
            prompts = ["welcome"]
            next = "menu"
            """)
        #expect(e?.location == "test.toml:17")
        #expect(e?.message.contains("'start'") == true && e?.message.contains("'menu'") == true)
    }

    @Test func unreachableNodeIsNamed() {
        let e = refusal(
            """
            [ivr.nodes.start]
            type = "hangup"

            [ivr.nodes.orphan]
            type = "hangup"
            """)
        #expect(e?.message.contains("'orphan'") == true && e?.message.contains("no entry") == true)
        #expect(e?.location == "test.toml:20")
    }

    @Test func loopWithoutInputIsRefused() {
        let e = refusal(
            """
            [ivr.nodes.start]
            type = "play"
            prompts = ["welcome"]
            next = "again"

            [ivr.nodes.again]
            type = "goto"
            next = "start"
            """)
        #expect(e?.message.contains("never waits") == true)
    }

    @Test func badValuesAreRefused() {
        #expect(refusal("[ivr.nodes.start]\ntype = \"dance\"")?.message.contains("type must be one of") == true)
        #expect(refusal("[ivr.nodes.start]\ntype = \"route\"\ngroup = \"billing\"")?.message.contains("billing") == true)
        #expect(refusal("[ivr.nodes.start]\ntype = \"hours\"\nschedule = \"weekend\"\nopen = \"start\"\nclosed = \"start\"")?.message.contains("weekend") == true)
        #expect(refusal("[ivr.nodes.start]\ntype = \"menu\"\nchoices = { \"12\" = \"start\" }\nfailure = \"start\"")?.message.contains("one key") == true)
        #expect(refusal("[ivr.nodes.start]\ntype = \"hangup\"\ntypo = 1")?.message.contains("unknown key 'typo'") == true)
        #expect(refusal("[ivr.nodes.start]\ntype = \"hangup\"", ["hours.0.time_zone": "Mars/Base"])?.message.contains("time zone") == true)
        #expect(refusal("[ivr.nodes.start]\ntype = \"hangup\"", ["hours.0.open": "[\"mon-fri 9-5\"]"])?.message.contains("HH:MM") == true)
    }

    /// Prompt files are checked against the loaded set, with the node's line.
    @Test func missingPromptNamesTheNode() throws {
        let c = try parse(
            """
            [ivr.nodes.start]
            type = "play"
            prompts = ["welcome", "jingle"]
            next = "bye"

            [ivr.nodes.bye]
            type = "hangup"
            """)
        #expect(throws: ConfigError.self) { try c.checkPrompts { name, _ in name != "jingle" } }
        do {
            try c.checkPrompts { name, _ in name != "jingle" }
        } catch {
            #expect(error.location == "test.toml:17" && error.message.contains("jingle"))
        }
        try c.checkPrompts { _, _ in true }
    }

    /// The shipped default: welcome, hours (open around the clock), menu 1 sales, 2 support,
    /// 0 voicemail, closed message; and the office example schedule.
    @Test func theDefaultFlowIsTheContract() throws {
        let c = try DaemonConfiguration.load(path: "\(packageRoot)/config/acd.toml")
        #expect(c.ivr.entries == ["100": "welcome"])
        guard case .menu(let m)? = c.ivr.nodes["menu"] else { Issue.record("no menu"); return }
        #expect(m.choices == ["1": "sales", "2": "support", "0": "voicemail"])
        #expect(c.ivr.nodes["sales"] == .route(.init(group: "sales")) && c.ivr.nodes["support"] == .route(.init(group: "support")))
        #expect(c.ivr.nodes["hours"] == .hours(schedule: "always", open: "menu", closed: "closed"))
        let always = try #require(c.ivr.schedules["always"])
        for hour in 0..<(24 * 7) { #expect(always.isOpen(at: 1_795_000_000 + Double(hour) * 3600)) }
        #expect(c.ivr.schedules["office"] != nil)
    }
}
