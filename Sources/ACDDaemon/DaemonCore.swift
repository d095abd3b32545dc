import ACD
import Calls
import Config
import CRMBridge
import Control
import Foundation
import IVR
import Prompts
import Logging
import Media
import NIOCore
import NIOPosix
import Recording
import SIP
import SIPMessage
import Store
import Synchronization
import JSON

/// The running daemon: the SIP stack and everything on its loop, the database, the control socket.
///
/// Design note: this is a class marked `@unchecked Sendable` because its state lives on one event
/// loop (the SIP loop) and every method that touches it either runs there already or hops there
/// with `loop.submit`. That is the same single-owner rule the stack itself follows; an actor would
/// add a second executor between the control socket and the stack for no gain.
final class DaemonCore: @unchecked Sendable {
    static let version = "0.1.0"

    let configPath: String
    let overrides: [String: String]
    let logger: Logger
    let levelBox: LogLevelBox
    let notifier: SystemdNotifier
    /// SIP, the call sessions and the control socket: one NIO loop.
    let group: MultiThreadedEventLoopGroup
    let loop: any EventLoop
    /// RTP and RTCP: one media loop per core, made with the stack and stopped last.
    let media: MediaLoopGroup
    let startedAt = Date()

    // Owned by `loop`.
    private(set) var config: DaemonConfiguration
    private var transport: SIPTransportLayer!
    private var stack: SIPStack!
    private var scheduler: EventLoopScheduler!
    private var sourceGuard: SourceGuard!
    private var registrar: Registrar!
    private var options: OptionsResponder!
    private var sessions: SessionLayer!
    private(set) var calls: InboundCallService!
    /// One RTP port pool per media loop: call legs spread over every core.
    private var ports: RTPPortPools!
    /// Every prompt and music track, decoded; replaced whole on reload.
    private(set) var prompts: PromptStore!
    private var watchdogTask: RepeatedTask?
    private var draining = false

    private var database: ACDDatabase!
    private var bindingStore: SQLiteBindingStore!
    private var control: ControlServer?

    /// The ACD's own thread; set once in `start` before anything can reach it.
    private(set) var acd: ACDRunner!
    private var queueLog: QueueLogWriter!
    /// Voicemails (and later recordings) go to disk here, off every loop.
    private var recordingWriter: RecordingWriter!
    private var voicemails: VoicemailIndex!
    private(set) var callbackList: CallbackList!
    private(set) var campaignStore: CampaignStore!
    var dialer: CampaignDialer!
    /// Contact lists arriving in parts (a control line is at most 64 KiB), by upload id.
    let uploads = Mutex<[String: String]>([:])
    /// Call-detail records and the recordings' index, batched on a thread of their own.
    private var callRecordWriter: CallRecordWriter!
    private(set) var callRecords: CallRecords!
    private var retentionTask: RepeatedTask?
    /// Sends the outbox to the CRM store; nil with `crm.enabled = false`.
    private var crm: CRMClient?
    private var crmOutbox: CRMOutbox!
    /// Recordings that failed since start (an alarm each).
    private var recordingFailures = 0
    let events = EventHub()

    init(config: DaemonConfiguration, configPath: String, overrides: [String: String], logger: Logger, levelBox: LogLevelBox) throws {
        self.config = config
        self.configPath = configPath
        self.overrides = overrides
        self.logger = logger
        self.levelBox = levelBox
        self.notifier = SystemdNotifier()
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        loop = group.next()
        media = try MediaLoopGroup(count: max(1, System.coreCount))
    }

    // MARK: Subsystems
    //
    // Each subsystem starts once the one before it is up and stops once the ones after it are
    // down (Subsystems.swift runs them in a ServiceGroup in this order): the records first and
    // last, so nothing that writes outlives what it writes to; the control socket after SIP and
    // before the drain, so operators watch the drain.

    /// The database and everything that writes to it: bindings, voicemail index, CRM outbox and
    /// its client, call-detail records.
    func startRecords() throws {
        let limit = InboundCallService.raiseDescriptorLimit()
        if limit.after < 0 {
            logger.warning("could not raise the descriptor limit", metadata: ["descriptors.limit": "\(limit.before)", "error.errno": "\(-limit.after)"])
        } else if limit.after != limit.before {
            logger.info("descriptor limit raised to the hard limit", metadata: ["descriptors.before": "\(limit.before)", "descriptors.limit": "\(limit.after)"])
        }
        try FileManager.default.createDirectory(atPath: config.paths.state, withIntermediateDirectories: true)
        database = try ACDDatabase(path: config.paths.database)
        bindingStore = SQLiteBindingStore(database: database, logger: logger)
        voicemails = VoicemailIndex(database: database, logger: logger)
        callbackList = CallbackList(database: database, logger: logger)
        campaignStore = CampaignStore(database: database, logger: logger)
        crmOutbox = CRMOutbox(database: database)
        if config.crm.enabled { crm = CRMClient(socketPath: config.crm.socket, outbox: crmOutbox, logger: logger) }
        let client = crm
        let events = self.events
        callRecordWriter = CallRecordWriter(
            database: database, logger: logger, outboxCap: config.crm.enabled ? config.crm.outboxMaxEvents : 0, inMemoryCap: config.daemon.recordsInMemory,
            outboxCommitted: { client?.notify() },
            onOutboxFull: { waiting in events.publish("alarm", ["type": "crm_outbox_full", "outbox": JSONValue(waiting)]) },
            onWritesFailing: { error in events.publish("alarm", ["type": "records_not_written", "error": .string(error)]) })
        callRecords = CallRecords(database: database)
    }

    func stopRecords() {
        bindingStore?.flush()
        voicemails?.flush()
        callbackList?.flush()
        campaignStore?.flush()
        callRecordWriter?.close()
        crm?.stop()
    }

    func startRecording() { recordingWriter = RecordingWriter() }

