import Config
import Control
import Foundation
import Reports
import Store
import JSON

/// `report.billing` and `report.calls` (docs/control-protocol.md): computed from the database's
/// readers in the control connection's task, never on the SIP loop.
enum ReportCommands {
    static let formats: Set<String> = ["csv", "json", "html"]

    /// Reads and checks the tariff file; an error names the file and line.
    static func tariff(_ billing: DaemonConfiguration.Billing) throws(ConfigError) -> Tariff? {
        guard let path = billing.tariffs else { return nil }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError("cannot read the tariff file \(path): \(error.localizedDescription)", at: "billing.tariffs")
        }
        do {
            return try Tariff.parse(text)
        } catch {
            throw ConfigError("\(path): \(error)", at: "billing.tariffs")
        }
    }

    /// `from` and `to` (Unix seconds); without `from`, everything (`today`: since midnight UTC).
    static func range(_ args: [String: JSONValue]?, today: Bool = false) -> Result<(Double, Double), ControlError> {
        let midnight = (Date().timeIntervalSince1970 / 86_400).rounded(.down) * 86_400
        let from = args?["from"]?.doubleValue ?? (today ? midnight : 0)
        let to = args?["to"]?.doubleValue ?? Date().timeIntervalSince1970 + 1
        guard from < to else { return .failure(ControlError(.invalidArgument, "from must be before to (Unix seconds)")) }
        return .success((from, to))
    }

    /// The arguments of a report in intervals: format, interval minutes (15, 30, 60), and a
    /// range (today by default) of at most 10,000 intervals.
    static func intervals(_ args: [String: JSONValue]?, defaultMinutes: Double) -> Result<(String, Double, Double, Double), ControlError> {
        let format = args?["format"]?.stringValue ?? "csv"
        guard formats.contains(format) else { return .failure(ControlError(.invalidArgument, "format must be csv, json or html")) }
        let interval = args?["interval"]?.doubleValue ?? defaultMinutes
        guard [15.0, 30, 60].contains(interval) else { return .failure(ControlError(.invalidArgument, "interval must be 15, 30 or 60 (minutes)")) }
        return range(args, today: true).flatMap { from, to in
            guard (to - from) / (interval * 60) <= 10_000 else {
                return .failure(ControlError(.invalidArgument, "more than 10,000 intervals: narrow the range or widen the interval"))
            }
            return .success((format, interval, from, to))
        }
    }

    static func billing(_ args: [String: JSONValue]?, config: DaemonConfiguration, records: CallRecords) -> Result<JSONValue, ControlError> {
        let format = args?["format"]?.stringValue ?? "csv"
        guard formats.contains(format) else { return .failure(ControlError(.invalidArgument, "format must be csv, json or html")) }
        let by = args?["by"]?.stringValue
        guard by == nil || ["trunk", "did", "agent", "day"].contains(by!) else {
            return .failure(ControlError(.invalidArgument, "by must be trunk, did, agent or day"))
        }
        let (from, to): (Double, Double)
        switch range(args) {
        case .failure(let e): return .failure(e)
        case .success(let r): (from, to) = r
        }
        let tariff: Tariff
        do {
            guard let t = try Self.tariff(config.billing) else {
                return .failure(ControlError(.failed, "no tariff table: set billing.tariffs in the configuration"))
            }
            tariff = t
        } catch {
            return .failure(ControlError(.failed, "\(error)"))
        }
        let calls: [BillableCall]
        do {
            calls = try records.cdrs(from: from, to: to).map {
                BillableCall(uniqueID: $0.uniqueID, start: $0.start, caller: $0.caller, called: $0.called, trunk: $0.trunk, agent: $0.agent, billableSeconds: $0.billableSeconds,
                    outbound: $0.direction == "outbound")
            }
        } catch {
            return .failure(ControlError(.failed, "cannot read the call records: \(error)"))
        }
        let report = BillingReport(
            calls: calls, tariff: tariff, rateBy: config.billing.rateBy == "called" ? .called : .caller, currency: config.billing.currency, from: from, to: to)
        let text =
            switch format {
            case "json": report.json()
            case "html": report.html()
            default: report.csv(by: by)
            }
        return .success(["format": .string(format), "text": .string(text), "calls": JSONValue(report.lines.count), "unrated": JSONValue(report.unrated.count)])
    }

    static func calls(_ args: [String: JSONValue]?, config: DaemonConfiguration, records: CallRecords) -> Result<JSONValue, ControlError> {
        let (format, interval, from, to): (String, Double, Double, Double)
        switch intervals(args, defaultMinutes: 15) {
        case .failure(let e): return .failure(e)
        case .success(let r): (format, interval, from, to) = r
        }
        let rows: [QueueLogRow]
        do {
            // A day before `from` too, to find agents who logged in earlier (occupancy).
            rows = try records.queueLog(from: from - 86_400, to: to).map {
                QueueLogRow(time: Double($0.time), call: $0.entry.call, queue: $0.entry.queue, agent: $0.entry.agent, event: $0.entry.event, data: $0.entry.data)
            }
        } catch {
            return .failure(ControlError(.failed, "cannot read the queue log: \(error)"))
        }
        let rules = Dictionary(
            config.groups.map { ($0.name, CallCentreReport.GroupRules(serviceLevelSeconds: $0.serviceLevelSeconds, wrapUpSeconds: $0.wrapUpSeconds)) },
            uniquingKeysWith: { a, _ in a })
        let report = CallCentreReport(rows: rows, rules: rules, from: from, to: to, intervalMinutes: Int(interval))
        let text =
            switch format {
            case "json": report.json()
            case "html": report.html()
            default: report.csv()
            }
        return .success(["format": .string(format), "text": .string(text)])
    }

    static func campaigns(_ args: [String: JSONValue]?, store: CampaignStore) -> Result<JSONValue, ControlError> {
        let (format, interval, from, to): (String, Double, Double, Double)
        switch intervals(args, defaultMinutes: 60) {
        case .failure(let e): return .failure(e)
        case .success(let r): (format, interval, from, to) = r
        }
        let name = args?["campaign"]?.stringValue
        let tries: [CampaignTry]
        do {
            tries = try store.attempts(from: from, to: to).filter { name == nil || $0.campaign == name }.map {
                CampaignTry(campaign: $0.campaign, outcome: $0.outcome, startedAt: $0.startedAt, endedAt: $0.endedAt, talkSeconds: $0.talkSeconds)
            }
        } catch {
            return .failure(ControlError(.failed, "cannot read the campaigns' tries: \(error)"))
        }
        let report = CampaignReport(tries: tries, from: from, to: to, intervalMinutes: Int(interval))
        let text =
            switch format {
            case "json": report.json()
            case "html": report.html()
            default: report.csv()
            }
        return .success(["format": .string(format), "text": .string(text), "tries": JSONValue(tries.count)])
    }
}
