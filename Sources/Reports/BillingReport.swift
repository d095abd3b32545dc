public import Foundation

/// What billing needs of a call-detail record.
public struct BillableCall: Sendable, Equatable {
    public var uniqueID: String
    public var start: Double
    public var caller: String
    public var called: String
    public var trunk: String
    public var agent: String?
    public var billableSeconds: Int
    /// An agent's own call (click-to-dial) is rated by the number called, whatever `rateBy`
    /// says: the number is what the carrier charges us to reach.
    public var outbound: Bool

    public init(uniqueID: String, start: Double, caller: String, called: String, trunk: String, agent: String?, billableSeconds: Int, outbound: Bool = false) {
        self.outbound = outbound
        self.uniqueID = uniqueID
        self.start = start
        self.caller = caller
        self.called = called
        self.trunk = trunk
        self.agent = agent
        self.billableSeconds = billableSeconds
    }
}

/// Calls rated by a tariff and summed per trunk, per called number (DID), per agent and per day
/// (FEATURES B2).
public struct BillingReport: Sendable {
    public struct Line: Sendable, Equatable {
        public var call: BillableCall
        /// The number the tariff was matched on (the caller's or the called, by `rateBy`).
        public var rated: String
        public var prefix: String?
        public var rateName: String?
        public var billedSeconds: Int
        public var cost: Money
    }

    public struct Sum: Sendable, Equatable {
        public var calls = 0
        public var billableSeconds = 0
        public var billedSeconds = 0
        public var cost = Money.zero

        mutating func add(_ l: Line) {
            calls += 1
            billableSeconds += l.call.billableSeconds
            billedSeconds += l.billedSeconds
            cost = cost + l.cost
        }
    }

    public enum RateBy: String, Sendable { case caller, called }

    public var from: Double
    public var to: Double
    public var currency: String
    public var lines: [Line]
    /// Calls no prefix matched: listed, cost nothing, and counted here so nobody misses them.
    public var unrated: [BillableCall]
    public var total = Sum()
    public var byTrunk: [String: Sum] = [:]
    public var byDID: [String: Sum] = [:]
    public var byAgent: [String: Sum] = [:]
    public var byDay: [String: Sum] = [:]

