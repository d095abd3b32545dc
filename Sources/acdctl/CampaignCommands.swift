import ArgumentParser
import Foundation
import JSON

/// `acdctl campaign ...`: outbound campaigns (issue 19; docs/control-protocol.md, Campaigns).
struct CampaignCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "campaign", abstract: "Outbound campaigns: create, load a contact list, start, pause, stop, and watch.",
        subcommands: [Create.self, Load.self, Start.self, Pause.self, Stop.self, Status.self, Contacts.self, Preview.self, Accept.self, Skip.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a campaign (it starts with 'campaign start').")
        @OptionGroup var connection: Connection
        @Argument(help: "Its name: letters, digits, '-', '_', '.'.") var name: String
        @Option(help: "The skill group whose agents call.") var group: String
        @Option(help: "preview (the agent accepts or skips each contact), progressive (one call per ready agent) or predictive (dialled ahead of agents).")
        var mode: String
        @Option(help: "Calling hours in the contact's time zone.") var hours = "08:00-21:00"
        @Option(help: "Calling days, e.g. mon-fri or mon-fri,sat.") var days = "mon-sun"
        @Option(help: "Time zone of contacts whose row names none (IANA name).") var timeZone = "UTC"
        @Option(help: "Tries of a number before the contact fails.") var attempts = 3
        @Option(help: "Seconds before a retry, by outcome: busy=600 (repeatable; busy, no-answer, failed, abandoned).") var retry: [String] = []
        @Option(help: "Predictive: the abandon rate to hold under (0.001-0.03).") var abandonTarget: Double?
        @Option(help: "Predictive: seconds a number may ring (10-60).") var ringSeconds: Int?
        @Option(help: "Predictive: the prompt a customer no agent takes in 2 s hears (<prompts>/<language>/NAME.wav; default campaign-abandon).") var abandonPrompt: String?
        @Option(help: "Predictive: at most this many lines per agent (1-5).") var maxLines: Double?

        func run() throws {
            var spacing: [String: JSONValue] = [:]
            for r in retry {
                let parts = r.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, let n = Int(parts[1]) else { throw ValidationError("--retry takes OUTCOME=SECONDS, not '\(r)'") }
                spacing[String(parts[0])] = JSONValue(n)
            }
            var args: [String: JSONValue] = [
                "name": .string(name), "group": .string(group), "mode": .string(mode), "hours": .string(hours), "days": .string(days), "time_zone": .string(timeZone),
                "attempts": JSONValue(attempts),
            ]
            if !spacing.isEmpty { args["retry_seconds"] = .object(spacing) }
            if let abandonTarget { args["abandon_target"] = JSONValue(abandonTarget) }
            if let ringSeconds { args["ring_seconds"] = JSONValue(ringSeconds) }
            if let abandonPrompt { args["abandon_prompt"] = .string(abandonPrompt) }
            if let maxLines { args["max_lines_per_agent"] = JSONValue(maxLines) }
            _ = try connection.run("campaign.create", args: args)
            if !connection.json { print("campaign \(name) created (\(mode), group \(group))") }
        }
    }

    struct Load: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load a contact list (CSV with a header: number, name, timezone, and any fields for the screen pop); a bad row loads nothing.")
        @OptionGroup var connection: Connection
        @Argument(help: "The campaign.") var name: String
        @Argument(help: "The CSV file.") var file: String

        func run() throws {
            guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
            guard let csv = String(data: data, encoding: .utf8) else { throw ValidationError("\(file) is not UTF-8 text") }
            // In parts that fit a control line (64 KiB, escaped), cut at line ends.
            let upload = UUID().uuidString
            var parts: [Substring] = []
            var rest = Substring(csv)
            while rest.utf8.count > 16_384 {
                var cut = rest.utf8.index(rest.utf8.startIndex, offsetBy: 16_384)
                if let nl = rest[..<cut].lastIndex(of: "\n") { cut = rest.index(after: nl) }
                parts.append(rest[..<cut])
                rest = rest[cut...]
            }
            parts.append(rest)
            var result: JSONValue = .null
            for (i, part) in parts.enumerated() {
                let last = i == parts.count - 1
                result = try connection.run(
                    "campaign.load",
                    args: ["name": .string(name), "csv": .string(String(part)), "source": .string(file), "upload": .string(upload), "more": .bool(!last)],
                    timeout: last ? 120 : 10, echo: last)
            }
            if !connection.json { print("campaign \(name): \(text(result["loaded"])) contacts loaded, \(text(result["dnc"])) on the do-not-call list") }
        }
    }

    struct Start: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start or resume dialling.")
        @OptionGroup var connection: Connection
        @Argument(help: "The campaign.") var name: String
        func run() throws {
            let r = try connection.run("campaign.start", args: ["name": .string(name)])
            if !connection.json { print("campaign \(name) \(text(r["status"]))") }
        }
    }

    struct Pause: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop new calls; calls under way finish, previews go back to the list.")
        @OptionGroup var connection: Connection
        @Argument(help: "The campaign.") var name: String
        func run() throws {
            let r = try connection.run("campaign.pause", args: ["name": .string(name)])
            if !connection.json { print("campaign \(name) \(text(r["status"]))") }
        }
    }

    struct Stop: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop the campaign (it can be started again).")
        @OptionGroup var connection: Connection
        @Argument(help: "The campaign.") var name: String
        func run() throws {
            let r = try connection.run("campaign.stop", args: ["name": .string(name)])
            if !connection.json { print("campaign \(name) \(text(r["status"]))") }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Campaigns and their figures.")
        @OptionGroup var connection: Connection
        @Argument(help: "One campaign (all if left out).") var name: String?
        func run() throws {
            let r = try connection.run("campaign.status", args: name.map { ["name": .string($0)] } ?? [:])
            guard !connection.json else { return }
            let list = r.arrayValue ?? [r]
            table(
                ["NAME", "GROUP", "MODE", "STATUS", "PENDING", "DONE", "FAILED", "DNC", "DIALLED", "CONNECTED", "BUSY", "NO ANSWER"],
                list.map { c in
                    let contacts = c["contacts"], attempts = c["attempts"]
                    func n(_ v: JSONValue?) -> String { text(v ?? 0) }
                    return [
                        text(c["name"]), text(c["group"]), text(c["mode"]), text(c["status"]), n(contacts?["pending"]), n(contacts?["done"]), n(contacts?["failed"]),
                        n(contacts?["dnc"]), text(c["dialled"]), text(c["connected"]), n(attempts?["busy"]), n(attempts?["no-answer"]),
                    ]
                })
        }
    }

    struct Contacts: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A campaign's contacts, in load order.")
        @OptionGroup var connection: Connection
        @Argument(help: "The campaign.") var name: String
        @Option(help: "Only this status: pending, dialling, done, failed, dnc, skipped.") var status: String?
        func run() throws {
            var args: [String: JSONValue] = ["name": .string(name)]
            if let status { args["status"] = .string(status) }
            let r = try connection.run("campaign.contacts", args: args)
            guard !connection.json else { return }
            table(
                ["ID", "LINE", "NUMBER", "NAME", "STATUS", "TRIES", "LAST", "AGENT"],
                (r.arrayValue ?? []).map { c in
                    [text(c["id"]), text(c["line"]), text(c["number"]), text(c["name"]), text(c["status"]), text(c["attempts"]), text(c["last_outcome"]), text(c["agent"])]
                })
        }
    }

    struct Preview: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The contact shown to an agent of a preview campaign.")
        @OptionGroup var connection: Connection
        @Argument(help: "The agent.") var agent: String
        func run() throws {
            let r = try connection.run("campaign.preview", args: ["agent": .string(agent)])
            if !connection.json {
                print(r == .null ? "agent \(agent) has no preview" : "agent \(agent): \(text(r["contact"]?["name"])) \(text(r["contact"]?["number"])) (campaign \(text(r["campaign"])))")
            }
        }
    }

    struct Accept: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The agent calls their previewed contact: their phone rings, then the number.")
        @OptionGroup var connection: Connection
        @Argument(help: "The agent.") var agent: String
        func run() throws {
            let r = try connection.run("campaign.accept", args: ["agent": .string(agent)])
            if !connection.json { print("call \(text(r["call"])) ringing agent \(agent)") }
        }
    }

    struct Skip: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The agent skips their previewed contact; it is not called in this campaign.")
        @OptionGroup var connection: Connection
        @Argument(help: "The agent.") var agent: String
        func run() throws {
            let r = try connection.run("campaign.skip", args: ["agent": .string(agent)])
            if !connection.json { print("contact \(text(r["id"])) (\(text(r["number"]))) skipped") }
        }
    }
}

