import ACD
import Calls
import Campaigns
import Foundation
import JSON
import Logging
import NIOCore
import Store

/// Campaigns for operators (issue 19, part 3): the control socket's `campaign.*` and `dnc.*`
/// commands over the store (written here, off the loops) and the dialer (on the SIP loop).
extension DaemonCore {
    /// At start: the dialer, and the campaigns that were running go on (contacts caught being
    /// dialled by a stop are pending again).
    func startCampaigns(runner: ACDRunner) {
        let dialer = CampaignDialer(calls: calls, store: campaignStore, logger: logger)
        self.dialer = dialer
        calls.campaignDialer = dialer
        dialer.readyAgents = { group in
            runner.snapshot.agents.filter { $0.state == .ready && $0.skills.contains { $0.name == group } }.map(\.id)
        }
        dialer.loggedIn = { agent in runner.snapshot.agents.contains { $0.id == agent && $0.state != .loggedOut } }
        dialer.busyAgents = { group in
            runner.snapshot.agents.filter { a in a.skills.contains { $0.name == group } && [.ringing, .onCall, .wrapUp].contains(a.state) }
                .map { $0.state == .ringing ? 0 : Double($0.secondsInState) }
        }
        let wraps = Dictionary(config.groups.map { ($0.name, Double($0.wrapUpSeconds)) }, uniquingKeysWith: { a, _ in a })
        dialer.wrapSeconds = { wraps[$0] ?? 0 }
        let events = self.events
        dialer.onFigures = { figures in
            if case .object(let body) = figures { events.publish("campaign", body) }
        }
        do {
            let blocked = Set(try campaignStore.doNotCall().map(\.number))
            dialer.doNotCall = blocked
            for c in try campaignStore.campaigns() where c.status == .running {
                if let missing = missingAbandonPrompt(c.settings) {
                    try campaignStore.setStatus(c.settings.name, .paused, at: Date().timeIntervalSince1970)
                    logger.error("campaign paused: it may not dial", metadata: ["campaign.name": "\(c.settings.name)", "campaign.error": "\(missing)"])
                    continue
                }
                let reset = try campaignStore.resetDialling(c.settings.name, at: Date().timeIntervalSince1970)
                if reset > 0 { logger.notice("campaign contacts caught being dialled by the stop are pending again", metadata: ["campaign.name": "\(c.settings.name)", "contact.count": "\(reset)"]) }
                let month = try campaignStore.abandonFigures(of: c.settings.name, since: Date().timeIntervalSince1970 - 30 * 86_400)
                dialer.start(
                    c.settings, pending: try campaignStore.contacts(of: c.settings.name, status: .pending), doNotCall: blocked, answered30Days: month.answered,
                    abandoned30Days: month.abandoned)
            }
        } catch {
            logger.error("could not read the campaigns; none runs until a restart reads them", metadata: ["error": "\(error)"])
        }
    }

    /// A predictive campaign may not dial without the message the rule wants its abandoned calls
    /// to hear: checked at create, at start and at a restart (a reload may have removed it).
    func missingAbandonPrompt(_ settings: CampaignSettings) -> String? {
        guard settings.mode == .predictive else { return nil }
        do {
            _ = try prompts.require([settings.abandonPrompt], language: config.prompts.language)
            return nil
        } catch {
            return "a predictive campaign needs the prompt its abandoned calls hear (abandon_prompt): \(error)"
        }
    }

    func createCampaign(_ settings: CampaignSettings) -> Result<JSONValue, CampaignDialer.CampaignError> {
        let problems = settings.problems()
        guard problems.isEmpty else { return .failure(.init(problems.joined(separator: "; "))) }
        guard config.groups.contains(where: { $0.name == settings.group }) else { return .failure(.init("no group '\(settings.group)'")) }
        if let missing = missingAbandonPrompt(settings) { return .failure(.init(missing)) }
        do {
            try campaignStore.create(settings, at: Date().timeIntervalSince1970)
        } catch {
            return .failure(.init("\(error)"))
        }
        logger.info("campaign created", metadata: ["campaign.name": "\(settings.name)", "campaign.group": "\(settings.group)", "campaign.mode": "\(settings.mode.rawValue)"])
        return .success(Self.campaignView(settings, status: .created))
    }

