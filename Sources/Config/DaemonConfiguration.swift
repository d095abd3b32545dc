public import ACD
public import Media
public import IVR
import Foundation
public import SIP
public import SIPMessage
import TOML

/// Everything `acdd` is told by its configuration file and `--set` overrides. Built only through
/// `load`, which checks every value, so the rest of the daemon can trust it.
public struct DaemonConfiguration: Sendable, Equatable {
    public struct Daemon: Sendable, Equatable {
        public var logLevel: String
        /// SIGTERM: how long calls may go on before the daemon hangs them up.
        public var drainSeconds: Int
        /// Then: how long to wait for the hang-ups to be answered.
        public var stopSeconds: Int
        /// Calls at once past which new INVITEs get 503 with Retry-After (0: no cap).
        public var maxCalls = 0
        /// SIP-loop lateness that counts as overload (new calls get 503 until it passes); 0: off.
        public var overloadLagMilliseconds = 250
        public var overloadRetryAfterSeconds = 5
        /// Descriptors kept free: new INVITEs get 503 while fewer would be left (0: no check).
        public var descriptorReserve = 128
        /// Rows kept in memory while the database cannot be written; past it new calls get 503.
        public var recordsInMemory = 100_000
    }

    public struct Paths: Sendable, Equatable {
        public var state: String
        public var database: String
        public var controlSocket: String
        public var queueLog: String
        public var recordings: String
        public var prompts: String
    }

    public struct SIPSettings: Sendable, Equatable {
        public var listenHost: String
        public var listenPort: Int
        public var advertise: String
        public var realm: String
        public var tcp: Bool
        public var timers: SIPTimerValues
        public var limits: SIPParserLimits
        public var userAgent: String
        public var registrar: RegistrarPolicy
        public var nonceLifetime: Int
        public var algorithms: [DigestAlgorithm]
        /// RFC 4028 on calls we answer: the longest session interval (0: no timers) and the
        /// shortest we accept.
        public var sessionExpires = 1800
        public var minSE = 90
        /// SIP over TLS (issue 20): where it listens and the certificate files; nil: off.
        public var tls: TLS?

        public struct TLS: Sendable, Equatable {
            public var listenHost: String
            public var listenPort: Int
            public var files: SIPTLSFiles
        }
    }

    public struct Security: Sendable, Equatable {
        public var guardPolicy: SourceGuardPolicy
    }

    public struct Media: Sendable, Equatable {
        public var rtpPorts: ClosedRange<Int>
        public var address: String
        public var codecs: [AudioCodec]
        public var telephoneEvent: Bool
        public var ptime: Int
        /// A call with no RTP for this long is hung up; 0 turns the check off.
        public var timeoutSeconds: Int
        /// Average time between a leg's RTCP reports.
        public var rtcpIntervalSeconds: Int
        /// A test number that answers and sends the caller's audio back; nil for none.
        public var echoNumber: String?
        /// A test number that plays prompts (a key press interrupts them and is read back).
        public var playbackNumber: String?
        /// A test number whose callers are connected in pairs (the first hears ringback).
        public var bridgeNumber: String?
        /// A test number whose callers all join one conference.
        public var conferenceNumber: String?
        /// Callers per conference room on that number (0: all in one); 3 stands for a
        /// conference of three, as bench/ measures against a bridge.
        public var conferenceSize = 0
        /// Whose ringback, busy and congestion tones callers hear.
        public var tones: TonePlan

        public var capabilities: MediaCapabilities {
            MediaCapabilities(codecs: codecs, telephoneEvents: telephoneEvent, address: address, ptime: ptime)
        }
    }

    /// Messages callers leave (files under `<paths.recordings>/voicemail`).
    public struct Voicemail: Sendable, Equatable {
        /// Longest message kept; the caller hears "saved" when it is reached.
        public var maxSeconds: Int
    }

    /// Recording of bridged calls (FEATURES R1–R3), under `<paths.recordings>/YYYY/MM/DD`.
    public struct Recording: Sendable, Equatable {
        public var enabled: Bool
        /// 2: caller left, agent right; 1: mixed.
        public var channels: Int
        /// Recordings older than this are deleted (their index rows say so); 0 keeps them.
        public var retentionDays: Int
        /// Longest recording kept per call.
        public var maxSeconds: Int
    }

