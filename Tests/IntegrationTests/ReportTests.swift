import Control
import Foundation
import Media
import SIPMessage
import Testing
import TestSupport
import JSON

/// The reports from a running daemon over acdctl: calls placed for real, then billed with a
/// tariff file and counted per group.
@Suite(.serialized, .timeLimit(.minutes(2))) struct ReportTests {

    func acdctl(_ daemon: Daemon, _ args: [String]) throws -> (status: Int32, output: String) {
        try run("\(binDir)/acdctl", ["--socket", daemon.socket] + args)
    }

    @Test func reportsFromCallsPlacedForReal() throws {
        let dir = "/tmp/acdd-report-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // 0.60 per minute in whole minutes plus 0.05 per call, for 030 callers; nothing else.
        try "prefix,name,per_minute,increment,minimum_charge,connection_fee\n030,Berlin,0.60,60/60,,0.05\n".write(
            toFile: "\(dir)/tariffs.csv", atomically: true, encoding: .utf8)
        let daemon = try Daemon(sets: ["billing.tariffs": "\(dir)/tariffs.csv", "groups.0.wrap_up_seconds": "0"])
        defer { daemon.stop() }
        let phone = try AgentPhone("1001", daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)

        // A Berlin caller talks to the agent; a caller from elsewhere waits (the only agent is busy)
        // and gives up.
        var (talker, voice) = try callSales(daemon, from: "0301234567")
        _ = try phone.answerNextCall(ringFor: 0.05)
        talker.talk(packets: 75, sender: &voice)  // 1.5 s bridged: a billable second at least
        let (quitter, _) = try callSales(daemon, from: "0891234567")
        #expect(try eventually { try daemon.status()["acd"]?["callers_waiting"] == 1 })
        #expect(try quitter.hangUp(daemon)?.status == .ok)
        #expect(try talker.hangUp(daemon)?.status == .ok)
        if let bye = try phone.nextRequest(.bye) { phone.respond(bye, .ok) }

        // Billing: the Berlin call is rated (its billable seconds → whole minutes × 0.60 + 0.05); the
        // other matches no rate and is listed as such.
        let records = try #require(daemon.control("cdr.list").result?.arrayValue)
        let berlin = try #require(records.first { $0["caller"] == "0301234567" })
        let billable = Int(berlin["billable"]?.doubleValue ?? 0)
        let minutes = (billable + 59) / 60
        let expected = String(format: "%.4f", Double(minutes) * 0.60 + 0.05)
        let csv = try acdctl(daemon, ["report", "billing", "--format", "csv"])
        #expect(csv.status == 0, "\(csv.output)")
        let lines = csv.output.split(separator: "\n")
        #expect(lines.count == 2 && lines[1].hasSuffix(",030,Berlin,\(billable),\(minutes * 60),\(expected)"), "\(csv.output)")
        let byTrunk = try acdctl(daemon, ["report", "billing", "--by", "trunk"])
        #expect(byTrunk.output == "trunk,calls,billable_seconds,billed_seconds,cost\nlocal,1,\(billable),\(minutes * 60),\(expected)\n")
        let html = "\(dir)/billing.html"
        #expect(try acdctl(daemon, ["report", "billing", "--format", "html", "--output", html]).status == 0)
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.contains("1 calls matched no rate") && page.contains("0891234567"))

        // Call centre: sales was offered both, answered one, lost one.
        let json = try acdctl(daemon, ["report", "calls", "--format", "json", "--interval", "60"])
        #expect(json.status == 0, "\(json.output.prefix(500))")
        let report = try JSONDecoder().decode(JSONValue.self, from: Data(json.output.utf8))
        let total = try #require(report["groups"]?["sales"]?["total"])
        #expect(total["offered"] == 2 && total["answered"] == 1 && total["abandoned"] == 1, "\(total)")
        #expect(total["service_level"] == 0.5, "answered within 20 s, of two offered: \(total)")
        let chart = try acdctl(daemon, ["report", "calls", "--format", "html"])
        #expect(chart.output.contains("<svg") && chart.output.contains("<h2>sales</h2>"))
        let refused = try acdctl(daemon, ["report", "calls", "--interval", "7"])
        #expect(refused.status == 1 && refused.output.contains("interval must be 15, 30 or 60"), "\(refused.output)")
        #expect(try daemon.control("report.calls", ["interval": 7]).error?.code == .invalidArgument)
    }

    /// A tariff file with a fault stops the start with the file and line named.
    @Test func aBrokenTariffFileIsRefusedAtStart() throws {
        let dir = "/tmp/acdd-tariff-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "prefix,name,per_minute,increment,minimum_charge,connection_fee\n030,Berlin,cheap,60/60,,\n".write(
            toFile: "\(dir)/tariffs.csv", atomically: true, encoding: .utf8)
        let out = try run("\(binDir)/acdd", ["--config", "\(packageRoot)/config/acd.toml", "--set", "paths.state=\(dir)/state", "--set", "billing.tariffs=\(dir)/tariffs.csv", "--set", "sip.listen=127.0.0.1:0"], timeout: 20)
        #expect(out.status == 1, "a refused start exits 1, not by a crash: \(out.output.suffix(500))")
        #expect(out.output.contains("tariffs.csv: line 2: per_minute 'cheap' is not an amount"), "\(out.output)")
    }
}
