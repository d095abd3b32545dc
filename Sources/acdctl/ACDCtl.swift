import ArgumentParser
import Control
import Foundation
import JSON

/// Entry point. `--socket` and `--json` may stand before the subcommand (`acdctl --socket P status
/// --json`); ArgumentParser reads them only after it, so they are moved there first.
@main
enum Main {
    static func main() {
        ACDCtl.main(hoistingSharedOptions(Array(CommandLine.arguments.dropFirst())))
    }

    static func hoistingSharedOptions(_ args: [String]) -> [String] {
        var shared: [String] = []
        var rest: [String] = []
        var i = 0
        while i < args.count {
            let a = args[i]
            if a == "--socket", i + 1 < args.count {
                shared += [a, args[i + 1]]
                i += 2
                continue
            }
            if a.hasPrefix("--socket=") || a == "--json" { shared.append(a) } else { rest.append(a) }
            i += 1
        }
        return rest + shared
    }
}

/// `acdctl`: the operator's client of the daemon's control socket (docs/control-protocol.md).
struct ACDCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "acdctl",
        abstract: "Control a running acdd over its control socket.",
        subcommands: [
            Status.self, Agents.self, Queues.self, AgentCommand.self, Events.self, Calls.self, Registrations.self, Reload.self, Hangup.self, Release.self, Dial.self, Survey.self, Monitor.self, MonitorModeCommand.self, MonitorStop.self, Dtmf.self, Consult.self, Conference.self, Transfer.self, Return.self, Voicemail.self, Callbacks.self, CallbackCommand.self, CampaignCommand.self, DoNotCall.self,
            RecordingCommand.self, CDR.self, ReportCommand.self, PromptCommand.self, Raw.self,
        ],
        defaultSubcommand: Status.self)
}

/// Options every subcommand shares.
struct Connection: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Control socket (default: $ACDCTL_SOCKET, else state/acdd.sock).", valueName: "path"))
    var socket: String?

    @Flag(name: .long, help: "Print the daemon's JSON result instead of a table.")
    var json = false

    var path: String { socket ?? ProcessInfo.processInfo.environment["ACDCTL_SOCKET"] ?? "state/acdd.sock" }

    /// Runs one command; prints the result, or the error and exits non-zero.
    /// `timeout`: seconds to wait for the answer (0: for ever, for commands that last, such as
    /// playing a recording).
    /// `echo` false: a part of a larger request, whose result `--json` does not print.
    func run(_ command: String, args: [String: JSONValue]? = nil, timeout: Int = 10, echo: Bool = true) throws -> JSONValue {
        let response: ControlResponse
        do {
            response = try ControlClient(path: path, timeoutSeconds: timeout).call(command, args: args)
        } catch {
            FileHandle.standardError.write(Data("acdctl: \(error)\n".utf8))
            throw ExitCode(2)
        }
        guard response.ok, let result = response.result else {
            let e = response.error ?? ControlError(.failed, "no result")
            if json {
                print(String(decoding: ControlCodec.encodeLine(response).dropLast(), as: UTF8.self))
            } else {
                FileHandle.standardError.write(Data("acdctl: \(e.code.rawValue): \(e.message)\n".utf8))
            }
            throw ExitCode(1)
        }
        if json && echo { print(String(decoding: ControlCodec.encodeLine(result).dropLast(), as: UTF8.self)) }
        return result
    }
}

/// Prints rows as aligned columns.
func table(_ header: [String], _ rows: [[String]]) {
    var widths = header.map(\.count)
    for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, c in i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  ")
    }
    print(line(header))
    for r in rows { print(line(r)) }
}