    /// Messages cut short by the stop are completed and indexed (on the SIP loop) before the
    /// records stop.
    func stopRecording() async {
        recordingWriter?.stop()
        _ = try? await loop.submit {}.get()
    }

    /// Prompts and tariffs checked, the stack built, SIP listening.
    func startSIP() async throws {
        do {
            prompts = try Self.loadPrompts(config)
            _ = try ReportCommands.tariff(config.billing)
        } catch {
            throw StartError(error.description)
        }
        logger.info(
            "prompts loaded",
            metadata: [
                "prompts.directory": "\(prompts.directory)", "prompts.count": "\(prompts.count)",
                "prompts.seconds": "\(prompts.totalSamples / AudioClip.sampleRate)", "prompts.languages": "\(prompts.languages.joined(separator: ","))",
            ])
        try await loop.submit { try self.buildStack() }.get()
        do {
            try await loop.flatSubmit { self.transport.start() }.get()
        } catch {
            throw StartError("cannot listen for SIP on \(config.sip.listenHost):\(config.sip.listenPort): \(error)")
        }
        // What the daemon sends by itself to carriers starts once there is a socket to send on.
        try await loop.submit {
            self.calls.startTrunkResolution()
            self.calls.startTrunkKeepalive()
            self.calls.startTrunkRegistrations()
        }.get()
    }

    func stopSIP() async {
        try? await loop.submit { self.retentionTask?.cancel() }.get()
        try? await loop.flatSubmit { self.transport?.close() ?? self.loop.makeSucceededVoidFuture() }.get()
    }

    func startControl() async throws {
        control = try await ControlServer.start(
            path: config.control.socketPath, mode: config.control.mode, group: config.control.group,
            access: ControlAccess(operatorGroup: config.control.group).allows, handler: ControlCommands(core: self), loopGroup: group,
            logger: logger)
    }

    func stopControl() async { await control?.close() }

    /// Up: systemd hears we are ready, and the SIP loop pings its watchdog.
    func announceReady() async throws {
        let (port, tlsPort) = try await loop.submit { (self.transport.port, self.transport.tlsPort) }.get()
        logger.info(
            "acdd ready",
            metadata: [
                "acdd.version": "\(Self.version)", "sip.listen": "\(config.sip.listenHost):\(port)", "sip.tcp": "\(config.sip.tcp)",
                "sip.tls_listen": "\(config.sip.tls.map { "\($0.listenHost):\(tlsPort)" } ?? "off")",
                "control.socket": "\(config.control.socketPath)", "paths.state": "\(config.paths.state)", "config": "\(configPath)",
            ])
        notifier.ready(status: "listening on \(config.sip.listenHost):\(port)")
        if let interval = notifier.watchdogInterval {
            // Pinged from the SIP loop itself: if that loop stalls, systemd notices and restarts us.
            try await loop.submit {
                self.watchdogTask = self.loop.scheduleRepeatedTask(initialDelay: .zero, delay: .nanoseconds(Int64(interval.components.seconds * 1_000_000_000 + interval.components.attoseconds / 1_000_000_000))) { _ in
                    self.notifier.watchdog()
                }
            }.get()
        }
    }

    func stopWatchdog() async {
        notifier.stopping(status: "draining calls")
        try? await loop.submit { self.watchdogTask?.cancel() }.get()
    }

    /// The queue log, then the engine on its thread. Its actions come back on that thread: queue
    /// log lines go to the writer's inbox and events to subscribers; neither waits.
    func startACD() throws {
        queueLog = try QueueLogWriter(path: config.paths.queueLog, database: database, logger: logger)
        let engine: ACDEngine
        do {
            engine = try ACDEngine(settings: config.acdSettings, seed: UInt64.random(in: 1...UInt64.max), now: ACDRunner.monotonicMilliseconds())
        } catch {
            throw StartError("ACD configuration refused: \(error)")
        }
        let writer = queueLog!
        let events = self.events
        // Agents' state changes go to the CRM outbox from the ACD thread (a producer of the
        // writer's lock-free inbox like the SIP loop); numbered per agent since this start.
        let records = config.crm.enabled ? callRecordWriter : nil
        let boot = Int64(Date().timeIntervalSince1970 * 1000)
        let agentSeq = Mutex<[String: Int]>([:])  // only the ACD thread takes it: never contended
        let sipLoop = loop
        // What concerns calls goes to the SIP loop in one hop per batch; `calls` is read there
        // only, where it was set.
        acd = ACDRunner(engine: engine) { [unowned self] actions, _ in
            let epoch = Int(Date().timeIntervalSince1970)
            var forCalls: [ACDAction] = []
            for action in actions {
                switch action {
                case .log(let entry): writer.append(.init(epoch: epoch, entry: entry))
                case .offer, .cancelOffer, .announce, .leave, .endCall: forCalls.append(action)
                case .agentChanged(let agent, let state, let reason):
                    if let records {
                        let seq = agentSeq.withLock { seqs in
                            seqs[agent, default: 0] += 1
                            return seqs[agent]!
                        }
                        records.append(
                            CRMEvents.agentState(agent: agent, state: state.rawValue, reason: reason, boot: boot, seq: seq, time: Date().timeIntervalSince1970))
                    }
                }
                if let (topic, body) = ACDViews.event(action) { events.publish(topic, body) }
            }
            if !forCalls.isEmpty {
                let batch = forCalls
                sipLoop.execute { self.calls?.handleACD(batch) }
            }
        }
        acd.start()
        writer.append(.init(epoch: Int(Date().timeIntervalSince1970), entry: QueueLogEntry(event: "QUEUESTART")))
    }

    func stopACD() {
        acd?.stop()
        queueLog?.close()
    }

