public import ACD
public import CRMBridge
public import IVR
public import Prompts
public import Logging
public import Media
public import NIOCore
public import Recording
public import SIP
public import SIPMessage
public import JSON
public import Store

/// Who may place calls, and where: the part of the configuration the call layer reads. Replaced
/// whole on reload.
public struct CallPolicy: Sendable {
    public struct Trunk: Sendable {
        public var name: String
        public var addresses: [IPNetwork]
        public var numbers: [String]
        public var username: String?
        public var password: String?
        /// Key presses arrive as tones in the audio rather than as RFC 4733 events.
        public var inbandDTMF: Bool
        /// Where calls to external numbers are sent through this trunk, if it carries them.
        public var outbound: SIPPeer?
        /// Numbers this trunk carries out, by prefix: the longest prefix of any trunk wins; a
        /// trunk without prefixes carries any number no prefix claims.
        public var prefixes: [String] = []
        /// The number our calls out through this trunk show (nil: the trunk's first number).
        public var callerID: String?
        /// OPTIONS to `outbound` this often (0: never), and how many failed in a row mark the
        /// trunk down.
        public var keepaliveSeconds: Int
        public var keepaliveFailures: Int
        /// Registrars to REGISTER with, in order (empty: the trunk does not register), the
        /// seconds asked for, and our address of record's domain (nil: the first registrar).
        /// `outbound` as a DNS name, and the port written with it (nil: SRV, else 5060); the
        /// daemon resolves it off the loops and sets `outbound` (TrunkDNS.swift).
        public var outboundName: String?
        public var outboundNamePort: Int?
        /// How the trunk's targets are reached (a DNS name's SRV service follows it).
        public var transport: SIPTransportKind = .udp
        public var registrars: [SIPPeer] = []
        public var registerExpires = 600
        public var registerDomain: String?

        public init(
            name: String, addresses: [IPNetwork], numbers: [String], username: String? = nil, password: String? = nil, inbandDTMF: Bool = false,
            outbound: SIPPeer? = nil, keepaliveSeconds: Int = 0, keepaliveFailures: Int = 3, prefixes: [String] = [], callerID: String? = nil
        ) {
            self.prefixes = prefixes
            self.callerID = callerID
            self.outbound = outbound
            self.keepaliveSeconds = keepaliveSeconds
            self.keepaliveFailures = keepaliveFailures
            self.name = name
            self.addresses = addresses
            self.numbers = numbers
            self.username = username
            self.password = password
            self.inbandDTMF = inbandDTMF
        }
    }

    public var trunks: [Trunk]
    /// SIP users that may authenticate (agents' phones): user → password.
    public var phoneUsers: [String: String]
    public var media: MediaCapabilities
    /// No RTP for this long hangs a call up; 0 for never.
    public var mediaTimeoutSeconds: Int
    /// The echo test number, if any.
    public var echoNumber: String?
    /// The playback test number, if any (needs `prompts`).
    public var playbackNumber: String?
    /// The bridge test number, if any: two callers to it are connected to each other.
    public var bridgeNumber: String?
    /// The conference test number, if any: every caller to it joins one conference.
    public var conferenceNumber: String?
    /// Callers per room on the conference test number; 0 for one room.
    public var conferenceSize = 0
    public var tones: TonePlan
    /// Every prompt, loaded and checked before the policy is made.
    public var prompts: PromptStore?
    public var language: String
    /// The IVR: numbers with an entry run it; checked (with its prompts) before the policy is made.
    public var ivr: IVRFlow
    /// The music-on-hold track queued callers hear.
    public var musicOnHold: String
    /// The skill groups, for transfers.
    public var groups: [String]
    /// Each agent's groups (the agent's skills named like groups), for transfers to an agent.
    public var agentGroups: [String: [String]]
    /// Call forwarding per agent (FEATURES A7).
    public var forwarding: [String: Forwarding]

    public struct Forwarding: Sendable {
        public var always: String?
        public var busy: String?
        public var noAnswer: String?
        public var noAnswerSeconds: Int
        public init(always: String? = nil, busy: String? = nil, noAnswer: String? = nil, noAnswerSeconds: Int = 10) {
            self.always = always
            self.busy = busy
            self.noAnswer = noAnswer
            self.noAnswerSeconds = noAnswerSeconds
        }
    }

    /// Where voicemails are written (`<dir>/YYYY/MM/DD/<unique id>.wav`); nil: no voicemail.
    public var voicemailDirectory: String?
    /// Longest message kept.
    public var voicemailMaxSeconds: Int
    /// How bridged calls are recorded; nil for not at all.
    public var recording: RecordingPolicy?
    /// The longest a call's CRM lookup may take before the call goes on without it.
    public var crmLookupTimeoutMilliseconds = 200
    /// The least priority a VIP customer queues with.
    public var vipPriority = 10
    /// A customer whose CRM record names an agent waits for that agent when they are logged in.
    public var routeToOwnAgent = true
    /// Groups whose callers take the survey when the agent hangs up first (C6).
    public var surveyGroups: Set<String> = []
    /// Groups that offer callbacks: their key, tries and spacing (issue 19).
    public var callbackRules: [String: CallbackRule] = [:]

