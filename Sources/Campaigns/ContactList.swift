import Foundation

/// One person a campaign calls.
public struct Contact: Sendable, Equatable {
    /// The row's id in the database (0 before it is stored).
    public var id: Int64
    public var campaign: String
    public var number: String
    public var name: String
    /// IANA name; nil: the campaign's.
    public var timeZone: String?
    /// The other columns of the contact's CSV row, in order, for the agent's screen pop.
    public var fields: [Field]
    public var status: ContactStatus
    /// Tries that reached the number (busy, no answer, failed and connected count; a ring of the
    /// agent's phone that was not answered does not).
    public var attempts: Int
    /// Not before then (a retry's spacing, or the contact's calling hours); nil: now.
    public var nextAt: Double?
    public var lastOutcome: String?
    public var agent: String?
    /// The CSV line it came from, for an operator tracing a contact back to the file.
    public var line: Int

    public struct Field: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(
        id: Int64 = 0, campaign: String, number: String, name: String = "", timeZone: String? = nil, fields: [Field] = [], status: ContactStatus = .pending,
        attempts: Int = 0, nextAt: Double? = nil, lastOutcome: String? = nil, agent: String? = nil, line: Int = 0
    ) {
        self.id = id
        self.campaign = campaign
        self.number = number
        self.name = name
        self.timeZone = timeZone
        self.fields = fields
        self.status = status
        self.attempts = attempts
        self.nextAt = nextAt
        self.lastOutcome = lastOutcome
        self.agent = agent
        self.line = line
    }
}

public enum ContactStatus: String, Sendable, Codable, CaseIterable {
    /// To be called (now, or from `nextAt`).
    case pending
    /// Shown to an agent (preview) or being called.
    case dialling
    /// Reached: a call connected to the agent.
    case done
    /// Every try used.
    case failed
    /// On the do-not-call list: never dialled.
    case dnc
    /// The agent skipped it (preview).
    case skipped
}

/// A contact list in CSV (RFC 4180: commas, double quotes, CRLF or LF): a header row with a
/// `number` column, optional `name` and `timezone`, and any others, which become the contact's
/// fields for the screen pop. Any bad row fails the whole file, naming file:line, so a list is
/// loaded whole or not at all.
public enum ContactCSV {
    public struct LoadError: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// Rows read; a file larger than this is split by the operator (the dialer holds a
    /// running campaign's pending contacts in memory).
    public static let maxRows = 200_000

    public static func parse(_ text: String, source: String, campaign: String) throws(LoadError) -> [Contact] {
        let records: [(line: Int, fields: [String])]
        do { records = try rows(text) } catch let e as RowError { throw LoadError(description: "\(source):\(e.line): \(e.why)") } catch {
            throw LoadError(description: "\(source): \(error)")
        }
        guard let header = records.first else { throw LoadError(description: "\(source): empty file; the first row names the columns (number, name, timezone, ...)") }
        let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard let numberAt = names.firstIndex(of: "number") else {
            throw LoadError(description: "\(source):\(header.line): no 'number' column in the header (\(names.joined(separator: ",")))")
        }
        if let dup = names.enumerated().first(where: { i, n in names.firstIndex(of: n) != i }) {
            throw LoadError(description: "\(source):\(header.line): column '\(dup.element)' twice")
        }
        let nameAt = names.firstIndex(of: "name")
        let zoneAt = names.firstIndex(of: "timezone") ?? names.firstIndex(of: "time_zone")
        var seen: [String: Int] = [:]
        var out: [Contact] = []
        for r in records.dropFirst() {
            if r.fields.count == 1 && r.fields[0].trimmingCharacters(in: .whitespaces).isEmpty { continue }  // a blank line
            guard r.fields.count == names.count else {
                throw LoadError(description: "\(source):\(r.line): \(r.fields.count) fields, the header has \(names.count)")
            }
            guard out.count < maxRows else { throw LoadError(description: "\(source):\(r.line): more than \(maxRows) contacts; split the file") }
            let raw = r.fields[numberAt]
            guard let number = normalise(raw) else {
                throw LoadError(description: "\(source):\(r.line): '\(raw)' is not a phone number (digits, a leading +, spaces, dots, dashes and brackets)")
            }
            if let first = seen[number] { throw LoadError(description: "\(source):\(r.line): number \(number) is already on line \(first)") }
            seen[number] = r.line
            var zone: String?
            if let zoneAt, !r.fields[zoneAt].trimmingCharacters(in: .whitespaces).isEmpty {
                let z = r.fields[zoneAt].trimmingCharacters(in: .whitespaces)
                guard TimeZone(identifier: z) != nil else { throw LoadError(description: "\(source):\(r.line): unknown time zone '\(z)'") }
                zone = z
            }
            let fields = names.indices.filter { $0 != numberAt && $0 != nameAt && $0 != zoneAt }.map { Contact.Field(names[$0], r.fields[$0]) }
            out.append(Contact(campaign: campaign, number: number, name: nameAt.map { r.fields[$0] } ?? "", timeZone: zone, fields: fields, line: r.line))
        }
        guard !out.isEmpty else { throw LoadError(description: "\(source): no contacts after the header") }
        return out
    }

    /// Digits with at most a leading +, from what people write (`+49 (30) 123-45.67`); nil if
    /// anything else is in it, or it is too short or long to be a number.
    public static func normalise(_ text: String) -> String? {
        var out = ""
        for (i, c) in text.trimmingCharacters(in: .whitespaces).enumerated() {
            if c.isASCII && c.isNumber {
                out.append(c)
            } else if c == "+" && i == 0 {
                out.append(c)
            } else if !" .-()/".contains(c) {
                return nil
            }
        }
        let digits = out.filter(\.isNumber).count
        return (3...20).contains(digits) ? out : nil
    }

    private struct RowError: Error {
        var line: Int
        var why: String
    }

    /// Records with the line each starts on; a quoted field may span lines.
    private static func rows(_ text: String) throws -> [(line: Int, fields: [String])] {
        var out: [(Int, [String])] = []
        var fields: [String] = []
        var field = ""
        var quoted = false, wasQuoted = false
        var line = 1, start = 1
        var chars = Array(text.unicodeScalars)
        if chars.first == "\u{FEFF}" { chars.removeFirst() }  // a BOM, as spreadsheets write
        var i = 0
        func endRecord() {
            fields.append(field)
            out.append((start, fields))
            fields = []
            field = ""
            wasQuoted = false
        }
        while i < chars.count {
            let c = chars[i]
            if quoted {
                if c == "\"" {
                    if i + 1 < chars.count && chars[i + 1] == "\"" {
                        field.unicodeScalars.append("\"")
                        i += 1
                    } else {
                        quoted = false
                    }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
            } else {
                switch c {
                case "\"":
                    guard field.isEmpty && !wasQuoted else { throw RowError(line: line, why: "a quote inside an unquoted field") }
                    quoted = true
                    wasQuoted = true
                case ",":
                    fields.append(field)
                    field = ""
                    wasQuoted = false
                case "\r" where i + 1 < chars.count && chars[i + 1] == "\n":
                    break
                case "\n":
                    endRecord()
                    line += 1
                    start = line
                default:
                    guard !wasQuoted else { throw RowError(line: line, why: "text after a closing quote") }
                    field.unicodeScalars.append(c)
                }
            }
            i += 1
        }
        if quoted { throw RowError(line: start, why: "a quoted field is not closed") }
        if !field.isEmpty || !fields.isEmpty { endRecord() }
        return out
    }
}