func text(_ v: JSONValue?) -> String {
    switch v {
    case .none, .null?: "-"
    case .string(let s)?: s
    case .array(let a)?: a.map { text($0) }.joined(separator: ",")
    case .some(let x): x.stringValue ?? "\(x)"
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Daemon state, SIP counters, calls and registrations.")
    @OptionGroup var connection: Connection

    func run() throws {
        let r = try connection.run("status")
        guard !connection.json else { return }
        print("acdd \(text(r["version"])) (pid \(text(r["pid"])), \(text(r["state"])), up \(text(r["uptime_seconds"])) s)")
        print("config          \(text(r["config"]))")
        let sip = r["sip"]
        print("sip             \(text(sip?["listen"])) udp\(sip?["tcp"] == .bool(true) ? "+tcp" : ""), \(text(sip?["tcp_connections"])) tcp connections")
        print("messages        \(text(sip?["messages_received"])) received, \(text(sip?["parse_errors"])) malformed, \(text(sip?["filtered"])) filtered")
        print("blocked sources \(text(sip?["blocked_sources"]))")
        let calls = r["calls"]
        print("calls           \(text(calls?["active"])) active, \(text(calls?["answered"])) answered, \(text(calls?["refused"])) refused")
        print("rtp ports       \(text(calls?["rtp_ports_in_use"])) of \(text(calls?["rtp_port_pairs"])) pairs in use")
        print("registrations   \(text(r["registrations"]))")
        let acd = r["acd"]
        print("acd             \(text(acd?["agents_logged_in"])) agents logged in, \(text(acd?["agents_ready"])) ready, \(text(acd?["callers_waiting"])) callers waiting")
    }
}

struct Calls: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Calls in progress.")
    @OptionGroup var connection: Connection

    func run() throws {
        let r = try connection.run("calls")
        guard !connection.json else { return }
        // LOST and JITTER: how we receive the caller; RTT from the caller's RTCP reports.
        func ms(_ v: JSONValue?) -> String { v?.doubleValue.map { "\($0)ms" } ?? "-" }
        table(
            ["ID", "CALLER", "CALLED", "ORIGIN", "STATE", "CODEC", "RTP", "KEYS", "WITH", "LOST", "JITTER", "RTT"],
            (r.arrayValue ?? []).map { c in
                let m = c["media"]
                return [
                    text(c["id"]), text(c["caller"]), text(c["called"]), text(c["origin"]), text(c["state"]), text(c["codec"]), text(c["local_rtp_port"]),
                    text(c["digits"]).isEmpty ? "-" : text(c["digits"]), text(c["bridged_with"]), text(m?["lost"]), ms(m?["jitter_ms"]), ms(m?["rtt_ms"]),
                ]
            })
    }
}

struct Registrations: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Phones registered to the daemon.")
    @OptionGroup var connection: Connection

    func run() throws {
        let r = try connection.run("registrations")
        guard !connection.json else { return }
        table(
            ["USER", "CONTACT", "EXPIRES", "SOURCE", "USER-AGENT"],
            (r.arrayValue ?? []).map { b in [text(b["aor"]), text(b["contact"]), text(b["expires_in"]) + "s", text(b["source"]), text(b["user_agent"])] })
    }
}

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Re-read the configuration file; a broken file is refused and the running one stays.")
    @OptionGroup var connection: Connection

    func run() throws {
        let r = try connection.run("reload")
        guard !connection.json else { return }
        print("reloaded \(text(r["config"]))")
        for note in r["notes"]?.arrayValue ?? [] { print("note: \(text(note))") }
    }
}

struct Hangup: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "End a call (id from 'acdctl calls').")
    @OptionGroup var connection: Connection
    @Argument(help: "Call id.") var call: Int

    func run() throws {
        _ = try connection.run("hangup", args: ["call": JSONValue(call)])
        if !connection.json { print("call \(call) hung up") }
    }
}

struct Dial: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Click-to-dial: ring an agent's phone, and when the agent answers call NUMBER through the trunk the outbound routes pick.",
        discussion: "The agent hears ringback, then the number; busy, no answer and failure are told to the agent by a prompt. The call is recorded and gets a record with direction outbound.")
    @OptionGroup var connection: Connection
    @Argument(help: "Agent id (logged in; ready, paused or in wrap-up).") var agent: String
    @Argument(help: "The number to call (digits, +, * and #).") var number: String
    @Option(help: "The account the call is billed to (its record's account, cdr_csv's accountcode).") var account: String?

    func run() throws {
        var args: [String: JSONValue] = ["agent": .string(agent), "number": .string(number)]
        if let account { args["account"] = .string(account) }
        let r = try connection.run("dial", args: args)
        if !connection.json { print("call \(text(r["call"])) (\(text(r["unique_id"]))): ringing agent \(agent), then \(number)") }
    }
}

struct Release: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Force-release a call (a supervisor's release): BYE to every leg; the record says you released it.")
    @OptionGroup var connection: Connection
    @Argument(help: "Call id (from 'acdctl calls').") var call: Int

    func run() throws {
        let r = try connection.run("release", args: ["call": JSONValue(call)])
        if !connection.json { print("call \(call) released by \(text(r["by"]))") }
    }
}

struct Monitor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ring a supervisor's phone and join it to an agent's call: listen, whisper (to the agent), whisper-caller or barge.",
        discussion: "On the supervisor's phone, keys switch the mode: 0 listen, 1 whisper to the caller, 2 whisper to the agent, 3 barge.")
    @OptionGroup var connection: Connection
    @Argument(help: "Call id (from 'acdctl calls').") var call: Int
    @Option(help: "The supervisor's phone: sip:USER (registered), sip:USER@ADDRESS:PORT, a number through the trunk, or alsa:NAME (the host's sound card).") var device: String
    @Option(help: "listen, whisper, whisper-caller or barge.") var mode = "listen"

    func run() throws {
        let r = try connection.run("monitor", args: ["call": JSONValue(call), "device": .string(device), "mode": .string(mode)])
        if !connection.json { print("call \(call): ringing \(device) to \(mode) on agent \(text(r["agent"]))") }
    }
}