    private func buildStack() throws {
        let c = config
        scheduler = EventLoopScheduler(loop: loop)
        transport = SIPTransportLayer(
            loop: loop,
            configuration: .init(
                host: c.sip.listenHost, port: c.sip.listenPort, advertisedHost: c.sip.advertise, parserLimits: c.sip.limits, enableTCP: c.sip.tcp,
                tlsHost: c.sip.tls?.listenHost, tlsPort: c.sip.tls?.listenPort ?? 5061, tls: c.sip.tls?.files),
            logger: logger)
        stack = SIPStack(
            // "timer" (RFC 4028) is claimed only while session timers run.
            configuration: .init(
                timers: c.sip.timers, parserLimits: c.sip.limits, product: "\(c.sip.userAgent)/\(Self.version)",
                supported: c.sip.sessionExpires > 0 ? ["replaces", "timer"] : ["replaces"]),
            scheduler: scheduler, transport: transport, logger: logger)
        transport.deliver = { [unowned stack] bytes, peer in stack!.receive(bytes, from: peer) }
        sourceGuard = SourceGuard(policy: c.security.guardPolicy, scheduler: scheduler, logger: logger)
        stack.sourceFilter = sourceGuard
        let authenticator = DigestAuthenticator(
            realm: c.sip.realm, nonceLifetime: Double(c.sip.nonceLifetime), algorithms: c.sip.algorithms, scheduler: scheduler)
        let guardRef = sourceGuard!
        registrar = Registrar(
            policy: c.sip.registrar, authenticator: authenticator, passwords: Self.passwords(c), scheduler: scheduler,
            store: bindingStore, logger: logger, reportFailure: { peer, reason in guardRef.recordFailure(peer, reason: reason) })
        options = OptionsResponder(allow: stack.allowedMethods, supported: stack.configuration.supported)
        sessions = SessionLayer(stack: stack)
        sessions.sessionExpires = c.sip.sessionExpires
        sessions.minSE = c.sip.minSE
        ports = RTPPortPools(host: c.media.address, range: c.media.rtpPorts, loops: media.loops)
        ports.configure(rtcpInterval: .seconds(Int64(c.media.rtcpIntervalSeconds)), cname: "acdd@\(c.media.address)")
        calls = InboundCallService(
            policy: Self.callPolicy(c, prompts: prompts), sessions: sessions, ports: ports, loop: loop, authenticator: authenticator, scheduler: scheduler, logger: logger)
        let runner = acd!
        calls.acd = { runner.send($0) }
        calls.acdRequest = { event, done in
            // An agent's own call is an operator's command: the next `agents` must show it.
            let operators: Bool = if case .agentOutbound = event { true } else { false }
            runner.send(event, withSnapshot: operators) { result in
                if case .failure(let e) = result { done(e) } else { done(nil) }
            }
        }
        calls.bindings = { [unowned registrar] user in registrar!.bindings(for: user) }
        calls.tlsServerName = { [unowned transport] address, name in transport!.setServerName(name, for: address) }
        calls.agentLoggedIn = { agent in runner.snapshot.agents.contains { $0.id == agent && $0.state != .loggedOut } }
        calls.agentReady = { agent in runner.snapshot.agents.contains { $0.id == agent && $0.state == .ready } }
        calls.agentDevice = { agent in runner.snapshot.agents.first { $0.id == agent && $0.state != .loggedOut }?.device }
        calls.recordingWriter = recordingWriter
        let index = voicemails!
        calls.onVoicemail = { index.add($0) }
        let records = callRecordWriter!
        calls.onRecord = { records.append($0) }
        calls.onRecording = { records.append($0) }
        calls.whenRecordsWritten = { records.whenWritten($0) }
        calls.recordsBacklogged = { records.backlogged }
        if let crm {
            calls.onOutbox = { records.append($0) }
            calls.crmLookup = { number, done in crm.lookup(number, done: done) }
        }
        calls.onAlarm = { [unowned self] kind, details in
            if kind == "recording_failed" { self.recordingFailures += 1 }
            var body: [String: JSONValue] = ["type": .string(kind)]
            for (k, v) in details { body[k] = .string(v) }
            self.events.publish("alarm", body)
        }
        startRetention()
        calls.startOverloadWatch()
        calls.callbackList = callbackList
        do {
            calls.restoreCallbacks(try callbackList.list(status: "waiting"))
        } catch {
            logger.error("could not read the waiting callbacks; they are not offered until a restart reads them", metadata: ["error": "\(error)"])
        }
        startCampaigns(runner: runner)
        stack.handlers = [registrar, options, sessions]
        let events = self.events
        calls.observer = { what, c, data in
            var event: [String: JSONValue] = [
                "type": .string(what), "call": JSONValue(Int(c.id)), "sip_call_id": .string(c.callID), "caller": .string(c.caller),
                "called": .string(c.called), "origin": .string(c.origin), "state": .string(c.state),
            ]
            if let data { event["data"] = data }
            events.publish("call", event)
        }
    }

    static func passwords(_ c: DaemonConfiguration) -> (String) -> String? {
        let table = Dictionary(c.agents.map { ($0.id, $0.password) }, uniquingKeysWith: { a, _ in a })
        return { table[$0] }
    }

    /// Loads the prompt set and checks that everything the configuration will play is in it: the
    /// test numbers' prompts, the music on hold, the queue announcements and every IVR node's
    /// prompts (an error names the node and its line).
    static func loadPrompts(_ c: DaemonConfiguration) throws(ConfigError) -> PromptStore {
        let store: PromptStore
        do {
            store = try PromptStore(directory: c.paths.prompts)
            if c.media.playbackNumber != nil { _ = try store.require(InboundCallService.playbackTestPrompts, language: c.prompts.language) }
            _ = try store.requireMusic(c.prompts.musicOnHold)
            if !c.ivr.nodes.isEmpty { _ = try store.require(InboundCallService.queuePrompts, language: c.prompts.language) }
            // An agent's own call tells the agent when the number is not reached.
            if c.trunks.contains(where: { $0.outboundHost != nil }) { _ = try store.require(CallSession.outboundPrompts, language: c.prompts.language) }
            if c.groups.contains(where: { $0.callbackKey != nil }) {
                _ = try store.require(CallSession.callbackPrompts + ["invalid"] + CallSession.outboundPrompts, language: c.prompts.language)
            }
            if !c.agents.isEmpty { _ = try store.require(InboundCallService.featureCodePrompts, language: c.prompts.language) }
        } catch {
            throw ConfigError(error.description, at: "paths.prompts")
        }
        try c.checkPrompts { name, language in store.prompt(name, language: language) != nil }
        return store
    }

