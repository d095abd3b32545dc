public import Foundation

/// A weekly schedule with holidays, in one time zone: when a call centre answers. The IVR's
/// `hours` node asks it "open now?"; the answer depends only on the instant passed in, so tests
/// use fixed instants and no clock.
///
/// Written in the configuration as ranges such as `"mon-fri 08:00-18:00"`, `"sat 09:00-13:00"`
/// or `"fri 22:00-06:00"` (an end at or before the start runs past midnight into the next day),
/// and holidays as `"2026-12-25"` (that date) or `"12-25"` (every year), closed all day.
public struct BusinessHours: Sendable, Equatable {
    /// Open from `start` to `end` minutes after midnight on the days in `days` (1 = Monday … 7 = Sunday).
    public struct Range: Sendable, Equatable {
        public var days: Set<Int>
        public var start: Int
        public var end: Int
    }

    public struct Holiday: Sendable, Equatable {
        public var year: Int?
        public var month: Int
        public var day: Int
    }

    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
        init(_ d: String) { description = d }
    }

    public var name: String
    public var timeZone: TimeZone
    public var ranges: [Range]
    public var holidays: [Holiday]

    static let dayNames = ["mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7]

    public init(name: String, timeZone: TimeZone, ranges: [Range], holidays: [Holiday] = []) {
        self.name = name
        self.timeZone = timeZone
        self.ranges = ranges
        self.holidays = holidays
    }

    /// Open every minute of every day.
    public static func always(name: String = "always") -> BusinessHours {
        BusinessHours(name: name, timeZone: TimeZone(identifier: "UTC")!, ranges: [Range(days: Set(1...7), start: 0, end: 1440)])
    }

    /// Parses the configuration's form (see the type's comment).
    public init(name: String, timeZone: String, open: [String], holidays: [String]) throws(ParseError) {
        guard let tz = TimeZone(identifier: timeZone) else { throw ParseError("'\(timeZone)' is not a known time zone (such as Europe/Berlin or UTC)") }
        var ranges: [Range] = []
        for text in open { ranges.append(try Self.parseRange(text)) }
        var days: [Holiday] = []
        for text in holidays { days.append(try Self.parseHoliday(text)) }
        self.init(name: name, timeZone: tz, ranges: ranges, holidays: days)
    }

    static func parseRange(_ text: String) throws(ParseError) -> Range {
        let parts = text.lowercased().split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 2 else { throw ParseError("'\(text)' must be DAYS HH:MM-HH:MM, such as \"mon-fri 08:00-18:00\"") }
        var days = Set<Int>()
        for item in parts[0].split(separator: ",") {
            let ends = item.split(separator: "-").map(String.init)
            guard (1...2).contains(ends.count), let first = dayNames[ends[0]], let last = dayNames[ends.last!] else {
                throw ParseError("'\(item)' in '\(text)' is not a day or day range (mon, tue, wed, thu, fri, sat, sun, such as mon-fri)")
            }
            // A range may wrap the week: sat-mon is Saturday, Sunday and Monday.
            var d = first
            while true {
                days.insert(d)
                if d == last { break }
                d = d % 7 + 1
            }
        }
        let times = parts[1].split(separator: "-").map(String.init)
        guard times.count == 2, let start = minutes(times[0]), let end = minutes(times[1]), start < 1440 else {
            throw ParseError("'\(parts[1])' in '\(text)' must be HH:MM-HH:MM between 00:00 and 24:00")
        }
        if start == end { throw ParseError("'\(text)' opens and closes at the same minute") }
        return Range(days: days, start: start, end: end)
    }

    static func minutes(_ text: String) -> Int? {
        let hm = text.split(separator: ":")
        guard hm.count == 2, hm[1].count == 2, let h = Int(hm[0]), let m = Int(hm[1]), (0...24).contains(h), (0...59).contains(m) else { return nil }
        let total = h * 60 + m
        return total <= 1440 ? total : nil
    }

    static func parseHoliday(_ text: String) throws(ParseError) -> Holiday {
        let parts = text.split(separator: "-").map { Int($0) }
        let bad = ParseError("holiday '\(text)' must be YYYY-MM-DD or MM-DD")
        switch parts.count {
        case 3:
            guard let y = parts[0], let m = parts[1], let d = parts[2], (1...12).contains(m), (1...31).contains(d) else { throw bad }
            return Holiday(year: y, month: m, day: d)
        case 2:
            guard let m = parts[0], let d = parts[1], (1...12).contains(m), (1...31).contains(d) else { throw bad }
            return Holiday(year: nil, month: m, day: d)
        default:
            throw bad
        }
    }

    /// Whether callers are answered at `unixSeconds`, in the schedule's own time zone.
    public func isOpen(at unixSeconds: Double) -> Bool {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let now = Date(timeIntervalSince1970: unixSeconds)
        let c = calendar.dateComponents([.year, .month, .day, .weekday, .hour, .minute], from: now)
        guard let year = c.year, let month = c.month, let day = c.day, let weekday = c.weekday, let hour = c.hour, let minute = c.minute else { return false }
        if holidays.contains(where: { ($0.year == nil || $0.year == year) && $0.month == month && $0.day == day }) { return false }
        // Calendar counts Sunday as 1; ours is Monday = 1.
        let today = (weekday + 5) % 7 + 1
        let yesterday = (today + 5) % 7 + 1
        let minuteOfDay = hour * 60 + minute
        for r in ranges {
            if r.end > r.start {
                if r.days.contains(today) && minuteOfDay >= r.start && minuteOfDay < r.end { return true }
            } else {
                // Overnight: the evening part today, the morning part as the previous day's range.
                if r.days.contains(today) && minuteOfDay >= r.start { return true }
                if r.days.contains(yesterday) && minuteOfDay < r.end { return true }
            }
        }
        return false
    }
}
