import Foundation
import JSON
import Media
import TestSupport
import Testing

/// Issue 20: hostile SIP from outside, over real sockets, must never cost the daemon its service.
/// fuzz/sip-mutator.py breaks the seed corpus's requests and responses (headers duplicated,
/// dropped, oversized; odd Via hosts and ports; lying Content-Length; binary bodies; flipped
/// bytes) and probes the daemon after every batch; `make fuzz` runs it far longer.
@Suite(.serialized) struct HostileSIPTests {
    /// fuzz-sip's first finding: before the fix, this one message over TCP crashed the daemon.
    @Test func aNegativeContentLengthOverTCPClosesOnlyThatConnection() throws {
        let daemon = try Daemon()
        defer { daemon.stop() }
        let probe = try TCPProbe(port: daemon.sipPort)
        probe.send(Array("OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5;branch=z9hG4bK1\r\nContent-Length: -1000\r\n\r\n".utf8))
        #expect(probe.isClosedByPeer())
        #expect(daemon.process.isRunning, "the daemon died of one message")
        #expect(try daemon.control("status").ok)
        let again = try TCPProbe(port: daemon.sipPort)
        again.send(Array("OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5;branch=z9hG4bK2\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: n2@x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n".utf8))
        #expect(String(decoding: again.receive(atLeast: 12), as: UTF8.self).hasPrefix("SIP/2.0 200"))
        #expect(daemon.stop() == 0)
    }

    @Test func mutatedSIPOverUDPAndTCPLeavesTheDaemonServingCalls() throws {
        let daemon = try Daemon(sets: ["groups.0.wrap_up_seconds": "0"])
        defer { daemon.stop() }
        let run = try run(
            "/usr/bin/env",
            [
                "python3", "\(packageRoot)/fuzz/sip-mutator.py", "--port", String(daemon.sipPort), "--control", daemon.socket,
                "--pid", String(daemon.process.processIdentifier), "--count", "6000", "--seconds", "90", "--seed", "20",
                "--save", "\(daemon.state)/mutator-failed",
            ], timeout: 150)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("every probe answered"), "\(run.output)")
        let sip = try #require(try daemon.status()["sip"])
        #expect((sip["parse_errors"]?.intValue ?? 0) > 0, "the run sent nothing the parser refused: \(sip)")
        #expect(sip["udp_listener_reopened"] == 0, "the UDP listener had to be reopened: \(sip)")

        // A caller after it all still reaches an agent and is heard.
        let phone = try AgentPhone("1001", daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)
        let (call, _) = try callSales(daemon)
        let port = try phone.answerNextCall(ringFor: 0.05)
        var voice = RTPSenderState()
        #expect(relayed(from: phone.rtp, to: call.rtp, port: port, seed: 7, sender: &voice) >= 25, "the caller did not hear the agent")
        #expect(daemon.stop() == 0, "the daemon did not stop cleanly after the run")
    }
}