    /// The CRM store (FEATURES M1–M3, C7): where it listens and how long a lookup may take.
    public struct CRM: Sendable, Equatable {
        public var enabled: Bool
        public var socket: String
        public var lookupTimeoutMilliseconds: Int
        public var vipPriority: Int
        /// Route a customer to the agent their record names, when logged in and in the group.
        public var ownAgent: Bool
        /// The most events that wait for a store that is away (0: no cap): past it new events
        /// are dropped and counted, except each call's `call.ended`.
        public var outboxMaxEvents = 1_000_000
    }

    /// Billing reports (FEATURES B2): the tariff table, read when a report is made.
    public struct Billing: Sendable, Equatable {
        /// A CSV file: prefix,name,per_minute,increment,minimum_charge,connection_fee.
        public var tariffs: String?
        public var currency: String
        /// Which number the tariff matches: `caller` (what the carrier charges for an inbound
        /// call from that origin) or `called`.
        public var rateBy: String
    }

    /// The prompt set: which language callers hear by default and which music on hold.
    public struct Prompts: Sendable, Equatable {
        public var language: String
        public var musicOnHold: String

        public init(language: String, musicOnHold: String) {
            self.language = language
            self.musicOnHold = musicOnHold
        }
    }

    public struct Control: Sendable, Equatable {
        public var socketPath: String
        /// Permission bits of the socket file.
        public var mode: Int
        /// Group allowed in besides root and the daemon's own user; nil for none.
        public var group: String?
    }

    /// A carrier connection: who may send us calls, and to which numbers.
    public struct Trunk: Sendable, Equatable {
        public var name: String
        public var addresses: [IPNetwork]
        public var numbers: [String]
        /// Trunks that authenticate instead of (or besides) coming from a known address.
        public var username: String?
        public var password: String?
        /// How this carrier sends key presses: RFC 4733 events, or tones in the audio.
        public var inbandDTMF: Bool
        /// Where calls to external numbers go out (agents on their mobile, forwarding), if this
        /// trunk carries them: an IP address and port.
        public var outboundHost: String?
        public var outboundPort: Int?
        /// `outbound` given as a DNS name (issue 20): resolved by the daemon (SRV, then A/AAAA,
        /// RFC 3263), with the port when one was written.
        public var outboundName: String?
        /// How `outbound` and the registrars are reached: UDP (the default), TCP or TLS.
        public var transport: SIPTransportKind = .udp
        /// OPTIONS to the outbound address every this many seconds (0: off), and how many
        /// failures in a row mark the trunk down (issue 20).
        public var keepaliveSeconds: Int = 0
        public var keepaliveFailures: Int = 3
        /// Outbound routes (issue 19): the number prefixes this trunk carries (empty: any), and
        /// the caller id our calls out on it show.
        public var prefixes: [String] = []
        public var callerID: String?
        /// Registration with the carrier (issue 20): the registrars to REGISTER with, in order of
        /// preference (empty: the trunk does not register), the seconds asked for, and the domain
        /// of our address of record (default: the first registrar's address).
        public var registrars: [HostPort] = []
        public var registerExpires = 600
        public var registerDomain: String?
    }

    public struct HostPort: Sendable, Equatable {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    public struct Agent: Sendable, Equatable {
        public var id: String
        public var name: String
        public var password: String
        /// Skill group → level (1–10), in written order.
        public var skills: [Skill]
        /// After-call work; overrides the group's when set.
        public var wrapUpSeconds: Int?
        /// Call forwarding (FEATURES A7): devices as `acdctl agent login --device` takes them.
        public var forwarding = Forwarding()

        public struct Forwarding: Sendable, Equatable {
            /// Every offered call rings this device instead of the agent's own.
            public var always: String?
            /// When the agent's phone is busy (486, 600, 603).
            public var busy: String?
            /// When the phone has rung `noAnswerSeconds` unanswered (keep it under the group's
            /// `ring_seconds`, after which the ACD takes the call back).
            public var noAnswer: String?
            public var noAnswerSeconds: Int = 10
            public init() {}
        }

        public struct Skill: Sendable, Equatable {
            public var group: String
            public var level: Int
        }
    }

    public var source: String
    public var daemon: Daemon
    public var paths: Paths
    public var sip: SIPSettings
    public var security: Security
    public var media: Media
    public var prompts: Prompts
    public var control: Control
    public var trunks: [Trunk]
    /// Skill groups with their queue rules, in written order.
    public var groups: [GroupSettings]
    /// Groups whose callers take the satisfaction survey when the agent hangs up first (C6).
    /// Kept beside the ACD's settings, not in them: the ACD never sees the survey.
    public var surveyGroups: Set<String> = []
    public var agents: [Agent]
    public var voicemail: Voicemail
    public var recording: Recording
    public var crm: CRM
    public var billing: Billing
    /// The IVR: nodes, the numbers that enter them, and schedules.
    public var ivr: IVRFlow
    /// Where each IVR node is written (`file:line`), for errors found later (prompt files).
    public var ivrLines: [String: String]

