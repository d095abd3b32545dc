public import Campaigns
import Foundation
public import JSON
public import Logging
import NIOCore
import SIP
public import Store
import CRMBridge

/// A campaign's try of one contact, carried by the agent's own call it makes.
public struct CampaignCall: Sendable, Equatable {
    public var campaign: String
    public var contact: Contact
    /// How long the number may ring (the campaign's `ring_seconds`).
    public var ringSeconds: Int?
    /// Predictive: the prompt heard when no agent takes the answered customer in time.
    public var abandonPrompt: String?

    /// What the agent's desktop shows: whom they call and the list's fields for them.
    var screenPop: JSONValue {
        var fields: [String: JSONValue] = [:]
        for f in contact.fields { fields[f.name] = .string(f.value) }
        return [
            "name": .string(campaign), "contact": JSONValue(Int(contact.id)), "contact_name": .string(contact.name), "number": .string(contact.number),
            "attempts": JSONValue(contact.attempts), "fields": .object(fields),
        ]
    }
}

/// The campaigns' dialer (issue 19, part 3), on the SIP loop. It holds each running campaign's
/// pending contacts in memory (loaded at start), gives ready agents of the campaign's group a
/// contact each (progressive: their phone rings and then the number, as click-to-dial; preview:
/// they see the contact and accept or skip), and turns each try's call-detail record into the
/// contact's next state by the pure rules of the Campaigns target. Disk writes go through
/// CampaignStore's queue; a 503 or a refused placement backs the campaign off.
public final class CampaignDialer {
    struct Run {
        var settings: CampaignSettings
        var status: CampaignStatus
        /// To be called, in load order; a retry or an hours wait is a `nextAt` in the future.
        var pending: [Contact]
        var backoff = TrunkBackoff()
        /// This start's figures (the database has every try since the campaign was made).
        var dialled = 0, outcomes: [String: Int] = [:]
        /// Predictive: the pacer, and the numbers dialled ahead of agents by unique id.
        var pacer: PredictivePacer?
        var ahead: [String: Ahead] = [:]
    }

    /// A predictive campaign's number: ringing, answered, and once given an agent.
    struct Ahead {
        var contact: Contact
        var startedAt: Double
        var answered = false
        var connected = false
    }

    unowned let calls: InboundCallService
    let store: CampaignStore
    let logger: Logger
    private(set) var runs: [String: Run] = [:]
    /// Tries under way and previews shown, by agent: an agent has at most one.
    private(set) var busy: [String: (campaign: String, contact: Contact, preview: Bool)] = [:]
    public var doNotCall: Set<String> = []
    private var timer: SIPTimerToken?
    /// Ready agents of a group now (the ACD's published snapshot).
    public var readyAgents: ((String) -> [String])?
    /// Whether an agent is logged in (a preview of a logged-out agent goes back to the list).
    public var loggedIn: ((String) -> Bool)?
    /// Agents of a group ringing, on a call or in wrap-up, with the seconds in that state.
    public var busyAgents: ((String) -> [Double])?
    /// A group's wrap-up, for the handle time a predictive campaign's pacer measures.
    public var wrapSeconds: ((String) -> Double)?
    /// Live figures for the `campaign` topic of the control socket's event stream.
    public var onFigures: ((JSONValue) -> Void)?
    private var crmSeq = 0
    private let boot = Int64(Date().timeIntervalSince1970 * 1000)

    public init(calls: InboundCallService, store: CampaignStore, logger: Logger) {
        self.calls = calls
        self.store = store
        self.logger = logger
    }

    var now: Double { calls.scheduler.wallClock }

    public struct CampaignError: Error, CustomStringConvertible {
        public var description: String
        public init(_ d: String) { description = d }
    }

    // MARK: Operators

    /// Starts (or resumes) a campaign with the pending contacts read from disk.
    public func start(_ settings: CampaignSettings, pending: [Contact], doNotCall: Set<String>, answered30Days: Int = 0, abandoned30Days: Int = 0) {
        self.doNotCall = doNotCall
        let inFlight = Set(busy.values.filter { $0.campaign == settings.name }.map(\.contact.id))
        var run = runs[settings.name] ?? Run(settings: settings, status: .running, pending: [])
        run.settings = settings
        run.status = .running
        let ahead = Set(run.ahead.values.map(\.contact.id))
        run.pending = pending.filter { !inFlight.contains($0.id) && !ahead.contains($0.id) }
        if settings.mode == .predictive && run.pacer == nil {
            var pacer = PredictivePacer(target: settings.abandonTarget, maxLinesPerAgent: settings.maxLinesPerAgent)
            pacer.seed(answered: answered30Days, abandoned: abandoned30Days)
            run.pacer = pacer
        }
        runs[settings.name] = run
        logger.info("campaign started", metadata: ["campaign.name": "\(settings.name)", "campaign.mode": "\(settings.mode.rawValue)", "campaign.pending": "\(run.pending.count)"])
        arm()
        tick()
    }