    public struct CallbackRule: Sendable {
        /// The key a waiting caller presses to ask (nil: callers cannot ask; missed calls only).
        public var key: Character?
        public var attempts: Int
        public var retrySeconds: Int
        /// Callers who hang up after waiting this long become callbacks to work (0: never).
        public var missedSeconds: Int
        public init(key: Character?, attempts: Int = 3, retrySeconds: Int = 300, missedSeconds: Int = 0) {
            self.key = key
            self.attempts = attempts
            self.retrySeconds = retrySeconds
            self.missedSeconds = missedSeconds
        }
    }

    /// Calls at once past which new INVITEs get 503 (0: no cap).
    public var maxCalls = 0
    /// SIP-loop lateness that means overload (0: never; see `OverloadGuard`).
    public var overloadLagMilliseconds = 250
    /// Retry-After on a 503 for overload, in seconds.
    public var overloadRetryAfterSeconds = 5
    /// Descriptors kept free: new calls get 503 while fewer would be left (0: no check).
    public var descriptorReserve = 128

    public init(
        trunks: [Trunk], phoneUsers: [String: String], media: MediaCapabilities, mediaTimeoutSeconds: Int = 30, echoNumber: String? = nil,
        playbackNumber: String? = nil, bridgeNumber: String? = nil, conferenceNumber: String? = nil, tones: TonePlan = .us, prompts: PromptStore? = nil, language: String = "en",
        ivr: IVRFlow = IVRFlow(), musicOnHold: String = "default", groups: [String] = [], voicemailDirectory: String? = nil, voicemailMaxSeconds: Int = 120,
        forwarding: [String: Forwarding] = [:], agentGroups: [String: [String]] = [:], recording: RecordingPolicy? = nil,
        crmLookupTimeoutMilliseconds: Int = 200, vipPriority: Int = 10, routeToOwnAgent: Bool = true
    ) {
        self.routeToOwnAgent = routeToOwnAgent
        self.recording = recording
        self.crmLookupTimeoutMilliseconds = crmLookupTimeoutMilliseconds
        self.vipPriority = vipPriority
        self.agentGroups = agentGroups
        self.forwarding = forwarding
        self.voicemailDirectory = voicemailDirectory
        self.voicemailMaxSeconds = voicemailMaxSeconds
        self.groups = groups
        self.ivr = ivr
        self.musicOnHold = musicOnHold
        self.bridgeNumber = bridgeNumber
        self.conferenceNumber = conferenceNumber
        self.tones = tones
        self.trunks = trunks
        self.phoneUsers = phoneUsers
        self.media = media
        self.mediaTimeoutSeconds = mediaTimeoutSeconds
        self.echoNumber = echoNumber
        self.playbackNumber = playbackNumber
        self.prompts = prompts
        self.language = language
    }

    /// Every number some trunk may call.
    var numbers: Set<String> { Set(trunks.flatMap(\.numbers)) }

    func password(for user: String) -> String? {
        phoneUsers[user] ?? trunks.first { $0.username == user }?.password
    }
}

/// One call in progress, for status and logs.
public struct CallSummary: Sendable, Hashable {
    public var id: UInt64
    public var callID: String
    public var caller: String
    public var called: String
    /// The trunk the call came in on, or `user:<id>` for an authenticated phone.
    public var origin: String
    public var state: String
    public var startedAt: Double
    public var answeredAt: Double?
    public var codec: String?
    public var localRTPPort: Int?
    public var remoteRTP: String?
    /// Keys the caller pressed, in order (RFC 4733 or in-band).
    public var digits: String = ""
    /// The call whose audio this one's is bridged to.
    public var bridgedWith: UInt64?
    /// Loss, jitter and round trip, ours and the far end's (RTCP).
    public var media: MediaQuality?
    /// The id the ACD and the queue log know the call by (Asterisk's uniqueid form).
    public var uniqueID: String = ""
    /// The skill group the caller waits in or was answered from.
    public var queue: String?
    /// The agent ringing or connected.
    public var agent: String?
    /// IVR nodes visited and keys chosen.
    public var ivrPath: [String] = []
    public var surveyScore: Int?
    /// The account an agent's own call is billed to, when one was given.
    public var account: String?
    /// The supervisor ringing or on the call.
    public var monitor: CallSession.Monitor?
    /// Where the call is being recorded, once bridged.
    public var recordingPath: String?
    public var recordingPaused = false
}

