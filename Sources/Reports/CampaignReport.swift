import Foundation

/// One try of a campaign, as the report reads it (the database's campaign_attempt row).
public struct CampaignTry: Sendable, Equatable {
    public var campaign: String
    public var outcome: String
    public var startedAt: Double
    public var endedAt: Double
    public var talkSeconds: Double?

    public init(campaign: String, outcome: String, startedAt: Double, endedAt: Double, talkSeconds: Double?) {
        self.campaign = campaign
        self.outcome = outcome
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.talkSeconds = talkSeconds
    }
}

/// The campaign report beside the call-centre report (issue 19): per campaign and interval the
/// tries by outcome, the calls answered by a person, the abandoned ones and their rate (as
/// 16 CFR 310.4(b)(4) counts it: abandoned over answered), the contact rate and talk time;
/// CSV, JSON and a page with a chart per campaign.
public struct CampaignReport: Sendable {
    public struct Figures: Sendable, Equatable {
        public var dialled = 0, connected = 0, abandoned = 0, busy = 0, noAnswer = 0, failed = 0
        public var talkSeconds = 0.0
        public var answered: Int { connected + abandoned }
        public var abandonRate: Double? { answered == 0 ? nil : Double(abandoned) / Double(answered) }
        /// Answered by a person, of the numbers dialled.
        public var contactRate: Double? { dialled == 0 ? nil : Double(answered) / Double(dialled) }
        public var averageTalk: Double? { connected == 0 ? nil : talkSeconds / Double(connected) }

        mutating func add(_ t: CampaignTry) {
            dialled += 1
            switch t.outcome {
            case "connected":
                connected += 1
                talkSeconds += t.talkSeconds ?? 0
            case "abandoned": abandoned += 1
            case "busy": busy += 1
            case "no-answer": noAnswer += 1
            default: failed += 1  // failed, congestion
            }
        }

        mutating func merge(_ o: Figures) {
            dialled += o.dialled
            connected += o.connected
            abandoned += o.abandoned
            busy += o.busy
            noAnswer += o.noAnswer
            failed += o.failed
            talkSeconds += o.talkSeconds
        }
    }

    public var from: Double
    public var to: Double
    public var intervalMinutes: Int
    public var intervals: [Double]
    public var campaigns: [String: [Double: Figures]]

    public init(tries: [CampaignTry], from: Double, to: Double, intervalMinutes: Int) {
        self.from = from
        self.to = to
        self.intervalMinutes = intervalMinutes
        let step = Double(intervalMinutes * 60)
        let first = (from / step).rounded(.down) * step
        var starts: [Double] = []
        var s = first
        while s < to {
            starts.append(s)
            s += step
        }
        intervals = starts
        var by: [String: [Double: Figures]] = [:]
        // A try belongs to the interval it was dialled in.
        for t in tries where t.startedAt >= from && t.startedAt < to {
            let key = (t.startedAt / step).rounded(.down) * step
            by[t.campaign, default: [:]][key, default: Figures()].add(t)
        }
        campaigns = by
    }

    public var names: [String] { campaigns.keys.sorted() }

    public func total(_ campaign: String) -> Figures {
        var f = Figures()
        for v in (campaigns[campaign] ?? [:]).values { f.merge(v) }
        return f
    }

    static let csvHeader = "campaign,interval_start,dialled,answered,connected,abandoned,abandon_rate,busy,no_answer,failed,contact_rate,talk_seconds,average_talk"

    public func csv() -> String {
        func n(_ v: Double?, _ d: Int) -> String { v.map { String(format: "%.\(d)f", $0) } ?? "" }
        var out = Self.csvHeader + "\n"
        for c in names {
            for s in intervals {
                let f = campaigns[c]?[s] ?? Figures()
                out += [
                    CSV.field(c), Report.utc(s), String(f.dialled), String(f.answered), String(f.connected), String(f.abandoned), n(f.abandonRate, 4),
                    String(f.busy), String(f.noAnswer), String(f.failed), n(f.contactRate, 3), String(format: "%.0f", f.talkSeconds), n(f.averageTalk, 1),
                ].joined(separator: ",") + "\n"
            }
        }
        return out
    }

