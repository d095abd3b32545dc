import Control
import Foundation
import JSON
import Media
import SIPMessage
import TestSupport
import Testing

/// What agents and supervisors do to a live call from `acdctl` (issue 18): force release and keys
/// to the caller, against the daemon on its default configuration with plain SIP/RTP peers.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct CallControlTests {
    let ctl = "\(binDir)/acdctl"

    func acdctl(_ daemon: Daemon, _ args: [String]) throws -> (status: Int32, output: String) {
        try run(ctl, ["--socket", daemon.socket] + args)
    }

    /// The caller's side waits for the daemon's BYE and answers it.
    func awaitBye(_ call: Call, from daemon: Daemon, seconds: Double = 3) throws -> SIPRequest? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline, let bytes = call.sip.receive() {
            guard case .request(let r) = try SIPParser().parse(bytes), r.method == .bye else { continue }
            call.sip.send(r.response(.ok).serialized(), to: daemon.sipPort)
            return r
        }
        return nil
    }

    /// The newest call in progress.
    func callID(_ daemon: Daemon) throws -> Int {
        try #require(try daemon.control("calls").result?.arrayValue?.compactMap { $0["id"]?.intValue }.max())
    }

    func lastRecord(_ daemon: Daemon) throws -> JSONValue {
        _ = try eventually { try daemon.control("cdr.list").result?.arrayValue?.isEmpty == false }
        return try #require(try daemon.control("cdr.list").result?.arrayValue?.last)
    }

    /// Release in the three states a supervisor meets: queued (the caller gets BYE, the ACD an
    /// abandon), ringing (the phone gets CANCEL) and bridged (both get BYE). Each record names
    /// the operator.
    @Test func releaseQueuedRingingAndBridged() throws {
        let daemon = try Daemon(sets: ["groups.0.wrap_up_seconds": "0"])
        defer { daemon.stop() }
        let me = ControlCommandsName.current

        // Queued: nobody logged in.
        let (queued, _) = try callSales(daemon, from: "0301111111")
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "queued" })
        let r = try acdctl(daemon, ["release", String(try callID(daemon))])
        #expect(r.status == 0 && r.output.contains("released by \(me)"), "\(r.output)")
        #expect(try awaitBye(queued, from: daemon) != nil, "the queued caller got no BYE")
        var record = try lastRecord(daemon)
        #expect(record["hangup_by"] == .string(me) && record["hangup_cause"] == "released by operator", "\(record)")
        #expect(record["outcome"] == "abandoned")

        // Ringing: the agent's phone rings and is cancelled.
        let phone = try AgentPhone("1001", daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)
        let (ringing, _) = try callSales(daemon, from: "0302222222")
        let invite = try #require(try phone.nextRequest(.invite), "the phone did not ring")
        phone.respond(invite, .ringing)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "ringing" })
        #expect(try acdctl(daemon, ["release", String(try callID(daemon))]).status == 0)
        #expect(try awaitBye(ringing, from: daemon) != nil, "the ringing caller got no BYE")
        let cancel = try #require(try phone.nextRequest(.cancel), "the ringing phone got no CANCEL")
        phone.respond(cancel, .ok)
        phone.respond(invite, .requestTerminated)
        record = try lastRecord(daemon)
        #expect(record["caller"] == "0302222222" && record["hangup_by"] == .string(me))

        // Bridged: both sides get BYE; the agent is free again.
        _ = try eventually(3) { try daemon.control("agents").result?.arrayValue?.first { $0["id"] == "1001" }?["state"] == "ready" }
        let (bridged, _) = try callSales(daemon, from: "0303333333")
        _ = try phone.answerNextCall(ringFor: 0.05)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "bridged" })
        #expect(try acdctl(daemon, ["release", String(try callID(daemon)), "--json"]).output.contains("\"released\""))
        #expect(try awaitBye(bridged, from: daemon) != nil, "the bridged caller got no BYE")
        let bye = try #require(try phone.nextRequest(.bye), "the agent's phone got no BYE")
        phone.respond(bye, .ok)
        record = try lastRecord(daemon)
        #expect(record["caller"] == "0303333333" && record["outcome"] == "connected" && record["hangup_by"] == .string(me), "\(record)")
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.isEmpty == true })

        // An unknown call is a clear error, and nothing else changes.
        let unknown = try acdctl(daemon, ["release", "999"])
        #expect(unknown.status != 0 && unknown.output.contains("no call 999"), "\(unknown.output)")
    }

    /// Keys to a caller who talks to someone: RFC 4733 events when the leg negotiated them (the
    /// first marked, all of one key under one timestamp, the end packet three times), tones in the
    /// audio when it did not (decoded back by spandsp's detector on the far side).
    @Test func keysReachTheCallerAsEventsOrTones() throws {
        let daemon = try Daemon()
        defer { daemon.stop() }
        // Two callers to the bridge test number talk to each other.
        let a = try place(daemon, number: "602", codecs: "0 101")
        let b = try place(daemon, number: "602", codecs: "0")
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.count == 2 })
        // Call ids follow the order of arrival: A first.
        let ids = try #require(try daemon.control("calls").result?.arrayValue).compactMap { $0["id"]?.intValue }.sorted()
        let (idA, idB) = (ids[0], ids[1])

        let sent = try acdctl(daemon, ["dtmf", String(idA), "12#"])
        #expect(sent.status == 0 && sent.output.contains("as rfc4733"), "\(sent.output)")
        var events: [(timestamp: UInt32, event: TelephoneEvent, marker: Bool)] = []
        let deadline = Date().addingTimeInterval(3)
        while Date() < deadline, events.filter({ $0.event.end }).count < 9, let d = a.rtp.receive() {
            let h = try d.withUnsafeBytes { try RTPHeader.parse($0) }
            guard h.payloadType == 101 else { continue }
            let e = try d[h.payloadOffset...].withUnsafeBytes { try TelephoneEvent.parse($0) }
            events.append((h.timestamp, e, h.marker))
        }
        var keys = ""
        var byTimestamp: [UInt32: Int] = [:]
        for e in events {
            if byTimestamp[e.timestamp] == nil { keys.append(TelephoneEvent.digit(e.event.event) ?? "?") }
            byTimestamp[e.timestamp, default: 0] += 1
            if e.marker { #expect(!e.event.end) }
        }
        #expect(keys == "12#", "\(events.map(\.event))")
        #expect(events.filter { $0.event.end }.count == 9, "three end packets per key")

        let tones = try acdctl(daemon, ["dtmf", String(idB), "47"])
        #expect(tones.status == 0 && tones.output.contains("as inband"), "\(tones.output)")
        let detector = InbandDTMFDetector()
        var heard: [Character] = []
        let until = Date().addingTimeInterval(3)
        while Date() < until, heard.count < 2, let d = b.rtp.receive() {
            let h = try d.withUnsafeBytes { try RTPHeader.parse($0) }
            guard h.payloadType == 0 else { continue }
            var pcm = d[h.payloadOffset...].map { G711.ulaw.decode($0) }
            heard += pcm.withUnsafeMutableBufferPointer { detector.feed($0) }
        }
        #expect(String(heard) == "47")

        let bad = try acdctl(daemon, ["dtmf", String(idA), "12x"])
        #expect(bad.status != 0 && bad.output.contains("is not 1 to 32 keys"), "\(bad.output)")
        _ = try a.hangUp(daemon)
    }

    /// Keys only go to a caller who talks to someone: over the IVR's prompts they would replace
    /// what the caller must hear.
    @Test func keysToACallerInTheIVRAreRefused() throws {
        let daemon = try Daemon()
        defer { daemon.stop() }
        let call = try place(daemon, number: "100")
        let id = try callID(daemon)
        let r = try acdctl(daemon, ["dtmf", String(id), "1"])
        #expect(r.status != 0 && r.output.contains("is not talking to anyone (ivr)"), "\(r.output)")
        #expect(try daemon.control("calls").result?.arrayValue?.first?["state"] == "ivr")
        _ = try call.hangUp(daemon)
    }


    /// Consult, then hand over (issue 18, FEATURES A4): the caller holds with music while Alice
    /// and Bob talk (each hears the other, the caller hears neither), then the caller talks to
    /// Bob, Alice's phone gets a BYE, and the queue log and the record say ATTENDEDTRANSFER.
    @Test func consultAnAgentThenCompleteTheTransfer() throws {
        let daemon = try Daemon(sets: ["groups.0.wrap_up_seconds": "0"])
        defer { daemon.stop() }
        let alice = try AgentPhone("1001", daemon: daemon)
        let bob = try AgentPhone("1002", daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)
        usleep(200_000)  // Alice has been idle longest
        let (call, _) = try callSales(daemon)
        var callerVoice = RTPSenderState()
        let alicePort = try alice.answerNextCall(ringFor: 0.05)
        #expect(try daemon.control("agent.login", ["agent": "1002"]).ok)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "bridged" })
        let id = try callID(daemon)

        let busy = try acdctl(daemon, ["consult", String(id), "--agent", "1001"])
        #expect(busy.status != 0 && busy.output.contains("is the one on the call"), "\(busy.output)")
        let consult = try acdctl(daemon, ["consult", String(id), "--agent", "1002"])
        #expect(consult.status == 0 && consult.output.contains("consulting agent:1002"), "\(consult.output)")
        let bobPort = try bob.answerNextCall(ringFor: 0.05)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "consulting" })
        var aliceVoice = RTPSenderState(), bobVoice = RTPSenderState()
        #expect(relayed(from: alice.rtp, to: bob.rtp, port: alicePort, seed: 1, sender: &aliceVoice) >= 28, "Bob did not hear Alice")
        #expect(relayed(from: bob.rtp, to: alice.rtp, port: bobPort, seed: 2, sender: &bobVoice) >= 28, "Alice did not hear Bob")
        #expect(relayed(from: alice.rtp, to: call.rtp, port: alicePort, seed: 3, sender: &aliceVoice) == 0, "the holding caller heard Alice")

        let done = try acdctl(daemon, ["transfer", String(id), "--complete"])
        #expect(done.status == 0 && done.output.contains("transferred to agent:1002"), "\(done.output)")
        let bye = try #require(try alice.nextRequest(.bye), "Alice's phone got no BYE")
        alice.respond(bye, .ok)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["agent"] == "1002" })
        #expect(relayed(from: call.rtp, to: bob.rtp, port: call.daemonRTPPort, seed: 4, sender: &callerVoice) >= 28, "Bob did not hear the caller")
        #expect(relayed(from: bob.rtp, to: call.rtp, port: bobPort, seed: 5, sender: &bobVoice) >= 28, "the caller did not hear Bob")

        #expect(try call.hangUp(daemon)?.status == .ok)
        if let bye = try bob.nextRequest(.bye) { bob.respond(bye, .ok) }
        let record = try lastRecord(daemon)
        #expect(record["agent"] == "1002" && record["transfers"] == "attended:agent:1002", "\(record)")
        let log = (try? String(contentsOfFile: "\(daemon.state)/queue_log", encoding: .utf8)) ?? ""
        #expect(log.contains("|ATTENDEDTRANSFER|BRIDGE|"), "\(log)")
        #expect(log.contains("|Agent/1002|COMPLETECALLER|"), "\(log)")
    }

    /// Consult, then return: Bob's phone is let go, the caller talks to Alice again.
    @Test func consultThenReturn() throws {
        let daemon = try Daemon(sets: ["groups.0.wrap_up_seconds": "0"])
        defer { daemon.stop() }
        let alice = try AgentPhone("1001", daemon: daemon)
        let bob = try AgentPhone("1002", daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)
        let (call, _) = try callSales(daemon)
        var callerVoice = RTPSenderState()
        let alicePort = try alice.answerNextCall(ringFor: 0.05)
        #expect(try daemon.control("agent.login", ["agent": "1002"]).ok)
        _ = try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "bridged" }
        let id = try callID(daemon)
        #expect(try acdctl(daemon, ["consult", String(id), "--group", "support"]).status == 0)
        let invite = try #require(try bob.nextRequest(.invite), "Bob's phone did not ring")
        bob.respond(invite, .ringing)
        #expect(try acdctl(daemon, ["return", String(id)]).status == 0)
        let cancel = try #require(try bob.nextRequest(.cancel), "Bob's phone was not let go")
        bob.respond(cancel, .ok)
        bob.respond(invite, .requestTerminated)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "bridged" })
        var aliceVoice = RTPSenderState()
        #expect(relayed(from: call.rtp, to: alice.rtp, port: call.daemonRTPPort, seed: 6, sender: &callerVoice) >= 28, "Alice did not hear the caller")
        #expect(relayed(from: alice.rtp, to: call.rtp, port: alicePort, seed: 7, sender: &aliceVoice) >= 28, "the caller did not hear Alice")
        let notConsulting = try acdctl(daemon, ["transfer", String(id), "--complete"])
        #expect(notConsulting.status != 0 && notConsulting.output.contains("is not consulting"), "\(notConsulting.output)")
        #expect(try call.hangUp(daemon)?.status == .ok)
        if let bye = try alice.nextRequest(.bye) { alice.respond(bye, .ok) }
        let record = try lastRecord(daemon)
        #expect(record["agent"] == "1001" && record["transfers"] == "", "\(record)")
    }

    /// Bad consult requests get a clear error and the call goes on.
    @Test func consultRequestsThatAreRefused() throws {
        let daemon = try Daemon()
        defer { daemon.stop() }
        let call = try place(daemon, number: "100")
        let id = try callID(daemon)
        let inIVR = try acdctl(daemon, ["consult", String(id), "--agent", "1002"])
        #expect(inIVR.status != 0 && inIVR.output.contains("is not talking to an agent (ivr)"), "\(inIVR.output)")
        let unknown = try acdctl(daemon, ["consult", "999", "--group", "sales"])
        #expect(unknown.status != 0 && unknown.output.contains("no call 999"))
        let noReturn = try acdctl(daemon, ["return", String(id)])
        #expect(noReturn.status != 0 && noReturn.output.contains("is not consulting"))
        #expect(try daemon.control("calls").result?.arrayValue?.first?["state"] == "ivr")
        _ = try call.hangUp(daemon)
    }

    /// The conference of three (FEATURES A4): each party's voice reaches the two others and not
    /// itself; when Bob leaves, the caller and Alice are bridged again.
    @Test func aConferenceOfThreeHearEachOther() throws {
        let daemon = try Daemon(sets: ["groups.0.wrap_up_seconds": "0"])
        defer { daemon.stop() }
        let alice = try AgentPhone("1001", daemon: daemon)
        let bob = try AgentPhone("1002", daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)
        let (call, _) = try callSales(daemon)
        let alicePort = try alice.answerNextCall(ringFor: 0.05)
        #expect(try daemon.control("agent.login", ["agent": "1002"]).ok)
        _ = try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "bridged" }
        let id = try callID(daemon)
        #expect(try acdctl(daemon, ["conference", String(id)]).output.contains("is not consulting"))
        #expect(try acdctl(daemon, ["consult", String(id), "--agent", "1002"]).status == 0)
        let bobPort = try bob.answerNextCall(ringFor: 0.05)
        let conf = try acdctl(daemon, ["conference", String(id)])
        #expect(conf.status == 0 && conf.output.contains("conference with agent:1002"), "\(conf.output)")
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "conference" })
        let parties = [(call.rtp, call.daemonRTPPort), (alice.rtp, alicePort), (bob.rtp, bobPort)].map { (rtp: $0.0, port: $0.1) }
        var senders = [RTPSenderState](repeating: RTPSenderState(), count: 3)
        // What was in flight before the mix (the caller's music) is not counted.
        usleep(200_000)
        let drainUntil = Date().addingTimeInterval(0.3)
        for party in parties { while Date() < drainUntil, party.rtp.receive(timeoutMilliseconds: 5) != nil {} }
        for speaker in 0..<3 {
            // Bob speaks at 1400 Hz, so the recording can be searched for him.
            let heard = speak(parties, speaker: speaker, senders: &senders, frequency: speaker == 2 ? 1400 : 600)
            for listener in 0..<3 where listener != speaker {
                #expect(heard[listener] > 1000, "party \(listener) did not hear party \(speaker): \(heard)")
            }
            #expect(heard[speaker] * 5 < heard.filter { $0 != heard[speaker] }.min()!, "party \(speaker) heard itself: \(heard)")
        }
        // Bob leaves: the caller and Alice talk again, bridged.
        #expect(try bob.hangUp(cseq: 30)?.status == .ok)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "bridged" })
        var callerVoice = RTPSenderState(), aliceVoice = RTPSenderState()
        #expect(relayed(from: call.rtp, to: alice.rtp, port: call.daemonRTPPort, seed: 8, sender: &callerVoice) >= 28)
        #expect(relayed(from: alice.rtp, to: call.rtp, port: alicePort, seed: 9, sender: &aliceVoice) >= 28)
        #expect(try call.hangUp(daemon)?.status == .ok)
        if let bye = try alice.nextRequest(.bye) { alice.respond(bye, .ok) }
        let record = try lastRecord(daemon)
        #expect(record["transfers"] == "conference:agent:1002")
        // One file for the call, with the third party in it (mixed into the agent's channel).
        let wav = try daemon.lastRecording()
        #expect(wav.channels == 2)
        #expect(PromptAudio.power(wav.right[...], 1400) > 100 * PromptAudio.power(wav.left[...], 1400), "the recording does not hold the party consulted")
    }


    /// A supervisor on an agent's call (FEATURES O3), checked by energy: listening, they hear
    /// both sides and neither hears them; whispering (their key 2) only the agent hears them;
    /// barging (acdctl monitor-mode) both do. Hanging up leaves the caller and the agent bridged.
    @Test func aSupervisorListensWhispersAndBargesIn() throws {
        let daemon = try Daemon(sets: ["groups.0.wrap_up_seconds": "0"])
        defer { daemon.stop() }
        let alice = try AgentPhone("1001", daemon: daemon)
        let supervisor = try AgentPhone("1003", daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)
        let (call, _) = try callSales(daemon)
        let id = try callID(daemon)
        let early = try acdctl(daemon, ["monitor", String(id), "--device", "sip:1003"])
        #expect(early.status != 0 && early.output.contains("is not a caller talking to an agent"), "\(early.output)")
        let alicePort = try alice.answerNextCall(ringFor: 0.05)
        _ = try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "bridged" }
        let unknown = try acdctl(daemon, ["monitor", "999", "--device", "sip:1003"])
        #expect(unknown.status != 0 && unknown.output.contains("no call 999"), "\(unknown.output)")
        let badMode = try acdctl(daemon, ["monitor", String(id), "--device", "sip:1003", "--mode", "shout"])
        #expect(badMode.status != 0 && badMode.output.contains("listen, whisper, whisper-caller, barge"), "\(badMode.output)")
        let nobody = try acdctl(daemon, ["monitor", String(id), "--device", "sip:1004"])
        #expect(nobody.status != 0 && nobody.output.contains("phone 1004 is not registered"), "\(nobody.output)")

        let subscriber = try ControlClient(path: daemon.socket)
        #expect(try subscriber.call("subscribe", args: ["topics": ["call"]]).ok)
        let r = try acdctl(daemon, ["monitor", String(id), "--device", "sip:1003"])
        #expect(r.status == 0 && r.output.contains("to listen on agent 1001"), "\(r.output)")
        let supervisorPort = try supervisor.answerNextCall(ringFor: 0.05)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["monitor"]?["state"] == "monitoring" })
        let again = try acdctl(daemon, ["monitor", String(id), "--device", "sip:1003"])
        #expect(again.status != 0 && again.output.contains("is monitored already"), "\(again.output)")

        let parties = [(call.rtp, call.daemonRTPPort), (alice.rtp, alicePort), (supervisor.rtp, supervisorPort)].map { (rtp: $0.0, port: $0.1) }
        var senders = [RTPSenderState](repeating: RTPSenderState(), count: 3)
        usleep(200_000)
        let drainUntil = Date().addingTimeInterval(0.3)
        for party in parties { while Date() < drainUntil, party.rtp.receive(timeoutMilliseconds: 5) != nil {} }
        let (caller, agent, sup) = (0, 1, 2)

        // Listen: the supervisor hears both sides; nobody hears the supervisor.
        settle(parties, senders: &senders)
        var heard = speak(parties, speaker: caller, senders: &senders)
        #expect(heard[agent] > 1000 && heard[sup] > 1000, "caller speaking, listen: \(heard)")
        settle(parties, senders: &senders)
        heard = speak(parties, speaker: agent, senders: &senders)
        #expect(heard[caller] > 1000 && heard[sup] > 1000, "agent speaking, listen: \(heard)")
        settle(parties, senders: &senders)
        heard = speak(parties, speaker: sup, senders: &senders)
        #expect(heard[caller] < 50 && heard[agent] < 50, "the listening supervisor was heard: \(heard)")

        // Key 2 on the supervisor's phone: whisper to the agent only.
        pressRFC4733(2, from: supervisor.rtp, to: supervisorPort, sender: &senders[sup])
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["monitor"]?["mode"] == "whisper" })
        settle(parties, senders: &senders)
        heard = speak(parties, speaker: sup, senders: &senders)
        #expect(heard[agent] > 1000 && heard[caller] < 50, "whisper: \(heard)")
        settle(parties, senders: &senders)
        heard = speak(parties, speaker: caller, senders: &senders)
        #expect(heard[agent] > 1000 && heard[sup] > 1000, "caller speaking, whisper: \(heard)")

        // Barge from acdctl: all three hear each other.
        let barge = try acdctl(daemon, ["monitor-mode", String(id), "barge"])
        #expect(barge.status == 0, "\(barge.output)")
        settle(parties, senders: &senders)
        heard = speak(parties, speaker: sup, senders: &senders)
        #expect(heard[agent] > 1000 && heard[caller] > 1000, "barge: \(heard)")

        // The supervisor hangs up: the caller and the agent are bridged as before.
        #expect(try supervisor.hangUp(cseq: 40)?.status == .ok)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["monitor"] == .null })
        var callerVoice = senders[caller], aliceVoice = senders[agent]
        #expect(relayed(from: call.rtp, to: alice.rtp, port: call.daemonRTPPort, seed: 11, sender: &callerVoice) >= 28)
        #expect(relayed(from: alice.rtp, to: call.rtp, port: alicePort, seed: 12, sender: &aliceVoice) >= 28)
        let noMonitor = try acdctl(daemon, ["monitor-mode", String(id), "listen"])
        #expect(noMonitor.status != 0 && noMonitor.output.contains("is not being monitored"), "\(noMonitor.output)")
        #expect(try call.hangUp(daemon)?.status == .ok)
        if let bye = try alice.nextRequest(.bye) { alice.respond(bye, .ok) }
        let log = daemon.log
        #expect(log.contains("supervisor monitors the call") && log.contains("monitoring ends"))
        // Each step of the session was an event on the operators' stream, naming who.
        var steps: [String] = []
        while !steps.contains("ended") {
            let e = try JSONDecoder().decode(JSONValue.self, from: Data(try subscriber.readLine()))
            guard e["type"] == "monitor" else { continue }
            #expect(e["data"]?["by"] == .string(ControlCommandsName.current) && e["call"] == JSONValue(id), "\(e)")
            steps.append(e["data"]?["state"]?.stringValue ?? "?")
        }
        #expect(steps == ["ringing", "started", "mode", "mode", "ended"], "\(steps)")
    }

    /// Reload (FEATURES O4) with a held, a consulting, a bridged and then a conferenced call:
    /// none is dropped, each keeps its state and its audio, and each ends with its record.
    @Test func reloadKeepsHeldConsultingBridgedAndConferencedCalls() throws {
        let daemon = try Daemon(sets: ["groups.0.wrap_up_seconds": "0"])
        defer { daemon.stop() }
        let phones = try ["1001", "1002", "1003", "1004"].map { try AgentPhone($0, daemon: daemon) }
        func state(of agent: String) throws -> String? {
            try daemon.control("calls").result?.arrayValue?.first { $0["agent"]?.stringValue == agent }?["state"]?.stringValue
        }
        func id(of agent: String) throws -> Int {
            try #require(try daemon.control("calls").result?.arrayValue?.first { $0["agent"]?.stringValue == agent }?["id"]?.intValue)
        }
        // A talks to 1001, who holds; B to 1002, who consults 1003; C to 1004.
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)
        let (a, _) = try callSales(daemon, from: "0301000001")
        let port1 = try phones[0].answerNextCall(ringFor: 0.05)
        _ = try eventually { try state(of: "1001") == "bridged" }
        #expect(try phones[0].reinvite(direction: "sendonly", cseq: 30).status == .ok)
        #expect(try eventually { try state(of: "1001") == "held" })
        #expect(try daemon.control("agent.login", ["agent": "1002"]).ok)
        let (b, _) = try callSales(daemon, from: "0301000002")
        let port2 = try phones[1].answerNextCall(ringFor: 0.05)
        _ = try eventually { try state(of: "1002") == "bridged" }
        #expect(try daemon.control("agent.login", ["agent": "1003"]).ok)
        #expect(try acdctl(daemon, ["consult", String(try id(of: "1002")), "--agent", "1003"]).status == 0)
        let port3 = try phones[2].answerNextCall(ringFor: 0.05)
        _ = try eventually { try state(of: "1002") == "consulting" }
        #expect(try daemon.control("agent.login", ["agent": "1004"]).ok)
        let (c, _) = try callSales(daemon, from: "0301000003")
        let port4 = try phones[3].answerNextCall(ringFor: 0.05)
        _ = try eventually { try state(of: "1004") == "bridged" }

        let reload = try acdctl(daemon, ["reload"])
        #expect(reload.status == 0, "\(reload.output)")
        #expect(try daemon.control("calls").result?.arrayValue?.count == 3)
        #expect(try state(of: "1001") == "held" && state(of: "1002") == "consulting" && state(of: "1004") == "bridged")
        var voices = [RTPSenderState](repeating: RTPSenderState(), count: 8)
        // C and 1004 still talk.
        #expect(relayed(from: c.rtp, to: phones[3].rtp, port: c.daemonRTPPort, seed: 21, sender: &voices[0]) >= 28, "1004 lost the caller after the reload")
        #expect(relayed(from: phones[3].rtp, to: c.rtp, port: port4, seed: 22, sender: &voices[1]) >= 28, "the caller lost 1004 after the reload")
        // 1002 and 1003 still consult; B holds and hears neither.
        #expect(relayed(from: phones[1].rtp, to: phones[2].rtp, port: port2, seed: 23, sender: &voices[2]) >= 28, "1003 lost 1002 after the reload")
        #expect(relayed(from: phones[2].rtp, to: phones[1].rtp, port: port3, seed: 24, sender: &voices[3]) >= 28, "1002 lost 1003 after the reload")
        #expect(relayed(from: phones[2].rtp, to: b.rtp, port: port3, seed: 25, sender: &voices[3]) == 0, "the holding caller heard the consult")
        // 1001 retrieves A: they talk again.
        #expect(try phones[0].reinvite(direction: "sendrecv", cseq: 31).status == .ok)
        #expect(try eventually { try state(of: "1001") == "bridged" })
        // Seconds of music wait in the caller's socket, which is full: read them out first, or
        // the agent's first packets are dropped by our own socket.
        let drained = Date().addingTimeInterval(0.5)
        while Date() < drained, a.rtp.receive(timeoutMilliseconds: 20) != nil {}
        #expect(relayed(from: a.rtp, to: phones[0].rtp, port: a.daemonRTPPort, seed: 26, sender: &voices[4]) >= 28, "1001 lost the caller after the reload")
        #expect(relayed(from: phones[0].rtp, to: a.rtp, port: port1, seed: 27, sender: &voices[5]) >= 28, "the caller lost 1001 after the reload")

        // B, 1002 and 1003 in a conference, through a second reload.
        #expect(try acdctl(daemon, ["conference", String(try id(of: "1002"))]).status == 0)
        _ = try eventually { try state(of: "1002") == "conference" }
        #expect(try acdctl(daemon, ["reload"]).status == 0)
        #expect(try state(of: "1002") == "conference" && daemon.control("calls").result?.arrayValue?.count == 3)
        let parties = [(b.rtp, b.daemonRTPPort), (phones[1].rtp, port2), (phones[2].rtp, port3)].map { (rtp: $0.0, port: $0.1) }
        var senders = [RTPSenderState](repeating: RTPSenderState(), count: 3)
        senders[1] = voices[2]
        senders[2] = voices[3]
        usleep(200_000)
        let drainUntil = Date().addingTimeInterval(0.3)
        for party in parties { while Date() < drainUntil, party.rtp.receive(timeoutMilliseconds: 5) != nil {} }
        for speaker in 0..<3 {
            let heard = speak(parties, speaker: speaker, senders: &senders)
            for listener in 0..<3 where listener != speaker {
                #expect(heard[listener] > 1000, "after the reload party \(listener) did not hear party \(speaker): \(heard)")
            }
        }

        // Every call ends with its record.
        for (caller, phone) in [(a, phones[0]), (b, phones[1]), (c, phones[3])] {
            #expect(try caller.hangUp(daemon)?.status == .ok)
            if let bye = try phone.nextRequest(.bye) { phone.respond(bye, .ok) }
        }
        if let bye = try phones[2].nextRequest(.bye) { phones[2].respond(bye, .ok) }
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.isEmpty == true })
        #expect(try eventually { try daemon.control("cdr.list").result?.arrayValue?.count == 3 })
        let records = try #require(try daemon.control("cdr.list").result?.arrayValue)
        #expect(Set(records.compactMap { $0["caller"]?.stringValue }) == ["0301000001", "0301000002", "0301000003"])
        #expect(records.allSatisfy { $0["outcome"] == "connected" }, "\(records)")
    }

    /// A real phone as the supervisor's (FEATURES O3): baresip, registered as 1003 and answering
    /// by itself, is rung by `acdctl monitor` and hears both sides of the call, the caller's
    /// 600 Hz and the agent's 1400 Hz, in what its sndfile module recorded.
    @Test(.enabled(if: baresipPath != nil, "baresip is not installed; scripts/setup.sh installs it"))
    func baresipMonitorsACallAndHearsBothSides() throws {
        let daemon = try Daemon(sets: ["groups.0.wrap_up_seconds": "0"])
        defer { daemon.stop() }
        let supervisor = try Baresip(
            state: daemon.state, account: "<sip:1003@127.0.0.1:\(daemon.sipPort);transport=udp>;auth_pass=secret1003;answermode=auto;regint=600;audio_codecs=PCMU",
            avoiding: [daemon.sipPort], dumpAudio: true)
        defer { supervisor.stop() }
        #expect(try eventually(10) { try daemon.control("registrations").result?.arrayValue?.contains { $0["aor"] == "1003" } == true })
        let alice = try AgentPhone("1001", daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)
        let (call, _) = try callSales(daemon)
        let alicePort = try alice.answerNextCall(ringFor: 0.05)
        _ = try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "bridged" }
        let id = try callID(daemon)
        #expect(try acdctl(daemon, ["monitor", String(id), "--device", "sip:1003"]).status == 0)
        #expect(try eventually(5) { try daemon.control("calls").result?.arrayValue?.first?["monitor"]?["state"] == "monitoring" })
        var callerVoice = RTPSenderState(), aliceVoice = RTPSenderState()
        for t in 0..<100 {
            let tone = { (f: Double) in (0..<160).map { n in G711.ulaw.encode(Int16(6000 * sin(2 * Double.pi * f * Double(t * 160 + n) / 8000))) } }
            call.rtp.send(packet(callerVoice.next(payloadType: 0, samples: 160), payload: tone(600)), to: call.daemonRTPPort)
            alice.rtp.send(packet(aliceVoice.next(payloadType: 0, samples: 160), payload: tone(1400)), to: alicePort)
            usleep(20_000)
        }
        supervisor.command("/hangup")
        #expect(try eventually(5) { try daemon.control("calls").result?.arrayValue?.first?["monitor"] == .null })
        var heard: [Int16] = []
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let file = supervisor.receivedAudioFiles.first, let s = try? PromptAudio.wav(file), s.count > 8000 {
                heard = s
                break
            }
            usleep(200_000)
        }
        #expect(heard.count > 8000, "baresip recorded \(heard.count) samples")
        let quiet = PromptAudio.power(heard[...], 2500)
        #expect(PromptAudio.power(heard[...], 600) > 100 * quiet && PromptAudio.power(heard[...], 1400) > 100 * quiet, "the supervisor did not hear both sides")
        #expect(try call.hangUp(daemon)?.status == .ok)
        if let bye = try alice.nextRequest(.bye) { alice.respond(bye, .ok) }
    }
}

/// The name the daemon gives the operator running these tests.
enum ControlCommandsName {
    static var current: String {
        if let pw = getpwuid(getuid()), let name = String(validatingCString: pw.pointee.pw_name) { return "operator:\(name)" }
        return "operator:uid=\(getuid())"
    }
}