    static func callPolicy(_ c: DaemonConfiguration, prompts: PromptStore) -> CallPolicy {
        var policy = CallPolicy(
            trunks: c.trunks.map { t in
                var trunk = CallPolicy.Trunk(
                    name: t.name, addresses: t.addresses, numbers: t.numbers, username: t.username, password: t.password, inbandDTMF: t.inbandDTMF,
                    outbound: t.outboundHost.flatMap { host in (try? SocketAddress(ipAddress: host, port: t.outboundPort ?? 5060)).map { SIPPeer(t.transport, $0) } },
                    keepaliveSeconds: t.keepaliveSeconds, keepaliveFailures: t.keepaliveFailures, prefixes: t.prefixes, callerID: t.callerID)
                trunk.registrars = t.registrars.compactMap { r in (try? SocketAddress(ipAddress: r.host, port: r.port)).map { SIPPeer(t.transport, $0) } }
                trunk.transport = t.transport
                trunk.registerExpires = t.registerExpires
                trunk.registerDomain = t.registerDomain
                trunk.outboundName = t.outboundName
                trunk.outboundNamePort = t.outboundName != nil ? t.outboundPort : nil
                return trunk
            },
            phoneUsers: Dictionary(c.agents.map { ($0.id, $0.password) }, uniquingKeysWith: { a, _ in a }), media: c.media.capabilities,
            mediaTimeoutSeconds: c.media.timeoutSeconds, echoNumber: c.media.echoNumber, playbackNumber: c.media.playbackNumber,
            bridgeNumber: c.media.bridgeNumber, conferenceNumber: c.media.conferenceNumber, tones: c.media.tones, prompts: prompts,
            language: c.prompts.language, ivr: c.ivr, musicOnHold: c.prompts.musicOnHold, groups: c.groups.map(\.name),
            voicemailDirectory: (c.paths.recordings as NSString).appendingPathComponent("voicemail"), voicemailMaxSeconds: c.voicemail.maxSeconds,
            forwarding: Dictionary(
                c.agents.map { a in
                    (a.id, CallPolicy.Forwarding(always: a.forwarding.always, busy: a.forwarding.busy, noAnswer: a.forwarding.noAnswer, noAnswerSeconds: a.forwarding.noAnswerSeconds))
                }, uniquingKeysWith: { a, _ in a }),
            agentGroups: Dictionary(c.agents.map { a in (a.id, a.skills.map(\.group)) }, uniquingKeysWith: { a, _ in a }),
            recording: c.recording.enabled
                ? RecordingPolicy(directory: c.paths.recordings, channels: c.recording.channels, maxSeconds: c.recording.maxSeconds) : nil,
            crmLookupTimeoutMilliseconds: c.crm.lookupTimeoutMilliseconds, vipPriority: c.crm.vipPriority, routeToOwnAgent: c.crm.ownAgent)
        policy.surveyGroups = c.surveyGroups
        for g in c.groups where g.callbackKey != nil || g.callbackMissedSeconds > 0 {
            policy.callbackRules[g.name] = .init(
                key: g.callbackKey?.first, attempts: g.callbackAttempts, retrySeconds: g.callbackRetrySeconds, missedSeconds: g.callbackMissedSeconds)
        }
        policy.conferenceSize = c.media.conferenceSize
        policy.maxCalls = c.daemon.maxCalls
        policy.overloadLagMilliseconds = c.daemon.overloadLagMilliseconds
        policy.descriptorReserve = c.daemon.descriptorReserve
        policy.overloadRetryAfterSeconds = c.daemon.overloadRetryAfterSeconds
        return policy
    }

    /// The configuration in force, read on its loop.
    func currentConfig() async -> DaemonConfiguration {
        (try? await loop.submit { self.config }.get()) ?? config
    }

    // MARK: Retention

    /// Once an hour (and once at start), recordings older than `recording.retention_days` are
    /// deleted, off the loop; their index rows stay, marked deleted, so the CDR still says there
    /// was one.
    private func startRetention() {
        let records = callRecords!
        let logger = self.logger
        retentionTask = loop.scheduleRepeatedTask(initialDelay: .seconds(5), delay: .hours(1)) { [unowned self] _ in
            let days = self.config.recording.retentionDays
            guard days > 0 else { return }
            let cutoff = Date().timeIntervalSince1970 - Double(days) * 86_400
            DispatchQueue.global(qos: .utility).async { Self.applyRetention(records: records, before: cutoff, logger: logger) }
        }
    }

    static func applyRetention(records: CallRecords, before cutoff: Double, logger: Logger) {
        do {
            let (deleted, failed) = try records.applyRetention(before: cutoff, now: Date().timeIntervalSince1970)
            for f in failed { logger.error("retention could not delete a recording", metadata: ["recording.path": "\(f.path)", "error": "\(f.error)"]) }
            guard !deleted.isEmpty else { return }
            logger.notice("retention deleted old recordings", metadata: ["recordings.deleted": "\(deleted.count)", "recordings.before": "\(cutoff)"])
        } catch {
            logger.error("retention could not read the recordings index", metadata: ["error": "\(error)"])
        }
    }