    /// The routing strategies a group may use (FEATURES A3).
    public static let strategies = RoutingStrategy.allCases.map(\.rawValue)

    /// What the ACD engine is configured with.
    public var acdSettings: ACDSettings {
        ACDSettings(
            groups: groups,
            agents: agents.map { a in
                AgentSettings(id: a.id, name: a.name, skills: a.skills.map { .init($0.group, $0.level) }, wrapUpSeconds: a.wrapUpSeconds)
            })
    }

    public func agent(_ id: String) -> Agent? { agents.first { $0.id == id } }

    /// The trunk a call from `ip` to `number` belongs to, if its address is listed.
    public func trunk(from ip: String, to number: String?) -> Trunk? {
        trunks.first { t in t.addresses.contains { $0.contains(ip: ip) } && (number.map { t.numbers.contains($0) } ?? true) }
    }
}

extension DaemonConfiguration {
    /// Reads and checks a configuration file with command-line overrides (`key` → raw text).
    public static func load(path: String, overrides: [String: String] = [:]) throws(ConfigError) -> DaemonConfiguration {
        let display = path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError("cannot read the file", at: display)
        }
        guard let text = String(data: data, encoding: .utf8) else { throw ConfigError("the file is not UTF-8 text", at: display) }
        return try parse(text, file: display, directory: ((path as NSString).deletingLastPathComponent as NSString).isAbsolutePath
            ? (path as NSString).deletingLastPathComponent
            : ((FileManager.default.currentDirectoryPath as NSString).appendingPathComponent((path as NSString).deletingLastPathComponent) as NSString).standardizingPath,
            overrides: overrides)
    }

    /// Parses configuration text; `directory` anchors relative paths.
    public static func parse(_ text: String, file: String, directory: String, overrides: [String: String] = [:]) throws(ConfigError) -> DaemonConfiguration {
        let table: TOMLTable
        do { table = try TOMLParser.parse(text) } catch { throw ConfigError(error.message, at: "\(file):\(error.position.line)") }
        let set = OverrideSet(overrides)
        let root = ConfigReader(file: file, table: table, path: [], position: TOMLPosition(line: 1, column: 1), overrides: set)
        let config = try read(root, file: file, directory: directory)
        try root.finish()
        try set.checkAllUsed()
        return config
    }