    /// A contact list in CSV: all of it, or none of it with the first bad line named.
    func loadCampaign(_ name: String, csv: String, source: String) async -> Result<JSONValue, CampaignDialer.CampaignError> {
        let contacts: [Contact]
        do {
            contacts = try ContactCSV.parse(csv, source: source, campaign: name)
        } catch {
            logger.warning("campaign list refused", metadata: ["campaign.name": "\(name)", "campaign.error": "\(error.description)"])
            return .failure(.init(error.description))
        }
        let stored: [Contact]
        do {
            stored = try campaignStore.load(contacts, into: name, source: source, at: Date().timeIntervalSince1970)
        } catch {
            logger.warning("campaign list refused", metadata: ["campaign.name": "\(name)", "campaign.error": "\(error)"])
            return .failure(.init("\(error)"))
        }
        let dnc = stored.filter { $0.status == .dnc }.count
        logger.info("campaign list loaded", metadata: ["campaign.name": "\(name)", "contact.count": "\(stored.count)", "contact.dnc": "\(dnc)", "campaign.source": "\(source)"])
        try? await loop.submit { self.dialer.loaded(stored, into: name) }.get()
        return .success(["campaign": .string(name), "loaded": JSONValue(stored.count), "dnc": JSONValue(dnc)])
    }

    /// start, pause or stop.
    func setCampaign(_ name: String, to status: CampaignStatus) async -> Result<JSONValue, CampaignDialer.CampaignError> {
        guard let c = try? campaignStore.campaign(name) else { return .failure(.init("no campaign '\(name)'")) }
        if c.status == status { return .failure(.init("campaign '\(name)' is \(status.rawValue) already")) }
        let now = Date().timeIntervalSince1970
        if status == .running {
            guard config.groups.contains(where: { $0.name == c.settings.group }) else { return .failure(.init("campaign's group '\(c.settings.group)' is gone")) }
            if let missing = missingAbandonPrompt(c.settings) { return .failure(.init(missing)) }
        }
        do {
            try campaignStore.setStatus(name, status, at: now)
            if status == .running {
                let pending = try campaignStore.contacts(of: name, status: .pending)
                let blocked = Set(try campaignStore.doNotCall().map(\.number))
                let month = try campaignStore.abandonFigures(of: name, since: now - 30 * 86_400)
                try await loop.submit {
                    self.dialer.start(c.settings, pending: pending, doNotCall: blocked, answered30Days: month.answered, abandoned30Days: month.abandoned)
                }.get()
            } else {
                try await loop.submit { self.dialer.halt(name, as: status) }.get()
            }
        } catch {
            return .failure(.init("\(error)"))
        }
        return await campaignStatus(name).map { $0.first ?? .null }
    }

    /// Every campaign, or one, with its figures: contacts by status, tries by outcome, and
    /// what the dialer is doing now.
    func campaignStatus(_ name: String?) async -> Result<[JSONValue], CampaignDialer.CampaignError> {
        do {
            var out: [JSONValue] = []
            for c in try campaignStore.campaigns() where name == nil || c.settings.name == name {
                let figures = try campaignStore.figures(of: c.settings.name)
                let n = c.settings.name
                let live = try await loop.submit { self.dialer.live(n) }.get()
                var view = Self.campaignView(c.settings, status: c.status)
                if case .object(var fields) = view {
                    fields["contacts"] = .object(figures.contacts.mapValues { JSONValue($0) })
                    fields["attempts"] = .object(figures.attempts.mapValues { JSONValue($0) })
                    let tries = figures.attempts.values.reduce(0, +)
                    fields["dialled"] = JSONValue(tries)
                    fields["connected"] = JSONValue(figures.attempts["connected"] ?? 0)
                    // As 16 CFR 310.4(b)(4) counts them: over 30 days, out of calls answered by a person.
                    let month = try campaignStore.abandonFigures(of: n, since: Date().timeIntervalSince1970 - 30 * 86_400)
                    fields["abandoned"] = JSONValue(month.abandoned)
                    fields["abandon_rate"] = JSONValue(month.answered == 0 ? 0 : Double(month.abandoned) / Double(month.answered))
                    fields["live"] = live ?? .null
                    fields["created_at"] = JSONValue(c.createdAt)
                    view = .object(fields)
                }
                out.append(view)
            }
            if let name, out.isEmpty { return .failure(.init("no campaign '\(name)'")) }
            return .success(out)
        } catch {
            return .failure(.init("\(error)"))
        }
    }

