import Control
import Foundation
import Media
import SIPMessage
import Testing
import TestSupport
import JSON

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
        // 1 over the welcome skips it and chooses sales in the menu, which is not played.
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
        _ = try eventually(2) { try daemon.status()["calls"]?["rtp_ports_in_use"] == 0 }
        let status = try daemon.status()
        #expect(status["acd"]?["callers_waiting"] == 0)
        #expect(status["calls"]?["rtp_ports_in_use"] == 0, "\(status["calls"] ?? .null)")
        #expect(status["calls"]?["sessions"] == 0 && status["calls"]?["agent_legs"] == 0, "\(status["calls"] ?? .null)")
        #expect(daemon.stop() == 0)
    }


    /// Nothing of a call may be left once it is over.
    func expectNothingLeft(_ daemon: Daemon, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.isEmpty == true }, sourceLocation: sourceLocation)
        // Ports go back on their media loops just after the call ends there: give them a moment.
        _ = try eventually(2) { try daemon.status()["calls"]?["rtp_ports_in_use"] == 0 }
        let calls = try daemon.status()["calls"]
        #expect(calls?["sessions"] == 0 && calls?["agent_legs"] == 0 && calls?["rtp_ports_in_use"] == 0, "\(calls ?? .null)", sourceLocation: sourceLocation)
        #expect(try daemon.status()["acd"]?["callers_waiting"] == 0, sourceLocation: sourceLocation)
    }

    /// The newest call-detail record.
    func lastRecord(_ daemon: Daemon) throws -> JSONValue? { try daemon.control("cdr.list").result?.arrayValue?.last }

    func events(_ daemon: Daemon) -> [String] { queueLog(daemon).map { $0.count > 4 ? $0[4] : "" } }

    @Test func callerWhoHangsUpWhileQueuedIsAbandoned() throws {
        let daemon = try Daemon()
        let (call, _) = try callSales(daemon)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"]?.stringValue == "queued" })
        // Music on hold plays while the caller waits.
        let moh = try PromptAudio.wav("\(packageRoot)/prompts/moh/default.wav")
        while call.rtp.receive(timeoutMilliseconds: 5) != nil {}  // what was sent before the queue
        var heard: [Int16] = []
        while heard.count < 4000, let d = call.rtp.receive() {
            let h = try d.withUnsafeBytes { try RTPHeader.parse($0) }
            heard += d[h.payloadOffset...].map { G711.ulaw.decode($0) }
        }
        let music = PromptAudio.locate(heard[800..<2400], in: moh, maxStart: 40_000)
        #expect(music.correlation > 0.99, "the waiting caller does not hear the music on hold (best match \(music))")
        #expect(try call.hangUp(daemon)?.status == .ok)
        #expect(eventually { events(daemon).contains("ABANDON") }, "\(events(daemon))")
        let cdr = try lastRecord(daemon)
        #expect(cdr?["outcome"] == "abandoned" && cdr?["queue"] == "sales" && cdr?["agent"] == .null && cdr?["hangup_by"] == "caller", "\(cdr ?? .null)")
        try expectNothingLeft(daemon)
        #expect(daemon.stop() == 0)
    }

    @Test func ringNoAnswerGoesToTheNextAgent() throws {
        let daemon = try Daemon(sets: ["groups.0.ring_seconds": "1"])
        let first = try AgentPhone("1001", daemon: daemon)
        let second = try AgentPhone("1002", daemon: daemon)
        try loginReady(daemon, "1001")
        try loginReady(daemon, "1002")
        let (call, _) = try callSales(daemon)
        #expect(try first.ringUntilCancelled(), "the first agent's phone was not cancelled after the ring time")
        _ = try second.answerNextCall()
        #expect(try eventually { try agentState(daemon, "1001") == "not-ready" })
        let agents = try #require(daemon.control("agents").result?.arrayValue)
        #expect(agents.first { $0["id"] == "1001" }?["reason"]?.stringValue == "rona")
        #expect(try daemon.control("calls").result?.arrayValue?.first?["agent"]?.stringValue == "1002")
        #expect(events(daemon).contains("RINGNOANSWER"), "\(events(daemon))")
        #expect(try call.hangUp(daemon)?.status == .ok)
        if let bye = try second.nextRequest(.bye) { second.respond(bye, .ok) }
        try expectNothingLeft(daemon)
        #expect(daemon.stop() == 0)
    }

    @Test func busyPhoneGoesToTheNextAgent() throws {
        let daemon = try Daemon()
        let first = try AgentPhone("1001", daemon: daemon)
        let second = try AgentPhone("1002", daemon: daemon)
        try loginReady(daemon, "1001")
        try loginReady(daemon, "1002")
        let (call, _) = try callSales(daemon)
        try first.refuseNextCall(.busyHere)
        _ = try second.answerNextCall()
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"]?.stringValue == "bridged" })
        #expect(try call.hangUp(daemon)?.status == .ok)
        if let bye = try second.nextRequest(.bye) { second.respond(bye, .ok) }
        try expectNothingLeft(daemon)
        #expect(daemon.stop() == 0)
    }

    /// The caller gives up while the agent's phone rings: the phone gets a CANCEL, the agent is
    /// ready again, and the call is abandoned.
    @Test func callerWhoLeavesWhileThePhoneRingsCancelsIt() throws {
        let daemon = try Daemon()
        let phone = try AgentPhone("1001", daemon: daemon)
        try loginReady(daemon, "1001")
        let (call, _) = try callSales(daemon)
        let invite = try #require(try phone.nextRequest(.invite))
        phone.respond(invite, .ringing)
        #expect(try eventually { try agentState(daemon, "1001") == "ringing" })
        #expect(try call.hangUp(daemon)?.status == .ok)
        let cancel = try #require(try phone.nextRequest(.cancel), "the ringing phone got no CANCEL")
        phone.respond(cancel, .ok)
        phone.respond(invite, .requestTerminated)
        #expect(try eventually { try agentState(daemon, "1001") == "ready" })
        #expect(events(daemon).contains("ABANDON"), "\(events(daemon))")
        try expectNothingLeft(daemon)
        #expect(daemon.stop() == 0)
    }

    /// Closed hours: the closed message, then (voicemail not built yet) all busy and goodbye, and
    /// the daemon hangs up.
    @Test func outOfHoursCallerHearsTheClosedMessage() throws {
        let daemon = try Daemon(sets: ["ivr.nodes.hours.schedule": "office", "hours.1.open": "[]"])
        let call = try place(daemon, number: "100")
        var heard: [Int16] = []
        var bye: SIPRequest?
        while bye == nil {
            if let d = call.rtp.receive(timeoutMilliseconds: 50) {
                let h = try d.withUnsafeBytes { try RTPHeader.parse($0) }
                heard += d[h.payloadOffset...].map { G711.ulaw.decode($0) }
            }
            if let s = call.sip.receive(timeoutMilliseconds: 1), case .request(let r) = try SIPParser().parse(s), r.method == .bye { bye = r }
            if heard.count > 8000 * 60 { break }
        }
        let hangup = try #require(bye, "no BYE after the closed message")
        call.sip.send(hangup.response(.ok).serialized(), to: daemon.sipPort)
        // The welcome, then the closed message.
        let closed = try PromptAudio.samples("closed")
        let found = PromptAudio.locate(closed[2000..<3600], in: heard, maxStart: try PromptAudio.samples("welcome").count + 8000)
        #expect(found.correlation > 0.99, "the closed message was not heard (best match \(found))")
        let cdr = try lastRecord(daemon)
        // Closed leads to voicemail in the default flow.
        #expect(cdr?["outcome"] == "voicemail" && cdr?["hangup_by"] == "system" && cdr?["queue"] == .null, "\(cdr ?? .null)")
        #expect(cdr?["ivr_path"]?.stringValue?.contains("closed") == true, "\(cdr ?? .null)")
        try expectNothingLeft(daemon)
        #expect(daemon.stop() == 0)
    }

    /// The same choice made with in-band tones on a trunk that sends no RFC 4733 events.
    @Test func inbandKeyReachesTheAgent() throws {
        let daemon = try Daemon(sets: ["trunks.0.dtmf": "inband"])
        let phone = try AgentPhone("1001", daemon: daemon)
        try loginReady(daemon, "1001")
        let call = try place(daemon, number: "100", codecs: "0")
        var sender = RTPSenderState()
        call.sendTones("1", frames: 25, pauseMicroseconds: 20_000, sender: &sender)  // over the welcome: sales
        _ = try phone.answerNextCall()
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"]?.stringValue == "bridged" })
        #expect(try call.hangUp(daemon)?.status == .ok)
        if let bye = try phone.nextRequest(.bye) { phone.respond(bye, .ok) }
        #expect(events(daemon).contains("CONNECT"))
        try expectNothingLeft(daemon)
        #expect(daemon.stop() == 0)
    }

    /// A broken flow stops the start and is refused on reload with the node named; a good reload
    /// leaves a waiting caller in place, who is then answered.
    @Test func reloadKeepsAWaitingCallerAndBrokenFlowsAreRefused() throws {
        do {
            _ = try Daemon(sets: ["ivr.nodes.welcome.next": "nowhere"])
            Issue.record("acdd started with a flow that leads nowhere")
        } catch {
            #expect("\(error)".contains("IVR node 'welcome': leads to 'nowhere'"), "\(error)")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("acdd-ivr-\(UUID().uuidString.prefix(6))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let config = "\(dir)/acd.toml"
        let original = try String(contentsOfFile: "\(packageRoot)/config/acd.toml", encoding: .utf8)
        try copyConfigCompanions(to: dir)
        try original.write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try Daemon(config: config, state: "\(dir)/state")
        let (call, _) = try callSales(daemon)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"]?.stringValue == "queued" })

        try original.replacingOccurrences(of: "timeout_seconds = 5", with: "timeout_seconds = 6").write(toFile: config, atomically: true, encoding: .utf8)
        #expect(try daemon.control("reload").ok)
        try original.replacingOccurrences(of: "next = \"hours\"", with: "next = \"nowhere\"").write(toFile: config, atomically: true, encoding: .utf8)
        let refused = try daemon.control("reload")
        #expect(refused.error?.message.contains("IVR node 'welcome'") == true, "\(String(describing: refused.error))")
        #expect(refused.error?.message.contains("\(config):") == true, "\(String(describing: refused.error))")

        // Still waiting after both reloads: the first agent to log in gets the call.
        let phone = try AgentPhone("1003", daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1003"]).ok)
        _ = try phone.answerNextCall()
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"]?.stringValue == "bridged" })
        #expect(try call.hangUp(daemon)?.status == .ok)
        if let bye = try phone.nextRequest(.bye) { phone.respond(bye, .ok) }
        try expectNothingLeft(daemon)
        #expect(daemon.stop() == 0)
    }

    /// Real peers: SIPp as the trunk caller (RFC 4733 "1" from the capture SIPp ships, then
    /// speech) and SIPp as the agent's registered phone (ring, answer, speech back). Every packet
    /// of each side's capture crosses to the other (the daemon's per-leg counters), the queue log
    /// tells the story, and the agent goes through wrap-up back to ready.
    @Test(.enabled(if: haveSIPp, "SIPp (package sip-tester) is not installed"))
    func sippCallerReachesASIPpAgent() throws {
        // dtmf_2833_1.pcap holds 10 packets.
        try sippCallThroughTheMenu(scenario: "caller_menu.xml", keyPackets: 10)
    }

    /// The same with SIPp pressing 1 as in-band tones (PCMA) on a trunk that sends no RFC 4733
    /// events. SIPp ships no such capture, so the test writes one: the key as spandsp's generator
    /// plays it (50 ms of its two tones, then its gap), padded with silence to 200 ms. As long as
    /// SIPp's RFC 4733 capture, so all of it has been played before the agent's phone answers
    /// (500 ms after its INVITE) and the relay counts stay exact.
    @Test(.enabled(if: haveSIPp, "SIPp (package sip-tester) is not installed"))
    func sippCallerPressesOneAsInbandTones() throws {
        let tones = DTMFToneGenerator()
        tones.queue("1")
        var payloads: [[UInt8]] = []
        var frame = [Int16](repeating: 0, count: 160)
        for _ in 0..<10 {
            frame.withUnsafeMutableBufferPointer { f in
                for i in 0..<f.count { f[i] = 0 }
                _ = tones.generate(into: f)
            }
            payloads.append(frame.map { G711.alaw.encode($0) })
        }
        try sippCallThroughTheMenu(
            scenario: "caller_menu_inband.xml", sets: ["trunks.0.dtmf": "inband"],
            files: ["inband_1.pcap": rtpCapture(payloadType: 8, payloads: payloads)], keyPackets: 10)
    }

    /// SIPp calls 100 with `scenario`, which presses 1 with a capture of `keyPackets` packets and
    /// then plays pcap/g711a.pcap (236 packets); a SIPp phone registered as agent 1001 answers.
    func sippCallThroughTheMenu(scenario: String, sets: [String: String] = [:], files: [String: [UInt8]] = [:], keyPackets: Int) throws {
        let daemon = try Daemon(sets: ["groups.0.wrap_up_seconds": "1", "media.timeout_seconds": "0"].merging(sets) { $1 })
        let phonePort = freePort(excluding: [daemon.sipPort])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sipp-agent-\(UUID().uuidString.prefix(6))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/pcap", withDestinationPath: "/usr/share/sip-tester")
        let phone = Process()
        phone.executableURL = URL(fileURLWithPath: sippPath!)
        phone.arguments = [
            "-sf", "\(scenarios)/agent_phone.xml", "-i", "127.0.0.1", "-p", String(phonePort), "-m", "1", "-nostdin", "-timeout", "40s",
            "-mi", "127.0.0.1", "-mp", String(freePort(excluding: [daemon.sipPort, phonePort])), "-trace_stat", "-stf", "\(dir)/stat.csv",
        ]
        phone.currentDirectoryURL = URL(fileURLWithPath: dir)
        phone.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        phone.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try phone.run()
        defer { if phone.isRunning { phone.terminate() } }
        let (regStatus, regStats, regOutput) = try sipp(
            daemon, scenario: "register_contact.xml", calls: 1, rate: 1, service: "1001",
            extra: ["-au", "1001", "-ap", "secret1001", "-key", "agent_port", String(phonePort)], timeout: 20)
        #expect(regStatus == 0 && regStats.successful == 1, "\(regOutput)")
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)

        let (status, stats, output) = try sipp(
            daemon, scenario: scenario, calls: 1, rate: 1, service: "100",
            extra: ["-mi", "127.0.0.1", "-mp", String(freePort(excluding: [daemon.sipPort, phonePort]))], files: files, timeout: 60)
        #expect(status == 0 && stats.successful == 1 && stats.failed == 0, "\(output)")
        let deadline = Date().addingTimeInterval(10)
        while phone.isRunning && Date() < deadline { usleep(50_000) }
        #expect(try SIPpStats(csv: "\(dir)/stat.csv").successful == 1, "the agent's phone scenario did not complete")

        func figure(_ line: Substring?, _ key: String) -> Int? {
            line?.split(separator: " ").first { $0.hasPrefix("\(key)=") }.flatMap { Int($0.split(separator: "=")[1]) }
        }
        #expect(eventually { daemon.log.contains("agent leg ended") && daemon.log.contains("call ended") })
        let lines = daemon.log.split(separator: "\n")
        let callerLine = lines.first { $0.contains("\"call ended\"") }
        let agentLine = lines.first { $0.contains("\"agent leg ended\"") }
        #expect(figure(callerLine, "call.rtp_packets_in") == 236 + keyPackets, "\(callerLine ?? "")")
        #expect(figure(agentLine, "rtp.packets_in") == 236, "\(agentLine ?? "")")
        #expect(figure(agentLine, "rtp.relayed") == 236, "the caller's speech did not all reach the agent: \(agentLine ?? "")")
        #expect(figure(callerLine, "rtp.relayed") == 236, "the agent's speech did not all reach the caller: \(callerLine ?? "")")
        let events = events(daemon)
        for e in ["ENTERQUEUE", "CONNECT", "COMPLETECALLER"] { #expect(events.contains(e), "queue_log has no \(e): \(events)") }
        #expect(try eventually(4) { try agentState(daemon, "1001") == "ready" })
        try expectNothingLeft(daemon)
        #expect(daemon.stop() == 0)
    }

    /// Feature codes from the agent's own phone, each confirmed by its prompt; a refused one
    /// (ready when logged out) says "invalid".
    @Test func agentChangesStateWithFeatureCodes() throws {
        let daemon = try Daemon()
        let phone = try AgentPhone("1002", daemon: daemon)
        func confirmed(_ code: String, _ prompt: String) throws {
            let heard = try phone.dial(code)
            let expected = try PromptAudio.samples(prompt)
            let n = min(4000, expected.count)
            let found = PromptAudio.locate(expected[0..<n], in: heard, maxStart: 4000)
            #expect(found.correlation > 0.99, "\(code) was not confirmed with \(prompt) (best match \(found))")
        }
        try confirmed("*11", "agent-logged-in")
        #expect(try agentState(daemon, "1002") == "ready")
        #expect(try daemon.control("agents").result?.arrayValue?.first { $0["id"] == "1002" }?["device"] == "sip:1002")
        try confirmed("*222", "agent-paused")
        let paused = try daemon.control("agents").result?.arrayValue?.first { $0["id"] == "1002" }
        #expect(paused?["state"] == "not-ready" && paused?["reason"] == "lunch", "\(paused ?? .null)")
        try confirmed("*21", "agent-ready")
        #expect(try agentState(daemon, "1002") == "ready")
        try confirmed("*12", "agent-logged-out")
        #expect(try agentState(daemon, "1002") == "logged-out")
        try confirmed("*21", "invalid")
        let events = events(daemon)
        for e in ["AGENTLOGIN", "PAUSE", "UNPAUSE", "AGENTLOGOFF"] { #expect(events.contains(e), "queue_log has no \(e): \(events)") }
        try expectNothingLeft(daemon)
        #expect(daemon.stop() == 0)
    }

    /// The agent's phone holds (re-INVITE sendonly): the caller hears the music on hold; it
    /// retrieves (sendrecv): the two hear each other again.
    @Test func agentHoldsAndRetrievesTheCaller() throws {
        let daemon = try Daemon()
        let phone = try AgentPhone("1001", daemon: daemon)
        try loginReady(daemon, "1001")
        var (call, sender) = try callSales(daemon)
        let agentRTP = try phone.answerNextCall()
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"]?.stringValue == "bridged" })

        let held = try phone.reinvite(direction: "sendonly", cseq: 101)
        #expect(held.status == .ok)
        #expect(try SDPSession.parse(held.body).media.first.map { $0.direction ?? .sendrecv } == .recvonly, "\(String(decoding: held.body, as: UTF8.self))")
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"]?.stringValue == "held" })
        while call.rtp.receive(timeoutMilliseconds: 5) != nil {}
        var heard: [Int16] = []
        while heard.count < 4000, let d = call.rtp.receive() {
            let h = try d.withUnsafeBytes { try RTPHeader.parse($0) }
            heard += d[h.payloadOffset...].map { G711.ulaw.decode($0) }
        }
        let moh = try PromptAudio.wav("\(packageRoot)/prompts/moh/default.wav")
        let music = PromptAudio.locate(heard[800..<2400], in: moh, maxStart: 79_000)
        #expect(music.correlation > 0.99, "the held caller does not hear the music on hold (best match \(music))")

        #expect(try phone.reinvite(direction: "sendrecv", cseq: 102).status == .ok)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"]?.stringValue == "bridged" })
        while call.rtp.receive(timeoutMilliseconds: 5) != nil {}
        let agentAudio = (0..<20).map { p in (0..<160).map { i in UInt8(truncatingIfNeeded: 200 - p * 3 - i) } }
        var agentSender = RTPSenderState()
        for p in 0..<20 {
            phone.rtp.send(packet(agentSender.next(payloadType: 0, samples: 160), payload: agentAudio[p]), to: agentRTP)
            call.talk(packets: 1, sender: &sender)
        }
        var back = 0
        while let d = call.rtp.receive(timeoutMilliseconds: 300) { if agentSetContains(Set(agentAudio), d) { back += 1 } }
        #expect(back == 20, "after retrieve the caller got \(back) of the agent's 20 packets")
        #expect(try call.hangUp(daemon)?.status == .ok)
        if let bye = try phone.nextRequest(.bye) { phone.respond(bye, .ok) }
        try expectNothingLeft(daemon)
        #expect(daemon.stop() == 0)
    }

    /// Blind transfer to another group, from the agent's phone (REFER) and from the control
    /// socket: the first agent's leg ends, the caller waits in support and the next agent gets
    /// the call; the queue log says BLINDTRANSFER.
    @Test func blindTransferToAGroup() throws {
        let daemon = try Daemon(sets: ["groups.0.wrap_up_seconds": "0", "groups.1.wrap_up_seconds": "0"])
        let alice = try AgentPhone("1001", daemon: daemon)
        let bob = try AgentPhone("1002", daemon: daemon)
        try loginReady(daemon, "1001")
        let (call, _) = try callSales(daemon)
        _ = try alice.answerNextCall()
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"]?.stringValue == "bridged" })
        try loginReady(daemon, "1002")

        // REFER from Alice's phone to support: 202, NOTIFY 200 sipfrag, BYE.
        #expect(try alice.refer(to: "support", cseq: 201).status == .accepted)
        let notifies = try alice.answerUntilBye()
        #expect(notifies.contains { $0.hasPrefix("SIP/2.0 200") }, "\(notifies)")
        _ = try bob.answerNextCall()
        #expect(try eventually {
            let c = try daemon.control("calls").result?.arrayValue?.first
            return c?["state"] == "bridged" && c?["agent"] == "1002" && c?["queue"] == "support"
        })
        #expect(events(daemon).contains("BLINDTRANSFER"), "\(events(daemon))")

        // From the control socket, back to sales, where Alice is ready again.
        let id = try #require(daemon.control("calls").result?.arrayValue?.first?["id"]?.doubleValue)
        #expect(try daemon.control("transfer", ["call": JSONValue(id), "group": "nowhere"]).error?.message.contains("no group") == true)
        #expect(try daemon.control("transfer", ["call": JSONValue(id), "group": "sales"]).ok)
        _ = try bob.answerUntilBye()
        _ = try alice.answerNextCall()
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["agent"] == "1001" })
        #expect(events(daemon).filter { $0 == "BLINDTRANSFER" }.count == 2)

        #expect(try call.hangUp(daemon)?.status == .ok)
        _ = try alice.answerUntilBye()
        let cdr = try lastRecord(daemon)
        #expect(cdr?["transfers"] == "group:support;group:sales" && cdr?["outcome"] == "connected" && cdr?["agent"] == "1001", "\(cdr ?? .null)")
        try expectNothingLeft(daemon)
        #expect(daemon.stop() == 0)
    }

    /// Menu 0: the voicemail prompt, a beep, the message until #, "saved", and the daemon hangs
    /// up; the WAV holds what the caller said and the index lists it.
    @Test func callerLeavesAVoicemail() throws {
        let daemon = try Daemon()
        let call = try place(daemon, number: "100")
        _ = call.rtp.receive()
        var sender = RTPSenderState()
        call.press(0, sender: &sender)  // over the welcome: the menu's 0, voicemail
        let deadline = Date().addingTimeInterval(20)
        while !daemon.log.contains("recording voicemail") && Date() < deadline { call.talk(packets: 5, sender: &sender) }
        #expect(daemon.log.contains("recording voicemail"))
        // Two seconds of speech-band audio that changes every packet, then #.
        let spoken: [[UInt8]] = (0..<100).map { p in
            (0..<160).map { i in
                let t = Double(p * 160 + i) / 8000
                return G711.ulaw.encode(Int16(9000 * sin(2 * .pi * (300 + 1500 * t) * t)))
            }
        }
        for p in spoken {
            call.rtp.send(packet(sender.next(payloadType: 0, samples: 160), payload: p), to: call.daemonRTPPort)
            usleep(20_000)
        }
        call.press(11, sender: &sender)  // #
        var bye: SIPRequest?
        let byeDeadline = Date().addingTimeInterval(15)
        while bye == nil && Date() < byeDeadline {
            call.talk(packets: 1, sender: &sender)
            if let b = call.sip.receive(timeoutMilliseconds: 1), case .request(let r) = try SIPParser().parse(b), r.method == .bye { bye = r }
        }
        let hangup = try #require(bye, "no BYE after the message was saved")
        call.sip.send(hangup.response(.ok).serialized(), to: daemon.sipPort)
        #expect(eventually { daemon.log.contains("voicemail saved") }, "\(daemon.log.suffix(2000))")

        let list = try #require(daemon.control("voicemail.list").result?.arrayValue)
        #expect(list.count == 1)
        let entry = try #require(list.first)
        #expect(entry["caller"] == "caller" && entry["box"] == "default" && entry["status"] == "new")
        let seconds = try #require(entry["seconds"]?.doubleValue)
        #expect(seconds >= 2.0 && seconds < 3.5, "\(seconds) s recorded")
        let path = try #require(entry["path"]?.stringValue)
        #expect(path.hasPrefix("\(daemon.state)/recordings/voicemail/") && path.hasSuffix(".wav"))
        let recorded = try PromptAudio.wav(path)
        let expected = spoken.flatMap { $0.map { G711.ulaw.decode($0) } }
        let found = PromptAudio.locate(expected[4000..<6000], in: recorded, maxStart: recorded.count - 2000)
        #expect(found.correlation > 0.99, "the message is not what the caller said (best match \(found))")
        #expect(try lastRecord(daemon)?["outcome"] == "voicemail")
        try expectNothingLeft(daemon)
        #expect(daemon.stop() == 0)
    }

    /// A caller who waits past the group's maximum is taken to voicemail (EXITWITHTIMEOUT); a
    /// message ended by hanging up is kept, as the group's callback.
    @Test func overflowOnTimeGoesToVoicemail() throws {
        let daemon = try Daemon(sets: ["groups.0.max_wait_seconds": "1", "groups.0.overflow": "voicemail"])
        var (call, sender) = try callSales(daemon)
        let deadline = Date().addingTimeInterval(20)
        while !daemon.log.contains("recording voicemail") && Date() < deadline { call.talk(packets: 5, sender: &sender) }
        #expect(daemon.log.contains("recording voicemail"))
        call.talk(packets: 60, sender: &sender)
        #expect(try call.hangUp(daemon)?.status == .ok)
        #expect(eventually { daemon.log.contains("voicemail saved") }, "\(daemon.log.suffix(2000))")
        #expect(events(daemon).contains("EXITWITHTIMEOUT"), "\(events(daemon))")
        // The index row is written on the store's writer after the log line.
        _ = try eventually { try daemon.control("voicemail.list").result?.arrayValue?.isEmpty == false }
        let entry = try #require(daemon.control("voicemail.list").result?.arrayValue?.first)
        #expect(entry["queue"] == "sales")
        try expectNothingLeft(daemon)
        #expect(daemon.stop() == 0)
    }

    /// A waiting caller hears "you are caller number 1" over the music every announce_seconds,
    /// and the music again afterwards.
    @Test func waitingCallerHearsTheirPosition() throws {
        let daemon = try Daemon(sets: ["groups.0.announce_seconds": "10"])
        var (call, sender) = try callSales(daemon)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"]?.stringValue == "queued" })
        var heard: [Int16] = []
        let until = Date().addingTimeInterval(14)
        while Date() < until {
            if let d = call.rtp.receive(timeoutMilliseconds: 20), let h = try? d.withUnsafeBytes({ try RTPHeader.parse($0) }) {
                heard += d[h.payloadOffset..<(h.payloadOffset + h.payloadLength)].map { G711.ulaw.decode($0) }
            }
            call.talk(packets: 0, sender: &sender)
        }
        let position = try PromptAudio.samples("caller-number")
        let found = PromptAudio.locate(position[2000..<3600], in: heard, maxStart: heard.count - 1600)
        #expect(found.correlation > 0.99, "no position announcement heard (best match \(found))")
        let one = try PromptAudio.samples("number-1")
        let after = Array(heard[min(heard.count, found.offset + position.count - 2000)...])
        let number = PromptAudio.locate(one[0..<min(1600, one.count)], in: after, maxStart: min(after.count - 1600, 4000))
        #expect(number.correlation > 0.99, "the position said is not 1 (best match \(number))")
        #expect(try call.hangUp(daemon)?.status == .ok)
        try expectNothingLeft(daemon)
        #expect(daemon.stop() == 0)
    }

    /// An agent's phone that stops sending RTP is hung up after media.timeout_seconds, and the
    /// caller with it; the agent's end is logged with its cause.
    @Test func silentAgentPhoneIsHungUp() throws {
        let daemon = try Daemon(sets: ["media.timeout_seconds": "2"])
        let phone = try AgentPhone("1001", daemon: daemon)
        try loginReady(daemon, "1001")
        var (call, sender) = try callSales(daemon)
        _ = try phone.answerNextCall()
        var bye: SIPRequest?
        let deadline = Date().addingTimeInterval(8)
        while bye == nil && Date() < deadline {
            call.talk(packets: 1, sender: &sender)  // the caller keeps talking; the phone says nothing
            if let b = call.sip.receive(timeoutMilliseconds: 1), case .request(let r) = try SIPParser().parse(b), r.method == .bye { bye = r }
        }
        let hangup = try #require(bye, "the caller was not hung up after the agent's phone went silent")
        call.sip.send(hangup.response(.ok).serialized(), to: daemon.sipPort)
        if let b = try phone.nextRequest(.bye) { phone.respond(b, .ok) }
        #expect(daemon.log.contains("no RTP from the agent's phone"))
        #expect(events(daemon).contains("COMPLETEAGENT"), "\(events(daemon))")
        try expectNothingLeft(daemon)
        #expect(daemon.stop() == 0)
    }

    /// An agent logged in with an external number is called through the trunk's outbound
    /// address, with the number as the Request-URI's user.
    @Test func agentOnAnExternalNumber() throws {
        let carrier = try UDPProbe(timeoutMilliseconds: 3000)
        let daemon = try Daemon(sets: ["trunks.0.outbound": "127.0.0.1:\(carrier.port)"])
        let far = try AgentPhone(unregistered: "mobile", sip: carrier, daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1004", "device": "tel:0301234567"]).ok)
        let (call, _) = try callSales(daemon)
        _ = try far.answerNextCall()
        #expect(far.invite?.uri.user == "0301234567")
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["agent"] == "1004" })
        #expect(try call.hangUp(daemon)?.status == .ok)
        _ = try far.answerUntilBye()
        try expectNothingLeft(daemon)
        #expect(daemon.stop() == 0)
    }

    /// Forwarding (FEATURES A7): on busy, on no answer, and always; the ACD sees the agent
    /// answer, whichever device did.
    @Test(arguments: ["busy", "no_answer", "always"])
    func forwarding(_ rule: String) throws {
        let target = try UDPProbe(timeoutMilliseconds: 3000)
        let daemon = try Daemon(sets: ["agents.0.forward_\(rule)": "sip:desk@127.0.0.1:\(target.port)", "agents.0.forward_no_answer_seconds": "1"])
        let phone = try AgentPhone("1001", daemon: daemon)
        let desk = try AgentPhone(unregistered: "desk", sip: target, daemon: daemon)
        try loginReady(daemon, "1001")
        let (call, _) = try callSales(daemon)
        switch rule {
        case "busy": try phone.refuseNextCall(.busyHere)
        case "no_answer": #expect(try phone.ringUntilCancelled(timeoutMilliseconds: 3000), "the phone was not cancelled after 1 s")
        default: #expect(try phone.nextRequest(.invite, timeoutMilliseconds: 500) == nil, "the agent's own phone rang despite forwarding")
        }
        _ = try desk.answerNextCall()
        #expect(try eventually {
            let c = try daemon.control("calls").result?.arrayValue?.first
            return c?["state"] == "bridged" && c?["agent"] == "1001"
        })
        #expect(try agentState(daemon, "1001") == "on-call")
        #expect(daemon.log.contains("agent.forward_to=sip:desk@127.0.0.1:\(target.port)"))
        #expect(try call.hangUp(daemon)?.status == .ok)
        _ = try desk.answerUntilBye()
        try expectNothingLeft(daemon)
        #expect(daemon.stop() == 0)
    }

    /// Transfer to one agent (REFER to sip:1002@…): the caller waits for Bob only, even while
    /// Carol is ready; then to a number (control socket): the carrier is called and bridged.
    @Test func blindTransferToAnAgentAndToANumber() throws {
        let carrier = try UDPProbe(timeoutMilliseconds: 3000)
        let daemon = try Daemon(sets: ["trunks.0.outbound": "127.0.0.1:\(carrier.port)", "groups.0.wrap_up_seconds": "0"])
        let alice = try AgentPhone("1001", daemon: daemon)
        let bob = try AgentPhone("1002", daemon: daemon)
        let carol = try AgentPhone("1003", daemon: daemon)
        let far = try AgentPhone(unregistered: "carrier", sip: carrier, daemon: daemon)
        try loginReady(daemon, "1001")
        let (call, _) = try callSales(daemon)
        _ = try alice.answerNextCall()
        // Bob is logged out: a caller sent to wait for him would wait for nobody.
        #expect(try alice.refer(to: "1002", cseq: 300).status == .temporarilyUnavailable)
        let callID = try #require(daemon.control("calls").result?.arrayValue?.first?["id"]?.doubleValue)
        let refused = try daemon.control("transfer", ["call": JSONValue(callID), "agent": "1002"])
        #expect(refused.error?.message == "agent 1002 is logged out", "\(refused)")
        #expect(try daemon.control("calls").result?.arrayValue?.first?["state"] == "bridged", "the call goes on")
        #expect(try daemon.control("agent.login", ["agent": "1002", "paused_reason": "break"]).ok)

        #expect(try alice.refer(to: "1002", cseq: 301).status == .accepted)
        _ = try alice.answerUntilBye()
        try loginReady(daemon, "1003")
        #expect(try carol.nextRequest(.invite, timeoutMilliseconds: 700) == nil, "Carol got a call transferred to Bob")
        #expect(try daemon.control("agent.ready", ["agent": "1002"]).ok)
        _ = try bob.answerNextCall()
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["agent"] == "1002" })

        let id = try #require(daemon.control("calls").result?.arrayValue?.first?["id"]?.doubleValue)
        #expect(try daemon.control("transfer", ["call": JSONValue(id), "number": "0309999"]).ok)
        _ = try bob.answerUntilBye()
        _ = try far.answerNextCall()
        #expect(far.invite?.uri.user == "0309999")
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "transferred" })
        let transfers = queueLog(daemon).filter { $0.count > 5 && $0[4] == "BLINDTRANSFER" }.map { $0[5] }
        #expect(transfers == ["agent:1002", "number:0309999"], "\(transfers)")
        #expect(try call.hangUp(daemon)?.status == .ok)
        _ = try far.answerUntilBye()
        try expectNothingLeft(daemon)
        #expect(daemon.stop() == 0)
    }

    /// The group's exit key takes a waiting caller out of the queue (EXITWITHKEY) to its exit
    /// target, voicemail by default.
    @Test func exitKeyLeavesTheQueueForVoicemail() throws {
        let daemon = try Daemon(sets: ["groups.0.exit_key": "*"])
        var (call, sender) = try callSales(daemon)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"]?.stringValue == "queued" })
        call.talk(packets: 5, sender: &sender)  // time passes on the stream before the next key
        call.press(10, sender: &sender)  // *
        let deadline = Date().addingTimeInterval(20)
        while !daemon.log.contains("recording voicemail") && Date() < deadline { call.talk(packets: 5, sender: &sender) }
        #expect(daemon.log.contains("recording voicemail"))
        #expect(events(daemon).contains("EXITWITHKEY"), "\(events(daemon))")
        #expect(try call.hangUp(daemon)?.status == .ok)
        try expectNothingLeft(daemon)
        #expect(daemon.stop() == 0)
    }
}

/// Whether the RTP packet `d` carries one of `payloads`.
func agentSetContains(_ payloads: Set<[UInt8]>, _ d: [UInt8]) -> Bool {
    guard let h = try? d.withUnsafeBytes({ try RTPHeader.parse($0) }) else { return false }
    return payloads.contains(Array(d[h.payloadOffset..<(h.payloadOffset + h.payloadLength)]))
}