    static func qualityJSON(_ q: MediaQuality) -> JSONValue {
        func ms(_ v: Double?) -> JSONValue { v.map { JSONValue(($0 * 10).rounded() / 10) } ?? .null }
        return [
            "packets_in": JSONValue(q.packetsIn), "packets_out": JSONValue(q.packetsOut), "lost": JSONValue(q.lost), "jitter_ms": ms(q.jitterMs),
            "far_lost": q.farLost.map { JSONValue($0) } ?? .null, "far_fraction_lost": q.farFractionLost.map { JSONValue($0) } ?? .null,
            "far_jitter_ms": ms(q.farJitterMs), "rtt_ms": ms(q.roundTripMs),
        ]
    }

    // MARK: Reload

    /// Reads the file again and applies it. A broken file changes nothing: the error is returned
    /// (and logged) with its line. Settings that only take effect at start are reported as such.
    func reload() async -> Result<[String], ConfigError> {
        let fresh: DaemonConfiguration
        do {
            fresh = try DaemonConfiguration.load(path: configPath, overrides: overrides)
        } catch {
            logger.error("reload refused; the running configuration stays", metadata: ["config.error": "\(error)"])
            return .failure(error)
        }
        let freshPrompts: PromptStore
        do {
            freshPrompts = try Self.loadPrompts(fresh)
            _ = try ReportCommands.tariff(fresh.billing)
        } catch {
            logger.error("reload refused; the running configuration stays", metadata: ["prompts.error": "\(error)"])
            return .failure(error)
        }
        var notes = (try? await loop.submit { self.apply(fresh, prompts: freshPrompts) }.get()) ?? []
        if case .failure(let e) = await acd.request(.configure(fresh.acdSettings)) {
            notes.append("ACD groups and agents not applied: \(e)")
        }
        logger.info("configuration reloaded", metadata: ["config": "\(configPath)", "config.restart_needed": "\(notes.joined(separator: "; "))"])
        return .success(notes)
    }

    private func apply(_ fresh: DaemonConfiguration, prompts freshPrompts: PromptStore) -> [String] {
        var notes: [String] = []
        var applied = fresh
        let old = config
        // What the sockets and files were opened with stays until a restart.
        if fresh.sip.listenHost != old.sip.listenHost || fresh.sip.listenPort != old.sip.listenPort || fresh.sip.tcp != old.sip.tcp
            || fresh.sip.advertise != old.sip.advertise
        {
            notes.append("sip.listen/advertise/transports changed: restart to apply")
        }
        if fresh.sip.timers != old.sip.timers || fresh.sip.limits != old.sip.limits || fresh.sip.realm != old.sip.realm
            || fresh.sip.algorithms != old.sip.algorithms || fresh.sip.nonceLifetime != old.sip.nonceLifetime
        {
            notes.append("sip timers, limits, realm or digest settings changed: restart to apply")
        }
        // The prompt directory is read again on every reload, so it may move without a restart.
        var freshPaths = fresh.paths
        freshPaths.prompts = old.paths.prompts
        if freshPaths != old.paths || fresh.control != old.control { notes.append("paths or control changed: restart to apply") }
        if fresh.media.rtpPorts != old.media.rtpPorts || fresh.media.address != old.media.address {
            notes.append("media.rtp_ports/address changed: restart to apply")
        }
        // TLS certificates are read again on every reload (a renewed certificate keeps its file
        // name); the listener itself stays until a restart.
        if fresh.sip.tls?.listenHost != old.sip.tls?.listenHost || fresh.sip.tls?.listenPort != old.sip.tls?.listenPort {
            notes.append("sip.tls_listen changed: restart to apply")
        } else if let files = fresh.sip.tls?.files {
            do {
                try transport.reloadTLS(files)
                logger.info("TLS certificates read again", metadata: ["tls.certificate": "\(files.certificate)"])
            } catch {
                logger.error("TLS certificates not reloaded; the ones in use stay", metadata: ["tls.error": "\(error)"])
                notes.append("TLS certificates not reloaded, the ones in use stay: \(error)")
            }
        }
        // Of [sip], only the registrar's limits and the TLS files apply live.
        applied.sip = old.sip
        applied.sip.registrar = fresh.sip.registrar
        if old.sip.tls != nil, fresh.sip.tls?.listenPort == old.sip.tls?.listenPort, fresh.sip.tls?.listenHost == old.sip.tls?.listenHost {
            applied.sip.tls = fresh.sip.tls
        }
        applied.paths = old.paths
        applied.paths.prompts = fresh.paths.prompts
        applied.control = old.control
        applied.media.rtpPorts = old.media.rtpPorts
        applied.media.address = old.media.address
        config = applied
        prompts = freshPrompts
        calls.policy = Self.callPolicy(applied, prompts: freshPrompts)
        calls.startTrunkResolution()
        calls.startTrunkKeepalive()
        calls.startTrunkRegistrations()
        ports.configure(rtcpInterval: .seconds(Int64(applied.media.rtcpIntervalSeconds)), cname: "acdd@\(applied.media.address)")
        registrar.passwords = Self.passwords(applied)
        // Session timers of calls already up keep what they agreed; a change to or from 0 takes
        // a restart to change what Supported claims.
        sessions.minSE = applied.sip.minSE
        if applied.sip.sessionExpires > 0 && stack.configuration.supported.contains("timer") { sessions.sessionExpires = applied.sip.sessionExpires }
        registrar.policy = applied.sip.registrar
        sourceGuard.policy = applied.security.guardPolicy
        if let level = Logger.Level(rawValue: applied.daemon.logLevel) { levelBox.value = level }
        return notes
    }

    // MARK: Status

    func status() async -> JSONValue {
        (try? await loop.submit { self.statusOnLoop() }.get()) ?? .null
    }