    func campaignContacts(_ name: String, status: ContactStatus?) -> Result<JSONValue, CampaignDialer.CampaignError> {
        do {
            guard try campaignStore.campaign(name) != nil else { return .failure(.init("no campaign '\(name)'")) }
            return .success(.array(try campaignStore.contacts(of: name, status: status).map(Self.contactView)))
        } catch {
            return .failure(.init("\(error)"))
        }
    }

    func acceptPreview(agent: String) async -> Result<(id: UInt64, uniqueID: String), CampaignDialer.CampaignError> {
        await withCheckedContinuation { c in
            loop.execute { self.dialer.accept(agent: agent) { c.resume(returning: $0) } }
        }
    }

    func skipPreview(agent: String) async -> Result<JSONValue, CampaignDialer.CampaignError> {
        let r = (try? await loop.submit { self.dialer.skip(agent: agent) }.get()) ?? .failure(.init("the daemon is stopping"))
        return r.map(Self.contactView)
    }

    func previewOf(agent: String) async -> JSONValue {
        let p = try? await loop.submit { self.dialer.preview(of: agent) }.get()
        return p.flatMap { $0 }.map { ["campaign": .string($0.campaign), "contact": Self.contactView($0.contact)] } ?? .null
    }

    func addDoNotCall(_ raw: [String], note: String) async -> Result<JSONValue, CampaignDialer.CampaignError> {
        var numbers: [String] = []
        for r in raw {
            guard let n = ContactCSV.normalise(r) else { return .failure(.init("'\(r)' is not a phone number")) }
            numbers.append(n)
        }
        do {
            let blocked = try campaignStore.addDoNotCall(numbers, note: note, at: Date().timeIntervalSince1970)
            let added = numbers
            try await loop.submit { self.dialer.blocked(added) }.get()
            logger.info("numbers put on the do-not-call list", metadata: ["dnc.count": "\(numbers.count)", "contact.blocked": "\(blocked)", "dnc.note": "\(note)"])
            return .success(["added": JSONValue(numbers.count), "contacts_blocked": JSONValue(blocked)])
        } catch {
            return .failure(.init("\(error)"))
        }
    }

    func removeDoNotCall(_ raw: String) async -> Result<JSONValue, CampaignDialer.CampaignError> {
        guard let n = ContactCSV.normalise(raw) else { return .failure(.init("'\(raw)' is not a phone number")) }
        do {
            guard try campaignStore.removeDoNotCall(n) else { return .failure(.init("\(n) is not on the do-not-call list")) }
            try await loop.submit { self.dialer.unblocked(n) }.get()
            return .success(["removed": .string(n)])
        } catch {
            return .failure(.init("\(error)"))
        }
    }

    func doNotCallList() -> Result<JSONValue, CampaignDialer.CampaignError> {
        do {
            return .success(.array(try campaignStore.doNotCall().map { ["number": .string($0.number), "added_at": JSONValue($0.addedAt), "note": .string($0.note)] }))
        } catch {
            return .failure(.init("\(error)"))
        }
    }

    static func campaignView(_ s: CampaignSettings, status: CampaignStatus) -> JSONValue {
        [
            "name": .string(s.name), "group": .string(s.group), "mode": .string(s.mode.rawValue), "status": .string(status.rawValue),
            "hours": .string(s.hours.description), "time_zone": .string(s.timeZone), "attempts_max": JSONValue(s.attempts),
            "retry_seconds": .object(s.retrySeconds.mapValues { JSONValue($0) }), "abandon_target": JSONValue(s.abandonTarget),
            "ring_seconds": JSONValue(s.ringSeconds), "max_lines_per_agent": JSONValue(s.maxLinesPerAgent), "abandon_prompt": .string(s.abandonPrompt),
        ]
    }

    static func contactView(_ c: Contact) -> JSONValue {
        var fields: [String: JSONValue] = [:]
        for f in c.fields { fields[f.name] = .string(f.value) }
        return [
            "id": JSONValue(Int(c.id)), "number": .string(c.number), "name": .string(c.name), "time_zone": JSONValue(c.timeZone), "status": .string(c.status.rawValue),
            "attempts": JSONValue(c.attempts), "next_at": c.nextAt.map { JSONValue($0) } ?? .null, "last_outcome": JSONValue(c.lastOutcome), "agent": JSONValue(c.agent),
            "line": JSONValue(c.line), "fields": .object(fields),
        ]
    }
}
