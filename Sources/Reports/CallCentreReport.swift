public import Foundation

/// One line of the queue log (Asterisk's format; `data` are data1…data5).
public struct QueueLogRow: Sendable, Equatable {
    public var time: Double
    public var call: String
    public var queue: String
    public var agent: String
    public var event: String
    public var data: [String]

    public init(time: Double, call: String, queue: String, agent: String, event: String, data: [String]) {
        self.time = time
        self.call = call
        self.queue = queue
        self.agent = agent
        self.event = event
        self.data = data
    }
}

/// Per group and per interval: offered, answered, abandoned, service level, average speed of
/// answer, average handle time, and agent occupancy (FEATURES B3), from the queue log the way
/// call-centre reporting tools read Asterisk's.
///
/// A caller counts in the interval and group they entered (ENTERQUEUE), whatever happened later;
/// a transfer into another group is a new offer there. Service level is the share of offered
/// calls answered within the group's `service_level_seconds`. Handle time is talk plus the
/// group's wrap-up time. Occupancy is the agents' talk and wrap-up time over their logged-in time
/// in the interval, over all groups (agents serve several).
public struct CallCentreReport: Sendable {
    public struct GroupRules: Sendable {
        public var serviceLevelSeconds: Int
        public var wrapUpSeconds: Int
        public init(serviceLevelSeconds: Int, wrapUpSeconds: Int) {
            self.serviceLevelSeconds = serviceLevelSeconds
            self.wrapUpSeconds = wrapUpSeconds
        }
    }

    public struct Figures: Sendable, Equatable {
        public var offered = 0
        public var answered = 0
        public var answeredInTime = 0
        public var abandoned = 0
        /// Left by a queue exit: maximum wait, no agents, the exit key.
        public var exited = 0
        var holdSum = 0
        var handleSum = 0
        var handled = 0
        public var longestWait = 0

        /// 0–1; nil with nothing offered.
        public var serviceLevel: Double? { offered == 0 ? nil : Double(answeredInTime) / Double(offered) }
        public var averageSpeedOfAnswer: Double? { answered == 0 ? nil : Double(holdSum) / Double(answered) }
        public var averageHandleTime: Double? { handled == 0 ? nil : Double(handleSum) / Double(handled) }

        mutating func merge(_ o: Figures) {
            offered += o.offered
            answered += o.answered
            answeredInTime += o.answeredInTime
            abandoned += o.abandoned
            exited += o.exited
            holdSum += o.holdSum
            handleSum += o.handleSum
            handled += o.handled
            longestWait = max(longestWait, o.longestWait)
        }
    }

    public var from: Double
    public var to: Double
    public var intervalMinutes: Int
    /// Interval starts, in order.
    public var intervals: [Double]
    /// group → interval start → figures.
    public var groups: [String: [Double: Figures]]
    /// interval start → (busy, logged in) seconds over all agents.
    public var occupancy: [Double: (busy: Double, loggedIn: Double)]

    /// Where the talk time is in an ending line: COMPLETE* carry hold|talk|..., the transfers two
    /// fields first (BLINDTRANSFER extension|context, ATTENDEDTRANSFER BRIDGE|bridge id; the
    /// older TRANSFER as BLINDTRANSFER).
    static func talkField(_ event: String) -> Int { event.hasSuffix("TRANSFER") ? 3 : 1 }