/// The inbound half of the call layer for now (issue 2): admits calls from trunks and
/// authenticated phones, answers them with a negotiated SDP on a real RTP port, and holds them
/// until either side hangs up. Routing to the IVR and agents builds on it.
public final class InboundCallService: SessionLayerDelegate {
    public var policy: CallPolicy
    let sessions: SessionLayer
    /// Legs are spread over the media loops; everything here runs on `loop` (the SIP loop) and
    /// reaches a leg's stream only on the leg's own loop (`onMedia`).
    let ports: RTPPortPools
    let loop: any EventLoop
    let authenticator: DigestAuthenticator
    let scheduler: any SIPScheduler
    var logger: Logger
    var calls: [UInt64: ActiveCall] = [:]
    /// The bridge test's callers waiting for a second, one per media loop (a pair must share a
    /// loop; a new caller is allocated next to one who waits).
    var waitingForBridge: [ObjectIdentifier: UInt64] = [:]
    /// The conference test number's members and their legs: a new member is allocated on the
    /// same media loop, where the room is.
    var conferenceMembers: [UInt64: (lease: RTPPortLease, room: String)] = [:]
    /// The room on the conference test number that is still filling (with `conferenceSize`).
    var conferenceFilling: (name: String, loop: ObjectIdentifier, members: Int, lease: RTPPortLease)?
    var conferenceRoomsMade = 0
    /// Calls to agents' phones, by session id.
    var agentLegs: [UInt64: AgentLeg] = [:]
    /// Agents' calls on the host's sound card, by agent.
    var soundCardLegs: [String: SoundCardLeg] = [:]
    /// Trunks' keep-alive (TrunkKeepalive.swift): health by trunk, the next probe's timer, and
    /// the probe waiting for its answer.
    var trunkHealth: [String: TrunkHealth] = [:]
    var keepaliveTimers: [String: SIPTimerToken] = [:]
    var keepalivePending: [String: Int] = [:]
    var keepaliveSerial = 0
    /// Trunks registering with their carrier, by name (TrunkRegistration.swift).
    var registrations: [String: TrunkRegistrationRunner] = [:]
    /// Trunks' outbound names as last resolved, by "name:port", and the timers that resolve them again.
    var resolvedTargets: [String: [SIPTargets.Target]] = [:]
    var resolveTimers: [String: SIPTimerToken] = [:]
    var resolveFailing: Set<String> = []
    /// Trunk targets ("ip:port") a call failed at, and until when (wall clock) calls try them last.
    var avoidedTargets: [String: Double] = [:]
    /// Calls moved to a trunk's next target, by trunk, for status.
    public internal(set) var trunkFailovers: [String: Int] = [:]
    /// Calls in progress by their unique id (the ACD's name for them).
    var byUniqueID: [String: UInt64] = [:]
    /// Where events for the ACD go (its inbox); nil when no ACD runs (tests of other parts).
    public var acd: ((ACDEvent) -> Void)?
    /// Sends an event and hears whether the ACD refused it (an answer that came too late).
    public var acdRequest: ((ACDEvent, @escaping @Sendable (ACDError?) -> Void) -> Void)?
    /// Writes voicemails (and, later, call recordings) off the loops.
    public var recordingWriter: RecordingWriter?
    /// Frames lost from finished recordings since start (writer behind, or past the maximum
    /// length): each recording's own count is in its index row; this is the operators' total.
    public internal(set) var recordingFramesDropped = 0
    /// Told of every voicemail saved, on the SIP loop (the index and the group's callbacks).
    public var onVoicemail: ((VoicemailEntry) -> Void)?
    /// Told of every call's call-detail record, on the SIP loop, when the call ends.
    public var onRecord: ((CallDetailRecord) -> Void)?
    /// Told of every call recording once its file is complete or has failed.
    public var onRecording: ((RecordingEntry) -> Void)?
    /// Told of what operators must hear of at once (a recording that failed), with details.
    public var onAlarm: ((String, [String: String]) -> Void)?
    /// Tells the transport the DNS name a TLS trunk's resolved address is known by, so that its
    /// certificate is checked against the name (and the name sent as SNI).
    public var tlsServerName: ((SocketAddress, String) -> Void)?
    /// Runs its argument (on any thread) once every record handed to `onRecord` so far is on disk;
    /// a BYE is answered only then, so a call that was seen to end has its record.
    public var whenRecordsWritten: ((@escaping @Sendable () -> Void) -> Void)?
    /// True while so many records wait in memory for a failing disk that new calls must wait.
    public var recordsBacklogged: (() -> Bool)?
    /// Events for the CRM store, to be committed to the outbox (in the order given).
    public var onOutbox: ((OutboxEvent) -> Void)?
    /// Whether an agent is logged in now, and whether ready (from the ACD's published snapshot).
    public var agentLoggedIn: ((String) -> Bool)?
    public var agentReady: ((String) -> Bool)?
    /// The device an agent logged in on (nil: logged out), for the agent's own calls.
    public var agentDevice: ((String) -> String?)?
    /// Asks the CRM store about a caller's number; the answer may come on any thread, or never.
    public var crmLookup: ((String, @escaping @Sendable (CRMCustomer?) -> Void) -> Void)?
    /// The callbacks' worklist on disk, the waiting callbacks by id, and each retry's timer.
    public var callbackList: CallbackList?
    var callbacks: [String: CallbackEntry] = [:]
    /// Campaigns' tries under way, by the call's unique id; their dialer hears each one's end.
    var campaignCalls: [String: CampaignCall] = [:]
    public var campaignDialer: CampaignDialer?
    var callbackTimers: [String: SIPTimerToken] = [:]
    /// Callbacks an agent is calling by hand (`callback.dial`), by the call's unique id.
    var manualCallbacks: [String: CallbackEntry] = [:]
    /// Recordings not yet complete, by the call's unique id (they outlive the call briefly).
    var recordings: [String: CallRecordingState] = [:]
    /// Each media loop's frame pool: a recording is fed on its caller's loop, so its frames wait
    /// in that loop's pool (one producer thread per pool, as `FramePool` requires).
    var framePools: [ObjectIdentifier: FramePool] = [:]
    /// Where agents' phones are: registered contacts by user.
    public var bindings: ((String) -> [SIPBinding])?
    static let conferenceRoom = "conference-test"
    /// Calls answered since start, and refused, for status.
    public private(set) var answeredCount = 0
    public private(set) var refusedCount = 0
    /// INVITEs refused with 503 because the daemon was overloaded or at `maxCalls`.
    public private(set) var refusedOverloadCount = 0
    public internal(set) var overload = OverloadGuard()
    /// The latest the overload watch's timer ever ran, in ms: how far behind the SIP loop got.
    public internal(set) var loopLateMaxMilliseconds = 0.0
    /// The media loops' lateness (a probe's wait there) now and at worst, and the probes out.
    var mediaLateMilliseconds = 0.0
    public internal(set) var mediaLateMaxMilliseconds = 0.0
    var mediaProbesOutstanding = 0
    var mediaProbeSentAt: UInt64 = 0
    var atCapacityLogged = false
    /// Open descriptors against the limit (OverloadGuard.swift); counted with the overload watch.
    public internal(set) var descriptors = DescriptorBudget()
    var descriptorsShortLogged = false
    var overloadWatch: SIPTimerToken?

