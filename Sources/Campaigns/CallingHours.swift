public import Foundation

/// The hours of the day and the days of the week a contact may be called, read in the
/// contact's time zone. The default, 08:00 to 21:00 every day, is the widest window the US
/// Telemarketing Sales Rule allows (16 CFR 310.4(c)); an operator narrows it per campaign.
public struct CallingHours: Sendable, Equatable, Codable {
    /// Minutes after local midnight: from `start` (included) to `end` (excluded).
    public var start: Int
    public var end: Int
    /// ISO weekdays, 1 Monday to 7 Sunday.
    public var days: Set<Int>

    public init(start: Int = 8 * 60, end: Int = 21 * 60, days: Set<Int> = Set(1...7)) {
        self.start = start
        self.end = end
        self.days = days
    }

    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    static let dayNames = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

    /// `09:00-20:30`, and days as `mon-fri`, `sat,sun` or `mon-fri,sun`.
    public init(hours: String, days daysText: String = "mon-sun") throws(ParseError) {
        func minutes(_ t: Substring) throws(ParseError) -> Int {
            let parts = t.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0].count == 2, parts[1].count == 2, let h = Int(parts[0]), let m = Int(parts[1]), (0...24).contains(h), (0..<60).contains(m),
                h * 60 + m <= 24 * 60
            else { throw ParseError(description: "'\(t)' is not a time (HH:MM)") }
            return h * 60 + m
        }
        let range = hours.split(separator: "-", omittingEmptySubsequences: false)
        guard range.count == 2 else { throw ParseError(description: "calling hours '\(hours)' must be HH:MM-HH:MM") }
        let (s, e) = (try minutes(range[0]), try minutes(range[1]))
        guard s < e else { throw ParseError(description: "calling hours '\(hours)' end before they start") }
        var set = Set<Int>()
        for item in daysText.lowercased().split(separator: ",") {
            let ends = item.split(separator: "-", omittingEmptySubsequences: false).map { String($0).trimmingCharacters(in: .whitespaces) }
            guard (1...2).contains(ends.count), let a = Self.dayNames.firstIndex(of: ends[0]), let b = Self.dayNames.firstIndex(of: ends.last!) else {
                throw ParseError(description: "'\(item)' is not a day or a range of days (mon, tue, ... sun)")
            }
            guard a <= b else { throw ParseError(description: "days '\(item)' run backwards; write them Monday first") }
            set.formUnion((a + 1)...(b + 1))
        }
        guard !set.isEmpty else { throw ParseError(description: "no calling days") }
        self.init(start: s, end: e, days: set)
    }

    /// `unix` itself when a contact in `zone` may be called then, otherwise the first moment
    /// they may (within two weeks; nil if the window never opens).
    public func nextOpening(at unix: Double, in zone: TimeZone) -> Double? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let date = Date(timeIntervalSince1970: unix)
        let midnight = calendar.startOfDay(for: date)
        for offset in 0...14 {
            guard let day = calendar.date(byAdding: .day, value: offset, to: midnight) else { return nil }
            // ISO weekday from the calendar's (1 Sunday ... 7 Saturday).
            let weekday = (calendar.component(.weekday, from: day) + 5) % 7 + 1
            guard days.contains(weekday) else { continue }
            // Through the calendar, not by adding seconds: a day of a clock change is 23 or 25 h.
            guard let open = calendar.date(bySettingHour: start / 60, minute: start % 60, second: 0, of: day) else { continue }
            let close: Date? =
                end == 24 * 60 ? calendar.date(byAdding: .day, value: 1, to: day) : calendar.date(bySettingHour: end / 60, minute: end % 60, second: 0, of: day)
            guard let close else { continue }
            if date < open { return open.timeIntervalSince1970 }
            if date < close { return unix }
        }
        return nil
    }

    /// As the operator writes it: `08:00-21:00 mon-sun`.
    public var description: String {
        let d = (1...7).filter(days.contains).map { Self.dayNames[$0 - 1] }.joined(separator: ",")
        return String(format: "%02d:%02d-%02d:%02d", start / 60, start % 60, end / 60, end % 60) + " " + d
    }
}