    private func statusOnLoop() -> JSONValue {
        let s = stack.statistics
        return [
            "version": .string(Self.version), "protocol": JSONValue(controlProtocolVersion), "pid": JSONValue(Int(getpid())),
            "uptime_seconds": JSONValue(Int(Date().timeIntervalSince(startedAt))), "config": .string(configPath),
            "state": .string(draining ? "draining" : "running"),
            "sip": [
                "listen": .string("\(config.sip.listenHost):\(transport.port)"), "tcp": .bool(config.sip.tcp),
                "tls_listen": config.sip.tls.map { .string("\($0.listenHost):\(transport.tlsPort)") } ?? .null,
                "tcp_connections": JSONValue(transport.connectionCount), "server_transactions": JSONValue(stack.serverTransactionCount),
                "client_transactions": JSONValue(stack.clientTransactionCount), "messages_received": JSONValue(s.messagesReceived),
                "parse_errors": JSONValue(s.parseErrors), "filtered": JSONValue(s.filtered), "responses_sent": JSONValue(s.responsesSent),
                "requests_sent": JSONValue(s.requestsSent), "retransmissions_absorbed": JSONValue(s.retransmissionsAbsorbed),
                "transaction_timeouts": JSONValue(s.transactionTimeouts),
                "send_failed": JSONValue(transport.sendFailures.failed), "send_dropped": JSONValue(transport.sendFailures.dropped),
                "udp_listener_reopened": JSONValue(transport.sendFailures.listenerReopened),
                "blocked_sources": .array(sourceGuard.blockedSources.map { .string($0) }),
            ],
            "calls": [
                "active": JSONValue(calls.activeCalls.count), "answered": JSONValue(calls.answeredCount), "refused": JSONValue(calls.refusedCount),
                "sessions": JSONValue(sessions.sessions.count), "agent_legs": JSONValue(calls.agentLegCount), "rtp_ports_in_use": JSONValue(ports.leasedCount), "rtp_port_pairs": JSONValue(ports.capacity),
                "rtp_send_failed": JSONValue(ports.sendFailures),
                "overloaded": .bool(calls.overload.overloaded), "refused_overload": JSONValue(calls.refusedOverloadCount),
                "overload_episodes": JSONValue(calls.overload.episodes), "max_calls": JSONValue(calls.policy.maxCalls),
                "sip_loop_late_ms_max": JSONValue(Int(calls.loopLateMaxMilliseconds.rounded())),
                "media_loop_late_ms_max": JSONValue(Int(calls.mediaLateMaxMilliseconds.rounded())),
            ],
            // Issue 20: rows waiting in memory for a database that cannot be written (a full disk).
            "records": [
                "writes_failing": .bool(callRecordWriter.writesFailing), "waiting_in_memory": JSONValue(callRecordWriter.waitingInMemory),
                "in_memory_cap": JSONValue(callRecordWriter.inMemoryCap),
            ],
            // Issue 20: counted every 100 ms; new calls get 503 while fewer than the reserve would be left.
            "descriptors": [
                "open": JSONValue(calls.descriptors.open), "limit": JSONValue(calls.descriptors.limit), "reserve": JSONValue(calls.descriptors.reserve),
                "short": .bool(calls.descriptors.short),
            ],
            // Trunks that register with their carrier (issue 20).
            "trunk_registrations": .array(
                calls.trunkRegistrationStates.map { r in
                    [
                        "trunk": .string(r.trunk), "state": .string(r.state), "registrar": .string(r.registrar),
                        "registered_until": r.registeredUntil.map { JSONValue($0) } ?? .null, "last_status": r.lastStatus.map { JSONValue($0) } ?? .null,
                        "last_failure": r.lastFailure.map { .string($0) } ?? .null,
                    ]
                }),
            // Trunks probed by OPTIONS keep-alive (issue 20); trunks without it are not listed.
            "trunks": .array(
                calls.trunkStates.map { h in
                    [
                        "name": .string(h.trunk), "outbound": .string(h.target), "state": .string(h.state.rawValue), "failures": JSONValue(h.failures),
                        "last_status": h.lastStatus.map { JSONValue($0) } ?? .null, "last_answered_at": h.lastAnsweredAt.map { JSONValue($0) } ?? .null,
                        "last_failure": h.lastFailure.map { .string($0) } ?? .null, "since": h.since.map { JSONValue($0) } ?? .null,
                        "failovers": JSONValue(calls.trunkFailovers[h.trunk] ?? 0),
                    ]
                }),
            "crm": [
                "enabled": .bool(crm != nil), "socket": .string(config.crm.socket), "connected": .bool(crm?.isConnected ?? false),
                "outbox": JSONValue((try? crmOutbox.count()) ?? -1), "sent": JSONValue(crm?.eventsSent ?? 0),
                "acknowledged": JSONValue(crm?.eventsAcknowledged ?? 0), "connections": JSONValue(crm?.connections ?? 0),
                "garbage": JSONValue(crm?.garbageLines ?? 0), "outbox_cap": JSONValue(config.crm.outboxMaxEvents),
                "dropped": JSONValue(callRecordWriter.outboxDropped),
            ],
            "recordings": [
                "enabled": .bool(config.recording.enabled), "in_progress": JSONValue(calls.recordingsInProgress),
                "failed": JSONValue(recordingFailures), "directory": .string(config.paths.recordings),
                "frames_dropped": JSONValue(calls.recordingFramesDropped),
                "writer_longest_pass_ms": JSONValue(Int((recordingWriter?.passes.longestSeconds ?? 0) * 1000)),
                "writer_longest_open_wait_ms": JSONValue(Int((recordingWriter?.passes.longestOpenWaitSeconds ?? 0) * 1000)),
                "frame_pool_kib": JSONValue(calls.recordingFrameBytes / 1024),
            ],
            "registrations": JSONValue(registrar.allBindings.count),
            "acd": acdStatus(),
        ]
    }

