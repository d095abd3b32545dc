import Foundation
import GRDB

/// Customers from CSV (RFC 4180 quoting): a header names the columns; `number` is required.
enum CustomerImport {
    struct Result {
        var imported = 0
        var created = 0
        /// `line: what was wrong`, for lines not imported.
        var problems: [String] = []
    }

    static let columns: Set<String> = ["number", "name", "company", "vip", "agent", "notes"]

    static func run(csv: String, into database: CRMDatabase) throws -> Result {
        var rows = parse(csv)
        guard !rows.isEmpty else { return Result(problems: ["1: empty file, no header"]) }
        let header = rows.removeFirst().fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard let numberAt = header.firstIndex(of: "number") else { return Result(problems: ["1: the header has no 'number' column"]) }
        if let unknown = header.first(where: { !columns.contains($0) }) { return Result(problems: ["1: unknown column '\(unknown)'"]) }
        var result = Result()
        try database.queue.write { db in
            for row in rows where !(row.fields.count == 1 && row.fields[0].isEmpty) {
                guard row.fields.count == header.count else {
                    result.problems.append("\(row.line): \(row.fields.count) fields, the header has \(header.count)")
                    continue
                }
                var v: [String: String] = [:]
                for (i, name) in header.enumerated() { v[name] = row.fields[i].trimmingCharacters(in: .whitespaces) }
                let number = row.fields[numberAt].trimmingCharacters(in: .whitespaces)
                guard !number.isEmpty, number.allSatisfy({ $0.isNumber || $0 == "+" }) else {
                    result.problems.append("\(row.line): number '\(number)' is not a phone number")
                    continue
                }
                let vipText = (v["vip"] ?? "").lowercased()
                guard ["", "0", "1", "yes", "no", "true", "false"].contains(vipText) else {
                    result.problems.append("\(row.line): vip '\(vipText)' is not yes/no")
                    continue
                }
                let vip = ["1", "yes", "true"].contains(vipText)
                let existed = try Int64.fetchOne(db, sql: "SELECT id FROM customer WHERE number = ?", arguments: [number]) != nil
                try db.execute(
                    sql: """
                        INSERT INTO customer (number, name, company, vip, agent, notes, status, created_at) VALUES (?, ?, ?, ?, ?, ?, 'customer', ?)
                        ON CONFLICT(number) DO UPDATE SET name = excluded.name, company = excluded.company, vip = excluded.vip,
                          agent = excluded.agent, notes = excluded.notes, status = 'customer'
                        """,
                    arguments: [
                        number, v["name"] ?? "", v["company"] ?? "", vip, (v["agent"] ?? "").isEmpty ? nil : v["agent"], v["notes"] ?? "",
                        Date().timeIntervalSince1970,
                    ])
                result.imported += 1
                if !existed { result.created += 1 }
            }
        }
        return result
    }

    /// Records with the line each starts on; quoted fields may hold commas, quotes ("") and newlines.
    static func parse(_ text: String) -> [(line: Int, fields: [String])] {
        var records: [(Int, [String])] = []
        var fields: [String] = []
        var field = ""
        var quoted = false
        var line = 1
        var start = 1
        var chars = Array(text.replacingOccurrences(of: "\r\n", with: "\n"))
        if chars.last != "\n" { chars.append("\n") }
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if quoted {
                if c == "\"" {
                    if i + 1 < chars.count && chars[i + 1] == "\"" {
                        field.append("\"")
                        i += 1
                    } else {
                        quoted = false
                    }
                } else {
                    if c == "\n" { line += 1 }
                    field.append(c)
                }
            } else if c == "\"" && field.isEmpty {
                quoted = true
            } else if c == "," {
                fields.append(field)
                field = ""
            } else if c == "\n" {
                fields.append(field)
                records.append((start, fields))
                fields = []
                field = ""
                line += 1
                start = line
            } else {
                field.append(c)
            }
            i += 1
        }
        return records
    }
}