    /// One call as the shell holds it: its machine (`CallSession`: phase, legs, record), and the
    /// I/O that carries the machine's actions out. Nothing here decides what happens next.
    final class ActiveCall {
        let session: InviteSession
        var machine: CallSession
        /// SIP and media facts for status; `summary` adds the machine's part.
        var info: CallSummary
        var lease: RTPPortLease?
        var audio: NegotiatedAudio?
        var inbandDTMF = false
        /// The machine's armed timers.
        var timers: [CallTimer: SIPTimerToken] = [:]
        /// The SIP session of each of the call's other legs.
        var legSessions: [LegID: UInt64] = [:]
        /// Recording a voicemail, and recording the bridged call.
        var voicemail: VoicemailRecording?
        var recording: CallRecordingState?
        /// CRM events sent so far (numbered within the call), and the lookup's deadline.
        var crmSeq = 0
        var lookupTimer: SIPTimerToken?
        /// Events that arrived while the machine's last actions were being carried out: an action
        /// may report back at once (a device that cannot be rung), and the machine takes one event
        /// at a time.
        var inbox: [CallEvent] = []
        var delivering = false
        /// The ACD ids of the call's consultations, which find the call too.
        var consultIDs: [String] = []
        /// The agent's second-line INVITE waiting for the machine's `.acceptLine`, with its port
        /// and our answer.
        var pendingLine: PendingLine?

        init(session: InviteSession, machine: CallSession, info: CallSummary) {
            self.session = session
            self.machine = machine
            self.info = info
        }

        var summary: CallSummary {
            var s = info
            s.state = machine.displayState
            s.digits = machine.digits
            s.queue = machine.queue
            s.agent = machine.agent
            s.ivrPath = machine.ivrPath
            s.surveyScore = machine.surveyScore
            s.monitor = machine.monitor
            return s
        }
    }

    /// What a call is allowed under the current policy (the machine's rules).
    var rules: CallSession.Rules {
        CallSession.Rules(
            language: policy.language, mediaTimeout: policy.mediaTimeoutSeconds > 0 ? .seconds(policy.mediaTimeoutSeconds) : nil,
            forwarding: policy.forwarding, flow: policy.ivr,
            voicemail: recordingWriter != nil && policy.voicemailDirectory != nil && policy.prompts != nil,
            voicemailMaxSeconds: policy.voicemailMaxSeconds, surveyGroups: policy.surveyGroups, callbackKeys: policy.callbackRules.compactMapValues(\.key))
    }

    public init(
        policy: CallPolicy, sessions: SessionLayer, ports: RTPPortPools, loop: any EventLoop, authenticator: DigestAuthenticator,
        scheduler: any SIPScheduler, logger: Logger
    ) {
        self.policy = policy
        self.sessions = sessions
        self.ports = ports
        self.loop = loop
        self.authenticator = authenticator
        self.scheduler = scheduler
        self.logger = logger
        sessions.delegate = self
    }

    /// Calls in progress, without media figures (those live on the media loops: see
    /// `activeCallsWithMedia`).
    public var activeCalls: [CallSummary] { calls.values.map(\.summary).sorted { $0.id < $1.id } }

    /// Told when a call is answered and when it ends ("answered", "ended"), for the event stream.
    /// The third value is the event's own data where it has some (a supervisor's session).
    public var observer: ((String, CallSummary, JSONValue?) -> Void)?

    // MARK: SessionLayerDelegate

