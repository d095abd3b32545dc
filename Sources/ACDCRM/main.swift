import ArgumentParser
import Control
import Foundation
import GRDB
import Logging

/// `acd-crm`: the reference CRM store that ships with acdd (FEATURES M3). It listens where the
/// daemon's `crm.socket` points, keeps customers, contact history and call records in its own
/// SQLite file, answers lookups by number, and imports customers from CSV.
struct ACDCRM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "acd-crm", abstract: "The reference CRM store for acdd.", subcommands: [Serve.self, Import.self, Dump.self], defaultSubcommand: Serve.self)
}

struct Options: ParsableArguments {
    @Option(help: "The store's SQLite file.") var db = "state/crm.sqlite"
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Listen for the daemon's events and lookups.")
    @OptionGroup var options: Options
    @Option(help: "The Unix socket to listen on (the daemon's crm.socket).") var socket = "state/crm.sock"

    func run() throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "acd-crm")
        try CRMServer.run(socketPath: socket, database: try CRMDatabase(path: options.db), logger: logger)
    }
}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import customers from CSV with a header: number (required), name, company, vip, agent, notes. A known number is updated.")
    @OptionGroup var options: Options
    @Argument(help: "The CSV file.") var file: String

    func run() throws {
        let text: String
        do { text = try String(contentsOfFile: file, encoding: .utf8) } catch { throw ValidationError("cannot read \(file): \(error.localizedDescription)") }
        let database = try CRMDatabase(path: options.db)
        let result = try CustomerImport.run(csv: text, into: database)
        for problem in result.problems { FileHandle.standardError.write(Data("acd-crm: \(file):\(problem)\n".utf8)) }
        print("imported \(result.imported) customers (\(result.created) new, \(result.imported - result.created) updated), \(result.problems.count) lines refused")
        if !result.problems.isEmpty { throw ExitCode(1) }
    }
}

struct Dump: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print events, call records or customers as JSON lines, oldest first.")
    @OptionGroup var options: Options
    @Argument(help: "events, records or customers.") var what: String

    func run() throws {
        let database = try CRMDatabase(path: options.db)
        let sql: String
        switch what {
        case "events": sql = "SELECT body AS line FROM event ORDER BY rowid"
        case "records": sql = "SELECT cdr AS line FROM call_record ORDER BY received_at, unique_id"
        case "customers":
            sql = "SELECT json_object('number', number, 'name', name, 'company', company, 'vip', vip, 'agent', agent, 'status', status) AS line FROM customer ORDER BY id"
        default: throw ValidationError("what must be events, records or customers")
        }
        try database.queue.read { db in
            for line in try String.fetchAll(db, sql: sql) { print(line) }
        }
    }
}

ACDCRM.main()
