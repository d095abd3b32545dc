import Control
import Foundation
import JSON
import SIPMessage
import TestSupport
import Testing

/// OPTIONS keep-alive to a carrier (issue 20), against the daemon on its default configuration
/// with the trunk's outbound address pointed at a plain UDP peer the test answers from.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct TrunkKeepaliveTests {
    /// Reads what reaches the carrier for `seconds`, answering each OPTIONS with `status` (nil:
    /// silence); returns how many OPTIONS came.
    func carrier(_ probe: UDPProbe, daemon: Daemon, seconds: Double, answer status: SIPStatus?) throws -> Int {
        var count = 0
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            guard let bytes = probe.receive(timeoutMilliseconds: 50), case .request(let r) = try SIPParser().parse(bytes), r.method == .options else { continue }
            count += 1
            if let status { probe.send(r.response(status, toTag: "carrier").serialized(), to: daemon.sipPort) }
        }
        return count
    }

    /// A carrier that answers is up in status; one that goes silent is down after two probes,
    /// with one `trunk_down` alarm and one log line; its next answer (a 405, still an answer)
    /// brings it up with a `trunk_up` alarm.
    @Test func aCarrierThatStopsAnsweringIsDownOnceAndUpAgain() throws {
        let probe = try UDPProbe(timeoutMilliseconds: 100)
        let daemon = try Daemon(sets: [
            "trunks.0.outbound": "127.0.0.1:\(probe.port)", "trunks.0.keepalive_seconds": "1", "trunks.0.keepalive_failures": "2",
        ])
        defer { daemon.stop() }
        let alarms = try ControlClient(path: daemon.socket, timeoutSeconds: 5)
        #expect(try alarms.call("subscribe", args: ["topics": ["alarm"]]).ok)
        func trunk() throws -> JSONValue? { try daemon.control("status").result?["trunks"]?.arrayValue?.first }

        let answered = try carrier(probe, daemon: daemon, seconds: 2.5, answer: .ok)
        #expect(answered >= 2, "the carrier got \(answered) OPTIONS in 2.5 s at one a second")
        var t = try trunk()
        #expect(t?["name"] == "local" && t?["outbound"] == .string("127.0.0.1:\(probe.port)") && t?["state"] == "up" && t?["last_status"] == 200, "\(String(describing: t))")

        _ = try carrier(probe, daemon: daemon, seconds: 3.5, answer: nil)
        t = try trunk()
        #expect(t?["state"] == "down" && t?["last_failure"]?.stringValue?.contains("no answer within 1 s") == true, "\(String(describing: t))")
        _ = try carrier(probe, daemon: daemon, seconds: 2.5, answer: .methodNotAllowed)
        t = try trunk()
        #expect(t?["state"] == "up" && t?["last_status"] == 405, "\(String(describing: t))")

        var seen: [String] = []
        while seen.count < 2 {
            let e = try JSONDecoder().decode(JSONValue.self, from: Data(try alarms.readLine()))
            guard e["event"] == "alarm", let type = e["type"]?.stringValue else { continue }
            #expect(e["trunk"] == "local", "\(e)")
            seen.append(type)
        }
        #expect(seen == ["trunk_down", "trunk_up"])
        let log = daemon.log
        #expect(log.components(separatedBy: "trunk is down").count == 2, "the daemon logged the trunk down other than once")
        #expect(log.contains("trunk is up again"))
    }
}
