import Foundation
import Testing

@testable import Reports

/// The call-centre report from a small queue log, checked against figures worked out by hand.
@Suite struct CallCentreTests {
    static let nine = 1_795_392_000.0 + 9 * 3600  // 2026-11-23 09:00 UTC

    static func row(_ mmss: String, _ event: String, call: String = "NONE", queue: String = "NONE", agent: String = "NONE", _ data: [String] = []) -> QueueLogRow {
        let p = mmss.split(separator: ":").map { Double($0)! }
        return QueueLogRow(time: nine + p[0] * 60 + p[1], call: call, queue: queue, agent: agent, event: event, data: data)
    }

    static let rows = [
        row("00:00", "AGENTLOGIN", agent: "Agent/1001", ["sip:1001"]),
        row("01:00", "ENTERQUEUE", call: "c1", queue: "sales", ["", "0301"]),
        row("01:10", "CONNECT", call: "c1", queue: "sales", agent: "Agent/1001", ["10", "c1", "2"]),
        row("03:10", "COMPLETECALLER", call: "c1", queue: "sales", agent: "Agent/1001", ["10", "120", "1"]),
        row("05:00", "ENTERQUEUE", call: "c2", queue: "sales", ["", "0302"]),
        row("05:30", "CONNECT", call: "c2", queue: "sales", agent: "Agent/1001", ["30", "c2", "2"]),
        row("06:30", "COMPLETEAGENT", call: "c2", queue: "sales", agent: "Agent/1001", ["30", "60", "1"]),
        row("07:00", "ENTERQUEUE", call: "c3", queue: "sales", ["", "0303"]),
        row("07:45", "ABANDON", call: "c3", queue: "sales", ["1", "1", "45"]),
        row("16:00", "ENTERQUEUE", call: "c4", queue: "support", ["", "0304"]),
        row("16:05", "CONNECT", call: "c4", queue: "support", agent: "Agent/1001", ["5", "c4", "1"]),
        row("18:05", "TRANSFER", call: "c4", queue: "support", agent: "Agent/1001", ["group:sales", "acdd", "5", "120", "1"]),
        row("18:05", "ENTERQUEUE", call: "c4", queue: "sales", ["", "0304"]),
        row("18:20", "EXITWITHTIMEOUT", call: "c4", queue: "sales", ["1", "1", "15"]),
        row("30:00", "AGENTLOGOFF", agent: "Agent/1001", ["sip:1001", "1800"]),
    ]

    static let rules = [
        "sales": CallCentreReport.GroupRules(serviceLevelSeconds: 20, wrapUpSeconds: 10),
        "support": CallCentreReport.GroupRules(serviceLevelSeconds: 30, wrapUpSeconds: 0),
    ]

    func report(_ minutes: Int = 15) -> CallCentreReport {
        CallCentreReport(rows: Self.rows.shuffled(), rules: Self.rules, from: Self.nine, to: Self.nine + 45 * 60, intervalMinutes: minutes)
    }

    @Test func figuresPerGroupAndInterval() throws {
        let r = report()
        #expect(r.intervals == [Self.nine, Self.nine + 900, Self.nine + 1800])
        // 09:00 sales: c1 answered in 10 s (within 20), c2 in 30 s (not), c3 abandoned after 45 s.
        let sales = try #require(r.groups["sales"]?[Self.nine])
        #expect(sales.offered == 3 && sales.answered == 2 && sales.answeredInTime == 1 && sales.abandoned == 1 && sales.exited == 0)
        #expect(sales.serviceLevel == 1.0 / 3 && sales.averageSpeedOfAnswer == 20 && sales.longestWait == 45)
        // Handle: (120 + 10 wrap-up) and (60 + 10): 100 s on average.
        #expect(sales.averageHandleTime == 100)
        // 09:15 support: c4 answered in 5 s, talked 120 s, then transferred to sales, where it timed out.
        let support = try #require(r.groups["support"]?[Self.nine + 900])
        #expect(support.offered == 1 && support.answered == 1 && support.serviceLevel == 1 && support.averageHandleTime == 120)
        let sales2 = try #require(r.groups["sales"]?[Self.nine + 900])
        #expect(sales2.offered == 1 && sales2.exited == 1 && sales2.answered == 0 && sales2.serviceLevel == 0 && sales2.longestWait == 15)
        #expect(r.total("sales").offered == 4 && r.total("sales").abandoned == 1)
    }

    /// Busy = talk + wrap-up: 130 s (c1) + 70 s (c2) of 900 s logged in at 09:00; 120 s (c4) at
    /// 09:15; nobody logged in at 09:30.
    @Test func occupancyIsBusyOverLoggedInTime() {
        let r = report()
        #expect(abs((r.occupancy(at: Self.nine) ?? 0) - 200.0 / 900) < 1e-9)
        #expect(abs((r.occupancy(at: Self.nine + 900) ?? 0) - 120.0 / 900) < 1e-9)
        #expect(r.occupancy(at: Self.nine + 1800) == nil)
    }

    @Test func intervalsOfThirtyAndSixtyMinutes() {
        #expect(report(30).groups["sales"]?[Self.nine]?.offered == 4)
        #expect(report(60).intervals == [Self.nine])
        #expect(report(60).groups["support"]?[Self.nine]?.answered == 1)
    }

    @Test func renderings() throws {
        let r = report()
        let csv = r.csv().split(separator: "\n")
        #expect(csv.first == "group,interval_start,offered,answered,abandoned,exited,service_level,average_speed_of_answer,average_handle_time,longest_wait,occupancy")
        #expect(csv.contains("sales,2026-11-23 09:00,3,2,1,0,0.333,20.0,100.0,45,0.222"), "\(csv)")
        #expect(csv.count == 1 + 2 * 3, "a full grid: every group, every interval")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.json().utf8)) as? [String: Any])
        let total = ((json["groups"] as? [String: Any])?["sales"] as? [String: Any])?["total"] as? [String: Any]
        #expect(total?["offered"] as? Int == 4)
        let html = r.html()
        #expect(html.contains("<svg") && html.contains("<polyline") && html.contains("<h2>support</h2>") && html.contains("33 %"))
        // Escaping: a group name is text, never markup.
        let odd = CallCentreReport(
            rows: [QueueLogRow(time: Self.nine + 1, call: "x", queue: "<b>", agent: "NONE", event: "ENTERQUEUE", data: [])], rules: [:], from: Self.nine,
            to: Self.nine + 900, intervalMinutes: 15)
        #expect(odd.html().contains("&lt;b&gt;") && !odd.html().contains("<h2><b></h2>"))
    }
}