    public func incomingSession(_ session: InviteSession) {
        if let why = overloadRefusal() {
            refusedOverloadCount += 1
            session.reject(
                .serviceUnavailable, reason: why, headers: [SIPHeaderField(.retryAfter, String(policy.overloadRetryAfterSeconds))])
            return
        }
        let invite = session.invite
        let called = invite.uri.user.map { percentDecoded($0) } ?? ""
        let caller = invite.from.uri.user.map { percentDecoded($0) } ?? invite.from.uri.description
        var meta: Logger.Metadata = ["call.sip_id": "\(invite.callID)", "call.from": "\(caller)", "call.to": "\(called)", "sip.source": "\(session.peer)"]

        // Who gets in (FEATURES S3): a listed trunk address, or digest credentials of a phone or a
        // trunk. A stranger is refused outright rather than challenged.
        let origin: String
        var inband = false
        let claimedUser = invite.from.uri.user.map { percentDecoded($0) } ?? ""
        let trunkHere = policy.trunks.first(where: { t in t.addresses.contains { $0.contains(ip: session.peer.ip) } })
        // A phone may share a trunk's address (the default config: both on this host): a number
        // the trunk does not serve, dialled by a known user, is the phone's call and goes through
        // digest below.
        if let trunk = trunkHere, trunk.numbers.contains(called) || policy.phoneUsers[claimedUser] == nil {
            guard trunk.numbers.contains(called) else { return refuse(session, .notFound, "number \(called) is not served on trunk \(trunk.name)", meta) }
            origin = trunk.name
            inband = trunk.inbandDTMF
        } else {
            let claimed = invite.from.uri.user.map { percentDecoded($0) } ?? ""
            // Who may be challenged: a known user in From (a phone), or any caller of a number a
            // trunk with credentials serves. Carriers put the caller's number in From, never the
            // trunk's username, so asking From alone left such a trunk refused unchallenged.
            let credentialedTrunkServes = policy.trunks.contains { $0.username != nil && $0.numbers.contains(called) }
            guard policy.password(for: claimed) != nil || credentialedTrunkServes || invite.headers.contains(.proxyAuthorization) else {
                sessions.stack.sourceFilter?.recordFailure(session.peer, reason: "INVITE from unknown source and user \(claimed)")
                return refuse(session, .forbidden, "not a trunk address and not a known user", meta)
            }
            switch authenticator.verify(invite, proxy: true, password: { self.policy.password(for: $0) }) {
            case .authenticated(let user):
                // A trunk's username names the trunk: its settings apply, and the record says it.
                if let trunk = policy.trunks.first(where: { $0.username == user }), policy.phoneUsers[user] == nil || trunk.numbers.contains(called) {
                    guard trunk.numbers.contains(called) else {
                        return refuse(session, .notFound, "number \(called) is not served on trunk \(trunk.name)", meta)
                    }
                    origin = trunk.name
                    inband = trunk.inbandDTMF
                } else {
                    origin = "user:\(user)"
                }
            case .challenge(let stale, let reason):
                if let reason { sessions.stack.sourceFilter?.recordFailure(session.peer, reason: "INVITE: \(reason)") }
                session.reject(
                    .proxyAuthenticationRequired,
                    headers: authenticator.challenges(stale: stale).map { SIPHeaderField(.proxyAuthenticate, $0) })
                return
            case .forbidden(let reason):
                sessions.stack.sourceFilter?.recordFailure(session.peer, reason: "INVITE: \(reason)")
                return refuse(session, .forbidden, reason, meta)
            case .malformed(let reason):
                sessions.stack.sourceFilter?.recordFailure(session.peer, reason: "INVITE: \(reason)")
                return refuse(session, .badRequest, reason, meta)
            }
            let isAgent = origin.hasPrefix("user:") && policy.phoneUsers[String(origin.dropFirst(5))] != nil
            // An agent's phone dialling a group, an agent or a number while on a call: its second
            // line, a consultation of that call (RFC 5589 §7's first half).
            if isAgent, !policy.numbers.contains(called), FeatureCode(called) == nil, let target = transferTarget(invite.uri),
                let onCall = lineCall(for: String(origin.dropFirst(5)))
            {
                return openLine(session, for: onCall, target: target, meta: meta)
            }
            // An agent's phone dialling an outside number: the agent's own call, as `dial` places
            // it, with the phone's call as its first leg (issue 19).
            if isAgent, !policy.numbers.contains(called), FeatureCode(called) == nil, !called.isEmpty, called.count <= 32,
                called.allSatisfy({ $0.isASCII && ($0.isNumber || "+*#".contains($0)) }), case .success(let out) = locate("tel:\(called)")
            {
                return phoneDialsOut(session, agent: String(origin.dropFirst(5)), number: called, trunk: out.trunk ?? "", meta: meta)
            }
            guard !origin.hasPrefix("user:") || policy.numbers.contains(called) || (isAgent && FeatureCode(called) != nil) else {
                return refuse(session, .notFound, "number \(called) is not served", meta)
            }
        }
        meta["call.origin"] = "\(origin)"

        let startedAt = scheduler.wallClock
        let unique = String(format: "%.0f.%llu", startedAt.rounded(.down), session.id)
        let call = ActiveCall(
            session: session, machine: CallSession(uniqueID: unique, caller: caller, rules: rules),
            info: CallSummary(
                id: session.id, callID: invite.callID, caller: caller, called: called, origin: origin, state: "answering", startedAt: startedAt))
        call.inbandDTMF = inband
        call.info.uniqueID = unique
        calls[session.id] = call
        byUniqueID[unique] = session.id
        let answerable = session.remoteSDP
        // Legs that will meet share a media loop: the bridge test's waiting caller, the conference.
        var near: RTPPortLease?
        if called == policy.bridgeNumber { near = waitingForBridge.values.lazy.compactMap { self.calls[$0]?.lease }.first }
        if called == policy.conferenceNumber { near = policy.conferenceSize > 0 ? conferenceFilling?.lease : conferenceMembers.values.first?.lease }
        ports.allocate(near: near).hop(to: loop).assumeIsolated().whenComplete { [weak self] result in
            guard let self, let call = self.calls[session.id] else {
                if case .success(let lease) = result { lease.loop.execute { lease.release() } }
                return
            }
            switch result {
            case .failure:
                self.forget(call)
                self.recordUnanswered(call, cause: "no free RTP port")
                self.refuse(session, .serviceUnavailable, "no free RTP port in \(self.ports.range)", meta)
            case .success(let lease):
                call.lease = lease
                self.answer(call, offer: answerable, lease: lease, meta: meta)
            }
        }
    }

