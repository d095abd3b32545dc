import Foundation
import Testing

@testable import Reports

/// Billing checked against figures worked out by hand (in the comments).
@Suite struct BillingTests {
    static let tariffText = """
        prefix,name,per_minute,increment,minimum_charge,connection_fee
        ,Default,0.10,60/60,,
        030,Berlin,0.02,60/60,,0.05
        0301,Berlin centre,0.015,30/6,0.01,
        0049151,Mobile DE,0.19,6/6,,0.10
        """

    static let day1 = 1_795_392_000.0  // 2026-11-23 00:00 UTC
    static let day2 = day1 + 86_400

    static let calls = [
        // 95 s on 0301 (30/6): 30 + 11 × 6 = 96 s billed; 96/60 × 0.015 = 0.0240.
        BillableCall(uniqueID: "1", start: day1 + 3600, caller: "0301234567", called: "100", trunk: "carrier-a", agent: "1001", billableSeconds: 95),
        // 61 s on 030 (60/60): 120 s; 2 × 0.02 = 0.04, + fee 0.05 = 0.0900.
        BillableCall(uniqueID: "2", start: day1 + 7200, caller: "0307654321", called: "100", trunk: "carrier-a", agent: "1002", billableSeconds: 61),
        // 7 s on 0049151 (6/6): 12 s; 12/60 × 0.19 = 0.038, + fee 0.10 = 0.1380.
        BillableCall(uniqueID: "3", start: day1 + 9000, caller: "004915112345", called: "100", trunk: "carrier-a", agent: "1001", billableSeconds: 7),
        // Not talked (0 s): nothing, no fee.
        BillableCall(uniqueID: "4", start: day2 + 60, caller: "0301111", called: "100", trunk: "carrier-b", agent: nil, billableSeconds: 0),
        // 10 s on 0301: 30 s billed = 0.0075, below the minimum 0.01: 0.0100.
        BillableCall(uniqueID: "5", start: day2 + 120, caller: "0301999", called: "100", trunk: "carrier-b", agent: nil, billableSeconds: 10),
        // 59 s on the default rate (60/60): 60 s = 0.1000.
        BillableCall(uniqueID: "6", start: day2 + 180, caller: "0612345", called: "200", trunk: "carrier-b", agent: nil, billableSeconds: 59),
    ]

    @Test func moneyParsesAndRoundsExactly() {
        #expect(Money("0.015")?.units == 150 && Money("3")?.units == 30_000 && Money(".5")?.units == 5000 && Money("-1.25")?.units == -12_500)
        #expect(Money("0.00001") == nil && Money("1,5") == nil && Money("") == nil && Money("abc") == nil)
        #expect(Money(units: 1_235).format(decimals: 2) == "0.12" && Money(units: 1_250).format(decimals: 2) == "0.13")
        #expect(Money(units: 3620).description == "0.3620" && Money(units: 1_234_567).format(decimals: 0) == "123")
    }

    @Test func incrementsBillTheFirstPeriodThenWholeNextOnes() {
        let e = Tariff.Entry(prefix: "", name: "", perMinute: .zero, firstIncrement: 30, nextIncrement: 6, minimumCharge: .zero, connectionFee: .zero)
        #expect([0, 1, 30, 31, 36, 37, 95].map { Tariff.billedSeconds($0, e) } == [0, 30, 30, 36, 36, 42, 96])
    }

    @Test func theLongestPrefixWins() throws {
        let t = try Tariff.parse(Self.tariffText)
        #expect(t.entry(for: "0301234")?.name == "Berlin centre")
        #expect(t.entry(for: "0302")?.name == "Berlin")
        #expect(t.entry(for: "0049151")?.name == "Mobile DE")
        #expect(t.entry(for: "0049152")?.name == "Default")
    }