struct MonitorStop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "monitor-stop", abstract: "End the supervisor's session on a call (their phone gets a BYE, a sound card is put down).")
    @OptionGroup var connection: Connection
    @Argument(help: "Call id (from 'acdctl calls').") var call: Int

    func run() throws {
        let r = try connection.run("monitor.stop", args: ["call": JSONValue(call)])
        if !connection.json { print("call \(call): \(text(r["device"])) no longer monitors") }
    }
}

struct MonitorModeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "monitor-mode", abstract: "Change how the supervisor on a call takes part.")
    @OptionGroup var connection: Connection
    @Argument(help: "Call id (from 'acdctl calls').") var call: Int
    @Argument(help: "listen, whisper, whisper-caller or barge.") var mode: String

    func run() throws {
        _ = try connection.run("monitor.mode", args: ["call": JSONValue(call), "mode": .string(mode)])
        if !connection.json { print("call \(call): supervisor now \(mode)") }
    }
}

struct Survey: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "End the agent's conversation and let the caller score it (1-5) before the call ends.")
    @OptionGroup var connection: Connection
    @Argument(help: "Call id (from 'acdctl calls').") var call: Int

    func run() throws {
        let r = try connection.run("survey", args: ["call": JSONValue(call)])
        if !connection.json { print("call \(call): agent \(text(r["agent"])) freed; the caller takes the survey") }
    }
}

struct Dtmf: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send keys to a caller who talks to someone (to steer a far IVR): RFC 4733 events, or tones when the caller's leg has none.")
    @OptionGroup var connection: Connection
    @Argument(help: "Call id (from 'acdctl calls').") var call: Int
    @Argument(help: "Keys: 0-9, *, #, A-D (up to 32).") var digits: String

    func run() throws {
        let r = try connection.run("dtmf", args: ["call": JSONValue(call), "digits": .string(digits)])
        if !connection.json { print("sent \(digits) to call \(call) as \(text(r["method"]))") }
    }
}

struct Transfer: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send a caller who talks to an agent elsewhere (blind transfer: a group, one agent, or a number), or hand them to the party consulted (--complete).")
    @OptionGroup var connection: Connection
    @Argument(help: "Call id (from 'acdctl calls').") var call: Int
    @Option(help: "A skill group: the caller waits there.") var group: String?
    @Option(help: "An agent: the caller waits for that agent.") var agent: String?
    @Option(help: "An external number, called through the trunk.") var number: String?
    @Flag(help: "Hand the caller to the party consulted with 'acdctl consult' (attended transfer).") var complete = false

    func validate() throws {
        let targets = [group, agent, number].compactMap({ $0 }).count
        guard complete ? targets == 0 : targets == 1 else { throw ValidationError("give one of --group, --agent or --number, or --complete alone") }
    }

    func run() throws {
        var args: [String: JSONValue] = ["call": JSONValue(call)]
        if complete { args["complete"] = true }
        if let group { args["group"] = .string(group) }
        if let agent { args["agent"] = .string(agent) }
        if let number { args["number"] = .string(number) }
        let r = try connection.run("transfer", args: args)
        if !connection.json { print("call \(call) transferred to \(text(r["to"]))") }
    }
}

struct Consult: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put the caller on hold and call another agent (who must be ready), a group, or a number; then 'transfer --complete' or 'return'.")
    @OptionGroup var connection: Connection
    @Argument(help: "Call id (from 'acdctl calls').") var call: Int
    @Option(help: "A skill group: the ACD picks an agent, ahead of the group's callers.") var group: String?
    @Option(help: "One agent, who must be ready.") var agent: String?
    @Option(help: "An external number, called through the trunk.") var number: String?

    func validate() throws {
        guard [group, agent, number].compactMap({ $0 }).count == 1 else { throw ValidationError("give one of --group, --agent or --number") }
    }

    func run() throws {
        var args: [String: JSONValue] = ["call": JSONValue(call)]
        if let group { args["group"] = .string(group) }
        if let agent { args["agent"] = .string(agent) }
        if let number { args["number"] = .string(number) }
        let r = try connection.run("consult", args: args)
        if !connection.json { print("call \(call): consulting \(text(r["consulting"])); the caller holds") }
    }
}

struct Conference: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Join the caller, the agent and the party consulted in one conversation.")
    @OptionGroup var connection: Connection
    @Argument(help: "Call id (from 'acdctl calls').") var call: Int

    func run() throws {
        let r = try connection.run("conference", args: ["call": JSONValue(call)])
        if !connection.json { print("call \(call): conference with \(text(r["conference"]))") }
    }
}