    /// The agent's phone called an outside number: the ACD takes the agent off offers first (as
    /// for `dial`); then the phone's call is answered, the agent hears ringback, and the number is
    /// called through its trunk by the machine of an agent's own call.
    private func phoneDialsOut(_ session: InviteSession, agent: String, number: String, trunk: String, meta: Logger.Metadata) {
        guard agentDevice?(agent) != nil else { return refuse(session, .forbidden, "agent \(agent) is not logged in", meta) }
        guard let acdRequest else { return refuse(session, .serviceUnavailable, "no ACD runs", meta) }
        let startedAt = scheduler.wallClock
        let unique = String(format: "%.0f.%llu", startedAt.rounded(.down), session.id)
        let (service, sip, invite) = (bound, loop, NIOLoopBound(session, eventLoop: loop))
        acdRequest(.agentOutbound(agent: agent, call: unique)) { error in
            sip.execute {
                service.value.phoneDialAdmitted(invite.value, agent: agent, number: number, trunk: trunk, unique: unique, startedAt: startedAt, refusal: error?.message, meta: meta)
            }
        }
    }

    private func phoneDialAdmitted(
        _ session: InviteSession, agent: String, number: String, trunk: String, unique: String, startedAt: Double, refusal: String?, meta: Logger.Metadata
    ) {
        if let refusal { return refuse(session, .busyHere, refusal, meta) }
        let call = ActiveCall(
            session: session, machine: CallSession(uniqueID: unique, agent: agent, dials: number, rules: rules),
            info: CallSummary(id: session.id, callID: session.invite.callID, caller: agent, called: number, origin: trunk, state: "answering", startedAt: startedAt))
        call.info.uniqueID = unique
        calls[session.id] = call
        byUniqueID[unique] = session.id
        let offer = session.remoteSDP
        ports.allocate(near: nil).hop(to: loop).assumeIsolated().whenComplete { [weak self] result in
            guard let self, let call = self.calls[session.id] else {
                if case .success(let lease) = result { lease.loop.execute { lease.release() } }
                return
            }
            switch result {
            case .failure:
                self.forget(call)
                self.acd?(.callerHungUp(call: unique))
                self.recordUnanswered(call, cause: "no free RTP port")
                self.refuse(session, .serviceUnavailable, "no free RTP port in \(self.ports.range)", meta)
            case .success(let lease):
                call.lease = lease
                self.logger.info("agent's phone dials out", metadata: meta.merging(["agent.id": "\(agent)", "call.unique_id": "\(unique)"]) { $1 })
                self.answer(call, offer: offer, lease: lease, meta: meta)
            }
        }
    }

    private func answer(_ call: ActiveCall, offer: SDPSession?, lease: RTPPortLease, meta: Logger.Metadata) {
        let session = call.session
        let sdp: SDPSession
        if let offer {
            do {
                let (answer, audio) = try SDPNegotiation.answer(
                    offer, capabilities: policy.media, localPort: lease.rtpPort, sessionID: String(session.id), sessionVersion: 1)
                sdp = answer
                call.audio = audio
                call.info.codec = audio.codec.rawValue
                call.info.remoteRTP = "\(audio.remoteAddress):\(audio.remotePort)"
            } catch {
                forget(call)
                recordUnanswered(call, cause: "SDP not acceptable: \(error)")
                lease.loop.execute { lease.release() }
                refuse(session, .notAcceptableHere, "\(error)", meta, warning: "305 acdd \"\(error)\"")
                return
            }
        } else {
            // Late offer (RFC 3261 §13.2.1): we offer in the 200, the answer comes in the ACK.
            sdp = SDPNegotiation.offer(capabilities: policy.media, localPort: lease.rtpPort, sessionID: String(session.id), sessionVersion: 1)
        }
        call.info.localRTPPort = lease.rtpPort
        call.info.answeredAt = scheduler.wallClock
        answeredCount += 1
        let id = session.id
        session.onEvent = { [weak self] event in
            guard let self, case .answered = event, let call = self.calls[id] else { return }
            self.deliver(.acked, to: call)
        }
        // The leg is configured before the 200 leaves: a caller may send its first packet (or
        // a key) the moment the answer arrives, and the media loop must already know the codec,
        // the mode and where keys go. Tasks reach a media loop in order, before any packet that
        // arrives after them.
        prepareMedia(call, lease: lease)
        session.answer(sdp)
        if call.machine.direction == .outbound {
            // The agent's phone dialled out (phoneDialsOut): an agent's own call.
            emit(call, "call.outbound", [
                "agent": .string(call.summary.caller), "number": .string(call.summary.called), "trunk": .string(call.summary.origin),
                "sip_call_id": .string(call.summary.callID), "from_phone": true,
            ])
        } else {
            emit(call, "call.incoming", [
                "caller": .string(call.summary.caller), "called": .string(call.summary.called), "trunk": .string(call.summary.origin),
                "sip_call_id": .string(call.summary.callID),
            ])
        }
        deliver(.answered, to: call)
        lookUpCaller(call)
        startMedia(call, lease: lease)
        observer?("answered", call.summary, nil)
        logger.info("call answered", metadata: meta.merging(["call.id": "\(session.id)", "call.rtp_port": "\(lease.rtpPort)", "call.codec": "\(call.summary.codec ?? "offered")"]) { $1 })
    }