    public func json() -> String {
        func figures(_ f: Figures) -> [String: Any] {
            [
                "dialled": f.dialled, "answered": f.answered, "connected": f.connected, "abandoned": f.abandoned, "abandon_rate": f.abandonRate ?? NSNull(),
                "busy": f.busy, "no_answer": f.noAnswer, "failed": f.failed, "contact_rate": f.contactRate ?? NSNull(), "talk_seconds": f.talkSeconds,
                "average_talk": f.averageTalk ?? NSNull(),
            ]
        }
        let object: [String: Any] = [
            "from": from, "to": to, "interval_minutes": intervalMinutes,
            "campaigns": Dictionary(uniqueKeysWithValues: names.map { c in
                (c, ["total": figures(total(c)), "intervals": intervals.compactMap { s -> [String: Any]? in
                    guard let f = campaigns[c]?[s] else { return nil }
                    var o = figures(f)
                    o["start"] = s
                    return o
                }] as [String: Any])
            }),
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// Per campaign: a chart of the tries per interval (connected, abandoned, busy, no answer,
    /// failed, stacked) with the abandon rate over it, then the figures.
    public func html() -> String {
        func pct(_ v: Double?, _ d: Int = 1) -> String { v.map { String(format: "%.\(d)f %%", $0 * 100) } ?? "–" }
        func secs(_ v: Double?) -> String { v.map { String(format: "%.0f s", $0) } ?? "–" }
        var body = "<h1>Campaign report</h1>\n<p>From \(Report.utc(from)) to \(Report.utc(to)) (UTC), in \(intervalMinutes)-minute intervals. "
        body += "Abandoned: answered by a person and not given an agent within 2 s; the rate is over calls answered by a person.</p>\n"
        body += "<h2>Summary</h2>\n" + HTML.table(
            ["Campaign", "Dialled", "Answered", "Connected", "Abandoned", "Abandon rate", "Busy", "No answer", "Failed", "Contact rate", "Avg talk"],
            names.map { c in
                let t = total(c)
                return [c, String(t.dialled), String(t.answered), String(t.connected), String(t.abandoned), pct(t.abandonRate, 2), String(t.busy), String(t.noAnswer),
                        String(t.failed), pct(t.contactRate), secs(t.averageTalk)]
            }, numeric: Set(1...10))
        for c in names {
            body += "<h2>\(HTML.escape(c))</h2>\n"
            body += CampaignChart.tries(intervals: intervals, figures: campaigns[c] ?? [:], intervalMinutes: intervalMinutes)
            body += HTML.table(
                ["Interval", "Dialled", "Answered", "Connected", "Abandoned", "Abandon rate", "Busy", "No answer", "Failed", "Contact rate", "Avg talk"],
                intervals.compactMap { s in
                    guard let f = campaigns[c]?[s] else { return nil }
                    return [Report.utc(s), String(f.dialled), String(f.answered), String(f.connected), String(f.abandoned), pct(f.abandonRate, 2), String(f.busy),
                            String(f.noAnswer), String(f.failed), pct(f.contactRate), secs(f.averageTalk)]
                }, numeric: Set(1...10))
        }
        return HTML.page(title: "Campaign report", body: body)
    }
}

/// The campaign chart, drawn as the call-centre report's are.
enum CampaignChart {
    static let busy = "#8a8f98", noAnswer = "#c3c7cf", failed = "#e0b03c"

    static func tries(intervals: [Double], figures: [Double: CampaignReport.Figures], intervalMinutes: Int) -> String {
        Chart.stacked(
            intervals: intervals, intervalMinutes: intervalMinutes, unit: "tries", label: "Tries per interval", rightLabel: "abandon rate",
            bars: { s in
                figures[s].map { f in [(f.connected, Chart.answered), (f.abandoned, Chart.abandoned), (f.busy, busy), (f.noAnswer, noAnswer), (f.failed, failed)] } ?? []
            },
            // The right axis is 0-100 %; an abandon rate is drawn ten times up, so 3 % reads 30 %.
            line: { figures[$0]?.abandonRate.map { $0 * 10 } },
            legend: [
                (Chart.answered, "connected"), (Chart.abandoned, "abandoned"), (busy, "busy"), (noAnswer, "no answer"), (failed, "failed"),
                (Chart.level, "abandon rate × 10 (right axis)"),
            ])
    }
}