    public init(calls: [BillableCall], tariff: Tariff, rateBy: RateBy, currency: String, from: Double, to: Double, timeZone: TimeZone = .gmt) {
        self.from = from
        self.to = to
        self.currency = currency
        lines = []
        unrated = []
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        for call in calls.sorted(by: { ($0.start, $0.uniqueID) < ($1.start, $1.uniqueID) }) {
            let number = rateBy == .caller && !call.outbound ? call.caller : call.called
            guard let r = tariff.rate(number: number, seconds: call.billableSeconds) else {
                unrated.append(call)
                continue
            }
            let line = Line(call: call, rated: number, prefix: r.entry.prefix, rateName: r.entry.name, billedSeconds: r.billed, cost: r.cost)
            lines.append(line)
            total.add(line)
            byTrunk[call.trunk, default: Sum()].add(line)
            byDID[call.called, default: Sum()].add(line)
            byAgent[call.agent ?? "(none)", default: Sum()].add(line)
            let d = calendar.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: call.start))
            byDay[String(format: "%04d-%02d-%02d", d.year ?? 0, d.month ?? 0, d.day ?? 0), default: Sum()].add(line)
        }
    }

    /// The groupings, in report order.
    public var groupings: [(name: String, title: String, sums: [String: Sum])] {
        [("trunk", "Per trunk", byTrunk), ("did", "Per called number (DID)", byDID), ("agent", "Per agent", byAgent), ("day", "Per day", byDay)]
    }

    // MARK: Renderings

    /// One line per rated call; with `by`, one line per key of that grouping instead.
    public func csv(by: String? = nil) -> String {
        if let by, let g = groupings.first(where: { $0.name == by }) {
            var out = "\(by),calls,billable_seconds,billed_seconds,cost\n"
            for (key, s) in g.sums.sorted(by: { $0.key < $1.key }) {
                out += "\(CSV.field(key)),\(s.calls),\(s.billableSeconds),\(s.billedSeconds),\(s.cost)\n"
            }
            return out
        }
        var out = "uniqueid,start,caller,called,trunk,agent,rated_number,prefix,rate,billable_seconds,billed_seconds,cost\n"
        for l in lines {
            let c = l.call
            out += [
                CSV.field(c.uniqueID), CSV.field(Report.utc(c.start)), CSV.field(c.caller), CSV.field(c.called), CSV.field(c.trunk), CSV.field(c.agent ?? ""),
                CSV.field(l.rated), CSV.field(l.prefix ?? ""), CSV.field(l.rateName ?? ""), String(c.billableSeconds), String(l.billedSeconds), l.cost.description,
            ].joined(separator: ",") + "\n"
        }
        return out
    }

    /// Everything, as a JSON object (keys sorted).
    public func json() -> String {
        func sum(_ s: Sum) -> [String: Any] {
            ["calls": s.calls, "billable_seconds": s.billableSeconds, "billed_seconds": s.billedSeconds, "cost": s.cost.description]
        }
        var object: [String: Any] = [
            "from": from, "to": to, "currency": currency, "total": sum(total),
            "calls": lines.map { l -> [String: Any] in
                [
                    "unique_id": l.call.uniqueID, "start": l.call.start, "caller": l.call.caller, "called": l.call.called, "trunk": l.call.trunk,
                    "agent": l.call.agent ?? NSNull(), "rated_number": l.rated, "prefix": l.prefix ?? "", "rate": l.rateName ?? "",
                    "billable_seconds": l.call.billableSeconds, "billed_seconds": l.billedSeconds, "cost": l.cost.description,
                ]
            },
            "unrated": unrated.map { ["unique_id": $0.uniqueID, "caller": $0.caller, "called": $0.called, "billable_seconds": $0.billableSeconds] },
        ]
        for g in groupings { object["by_\(g.name)"] = g.sums.mapValues(sum) }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// A printable page: totals, each grouping, then every call.
    public func html() -> String {
        let money = { (m: Money) in "\(m.format(decimals: 2)) \(HTML.escape(self.currency))" }
        var body = "<h1>Billing report</h1>\n<p>Calls that started from \(Report.utc(from)) to \(Report.utc(to)) (UTC). Amounts in \(HTML.escape(currency)).</p>\n"
        body += "<p class=\"total\">\(total.calls) rated calls, \(Report.minutes(total.billedSeconds)) billed, total <b>\(money(total.cost))</b>"
        body += unrated.isEmpty ? ".</p>\n" : "; <b>\(unrated.count) calls matched no rate</b> (listed at the end).</p>\n"
        for g in groupings {
            body += "<h2>\(g.title)</h2>\n"
            body += HTML.table(
                [g.name == "did" ? "Called number" : g.name.capitalized, "Calls", "Billable", "Billed", "Cost"],
                g.sums.sorted { $0.key < $1.key }.map { [$0.key, String($0.value.calls), Report.minutes($0.value.billableSeconds), Report.minutes($0.value.billedSeconds), money($0.value.cost)] },
                numeric: [1, 2, 3, 4])
        }
        body += "<h2>Calls</h2>\n"
        body += HTML.table(
            ["Start (UTC)", "Caller", "Called", "Trunk", "Agent", "Rate", "Billable", "Billed", "Cost"],
            lines.map { l in
                [Report.utc(l.call.start), l.call.caller, l.call.called, l.call.trunk, l.call.agent ?? "", "\(l.prefix ?? "") \(l.rateName ?? "")",
                 "\(l.call.billableSeconds) s", "\(l.billedSeconds) s", money(l.cost)]
            }, numeric: [6, 7, 8])
        if !unrated.isEmpty {
            body += "<h2>Calls no rate matched</h2>\n"
            body += HTML.table(["Start (UTC)", "Caller", "Called", "Billable"], unrated.map { [Report.utc($0.start), $0.caller, $0.called, "\($0.billableSeconds) s"] }, numeric: [3])
        }
        return HTML.page(title: "Billing report", body: body)
    }
}