    private func refuse(_ session: InviteSession, _ status: SIPStatus, _ why: String, _ meta: Logger.Metadata, warning: String? = nil) {
        refusedCount += 1
        logger.info("call refused", metadata: meta.merging(["sip.status": "\(status.rawValue)", "call.reason": "\(why)"]) { $1 })
        session.reject(status, headers: warning.map { [SIPHeaderField(.warning, $0)] } ?? [])
    }

    public func reoffer(_ offer: SDPSession?, in session: InviteSession) -> ReofferDecision {
        if let leg = agentLegs[session.id] { return agentReoffer(offer, leg: leg) }
        guard let call = calls[session.id], let lease = call.lease else { return .refuse(.callDoesNotExist) }
        guard let offer else {
            return .answer(SDPNegotiation.offer(capabilities: policy.media, localPort: lease.rtpPort, sessionID: String(session.id), sessionVersion: 1))
        }
        do {
            let (answer, audio) = try SDPNegotiation.answer(offer, capabilities: policy.media, localPort: lease.rtpPort, sessionID: String(session.id), sessionVersion: 1)
            call.audio = audio
            call.info.codec = audio.codec.rawValue
            call.info.remoteRTP = "\(audio.remoteAddress):\(audio.remotePort)"
            configureStream(call, lease)
            // We are sendonly or inactive: the caller holds us and owes us no audio.
            deliver(.callerHold(audio.direction != .sendrecv && audio.direction != .recvonly), to: call)
            return .answer(answer)
        } catch {
            return .refuse(.notAcceptableHere)
        }
    }

    // MARK: Media

    /// The frame pool of the media loop `lease` lives on.
    func framePool(for lease: RTPPortLease) -> FramePool {
        let key = ObjectIdentifier(lease.loop)
        if let pool = framePools[key] { return pool }
        let pool = FramePool()
        framePools[key] = pool
        return pool
    }

    /// Bytes the media loops' frame pools hold (frames waiting for the writer, and free blocks).
    public var recordingFrameBytes: Int { framePools.values.reduce(0) { $0 + $1.bytes } }

    /// Runs `body` with the leg's stream on the leg's media loop.
    func onMedia(_ lease: RTPPortLease, _ body: @escaping @Sendable (RTPStream) -> Void) {
        let stream = lease.stream
        if lease.loop.inEventLoop { body(stream) } else { lease.loop.execute { body(stream) } }
    }

    /// The service, for closures that run on a media loop and report back here.
    var bound: NIOLoopBound<InboundCallService> { NIOLoopBound(self, eventLoop: loop) }

    /// Points the leg's RTP stream at what was negotiated, and tells it where keys and refused
    /// datagrams go.
    private func prepareMedia(_ call: ActiveCall, lease: RTPPortLease) {
        configureStream(call, lease)
        let id = call.session.id
        let echo = policy.echoNumber == call.summary.called
        let (service, sip) = (bound, loop)
        onMedia(lease) { stream in
            if echo { stream.mode = .echo }
            stream.onDigit = { digit in sip.execute { service.value.keyPressed(digit, call: id) } }
            stream.onBadPacket = { why in sip.execute { service.value.logger.warning("RTP datagram refused", metadata: ["call.id": "\(id)", "rtp.error": "\(why)"]) } }
        }
    }

    /// Starts what the number called does (test numbers, the IVR, a feature code), once the call
    /// is answered.
    private func startMedia(_ call: ActiveCall, lease: RTPPortLease) {
        let called = call.info.called
        if [policy.echoNumber, policy.playbackNumber, policy.bridgeNumber, policy.conferenceNumber].contains(called) {
            deliver(.startService(.test), to: call)
        }
        if let number = policy.playbackNumber, called == number { startPlaybackTest(call, lease: lease) }
        if let number = policy.bridgeNumber, called == number { pairForBridgeTest(call, lease: lease) }
        if let number = policy.conferenceNumber, called == number { joinConference(call, lease: lease) }
        if let entry = policy.ivr.entries[called] { startIVR(call, at: entry) }
        if call.info.origin.hasPrefix("user:"), let code = FeatureCode(called) {
            runFeatureCode(code, agent: String(call.info.origin.dropFirst(5)), call: call)
        }
    }

    func keyPressed(_ digit: Character, call id: UInt64) {
        guard let call = calls[id] else { return }
        deliver(.key(digit), to: call)
    }

    private func configureStream(_ call: ActiveCall, _ lease: RTPPortLease) {
        guard let audio = call.audio else { return }
        apply(audio, inbandDTMF: call.inbandDTMF, to: lease)
    }