    /// Pauses or stops: no new tries; previews not yet accepted go back to the list. Calls
    /// under way finish.
    public func halt(_ name: String, as status: CampaignStatus) {
        guard var run = runs[name] else { return }
        run.status = status
        for (agent, b) in busy where b.campaign == name && b.preview {
            busy[agent] = nil
            var c = b.contact
            c.status = .pending
            c.agent = nil
            run.pending.insert(c, at: 0)
            store.update(c, at: now)
            emit(name, "campaign.preview_withdrawn", ["agent": .string(agent), "contact": JSONValue(Int(c.id))])
        }
        if status == .stopped && !busy.values.contains(where: { $0.campaign == name }) && run.ahead.isEmpty { runs[name] = nil } else { runs[name] = run }
        logger.info("campaign \(status.rawValue)", metadata: ["campaign.name": "\(name)"])
        publish(name)
    }

    /// Contacts loaded while the campaign runs join its list.
    public func loaded(_ contacts: [Contact], into name: String) {
        guard runs[name] != nil else { return }
        runs[name]!.pending += contacts.filter { $0.status == .pending }
        tick()
    }

    /// A number put on the do-not-call list is taken out of every list now.
    public func blocked(_ numbers: [String]) {
        doNotCall.formUnion(numbers)
        for name in runs.keys { runs[name]!.pending.removeAll { doNotCall.contains($0.number) } }
    }

    public func unblocked(_ number: String) { doNotCall.remove(number) }

    /// The preview an agent has, if any.
    public func preview(of agent: String) -> CampaignCall? {
        guard let b = busy[agent], b.preview else { return nil }
        return CampaignCall(campaign: b.campaign, contact: b.contact)
    }

    /// The agent accepts their preview: their phone rings, then the contact's number.
    public func accept(agent: String, done: @escaping (Result<(id: UInt64, uniqueID: String), CampaignError>) -> Void) {
        guard let b = busy[agent], b.preview else { return done(.failure(CampaignError("agent \(agent) has no contact to preview"))) }
        busy[agent] = (b.campaign, b.contact, false)
        dial(b.contact, campaign: b.campaign, agent: agent) { result in done(result.mapError { CampaignError($0.description) }) }
    }

    /// The agent skips their preview: the contact is not called in this campaign.
    public func skip(agent: String) -> Result<Contact, CampaignError> {
        guard let b = busy[agent], b.preview else { return .failure(CampaignError("agent \(agent) has no contact to preview")) }
        busy[agent] = nil
        var c = b.contact
        c.status = .skipped
        c.lastOutcome = "skipped by \(agent)"
        store.update(c, at: now)
        runs[b.campaign]?.outcomes["skipped", default: 0] += 1
        logger.info("campaign contact skipped", metadata: ["campaign.name": "\(b.campaign)", "contact.id": "\(c.id)", "agent.id": "\(agent)"])
        publish(b.campaign)
        tick()
        return .success(c)
    }

    /// What the figures say now, for `campaign.status` beside the database's counts.
    public func live(_ name: String) -> JSONValue? {
        guard let run = runs[name] else { return nil }
        let mine = busy.values.filter { $0.campaign == name }
        return [
            "status": .string(run.status.rawValue), "pending": JSONValue(run.pending.count), "dialling": JSONValue(mine.filter { !$0.preview }.count),
            "previews": JSONValue(mine.filter(\.preview).count), "agents_busy": JSONValue(mine.count), "dialled": JSONValue(run.dialled),
            "outcomes": .object(run.outcomes.mapValues { JSONValue($0) }),
            "backoff_seconds": JSONValue(max(0, Int((run.backoff.until - now).rounded(.up)))),
            "ringing": JSONValue(run.ahead.values.filter { !$0.answered }.count),
            "waiting_for_agent": JSONValue(run.ahead.values.filter { $0.answered && !$0.connected }.count),
            "abandon_rate": run.pacer.map { p in JSONValue(p.answered == 0 ? 0 : Double(p.abandoned) / Double(p.answered)) } ?? 0,
            "pacer_gain": run.pacer.map { JSONValue($0.gain) } ?? .null,
        ]
    }

    // MARK: Dialling

