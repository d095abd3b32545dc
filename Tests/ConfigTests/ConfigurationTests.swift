import Config
import Foundation
import SIP
import SIPMessage
import Testing

/// The package root, from this file's place in it.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

@Suite struct ConfigurationTests {
    let minimal = """
        [[trunks]]
        name = "t"
        addresses = ["127.0.0.1"]
        numbers = ["100"]

        [[groups]]
        name = "sales"

        [[agents]]
        id = "1001"
        password = "secret1001"
        skills = { sales = 8 }
        """

    func parse(_ text: String, _ overrides: [String: String] = [:]) throws(ConfigError) -> DaemonConfiguration {
        try DaemonConfiguration.parse(text, file: "test.toml", directory: "/etc/acdd", overrides: overrides)
    }

    /// The shipped default: trunk 100, agents 1001–1004 in both groups, everything under state/.
    @Test func defaultConfigurationIsTheContract() throws {
        let c = try DaemonConfiguration.load(path: "\(packageRoot)/config/acd.toml")
        #expect(c.sip.listenHost == "127.0.0.1" && c.sip.listenPort == 5060)
        // 100 is the contract; 600–603 are the echo, playback, bridge and conference test numbers (issue 3).
        #expect(c.trunks.map(\.numbers) == [["100", "600", "601", "602", "603"]])
        #expect(c.media.echoNumber == "600" && c.media.playbackNumber == "601" && c.media.bridgeNumber == "602" && c.media.conferenceNumber == "603" && c.media.timeoutSeconds == 30 && c.trunks.first?.inbandDTMF == false)
        #expect(c.media.tones == .us && c.prompts == .init(language: "en", musicOnHold: "default"))
        #expect(c.paths.prompts == "\(packageRoot)/prompts")
        #expect(c.trunk(from: "127.0.0.1", to: "100")?.name == "local")
        #expect(c.agents.map(\.id) == ["1001", "1002", "1003", "1004"])
        for a in c.agents {
            #expect(a.password == "secret\(a.id)")
            #expect(Set(a.skills.map(\.group)) == ["sales", "support"])
        }
        #expect(c.groups.map(\.name) == ["sales", "support"])
        #expect(c.paths.state == "\(packageRoot)/state")
        #expect(c.paths.controlSocket == "\(packageRoot)/state/acdd.sock")
        #expect(c.paths.queueLog == "\(packageRoot)/state/queue_log")
        #expect(c.control.socketPath == c.paths.controlSocket)
        #expect(c.media.rtpPorts == 30000...30999)
    }

    @Test func contractOverrides() throws {
        let c = try parse(minimal, ["sip.listen": "127.0.0.1:5080", "media.rtp_ports": "31000-31999", "paths.state": "/tmp/acd-x"])
        #expect(c.sip.listenPort == 5080)
        #expect(c.media.rtpPorts == 31000...31999)
        #expect(c.paths.state == "/tmp/acd-x" && c.paths.database == "/tmp/acd-x/acdd.sqlite" && c.control.socketPath == "/tmp/acd-x/acdd.sock")
    }

    @Test func overridesReachAnyValue() throws {
        let c = try parse(minimal, [
            "agents.0.password": "changed", "agents.0.skills": "{sales = 2}", "trunks.0.numbers": "100,200",
            "security.trusted": "[\"10.0.0.0/8\"]", "daemon.log_level": "debug", "media.telephone_event": "false", "sip.t1_ms": "250",
        ])
        #expect(c.agents[0].password == "changed" && c.agents[0].skills.first?.level == 2)
        #expect(c.trunks[0].numbers == ["100", "200"])
        #expect(c.security.guardPolicy.trusted.map(\.description).contains("10.0.0.0/8"))
        #expect(c.daemon.logLevel == "debug" && !c.media.telephoneEvent)
        #expect(c.sip.timers.t1 == .milliseconds(250))
    }

    @Test func relativePathsFollowTheirOrigin() throws {
        let c = try parse(minimal + "\n[paths]\nstate = \"var\"\n", [:])
        #expect(c.paths.state == "/etc/acdd/var")
        let o = try parse(minimal, ["paths.state": "rel"])
        #expect(o.paths.state == FileManager.default.currentDirectoryPath + "/rel")
    }

