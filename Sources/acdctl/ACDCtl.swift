import ArgumentParser
import Control
import Foundation

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
        subcommands: [Status.self, Calls.self, Registrations.self, Reload.self, Hangup.self, Raw.self],
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
    func run(_ command: String, args: [String: JSONValue]? = nil) throws -> JSONValue {
        let response: ControlResponse
        do {
            response = try ControlClient(path: path).call(command, args: args)
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
        if json { print(String(decoding: ControlCodec.encodeLine(result).dropLast(), as: UTF8.self)) }
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
    }
}

struct Calls: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Calls in progress.")
    @OptionGroup var connection: Connection

    func run() throws {
        let r = try connection.run("calls")
        guard !connection.json else { return }
        table(
            ["ID", "CALLER", "CALLED", "ORIGIN", "STATE", "CODEC", "RTP"],
            (r.arrayValue ?? []).map { c in
                [text(c["id"]), text(c["caller"]), text(c["called"]), text(c["origin"]), text(c["state"]), text(c["codec"]), text(c["local_rtp_port"])]
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