struct Return: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Drop the party consulted and take the caller back.")
    @OptionGroup var connection: Connection
    @Argument(help: "Call id (from 'acdctl calls').") var call: Int

    func run() throws {
        _ = try connection.run("return", args: ["call": JSONValue(call)])
        if !connection.json { print("call \(call): back with the caller") }
    }
}

struct Voicemail: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Voicemails: the groups' callbacks to work.", subcommands: [List.self], defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Messages left by callers, newest first.")
        @OptionGroup var connection: Connection
        @Option(help: "Only messages with this status (new, done).") var status: String?

        func run() throws {
            let r = try connection.run("voicemail.list", args: status.map { ["status": .string($0)] } ?? [:])
            guard !connection.json else { return }
            table(
                ["ID", "WHEN", "CALLER", "BOX", "QUEUE", "SECONDS", "STATUS", "FILE"],
                (r.arrayValue ?? []).map { v in
                    let when = v["created_at"]?.doubleValue.map { Date(timeIntervalSince1970: $0).formatted(.iso8601) } ?? "-"
                    let seconds = v["seconds"]?.doubleValue.map { String(format: "%.1f", $0) } ?? "-"
                    return [text(v["id"]), when, text(v["caller"]), text(v["box"]), text(v["queue"]), seconds, text(v["status"]), text(v["path"])]
                })
        }
    }
}

struct Callbacks: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The groups' callbacks: asked for by waiting callers, missed calls and voicemails, oldest first.")
    @OptionGroup var connection: Connection
    @Option(help: "Only callbacks with this status (waiting, open, done, failed, cancelled).") var status: String?
    @Option(help: "Only callbacks assigned to this agent.") var assigned: String?

    func run() throws {
        var args: [String: JSONValue] = [:]
        if let status { args["status"] = .string(status) }
        if let assigned { args["assigned"] = .string(assigned) }
        let r = try connection.run("callback.list", args: args)
        guard !connection.json else { return }
        table(
            ["ID", "WHEN", "QUEUE", "NUMBER", "SOURCE", "STATUS", "TRIES", "LAST", "AGENT", "ASSIGNED"],
            (r.arrayValue ?? []).map { c in
                let when = c["created_at"]?.doubleValue.map { Date(timeIntervalSince1970: $0).formatted(.iso8601) } ?? "-"
                return [
                    text(c["id"]), when, text(c["queue"]), text(c["number"]), text(c["source"]), text(c["status"]), text(c["attempts"]), text(c["last_outcome"]),
                    text(c["agent"]), text(c["assigned"]),
                ]
            })
    }
}

struct CallbackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "callback", abstract: "Work a callback.", subcommands: [Dial.self, Assign.self, Done.self, Cancel.self])

    struct Assign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give a callback to one agent of its group: it keeps its place (an open one joins the queue) and only that agent is offered it.")
        @OptionGroup var connection: Connection
        @Argument(help: "Callback id (from 'acdctl callbacks').") var id: String
        @Argument(help: "The agent; leave out with --group to give it back to the whole group.") var agent: String?
        @Flag(help: "Give it back to its whole group.") var group = false

        func validate() throws {
            guard (agent == nil) == group else { throw ValidationError("give an agent, or --group to give the callback back to its group") }
        }

        func run() throws {
            let r = try connection.run("callback.assign", args: ["id": .string(id), "agent": agent.map { .string($0) } ?? .null])
            if !connection.json { print(agent.map { "callback \(id) to \(text(r["number"])) assigned to agent \($0)" } ?? "callback \(id) given back to \(text(r["queue"]))") }
        }
    }

    struct Dial: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Call a callback's number now: the agent's phone rings, then the number (as 'acdctl dial'); it leaves its queue.")
        @OptionGroup var connection: Connection
        @Argument(help: "Callback id (from 'acdctl callbacks').") var id: String
        @Argument(help: "The agent who calls (logged in; ready, paused or in wrap-up).") var agent: String

        func run() throws {
            let r = try connection.run("callback.dial", args: ["id": .string(id), "agent": .string(agent)])
            if !connection.json { print("callback \(id): call \(text(r["call"])) ringing agent \(agent)") }
        }
    }

    struct Done: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Mark a callback done (handled some other way): it leaves its queue.")
        @OptionGroup var connection: Connection
        @Argument(help: "Callback id (from 'acdctl callbacks').") var id: String

        func run() throws {
            _ = try connection.run("callback.done", args: ["id": .string(id)])
            if !connection.json { print("callback \(id) done") }
        }
    }

    struct Cancel: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Withdraw a waiting callback: it leaves its queue, and the worklist says who cancelled it.")
        @OptionGroup var connection: Connection
        @Argument(help: "Callback id (from 'acdctl callbacks').") var id: String

        func run() throws {
            let r = try connection.run("callback.cancel", args: ["id": .string(id)])
            if !connection.json { print("callback \(id) to \(text(r["number"])) cancelled") }
        }
    }
}