    /// Every fault names its line (or the override) and what is wrong.
    @Test(arguments: [
        ("[sip]\nlisten = \"nowhere\"", [:], "test.toml:2", "listen must be ADDRESS:PORT"),
        ("[sip]\nlisten = 5060", [:], "test.toml:2", "must be a string"),
        ("[sip]\nlisten = \"127.0.0.1:70000\"", [:], "test.toml:2", "listen"),
        ("[sip]\nlisten = \"0.0.0.0:5060\"", [:], "test.toml:2", "advertise is needed"),
        ("[sip]\nlistne = \"127.0.0.1:5060\"", [:], "test.toml:2", "unknown key 'listne'"),
        ("[media]\nrtp_ports = \"30000-30001\"", [:], "test.toml:2", "rtp_ports"),
        ("[media]\ncodecs = [\"G729\"]", [:], "test.toml:2", "codecs"),
        ("[daemon]\ndrain_seconds = -1", [:], "test.toml:2", "between 0 and 3600"),
        ("[sip]\nsession_expires = 60", [:], "test.toml:2", "must be 0 (off) or at least min_se (90)"),
        ("[sip]\nmin_se = 30", [:], "test.toml:2", "min_se"),
        ("[daemon]\nlog_level = \"loud\"", [:], "test.toml:2", "log_level"),
        ("[control]\nmode = \"rw\"", [:], "test.toml:2", "octal"),
        ("[[groups]]\nname = \"a\"\nstrategy = \"fastest\"", [:], "test.toml:3", "strategy must be one of"),
        ("[[groups]]\nname = \"a\"\n[[groups]]\nname = \"a\"", [:], "test.toml:4", "defined twice"),
        ("[[trunks]]\nname = \"t\"\naddresses = [\"127.0.0.1\"]\nnumbers = [\"1\"]\nkeepalive_seconds = 30", [:], "test.toml:5", "keepalive_seconds needs an outbound address"),
        ("[[trunks]]\nname = \"t\"\naddresses = [\"127.0.0.1\"]\nnumbers = [\"1\"]\noutbound = \"127.0.0.1:5070\"\nkeepalive_seconds = -5", [:], "test.toml:6", "keepalive_seconds"),
        ("[[trunks]]\nname = \"t\"\naddresses = [\"127.0.0.1\"]\nnumbers = [\"1\"]\noutbound = \"127.0.0.1:5070\"\nkeepalive_failures = 0", [:], "test.toml:6", "keepalive_failures"),
        ("[[trunks]]\nname = \"t\"\naddresses = [\"127.0.0.1\"]\nnumbers = [\"1\"]\nprefixes = [\"00\"]", [:], "test.toml:5", "prefixes need an outbound address"),
        ("[[trunks]]\nname = \"t\"\naddresses = [\"127.0.0.1\"]\nnumbers = [\"1\"]\noutbound = \"sip carrier\"", [:], "test.toml:5", "or a DNS name"),
        ("[[trunks]]\nname = \"t\"\naddresses = [\"127.0.0.1\"]\nnumbers = [\"1\"]\noutbound = \"-bad-.example\"", [:], "test.toml:5", "or a DNS name"),
        ("[[trunks]]\nname = \"t\"\naddresses = [\"127.0.0.1\"]\nnumbers = [\"1\"]\noutbound = \"carrier.example:99999\"", [:], "test.toml:5", "or a DNS name"),
        ("[[trunks]]\nname = \"t\"\naddresses = [\"127.0.0.1\"]\nnumbers = [\"1\"]\nregister = true", [:], "test.toml:5", "register needs the trunk's username"),
        ("[[trunks]]\nname = \"t\"\naddresses = [\"127.0.0.1\"]\nnumbers = [\"1\"]\noutbound = \"127.0.0.1:5070\"\nprefixes = [\"0x\"]", [:], "test.toml:6", "prefixes are the digits"),
        ("[[trunks]]\nname = \"t\"\naddresses = [\"127.0.0.1\"]\nnumbers = [\"1\"]\noutbound = \"127.0.0.1:5070\"\ncaller_id = \"sales line\"", [:], "test.toml:6", "caller_id is a number"),
        ("[[groups]]\nname = \"a\"\nexit_key = \"*\"\ncallback_key = \"*\"", [:], "test.toml:4", "callback_key and exit_key must differ"),
        ("[[groups]]\nname = \"a\"\ncallback_key = \"**\"", [:], "test.toml:3", "callback_key must be one key"),
        ("[[groups]]\nname = \"a\"\ncallback_attempts = 0", [:], "test.toml:3", "callback_attempts"),
        ("[[agents]]\nid = \"1\"", [:], "test.toml:1", "needs password"),
        ("[[agents]]\nid = \"x y\"\npassword = \"p\"", [:], "test.toml:2", "SIP user"),
        ("[[agents]]\nid = \"1\"\npassword = \"p\"\nskills = { nosuch = 3 }", [:], "test.toml:4", "names no group"),
        ("[[groups]]\nname = \"g\"\n[[agents]]\nid = \"1\"\npassword = \"p\"\nskills = { g = 11 }", [:], "test.toml:6", "1-10"),
        ("[[trunks]]\nname = \"t\"\nnumbers = [\"1\"]\naddresses = [\"bad address\"]", [:], "test.toml:4", "not an address"),
        ("[[trunks]]\nname = \"t\"\naddresses = [\"127.0.0.1\"]", [:], "test.toml:1", "needs numbers"),
        ("[security]\ntrusted = \"127.0.0.1\"", [:], "test.toml:2", "array of strings"),
        ("a = [1, 2", [:], "test.toml:1", "expected"),
        ("", ["sip.listen": "garbage"], "--set sip.listen", "listen must be"),
        ("", ["media.ptime": "twenty"], "--set media.ptime", "integer"),
        ("", ["media.timeout_seconds": "-1"], "--set media.timeout_seconds", "between 0 and 3600"),
        ("[[trunks]]\nname = \"t\"\naddresses = [\"127.0.0.1\"]\nnumbers = [\"1\"]\ndtmf = \"tones\"", [:], "test.toml:5", "dtmf must be"),
        ("", ["nosuch.key": "1"], "--set nosuch.key", "no such setting"),
        ("[media]\ntones = \"jp\"", [:], "test.toml:2", "tones must be one of us, eu, uk"),
        ("[prompts]\nlanguage = \"../etc\"", [:], "test.toml:2", "language must be a folder name"),
        ("", ["agents.5.password": "x"], "--set agents.5.password", "no such setting"),
    ] as [(String, [String: String], String, String)])
    func faultsAreLocated(_ text: String, _ overrides: [String: String], _ location: String, _ mentions: String) {
        do {
            _ = try parse(text, overrides)
            Issue.record("accepted")
        } catch {
            #expect(error.location == location, "\(error)")
            #expect(error.message.contains(mentions), "\(error)")
        }
    }

