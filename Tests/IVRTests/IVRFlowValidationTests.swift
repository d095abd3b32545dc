import Foundation
import Testing

@testable import IVR

@Suite struct IVRFlowValidationTests {
    static let prompts: Set<String> = ["welcome", "main-menu", "invalid", "no-input", "closed", "voicemail", "goodbye", "please-hold"]

    func check(_ flow: IVRFlow, groups: Set<String> = ["sales", "support"], otherEntries: Set<String> = [], languages: Set<String> = ["en"]) throws(IVRFlow.Fault) {
        try flow.validate(defaultLanguage: "en", groups: groups, otherEntries: otherEntries) { name, language in
            languages.contains(language) && Self.prompts.contains(name)
        }
    }

    func fault(_ flow: IVRFlow, groups: Set<String> = ["sales", "support"], otherEntries: Set<String> = [], languages: Set<String> = ["en"]) -> IVRFlow.Fault? {
        do {
            try check(flow, groups: groups, otherEntries: otherEntries, languages: languages)
            return nil
        } catch {
            return error
        }
    }

    @Test func theSampleFlowIsValid() throws {
        try check(sampleFlow())
    }

    @Test func unknownSuccessorNamesTheNode() {
        var flow = sampleFlow()
        flow.nodes["welcome"] = .play(prompts: ["welcome"], bargeIn: true, next: "nowhere")
        let f = fault(flow)
        #expect(f?.node == "welcome")
        #expect(f?.message.contains("nowhere") == true)
    }

    @Test func unknownEntryNode() {
        var flow = sampleFlow()
        flow.entries["200"] = "lobby"
        #expect(fault(flow)?.node == "lobby")
    }

    @Test func missingPromptNamesNodeAndPrompt() {
        var flow = sampleFlow()
        flow.nodes["closed"] = .play(prompts: ["closed-for-holidays"], bargeIn: false, next: "voicemail")
        let f = fault(flow)
        #expect(f?.node == "closed")
        #expect(f?.message.contains("closed-for-holidays") == true)
    }

    @Test func promptsMustExistInEveryLanguageTheFlowSwitchesTo() {
        var flow = sampleFlow()
        flow.nodes["welcome"] = .play(prompts: ["welcome"], bargeIn: true, next: "german")
        flow.nodes["german"] = .setLanguage("de", next: "hours")
        #expect(fault(flow)?.message.contains("language 'de'") == true)
        #expect(fault(flow, languages: ["en", "de"]) == nil)
    }

    @Test func unreachableNode() {
        var flow = sampleFlow()
        flow.nodes["orphan"] = .hangUp(prompts: [])
        #expect(fault(flow)?.node == "orphan")
        // A queue's ivr:NODE exit is an entry too.
        #expect(fault(flow, otherEntries: ["orphan"]) == nil)
    }

    @Test func loopWithoutInputIsRefused() {
        var flow = sampleFlow()
        flow.nodes["closed"] = .play(prompts: ["closed"], bargeIn: false, next: "again")
        flow.nodes["again"] = .goto("closed")
        let f = fault(flow)
        #expect(f?.message.contains("never waits") == true)
        #expect(["closed", "again"].contains(f?.node ?? ""))
    }

    @Test func loopThroughAMenuIsFine() {
        var flow = sampleFlow()
        flow.nodes["goodbye"] = .play(prompts: ["goodbye"], bargeIn: true, next: "menu")
        #expect(fault(flow) == nil)
    }

    @Test func unknownGroupAndSchedule() {
        var flow = sampleFlow()
        flow.nodes["sales"] = .route(.init(group: "billing"))
        #expect(fault(flow)?.node == "sales")
        flow = sampleFlow()
        flow.nodes["hours"] = .hours(schedule: "weekend", open: "menu", closed: "closed")
        #expect(fault(flow)?.message.contains("weekend") == true)
    }
}

@Suite struct BusinessHoursTests {
    /// Unix time of a wall-clock moment in a zone.
    func at(_ text: String, _ zone: String) -> Double {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: zone)
        f.dateFormat = "yyyy-MM-dd HH:mm"
        return f.date(from: text)!.timeIntervalSince1970
    }

    @Test func weekdayRangeWithEdges() throws {
        let h = try BusinessHours(name: "office", timeZone: "Europe/Berlin", open: ["mon-fri 08:00-18:00", "sat 09:00-13:00"], holidays: [])
        // 2026-11-23 is a Monday.
        #expect(!h.isOpen(at: at("2026-11-23 07:59", "Europe/Berlin")))
        #expect(h.isOpen(at: at("2026-11-23 08:00", "Europe/Berlin")))
        #expect(h.isOpen(at: at("2026-11-23 17:59", "Europe/Berlin")))
        #expect(!h.isOpen(at: at("2026-11-23 18:00", "Europe/Berlin")))
        #expect(h.isOpen(at: at("2026-11-28 10:00", "Europe/Berlin")))  // Saturday
        #expect(!h.isOpen(at: at("2026-11-29 10:00", "Europe/Berlin")))  // Sunday
    }

    @Test func theZoneDecides() throws {
        let h = try BusinessHours(name: "ny", timeZone: "America/New_York", open: ["mon-fri 09:00-17:00"], holidays: [])
        // 09:30 in Berlin is 03:30 in New York: closed; 16:00 Berlin is 10:00 New York: open.
        #expect(!h.isOpen(at: at("2026-11-24 09:30", "Europe/Berlin")))
        #expect(h.isOpen(at: at("2026-11-24 16:00", "Europe/Berlin")))
    }

    @Test func overnightRangeRunsIntoTheNextDay() throws {
        let h = try BusinessHours(name: "night", timeZone: "UTC", open: ["fri 22:00-06:00"], holidays: [])
        #expect(h.isOpen(at: at("2026-11-27 23:00", "UTC")))  // Friday night
        #expect(h.isOpen(at: at("2026-11-28 05:59", "UTC")))  // Saturday morning
        #expect(!h.isOpen(at: at("2026-11-28 06:00", "UTC")))
        #expect(!h.isOpen(at: at("2026-11-27 05:00", "UTC")))  // Friday morning belongs to Thursday
    }

    @Test func holidaysCloseAllDay() throws {
        let h = try BusinessHours(name: "x", timeZone: "UTC", open: ["mon-sun 00:00-24:00"], holidays: ["2026-12-25", "01-01"])
        #expect(!h.isOpen(at: at("2026-12-25 12:00", "UTC")))
        #expect(h.isOpen(at: at("2026-12-26 12:00", "UTC")))
        #expect(!h.isOpen(at: at("2027-01-01 00:00", "UTC")))
        #expect(!h.isOpen(at: at("2031-01-01 23:59", "UTC")))
        #expect(h.isOpen(at: at("2026-11-23 03:00", "UTC")))
    }

    @Test func badTextIsRefusedWithWhatWasWrong() {
        #expect(throws: BusinessHours.ParseError.self) { try BusinessHours(name: "x", timeZone: "Mars/Olympus", open: [], holidays: []) }
        for bad in ["monday 08:00-18:00", "mon-fri 8-18", "mon-fri 08:00-25:00", "mon 08:00-08:00", "mon-fri"] {
            #expect(throws: BusinessHours.ParseError.self, "\(bad)") { try BusinessHours(name: "x", timeZone: "UTC", open: [bad], holidays: []) }
        }
        #expect(throws: BusinessHours.ParseError.self) { try BusinessHours(name: "x", timeZone: "UTC", open: [], holidays: ["2026-13-01"]) }
    }
}