struct RecordingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recording", abstract: "Pause or resume a call's recording (the file gets silence meanwhile).",
        subcommands: [Pause.self, Resume.self, Info.self, Play.self])

    struct Play: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Play a call's recording on the host's sound card (ALSA); returns when it has played.")
        @OptionGroup var connection: Connection
        @Argument(help: "The call's unique id (from 'acdctl cdr').") var uniqueID: String
        @Option(help: "ALSA device.") var device = "default"
        func run() throws {
            let r = try connection.run("recording.play", args: ["unique_id": .string(uniqueID), "device": .string(device)], timeout: 0)
            if !connection.json { print("played \(text(r["seconds"])) s of \(text(r["path"])) on \(device)") }
        }
    }

    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A call's recording from the index: file, length, SHA-256, status.")
        @OptionGroup var connection: Connection
        @Argument(help: "The call's unique id (from 'acdctl cdr').") var uniqueID: String
        func run() throws {
            let r = try connection.run("recording.info", args: ["unique_id": .string(uniqueID)])
            guard !connection.json else { return }
            for key in ["path", "status", "seconds", "channels", "bytes", "sha256", "paused_seconds", "dropped_frames", "failure"] {
                print("\(key.padding(toLength: 15, withPad: " ", startingAt: 0)) \(text(r[key]))")
            }
        }
    }

    struct Pause: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop recording a call's audio, e.g. while a card number is read out.")
        @OptionGroup var connection: Connection
        @Argument(help: "Call id (from 'acdctl calls').") var call: Int
        func run() throws {
            _ = try connection.run("recording.pause", args: ["call": JSONValue(call)])
            if !connection.json { print("call \(call): recording paused") }
        }
    }

    struct Resume: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record a paused call's audio again.")
        @OptionGroup var connection: Connection
        @Argument(help: "Call id (from 'acdctl calls').") var call: Int
        func run() throws {
            _ = try connection.run("recording.resume", args: ["call": JSONValue(call)])
            if !connection.json { print("call \(call): recording resumed") }
        }
    }
}

