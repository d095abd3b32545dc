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
    public func start(_ settings: CampaignSettings, pending: [Contact], doNotCall: Set<String>) {
        self.doNotCall = doNotCall
        let inFlight = Set(busy.values.filter { $0.campaign == settings.name }.map(\.contact.id))
        var run = runs[settings.name] ?? Run(settings: settings, status: .running, pending: [])
        run.settings = settings
        run.status = .running
        run.pending = pending.filter { !inFlight.contains($0.id) }
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
        if status == .stopped && !busy.values.contains(where: { $0.campaign == name }) { runs[name] = nil } else { runs[name] = run }
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
        ]
    }

    // MARK: Dialling

    private func arm() {
        guard timer == nil else { return }
        timer = calls.scheduler.schedule(after: .seconds(1)) { [weak self] in
            guard let self else { return }
            self.timer = nil
            self.tick()
            if self.runs.values.contains(where: { $0.status == .running }) || !self.busy.isEmpty { self.arm() }
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
            guard let run = runs[name], run.status == .running, run.backoff.allows(at: time) else { continue }
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
        calls.placeCall(agent: agent, number: c.number, campaign: CampaignCall(campaign: name, contact: c)) { [weak self] result in
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

    /// A try's record is written: the contact's next state, the try kept for the figures.
    func attemptEnded(_ campaign: CampaignCall, facts: CallRecordFacts, unique: String, startedAt: Double) {
        let name = campaign.campaign
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
        guard let run = runs[name], run.status == .running, run.pending.isEmpty, !busy.values.contains(where: { $0.campaign == name }) else { return }
        runs[name]!.status = .finished
        try? store.setStatus(name, .finished, at: now)
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
