import Control
import Foundation
import Media
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
import JSON
#endif

/// The package root, from this file's place in it.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
let scenarios = "\(packageRoot)/Tests/IntegrationTests/scenarios"

/// Where the built binaries are: $ACDD_BIN_DIR, else .build/debug.
let binDir = ProcessInfo.processInfo.environment["ACDD_BIN_DIR"] ?? "\(packageRoot)/.build/debug"

func which(_ tool: String) -> String? {
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let p = "\(dir)/\(tool)"
        if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    return nil
}

/// Set-up installs SIPp; only where it is truly absent do these tests skip, saying so.
let sippPath = which("sipp")
let haveSIPp = sippPath != nil

/// A port free for both UDP and TCP on 127.0.0.1 (probed by binding both).
func freePort(excluding: Set<Int> = []) -> Int {
    var rng = SystemRandomNumberGenerator()
    for _ in 0..<200 {
        let port = Int.random(in: 20000...29000, using: &rng)
        if excluding.contains(port) { continue }
        if canBind(port, SOCK_DGRAM) && canBind(port, SOCK_STREAM) { return port }
    }
    fatalError("no free port")
}

private func canBind(_ port: Int, _ type: __socket_type) -> Bool {
    let fd = socket(AF_INET, Int32(type.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = UInt16(port).bigEndian
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
    return withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
}

/// A running `acdd` on the default configuration, with its own state directory and ports.
final class Daemon {
    let state: String
    let sipPort: Int
    let rtpPorts: ClosedRange<Int>
    let process = Process()
    let logPath: String
    var socket: String { "\(state)/acdd.sock" }

    /// `launcher` runs acdd through another program that execs it (`prlimit --nofile=N:N --`), so
    /// the process is still acdd's.
    init(
        config: String = "\(packageRoot)/config/acd.toml", sets: [String: String] = [:], environment: [String: String] = [:], state: String? = nil, sipPort: Int? = nil,
        launcher: [String] = []
    ) throws {
        self.state = state ?? FileManager.default.temporaryDirectory.appendingPathComponent("acdd-it-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: self.state, withIntermediateDirectories: true)
        self.sipPort = sipPort ?? freePort()
        let rtpBase = 30000 + Int.random(in: 0..<30) * 1000
        rtpPorts = rtpBase...(rtpBase + 999)
        logPath = "\(self.state)/acdd.log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: "\(binDir)/acdd")
        var args = [
            "--config", config, "--set", "paths.state=\(self.state)", "--set", "sip.listen=127.0.0.1:\(self.sipPort)",
            "--set", "media.rtp_ports=\(rtpPorts.lowerBound)-\(rtpPorts.upperBound)", "--set", "daemon.drain_seconds=1", "--set", "daemon.stop_seconds=2",
        ]
        // A copied configuration still plays the checkout's prompts.
        if sets["paths.prompts"] == nil { args += ["--set", "paths.prompts=\(packageRoot)/prompts"] }
        for (k, v) in sets.sorted(by: { $0.key < $1.key }) { args += ["--set", "\(k)=\(v)"] }
        if let program = launcher.first {
            process.executableURL = URL(fileURLWithPath: program)
            args = Array(launcher.dropFirst()) + ["\(binDir)/acdd"] + args
        }
        process.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["JOURNAL_STREAM"] = nil
        env["NOTIFY_SOCKET"] = nil
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let log = FileHandle(forWritingAtPath: logPath)!
        process.standardError = log
        process.standardOutput = log
        try process.run()
        try waitUntilReady()
    }

    private func waitUntilReady() throws {
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if !process.isRunning { throw ProbeError("acdd exited: \(log)") }
            if let client = try? ControlClient(path: socket, timeoutSeconds: 2), let r = try? client.call("status"), r.ok { return }
            usleep(50_000)
        }
        throw ProbeError("acdd did not become ready: \(log)")
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func control(_ command: String, _ args: [String: JSONValue]? = nil) throws -> ControlResponse {
        try ControlClient(path: socket).call(command, args: args)
    }

    func status() throws -> JSONValue { try #require(control("status").result) }

    /// SIGTERM, then waits for the exit; returns the exit status.
    @discardableResult
    func stop(timeout: Double = 15) -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        process.terminate()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return -1
        }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// Runs a command to completion with a time limit; returns exit status and output.
@discardableResult
func run(_ path: String, _ args: [String], cwd: String? = nil, timeout: Double = 120, environment: [String: String]? = nil) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    if let environment { p.environment = environment }
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("run-\(UUID().uuidString).out")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    let handle = try FileHandle(forWritingTo: out)
    p.standardOutput = handle
    p.standardError = handle
    p.standardInput = FileHandle.nullDevice
    try p.run()
    let deadline = Date().addingTimeInterval(timeout)
    while p.isRunning && Date() < deadline { usleep(20_000) }
    if p.isRunning {
        p.terminate()
        p.waitUntilExit()
    }
    try handle.close()
    let text = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
    try? FileManager.default.removeItem(at: out)
    return (p.isRunning ? -1 : p.terminationStatus, text)
}

/// SIPp's final statistics: the last line of its -trace_stat CSV, by column name.
struct SIPpStats {
    let values: [String: String]

    init(csv path: String) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = text.split(separator: "\n").map(String.init)
        guard lines.count >= 2 else { throw ProbeError("no SIPp statistics in \(path)") }
        let header = lines[0].split(separator: ";", omittingEmptySubsequences: false).map(String.init)
        let last = lines[lines.count - 1].split(separator: ";", omittingEmptySubsequences: false).map(String.init)
        var v: [String: String] = [:]
        for (i, h) in header.enumerated() where i < last.count { v[h] = last[i] }
        values = v
    }

    var successful: Int { Int(values["SuccessfulCall(C)"] ?? "") ?? -1 }
    var failed: Int { Int(values["FailedCall(C)"] ?? "") ?? -1 }
    var created: Int { Int(values["TotalCallCreated"] ?? "") ?? -1 }
}

/// Runs SIPp as a client against the daemon and returns its statistics.
func sipp(
    _ daemon: Daemon, scenario: String, calls: Int, rate: Int, limit: Int? = nil, localIP: String = "127.0.0.1", transport: String = "u1", service: String = "100",
    extra: [String] = [], files: [String: [UInt8]] = [:], timeout: Double = 120
) throws -> (status: Int32, stats: SIPpStats, output: String) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sipp-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    // Files the scenario reads from its working directory (captures made by the test).
    for (name, bytes) in files { try Data(bytes).write(to: URL(fileURLWithPath: "\(dir)/\(name)")) }
    // uac_pcap plays pcap/g711a.pcap and pcap/dtmf_2833_1.pcap relative to its working directory.
    try FileManager.default.createSymbolicLink(atPath: "\(dir)/pcap", withDestinationPath: "/usr/share/sip-tester")
    var args = ["127.0.0.1:\(daemon.sipPort)"]
    if scenario.hasSuffix(".xml") { args += ["-sf", "\(scenarios)/\(scenario)"] } else { args += ["-sn", scenario] }
    args += [
        "-s", service, "-i", localIP, "-p", String(freePort(excluding: [daemon.sipPort])), "-t", transport, "-m", String(calls), "-r", String(rate),
        "-l", String(limit ?? max(rate * 2, 10)), "-nostdin", "-timeout", "\(Int(timeout - 10))s", "-timeout_error", "-trace_stat", "-stf",
        "\(dir)/stat.csv", "-fd", "1", "-trace_err", "-error_file", "\(dir)/errors.log", "-max_recv_loops", "1000",
    ]
    args += extra
    let (status, output) = try run(sippPath!, args, cwd: dir, timeout: timeout)
    let errors = (try? String(contentsOfFile: "\(dir)/errors.log", encoding: .utf8)) ?? ""
    return (status, try SIPpStats(csv: "\(dir)/stat.csv"), output + errors)
}

/// A copy of the default configuration elsewhere needs the files it names beside it (the tariff
/// table).
func copyConfigCompanions(to dir: String) throws {
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    try? FileManager.default.removeItem(atPath: "\(dir)/tariffs.csv")
    try FileManager.default.copyItem(atPath: "\(packageRoot)/config/tariffs.csv", toPath: "\(dir)/tariffs.csv")
}


/// A pcap capture (Ethernet, IPv4, UDP from 127.0.0.1:40000 to :40002) of RTP packets 20 ms apart,
/// one per payload: what SIPp's `play_pcap_audio` replays, header and timing included.
func rtpCapture(payloadType: UInt8, payloads: [[UInt8]]) -> [UInt8] {
    var out: [UInt8] = []
    func le32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
    func le16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
    func be16(_ v: UInt16, into bytes: inout [UInt8]) { withUnsafeBytes(of: v.bigEndian) { bytes += $0 } }
    le32(0xa1b2_c3d4)  // microsecond timestamps, little-endian
    le16(2)
    le16(4)
    le32(0)
    le32(0)
    le32(65_535)
    le32(1)  // Ethernet
    var sender = RTPSenderState()
    for (n, payload) in payloads.enumerated() {
        let rtp = packet(sender.next(payloadType: payloadType, samples: 160), payload: payload)
        var frame: [UInt8] = [0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x08, 0x00]
        let ipLength = UInt16(20 + 8 + rtp.count)
        var ip: [UInt8] = [0x45, 0]
        be16(ipLength, into: &ip)
        ip += [0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]
        var sum: UInt32 = 0
        for i in stride(from: 0, to: 20, by: 2) { sum += UInt32(ip[i]) << 8 | UInt32(ip[i + 1]) }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        let checksum = ~UInt16(sum)
        ip[10] = UInt8(checksum >> 8)
        ip[11] = UInt8(checksum & 0xFF)
        frame += ip
        be16(40_000, into: &frame)
        be16(40_002, into: &frame)
        be16(UInt16(8 + rtp.count), into: &frame)
        frame += [0, 0]  // no UDP checksum
        frame += rtp
        le32(UInt32(n / 50))
        le32(UInt32(n % 50 * 20_000))
        le32(UInt32(frame.count))
        le32(UInt32(frame.count))
        out += frame
    }
    return out
}