    private func acdStatus() -> JSONValue {
        let snap = acd.snapshot
        let counters = acd.counters
        return [
            "agents_logged_in": JSONValue(snap.agents.filter { $0.state != .loggedOut }.count),
            "agents_ready": JSONValue(snap.agents.filter { $0.state == .ready }.count),
            "callers_waiting": JSONValue(snap.waiting.count), "callers_connected": JSONValue(snap.connected),
            "events_handled": JSONValue(counters.handled), "events_refused": JSONValue(counters.refused),
            "inbox_full_waits": JSONValue(counters.inboxFullWaits), "queue_log": .string(config.paths.queueLog),
        ]
    }

    func callList() async -> JSONValue {
        (try? await loop.flatSubmit { self.calls.activeCallsWithMedia() }.map { list in
            JSONValue.array(
                list.map { c in
                    [
                        "id": JSONValue(Int(c.id)), "sip_call_id": .string(c.callID), "caller": .string(c.caller), "called": .string(c.called),
                        "origin": .string(c.origin), "state": .string(c.state), "started_at": JSONValue(c.startedAt),
                        "answered_at": c.answeredAt.map { JSONValue($0) } ?? .null, "codec": JSONValue(c.codec),
                        "local_rtp_port": c.localRTPPort.map { JSONValue($0) } ?? .null, "remote_rtp": JSONValue(c.remoteRTP), "digits": .string(c.digits),
                        "bridged_with": c.bridgedWith.map { JSONValue(Int($0)) } ?? .null,
                        "unique_id": .string(c.uniqueID), "queue": JSONValue(c.queue), "agent": JSONValue(c.agent),
                        "ivr_path": .array(c.ivrPath.map { .string($0) }), "survey": c.surveyScore.map { JSONValue($0) } ?? .null,
                        "recording": JSONValue(c.recordingPath), "recording_paused": .bool(c.recordingPaused),
                        "monitor": c.monitor.map { m in
                            ["device": .string(m.device), "mode": .string(m.mode.rawValue), "by": .string(m.by), "state": .string(m.answered ? "monitoring" : "ringing")]
                        } ?? .null,
                        "media": c.media.map(Self.qualityJSON) ?? .null,
                    ]
                })
        }.get()) ?? .array([])
    }

    func registrationList() async -> JSONValue {
        (try? await loop.submit {
            let now = self.scheduler.wallClock
            return JSONValue.array(
                self.registrar.allBindings.map { b in
                    [
                        "aor": .string(b.aor), "contact": .string(b.contact.uri.description), "expires_in": JSONValue(Int(b.expires - now)),
                        "source": .string(b.source.description), "user_agent": JSONValue(b.userAgent),
                    ]
                })
        }.get()) ?? .array([])
    }

    /// Ends one call from the control socket.
    func hangUp(callID id: Int) async -> Bool {
        (try? await loop.submit {
            guard let s = self.sessions.sessions[UInt64(id)] else { return false }
            s.hangUp()
            return true
        }.get()) ?? false
    }

    /// Voicemails, newest first (`status` nil: all).
    /// The callbacks' worklist, oldest first (`status` nil for all).
    func callbackList(status: String?, assigned: String? = nil) -> Result<JSONValue, any Error> {
        Result { .array(try callbackList.list(status: status, assigned: assigned).map(Self.callbackView)) }
    }

    static func callbackView(_ c: CallbackEntry) -> JSONValue {
        [
            "id": .string(c.id), "queue": .string(c.queue), "number": .string(c.number), "caller": .string(c.caller), "source": .string(c.source),
            "status": .string(c.status), "attempts": JSONValue(c.attempts), "next_at": c.nextAt.map { JSONValue($0) } ?? .null,
            "created_at": JSONValue(c.createdAt), "updated_at": JSONValue(c.updatedAt), "last_outcome": JSONValue(c.lastOutcome), "agent": JSONValue(c.agent),
            "assigned": JSONValue(c.assigned), "voicemail": JSONValue(c.voicemail),
        ]
    }

    /// Cancels a callback or marks it done (`status`), wherever it is.
    func closeCallback(_ id: String, status: String, by who: String) async -> Result<CallbackEntry, InboundCallService.CallbackError> {
        let stored = try? callbackList.entry(id)
        return (try? await loop.submit { self.calls.closeCallback(id, stored: stored, status: status, by: who) }.get())
            ?? .failure(.init(description: "the daemon is stopping"))
    }

    /// A supervisor gives a callback to one agent of its group, or back to the group (nil).
    func assignCallback(_ id: String, agent: String?, by who: String) async -> Result<CallbackEntry, InboundCallService.CallbackError> {
        guard let stored = try? callbackList.entry(id) else { return .failure(.init(description: "no callback \(id)")) }
        if let agent {
            guard let a = config.agents.first(where: { $0.id == agent }) else { return .failure(.init(description: "no agent '\(agent)'")) }
            guard a.skills.contains(where: { $0.group == stored.queue }) else {
                return .failure(.init(description: "agent \(agent) is not in group '\(stored.queue)'"))
            }
        }
        return await withCheckedContinuation { c in
            loop.execute { self.calls.assignCallback(stored, agent: agent, by: who) { c.resume(returning: $0) } }
        }
    }

    /// An agent calls a callback's number by hand.
    func dialCallback(_ id: String, agent: String) async -> Result<(id: UInt64, uniqueID: String), InboundCallService.DialError> {
        guard let stored = try? callbackList.entry(id) else { return .failure(.init(description: "no callback \(id)")) }
        return await withCheckedContinuation { c in
            loop.execute { self.calls.dialCallback(stored, agent: agent) { c.resume(returning: $0) } }
        }
    }

    func voicemailList(status: String?) -> Result<JSONValue, any Error> {
        Result {
            .array(
                try voicemails.list(status: status).map { v in
                    [
                        "id": JSONValue(Int(v.id ?? 0)), "unique_id": .string(v.uniqueID), "caller": .string(v.caller), "box": .string(v.box),
                        "queue": JSONValue(v.queue), "path": .string(v.path), "seconds": JSONValue(v.seconds), "dropped_frames": JSONValue(v.droppedFrames),
                        "created_at": JSONValue(v.createdAt), "status": .string(v.status),
                    ]
                })
        }
    }