    private func arm() {
        guard timer == nil else { return }
        timer = calls.scheduler.schedule(after: .seconds(1)) { [weak self] in
            guard let self else { return }
            self.timer = nil
            self.tick()
            if self.runs.values.contains(where: { $0.status == .running || !$0.ahead.isEmpty }) || !self.busy.isEmpty { self.arm() }
        }
    }

    /// Gives each ready agent of a running campaign's group that has nothing of a campaign a
    /// contact that may be called now.
    func tick() {
        let time = now
        // A preview shown to an agent who has gone goes back to the list.
        for (agent, b) in busy where b.preview && loggedIn?(agent) == false {
            busy[agent] = nil
            var c = b.contact
            c.status = .pending
            c.agent = nil
            runs[b.campaign]?.pending.insert(c, at: 0)
            store.update(c, at: time)
            logger.info("campaign preview withdrawn: the agent logged out", metadata: ["campaign.name": "\(b.campaign)", "agent.id": "\(agent)"])
        }
        for name in runs.keys.sorted() {
            noteConnected(name)
            guard let run = runs[name], run.status == .running, run.backoff.allows(at: time) else { continue }
            if run.settings.mode == .predictive {
                dialAhead(name, at: time)
                finishIfDone(name)
                continue
            }
            for agent in readyAgents?(run.settings.group) ?? [] where busy[agent] == nil {
                guard let contact = takeNext(name, at: time) else { break }
                if run.settings.mode == .preview {
                    busy[agent] = (name, contact, true)
                    logger.info("campaign contact previewed", metadata: ["campaign.name": "\(name)", "contact.id": "\(contact.id)", "agent.id": "\(agent)"])
                    emit(name, "campaign.preview", ["agent": .string(agent), "contact": CampaignCall(campaign: name, contact: contact).screenPop])
                } else {
                    busy[agent] = (name, contact, false)
                    dial(contact, campaign: name, agent: agent) { _ in }
                }
                guard runs[name]?.backoff.allows(at: time) == true else { break }
            }
            finishIfDone(name)
        }
    }

    /// The first contact of the list that may be called now, marked as being dialled; ones that
    /// must wait get their time, ones never to be called leave the list.
    private func takeNext(_ name: String, at time: Double) -> Contact? {
        guard var run = runs[name] else { return nil }
        defer { runs[name] = run }
        var i = 0
        while i < run.pending.count {
            var c = run.pending[i]
            if let next = c.nextAt, next > time {
                i += 1
                continue
            }
            switch ContactRules.wait(c, settings: run.settings, now: time, doNotCall: doNotCall.contains) {
            case nil:
                run.pending.remove(at: i)
                c.status = .dialling
                store.update(c, at: time)
                return c
            case .until(let t):
                run.pending[i].nextAt = t
                i += 1
            case .never(let status):
                run.pending.remove(at: i)
                c.status = status
                store.update(c, at: time)
            }
        }
        return nil
    }

    private func dial(_ contact: Contact, campaign name: String, agent: String, done: @escaping (Result<(id: UInt64, uniqueID: String), InboundCallService.DialError>) -> Void) {
        var c = contact
        c.agent = agent
        busy[agent] = (name, c, false)
        runs[name]?.dialled += 1
        let ring = runs[name]?.settings.ringSeconds
        calls.placeCall(agent: agent, number: c.number, campaign: CampaignCall(campaign: name, contact: c, ringSeconds: ring)) { [weak self] result in
            guard let self else { return done(result) }
            if case .failure(let why) = result {
                // Not placed (the agent was taken meanwhile, no trunk, overload): not a try.
                self.busy[agent] = nil
                self.runs[name]?.dialled -= 1
                self.backToList(c, name, outcome: .notDialled)
                self.runs[name]?.backoff.congested(at: self.now)
                self.logger.notice("campaign call not placed; backing off", metadata: ["campaign.name": "\(name)", "agent.id": "\(agent)", "call.reason": "\(why)"])
            }
            done(result)
        }
    }

    private func backToList(_ c: Contact, _ name: String, outcome: AttemptOutcome) {
        guard let run = runs[name] else { return store.update(ContactRules.after(outcome, c, settings: CampaignSettings(name: name, group: "", mode: .progressive), now: now), at: now) }
        let next = ContactRules.after(outcome, c, settings: run.settings, now: now)
        if next.status == .pending { runs[name]!.pending.insert(next, at: 0) }
        store.update(next, at: now)
    }

    // MARK: Predictive