/// `acdctl dnc ...`: the do-not-call list every campaign obeys.
struct DoNotCall: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dnc", abstract: "The do-not-call list: numbers no campaign dials.", subcommands: [Add.self, Remove.self, List.self], defaultSubcommand: List.self)

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add numbers; contacts not yet reached with them are never called.")
        @OptionGroup var connection: Connection
        @Argument(help: "The numbers.") var numbers: [String]
        @Option(help: "Why (kept with the number).") var note = ""
        func run() throws {
            let r = try connection.run("dnc.add", args: ["numbers": .array(numbers.map { .string($0) }), "note": .string(note)])
            if !connection.json { print("\(text(r["added"])) numbers added; \(text(r["contacts_blocked"])) contacts will not be called") }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Take a number off the list (contacts already blocked stay so).")
        @OptionGroup var connection: Connection
        @Argument(help: "The number.") var number: String
        func run() throws {
            let r = try connection.run("dnc.remove", args: ["number": .string(number)])
            if !connection.json { print("\(text(r["removed"])) removed") }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The list.")
        @OptionGroup var connection: Connection
        func run() throws {
            let r = try connection.run("dnc.list")
            guard !connection.json else { return }
            table(["NUMBER", "ADDED", "NOTE"], (r.arrayValue ?? []).map { d in
                [text(d["number"]), d["added_at"]?.doubleValue.map { Date(timeIntervalSince1970: $0).formatted(.iso8601) } ?? "-", text(d["note"])]
            })
        }
    }
}
