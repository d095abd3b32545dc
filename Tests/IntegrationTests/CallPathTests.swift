import Control
import Foundation
import Media
import SIPMessage
import Testing
import TestSupport

/// The product's main path over loopback on the default configuration: a trunk call to 100
/// hears the IVR, presses 1, waits in sales, the agent's registered phone rings and answers, the
/// two are bridged, and the queue log and the agent's states tell the story.
@Suite(.serialized, .timeLimit(.minutes(2))) struct CallPathTests {
    func queueLog(_ daemon: Daemon) -> [[String]] {
        ((try? String(contentsOfFile: "\(daemon.state)/queue_log", encoding: .utf8)) ?? "")
            .split(separator: "\n").map { $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init) }
    }

    func agentState(_ daemon: Daemon, _ id: String) throws -> String? {
        try daemon.control("agents").result?.arrayValue?.first { $0["id"]?.stringValue == id }?["state"]?.stringValue
    }

    /// Logs in on the registered phone `sip:ID`; a login is ready at once.
    func loginReady(_ daemon: Daemon, _ id: String) throws {
        #expect(try daemon.control("agent.login", ["agent": .string(id)]).ok)
        #expect(try agentState(daemon, id) == "ready")
    }

    /// Waits until `condition` holds, up to `seconds`.
    func eventually(_ seconds: Double = 5, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            usleep(50_000)
        }
        return try condition()
    }

    @Test func callerPressesOneAndIsBridgedToTheAgent() throws {
        let daemon = try Daemon(sets: ["groups.0.wrap_up_seconds": "1"])
        let phone = try AgentPhone("1001", daemon: daemon)
        try loginReady(daemon, "1001")

        let call = try place(daemon, number: "100")
        // The welcome prompt arrives; then "1" as RFC 4733 while the menu plays (barge-in).
        var heard: [Int16] = []
        while heard.count < 8000, let d = call.rtp.receive() {
            let h = try d.withUnsafeBytes { try RTPHeader.parse($0) }
            heard += d[h.payloadOffset...].map { G711.ulaw.decode($0) }
        }
        let welcome = try PromptAudio.samples("welcome")
        #expect(PromptAudio.correlation(heard[0..<8000], welcome[0..<8000]) > 0.99, "the caller did not hear the welcome prompt")
        var sender = RTPSenderState()
        let agentRTP: Int
        // Skip the rest of the welcome (a key skips it) and choose sales in the menu.
        call.press(1, sender: &sender)
        call.talk(packets: 15, sender: &sender)
        call.press(1, sender: &sender)
        agentRTP = try phone.answerNextCall()
        let invite = try #require(phone.invite)
        #expect(invite.from.uri.user == "caller")
        #expect(invite.headers[.init("X-ACD-Queue")] == "sales")

        // Audio both ways through the daemon: 50 packets each, counted on the far side.
        let callerAudio = (0..<50).map { p in (0..<160).map { i in UInt8(truncatingIfNeeded: p * 7 + i) } }
        let agentAudio = (0..<50).map { p in (0..<160).map { i in UInt8(truncatingIfNeeded: 255 - p * 5 - i) } }
        var agentSender = RTPSenderState()
        for p in 0..<50 {
            call.rtp.send(packet(sender.next(payloadType: 0, samples: 160), payload: callerAudio[p]), to: call.daemonRTPPort)
            phone.rtp.send(packet(agentSender.next(payloadType: 0, samples: 160), payload: agentAudio[p]), to: agentRTP)
            usleep(20_000)
        }
        var atAgent = 0, atCaller = 0
        let callerSet = Set(callerAudio), agentSet = Set(agentAudio)
        while let d = phone.rtp.receive(timeoutMilliseconds: 300) {
            if agentSetContains(callerSet, d) { atAgent += 1 }
        }
        while let d = call.rtp.receive(timeoutMilliseconds: 300) {
            if agentSetContains(agentSet, d) { atCaller += 1 }
        }
        #expect(atAgent == 50, "the agent got \(atAgent) of the caller's 50 packets")
        #expect(atCaller == 50, "the caller got \(atCaller) of the agent's 50 packets")
        let calls = try #require(daemon.control("calls").result?.arrayValue)
        #expect(calls.first?["state"]?.stringValue == "bridged")
        #expect(calls.first?["agent"]?.stringValue == "1001")
        #expect(calls.first?["queue"]?.stringValue == "sales")
        #expect(try agentState(daemon, "1001") == "on-call")

        // The caller hangs up: the agent's phone gets a BYE, the agent wraps up, then is ready.
        #expect(try call.hangUp(daemon)?.status == .ok)
        let bye = try #require(try phone.nextRequest(.bye), "the agent's phone got no BYE")
        phone.respond(bye, .ok)
        #expect(try eventually { try agentState(daemon, "1001") == "wrap-up" })
        #expect(try eventually(3) { try agentState(daemon, "1001") == "ready" })

        let events = queueLog(daemon).map { $0.count > 4 ? $0[4] : "" }
        for e in ["ENTERQUEUE", "CONNECT", "COMPLETECALLER"] { #expect(events.contains(e), "queue_log has no \(e): \(events)") }
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.isEmpty == true })
        let status = try daemon.status()
        #expect(status["acd"]?["callers_waiting"] == 0)
        #expect(status["calls"]?["rtp_ports_in_use"] == 0, "\(status["calls"] ?? .null)")
        #expect(status["calls"]?["sessions"] == 0 && status["calls"]?["agent_legs"] == 0, "\(status["calls"] ?? .null)")
        #expect(daemon.stop() == 0)
    }
}

/// Whether the RTP packet `d` carries one of `payloads`.
func agentSetContains(_ payloads: Set<[UInt8]>, _ d: [UInt8]) -> Bool {
    guard let h = try? d.withUnsafeBytes({ try RTPHeader.parse($0) }) else { return false }
    return payloads.contains(Array(d[h.payloadOffset..<(h.payloadOffset + h.payloadLength)]))
}