struct CDR: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cdr", abstract: "Call-detail records: one per call, written when it ends.", subcommands: [List.self], defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Calls that started in a date range (UTC), oldest first.")
        @OptionGroup var connection: Connection
        @Option(help: "First day (YYYY-MM-DD, UTC) or a Unix time.") var from: String?
        @Option(help: "Last day, included (YYYY-MM-DD, UTC), or a Unix time (excluded).") var to: String?
        @Option(help: "At most this many records.") var limit = 10_000
        @Flag(help: "CSV: Asterisk's cdr_csv columns, then acdd's.") var csv = false

        func run() throws {
            var args: [String: JSONValue] = ["limit": JSONValue(limit)]
            if let from { args["from"] = JSONValue(try Self.time(from, endOfDay: false)) }
            if let to { args["to"] = JSONValue(try Self.time(to, endOfDay: true)) }
            if csv { args["format"] = "csv" }
            let r = try connection.run("cdr.list", args: args)
            guard !connection.json else { return }
            if csv { return print(text(r["csv"]), terminator: "") }
            table(
                ["UNIQUE ID", "START (UTC)", "CALLER", "CALLED", "OUTCOME", "QUEUE", "AGENT", "WAIT", "TALK", "BILLABLE", "CAUSE", "RECORDING"],
                (r.arrayValue ?? []).map { c in
                    let start = c["start"]?.doubleValue.map { Date(timeIntervalSince1970: $0).formatted(.iso8601) } ?? "-"
                    return [
                        text(c["unique_id"]), start, text(c["caller"]), text(c["called"]), text(c["outcome"]), text(c["queue"]), text(c["agent"]),
                        text(c["wait_seconds"]), text(c["talk_seconds"]), text(c["billable"]), text(c["hangup_cause"]), text(c["recording_status"]),
                    ]
                })
        }

        /// `YYYY-MM-DD` (UTC midnight, or the next midnight for an inclusive end) or Unix seconds.
        static func time(_ s: String, endOfDay: Bool) throws -> Double {
            if let unix = Double(s) { return unix }
            let parts = s.split(separator: "-").compactMap { Int($0) }
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "UTC")!
            guard parts.count == 3, let day = calendar.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2])),
                calendar.component(.day, from: day) == parts[2]
            else { throw ValidationError("'\(s)' is not a date YYYY-MM-DD or a Unix time") }
            return day.timeIntervalSince1970 + (endOfDay ? 86_400 : 0)
        }
    }
}

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Billing, call-centre and campaign reports as CSV, JSON or a printable HTML page.",
        subcommands: [Billing.self, Calls.self, Campaigns.self])

    /// Options both reports take.
    struct Range: ParsableArguments {
        @Option(help: "First day (YYYY-MM-DD, UTC) or a Unix time.") var from: String?
        @Option(help: "Last day, included (YYYY-MM-DD, UTC), or a Unix time (excluded).") var to: String?
        @Option(help: "csv, json or html.") var format = "csv"
        @Option(help: "Write the report here instead of to standard output.") var output: String?

        func args() throws -> [String: JSONValue] {
            var args: [String: JSONValue] = ["format": .string(format)]
            if let from { args["from"] = JSONValue(try CDR.List.time(from, endOfDay: false)) }
            if let to { args["to"] = JSONValue(try CDR.List.time(to, endOfDay: true)) }
            return args
        }

        func emit(_ r: JSONValue) throws {
            let text = r["text"]?.stringValue ?? ""
            guard let output else { return print(text, terminator: "") }
            do {
                try text.write(toFile: output, atomically: true, encoding: .utf8)
            } catch {
                throw ValidationError("cannot write \(output): \(error.localizedDescription)")
            }
        }
    }

    struct Billing: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Calls rated by the tariff table (billing.tariffs), summed per trunk, called number, agent and day.")
        @OptionGroup var connection: Connection
        @OptionGroup var range: Range
        @Option(help: "CSV only: one line per trunk, did, agent or day instead of per call.") var by: String?

        func run() throws {
            var args = try range.args()
            if let by { args["by"] = .string(by) }
            let r = try connection.run("report.billing", args: args)
            if !connection.json { try range.emit(r) }
        }
    }

    struct Calls: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per group and interval: offered, answered, abandoned, service level, ASA, AHT, occupancy (from the queue log).")
        @OptionGroup var connection: Connection
        @OptionGroup var range: Range
        @Option(help: "Interval in minutes: 15, 30 or 60.") var interval = 15

        func run() throws {
            var args = try range.args()
            args["interval"] = JSONValue(interval)
            let r = try connection.run("report.calls", args: args)
            if !connection.json { try range.emit(r) }
        }
    }

    struct Campaigns: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per campaign and interval: tries by outcome, answered, abandoned and the abandon rate, contact rate, talk time.")
        @OptionGroup var connection: Connection
        @OptionGroup var range: Range
        @Option(help: "Interval in minutes: 15, 30 or 60.") var interval = 60
        @Option(help: "One campaign only.") var campaign: String?

        func run() throws {
            var args = try range.args()
            args["interval"] = JSONValue(interval)
            if let campaign { args["campaign"] = .string(campaign) }
            let r = try connection.run("report.campaigns", args: args)
            if !connection.json { try range.emit(r) }
        }
    }
}

struct PromptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "prompt", abstract: "IVR prompts.", subcommands: [Record.self])

    struct Record: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record a prompt from the host's sound card (ALSA) as <paths.prompts>/<language>/NAME.wav; 'acdctl reload' puts it in use.")
        @OptionGroup var connection: Connection
        @Argument(help: "Prompt name: letters, digits, - and _.") var name: String
        @Option(help: "ALSA device.") var device = "default"
        @Option(help: "Seconds to record (0.5-120).") var seconds = 5.0
        @Option(help: "Language folder (default: prompts.language).") var language: String?
        @Flag(help: "Replace a prompt of that name.") var replace = false

        func run() throws {
            var args: [String: JSONValue] = ["name": .string(name), "device": .string(device), "seconds": JSONValue(seconds), "replace": .bool(replace)]
            if let language { args["language"] = .string(language) }
            let r = try connection.run("prompt.record", args: args, timeout: Int(seconds) + 30)
            guard !connection.json else { return }
            print("recorded \(text(r["path"])) (\(text(r["seconds"])) s)")
            if r["silent"] == .bool(true) { print("warning: the input was silent") }
            print("run 'acdctl reload' to put it in use")
        }
    }
}

struct Raw: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Send any command with JSON args and print the JSON result.")
    @OptionGroup var connection: Connection
    @Argument(help: "Command name.") var command: String
    @Argument(help: "Arguments as a JSON object.") var args: String?

    func run() throws {
        var parsed: [String: JSONValue]?
        if let args {
            guard let data = args.data(using: .utf8), let v = try? JSONDecoder().decode([String: JSONValue].self, from: data) else {
                throw ValidationError("args must be a JSON object")
            }
            parsed = v
        }
        let r = try connection.run(command, args: parsed)
        if !connection.json { print(String(decoding: ControlCodec.encodeLine(r).dropLast(), as: UTF8.self)) }
    }
}