    @Test func callsAreRatedAndSummedAsWorkedOutByHand() throws {
        let r = BillingReport(calls: Self.calls, tariff: try Tariff.parse(Self.tariffText), rateBy: .caller, currency: "EUR", from: Self.day1, to: Self.day2 + 86_400)
        #expect(r.lines.map(\.cost.description) == ["0.0240", "0.0900", "0.1380", "0.0000", "0.0100", "0.1000"])
        #expect(r.lines.map(\.billedSeconds) == [96, 120, 12, 0, 30, 60])
        #expect(r.total.cost.description == "0.3620" && r.total.calls == 6 && r.total.billedSeconds == 318 && r.total.billableSeconds == 232)
        #expect(r.byTrunk["carrier-a"]?.cost.description == "0.2520" && r.byTrunk["carrier-b"]?.cost.description == "0.1100")
        #expect(r.byAgent["1001"]?.cost.description == "0.1620" && r.byAgent["1002"]?.cost.description == "0.0900")
        #expect(r.byAgent["(none)"]?.calls == 3 && r.byAgent["(none)"]?.cost.description == "0.1100")
        #expect(r.byDay["2026-11-23"]?.cost.description == "0.2520" && r.byDay["2026-11-24"]?.cost.description == "0.1100")
        #expect(r.byDID["100"]?.cost.description == "0.2620" && r.byDID["200"]?.cost.description == "0.1000")
        // Summing any grouping gives the total.
        for g in r.groupings { #expect(g.sums.values.reduce(Money.zero) { $0 + $1.cost } == r.total.cost, "\(g.name)") }

        let csv = r.csv()
        #expect(csv.hasPrefix("uniqueid,start,caller,called,trunk,agent,rated_number,prefix,rate,billable_seconds,billed_seconds,cost\n"))
        #expect(csv.contains("\n1,2026-11-23 01:00,0301234567,100,carrier-a,1001,0301234567,0301,Berlin centre,95,96,0.0240\n"), "\(csv)")
        #expect(r.csv(by: "trunk") == "trunk,calls,billable_seconds,billed_seconds,cost\ncarrier-a,3,163,228,0.2520\ncarrier-b,3,69,90,0.1100\n")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.json().utf8)) as? [String: Any])
        #expect((json["total"] as? [String: Any])?["cost"] as? String == "0.3620")
        #expect(((json["by_day"] as? [String: Any])?["2026-11-24"] as? [String: Any])?["calls"] as? Int == 3)
        let html = r.html()
        #expect(html.contains("<b>0.36 EUR</b>") && html.contains("<h2>Per agent</h2>") && html.hasPrefix("<!DOCTYPE html>"))
    }

    @Test func aCallNoRateMatchesIsListedNotLost() throws {
        let t = try Tariff.parse("prefix,name,per_minute,increment,minimum_charge,connection_fee\n030,Berlin,0.02,60/60,,\n")
        let r = BillingReport(calls: Self.calls, tariff: t, rateBy: .caller, currency: "EUR", from: 0, to: .greatestFiniteMagnitude)
        #expect(r.lines.count == 4 && r.unrated.map(\.uniqueID) == ["3", "6"])
        #expect(r.html().contains("2 calls matched no rate"))
    }

    @Test func anAgentsOwnCallIsRatedByTheNumberCalledWhateverRateBySays() throws {
        // 40 s to a mobile (0049151, 6/6): 42 s billed; 42/60 × 0.19 = 0.133, + fee 0.10 = 0.2330.
        let out = BillableCall(uniqueID: "7", start: Self.day1, caller: "1001", called: "004915112345", trunk: "carrier-a", agent: "1001", billableSeconds: 40, outbound: true)
        let r = BillingReport(calls: [out], tariff: try Tariff.parse(Self.tariffText), rateBy: .caller, currency: "EUR", from: 0, to: .greatestFiniteMagnitude)
        #expect(r.lines.first?.rated == "004915112345")
        #expect(r.lines.first?.cost.description == "0.2330")
    }

    @Test func aBrokenTariffNamesItsLine() {
        func error(_ text: String) -> String {
            do {
                _ = try Tariff.parse(text)
                return "parsed"
            } catch { return error.description }
        }
        let header = "prefix,name,per_minute,increment,minimum_charge,connection_fee\n"
        #expect(error("prefix,name\n") == "line 1: the header must be prefix,name,per_minute,increment,minimum_charge,connection_fee")
        #expect(error(header + "030,Berlin,0.02,60/60,,\n031,X,abc,60/60,,\n") == "line 3: per_minute 'abc' is not an amount")
        #expect(error(header + "030,Berlin,0.02,60,,\n").hasPrefix("line 2: increment '60'"))
        #expect(error(header + "030,A,0.02,60/60,,\n030,B,0.02,60/60,,\n") == "line 3: prefix '030' appears twice")
        #expect(error(header + "03x,A,0.02,60/60,,\n") == "line 2: prefix '03x' is not digits")
        #expect(error(header) == "line 1: no rates")
    }
}
