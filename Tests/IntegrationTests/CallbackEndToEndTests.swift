import Foundation
import JSON
import Media
import SIPMessage
import TestSupport
import Testing

/// Callbacks (FEATURES C4; issue 19) against the daemon on its default configuration with
/// `groups.0.callback_key` set: plain SIP/RTP callers, agent phone and carrier.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct CallbackEndToEndTests {
    func agentState(_ daemon: Daemon, _ id: String) throws -> String? {
        try daemon.control("agents").result?.arrayValue?.first { $0["id"]?.stringValue == id }?["state"]?.stringValue
    }

    func queue(_ daemon: Daemon) throws -> [JSONValue] {
        try daemon.control("queues").result?.arrayValue?.first { $0["name"] == "sales" }?["callers"]?.arrayValue ?? []
    }

    /// Waits for the daemon's BYE to the caller, sending a little audio meanwhile, and answers it.
    func awaitBye(_ call: Call, _ daemon: Daemon, seconds: Double, sender: inout RTPSenderState) throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            call.talk(packets: 2, sender: &sender)
            guard let bytes = call.sip.receive(timeoutMilliseconds: 50) else { continue }
            guard case .request(let r) = try SIPParser().parse(bytes), r.method == .bye else { continue }
            call.sip.send(r.response(.ok).serialized(), to: daemon.sipPort)
            return true
        }
        return false
    }

    /// A waiting caller asks for a callback at their own number and hangs up.
    func askForCallback(_ daemon: Daemon, from number: String) throws -> String {
        var (call, sender) = try callSales(daemon, from: number)
        #expect(try eventually { try queue(daemon).contains { $0["caller_id"]?.stringValue == number } })
        call.talk(packets: 5, sender: &sender)
        call.press(10, sender: &sender)  // *
        call.talk(packets: 25, sender: &sender)
        call.press(1, sender: &sender)
        #expect(try awaitBye(call, daemon, seconds: 12, sender: &sender), "no goodbye after the callback was asked for")
        let entry = try #require(try daemon.control("callback.list", ["status": "waiting"]).result?.arrayValue?.last)
        #expect(entry["number"]?.stringValue == number, "\(entry)")
        return try #require(entry["id"]?.stringValue)
    }

    /// Caller A asks for a callback; caller B comes after and waits on the line. The agent who
    /// logs in gets A's callback first (A was ahead), whose answer calls A's number through the
    /// trunk; then B. The worklist says done; the queue log has the CALLBACK line.
    @Test func theCallbackKeepsItsPlaceAndIsDialledWhenItsTurnComes() throws {
        let carrier = try UDPProbe(timeoutMilliseconds: 3000)
        let daemon = try Daemon(sets: ["trunks.0.outbound": "127.0.0.1:\(carrier.port)", "groups.0.callback_key": "*", "groups.0.wrap_up_seconds": "0"])
        defer { daemon.stop() }
        let id = try askForCallback(daemon, from: "0301111111")
        let (b, _) = try callSales(daemon, from: "0302222222")
        #expect(try eventually { try queue(daemon).count == 2 })
        let waiting = try queue(daemon)
        #expect(waiting.first?["call"]?.stringValue == id && waiting.first?["callback"] == "0301111111", "\(waiting)")
        #expect(waiting.last?["caller_id"] == "0302222222" && waiting.last?["callback"] == .null)

        let phone = try AgentPhone("1001", daemon: daemon)
        let customer = try AgentPhone(unregistered: "customer", sip: carrier, daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)
        let agentPort = try phone.answerNextCall(ringFor: 0.05)
        #expect(phone.invite?.from.uri.user == "0301111111", "the callback first: it was ahead of B")
        #expect(phone.invite?.headers[.init("X-ACD-Callback")] == .some(id))
        let customerPort = try customer.answerNextCall(ringFor: 0.05)
        #expect(customer.invite?.uri.user == "0301111111")
        var s1 = RTPSenderState(), s2 = RTPSenderState()
        #expect(relayed(from: phone.rtp, to: customer.rtp, port: agentPort, seed: 4, sender: &s1) >= 25)
        #expect(relayed(from: customer.rtp, to: phone.rtp, port: customerPort, seed: 5, sender: &s2) >= 25)
        #expect(try phone.hangUp()?.status == .ok)
        _ = try customer.answerUntilBye()

        _ = try phone.answerNextCall(ringFor: 0.05)
        #expect(phone.invite?.from.uri.user == "0302222222", "then B, who waited on the line")
        #expect(try b.hangUp(daemon)?.status == .ok)
        if let bye = try phone.nextRequest(.bye) { phone.respond(bye, .ok) }

        let done = try #require(try daemon.control("callback.list").result?.arrayValue?.first { $0["id"]?.stringValue == id })
        #expect(done["status"] == "done" && done["attempts"] == 1 && done["agent"] == "1001" && done["last_outcome"] == "connected", "\(done)")
        let log = try String(contentsOfFile: "\(daemon.state)/queue_log", encoding: .utf8)
        #expect(log.contains("|\(id)|sales|NONE|CALLBACK|0301111111|1|1|"), "\(log)")
        let records = try #require(try daemon.control("cdr.list").result?.arrayValue)
        #expect(records.contains { $0["unique_id"]?.stringValue == id && $0["outcome"] == "callback" }, "the caller's own call")
        #expect(records.contains { $0["direction"] == "outbound" && $0["outcome"] == "connected" && $0["called"] == "0301111111" }, "the callback's call")
        let sales = try #require(try daemon.control("queues").result?.arrayValue?.first { $0["name"] == "sales" })
        #expect(sales["abandoned"] == 0 && sales["callbacks"] == 1, "\(sales)")
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.isEmpty == true })
        #expect(daemon.stop() == 0)
    }

    /// A callback promised to a caller survives `kill -9`: after the restart it waits in its
    /// queue again, is tried, and a busy number is retried at the head after the spacing; an
    /// operator can cancel it.
    @Test func aCallbackSurvivesKillNineAndABusyNumberIsRetried() throws {
        let carrier = try UDPProbe(timeoutMilliseconds: 3000)
        let sets = [
            "trunks.0.outbound": "127.0.0.1:\(carrier.port)", "groups.0.callback_key": "*", "groups.0.wrap_up_seconds": "0",
            "groups.0.callback_retry_seconds": "10", "groups.0.callback_attempts": "2",
        ]
        let first = try Daemon(sets: sets)
        let id = try askForCallback(first, from: "0303333333")
        kill(first.process.processIdentifier, SIGKILL)
        first.process.waitUntilExit()

        let daemon = try Daemon(sets: sets, state: first.state)
        defer { daemon.stop() }
        #expect(try eventually { try queue(daemon).first?["call"]?.stringValue == id }, "the callback is not back in its queue")
        let phone = try AgentPhone("1001", daemon: daemon)
        let customer = try AgentPhone(unregistered: "customer", sip: carrier, daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)
        _ = try phone.answerNextCall(ringFor: 0.05)
        try customer.refuseNextCall(.busyHere)
        // The agent hears the busy prompt, then our BYE.
        let bye = try #require(try phone.nextRequest(.bye, timeoutMilliseconds: 8000), "the attempt did not end")
        phone.respond(bye, .ok)
        let retry = try #require(try daemon.control("callback.list", ["status": "waiting"]).result?.arrayValue?.first)
        #expect(retry["attempts"] == 1 && retry["last_outcome"] == "busy", "\(retry)")
        #expect(try queue(daemon).isEmpty, "not offered again before the spacing")
        #expect(try eventually(15) { try queue(daemon).first?["call"]?.stringValue == id }, "not retried after 10 s")
        // The agent's phone rings again; the operator cancels meanwhile: refused while dialling.
        let inv = try #require(try phone.nextRequest(.invite))
        phone.invite = inv
        phone.respond(inv, .ringing)
        #expect(try daemon.control("callback.cancel", ["id": .string(id)]).error?.message.contains("being dialled") == true)
        phone.respond(inv, .busyHere)
        _ = try phone.nextRequest(.ack)
        #expect(try eventually { try agentState(daemon, "1001") == "not-ready" }, "a phone that refuses pauses the agent, as for callers")
        let cancelled = try daemon.control("callback.cancel", ["id": .string(id)])
        #expect(cancelled.result?["status"] == "cancelled", "\(cancelled)")
        #expect(try eventually { try queue(daemon).isEmpty }, "the cancelled callback is still queued")
        let log = try String(contentsOfFile: "\(daemon.state)/queue_log", encoding: .utf8)
        #expect(log.contains("|\(id)|sales|NONE|CALLBACKCANCEL|"), "\(log)")
        #expect(try daemon.control("callback.cancel", ["id": .string(id)]).error?.code == .notFound)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.isEmpty == true })
        #expect(daemon.stop() == 0)
    }

    /// Missed calls (FEATURES A8): a caller who waited past `callback_missed_seconds` and hung up
    /// is in the worklist, open, not queued; an agent calls it by hand and it is done; another is
    /// marked done by an operator; one who hung up sooner leaves nothing.
    @Test func missedCallsAreWorkedByHand() throws {
        let carrier = try UDPProbe(timeoutMilliseconds: 3000)
        let daemon = try Daemon(sets: ["trunks.0.outbound": "127.0.0.1:\(carrier.port)", "groups.0.callback_missed_seconds": "1", "groups.0.wrap_up_seconds": "0"])
        defer { daemon.stop() }
        func missed(_ number: String, waiting seconds: Double) throws {
            var (call, sender) = try callSales(daemon, from: number)
            #expect(try eventually { try queue(daemon).contains { $0["caller_id"]?.stringValue == number } })
            let until = Date().addingTimeInterval(seconds)
            while Date() < until { call.talk(packets: 5, sender: &sender) }
            #expect(try call.hangUp(daemon)?.status == .ok)
        }
        try missed("0304444444", waiting: 1.6)
        try missed("0305555555", waiting: 1.6)
        try missed("0306666666", waiting: 0)
        let open = try #require(try daemon.control("callback.list", ["status": "open"]).result?.arrayValue)
        #expect(open.compactMap { $0["number"]?.stringValue } == ["0304444444", "0305555555"], "\(open)")
        #expect(open.allSatisfy { $0["source"] == "missed" })
        #expect(try eventually { try queue(daemon).isEmpty }, "missed calls are worked by hand, not queued")

        let phone = try AgentPhone("1001", daemon: daemon)
        let customer = try AgentPhone(unregistered: "customer", sip: carrier, daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1001", "paused_reason": "callbacks"]).ok)
        let first = try #require(open.first?["id"]?.stringValue)
        let placed = try daemon.control("callback.dial", ["id": .string(first), "agent": "1001"])
        #expect(placed.ok, "\(placed)")
        _ = try phone.answerNextCall(ringFor: 0.05)
        _ = try customer.answerNextCall(ringFor: 0.05)
        #expect(customer.invite?.uri.user == "0304444444")
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "bridged" })
        #expect(try phone.hangUp()?.status == .ok)
        _ = try customer.answerUntilBye()
        #expect(try eventually {
            let e = try daemon.control("callback.list").result?.arrayValue?.first { $0["id"]?.stringValue == first }
            return e?["status"] == "done" && e?["attempts"] == 1 && e?["agent"] == "1001"
        }, "the callback dialled by hand is not done")
        #expect(try eventually { try agentState(daemon, "1001") == "not-ready" }, "back to the pause the agent dialled from")

        let second = try #require(open.last?["id"]?.stringValue)
        #expect(try daemon.control("callback.done", ["id": .string(second)]).result?["status"] == "done")
        #expect(try daemon.control("callback.cancel", ["id": .string(second)]).error?.code == .notFound, "done is final")
        #expect(try daemon.control("callback.dial", ["id": "nosuch", "agent": "1001"]).error?.message == "no callback nosuch")
        #expect(try daemon.control("callback.list", ["status": "open"]).result?.arrayValue?.isEmpty == true)
        #expect(daemon.stop() == 0)
    }

    /// The last try used (`callback_attempts` 1): a busy number leaves the callback `failed`,
    /// out of the queue, and not retried.
    @Test func theLastBusyTryLeavesTheCallbackFailed() throws {
        let carrier = try UDPProbe(timeoutMilliseconds: 3000)
        let daemon = try Daemon(sets: [
            "trunks.0.outbound": "127.0.0.1:\(carrier.port)", "groups.0.callback_key": "*", "groups.0.wrap_up_seconds": "0", "groups.0.callback_attempts": "1",
            "groups.0.callback_retry_seconds": "10",
        ])
        defer { daemon.stop() }
        let id = try askForCallback(daemon, from: "0309999999")
        let phone = try AgentPhone("1001", daemon: daemon)
        let customer = try AgentPhone(unregistered: "customer", sip: carrier, daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)
        _ = try phone.answerNextCall(ringFor: 0.05)
        try customer.refuseNextCall(.busyHere)
        let bye = try #require(try phone.nextRequest(.bye, timeoutMilliseconds: 8000), "the attempt did not end")
        phone.respond(bye, .ok)
        #expect(try eventually {
            let e = try daemon.control("callback.list").result?.arrayValue?.first { $0["id"]?.stringValue == id }
            return e?["status"] == "failed" && e?["attempts"] == 1 && e?["last_outcome"] == "busy"
        }, "the callback list does not say so")
        #expect(try queue(daemon).isEmpty)
        #expect(try phone.nextRequest(.invite, timeoutMilliseconds: 1500) == nil, "a failed callback is offered again")
        #expect(try daemon.control("callback.cancel", ["id": .string(id)]).error?.code == .notFound, "failed is final")
        #expect(daemon.stop() == 0)
    }

    /// Voicemails and missed calls in the worklist (FEATURES A8), given to one agent each
    /// (`callback.assign`): a voicemail's callback is open with its message beside it; assigned,
    /// it joins the queue and only its agent is offered it; working it marks the message done.
    @Test func voicemailsAndMissedCallsAreAssignedToOneAgent() throws {
        let carrier = try UDPProbe(timeoutMilliseconds: 3000)
        let daemon = try Daemon(sets: [
            "trunks.0.outbound": "127.0.0.1:\(carrier.port)", "groups.0.exit_key": "*", "groups.0.callback_missed_seconds": "1",
            "groups.0.wrap_up_seconds": "0",
        ])
        defer { daemon.stop() }
        // A message: * leaves the queue for the group's voicemail; a second of audio, hang up.
        var (call, sender) = try callSales(daemon, from: "0307777777")
        #expect(try eventually { try queue(daemon).count == 1 })
        call.talk(packets: 5, sender: &sender)
        call.press(10, sender: &sender)
        let deadline = Date().addingTimeInterval(20)
        while !daemon.log.contains("recording voicemail") && Date() < deadline { call.talk(packets: 5, sender: &sender) }
        call.talk(packets: 60, sender: &sender)
        #expect(try call.hangUp(daemon)?.status == .ok)
        // A missed call.
        var (missed, s2) = try callSales(daemon, from: "0308888888")
        #expect(try eventually { try queue(daemon).count == 1 })
        let until = Date().addingTimeInterval(1.6)
        while Date() < until { missed.talk(packets: 5, sender: &s2) }
        #expect(try missed.hangUp(daemon)?.status == .ok)

        #expect(try eventually { try daemon.control("callback.list", ["status": "open"]).result?.arrayValue?.count == 2 }, "\(daemon.log.suffix(1500))")
        let open = try #require(try daemon.control("callback.list", ["status": "open"]).result?.arrayValue)
        let message = try #require(open.first { $0["source"] == "voicemail" }, "\(open)")
        let miss = try #require(open.first { $0["source"] == "missed" }, "\(open)")
        #expect(message["number"] == "0307777777" && message["queue"] == "sales")
        let path = try #require(message["voicemail"]?.stringValue)
        #expect(FileManager.default.fileExists(atPath: path), "\(path)")
        #expect(try daemon.control("voicemail.list").result?.arrayValue?.first?["status"] == "new")
        let vm = try #require(message["id"]?.stringValue), mc = try #require(miss["id"]?.stringValue)

        // Bad assignments are refused and change nothing.
        #expect(try daemon.control("callback.assign", ["id": .string(vm), "agent": "nosuch"]).error?.message == "no agent 'nosuch'")
        #expect(try daemon.control("callback.assign", ["id": .string(vm)]).error?.code == .invalidArgument)
        #expect(try daemon.control("callback.assign", ["id": "nosuch", "agent": "1001"]).error?.message == "no callback nosuch")

        let assigned = try daemon.control("callback.assign", ["id": .string(vm), "agent": "1002"])
        #expect(assigned.result?["status"] == "waiting" && assigned.result?["assigned"] == "1002", "\(assigned)")
        #expect(try eventually { try queue(daemon).first?["call"]?.stringValue == vm }, "the assigned voicemail is not queued")
        #expect(try daemon.control("callback.list", ["assigned": "1002"]).result?.arrayValue?.map { $0["id"]?.stringValue } == [vm])

        // 1001 is not offered 1002's callback.
        let phone1 = try AgentPhone("1001", daemon: daemon)
        let customer = try AgentPhone(unregistered: "customer", sip: carrier, daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)
        #expect(try phone1.nextRequest(.invite, timeoutMilliseconds: 1000) == nil, "1001 was offered a callback assigned to 1002")
        #expect(try agentState(daemon, "1001") == "ready")
        // The missed call given to 1001, who is ready: it rings at once.
        #expect(try daemon.control("callback.assign", ["id": .string(mc), "agent": "1001"]).result?["assigned"] == "1001")
        _ = try phone1.answerNextCall(ringFor: 0.05)
        #expect(phone1.invite?.headers[.init("X-ACD-Callback")] == .some(mc))
        _ = try customer.answerNextCall(ringFor: 0.05)
        #expect(customer.invite?.uri.user == "0308888888")
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "bridged" })
        #expect(try phone1.hangUp()?.status == .ok)
        _ = try customer.answerUntilBye()
        #expect(try phone1.nextRequest(.invite, timeoutMilliseconds: 1000) == nil, "1001 was offered 1002's callback after the call")

        // 1002 logs in and gets the voicemail's callback; done, the message is done too.
        let phone2 = try AgentPhone("1002", daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1002"]).ok)
        _ = try phone2.answerNextCall(ringFor: 0.05)
        #expect(phone2.invite?.headers[.init("X-ACD-Callback")] == .some(vm))
        _ = try customer.answerNextCall(ringFor: 0.05)
        #expect(customer.invite?.uri.user == "0307777777")
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "bridged" })
        #expect(try phone2.hangUp()?.status == .ok)
        _ = try customer.answerUntilBye()
        #expect(try eventually {
            let list = try daemon.control("callback.list").result?.arrayValue ?? []
            return list.filter { $0["status"] == "done" }.count == 2
        }, "the callback list does not say so")
        #expect(try eventually { try daemon.control("voicemail.list").result?.arrayValue?.first?["status"] == "done" })
        #expect(try daemon.control("callback.assign", ["id": .string(vm), "agent": "1001"]).error?.message.contains("is done") == true)
        let log = try String(contentsOfFile: "\(daemon.state)/queue_log", encoding: .utf8)
        #expect(log.contains("|\(vm)|sales|NONE|CALLBACKASSIGN|") == false, "an open callback joins with its agent; nothing to reassign")
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.isEmpty == true })
        #expect(daemon.stop() == 0)
    }
}
