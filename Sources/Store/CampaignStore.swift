public import Campaigns
import Foundation
import GRDB
public import Logging

/// Campaigns on disk (issue 19, part 3): settings and status, contacts with their tries, each
/// try's outcome, and the do-not-call list. The operator's commands write at once (off the
/// loops, from the control socket); the dialer's updates of contacts and tries go through a
/// queue of their own, like the callbacks', so a loop never waits for the disk.
public final class CampaignStore: @unchecked Sendable {
    // Unchecked: `database` and `logger` are Sendable; the queue serialises the dialer's writes.
    private let database: ACDDatabase
    private let logger: Logger
    private let writer = DispatchQueue(label: "acdd.store.campaigns")

    public init(database: ACDDatabase, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    public struct StoreError: Error, CustomStringConvertible, Equatable {
        public var description: String
        public init(_ d: String) { description = d }
    }

    public struct Stored: Sendable, Equatable {
        public var settings: CampaignSettings
        public var status: CampaignStatus
        public var createdAt: Double
        public var updatedAt: Double
    }

    /// One try of a contact, for the campaign's figures and report.
    public struct Attempt: Sendable, Equatable {
        public var uniqueID: String
        public var campaign: String
        public var contact: Int64
        public var number: String
        public var agent: String?
        public var outcome: String
        public var cause: String?
        public var startedAt: Double
        public var endedAt: Double
        public var talkSeconds: Double?

        public init(
            uniqueID: String, campaign: String, contact: Int64, number: String, agent: String?, outcome: String, cause: String?, startedAt: Double, endedAt: Double,
            talkSeconds: Double?
        ) {
            self.uniqueID = uniqueID
            self.campaign = campaign
            self.contact = contact
            self.number = number
            self.agent = agent
            self.outcome = outcome
            self.cause = cause
            self.startedAt = startedAt
            self.endedAt = endedAt
            self.talkSeconds = talkSeconds
        }
    }

    public func create(_ settings: CampaignSettings, at now: Double) throws {
        let json = String(decoding: try JSONEncoder().encode(settings), as: UTF8.self)
        try database.pool.write { db in
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM campaign WHERE name = ?", arguments: [settings.name]) == 0 else {
                throw StoreError("campaign '\(settings.name)' exists")
            }
            try db.execute(
                sql: "INSERT INTO campaign (name, settings, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [settings.name, json, CampaignStatus.created.rawValue, now, now])
        }
    }

    /// Every campaign, as last written (the dialer's queued writes are waited for).
    public func campaigns() throws -> [Stored] {
        flush()
        return try database.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM campaign ORDER BY created_at, name").map { r in
                let settings = try JSONDecoder().decode(CampaignSettings.self, from: Data((r["settings"] as String).utf8))
                return Stored(settings: settings, status: CampaignStatus(rawValue: r["status"]) ?? .stopped, createdAt: r["created_at"], updatedAt: r["updated_at"])
            }
        }
    }

    public func campaign(_ name: String) throws -> Stored? { try campaigns().first { $0.settings.name == name } }

    /// The dialer's change of a campaign's status (it finished), through the writer's queue
    /// like its contacts: the SIP loop never waits for the disk.
    public func updateStatus(_ name: String, _ status: CampaignStatus, at now: Double) {
        let (database, logger) = (self.database, self.logger)
        writer.async {
            do {
                try database.pool.write { db in
                    try db.execute(sql: "UPDATE campaign SET status = ?, updated_at = ? WHERE name = ?", arguments: [status.rawValue, now, name])
                }
            } catch {
                logger.error("could not write a campaign's status", metadata: ["error": "\(error)", "campaign.name": "\(name)", "campaign.status": "\(status.rawValue)"])
            }
        }
    }

    public func setStatus(_ name: String, _ status: CampaignStatus, at now: Double) throws {
        flush()
        try database.pool.write { db in
            try db.execute(sql: "UPDATE campaign SET status = ?, updated_at = ? WHERE name = ?", arguments: [status.rawValue, now, name])
        }
    }

    /// Adds a list's contacts in one transaction: a number the campaign already has fails the
    /// whole load, naming the line. Numbers on the do-not-call list are loaded as `dnc`, so the
    /// operator sees them, and never dialled. Returns the contacts as stored, with their ids.
    public func load(_ contacts: [Contact], into campaign: String, source: String, at now: Double) throws -> [Contact] {
        flush()
        return try database.pool.write { db in
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM campaign WHERE name = ?", arguments: [campaign]) == 1 else {
                throw StoreError("no campaign '\(campaign)'")
            }
            let blocked = Set(try String.fetchAll(db, sql: "SELECT number FROM dnc"))
            var out: [Contact] = []
            out.reserveCapacity(contacts.count)
            for var c in contacts {
                if try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM campaign_contact WHERE campaign = ? AND number = ?", arguments: [campaign, c.number]) != 0 {
                    throw StoreError("\(source):\(c.line): number \(c.number) is already in campaign '\(campaign)'")
                }
                c.campaign = campaign
                if blocked.contains(c.number) { c.status = .dnc }
                let fields = String(decoding: try JSONSerialization.data(withJSONObject: c.fields.map { [$0.name, $0.value] }), as: UTF8.self)
                try db.execute(
                    sql: """
                        INSERT INTO campaign_contact (campaign, number, name, time_zone, fields, status, attempts, next_at, last_outcome, agent, line, updated_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [campaign, c.number, c.name, c.timeZone, fields, c.status.rawValue, c.attempts, c.nextAt, c.lastOutcome, c.agent, c.line, now])
                c.id = db.lastInsertedRowID
                out.append(c)
            }
            return out
        }
    }

    /// After a start: contacts that were being dialled or previewed when the daemon stopped
    /// (kill -9 included) are pending again; a try whose record was written was counted then.
    @discardableResult
    public func resetDialling(_ campaign: String, at now: Double) throws -> Int {
        flush()
        return try database.pool.write { db in
            try db.execute(
                sql: "UPDATE campaign_contact SET status = 'pending', updated_at = ? WHERE campaign = ? AND status = 'dialling'", arguments: [now, campaign])
            return db.changesCount
        }
    }

    /// A campaign's contacts in load order (`status` nil for all).
    public func contacts(of campaign: String, status: ContactStatus? = nil) throws -> [Contact] {
        flush()
        return try database.pool.read { db in
            let rows =
                if let status {
                    try Row.fetchAll(db, sql: "SELECT * FROM campaign_contact WHERE campaign = ? AND status = ? ORDER BY id", arguments: [campaign, status.rawValue])
                } else {
                    try Row.fetchAll(db, sql: "SELECT * FROM campaign_contact WHERE campaign = ? ORDER BY id", arguments: [campaign])
                }
            return rows.map(Self.contact(row:))
        }
    }

    private static func contact(row r: Row) -> Contact {
        let pairs = (try? JSONSerialization.jsonObject(with: Data((r["fields"] as String).utf8))) as? [[String]] ?? []
        return Contact(
            id: r["id"], campaign: r["campaign"], number: r["number"], name: r["name"], timeZone: r["time_zone"],
            fields: pairs.compactMap { $0.count == 2 ? Contact.Field($0[0], $0[1]) : nil }, status: ContactStatus(rawValue: r["status"]) ?? .failed,
            attempts: r["attempts"], nextAt: r["next_at"], lastOutcome: r["last_outcome"], agent: r["agent"], line: r["line"])
    }

    /// The dialer's change of a contact, and the try that caused it when there was one.
    public func update(_ c: Contact, attempt: Attempt? = nil, at now: Double) {
        let (database, logger) = (self.database, self.logger)
        writer.async {
            do {
                try database.pool.write { db in
                    try db.execute(
                        sql: "UPDATE campaign_contact SET status = ?, attempts = ?, next_at = ?, last_outcome = ?, agent = ?, updated_at = ? WHERE id = ?",
                        arguments: [c.status.rawValue, c.attempts, c.nextAt, c.lastOutcome, c.agent, now, c.id])
                    if let a = attempt {
                        try db.execute(
                            sql: """
                                INSERT OR REPLACE INTO campaign_attempt (unique_id, campaign, contact, number, agent, outcome, cause, started_at, ended_at, talk_seconds)
                                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                                """,
                            arguments: [a.uniqueID, a.campaign, a.contact, a.number, a.agent, a.outcome, a.cause, a.startedAt, a.endedAt, a.talkSeconds])
                    }
                }
            } catch {
                logger.error("could not write a campaign contact", metadata: ["error": "\(error)", "campaign.name": "\(c.campaign)", "contact.id": "\(c.id)"])
            }
        }
    }

    public func attempts(of campaign: String) throws -> [Attempt] {
        flush()
        return try database.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM campaign_attempt WHERE campaign = ? ORDER BY started_at, unique_id", arguments: [campaign]).map { r in
                Attempt(
                    uniqueID: r["unique_id"], campaign: r["campaign"], contact: r["contact"], number: r["number"], agent: r["agent"], outcome: r["outcome"],
                    cause: r["cause"], startedAt: r["started_at"], endedAt: r["ended_at"], talkSeconds: r["talk_seconds"])
            }
        }
    }

    /// Every campaign's tries dialled from `from` to `to`, in time order (the campaign report).
    public func attempts(from: Double, to: Double) throws -> [Attempt] {
        flush()
        return try database.pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM campaign_attempt WHERE started_at >= ? AND started_at < ? ORDER BY started_at, unique_id", arguments: [from, to]
            ).map { r in
                Attempt(
                    uniqueID: r["unique_id"], campaign: r["campaign"], contact: r["contact"], number: r["number"], agent: r["agent"], outcome: r["outcome"],
                    cause: r["cause"], startedAt: r["started_at"], endedAt: r["ended_at"], talkSeconds: r["talk_seconds"])
            }
        }
    }

    /// Contacts by status, and tries by outcome.
    public func figures(of campaign: String) throws -> (contacts: [String: Int], attempts: [String: Int]) {
        flush()
        return try database.pool.read { db in
            var contacts: [String: Int] = [:], attempts: [String: Int] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT status, COUNT(*) AS n FROM campaign_contact WHERE campaign = ? GROUP BY status", arguments: [campaign]) {
                contacts[r["status"]] = r["n"]
            }
            for r in try Row.fetchAll(db, sql: "SELECT outcome, COUNT(*) AS n FROM campaign_attempt WHERE campaign = ? GROUP BY outcome", arguments: [campaign]) {
                attempts[r["outcome"]] = r["n"]
            }
            return (contacts, attempts)
        }
    }

    /// Answered calls and those abandoned (no agent within 2 s) since `since`: the abandon rate
    /// as 16 CFR 310.4(b)(4) measures it (per campaign, over 30 days).
    public func abandonFigures(of campaign: String, since: Double) throws -> (answered: Int, abandoned: Int) {
        flush()
        return try database.pool.read { db in
            let answered = try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM campaign_attempt WHERE campaign = ? AND ended_at >= ? AND outcome IN ('connected', 'abandoned')",
                arguments: [campaign, since]) ?? 0
            let abandoned = try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM campaign_attempt WHERE campaign = ? AND ended_at >= ? AND outcome = 'abandoned'", arguments: [campaign, since]) ?? 0
            return (answered, abandoned)
        }
    }

    // MARK: the do-not-call list

    /// Adds numbers (already normalised); contacts not yet reached with them become `dnc` in the
    /// same transaction. Returns how many contacts that blocked.
    @discardableResult
    public func addDoNotCall(_ numbers: [String], note: String, at now: Double) throws -> Int {
        flush()
        return try database.pool.write { db in
            var blocked = 0
            for n in numbers {
                try db.execute(sql: "INSERT OR REPLACE INTO dnc (number, added_at, note) VALUES (?, ?, ?)", arguments: [n, now, note])
                try db.execute(sql: "UPDATE campaign_contact SET status = 'dnc', updated_at = ? WHERE number = ? AND status = 'pending'", arguments: [now, n])
                blocked += db.changesCount
            }
            return blocked
        }
    }

    /// Takes a number off the list; its contacts stay `dnc` (an operator puts one back by
    /// loading it again in a new campaign): a number once blocked is never dialled by mistake.
    public func removeDoNotCall(_ number: String) throws -> Bool {
        try database.pool.write { db in
            try db.execute(sql: "DELETE FROM dnc WHERE number = ?", arguments: [number])
            return db.changesCount > 0
        }
    }

    public func doNotCall() throws -> [(number: String, addedAt: Double, note: String)] {
        try database.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM dnc ORDER BY number").map { ($0["number"], $0["added_at"], $0["note"]) }
        }
    }

    /// Waits until every queued write is done (shutdown, reads, tests).
    public func flush() { writer.sync {} }
}
