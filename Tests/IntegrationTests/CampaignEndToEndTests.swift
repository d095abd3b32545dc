import Foundation
import JSON
import Media
import SIPMessage
import TestSupport
import Testing

/// Campaigns (issue 19, part 3) against the daemon on its default configuration: lists loaded
/// with acdctl, an agent's phone and a carrier whose far end answers, is busy or does not answer.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct CampaignEndToEndTests {
    let ctl = "\(binDir)/acdctl"

    func acdctl(_ daemon: Daemon, _ args: [String]) throws -> (status: Int32, output: String) {
        try run(ctl, ["--socket", daemon.socket] + args)
    }

    func write(_ text: String, _ name: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("acdd-\(UUID().uuidString.prefix(6))-\(name)").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func contacts(_ daemon: Daemon, _ name: String) throws -> [String: JSONValue] {
        let list = try daemon.control("campaign.contacts", ["name": .string(name)]).result?.arrayValue ?? []
        return Dictionary(uniqueKeysWithValues: list.compactMap { c in c["number"]?.stringValue.map { ($0, c) } })
    }

    /// One try as the carrier sees it: the agent's phone rings first (and answers), then the
    /// number; `answer` says what the far end does with each number.
    /// `n` numbers the try: each BYE is a new transaction (a reused branch would be taken for
    /// a retransmission of the last one).
    func oneTry(_ phone: AgentPhone, _ customer: AgentPhone, _ n: Int, answer: (String) -> SIPStatus) throws -> String {
        // A retry waits for its spacing (10 s).
        let ring = try #require(try phone.nextRequest(.invite, timeoutMilliseconds: 15_000), "the agent's phone was not rung")
        phone.invite = ring
        phone.respond(ring, .ringing)
        phone.respond(ring, .ok, sdp: true)
        _ = try #require(try phone.nextRequest(.ack), "no ACK for the agent's 200")
        #expect(ring.headers[.init("X-ACD-Campaign")] == .some("spring"))
        let inv = try #require(try customer.nextRequest(.invite, timeoutMilliseconds: 5000), "the number was not dialled")
        customer.invite = inv
        let number = inv.uri.user ?? ""
        let status = answer(number)
        if status == .ok {
            customer.respond(inv, .ringing)
            customer.respond(inv, .ok, sdp: true)
            _ = try customer.nextRequest(.ack)
            var sender = RTPSenderState()
            let port = try #require(SDPSession.parse(inv.body).media.first?.port)
            _ = relayed(from: customer.rtp, to: phone.rtp, port: port, seed: 7, sender: &sender)
            #expect(try phone.hangUp(cseq: UInt32(20 + n))?.status == .ok)
            _ = try customer.answerUntilBye()
        } else {
            customer.respond(inv, status)
            _ = try customer.nextRequest(.ack)
            // The agent hears why, then our BYE.
            let bye = try #require(try phone.nextRequest(.bye, timeoutMilliseconds: 8000), "the try did not end")
            phone.respond(bye, .ok)
        }
        return number
    }

    @Test func aProgressiveCampaignCallsEachContactOnceAnAgentIsReadyAndRetriesAsConfigured() throws {
        let carrier = try UDPProbe(timeoutMilliseconds: 3000)
        let daemon = try Daemon(sets: ["trunks.0.outbound": "127.0.0.1:\(carrier.port)", "groups.0.wrap_up_seconds": "0"])
        defer { daemon.stop() }
        let created = try acdctl(daemon, [
            "campaign", "create", "spring", "--group", "sales", "--mode", "progressive", "--hours", "00:00-24:00", "--attempts", "2", "--retry", "busy=10",
            "--retry", "no-answer=10",
        ])
        #expect(created.status == 0, "\(created.output)")
        #expect(try acdctl(daemon, ["dnc", "add", "040 9999999", "--note", "asked not to be called"]).status == 0)

        // A bad row: nothing is loaded, and the message names the file and line.
        let bad = try write("number,name,account\n0401111111,Ann,A-1\n04022x,Bob,B-2\n", "bad.csv")
        let refused = try acdctl(daemon, ["campaign", "load", "spring", bad])
        #expect(refused.status == 1 && refused.output.contains("bad.csv:3: '04022x' is not a phone number"), "\(refused.output)")
        #expect(try contacts(daemon, "spring").isEmpty, "a refused list loaded something")

        let list = try write(
            "number,name,account\n0401111111,Ann,A-1\n0402222222,Bob,B-2\n0403333333,Cy,C-3\n0409999999,Dee,D-4\n0408888888,Eve,E-5\n", "spring.csv")
        let loaded = try acdctl(daemon, ["campaign", "load", "spring", list])
        #expect(loaded.status == 0 && loaded.output.contains("5 contacts loaded, 1 on the do-not-call list"), "\(loaded.output)")
        #expect(try daemon.control("campaign.load", ["name": "spring", "csv": "number\n0401111111\n", "source": "again.csv"]).error?.message
            == "again.csv:2: number 0401111111 is already in campaign 'spring'")
        // A number put on the list after the load is not called either.
        #expect(try daemon.control("dnc.add", ["number": "0408888888"]).result?["contacts_blocked"] == 1)

        let phone = try AgentPhone("1001", daemon: daemon)
        let customer = try AgentPhone(unregistered: "customer", sip: carrier, daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)
        #expect(try acdctl(daemon, ["campaign", "start", "spring"]).status == 0)

        // In list order: Ann answers, Bob is busy, Cy does not answer (480); then, after the
        // spacing, Bob answers and Cy still does not: Cy has had both tries.
        var bobTries = 0
        let plan: (String) -> SIPStatus = { number in
            switch number {
            case "0401111111": return .ok
            case "0402222222":
                bobTries += 1
                return bobTries == 1 ? .busyHere : .ok
            default: return .temporarilyUnavailable
            }
        }
        var dialled: [String] = []
        for _ in 0..<5 {
            do { dialled.append(try oneTry(phone, customer, dialled.count, answer: plan)) } catch {
                Issue.record("try \(dialled.count + 1) after \(dialled): \(error)\n\(daemon.log.suffix(3000))")
                return
            }
        }
        #expect(dialled == ["0401111111", "0402222222", "0403333333", "0402222222", "0403333333"], "\(dialled)")
        #expect(try phone.nextRequest(.invite, timeoutMilliseconds: 2000) == nil, "a contact was called again, or one on the do-not-call list")

        let c = try contacts(daemon, "spring")
        #expect(c["0401111111"]?["status"] == "done" && c["0401111111"]?["attempts"] == 1)
        #expect(c["0402222222"]?["status"] == "done" && c["0402222222"]?["attempts"] == 2)
        #expect(c["0403333333"]?["status"] == "failed" && c["0403333333"]?["attempts"] == 2 && c["0403333333"]?["last_outcome"] == "no-answer")
        #expect(c["0409999999"]?["status"] == "dnc" && c["0408888888"]?["status"] == "dnc" && c["0408888888"]?["attempts"] == 0)
        #expect(c["0401111111"]?["fields"]?["account"] == "A-1")
        #expect(try eventually {
            try daemon.control("campaign.status", ["name": "spring"]).result?["status"] == "finished"
        }, "the campaign did not finish")
        let status = try #require(try daemon.control("campaign.status", ["name": "spring"]).result)
        #expect(status["dialled"] == 5 && status["connected"] == 2 && status["attempts"]?["busy"] == 1 && status["attempts"]?["no-answer"] == 2, "\(status)")
        let records = try #require(try daemon.control("cdr.list").result?.arrayValue)
        #expect(records.filter { $0["direction"] == "outbound" }.count == 5, "every try has its record")
        #expect(records.filter { $0["direction"] == "outbound" }.allSatisfy { $0["account"] == "spring" }, "a campaign's calls are billed to it")
        let report = try acdctl(daemon, ["report", "campaigns", "--format", "csv"])
        // Summed over the hours the test ran in: dialled, answered, connected, abandoned, busy.
        let rows = report.output.split(separator: "\n").filter { $0.hasPrefix("spring,") }.map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        let sums = [2, 3, 4, 5, 7].map { i in rows.reduce(0) { $0 + (Int($1[i]) ?? 0) } }
        #expect(report.status == 0 && sums == [5, 2, 2, 0, 1], "\(report.output)")
        let page = try acdctl(daemon, ["report", "campaigns", "--format", "html"])
        #expect(page.output.contains("<svg") && page.output.contains("spring"))
        #expect(try acdctl(daemon, ["campaign", "start", "nosuch"]).output.contains("no campaign 'nosuch'"))
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.isEmpty == true })
        #expect(daemon.stop() == 0)
    }

    /// Preview: the agent sees the contact (screen pop fields) and accepts or skips it; a list
    /// larger than a control line is loaded in parts; a campaign survives a restart.
    @Test func aPreviewCampaignWaitsForTheAgentsChoice() throws {
        let carrier = try UDPProbe(timeoutMilliseconds: 3000)
        let daemon = try Daemon(sets: ["trunks.0.outbound": "127.0.0.1:\(carrier.port)", "groups.0.wrap_up_seconds": "0"])
        defer { daemon.stop() }
        #expect(try daemon.control("campaign.create", ["name": "spring", "group": "sales", "mode": "preview", "hours": "00:00-24:00"]).ok)
        #expect(try daemon.control("campaign.create", ["name": "spring", "group": "sales", "mode": "preview"]).error?.message == "campaign 'spring' exists")
        #expect(try daemon.control("campaign.create", ["name": "x", "group": "nosuch", "mode": "preview"]).error?.message == "no group 'nosuch'")
        #expect(try daemon.control("campaign.create", ["name": "x", "group": "sales", "mode": "dialler"]).error?.code == .invalidArgument)
        #expect(try daemon.control("campaign.create", ["name": "x", "group": "sales", "mode": "preview", "hours": "21:00-08:00"]).error?.code == .invalidArgument)
        let list = try write("number,name,plan\n0501111111,Ann,gold\n0502222222,Bob,silver\n", "preview.csv")
        #expect(try acdctl(daemon, ["campaign", "load", "spring", list]).status == 0)
        // 3000 rows: more than one control line.
        #expect(try daemon.control("campaign.create", ["name": "bulk", "group": "support", "mode": "progressive"]).ok)
        let rows = (0..<3000).map { String(format: "0601%06d,Person %d,note %d", $0, $0, $0) }.joined(separator: "\n")
        let bulk = try acdctl(daemon, ["campaign", "load", "bulk", try write("number,name,note\n" + rows + "\n", "bulk.csv"), "--json"])
        #expect(bulk.status == 0 && bulk.output.contains("\"loaded\":3000"), "\(bulk.output.suffix(300))")

        let phone = try AgentPhone("1001", daemon: daemon)
        let customer = try AgentPhone(unregistered: "customer", sip: carrier, daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)
        #expect(try daemon.control("campaign.start", ["name": "spring"]).result?["status"] == "running")
        #expect(try eventually { try daemon.control("campaign.preview", ["agent": "1001"]).result?["contact"]?["number"] == "0501111111" })
        let shown = try #require(try daemon.control("campaign.preview", ["agent": "1001"]).result)
        #expect(shown["contact"]?["fields"]?["plan"] == "gold" && shown["campaign"] == "spring")
        #expect(try phone.nextRequest(.invite, timeoutMilliseconds: 1500) == nil, "a preview rang the agent before they accepted")

        // Skip Ann; Bob is shown; accept Bob: the agent's phone, then the number.
        #expect(try daemon.control("campaign.skip", ["agent": "1001"]).result?["status"] == "skipped")
        #expect(try eventually { try daemon.control("campaign.preview", ["agent": "1001"]).result?["contact"]?["number"] == "0502222222" })
        #expect(try daemon.control("campaign.accept", ["agent": "1001"]).ok)
        _ = try phone.answerNextCall(ringFor: 0.05)
        _ = try customer.answerNextCall(ringFor: 0.05)
        #expect(customer.invite?.uri.user == "0502222222")
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "bridged" })
        #expect(try phone.hangUp()?.status == .ok)
        _ = try customer.answerUntilBye()
        #expect(try daemon.control("campaign.skip", ["agent": "1001"]).error?.message == "agent 1001 has no contact to preview")
        #expect(try eventually { try daemon.control("campaign.status", ["name": "spring"]).result?["status"] == "finished" })
        let c = try contacts(daemon, "spring")
        #expect(c["0501111111"]?["status"] == "skipped" && c["0502222222"]?["status"] == "done")

        // After a restart the campaigns and lists are there.
        #expect(daemon.stop() == 0)
        let again = try Daemon(sets: ["trunks.0.outbound": "127.0.0.1:\(carrier.port)"], state: daemon.state)
        defer { again.stop() }
        let all = try #require(try again.control("campaign.status").result?.arrayValue)
        #expect(all.compactMap { $0["name"]?.stringValue } == ["spring", "bulk"])
        #expect(all.last?["contacts"]?["pending"] == 3000)
        #expect(again.stop() == 0)
    }

    /// Outside a contact's calling hours nobody is dialled; a trunk that answers 503 costs the
    /// contact no try and backs the campaign off before it dials again.
    @Test func closedHoursAndACongestedTrunkDialNobodyAndLoseNoContact() throws {
        let carrier = try UDPProbe(timeoutMilliseconds: 3000)
        let daemon = try Daemon(sets: ["trunks.0.outbound": "127.0.0.1:\(carrier.port)", "groups.0.wrap_up_seconds": "0"])
        defer { daemon.stop() }
        // A window of one hour that does not hold the present hour (UTC).
        let hour = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: Date()).hour ?? 0
        let closed = hour < 20 ? String(format: "%02d:00-%02d:00", hour + 2, hour + 3) : "01:00-02:00"
        #expect(try daemon.control("campaign.create", ["name": "night", "group": "sales", "mode": "progressive", "hours": .string(closed)]).ok)
        #expect(try daemon.control("campaign.load", ["name": "night", "csv": "number\n0701111111\n", "source": "night.csv"]).ok)
        #expect(try daemon.control("campaign.create", ["name": "day", "group": "sales", "mode": "progressive", "hours": "00:00-24:00"]).ok)
        #expect(try daemon.control("campaign.load", ["name": "day", "csv": "number\n0702222222\n", "source": "day.csv"]).ok)

        let phone = try AgentPhone("1001", daemon: daemon)
        let customer = try AgentPhone(unregistered: "customer", sip: carrier, daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)
        #expect(try daemon.control("campaign.start", ["name": "night"]).ok)
        #expect(try phone.nextRequest(.invite, timeoutMilliseconds: 2500) == nil, "a contact was called outside their hours")
        let waiting = try #require(try contacts(daemon, "night")["0701111111"])
        #expect(waiting["status"] == "pending" && waiting["attempts"] == 0)
        #expect(try daemon.control("campaign.status", ["name": "night"]).result?["live"]?["pending"] == 1)

        #expect(try daemon.control("campaign.start", ["name": "day"]).ok)
        _ = try phone.answerNextCall(ringFor: 0.05)
        let first = Date()
        try customer.refuseNextCall(.serviceUnavailable)
        let bye = try #require(try phone.nextRequest(.bye, timeoutMilliseconds: 8000))
        phone.respond(bye, .ok)
        #expect(try eventually {
            try daemon.control("campaign.status", ["name": "day"]).result?["live"]?["outcomes"]?["congestion"] == 1
        })
        let after503 = try #require(try contacts(daemon, "day")["0702222222"])
        #expect(after503["status"] == "pending" && after503["attempts"] == 0, "a 503 cost the contact a try: \(after503)")
        // Dialled again only after the backoff (5 s), and this time answered.
        let again = try #require(try phone.nextRequest(.invite, timeoutMilliseconds: 10_000), "not dialled again after the backoff")
        #expect(Date().timeIntervalSince(first) >= 4.5, "dialled again \(Date().timeIntervalSince(first)) s after the 503")
        phone.invite = again
        phone.respond(again, .ok, sdp: true)
        _ = try phone.nextRequest(.ack)
        _ = try customer.answerNextCall(ringFor: 0.05)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "bridged" })
        #expect(try phone.hangUp(cseq: 31)?.status == .ok)
        _ = try customer.answerUntilBye()
        #expect(try eventually { try contacts(daemon, "day")["0702222222"]?["status"] == "done" })
        #expect(try contacts(daemon, "night")["0701111111"]?["status"] == "pending", "the closed campaign's contact is still waiting for its hours")
        let stats = try #require(try daemon.control("cdr.list").result?.arrayValue)
        #expect(stats.contains { $0["outcome"] == "congestion" && $0["hangup_cause"] == "trunk congested (503)" }, "\(stats)")
        #expect(daemon.stop() == 0)
    }

    /// Predictive (customer first): the answer joins the group's queue and the agent's phone
    /// rings with the customer's number; an answer no agent takes within 2 s hears the
    /// campaign's message, is counted abandoned and tried again later; a busy number is a try.
    @Test func aPredictiveCampaignGivesAnswersToAgentsWithinTwoSecondsOrAbandonsThem() throws {
        let carrier = try UDPProbe(timeoutMilliseconds: 3000)
        // The campaign names its own message: a copy of the shipped prompts with one more,
        // the 2.9 s goodbye under the campaign's name (the shipped message runs 11 s).
        let prompts = NSTemporaryDirectory() + "acdd-prompts-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: "\(packageRoot)/prompts", toPath: prompts)
        defer { try? FileManager.default.removeItem(atPath: prompts) }
        try FileManager.default.copyItem(atPath: "\(prompts)/en/goodbye.wav", toPath: "\(prompts)/en/spring-abandon.wav")
        let daemon = try Daemon(sets: ["trunks.0.outbound": "127.0.0.1:\(carrier.port)", "groups.0.wrap_up_seconds": "0", "paths.prompts": prompts])
        defer { daemon.stop() }
        let created = try daemon.control(
            "campaign.create",
            ["name": "spring", "group": "sales", "mode": "predictive", "hours": "00:00-24:00", "ring_seconds": 10, "abandon_target": 0.02, "abandon_prompt": "spring-abandon"])
        #expect(created.result?["mode"] == "predictive" && created.result?["abandon_target"] == 0.02 && created.result?["abandon_prompt"] == "spring-abandon", "\(created)")
        #expect(try daemon.control("campaign.create", ["name": "x", "group": "sales", "mode": "predictive", "abandon_target": 0.05]).error?.code == .invalidArgument)
        let noMessage = try daemon.control("campaign.create", ["name": "y", "group": "sales", "mode": "predictive", "abandon_prompt": "no-such-message"])
        #expect(noMessage.error?.code == .invalidArgument && noMessage.error?.message.contains("en/no-such-message.wav") == true, "\(noMessage)")
        #expect(try daemon.control("campaign.load", ["name": "spring", "csv": "number,name\n0801111111,Ann\n0802222222,Bob\n0803333333,Cy\n", "source": "p.csv"]).ok)

        let phone = try AgentPhone("1001", daemon: daemon)
        let customer = try AgentPhone(unregistered: "customer", sip: carrier, daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)
        #expect(try daemon.control("campaign.start", ["name": "spring"]).ok)

        // Ann answers; the agent's phone rings and does not answer: after 2 s Ann hears the
        // message, then our BYE.
        let ann = try #require(try customer.nextRequest(.invite, timeoutMilliseconds: 5000), "the first number was not dialled")
        #expect(ann.uri.user == "0801111111" && ann.headers[.init("X-ACD-Campaign")] == .some("spring"))
        customer.invite = ann
        customer.respond(ann, .ok, sdp: true)
        _ = try customer.nextRequest(.ack)
        let answeredAt = Date()
        let ring = try #require(try phone.nextRequest(.invite), "the answer was not offered to the agent")
        #expect(ring.from.uri.user == "0801111111", "the agent's phone shows the customer")
        phone.invite = ring
        phone.respond(ring, .ringing)
        let cancel = try #require(try phone.nextRequest(.cancel, timeoutMilliseconds: 4000), "the agent's ring was not withdrawn")
        #expect(Date().timeIntervalSince(answeredAt) >= 1.8, "withdrawn \(Date().timeIntervalSince(answeredAt)) s after the answer")
        phone.respond(cancel, .ok)
        phone.respond(ring, .requestTerminated)
        var heard = 0
        var bye: SIPRequest?
        let deadline = Date().addingTimeInterval(20)
        while bye == nil && Date() < deadline {
            if let d = customer.rtp.receive(timeoutMilliseconds: 20), d.count > 12 { heard += 1 }
            if let b = customer.sip.receive(timeoutMilliseconds: 1), case .request(let r) = try SIPParser().parse(b), r.method == .bye { bye = r }
        }
        let goodbye = try #require(bye, "the abandoned call was not ended")
        customer.sip.send(goodbye.response(.ok).serialized(), to: daemon.sipPort)
        // 2.9 s of message at 50 packets a second, and not the 11 s of the shipped one.
        #expect((100...250).contains(heard), "the abandoned customer heard \(heard) packets of the campaign's own message")

        // Bob answers and the agent takes him; Cy is busy.
        var bobTaken = false, cyBusy = false
        for _ in 0..<2 {
            let inv = try #require(try customer.nextRequest(.invite, timeoutMilliseconds: 5000), "the next number was not dialled")
            customer.invite = inv
            if inv.uri.user == "0803333333" {
                customer.respond(inv, .busyHere)
                _ = try customer.nextRequest(.ack)
                cyBusy = true
                continue
            }
            #expect(inv.uri.user == "0802222222")
            customer.respond(inv, .ok, sdp: true)
            _ = try customer.nextRequest(.ack)
            let port = try phone.answerNextCall(ringFor: 0.05)
            #expect(phone.invite?.from.uri.user == "0802222222")
            var sender = RTPSenderState()
            #expect(relayed(from: phone.rtp, to: customer.rtp, port: port, seed: 9, sender: &sender) >= 25, "no audio from the agent to the customer")
            #expect(try phone.hangUp(cseq: 40)?.status == .ok)
            _ = try customer.answerUntilBye()
            bobTaken = true
        }
        #expect(bobTaken && cyBusy)
        #expect(try eventually {
            let c = try contacts(daemon, "spring")
            return c["0802222222"]?["status"] == "done" && c["0803333333"]?["last_outcome"] == "busy"
        })
        let c = try contacts(daemon, "spring")
        #expect(c["0801111111"]?["status"] == "pending" && c["0801111111"]?["attempts"] == 1 && c["0801111111"]?["last_outcome"] == "abandoned", "\(c)")
        let status = try #require(try daemon.control("campaign.status", ["name": "spring"]).result)
        #expect(status["abandoned"] == 1 && status["attempts"]?["abandoned"] == 1 && status["connected"] == 1, "\(status)")
        #expect(status["abandon_rate"] == 0.5, "one of two answered calls abandoned: \(status)")
        let records = try #require(try daemon.control("cdr.list").result?.arrayValue)
        #expect(records.contains { $0["outcome"] == "abandoned" && $0["direction"] == "outbound" && $0["hangup_cause"] == "no agent within 2 s" }, "\(records)")
        #expect(records.contains { $0["outcome"] == "connected" && $0["agent"] == "1001" && $0["called"] == "0802222222" })
        let log = try String(contentsOfFile: "\(daemon.state)/queue_log", encoding: .utf8)
        #expect(log.contains("|sales|NONE|ENTERQUEUE||0801111111"), "\(log)")
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.isEmpty == true })
        #expect(daemon.stop() == 0)

        // The campaign's message gone at a restart: the campaign is paused, not dialled without
        // it, and cannot be started until the prompt is back.
        try FileManager.default.removeItem(atPath: "\(prompts)/en/spring-abandon.wav")
        let again = try Daemon(sets: ["trunks.0.outbound": "127.0.0.1:\(carrier.port)", "paths.prompts": prompts], state: daemon.state)
        defer { again.stop() }
        #expect(try again.control("campaign.status", ["name": "spring"]).result?["status"] == "paused")
        let start = try again.control("campaign.start", ["name": "spring"])
        #expect(start.error?.message.contains("en/spring-abandon.wav") == true, "\(start)")
        #expect(try again.control("campaign.status", ["name": "spring"]).result?["status"] == "paused", "a refused start leaves it paused")
        #expect(try customer.nextRequest(.invite, timeoutMilliseconds: 1500) == nil, "a number was dialled without the message")
    }
}