    /// Pauses or resumes a call's recording.
    func setRecordingPaused(callID id: Int, paused: Bool) async -> Result<Void, InboundCallService.RecordingControlError> {
        (try? await loop.submit { self.calls.setRecordingPaused(call: UInt64(id), paused: paused) }.get()) ?? .failure(.noSuchCall)
    }

    /// Sends a caller who talks to an agent to another group (blind transfer).
    func transfer(callID id: Int, to target: InboundCallService.TransferTarget) async -> Result<Void, InboundCallService.TransferError> {
        (try? await loop.submit { self.calls.transfer(call: UInt64(id), to: target) }.get()) ?? .failure(.init("the daemon is stopping"))
    }

    /// Click-to-dial: rings the agent, then the number (issue 19).
    func dial(agent: String, number: String, account: String? = nil) async -> Result<(id: UInt64, uniqueID: String), InboundCallService.DialError> {
        await withCheckedContinuation { c in
            loop.execute {
                self.calls.placeCall(agent: agent, number: number, account: account) { c.resume(returning: $0) }
            }
        }
    }

    func release(callID id: Int, by who: String) async -> Result<Void, InboundCallService.TransferError> {
        (try? await loop.submit { self.calls.release(call: UInt64(id), by: who) }.get()) ?? .failure(.init("the daemon is stopping"))
    }

    func monitor(callID id: Int, device: String, mode: MonitorMode, by who: String) async -> Result<String, InboundCallService.TransferError> {
        (try? await loop.submit { self.calls.monitor(call: UInt64(id), device: device, mode: mode, by: who) }.get()) ?? .failure(.init("the daemon is stopping"))
    }

    func monitorStop(callID id: Int, by who: String) async -> Result<String, InboundCallService.TransferError> {
        (try? await loop.submit { self.calls.monitorStop(call: UInt64(id), by: who) }.get()) ?? .failure(.init("the daemon is stopping"))
    }

    func monitorMode(callID id: Int, _ mode: MonitorMode) async -> Result<Void, InboundCallService.TransferError> {
        (try? await loop.submit { self.calls.monitorMode(call: UInt64(id), mode) }.get()) ?? .failure(.init("the daemon is stopping"))
    }

    /// A sound-card agent's handset (FEATURES A1): answer the ringing card, or hang up.
    func soundCard(agent: String, answer: Bool) async -> Result<UInt64, InboundCallService.SoundCardError> {
        (try? await loop.submit { answer ? self.calls.answerSoundCard(agent: agent) : self.calls.hangUpSoundCard(agent: agent) }.get())
            ?? .failure(.init(description: "the daemon is stopping"))
    }

    func survey(callID id: Int, by who: String) async -> Result<String, InboundCallService.TransferError> {
        (try? await loop.submit { self.calls.survey(call: UInt64(id), by: who) }.get()) ?? .failure(.init("the daemon is stopping"))
    }

    func consult(callID id: Int, _ target: InboundCallService.TransferTarget) async -> Result<String, InboundCallService.TransferError> {
        (try? await loop.submit { self.calls.consult(call: UInt64(id), target) }.get()) ?? .failure(.init("the daemon is stopping"))
    }

    func completeConsult(callID id: Int) async -> Result<String, InboundCallService.TransferError> {
        (try? await loop.submit { self.calls.completeConsult(call: UInt64(id)) }.get()) ?? .failure(.init("the daemon is stopping"))
    }

    func conference(callID id: Int) async -> Result<String, InboundCallService.TransferError> {
        (try? await loop.submit { self.calls.conference(call: UInt64(id)) }.get()) ?? .failure(.init("the daemon is stopping"))
    }

    func returnFromConsult(callID id: Int) async -> Result<Void, InboundCallService.TransferError> {
        (try? await loop.submit { self.calls.returnFromConsult(call: UInt64(id)) }.get()) ?? .failure(.init("the daemon is stopping"))
    }

    func sendDigits(callID id: Int, _ digits: String) async -> Result<String, InboundCallService.TransferError> {
        (try? await loop.submit { self.calls.sendDigits(call: UInt64(id), digits) }.get()) ?? .failure(.init("the daemon is stopping"))
    }

    // MARK: Stop

    /// SIGTERM: refuse new calls (503), let calls go on for `drain_seconds`, hang up the rest,
    /// and wait up to `stop_seconds` for their BYEs.
    func drainCalls() async {
        let active = (try? await loop.submit {
            self.draining = true
            self.calls?.stopTrunkKeepalive()
            self.calls?.stopTrunkRegistrations()
            self.calls?.stopTrunkResolution()
            self.sessions?.acceptingCalls = false
            self.options?.acceptingCalls = false
            return self.sessions?.sessions.count ?? 0
        }.get()) ?? 0
        logger.notice("stopping: new calls are refused", metadata: ["calls.active": "\(active)", "daemon.drain_seconds": "\(config.daemon.drainSeconds)"])
        await waitForCalls(seconds: config.daemon.drainSeconds)
        let hung = (try? await loop.submit { self.calls?.hangUpAll() ?? 0 }.get()) ?? 0
        if hung > 0 { logger.notice("hanging up calls still going", metadata: ["calls.active": "\(hung)"]) }
        await waitForCalls(seconds: config.daemon.stopSeconds)
    }

    /// After every subsystem stopped: the loops go.
    func shutDownLoops() async {
        logger.notice("acdd stopped")
        media.stop()
        try? await group.shutdownGracefully()
    }

    private func waitForCalls(seconds: Int) async {
        let deadline = Date().addingTimeInterval(Double(seconds))
        while Date() < deadline {
            let n = (try? await loop.submit { self.sessions?.sessions.count ?? 0 }.get()) ?? 0
            if n == 0 { return }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }
}

struct StartError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
