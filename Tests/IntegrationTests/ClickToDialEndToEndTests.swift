import Foundation
import JSON
import Media
import SIPMessage
import TestSupport
import Testing

/// Click-to-dial (FEATURES A5; issue 19) against the daemon on its default configuration: the
/// agent's phone is a plain SIP/RTP peer, the customer a plain peer or SIPp behind the trunk.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ClickToDialEndToEndTests {
    let ctl = "\(binDir)/acdctl"

    func acdctl(_ daemon: Daemon, _ args: [String]) throws -> (status: Int32, output: String) {
        try run(ctl, ["--socket", daemon.socket] + args)
    }

    func agentState(_ daemon: Daemon, _ id: String) throws -> String? {
        try daemon.control("agents").result?.arrayValue?.first { $0["id"]?.stringValue == id }?["state"]?.stringValue
    }

    func records(_ daemon: Daemon, count: Int) throws -> [JSONValue] {
        _ = try eventually { (try daemon.control("cdr.list").result?.arrayValue?.count ?? 0) >= count }
        return try #require(try daemon.control("cdr.list").result?.arrayValue)
    }

    /// The phone's audio for `seconds` (PCMU only).
    func listen(_ phone: AgentPhone, seconds: Double) -> [Int16] {
        var heard: [Int16] = []
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline, let d = phone.rtp.receive(timeoutMilliseconds: 300) {
            guard let h = try? d.withUnsafeBytes({ try RTPHeader.parse($0) }), h.payloadType == 0 else { continue }
            heard += d[h.payloadOffset...].map { G711.ulaw.decode($0) }
        }
        return heard
    }

    /// The whole call: the agent's phone rings first and shows the number; after its answer the
    /// agent hears ringback and the number is called through the trunk with the trunk's caller
    /// id; the two hear each other; the record says outbound, the recording exists, and the
    /// billing report rates the call by the number called.
    @Test func theAgentThenTheNumberBridgedRecordedAndBilled() throws {
        let dir = "/tmp/acdd-c2d-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // 0.60 per minute in whole minutes plus 0.05 per call, for numbers starting 030.
        try "prefix,name,per_minute,increment,minimum_charge,connection_fee\n030,Berlin,0.60,60/60,,0.05\n".write(
            toFile: "\(dir)/tariffs.csv", atomically: true, encoding: .utf8)
        let carrier = try UDPProbe(timeoutMilliseconds: 3000)
        let daemon = try Daemon(sets: [
            "trunks.0.outbound": "127.0.0.1:\(carrier.port)", "trunks.0.caller_id": "4930555000", "billing.tariffs": "\(dir)/tariffs.csv",
        ])
        defer { daemon.stop() }
        let phone = try AgentPhone("1001", daemon: daemon)
        let customer = try AgentPhone(unregistered: "customer", sip: carrier, daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)

        let placed = try acdctl(daemon, ["dial", "1001", "0301234567"])
        #expect(placed.status == 0 && placed.output.contains("ringing agent 1001, then 0301234567"), "\(placed.output)")
        #expect(try agentState(daemon, "1001") == "on-call", "the ACD offers the agent nothing while their own call is placed")
        let agentPort = try phone.answerNextCall()
        #expect(phone.invite?.from.uri.user == "0301234567", "the agent's phone shows the number it is about to call")
        #expect(phone.invite?.headers[.init("X-ACD-Direction")] == "outbound")
        // Ringback before the number answers.
        let ringback = listen(phone, seconds: 0.6)
        #expect(ringback.count >= 2400, "the agent heard nothing before the number answered (\(ringback.count) samples)")
        #expect(PromptAudio.power(ringback[...], 440) > 20 * PromptAudio.power(ringback[...], 1000), "what the agent heard is not ringback")

        let customerPort = try customer.answerNextCall()
        #expect(customer.invite?.uri.user == "0301234567")
        #expect(customer.invite?.from.uri.user == "4930555000", "the trunk's caller id")
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "bridged" })
        var toCustomer = RTPSenderState()
        var toAgent = RTPSenderState()
        #expect(relayed(from: phone.rtp, to: customer.rtp, port: agentPort, seed: 1, sender: &toCustomer) >= 25, "the customer did not hear the agent")
        #expect(relayed(from: customer.rtp, to: phone.rtp, port: customerPort, seed: 2, sender: &toAgent) >= 25, "the agent did not hear the customer")
        usleep(1_100_000)  // a billable second at least

        #expect(try phone.hangUp()?.status == .ok)
        _ = try customer.answerUntilBye()
        let record = try #require(try records(daemon, count: 1).last)
        #expect(record["direction"] == "outbound", "\(record)")
        #expect(record["outcome"] == "connected" && record["agent"] == "1001" && record["called"] == "0301234567", "\(record)")
        #expect(record["hangup_cause"] == "agent hung up" && record["hangup_by"] == "agent", "\(record)")
        #expect(record["recording_status"] == "recorded", "\(record)")
        let path = try #require(record["recording_path"]?.stringValue)
        #expect(eventually { FileManager.default.fileExists(atPath: path) }, "no recording at \(path)")
        #expect(try eventually { try agentState(daemon, "1001") == "ready" })

        let billable = try #require(record["billable"]?.intValue)
        #expect(billable >= 1)
        let minutes = (billable + 59) / 60
        let csv = try acdctl(daemon, ["report", "billing", "--format", "csv"])
        let expected = String(format: "%.4f", Double(minutes) * 0.60 + 0.05)
        #expect(csv.output.contains(",0301234567,030,Berlin,\(billable),\(minutes * 60),\(expected)"), "rated by the number called: \(csv.output)")
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.isEmpty == true })
        #expect(daemon.stop() == 0)
    }

    /// With SIPp as the carrier: a busy line is told to the agent by the busy prompt and recorded
    /// with its 486; then a line that answers (SIPp's own UAS, echoing RTP) carries the agent's
    /// audio there and back through the bridge.
    @Test func aBusyNumberIsToldToTheAgentAndAnAnsweringOneCarriesTheAudio() throws {
        guard haveSIPp else { return print("SKIP: sipp is not installed (scripts/setup.sh installs sip-tester)") }
        let carrierPort = freePort()
        let daemon = try Daemon(sets: ["trunks.0.outbound": "127.0.0.1:\(carrierPort)"])
        defer { daemon.stop() }
        let phone = try AgentPhone("1001", daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)

        func carrier(_ args: [String]) throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: sippPath!)
            p.arguments = args + ["-i", "127.0.0.1", "-p", String(carrierPort), "-m", "1", "-nostdin", "-timeout", "30s"]
            p.currentDirectoryURL = FileManager.default.temporaryDirectory
            p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            p.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try p.run()
            usleep(300_000)
            return p
        }

        let busy = try carrier(["-sf", "\(scenarios)/customer_busy.xml"])
        #expect(try daemon.control("dial", ["agent": "1001", "number": "0307654321"]).ok)
        _ = try phone.answerNextCall()
        let heard = listen(phone, seconds: 4)
        let prompt = try PromptAudio.samples("number-busy")
        let found = PromptAudio.locate(prompt[1600..<4800], in: heard, maxStart: max(0, heard.count - 3200))
        #expect(found.correlation > 0.95, "the agent did not hear the busy prompt (best match \(found), \(heard.count) samples)")
        if let bye = try phone.nextRequest(.bye) { phone.respond(bye, .ok) }
        busy.waitUntilExit()
        var record = try #require(try records(daemon, count: 1).last)
        #expect(record["direction"] == "outbound" && record["outcome"] == "busy" && record["hangup_cause"] == "number busy (486)", "\(record)")
        #expect(record["disposition"] == "BUSY" && record["billable"] == 0, "\(record)")
        #expect(try eventually { try agentState(daemon, "1001") == "ready" })

        let answering = try carrier(["-sn", "uas", "-rtp_echo"])
        #expect(try daemon.control("dial", ["agent": "1001", "number": "0307654321"]).ok)
        let agentPort = try phone.answerNextCall()
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "bridged" })
        var sender = RTPSenderState()
        #expect(relayed(from: phone.rtp, to: phone.rtp, port: agentPort, seed: 3, sender: &sender) >= 25, "the agent's audio did not come back from SIPp's echo")
        #expect(try phone.hangUp()?.status == .ok)
        answering.waitUntilExit()
        #expect(answering.terminationStatus == 0, "SIPp's UAS saw the call fail")
        record = try #require(try records(daemon, count: 2).last)
        #expect(record["outcome"] == "connected" && record["direction"] == "outbound", "\(record)")
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.isEmpty == true })
        #expect(daemon.stop() == 0)
    }

    /// Bad requests get a clear error and start nothing.
    @Test func refusedDialsSayWhyAndLeaveTheAgentAsTheyWere() throws {
        let daemon = try Daemon()
        defer { daemon.stop() }
        func error(_ args: [String: JSONValue]) throws -> String? { try daemon.control("dial", args).error?.message }
        #expect(try error(["agent": "1001", "number": "0301234567"]) == "agent 1001 is not logged in")
        _ = try AgentPhone("1001", daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)
        #expect(try error(["agent": "1001", "number": "030 123"])?.contains("is not a number") == true)
        #expect(try error(["agent": "1001", "number": "0301234567"]) == "no trunk carries 0301234567", "the default trunk has no outbound address")
        #expect(try error(["agent": "1001"])?.contains("dial needs args") == true)
        #expect(try agentState(daemon, "1001") == "ready")
        #expect(daemon.log.contains("call not placed"))
        #expect(daemon.stop() == 0)
    }

    /// An agent's phone dials an outside number itself: the agent's own call, as `dial` places
    /// it: the phone is answered, the number is called through the trunk, and the two are
    /// bridged; a phone whose agent is not logged in is refused.
    @Test func anAgentsPhoneDialsAnOutsideNumber() throws {
        let carrier = try UDPProbe(timeoutMilliseconds: 3000)
        let daemon = try Daemon(sets: ["trunks.0.outbound": "127.0.0.1:\(carrier.port)", "groups.0.wrap_up_seconds": "0"])
        defer { daemon.stop() }
        let phone = try AgentPhone("1001", daemon: daemon)
        #expect(throws: ProbeError.self, "an agent who is not logged in dials out") { _ = try phone.dial("0509876543") }
        #expect(daemon.log.contains("agent 1001 is not logged in"))
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)
        nonisolated(unsafe) let customer = try AgentPhone(unregistered: "customer", sip: carrier, daemon: daemon)
        // The far end answers, talks two seconds and hangs up, while the phone listens.
        let far = DispatchQueue(label: "far-end")
        let answered = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var farError: (any Error)?
        nonisolated(unsafe) var dialledNumber: String?
        far.async {
            do {
                _ = try customer.answerNextCall(ringFor: 0.5)
                dialledNumber = customer.invite?.uri.user
                usleep(2_000_000)
                _ = try customer.hangUp(cseq: 5)
            } catch { farError = error }
            answered.signal()
        }
        let heard = try phone.dial("0509876543")
        answered.wait()
        #expect(farError == nil, "\(String(describing: farError))")
        #expect(dialledNumber == "0509876543")
        #expect(heard.count > 1600, "the phone heard ringback while the number rang (\(heard.count) samples)")
        let records = try #require(try daemon.control("cdr.list").result?.arrayValue)
        let r = try #require(records.last)
        #expect(r["direction"] == "outbound" && r["caller"] == "1001" && r["called"] == "0509876543" && r["outcome"] == "connected" && r["agent"] == "1001", "\(r)")
        #expect(try eventually { try agentState(daemon, "1001") == "ready" }, "the agent is back where they dialled from")
        #expect(daemon.stop() == 0)
    }
}
