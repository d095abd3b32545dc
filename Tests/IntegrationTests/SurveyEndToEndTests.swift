import Foundation
import JSON
import Media
import SIPMessage
import TestSupport
import Testing

/// The survey after a conversation (FEATURES C6, issue 18) against the daemon on its default
/// configuration with `survey = true` on sales: plain SIP/RTP caller and phone, a real CRM store.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct SurveyEndToEndTests {
    /// The caller's audio for `seconds` (PCMU only; events and silence suppression aside).
    func listen(_ call: Call, seconds: Double) -> [Int16] {
        var heard: [Int16] = []
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline, let d = call.rtp.receive(timeoutMilliseconds: 300) {
            guard let h = try? d.withUnsafeBytes({ try RTPHeader.parse($0) }), h.payloadType == 0 else { continue }
            heard += d[h.payloadOffset...].map { G711.ulaw.decode($0) }
        }
        return heard
    }

    /// Waits for the daemon's BYE to the caller and answers it.
    func awaitBye(_ call: Call, _ daemon: Daemon, seconds: Double) throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            guard let bytes = call.sip.receive() else { continue }
            guard case .request(let r) = try SIPParser().parse(bytes), r.method == .bye else { continue }
            call.sip.send(r.response(.ok).serialized(), to: daemon.sipPort)
            return true
        }
        return false
    }

    /// The agent hangs up first: the caller hears "the agent who served you was number 1 0 0 1"
    /// (found in the audio by correlation), presses 4, hears the thanks and gets our BYE. The score
    /// is in the record, the queue log's SURVEY line and the CRM's call.ended; the record says the
    /// agent ended the conversation, and the agent was freed at once.
    @Test func theCallerScoresTheAgentAfterTheAgentHangsUp() throws {
        let store = try CRMStoreProcess(directory: "/tmp/acdd-survey-\(UUID().uuidString.prefix(6))")
        let daemon = try Daemon(sets: ["groups.0.survey": "true", "groups.0.wrap_up_seconds": "0", "crm.socket": store.socket])
        defer { daemon.stop() }
        let phone = try AgentPhone("1001", daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)
        let (call, sender) = try callSales(daemon, from: "0301234567")
        var voice = sender
        _ = try phone.answerNextCall(ringFor: 0.05)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "bridged" })
        call.talk(packets: 25, sender: &voice)
        #expect(try phone.hangUp()?.status == .ok)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "survey" })
        // The agent is free for the next caller while this one scores the call.
        #expect(try eventually(3) { try daemon.control("agents").result?.arrayValue?.first { $0["id"] == "1001" }?["state"] == "ready" })

        let heard = listen(call, seconds: 2.5)
        let expected = try PromptAudio.samples("agent-was")
        let n = min(6000, expected.count)
        let found = PromptAudio.locate(expected[0..<n], in: heard, maxStart: 8000)
        #expect(found.correlation > 0.99, "the caller did not hear 'the agent who served you was' (best match \(found))")
        call.press(4, sender: &voice)
        #expect(try awaitBye(call, daemon, seconds: 20), "no BYE after the survey")

        _ = try eventually { try daemon.control("cdr.list").result?.arrayValue?.isEmpty == false }
        let record = try #require(try daemon.control("cdr.list").result?.arrayValue?.last)
        #expect(record["survey_score"] == 4 && record["agent"] == "1001" && record["outcome"] == "connected", "\(record)")
        #expect(record["hangup_by"] == "agent" && record["hangup_cause"] == "agent hung up", "\(record)")
        let log = (try? String(contentsOfFile: "\(daemon.state)/queue_log", encoding: .utf8)) ?? ""
        let unique = try #require(record["unique_id"]?.stringValue)
        #expect(log.contains("|\(unique)|sales|Agent/1001|COMPLETEAGENT|"), "\(log)")
        #expect(log.contains("|\(unique)|sales|Agent/1001|SURVEY|4\n"), "\(log)")

        #expect(try eventually { try daemon.status()["crm"]?["outbox"] == 0 })
        let ended = try store.dump("events").first { $0["stream"]?.stringValue == unique && $0["event"] == "call.ended" }
        #expect(ended?["data"]?["cdr"]?["survey_score"] == 4, "\(ended ?? .null)")
    }

    /// The agent's phone starts the survey by a blind transfer to `survey` (REFER): NOTIFY 200 and
    /// BYE to the phone, the caller scores the call.
    @Test func theAgentsPhoneSendsTheCallerToTheSurvey() throws {
        let daemon = try Daemon(sets: ["groups.0.wrap_up_seconds": "0"])
        defer { daemon.stop() }
        let phone = try AgentPhone("1001", daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)
        let (call, sender) = try callSales(daemon)
        var voice = sender
        _ = try phone.answerNextCall(ringFor: 0.05)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "bridged" })
        #expect(try phone.refer(to: "survey", cseq: 40).status == .accepted)
        let notifies = try phone.answerUntilBye()
        #expect(notifies.last?.hasPrefix("SIP/2.0 200") == true, "\(notifies)")
        #expect(try daemon.control("calls").result?.arrayValue?.first?["state"] == "survey")
        // Time passes on the caller's stream, so the key is a new event, not the 1 again.
        call.talk(packets: 10, sender: &voice)
        call.press(3, sender: &voice)
        #expect(try awaitBye(call, daemon, seconds: 20), "no BYE after the survey")
        _ = try eventually { try daemon.control("cdr.list").result?.arrayValue?.isEmpty == false }
        let record = try #require(try daemon.control("cdr.list").result?.arrayValue?.last)
        #expect(record["survey_score"] == 3 && record["hangup_by"] == "agent", "\(record)")
    }

    /// A caller who hangs up in the survey leaves the score empty, not zero; and an operator can
    /// send a caller of a group without the option to the survey (`acdctl survey`), which a call
    /// not talking to an agent refuses.
    @Test func hangingUpLeavesNoScoreAndAnOperatorCanStartIt() throws {
        let daemon = try Daemon(sets: ["groups.0.wrap_up_seconds": "0"])
        defer { daemon.stop() }
        let phone = try AgentPhone("1001", daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)
        let (call, _) = try callSales(daemon)
        let calls = try #require(try daemon.control("calls").result?.arrayValue)
        let id = try #require(calls.first?["id"]?.intValue)
        // Not yet with an agent.
        let early = try run("\(binDir)/acdctl", ["--socket", daemon.socket, "survey", String(id)])
        #expect(early.status != 0 && early.output.contains("is not talking to an agent"), "\(early.output)")
        _ = try phone.answerNextCall(ringFor: 0.05)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "bridged" })
        let r = try run("\(binDir)/acdctl", ["--socket", daemon.socket, "survey", String(id)])
        #expect(r.status == 0 && r.output.contains("agent 1001 freed"), "\(r.output)")
        let bye = try #require(try phone.nextRequest(.bye), "the agent's phone got no BYE")
        phone.respond(bye, .ok)
        #expect(try daemon.control("calls").result?.arrayValue?.first?["state"] == "survey")
        _ = listen(call, seconds: 0.5)
        #expect(try call.hangUp(daemon)?.status == .ok)
        _ = try eventually { try daemon.control("cdr.list").result?.arrayValue?.isEmpty == false }
        let record = try #require(try daemon.control("cdr.list").result?.arrayValue?.last)
        #expect(record["survey_score"] == .null && record["hangup_by"] == .string(ControlCommandsName.current), "\(record)")
        let log = (try? String(contentsOfFile: "\(daemon.state)/queue_log", encoding: .utf8)) ?? ""
        #expect(!log.contains("|SURVEY|"), "\(log)")
    }
}
