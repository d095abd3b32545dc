/// An amount of money in ten-thousandths of the currency unit: rating sums many small products, and
/// integers keep the sums exact (a report's total is the sum of its lines, to the last digit).
public struct Money: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var units: Int64
    public static let scale: Int64 = 10_000
    public static let zero = Money(units: 0)

    public init(units: Int64) { self.units = units }

    /// `"0.0125"`, `"3"`, `"-1.5"`: at most four decimals.
    public init?(_ text: String) {
        let t = text.trimmingCharacters(in: .whitespaces)
        let negative = t.hasPrefix("-")
        let body = negative ? String(t.dropFirst()) : t
        let parts = body.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), !parts[0].isEmpty || parts.count == 2, parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
            parts.count == 1 || (1...4).contains(parts[1].count), let whole = Int64(parts[0].isEmpty ? "0" : String(parts[0]))
        else { return nil }
        var fraction: Int64 = 0
        if parts.count == 2 { fraction = Int64(String(parts[1]).padding(toLength: 4, withPad: "0", startingAt: 0)) ?? 0 }
        units = (whole * Self.scale + fraction) * (negative ? -1 : 1)
    }

    public static func + (a: Money, b: Money) -> Money { Money(units: a.units + b.units) }
    public static func < (a: Money, b: Money) -> Bool { a.units < b.units }

    /// Four decimals, as billing files carry them.
    public var description: String { format(decimals: 4) }

    /// Rounded half away from zero to `decimals` (0–4).
    public func format(decimals: Int) -> String {
        let drop = Int64([1, 10, 100, 1000, 10_000][4 - decimals])
        let sign = units < 0 ? "-" : ""
        let a = abs(units)
        let rounded = (a + drop / 2) / drop
        let divisor = Self.scale / drop
        let whole = rounded / divisor
        guard decimals > 0 else { return "\(sign)\(whole)" }
        let fraction = String(rounded % divisor)
        return "\(sign)\(whole).\(String(repeating: "0", count: decimals - fraction.count))\(fraction)"
    }
}

import Foundation

/// A tariff table (FEATURES B2): the longest matching prefix of the rated number decides the rate.
public struct Tariff: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        /// Digits (and `+`); `""` matches every number (a default rate).
        public var prefix: String
        public var name: String
        /// Per minute of billed time.
        public var perMinute: Money
        /// Billing increments in seconds: the first period, then each next one, as `60/60` or `30/6`.
        public var firstIncrement: Int
        public var nextIncrement: Int
        /// The least a rated call costs (before the connection fee).
        public var minimumCharge: Money
        /// Added to every answered call.
        public var connectionFee: Money
    }

    public var entries: [Entry]

    public init(entries: [Entry]) {
        self.entries = entries.sorted { $0.prefix.count > $1.prefix.count }
    }

    /// The columns of a tariff file.
    public static let header = ["prefix", "name", "per_minute", "increment", "minimum_charge", "connection_fee"]

    /// Reads a tariff file (CSV with the header above); an error names the line and the fault.
    public static func parse(_ text: String) throws(TariffError) -> Tariff {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\r")) }
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let first = lines.first, first.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) == header else {
            throw TariffError(line: 1, "the header must be \(header.joined(separator: ","))")
        }
        var entries: [Entry] = []
        var seen = Set<String>()
        for (i, line) in lines.enumerated().dropFirst() {
            let n = i + 1
            if line.trimmingCharacters(in: .whitespaces).isEmpty || line.hasPrefix("#") { continue }
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard f.count == header.count else { throw TariffError(line: n, "\(f.count) fields, expected \(header.count)") }
            guard f[0].allSatisfy({ $0.isNumber || $0 == "+" }) else { throw TariffError(line: n, "prefix '\(f[0])' is not digits") }
            guard seen.insert(f[0]).inserted else { throw TariffError(line: n, "prefix '\(f[0])' appears twice") }
            guard let perMinute = Money(f[2]), perMinute.units >= 0 else { throw TariffError(line: n, "per_minute '\(f[2])' is not an amount") }
            let inc = f[3].split(separator: "/").map { Int($0) }
            guard inc.count == 2, let a = inc[0], let b = inc[1], a >= 1, b >= 1, a <= 3600, b <= 3600 else {
                throw TariffError(line: n, "increment '\(f[3])' is not FIRST/NEXT seconds, as 60/60 or 30/6")
            }
            guard let minimum = Money(f[4].isEmpty ? "0" : f[4]), minimum.units >= 0 else { throw TariffError(line: n, "minimum_charge '\(f[4])' is not an amount") }
            guard let fee = Money(f[5].isEmpty ? "0" : f[5]), fee.units >= 0 else { throw TariffError(line: n, "connection_fee '\(f[5])' is not an amount") }
            entries.append(Entry(prefix: f[0], name: f[1], perMinute: perMinute, firstIncrement: a, nextIncrement: b, minimumCharge: minimum, connectionFee: fee))
        }
        guard !entries.isEmpty else { throw TariffError(line: lines.count, "no rates") }
        return Tariff(entries: entries)
    }

    /// The entry for `number`: its longest matching prefix.
    public func entry(for number: String) -> Entry? {
        entries.first { number.hasPrefix($0.prefix) }
    }

    /// Billed seconds for `seconds` of talk under an entry's increments: nothing for nothing, the
    /// first increment at least, then whole next increments.
    public static func billedSeconds(_ seconds: Int, _ e: Entry) -> Int {
        guard seconds > 0 else { return 0 }
        guard seconds > e.firstIncrement else { return e.firstIncrement }
        let rest = seconds - e.firstIncrement
        return e.firstIncrement + (rest + e.nextIncrement - 1) / e.nextIncrement * e.nextIncrement
    }

    /// What a call of `seconds` billable seconds to `number` costs; nil when no prefix matches.
    public func rate(number: String, seconds: Int) -> (entry: Entry, billed: Int, cost: Money)? {
        guard let e = entry(for: number) else { return nil }
        let billed = Self.billedSeconds(seconds, e)
        guard billed > 0 else { return (e, 0, .zero) }
        // Per-minute rate × billed seconds / 60, rounded half up to the unit.
        let usage = (e.perMinute.units * Int64(billed) + 30) / 60
        return (e, billed, Money(units: max(usage, e.minimumCharge.units)) + e.connectionFee)
    }
}

public struct TariffError: Error, CustomStringConvertible, Sendable {
    public let line: Int
    public let message: String
    public init(line: Int, _ message: String) {
        self.line = line
        self.message = message
    }
    public var description: String { "line \(line): \(message)" }
}