    /// `outbound` by DNS name (issue 20): with a port, or without (SRV first); registrars default to it.
    @Test func anOutboundNameIsKeptForTheResolver() throws {
        let c = try parse("[[trunks]]\nname = \"t\"\naddresses = [\"127.0.0.1\"]\nnumbers = [\"1\"]\noutbound = \"SIP.Carrier.example\"\nkeepalive_seconds = 30")
        #expect(c.trunks.first?.outboundName == "sip.carrier.example" && c.trunks.first?.outboundPort == nil && c.trunks.first?.outboundHost == nil)
        let p = try parse("[[trunks]]\nname = \"t\"\naddresses = [\"127.0.0.1\"]\nnumbers = [\"1\"]\noutbound = \"carrier.example:5080\"")
        #expect(p.trunks.first?.outboundName == "carrier.example" && p.trunks.first?.outboundPort == 5080)
        let r = try parse(
            "[[trunks]]\nname = \"t\"\nusername = \"u\"\npassword = \"p\"\nnumbers = [\"1\"]\nregister = true\nregistrars = [\"192.0.2.1:5060\", \"192.0.2.2:5080\"]\nregister_expires = 120")
        #expect(r.trunks.first?.registrars == [.init(host: "192.0.2.1", port: 5060), .init(host: "192.0.2.2", port: 5080)] && r.trunks.first?.registerExpires == 120)
    }

    @Test func missingFile() {
        #expect(throws: ConfigError("cannot read the file", at: "/nonexistent/acd.toml")) {
            try DaemonConfiguration.load(path: "/nonexistent/acd.toml")
        }
    }
}