    public init(rows: [QueueLogRow], rules: [String: GroupRules], from: Double, to: Double, intervalMinutes: Int, timeZone: TimeZone = .gmt) {
        self.from = from
        self.to = to
        self.intervalMinutes = intervalMinutes
        let size = Double(intervalMinutes * 60)
        // Intervals start on the hour in `timeZone` (whole-hour or half-hour offsets both divide 15 min).
        func start(_ t: Double) -> Double {
            let offset = Double(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: t)))
            return ((t + offset) / size).rounded(.down) * size - offset
        }
        var starts: [Double] = []
        var s = start(from)
        while s < to {
            starts.append(s)
            s += size
        }
        intervals = starts
        var groups: [String: [Double: Figures]] = [:]
        for name in rules.keys { groups[name] = [:] }
        let rows = rows.sorted { $0.time < $1.time }

        // Episodes: a caller's stay in one group, from ENTERQUEUE.
        var entered: [String: Double] = [:]  // "call|queue" → interval start
        func key(_ r: QueueLogRow) -> String { "\(r.call)|\(r.queue)" }
        func int(_ r: QueueLogRow, _ i: Int) -> Int { i < r.data.count ? Int(r.data[i]) ?? 0 : 0 }
        for r in rows {
            switch r.event {
            case "ENTERQUEUE":
                guard r.time >= from, r.time < to else { continue }
                let at = start(r.time)
                entered[key(r)] = at
                groups[r.queue, default: [:]][at, default: Figures()].offered += 1
            case "CONNECT":
                guard let at = entered[key(r)] else { continue }
                let hold = int(r, 0)
                let sl = rules[r.queue]?.serviceLevelSeconds ?? 20
                groups[r.queue]![at, default: Figures()].answered += 1
                groups[r.queue]![at]!.holdSum += hold
                if hold <= sl { groups[r.queue]![at]!.answeredInTime += 1 }
                groups[r.queue]![at]!.longestWait = max(groups[r.queue]![at]!.longestWait, hold)
            case "ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY":
                guard let at = entered.removeValue(forKey: key(r)) else { continue }
                let wait = int(r, r.event == "EXITWITHKEY" ? 3 : 2)
                if r.event == "ABANDON" { groups[r.queue]![at, default: Figures()].abandoned += 1 } else { groups[r.queue]![at, default: Figures()].exited += 1 }
                groups[r.queue]![at]!.longestWait = max(groups[r.queue]![at]!.longestWait, wait)
            case "COMPLETECALLER", "COMPLETEAGENT", "TRANSFER", "BLINDTRANSFER", "ATTENDEDTRANSFER":
                guard let at = entered.removeValue(forKey: key(r)) else { continue }
                let talk = int(r, Self.talkField(r.event))
                groups[r.queue]![at, default: Figures()].handled += 1
                groups[r.queue]![at]!.handleSum += talk + (rules[r.queue]?.wrapUpSeconds ?? 0)
            default:
                break
            }
        }
        self.groups = groups

        // Occupancy: logged-in spans (AGENTLOGIN to AGENTLOGOFF, or a restart: QUEUESTART) against
        // busy spans (talk, then wrap-up, ending at COMPLETE*/TRANSFER).
        var loginAt: [String: Double] = [:]
        var sessions: [(Double, Double)] = []
        var busy: [(Double, Double)] = []
        for r in rows {
            switch r.event {
            case "AGENTLOGIN": loginAt[r.agent] = r.time
            case "AGENTLOGOFF":
                if let t = loginAt.removeValue(forKey: r.agent) { sessions.append((t, r.time)) }
            case "QUEUESTART":
                for (_, t) in loginAt { sessions.append((t, r.time)) }
                loginAt.removeAll()
            case "COMPLETECALLER", "COMPLETEAGENT", "TRANSFER", "BLINDTRANSFER", "ATTENDEDTRANSFER":
                let talk = Double(int(r, Self.talkField(r.event)))
                busy.append((r.time - talk, r.time + Double(rules[r.queue]?.wrapUpSeconds ?? 0)))
            default: break
            }
        }
        for (_, t) in loginAt { sessions.append((t, to)) }
        var occupancy: [Double: (busy: Double, loggedIn: Double)] = [:]
        func overlap(_ a: (Double, Double), _ lo: Double, _ hi: Double) -> Double { max(0, min(a.1, hi) - max(a.0, lo)) }
        for s in starts {
            let e = s + size
            occupancy[s] = (busy.reduce(0) { $0 + overlap($1, s, e) }, sessions.reduce(0) { $0 + overlap($1, s, e) })
        }
        self.occupancy = occupancy
    }

    /// A group's figures over the whole range.
    public func total(_ group: String) -> Figures {
        var t = Figures()
        for f in (groups[group] ?? [:]).values { t.merge(f) }
        return t
    }

    public func occupancy(at s: Double) -> Double? {
        guard let o = occupancy[s], o.loggedIn > 0 else { return nil }
        return min(1, o.busy / o.loggedIn)
    }

    var groupNames: [String] { groups.keys.sorted() }

    // MARK: Renderings

    static let csvHeader = "group,interval_start,offered,answered,abandoned,exited,service_level,average_speed_of_answer,average_handle_time,longest_wait,occupancy"

    /// One line per group and interval (with nothing offered too, so the rows make a full grid).
    public func csv() -> String {
        func n(_ v: Double?, _ d: Int) -> String { v.map { String(format: "%.\(d)f", $0) } ?? "" }
        var out = Self.csvHeader + "\n"
        for g in groupNames {
            for s in intervals {
                let f = groups[g]?[s] ?? Figures()
                out += [
                    CSV.field(g), Report.utc(s), String(f.offered), String(f.answered), String(f.abandoned), String(f.exited), n(f.serviceLevel, 3),
                    n(f.averageSpeedOfAnswer, 1), n(f.averageHandleTime, 1), String(f.longestWait), n(occupancy(at: s), 3),
                ].joined(separator: ",") + "\n"
            }
        }
        return out
    }

    public func json() -> String {
        func figures(_ f: Figures) -> [String: Any] {
            [
                "offered": f.offered, "answered": f.answered, "answered_in_time": f.answeredInTime, "abandoned": f.abandoned, "exited": f.exited,
                "service_level": f.serviceLevel ?? NSNull(), "average_speed_of_answer": f.averageSpeedOfAnswer ?? NSNull(),
                "average_handle_time": f.averageHandleTime ?? NSNull(), "longest_wait": f.longestWait,
            ]
        }
        let object: [String: Any] = [
            "from": from, "to": to, "interval_minutes": intervalMinutes,
            "groups": Dictionary(uniqueKeysWithValues: groupNames.map { g in
                (g, ["total": figures(total(g)), "intervals": intervals.map { s -> [String: Any] in
                    var f = figures(groups[g]?[s] ?? Figures())
                    f["start"] = s
                    return f
                }] as [String: Any])
            }),
            "occupancy": intervals.map { s in ["start": s, "occupancy": occupancy(at: s) ?? NSNull()] as [String: Any] },
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// A page a supervisor would rather look at than read: per group a chart of the calls per
    /// interval (answered, abandoned, exited, stacked) with the service level over it, then the
    /// figures; and the agents' occupancy.
    public func html() -> String {
        func pct(_ v: Double?) -> String { v.map { String(format: "%.0f %%", $0 * 100) } ?? "–" }
        func secs(_ v: Double?) -> String { v.map { String(format: "%.0f s", $0) } ?? "–" }
        var body = "<h1>Call centre report</h1>\n<p>From \(Report.utc(from)) to \(Report.utc(to)) (UTC), in \(intervalMinutes)-minute intervals.</p>\n"
        body += "<h2>Summary</h2>\n" + HTML.table(
            ["Group", "Offered", "Answered", "Abandoned", "Exited", "Service level", "Avg speed of answer", "Avg handle time", "Longest wait"],
            groupNames.map { g in
                let t = total(g)
                return [g, String(t.offered), String(t.answered), String(t.abandoned), String(t.exited), pct(t.serviceLevel), secs(t.averageSpeedOfAnswer),
                        secs(t.averageHandleTime), "\(t.longestWait) s"]
            }, numeric: [1, 2, 3, 4, 5, 6, 7, 8])
        let shown = intervals.filter { s in groupNames.contains { (groups[$0]?[s]?.offered ?? 0) > 0 } || occupancy(at: s) != nil }
        for g in groupNames {
            body += "<h2>\(HTML.escape(g))</h2>\n"
            body += Chart.calls(intervals: intervals, figures: groups[g] ?? [:], intervalMinutes: intervalMinutes)
            body += HTML.table(
                ["Interval", "Offered", "Answered", "Abandoned", "Exited", "Service level", "ASA", "AHT", "Longest wait"],
                shown.compactMap { s in
                    guard let f = groups[g]?[s], f.offered > 0 else { return nil }
                    return [Report.utc(s), String(f.offered), String(f.answered), String(f.abandoned), String(f.exited), pct(f.serviceLevel),
                            secs(f.averageSpeedOfAnswer), secs(f.averageHandleTime), "\(f.longestWait) s"]
                }, numeric: [1, 2, 3, 4, 5, 6, 7, 8])
        }
        body += "<h2>Agent occupancy</h2>\n<p>Talk and wrap-up time over logged-in time, all agents.</p>\n"
        body += Chart.occupancy(intervals: intervals, values: intervals.map { occupancy(at: $0) })
        return HTML.page(title: "Call centre report", body: body)
    }
}

/// Hand-drawn SVG: no script, no outside resources, prints as it shows.
enum Chart {
    static let width = 900.0, height = 260.0, left = 44.0, right = 44.0, top = 16.0, bottom = 40.0
    static let answered = "#3b7dd8", abandoned = "#d8553b", exited = "#e0b03c", level = "#2a9d5c"

    static func calls(intervals: [Double], figures: [Double: CallCentreReport.Figures], intervalMinutes: Int) -> String {
        stacked(
            intervals: intervals, intervalMinutes: intervalMinutes, unit: "calls", label: "Calls per interval", rightLabel: "service level",
            bars: { s in figures[s].map { f in [(f.answered, answered), (f.abandoned, abandoned), (f.exited, exited)] } ?? [] },
            line: { figures[$0]?.serviceLevel },
            legend: [(answered, "answered"), (abandoned, "abandoned"), (exited, "left by a queue exit"), (level, "service level (right axis)")])
    }

    /// Bars of counts stacked per interval in the given colours, with a line of a 0–1 value on
    /// the right axis over them, and the legend below.
    static func stacked(
        intervals: [Double], intervalMinutes: Int, unit: String, label: String, rightLabel: String, bars: (Double) -> [(Int, String)],
        line value: (Double) -> Double?, legend: [(String, String)]
    ) -> String {
        let n = max(1, intervals.count)
        let peak = max(1, intervals.map { bars($0).reduce(0) { $0 + $1.0 } }.max() ?? 1)
        let plotW = width - left - right, plotH = height - top - bottom
        let slot = plotW / Double(n), bar = max(1, slot * 0.75)
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(label)\">\n"
        svg += axes(peak: peak, unit: unit, intervals: intervals, intervalMinutes: intervalMinutes, rightLabel: rightLabel)
        var line: [String] = []
        for (i, s) in intervals.enumerated() {
            let counts = bars(s)
            guard counts.contains(where: { $0.0 > 0 }) || value(s) != nil else { continue }
            let x = left + Double(i) * slot + (slot - bar) / 2
            var y = top + plotH
            for (count, color) in counts where count > 0 {
                let h = plotH * Double(count) / Double(peak)
                y -= h
                svg += "<rect x=\"\(fmt(x))\" y=\"\(fmt(y))\" width=\"\(fmt(bar))\" height=\"\(fmt(h))\" fill=\"\(color)\"><title>\(Report.utc(s)): \(count)</title></rect>\n"
            }
            if let v = value(s) { line.append("\(fmt(x + bar / 2)),\(fmt(top + plotH * (1 - min(1, v))))") }
        }
        if line.count > 1 {
            svg += "<polyline points=\"\(line.joined(separator: " "))\" fill=\"none\" stroke=\"\(level)\" stroke-width=\"2\"/>\n"
        } else if let p = line.first {
            let xy = p.split(separator: ",")
            svg += "<circle cx=\"\(xy[0])\" cy=\"\(xy[1])\" r=\"3\" fill=\"\(level)\"/>\n"
        }
        svg += "</svg>\n"
        return svg + "<p class=\"legend\">" + legend.map { "<span><i class=\"swatch\" style=\"background:\($0.0)\"></i>\($0.1)</span>" }.joined() + "</p>\n"
    }

    static func occupancy(intervals: [Double], values: [Double?]) -> String {
        let n = max(1, intervals.count)
        let plotW = width - left - right, plotH = height - top - bottom
        let slot = plotW / Double(n), bar = max(1, slot * 0.75)
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"Agent occupancy\">\n"
        svg += axes(peak: 100, unit: "%", intervals: intervals, intervalMinutes: 0, rightLabel: nil)
        for (i, v) in values.enumerated() {
            guard let v else { continue }
            let h = plotH * v
            svg += "<rect x=\"\(fmt(left + Double(i) * slot + (slot - bar) / 2))\" y=\"\(fmt(top + plotH - h))\" width=\"\(fmt(bar))\" height=\"\(fmt(h))\" fill=\"\(answered)\"><title>\(Report.utc(intervals[i])): \(Int((v * 100).rounded())) %</title></rect>\n"
        }
        return svg + "</svg>\n"
    }

    /// Gridlines with the left scale (0…peak), time labels below, and the 0–100 % scale on the right.
    static func axes(peak: Int, unit: String, intervals: [Double], intervalMinutes: Int, rightLabel: String?) -> String {
        let plotW = width - left - right, plotH = height - top - bottom
        var svg = ""
        for k in 0...4 {
            let y = top + plotH * Double(k) / 4
            let value = Double(peak) * Double(4 - k) / 4
            svg += "<line x1=\"\(fmt(left))\" x2=\"\(fmt(left + plotW))\" y1=\"\(fmt(y))\" y2=\"\(fmt(y))\" stroke=\"#ddd\"/>\n"
            svg += "<text x=\"\(fmt(left - 6))\" y=\"\(fmt(y + 4))\" font-size=\"11\" text-anchor=\"end\">\(value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value))</text>\n"
            if rightLabel != nil {
                svg += "<text x=\"\(fmt(left + plotW + 6))\" y=\"\(fmt(y + 4))\" font-size=\"11\" fill=\"\(level)\">\(100 * (4 - k) / 4)%</text>\n"
            }
        }
        svg += "<text x=\"4\" y=\"\(fmt(top - 4))\" font-size=\"11\">\(unit)</text>\n"
        let n = max(1, intervals.count)
        let every = max(1, Int((Double(n) / 12).rounded(.up)))
        for (i, s) in intervals.enumerated() where i % every == 0 {
            let x = left + (Double(i) + 0.5) * plotW / Double(n)
            svg += "<text x=\"\(fmt(x))\" y=\"\(fmt(top + plotH + 16))\" font-size=\"11\" text-anchor=\"middle\">\(String(Report.utc(s).suffix(5)))</text>\n"
        }
        return svg
    }

    static func fmt(_ v: Double) -> String { String(format: "%.1f", v) }
}