    /// Points a leg's stream at what was negotiated for it.
    func apply(_ audio: NegotiatedAudio, inbandDTMF: Bool, to lease: RTPPortLease) {
        let payloadType = UInt8(truncatingIfNeeded: audio.payloadType)
        let kind = VoiceCodec.kind(encodingName: audio.codec.rawValue)
        let name = audio.codec.rawValue
        let remote = MediaAddress(ip: audio.remoteAddress, port: audio.remotePort)
        let sending = audio.direction == .sendrecv || audio.direction == .sendonly
        let events = audio.telephoneEventPayloadType.map { UInt8(truncatingIfNeeded: $0) }
        let inband = inbandDTMF
        onMedia(lease) { stream in
            stream.audioPayloadType = payloadType
            // A new codec object only when the codec changes: G.722's coder state must carry on.
            if stream.codec?.payloadType != payloadType || stream.codec?.kind != kind {
                stream.codec = VoiceCodec(encodingName: name, payloadType: payloadType)
            }
            stream.remote = remote
            stream.sending = sending
            stream.eventPayloadType = events
            stream.inbandDTMF = inband
        }
    }

    /// Calls in progress with each leg's media quality, read on the legs' own loops.
    public func activeCallsWithMedia() -> EventLoopFuture<[CallSummary]> {
        let summaries = activeCalls
        let leases = calls.mapValues { $0.lease }
        let reads: [EventLoopFuture<(UInt64, MediaQuality?)>] = summaries.map { s in
            guard let lease = leases[s.id] ?? nil else { return loop.makeSucceededFuture((s.id, nil)) }
            return lease.loop.submit { (s.id, lease.quality) }
        }
        return EventLoopFuture.whenAllSucceed(reads, on: loop).map { pairs in
            let quality = Dictionary(pairs, uniquingKeysWith: { a, _ in a })
            return summaries.map { s in
                var s = s
                s.media = quality[s.id] ?? nil
                return s
            }
        }
    }

    public func sessionEnded(_ session: InviteSession, reason: InviteSession.EndReason) {
        if let leg = agentLegs.removeValue(forKey: session.id) { return agentLegEnded(leg, reason: reason) }
        guard let call = calls[session.id] else { return }
        forget(call)
        if call.machine.campaignGroup != nil, call.machine.legs.first?.isOffer == true {
            // A predictive campaign's number that was never answered: why, as a try's outcome.
            let end: LegEnd =
                switch reason {
                case .rejected(let status), .failed(let status, _): .refused(status: Int(status.rawValue))
                default: .ended("\(reason)")
                }
            let (outcome, cause) = CallSession.notReached(end)
            deliver(.customerNotReached(outcome: outcome, cause: cause), to: call)
        }
        let (cause, by) =
            call.machine.campaignGroup != nil
            ? (reason == .remoteHangup ? ("customer hung up", "customer") : Self.cause(of: reason))
            : call.machine.direction == .outbound ? Self.agentCause(of: reason) : Self.cause(of: reason)
        deliver(.callerEnded(cause: cause, by: by), to: call)
        for timer in call.timers.values { timer.cancel() }
        call.timers.removeAll()
        call.lookupTimer?.cancel()
        endBridge(of: call)
        leaveConference(call)
        observer?("ended", call.summary, nil)
        let duration = call.summary.answeredAt.map { scheduler.wallClock - $0 } ?? 0
        var meta: Logger.Metadata = [
            "call.id": "\(session.id)", "call.sip_id": "\(call.summary.callID)", "call.reason": "\(reason)",
            "call.seconds": "\(Int(duration.rounded()))",
        ]
        guard let lease = call.lease else {
            meta["call.rtp_packets_in"] = "0"
            return logger.info("call ended", metadata: meta)
        }
        releaseReadingFigures(lease) { [weak self] q, relayed in
            meta["call.rtp_packets_in"] = "\(q.packetsIn)"
            if relayed > 0 { meta["rtp.relayed"] = "\(relayed)" }
            meta["rtp.packets_out"] = "\(q.packetsOut)"
            meta["rtp.lost"] = "\(q.lost)"
            meta["rtp.jitter_ms"] = "\((q.jitterMs * 10).rounded() / 10)"
            if let far = q.farLost { meta["rtcp.far_lost"] = "\(far)" }
            if let rtt = q.roundTripMs { meta["rtcp.rtt_ms"] = "\((rtt * 10).rounded() / 10)" }
            self?.logger.info("call ended", metadata: meta)
        }
    }

    /// The call is over for the service: no event will find it.
    func forget(_ call: ActiveCall) {
        calls[call.session.id] = nil
        for unique in [call.machine.uniqueID, call.machine.acdCall] + call.consultIDs where byUniqueID[unique] == call.session.id { byUniqueID[unique] = nil }
    }

    /// Gives a leg's ports back (which splits a bridge) after reading its last figures, both on
    /// the leg's own loop; `done` gets them here, on the SIP loop.
    func releaseReadingFigures(_ lease: RTPPortLease, done: @escaping (MediaQuality, Int) -> Void) {
        lease.loop.submit { () -> (MediaQuality, Int) in
            let q = lease.quality
            let relayed = lease.stream.packetsRelayed
            lease.release()
            return (q, relayed)
        }.hop(to: loop).assumeIsolated().whenSuccess { q, relayed in done(q, relayed) }
    }

    /// Ends every call (shutdown); returns how many there were.
    @discardableResult
    public func hangUpAll() -> Int {
        for call in calls.values { deliver(.release(cause: "daemon shutdown", by: "system"), to: call) }
        return sessions.hangUpAll()
    }
}
