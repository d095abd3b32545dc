import Campaigns
import Foundation
import Testing

/// A campaign's contacts (issue 19, part 3): the list as loaded, the hours they may be called
/// in their own time zone, and what each try's end makes of them.
@Suite struct ContactCSVTests {
    @Test func aListWithQuotesFieldsAndTimeZonesIsRead() throws {
        let csv = "\u{FEFF}Number,Name,TimeZone,Account,Note\r\n+49 (30) 123-4567,\"Doe, Jane\",Europe/Berlin,A-1,\"said \"\"call after 5\"\"\"\r\n030 7654321,Bob,,B-2,\"two\nlines\"\r\n\r\n"
        let contacts = try ContactCSV.parse(csv, source: "list.csv", campaign: "spring")
        #expect(contacts.count == 2)
        #expect(contacts[0].number == "+49301234567" && contacts[0].name == "Doe, Jane" && contacts[0].timeZone == "Europe/Berlin" && contacts[0].line == 2)
        #expect(contacts[0].fields == [.init("account", "A-1"), .init("note", "said \"call after 5\"")])
        #expect(contacts[1].number == "0307654321" && contacts[1].timeZone == nil && contacts[1].fields[1].value == "two\nlines" && contacts[1].line == 3)
        #expect(contacts.allSatisfy { $0.status == .pending && $0.campaign == "spring" && $0.attempts == 0 })
    }

    @Test(arguments: [
        ("number,name\n5551234,A\nnot-a-number,B\n", "list.csv:3: 'not-a-number' is not a phone number"),
        ("number,name\n5551234,A\n5551235\n", "list.csv:3: 1 fields, the header has 2"),
        ("number,timezone\n5551234,Mars/Base\n", "list.csv:2: unknown time zone 'Mars/Base'"),
        ("number\n555-1234\n5551234\n", "list.csv:3: number 5551234 is already on line 2"),
        ("phone,name\n5551234,A\n", "list.csv:1: no 'number' column in the header (phone,name)"),
        ("number,name\n\"5551234,A\n", "list.csv:2: a quoted field is not closed"),
        ("number,name\n55\"5\",A\n", "list.csv:2: a quote inside an unquoted field"),
        ("number\n", "list.csv: no contacts after the header"),
        ("", "list.csv: empty file; the first row names the columns (number, name, timezone, ...)"),
        ("number,number\n1,2\n", "list.csv:1: column 'number' twice"),
        ("number\n12\n", "list.csv:2: '12' is not a phone number"),
    ])
    func aBadRowFailsTheWholeFileNamingItsLine(csv: String, error: String) {
        let message: String? = {
            do {
                _ = try ContactCSV.parse(csv, source: "list.csv", campaign: "c")
                return nil
            } catch let e as ContactCSV.LoadError { return e.description } catch { return "\(error)" }
        }()
        #expect(message?.hasPrefix(error) == true, "\(message ?? "loaded")")
    }
}

@Suite struct CallingHoursTests {
    let berlin = TimeZone(identifier: "Europe/Berlin")!
    /// 2026-12-04 (a Friday) at the given UTC hour and minute.
    func friday(_ h: Int, _ m: Int = 0) -> Double { 1_796_342_400 + Double(h * 3600 + m * 60) }

    @Test func theWindowIsTheContactsOwnClock() throws {
        let hours = try CallingHours(hours: "09:00-20:00", days: "mon-fri")
        // 07:30 UTC is 08:30 in Berlin: half an hour to wait.
        #expect(hours.nextOpening(at: friday(7, 30), in: berlin) == friday(8))
        #expect(hours.nextOpening(at: friday(8), in: berlin) == friday(8))
        #expect(hours.nextOpening(at: friday(18, 59), in: berlin) == friday(18, 59))
        // 19:00 UTC is 20:00 in Berlin: closed; Saturday and Sunday are not calling days.
        #expect(hours.nextOpening(at: friday(19), in: berlin) == friday(8) + 3 * 86_400)
        #expect(hours.nextOpening(at: friday(19), in: TimeZone(identifier: "America/New_York")!) == friday(19), "14:00 in New York")
    }

    @Test func aClockChangeDayOpensAtTheLocalHour() throws {
        let hours = try CallingHours(hours: "09:00-20:00")
        // 2027-03-28: Berlin goes from UTC+1 to UTC+2 at 02:00; 09:00 local is 07:00 UTC.
        let night = 1_806_192_000.0  // 2027-03-28 00:00 UTC
        #expect(hours.nextOpening(at: night, in: berlin) == night + 7 * 3600)
    }

    @Test(arguments: [("9:00-20:00", "mon"), ("20:00-09:00", "mon"), ("09:00", "mon"), ("09:00-25:00", "mon"), ("09:00-20:00", "fri-mon"), ("09:00-20:00", "funday")])
    func badHoursAreRefused(hours: String, days: String) {
        #expect(throws: CallingHours.ParseError.self) { try CallingHours(hours: hours, days: days) }
    }