    /// Asks the pacer how many numbers to dial now, and dials them.
    private func dialAhead(_ name: String, at time: Double) {
        guard var run = runs[name], var pacer = run.pacer else { return }
        let ringing = run.ahead.values.filter { !$0.answered }
        let waiting = run.ahead.values.filter { $0.answered && !$0.connected }.count
        let state = PacerState(
            ready: readyAgents?(run.settings.group).count ?? 0, busy: busyAgents?(run.settings.group) ?? [], ringing: ringing.count,
            ringingAges: ringing.map { time - $0.startedAt }, waiting: waiting)
        let n = pacer.dials(state, now: time)
        run.pacer = pacer
        runs[name] = run
        for _ in 0..<n {
            guard runs[name]?.backoff.allows(at: time) == true, let contact = takeNext(name, at: time) else { break }
            dialCustomer(contact, name)
        }
    }

    private func dialCustomer(_ contact: Contact, _ name: String) {
        guard let run = runs[name] else { return }
        runs[name]!.dialled += 1
        let startedAt = now
        let call = CampaignCall(campaign: name, contact: contact, ringSeconds: run.settings.ringSeconds, abandonPrompt: run.settings.abandonPrompt)
        calls.placeCustomerCall(call, group: run.settings.group, ringSeconds: run.settings.ringSeconds) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let unique):
                self.runs[name]?.ahead[unique] = Ahead(contact: contact, startedAt: startedAt)
            case .failure(let why):
                self.runs[name]?.dialled -= 1
                self.backToList(contact, name, outcome: .notDialled)
                self.runs[name]?.backoff.congested(at: self.now)
                self.logger.notice("campaign call not placed; backing off", metadata: ["campaign.name": "\(name)", "call.reason": "\(why)"])
            }
        }
    }

    /// A number dialled ahead was answered by a person.
    func customerAnswered(_ unique: String, ringSeconds: Double) {
        for name in runs.keys where runs[name]!.ahead[unique] != nil {
            runs[name]!.ahead[unique]!.answered = true
            runs[name]!.pacer?.observe(.answered(ringSeconds: ringSeconds), now: now)
        }
    }

    /// Answered numbers that an agent has taken since the last look.
    private func noteConnected(_ name: String) {
        guard let run = runs[name], run.settings.mode == .predictive else { return }
        for (unique, a) in run.ahead where a.answered && !a.connected {
            guard let call = calls.caller(unique), call.machine.connected != nil else { continue }
            runs[name]!.ahead[unique]!.connected = true
            runs[name]!.pacer?.observe(.connected, now: now)
        }
    }

    /// A predictive try's record: the pacer's measures, then the contact's next state.
    private func predictiveEnded(_ name: String, _ a: Ahead, facts: CallRecordFacts, unique: String) {
        let time = now
        var connected = a.connected
        if !connected, facts.outcome == "connected" {
            connected = true
            runs[name]?.pacer?.observe(.connected, now: time)
        }
        let outcome: AttemptOutcome
        switch facts.outcome {
        case "connected": outcome = .connected
        case "abandoned":
            outcome = .abandoned
            runs[name]?.pacer?.observe(.abandoned, now: time)
        case "busy": outcome = .busy
        case "congestion": outcome = .congestion
        case "failed": outcome = .failed
        default: outcome = .noAnswer  // no-answer; hung-up: answered and gone before an agent
        }
        if facts.targetAnsweredAt == nil { runs[name]?.pacer?.observe(.notAnswered(afterSeconds: facts.end - a.startedAt), now: time) }
        if connected {
            let wrap = wrapSeconds?(runs[name]?.settings.group ?? "") ?? 0
            runs[name]?.pacer?.observe(.handled(seconds: Double(facts.talkSeconds ?? 0) + wrap), now: time)
        }
        if outcome == .congestion { runs[name]?.backoff.congested(at: time) } else { runs[name]?.backoff.through() }
        let settings = runs[name]?.settings ?? CampaignSettings(name: name, group: "", mode: .predictive)
        var next = ContactRules.after(outcome, a.contact, settings: settings, now: time)
        next.agent = facts.agent
        if next.status == .pending, runs[name] != nil {
            runs[name]!.pending.insert(next, at: outcome == .congestion ? 0 : runs[name]!.pending.count)
        }
        runs[name]?.outcomes[outcome.rawValue, default: 0] += 1
        store.update(
            next,
            attempt: CampaignStore.Attempt(
                uniqueID: unique, campaign: name, contact: a.contact.id, number: a.contact.number, agent: facts.agent, outcome: outcome.rawValue, cause: facts.cause,
                startedAt: a.startedAt, endedAt: facts.end, talkSeconds: facts.talkSeconds.map(Double.init)), at: time)
        logger.info(
            "campaign try ended",
            metadata: [
                "campaign.name": "\(name)", "contact.id": "\(next.id)", "call.unique_id": "\(unique)", "call.outcome": "\(outcome.rawValue)",
                "contact.status": "\(next.status.rawValue)", "contact.attempts": "\(next.attempts)",
            ])
        if runs[name]?.status == .stopped && runs[name]?.ahead.isEmpty == true { runs[name] = nil }
        publish(name)
        finishIfDone(name)
    }

    /// A try's record is written: the contact's next state, the try kept for the figures.
    func attemptEnded(_ campaign: CampaignCall, facts: CallRecordFacts, unique: String, startedAt: Double) {
        let name = campaign.campaign
        if let a = runs[name]?.ahead.removeValue(forKey: unique) { return predictiveEnded(name, a, facts: facts, unique: unique) }
        let agent = facts.agent ?? campaign.contact.agent ?? ""
        if busy[agent]?.contact.id == campaign.contact.id { busy[agent] = nil }
        let outcome: AttemptOutcome =
            if !facts.agentAnswered {
                .notDialled
            } else {
                switch facts.outcome {
                case "connected": .connected
                case "busy": .busy
                case "congestion": .congestion
                case "failed": .failed
                default: .noAnswer  // no-answer; cancelled: the agent hung up while it rang
                }
            }
        let time = now
        let settings = runs[name]?.settings ?? CampaignSettings(name: name, group: "", mode: .progressive)
        var next = ContactRules.after(outcome, campaign.contact, settings: settings, now: time)
        next.agent = facts.agentAnswered ? agent : nil
        if outcome == .congestion { runs[name]?.backoff.congested(at: time) } else if facts.agentAnswered { runs[name]?.backoff.through() }
        if !facts.agentAnswered, !agent.isEmpty {
            // As for a caller's ring: an agent whose phone does not take the campaign's call is
            // paused, not rung again every second.
            calls.acd?(.agentPause(agent: agent, reason: "campaign call not answered"))
            logger.notice("agent did not answer a campaign call; paused", metadata: ["campaign.name": "\(name)", "agent.id": "\(agent)"])
        }
        if next.status == .pending {
            if runs[name] != nil { runs[name]!.pending.insert(next, at: outcome == .notDialled || outcome == .congestion ? 0 : runs[name]!.pending.count) }
        }
        runs[name]?.outcomes[outcome.rawValue, default: 0] += 1
        let attempt =
            outcome == .notDialled
            ? nil
            : CampaignStore.Attempt(
                uniqueID: unique, campaign: name, contact: campaign.contact.id, number: campaign.contact.number, agent: agent, outcome: outcome.rawValue,
                cause: facts.cause, startedAt: startedAt, endedAt: facts.end, talkSeconds: facts.talkSeconds.map(Double.init))
        store.update(next, attempt: attempt, at: time)
        logger.info(
            "campaign try ended",
            metadata: [
                "campaign.name": "\(name)", "contact.id": "\(next.id)", "call.unique_id": "\(unique)", "call.outcome": "\(outcome.rawValue)",
                "contact.status": "\(next.status.rawValue)", "contact.attempts": "\(next.attempts)",
            ])
        if runs[name]?.status == .stopped && !busy.values.contains(where: { $0.campaign == name }) { runs[name] = nil }
        publish(name)
        finishIfDone(name)
    }

    /// A running campaign with nothing left to call, now or later, and nothing under way.
    private func finishIfDone(_ name: String) {
        guard let run = runs[name], run.status == .running, run.pending.isEmpty, run.ahead.isEmpty, !busy.values.contains(where: { $0.campaign == name }) else { return }
        runs[name]!.status = .finished
        store.updateStatus(name, .finished, at: now)
        logger.info("campaign finished: every contact reached, failed or not to be called", metadata: ["campaign.name": "\(name)"])
        emit(name, "campaign.finished", [:])
        publish(name)
    }

    private func publish(_ name: String) {
        guard let onFigures, case .object(var live)? = live(name) else { return }
        live["campaign"] = .string(name)
        onFigures(.object(live))
    }

    /// A campaign event for the CRM store: stream `campaign:<name>`.
    private func emit(_ name: String, _ type: String, _ data: [String: JSONValue]) {
        guard let onOutbox = calls.onOutbox else { return }
        crmSeq += 1
        var data = data
        data["campaign"] = .string(name)
        onOutbox(CRMEvents.campaign(type, campaign: name, boot: boot, seq: crmSeq, time: now, data: .object(data)))
    }
}