struct Agents: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Every agent: state, time in it, current call, skills, calls.")
    @OptionGroup var connection: Connection

    func run() throws {
        let r = try connection.run("agents")
        guard !connection.json else { return }
        table(
            ["AGENT", "NAME", "STATE", "REASON", "FOR", "CALL", "SKILLS", "ANSWERED", "MISSED", "TALK"],
            (r.arrayValue ?? []).map { a in
                let skills = (a["skills"].flatMap { v -> [String: JSONValue]? in if case .object(let o) = v { o } else { nil } } ?? [:])
                    .sorted { $0.key < $1.key }.map { "\($0.key):\(text($0.value))" }.joined(separator: ",")
                return [
                    text(a["id"]), text(a["name"]), text(a["state"]), text(a["reason"]), duration(a["seconds_in_state"]), text(a["call"]), skills,
                    text(a["answered"]), text(a["missed"]), duration(a["talk_seconds"]),
                ]
            })
    }
}

struct Queues: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Every skill group: waiting callers, longest wait, agents, service level.")
    @OptionGroup var connection: Connection
    @Flag(name: .long, help: "Also list the waiting callers.") var callers = false

    func run() throws {
        let r = try connection.run("queues")
        guard !connection.json else { return }
        let groups = r.arrayValue ?? []
        table(
            ["QUEUE", "STRATEGY", "WAITING", "LONGEST", "READY", "LOGGED-IN", "ENTERED", "ANSWERED", "ABANDONED", "SL", "ASA", "EWT"],
            groups.map { g in
                let sl = g["service_level"]?.doubleValue.map { "\(Int(($0 * 100).rounded()))%/\(text(g["service_level_seconds"]))s" } ?? "-"
                let asa = g["average_speed_of_answer_seconds"]?.doubleValue.map { "\(Int($0.rounded()))s" } ?? "-"
                return [
                    text(g["name"]), text(g["strategy"]), text(g["waiting"]), duration(g["longest_wait_seconds"]), text(g["agents_ready"]),
                    text(g["agents_logged_in"]), text(g["entered"]), text(g["answered"]), text(g["abandoned"]), sl, asa,
                    g["estimated_wait_seconds"].flatMap { $0 == .null ? nil : duration($0) } ?? "-",
                ]
            })
        guard callers else { return }
        let rows = groups.flatMap { g in
            (g["callers"]?.arrayValue ?? []).map { c in
                [text(g["name"]), text(c["position"]), text(c["call"]), text(c["caller_id"]), text(c["priority"]), duration(c["waited_seconds"]), text(c["offered_to"])]
            }
        }
        print("")
        table(["QUEUE", "POS", "CALL", "CALLER", "PRIO", "WAITED", "RINGING"], rows)
    }
}

/// `1:05`, `2:03:00`: how people read durations.
func duration(_ v: JSONValue?) -> String {
    guard let s = v?.doubleValue.map({ Int($0) }) else { return "-" }
    return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
}

struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent", abstract: "Log an agent in or out, make it ready, pause it, change its skills, reset it.",
        subcommands: [Login.self, Logout.self, Ready.self, Pause.self, Skills.self, Reset.self, Answer.self, Hangup.self])

    static func report(_ connection: Connection, _ command: String, _ args: [String: JSONValue]) throws {
        let r = try connection.run(command, args: args)
        guard !connection.json else { return }
        let reason = r["reason"].flatMap { $0 == .null ? nil : " (\(text($0)))" } ?? ""
        print("agent \(text(r["id"])) is \(text(r["state"]))\(reason)")
    }

    struct Login: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Log an agent in (ready, or not ready with --paused).")
        @OptionGroup var connection: Connection
        @Argument(help: "Agent id.") var agent: String
        @Option(help: "Where the agent takes calls: a SIP URI or number (default: the agent's registered phone).") var device: String?
        @Option(help: "Log in not ready, with this reason.") var paused: String?

        func run() throws {
            var args: [String: JSONValue] = ["agent": .string(agent)]
            if let device { args["device"] = .string(device) }
            if let paused { args["paused_reason"] = .string(paused) }
            try AgentCommand.report(connection, "agent.login", args)
        }
    }

    struct Answer: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Answer the call ringing on an agent's sound card (logged in with --device alsa:NAME).")
        @OptionGroup var connection: Connection
        @Argument(help: "Agent id.") var agent: String
        func run() throws {
            let r = try connection.run("agent.answer", args: ["agent": .string(agent)])
            if !connection.json { print("agent \(agent) answered call \(text(r["call"])) on the sound card") }
        }
    }

    struct Hangup: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Hang up (or decline) a sound-card agent's call.")
        @OptionGroup var connection: Connection
        @Argument(help: "Agent id.") var agent: String
        func run() throws {
            let r = try connection.run("agent.hangup", args: ["agent": .string(agent)])
            if !connection.json { print("agent \(agent) hung up call \(text(r["call"]))") }
        }
    }

    struct Logout: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Log an agent out.")
        @OptionGroup var connection: Connection
        @Argument(help: "Agent id.") var agent: String
        func run() throws { try AgentCommand.report(connection, "agent.logout", ["agent": .string(agent)]) }
    }

    struct Ready: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make an agent ready (from not ready or wrap-up).")
        @OptionGroup var connection: Connection
        @Argument(help: "Agent id.") var agent: String
        func run() throws { try AgentCommand.report(connection, "agent.ready", ["agent": .string(agent)]) }
    }

    struct Pause: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make an agent not ready with a reason (from ready or wrap-up).")
        @OptionGroup var connection: Connection
        @Argument(help: "Agent id.") var agent: String
        @Option(help: "Reason code: break, lunch, training...") var reason: String
        func run() throws { try AgentCommand.report(connection, "agent.pause", ["agent": .string(agent), "reason": .string(reason)]) }
    }

    struct Skills: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Replace an agent's skills: acdctl agent skills 1001 sales=8 support=3")
        @OptionGroup var connection: Connection
        @Argument(help: "Agent id.") var agent: String
        @Argument(help: "SKILL=LEVEL pairs (levels 1-10).") var skills: [String]

        func run() throws {
            var table: [String: JSONValue] = [:]
            for pair in skills {
                let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, let level = Int(parts[1]) else { throw ValidationError("'\(pair)' is not SKILL=LEVEL") }
                table[parts[0]] = JSONValue(level)
            }
            try AgentCommand.report(connection, "agent.skills", ["agent": .string(agent), "skills": .object(table)])
        }
    }

    struct Reset: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Force a stuck agent to not ready (reason reset), ending what the ACD believes it is doing.")
        @OptionGroup var connection: Connection
        @Argument(help: "Agent id.") var agent: String
        func run() throws { try AgentCommand.report(connection, "agent.reset", ["agent": .string(agent)]) }
    }
}

struct Events: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stream live events (agent, queue, call) as they happen.")
    @OptionGroup var connection: Connection
    @Flag(name: .long, help: "Keep streaming until interrupted (the default; kept for scripts that say so).") var follow = false
    @Option(name: .long, help: "Only these topics (agent, queue, call, alarm); may be repeated.") var topic: [String] = []
    @Option(name: .long, help: "Stop after this many events.") var count: Int?

    func run() throws {
        let client: ControlClient
        do {
            client = try ControlClient(path: connection.path, timeoutSeconds: 0)
        } catch {
            FileHandle.standardError.write(Data("acdctl: \(error)\n".utf8))
            throw ExitCode(2)
        }
        var args: [String: JSONValue] = [:]
        if !topic.isEmpty { args["topics"] = .array(topic.map { .string($0) }) }
        let response = try client.call("subscribe", args: args.isEmpty ? nil : args)
        guard response.ok else {
            FileHandle.standardError.write(Data("acdctl: \(response.error?.code.rawValue ?? "failed"): \(response.error?.message ?? "")\n".utf8))
            throw ExitCode(1)
        }
        var seen = 0
        while count.map({ seen < $0 }) ?? true {
            let line: [UInt8]
            do { line = try client.readLine() } catch {
                FileHandle.standardError.write(Data("acdctl: \(error)\n".utf8))
                throw ExitCode(2)
            }
            guard let event = try? JSONDecoder().decode(JSONValue.self, from: Data(line)), event["event"] != nil else { continue }
            seen += 1
            // Written straight to the descriptor so each event leaves at once, even into a pipe.
            let out = (connection.json ? String(decoding: line, as: UTF8.self) : humanEvent(event)) + "\n"
            FileHandle.standardOutput.write(Data(out.utf8))
        }
    }

    func humanEvent(_ e: JSONValue) -> String {
        let time = e["time"]?.doubleValue.map { Date(timeIntervalSince1970: $0) } ?? Date()
        let f = DateFormatter()
        f.dateFormat = "HH:mm:ss"
        let stamp = f.string(from: time)
        switch text(e["event"]) {
        case "agent":
            let reason = e["reason"].flatMap { $0 == .null ? nil : " (\(text($0)))" } ?? ""
            return "\(stamp) agent \(text(e["agent"])) \(text(e["state"]))\(reason)"
        case "queue":
            return "\(stamp) queue \(text(e["queue"])) \(text(e["type"])) call=\(text(e["call"])) agent=\(text(e["agent"])) \(text(e["data"]))"
        default:
            return "\(stamp) call \(text(e["call"])) \(text(e["type"])) \(text(e["caller"])) → \(text(e["called"]))"
        }
    }
}