    @Test func daysReadAsListsAndRanges() throws {
        #expect(try CallingHours(hours: "08:00-21:00", days: "mon-wed,sat").days == [1, 2, 3, 6])
        #expect(try CallingHours(hours: "08:00-24:00").description == "08:00-24:00 mon,tue,wed,thu,fri,sat,sun")
    }
}

@Suite struct ContactRulesTests {
    let settings = CampaignSettings(
        name: "c", group: "sales", mode: .progressive, hours: CallingHours(start: 0, end: 24 * 60), attempts: 2, retrySeconds: ["busy": 60, "no-answer": 600, "failed": 900])

    @Test func aBusyNumberIsTriedAgainAfterItsSpacingThenFails() {
        let c = Contact(campaign: "c", number: "5551234")
        let once = ContactRules.after(.busy, c, settings: settings, now: 1000)
        #expect(once.status == .pending && once.attempts == 1 && once.nextAt == 1060 && once.lastOutcome == "busy")
        #expect(ContactRules.wait(once, settings: settings, now: 1030, doNotCall: { _ in false }) == .until(1060))
        #expect(ContactRules.wait(once, settings: settings, now: 1060, doNotCall: { _ in false }) == nil)
        let twice = ContactRules.after(.noAnswer, once, settings: settings, now: 1100)
        #expect(twice.status == .failed && twice.attempts == 2 && twice.nextAt == nil)
        #expect(ContactRules.wait(twice, settings: settings, now: 9999, doNotCall: { _ in false }) == .never(.failed))
    }

    @Test func aConnectedCallIsDoneAndARingNobodyAnsweredIsNotATry() {
        let c = Contact(campaign: "c", number: "5551234")
        #expect(ContactRules.after(.connected, c, settings: settings, now: 5).status == .done)
        let again = ContactRules.after(.notDialled, c, settings: settings, now: 5)
        #expect(again.status == .pending && again.attempts == 0 && again.nextAt == nil)
        #expect(ContactRules.after(.congestion, c, settings: settings, now: 5).attempts == 0)
    }

    @Test func aNumberOnTheDoNotCallListIsNeverDialledAndHoursAreTheContacts() throws {
        var s = settings
        s.hours = try CallingHours(hours: "09:00-17:00")
        s.timeZone = "America/New_York"
        let c = Contact(campaign: "c", number: "5551234")
        #expect(ContactRules.wait(c, settings: s, now: 1_796_342_400, doNotCall: { $0 == "5551234" }) == .never(.dnc))
        // 00:00 UTC Friday: 19:00 Thursday in New York, closed; open at 09:00 there (14:00 UTC).
        #expect(ContactRules.wait(c, settings: s, now: 1_796_342_400, doNotCall: { _ in false }) == .until(1_796_342_400 + 14 * 3600))
        var tokyo = c
        tokyo.timeZone = "Asia/Tokyo"
        #expect(ContactRules.wait(tokyo, settings: s, now: 1_796_342_400, doNotCall: { _ in false }) == nil, "09:00 in Tokyo: open")
    }

    @Test func settingsAreCheckedAndOldRowsReadDefaults() throws {
        var s = settings
        s.name = "bad name"
        s.attempts = 0
        s.retrySeconds["voicemail"] = 5
        s.timeZone = "Nowhere/Land"
        s.abandonPrompt = "../../etc/passwd"
        #expect(s.problems().count == 6, "\(s.problems())")
        #expect(s.problems().contains { $0.contains("abandon_prompt '../../etc/passwd'") })
        let old = try JSONDecoder().decode(CampaignSettings.self, from: Data(#"{"name":"c","group":"sales","mode":"preview"}"#.utf8))
        #expect(old.attempts == 3 && old.hours == CallingHours() && old.timeZone == "UTC" && old.retrySeconds == CampaignSettings.defaultRetry)
        #expect(old.abandonPrompt == "campaign-abandon", "a row from before abandon_prompt plays the shipped message")
        var own = settings
        own.abandonPrompt = "spring_sale-2"
        #expect(own.problems().isEmpty)
        let round = try JSONDecoder().decode(CampaignSettings.self, from: JSONEncoder().encode(own))
        #expect(round == own)
    }

    @Test func congestionBacksOffDoublingToAMinute() {
        var b = TrunkBackoff()
        #expect(b.allows(at: 0))
        b.congested(at: 100)
        #expect(!b.allows(at: 104) && b.allows(at: 105))
        for _ in 0..<6 { b.congested(at: 200) }
        #expect(b.step == 60 && !b.allows(at: 259))
        b.through()
        #expect(b.allows(at: 200))
    }
}
