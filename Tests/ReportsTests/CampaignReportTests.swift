import Foundation
import Reports
import Testing

/// The campaign report (issue 19): tries per interval by outcome, the abandon rate as the rule
/// counts it, and the three renderings.
@Suite struct CampaignReportTests {
    static let hour = 1_796_342_400.0  // 2026-12-04 00:00 UTC

    static func tries() -> [CampaignTry] {
        var out: [CampaignTry] = []
        func add(_ c: String, _ o: String, _ at: Double, talk: Double? = nil) { out.append(CampaignTry(campaign: c, outcome: o, startedAt: hour + at, endedAt: hour + at + 30, talkSeconds: talk)) }
        for i in 0..<8 { add("spring", "connected", Double(i) * 60, talk: 100) }
        add("spring", "abandoned", 600)
        add("spring", "busy", 700)
        add("spring", "no-answer", 800)
        add("spring", "congestion", 900)
        add("spring", "connected", 3700, talk: 50)
        add("autumn", "busy", 100)
        add("spring", "connected", -10, talk: 10)  // before the range
        return out
    }

    @Test func figuresPerCampaignAndInterval() {
        let r = CampaignReport(tries: Self.tries(), from: Self.hour, to: Self.hour + 7200, intervalMinutes: 60)
        #expect(r.names == ["autumn", "spring"])
        #expect(r.intervals == [Self.hour, Self.hour + 3600])
        let first = r.campaigns["spring"]?[Self.hour]
        #expect(first?.dialled == 12 && first?.connected == 8 && first?.abandoned == 1 && first?.busy == 1 && first?.noAnswer == 1 && first?.failed == 1)
        #expect(first?.answered == 9)
        #expect(first?.abandonRate == 1.0 / 9, "abandoned over answered by a person, not over dialled")
        #expect(first?.contactRate == 9.0 / 12)
        #expect(first?.averageTalk == 100)
        let total = r.total("spring")
        #expect(total.dialled == 13 && total.connected == 9 && total.talkSeconds == 850, "the try before the range is left out")
    }

    @Test func csvJSONAndHTML() throws {
        let r = CampaignReport(tries: Self.tries(), from: Self.hour, to: Self.hour + 7200, intervalMinutes: 60)
        let lines = r.csv().split(separator: "\n")
        #expect(lines.first?.hasPrefix("campaign,interval_start,dialled,answered,connected,abandoned,abandon_rate") == true)
        #expect(lines.count == 1 + 2 * 2, "every campaign, every interval")
        #expect(lines.contains { $0.hasPrefix("spring,2026-12-04 00:00,12,9,8,1,0.1111,1,1,1,0.750,800,100.0") }, "\(lines)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.json().utf8)) as? [String: Any])
        let spring = try #require((json["campaigns"] as? [String: Any])?["spring"] as? [String: Any])
        #expect((spring["total"] as? [String: Any])?["dialled"] as? Int == 13)
        let html = r.html()
        #expect(html.contains("<svg") && html.contains("Campaign report") && html.contains("11.11 %"))
        #expect(!html.contains("<script"), "a page that prints as it shows")
    }
}