    private static func read(_ root: ConfigReader, file: String, directory: String) throws(ConfigError) -> DaemonConfiguration {
        // [daemon]
        let d = try root.section("daemon")
        let logLevel = try d.string("log_level", default: "info")
        guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(logLevel) else {
            throw d.error("log_level must be one of trace, debug, info, notice, warning, error, critical", key: "log_level")
        }
        let daemon = Daemon(
            logLevel: logLevel, drainSeconds: try d.integer("drain_seconds", default: 10, range: 0...3600),
            stopSeconds: try d.integer("stop_seconds", default: 5, range: 1...600),
            maxCalls: try d.integer("max_calls", default: 0, range: 0...1_000_000),
            overloadLagMilliseconds: try d.integer("overload_lag_ms", default: 250, range: 0...60_000),
            overloadRetryAfterSeconds: try d.integer("overload_retry_after", default: 5, range: 1...3600),
            descriptorReserve: try d.integer("descriptor_reserve", default: 128, range: 0...1_000_000),
            recordsInMemory: try d.integer("records_in_memory", default: 100_000, range: 1...10_000_000))
        try d.finish()

        // [paths]
        let p = try root.section("paths")
        let state = try p.path("state", relativeTo: directory) ?? (directory as NSString).appendingPathComponent("state")
        func under(_ key: String, _ name: String) throws(ConfigError) -> String {
            try p.path(key, relativeTo: directory) ?? (state as NSString).appendingPathComponent(name)
        }
        let paths = Paths(
            state: state, database: try under("database", "acdd.sqlite"), controlSocket: try under("control_socket", "acdd.sock"),
            queueLog: try under("queue_log", "queue_log"), recordings: try under("recordings", "recordings"),
            prompts: try p.path("prompts", relativeTo: directory) ?? (directory as NSString).appendingPathComponent("prompts"))
        try p.finish()

        // [sip]
        let s = try root.section("sip")
        let listen = try s.string("listen", default: "127.0.0.1:5060")
        guard let (host, port) = parseHostPort(listen) else {
            throw s.error("listen must be ADDRESS:PORT with an IP address, such as 127.0.0.1:5060 or [::1]:5060, not '\(listen)'", key: "listen")
        }
        let wildcard = host == "0.0.0.0" || host == "::"
        let advertise = try s.string("advertise") ?? (wildcard ? "" : host)
        if advertise.isEmpty { throw s.error("advertise is needed when listening on all addresses (\(host))", key: "listen") }
        let transports = try s.strings("transports") ?? ["udp", "tcp"]
        for t in transports where !["udp", "tcp"].contains(t.lowercased()) {
            throw s.error("transports may hold \"udp\" and \"tcp\", not '\(t)'", key: "transports")
        }
        guard transports.map({ $0.lowercased() }).contains("udp") else { throw s.error("transports must include udp", key: "transports") }
        let t1 = try s.integer("t1_ms", default: 500, range: 50...10_000)
        let t2 = try s.integer("t2_ms", default: 4000, range: t1...60_000)
        let t4 = try s.integer("t4_ms", default: 5000, range: 100...60_000)
        let limits = SIPParserLimits(
            maxMessageBytes: try s.integer("max_message_bytes", default: 65_535, range: 1500...1_048_576),
            maxHeaderLines: try s.integer("max_header_lines", default: 128, range: 16...4096),
            maxLineBytes: try s.integer("max_line_bytes", default: 8192, range: 256...65_536))
        let r = try s.section("registrar")
        let minExpires = try r.integer("min_expires", default: 60, range: 1...86_400)
        let maxExpires = try r.integer("max_expires", default: 3600, range: minExpires...604_800)
        let registrar = RegistrarPolicy(
            minExpires: minExpires, maxExpires: maxExpires,
            defaultExpires: try r.integer("default_expires", default: 3600, range: minExpires...maxExpires),
            maxContactsPerAOR: try r.integer("max_contacts", default: 10, range: 1...100))
        let nonceLifetime = try r.integer("nonce_lifetime", default: 300, range: 10...86_400)
        var algorithms: [DigestAlgorithm] = []
        // MD5 alone by default: Debian 12's baresip (libre) gives up on the whole challenge set when
        // any challenge is not MD5, and SIPp 3.6 answers only the first; see docs/configuration.md.
        for name in try r.strings("algorithms") ?? ["MD5"] {
            guard let a = DigestAlgorithm(name: name) else { throw r.error("algorithms may hold \"SHA-256\" and \"MD5\", not '\(name)'", key: "algorithms") }
            algorithms.append(a)
        }
        if algorithms.isEmpty { throw r.error("algorithms must not be empty", key: "algorithms") }
        try r.finish()
        let sessionExpires = try s.integer("session_expires", default: 1800, range: 0...86_400)
        let minSE = try s.integer("min_se", default: 90, range: 90...86_400)
        if sessionExpires > 0 && sessionExpires < minSE {
            throw s.error("session_expires (\(sessionExpires)) must be 0 (off) or at least min_se (\(minSE))", key: "session_expires")
        }
        var sip = SIPSettings(
            listenHost: host, listenPort: port, advertise: advertise, realm: try s.string("realm", default: "acdd"),
            tcp: transports.map { $0.lowercased() }.contains("tcp"),
            timers: SIPTimerValues(t1: .milliseconds(t1), t2: .milliseconds(t2), t4: .milliseconds(t4)), limits: limits,
            userAgent: try s.string("user_agent", default: "acdd"), registrar: registrar, nonceLifetime: nonceLifetime, algorithms: algorithms)
        sip.sessionExpires = sessionExpires
        sip.minSE = minSE
        if let tlsListen = try s.string("tls_listen"), !tlsListen.isEmpty {
            guard let (th, tp) = parseHostPort(tlsListen) else {
                throw s.error("tls_listen must be ADDRESS:PORT with an IP address, such as 127.0.0.1:5061, not '\(tlsListen)'", key: "tls_listen")
            }
            if th == host && tp == port && tp != 0 { throw s.error("tls_listen must be another port than listen (\(listen))", key: "tls_listen") }
            guard let certificate = try s.path("tls_certificate", relativeTo: directory) else {
                throw s.error("tls_listen needs tls_certificate (a PEM file: our certificate chain)", key: "tls_certificate")
            }
            guard let key = try s.path("tls_key", relativeTo: directory) else {
                throw s.error("tls_listen needs tls_key (a PEM file: the certificate's private key)", key: "tls_key")
            }
            sip.tls = SIPSettings.TLS(
                listenHost: th, listenPort: tp, files: SIPTLSFiles(certificate: certificate, key: key, ca: try s.path("tls_ca", relativeTo: directory)))
        } else {
            for k in ["tls_certificate", "tls_key", "tls_ca"] {
                if try s.string(k) != nil { throw s.error("\(k) is used only with tls_listen", key: k) }
            }
        }
        try s.finish()

        // [media]
        let m = try root.section("media")
        let portsText = try m.string("rtp_ports", default: "30000-30999")
        let bounds = portsText.split(separator: "-").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard bounds.count == 2, let lo = bounds[0], let hi = bounds[1], lo >= 1024, hi <= 65535, hi - lo >= 3 else {
            throw m.error("rtp_ports must be LOW-HIGH within 1024-65535 with at least 4 ports, not '\(portsText)'", key: "rtp_ports")
        }
        var codecs: [AudioCodec] = []
        for name in try m.strings("codecs") ?? ["PCMU", "PCMA"] {
            guard let c = AudioCodec(rawValue: name.uppercased()) else { throw m.error("codecs may hold PCMU, PCMA and G722, not '\(name)'", key: "codecs") }
            codecs.append(c)
        }
        if codecs.isEmpty { throw m.error("codecs must not be empty", key: "codecs") }
        let toneName = try m.string("tones", default: "us")
        guard let tones = TonePlan(rawValue: toneName) else {
            throw m.error("tones must be one of \(TonePlan.allCases.map(\.rawValue).joined(separator: ", ")), not '\(toneName)'", key: "tones")
        }
        var media = Media(
            rtpPorts: lo...hi, address: try m.string("address") ?? advertise, codecs: codecs,
            telephoneEvent: try m.bool("telephone_event", default: true), ptime: try m.integer("ptime", default: 20, range: 10...60),
            timeoutSeconds: try m.integer("timeout_seconds", default: 30, range: 0...3600),
            rtcpIntervalSeconds: try m.integer("rtcp_interval_seconds", default: 5, range: 1...60), echoNumber: try m.string("echo_number"),
            playbackNumber: try m.string("playback_number"), bridgeNumber: try m.string("bridge_number"),
            conferenceNumber: try m.string("conference_number"), tones: tones)
        media.conferenceSize = try m.integer("conference_size", default: 0, range: 0...1000)
        guard IPNetwork.parseAddress(media.address) != nil else { throw m.error("address must be an IP address, not '\(media.address)'", key: "address") }
        try m.finish()

        // [prompts]
        let pr = try root.section("prompts")
        let language = try pr.string("language", default: "en")
        guard !language.isEmpty, !language.contains("/"), language != ".", language != ".." else {
            throw pr.error("language must be a folder name under paths.prompts, not '\(language)'", key: "language")
        }
        let prompts = Prompts(language: language, musicOnHold: try pr.string("music_on_hold", default: "default"))
        try pr.finish()

        // [voicemail]
        let vm = try root.section("voicemail")
        let voicemail = Voicemail(maxSeconds: try vm.integer("max_seconds", default: 120, range: 5...3600))
        try vm.finish()

        // [recording]
        let rec = try root.section("recording")
        let format = try rec.string("format", default: "stereo")
        guard format == "stereo" || format == "mono" else { throw rec.error("format must be \"stereo\" or \"mono\", not '\(format)'", key: "format") }
        let recording = Recording(
            enabled: try rec.bool("enabled", default: true), channels: format == "stereo" ? 2 : 1,
            retentionDays: try rec.integer("retention_days", default: 0, range: 0...36_500),
            maxSeconds: try rec.integer("max_hours", default: 4, range: 1...24) * 3600)
        try rec.finish()

        // [crm]
        let cr = try root.section("crm")
        let crm = CRM(
            enabled: try cr.bool("enabled", default: true),
            socket: try cr.path("socket", relativeTo: directory) ?? (state as NSString).appendingPathComponent("crm.sock"),
            lookupTimeoutMilliseconds: try cr.integer("lookup_timeout_ms", default: 200, range: 10...5000),
            vipPriority: try cr.integer("vip_priority", default: 10, range: 0...100), ownAgent: try cr.bool("own_agent", default: true),
            outboxMaxEvents: try cr.integer("outbox_max_events", default: 1_000_000, range: 0...100_000_000))
        try cr.finish()

        // [billing]
        let bi = try root.section("billing")
        let rateBy = try bi.string("rate_by", default: "caller")
        guard rateBy == "caller" || rateBy == "called" else { throw bi.error("rate_by must be \"caller\" or \"called\", not '\(rateBy)'", key: "rate_by") }
        let billing = Billing(tariffs: try bi.path("tariffs", relativeTo: directory), currency: try bi.string("currency", default: "EUR"), rateBy: rateBy)
        try bi.finish()

        // [control]
        let c = try root.section("control")
        let modeText = try c.string("mode", default: "0660")
        guard let mode = Int(modeText, radix: 8), (0...0o777).contains(mode) else { throw c.error("mode must be octal permission bits such as \"0660\", not '\(modeText)'", key: "mode") }
        let control = Control(
            socketPath: try c.path("socket", relativeTo: directory) ?? paths.controlSocket, mode: mode, group: try c.string("group"))
        try c.finish()

        // [[trunks]]
        var trunks: [Trunk] = []
        for t in try root.tables("trunks") {
            let name = try t.requiredString("name")
            if trunks.contains(where: { $0.name == name }) { throw t.error("trunk '\(name)' is defined twice", key: "name") }
            var networks: [IPNetwork] = []
            for a in try t.strings("addresses") ?? [] {
                guard let n = IPNetwork(a) else { throw t.error("'\(a)' is not an address or address/prefix", key: "addresses") }
                networks.append(n)
            }
            let numbers = try t.strings("numbers") ?? []
            if numbers.isEmpty { throw t.error("trunk '\(name)' needs numbers (the numbers it may call)", key: "numbers") }
            let username = try t.string("username")
            let password = try t.string("password")
            if (username == nil) != (password == nil) { throw t.error("username and password go together", key: username == nil ? "password" : "username") }
            if networks.isEmpty && username == nil { throw t.error("trunk '\(name)' needs addresses or username/password", key: "name") }
            let dtmf = try t.string("dtmf", default: "rfc4733")
            guard dtmf == "rfc4733" || dtmf == "inband" else { throw t.error("dtmf must be \"rfc4733\" or \"inband\", not '\(dtmf)'", key: "dtmf") }
            var outHost: String?
            var outPort: Int?
            var outName: String?
            if let outbound = try t.string("outbound") {
                if let (h, p) = parseHostPort(outbound) {
                    (outHost, outPort) = (h, p)
                } else if let (n, p) = parseNamePort(outbound) {
                    (outName, outPort) = (n, p)
                } else {
                    throw t.error(
                        "outbound must be ADDRESS:PORT (192.0.2.10:5060) or a DNS name with or without a port (sip.carrier.example), not '\(outbound)'", key: "outbound")
                }
            }
            let keepalive = try t.integer("keepalive_seconds", default: 0, range: 0...3600)
            if keepalive > 0 && outHost == nil && outName == nil { throw t.error("keepalive_seconds needs an outbound address to probe", key: "keepalive_seconds") }
            let failures = try t.integer("keepalive_failures", default: 3, range: 1...100)
            var trunk = Trunk(
                name: name, addresses: networks, numbers: numbers, username: username, password: password, inbandDTMF: dtmf == "inband",
                outboundHost: outHost, outboundPort: outPort)
            trunk.outboundName = outName
            let transport = try t.string("transport", default: "udp")
            guard let kind = SIPTransportKind(rawValue: transport.uppercased()) else {
                throw t.error("transport must be \"udp\", \"tcp\" or \"tls\", not '\(transport)'", key: "transport")
            }
            trunk.transport = kind
            trunk.keepaliveSeconds = keepalive
            trunk.keepaliveFailures = failures
            let prefixes = try t.strings("prefixes") ?? []
            for p in prefixes where p.isEmpty || !p.allSatisfy({ $0.isASCII && ($0.isNumber || "+*#".contains($0)) }) {
                throw t.error("prefixes are the digits numbers start with (0-9, +, *, #), not '\(p)'", key: "prefixes")
            }
            if !prefixes.isEmpty && outHost == nil && outName == nil { throw t.error("prefixes need an outbound address to send those numbers to", key: "prefixes") }
            trunk.prefixes = prefixes
            trunk.callerID = try t.string("caller_id")
            if let id = trunk.callerID, id.isEmpty || !id.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "+") }) {
                throw t.error("caller_id is a number (digits and +), not '\(id)'", key: "caller_id")
            }
            if try t.bool("register", default: false) {
                guard username != nil else { throw t.error("register needs the trunk's username and password", key: "register") }
                var list: [HostPort] = []
                for r in try t.strings("registrars") ?? [] {
                    guard let (h, p) = parseHostPort(r) else { throw t.error("registrars are ADDRESS:PORT with an IP address, not '\(r)'", key: "registrars") }
                    list.append(HostPort(host: h, port: p))
                }
                if list.isEmpty, let outHost { list = [HostPort(host: outHost, port: outPort ?? 5060)] }
                if list.isEmpty { throw t.error("register needs registrars (or an outbound address to register with)", key: "register") }
                trunk.registrars = list
                trunk.registerExpires = try t.integer("register_expires", default: 600, range: 30...86_400)
                trunk.registerDomain = try t.string("register_domain")
            }
            trunks.append(trunk)
            try t.finish()
        }

        // [[groups]]
        var groups: [GroupSettings] = []
        var exitTargets: [(QueueExit, String, ConfigReader)] = []
        var surveyGroups: Set<String> = []
        for g in try root.tables("groups") {
            let name = try g.requiredString("name")
            if groups.contains(where: { $0.name == name }) { throw g.error("group '\(name)' is defined twice", key: "name") }
            var s = GroupSettings(name: name)
            let strategy = try g.string("strategy", default: "longest-idle")
            guard let st = RoutingStrategy(rawValue: strategy) else {
                throw g.error("strategy must be one of \(strategies.joined(separator: ", ")), not '\(strategy)'", key: "strategy")
            }
            s.strategy = st
            s.ringSeconds = try g.integer("ring_seconds", default: 15, range: 1...600)
            s.wrapUpSeconds = try g.integer("wrap_up_seconds", default: 10, range: 0...3600)
            s.maxLength = try g.integer("max_length", default: 0, range: 0...100_000)
            s.maxWaitSeconds = try g.integer("max_wait_seconds", default: 0, range: 0...86_400)
            s.serviceLevelSeconds = try g.integer("service_level_seconds", default: 20, range: 1...3600)
            s.announceSeconds = try g.integer("announce_seconds", default: 0, range: 0...3600)
            if s.announceSeconds > 0 && s.announceSeconds < 10 { throw g.error("announce_seconds must be 0 (off) or at least 10", key: "announce_seconds") }
            for (key, rule) in [("join_refused_when", \GroupSettings.joinRefusedWhen), ("leave_when", \GroupSettings.leaveWhen)] {
                let text = try g.string(key, default: "never")
                guard let r = EmptyRule(rawValue: text) else {
                    throw g.error("\(key) must be one of \(EmptyRule.allCases.map(\.rawValue).joined(separator: ", ")), not '\(text)'", key: key)
                }
                s[keyPath: rule] = r
            }
            for (key, target) in [("overflow", \GroupSettings.overflow), ("exit_target", \GroupSettings.exitTarget)] {
                guard let text = try g.string(key) else { continue }
                guard let t = QueueExit(text) else {
                    throw g.error("\(key) must be group:NAME, voicemail, voicemail:BOX, ivr:NODE or hangup, not '\(text)'", key: key)
                }
                s[keyPath: target] = t
                exitTargets.append((t, key, g))
            }
            if let key = try g.string("exit_key") {
                guard key.count == 1, "0123456789*#".contains(key) else { throw g.error("exit_key must be one key: 0-9, * or #, not '\(key)'", key: "exit_key") }
                s.exitKey = key
            }
            if let key = try g.string("callback_key") {
                guard key.count == 1, "0123456789*#".contains(key) else { throw g.error("callback_key must be one key: 0-9, * or #, not '\(key)'", key: "callback_key") }
                if key == s.exitKey { throw g.error("callback_key and exit_key must differ (both are '\(key)')", key: "callback_key") }
                s.callbackKey = key
            }
            s.callbackAttempts = try g.integer("callback_attempts", default: 3, range: 1...20)
            s.callbackRetrySeconds = try g.integer("callback_retry_seconds", default: 300, range: 10...86_400)
            s.callbackMissedSeconds = try g.integer("callback_missed_seconds", default: 0, range: 0...86_400)
            s.tiers = try g.integers("tiers") ?? []
            guard s.tiers.allSatisfy({ (1...10).contains($0) }), s.tiers == s.tiers.sorted(by: >) else {
                throw g.error("tiers must be skill levels 1-10, highest first, such as [8, 5, 1]", key: "tiers")
            }
            s.widenAfterSeconds = try g.integer("widen_after_seconds", default: 0, range: 0...86_400)
            if try g.bool("survey", default: false) { surveyGroups.insert(name) }
            if s.tiers.count > 1 && s.widenAfterSeconds == 0 { throw g.error("tiers need widen_after_seconds (how long before the next tier)", key: "tiers") }
            groups.append(s)
            try g.finish()
        }
        for (target, key, g) in exitTargets {
            if case .group(let other) = target, !groups.contains(where: { $0.name == other }) {
                throw g.error("\(key) names no group '\(other)'", key: key)
            }
        }

        // [[agents]]
        var agents: [Agent] = []
        for a in try root.tables("agents") {
            let id = try a.requiredString("id")
            guard id.utf8.allSatisfy({ SIPUserChars.contains($0) }) else { throw a.error("id '\(id)' must be usable as a SIP user (letters, digits, - . _)", key: "id") }
            if agents.contains(where: { $0.id == id }) { throw a.error("agent '\(id)' is defined twice", key: "id") }
            let password = try a.requiredString("password")
            var skills: [Agent.Skill] = []
            for (group, level, where_) in try a.integerTable("skills") ?? [] {
                guard groups.contains(where: { $0.name == group }) else { throw ConfigError("skill '\(group)' names no group", at: where_) }
                guard (1...10).contains(level) else { throw ConfigError("skill level of '\(group)' must be 1-10, not \(level)", at: where_) }
                skills.append(Agent.Skill(group: group, level: level))
            }
            let wrap = try a.optionalInteger("wrap_up_seconds", range: 0...3600)
            var agent = Agent(id: id, name: try a.string("name", default: id), password: password, skills: skills, wrapUpSeconds: wrap)
            agent.forwarding.always = try a.string("forward_always")
            agent.forwarding.busy = try a.string("forward_busy")
            agent.forwarding.noAnswer = try a.string("forward_no_answer")
            agent.forwarding.noAnswerSeconds = try a.integer("forward_no_answer_seconds", default: 10, range: 1...600)
            for key in ["forward_always", "forward_busy", "forward_no_answer"] {
                if let v = try a.string(key), v.isEmpty { throw a.error("\(key) must not be empty", key: key) }
            }
            agents.append(agent)
            try a.finish()
        }

        // [[hours]] and [ivr]
        let schedules = try readHours(root)
        let (ivr, ivrLines) = try readIVR(root, groups: groups, schedules: schedules)

        // [security]
        let sec = try root.section("security")
        var trusted: [IPNetwork] = trunks.flatMap(\.addresses)
        for a in try sec.strings("trusted") ?? [] {
            guard let n = IPNetwork(a) else { throw sec.error("'\(a)' is not an address or address/prefix", key: "trusted") }
            trusted.append(n)
        }
        let guardPolicy = SourceGuardPolicy(
            trusted: trusted, messagesPerSecond: try sec.double("messages_per_second", default: 50, minimum: 1),
            burst: try sec.double("burst", default: 200, minimum: 1),
            failuresBeforeBlock: try sec.integer("failures_before_block", default: 20, range: 1...100_000),
            failureWindow: try sec.double("failure_window", default: 60, minimum: 1), blockSeconds: try sec.double("block_seconds", default: 300, minimum: 1))
        try sec.finish()

        var configuration = DaemonConfiguration(
            source: file, daemon: daemon, paths: paths, sip: sip, security: Security(guardPolicy: guardPolicy), media: media,
            prompts: prompts, control: control, trunks: trunks, groups: groups, agents: agents, voicemail: voicemail, recording: recording, crm: crm, billing: billing, ivr: ivr,
            ivrLines: ivrLines)
        configuration.surveyGroups = surveyGroups
        return configuration
    }

    /// `127.0.0.1:5060`, `[::1]:5060` or a bare address (port 5060).
    /// A DNS name (letters, digits, hyphens, dots; at most 253), with `:PORT` or without (nil).
    static func parseNamePort(_ text: String) -> (String, Int?)? {
        var name = text
        var port: Int?
        if let colon = text.lastIndex(of: ":") {
            guard let p = Int(text[text.index(after: colon)...]), (1...65535).contains(p) else { return nil }
            name = String(text[..<colon])
            port = p
        }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        guard name.count <= 253, labels.count >= 1, labels.allSatisfy({ l in
            !l.isEmpty && l.count <= 63 && l.first != "-" && l.last != "-" && l.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }), labels.last?.allSatisfy(\.isNumber) == false else { return nil }
        return (name.lowercased(), port)
    }

    static func parseHostPort(_ text: String) -> (String, Int)? {
        var host = text
        var port = 5060
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let p = Int(rest.dropFirst()) else { return nil }
                port = p
            }
        } else if let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") {
            host = String(text[..<colon])
            guard let p = Int(text[text.index(after: colon)...]) else { return nil }
            port = p
        }
        guard (0...65535).contains(port), IPNetwork.parseAddress(host) != nil else { return nil }
        return (host, port)
    }
}

private let SIPUserChars: Set<UInt8> = Set(Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._".utf8))
