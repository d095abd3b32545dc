import Foundation
import JSON
import Media
import SIPMessage
import TestSupport
import Testing

/// An agent on the host's sound card (FEATURES A1, issue 18), through an ALSA `file` device that
/// stands in for the card as the O6 test's does: what the card plays lands in out.raw, what it
/// captures comes from in.raw.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct SoundCardAgentTests {
    static func samples(_ path: String) -> [Int16] {
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: path)) else { return [] }
        return stride(from: 0, to: data.count - 1, by: 2).map { Int16(bitPattern: UInt16(data[$0]) | UInt16(data[$0 + 1]) << 8) }
    }

    func level(_ x: ArraySlice<Int16>, _ f: Double) -> Double { PromptAudio.power(x, f) }
    func level(_ x: [Int16], _ f: Double) -> Double { PromptAudio.power(x.dropFirst(1600), f) }

    /// ALSA `file` devices in a fresh folder: what the card plays lands in `out`, and it
    /// captures `seconds` of a 1 kHz tone (the voice at the card).
    struct Card {
        let dir: String
        var out: String { "\(dir)/out.raw" }
        var environment: [String: String] { ["ALSA_CONFIG_PATH": "/usr/share/alsa/alsa.conf:\(dir)/asound.conf"] }
        var played: [Int16] { SoundCardAgentTests.samples(out) }

        init(_ name: String, seconds: Int) throws {
            dir = "/tmp/acdd-\(name)-\(UUID().uuidString.prefix(6))"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            // Two file devices: the file plugin also writes what it captures to its `file`, which
            // must not mix with what the card played.
            let conf = """
                pcm.!default { type asym
                  playback.pcm { type file slave.pcm "null" file "\(dir)/out.raw" format "raw" }
                  capture.pcm { type file slave.pcm "null" file "\(dir)/captured.raw" infile "\(dir)/in.raw" format "raw" } }

                """
            try conf.write(toFile: "\(dir)/asound.conf", atomically: true, encoding: .utf8)
            let voice = (0..<(seconds * 8000)).map { i in Int16(8000 * sin(2 * Double.pi * 1000 * Double(i) / 8000)) }
            try Data(voice.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: UInt16(bitPattern: $0) >> 8)] }).write(to: URL(fileURLWithPath: "\(dir)/in.raw"))
        }

        /// What the card played while `body` ran, less its first 300 ms (rings and buffers).
        func playedDuring(_ body: () throws -> Void) rethrows -> ArraySlice<Int16> {
            let from = played.count
            try body()
            return played.dropFirst(from + 2400)
        }
    }

    /// The ACD's offer rings the card (the ring's 440 + 480 Hz on the card); `acdctl agent
    /// answer` bridges it: the caller's 600 Hz tone reaches the card and the card's input (a
    /// 1 kHz tone) reaches the caller; `acdctl agent hangup` ends the conversation like a phone's
    /// BYE (COMPLETEAGENT, the caller gets BYE).
    @Test func anAgentAnswersAndTalksOnTheSoundCard() throws {
        let card = try Card("cardagent", seconds: 10)
        let dir = card.dir
        let daemon = try Daemon(sets: ["groups.0.wrap_up_seconds": "0"], environment: card.environment)
        defer { daemon.stop() }
        let ctl = "\(binDir)/acdctl"
        let login = try run(ctl, ["--socket", daemon.socket, "agent", "login", "1001", "--device", "alsa:default"])
        #expect(login.status == 0, "\(login.output)")
        let early = try run(ctl, ["--socket", daemon.socket, "agent", "answer", "1001"])
        #expect(early.status != 0 && early.output.contains("has no call ringing"), "\(early.output)")

        let (call, sender) = try callSales(daemon)
        var callerVoice = sender
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "ringing" })
        usleep(600_000)
        let ring = Self.samples("\(dir)/out.raw")
        #expect(ring.count >= 3200, "the card played \(ring.count) samples while ringing")
        #expect(level(ring.suffix(3200), 440) > 100 * level(ring.suffix(3200), 1000), "the card did not ring")

        let answered = try run(ctl, ["--socket", daemon.socket, "agent", "answer", "1001"])
        #expect(answered.status == 0 && answered.output.contains("answered call"), "\(answered.output)")
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "bridged" })
        let ringEnd = Self.samples("\(dir)/out.raw").count
        // The caller says 600 Hz for 1.5 s and hears the card's input.
        var heard: [Int16] = []
        for t in 0..<75 {
            let payload = (0..<160).map { n in G711.ulaw.encode(Int16(6000 * sin(2 * Double.pi * 600 * Double(t * 160 + n) / 8000))) }
            call.rtp.send(packet(callerVoice.next(payloadType: 0, samples: 160), payload: payload), to: call.daemonRTPPort)
            usleep(20_000)
            while let d = call.rtp.receive(timeoutMilliseconds: 0) {
                guard let h = try? d.withUnsafeBytes({ try RTPHeader.parse($0) }), h.payloadType == 0 else { continue }
                if t >= 25 { heard += d[h.payloadOffset..<(h.payloadOffset + h.payloadLength)].map { G711.ulaw.decode($0) } }
            }
        }
        #expect(heard.count > 30 * 160, "the caller heard \(heard.count) samples")
        #expect(level(heard[...], 1000) > 100 * level(heard[...], 600), "the caller did not hear the card's input")
        let talk = Self.samples("\(dir)/out.raw").dropFirst(ringEnd + 4000)
        #expect(talk.count > 4000, "the card played \(talk.count) samples after the answer")
        #expect(level(talk, 600) > 100 * level(talk, 440), "the card did not play the caller")

        let hungUp = try run(ctl, ["--socket", daemon.socket, "agent", "hangup", "1001"])
        #expect(hungUp.status == 0, "\(hungUp.output)")
        var bye = false
        let deadline = Date().addingTimeInterval(3)
        while Date() < deadline, !bye, let b = call.sip.receive() {
            if case .request(let r) = try SIPParser().parse(b), r.method == .bye {
                call.sip.send(r.response(.ok).serialized(), to: daemon.sipPort)
                bye = true
            }
        }
        #expect(bye, "the caller got no BYE when the agent hung up")
        let log = (try? String(contentsOfFile: "\(daemon.state)/queue_log", encoding: .utf8)) ?? ""
        #expect(log.contains("|Agent/1001|CONNECT|") && log.contains("|Agent/1001|COMPLETEAGENT|"), "\(log)")
        #expect(try eventually(3) { try daemon.control("agents").result?.arrayValue?.first { $0["id"] == "1001" }?["state"] == "ready" })
        // Recorded as any call: the caller left, the card's input right.
        let wav = try daemon.lastRecording()
        #expect(level(wav.left[...], 600) > 100 * level(wav.left[...], 1000), "the recording's left channel is not the caller")
        #expect(level(wav.right[...], 1000) > 100 * level(wav.right[...], 600), "the recording's right channel is not the card")
    }

    /// A sound-card agent consults (acdctl): the card hears ringback, then talks with the party
    /// consulted (the card's 1 kHz reaches Bob, Bob's 1400 Hz reaches the card), and the hand-over
    /// leaves the caller with Bob (ATTENDEDTRANSFER) and the card silent.
    @Test func aSoundCardAgentConsultsAndHandsOver() throws {
        let card = try Card("cardconsult", seconds: 20)
        let dir = card.dir
        let daemon = try Daemon(sets: ["groups.0.wrap_up_seconds": "0"], environment: card.environment)
        defer { daemon.stop() }
        let ctl = "\(binDir)/acdctl"
        let bob = try AgentPhone("1002", daemon: daemon)
        #expect(try run(ctl, ["--socket", daemon.socket, "agent", "login", "1001", "--device", "alsa:default"]).status == 0)
        let (call, _) = try callSales(daemon)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "ringing" })
        #expect(try run(ctl, ["--socket", daemon.socket, "agent", "answer", "1001"]).status == 0)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "bridged" })
        #expect(try daemon.control("agent.login", ["agent": "1002"]).ok)
        let id = try #require(try daemon.control("calls").result?.arrayValue?.first?["id"]?.intValue)
        let consult = try run(ctl, ["--socket", daemon.socket, "consult", String(id), "--agent", "1002"])
        #expect(consult.status == 0, "\(consult.output)")
        let invite = try #require(try bob.nextRequest(.invite), "Bob's phone was not rung")
        bob.respond(invite, .ringing)
        let before = Self.samples("\(dir)/out.raw").count
        usleep(500_000)
        let ringback = Self.samples("\(dir)/out.raw").dropFirst(before)
        #expect(ringback.count > 2400 && level(ringback, 440) > 100 * level(ringback, 1000), "the card heard no ringback")
        bob.invite = invite
        bob.respond(invite, .ok, sdp: true)
        _ = try #require(try bob.nextRequest(.ack))
        let bobPort = try #require(SDPSession.parse(invite.body).media.first?.port)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "consulting" })
        let talkFrom = Self.samples("\(dir)/out.raw").count
        var bobVoice = RTPSenderState()
        var heard: [Int16] = []
        for t in 0..<75 {
            let payload = (0..<160).map { n in G711.ulaw.encode(Int16(6000 * sin(2 * Double.pi * 1400 * Double(t * 160 + n) / 8000))) }
            bob.rtp.send(packet(bobVoice.next(payloadType: 0, samples: 160), payload: payload), to: bobPort)
            usleep(20_000)
            while let d = bob.rtp.receive(timeoutMilliseconds: 0) {
                guard let h = try? d.withUnsafeBytes({ try RTPHeader.parse($0) }), h.payloadType == 0 else { continue }
                if t >= 25 { heard += d[h.payloadOffset..<(h.payloadOffset + h.payloadLength)].map { G711.ulaw.decode($0) } }
            }
        }
        #expect(heard.count > 30 * 160 && level(heard[...], 1000) > 100 * level(heard[...], 1400), "Bob did not hear the card")
        let cardHeard = Self.samples("\(dir)/out.raw").dropFirst(talkFrom + 4000)
        #expect(cardHeard.count > 4000 && level(cardHeard, 1400) > 100 * level(cardHeard, 440), "the card did not hear Bob")

        let done = try run(ctl, ["--socket", daemon.socket, "transfer", String(id), "--complete"])
        #expect(done.status == 0 && done.output.contains("transferred to agent:1002"), "\(done.output)")
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["agent"] == "1002" })
        #expect(eventually { daemon.log.contains("sound card leg ended") })
        let log = (try? String(contentsOfFile: "\(daemon.state)/queue_log", encoding: .utf8)) ?? ""
        #expect(log.contains("|Agent/1001|ATTENDEDTRANSFER|BRIDGE|"), "\(log)")
        #expect(try call.hangUp(daemon)?.status == .ok)
        if let bye = try bob.nextRequest(.bye) { bob.respond(bye, .ok) }
    }

    /// Puts the caller through to 1001 on the card and answers it there.
    func cardAgentCall(_ daemon: Daemon) throws -> (Call, id: Int) {
        let ctl = "\(binDir)/acdctl"
        #expect(try run(ctl, ["--socket", daemon.socket, "agent", "login", "1001", "--device", "alsa:default"]).status == 0)
        let (call, _) = try callSales(daemon)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "ringing" })
        #expect(try run(ctl, ["--socket", daemon.socket, "agent", "answer", "1001"]).status == 0)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "bridged" })
        return (call, try #require(try daemon.control("calls").result?.arrayValue?.first?["id"]?.intValue))
    }

    /// A supervisor at the host's sound card (O3, `--device alsa:default`): the card joins at
    /// once and hears both sides while neither hears it; barging, both do; `monitor-stop` puts the
    /// card down and leaves the caller and the agent bridged.
    @Test func aSupervisorListensAndBargesInFromTheSoundCard() throws {
        let card = try Card("cardsupervisor", seconds: 30)
        let daemon = try Daemon(sets: ["groups.0.wrap_up_seconds": "0"], environment: card.environment)
        defer { daemon.stop() }
        let ctl = "\(binDir)/acdctl"
        let alice = try AgentPhone("1001", daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)
        let (call, _) = try callSales(daemon)
        let alicePort = try alice.answerNextCall(ringFor: 0.05)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "bridged" })
        let id = try #require(try daemon.control("calls").result?.arrayValue?.first?["id"]?.intValue)
        let r = try run(ctl, ["--socket", daemon.socket, "monitor", String(id), "--device", "alsa:default"])
        #expect(r.status == 0 && r.output.contains("to listen on agent 1001"), "\(r.output)")
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["monitor"]?["state"] == "monitoring" })
        let parties: [Party] = [(call.rtp, call.daemonRTPPort), (alice.rtp, alicePort)]
        var senders = [RTPSenderState](repeating: RTPSenderState(), count: 2)
        settle(parties, senders: &senders)

        // Listening: the caller says 600 Hz, Alice 1400 Hz, the card 1 kHz.
        var heard: [[Int16]] = []
        let listened = card.playedDuring { heard = exchange(parties, tones: [600, 1400], senders: &senders) }
        #expect(listened.count > 4000, "the card played \(listened.count) samples")
        #expect(level(listened, 600) > 100 * level(listened, 1000) && level(listened, 1400) > 100 * level(listened, 1000), "the card did not hear both sides")
        #expect(level(heard[0], 1400) > 100 * level(heard[0], 1000), "the caller heard the listening card")
        #expect(level(heard[1], 600) > 100 * level(heard[1], 1000), "the agent heard the listening card")

        // Barging: both hear the card.
        #expect(try run(ctl, ["--socket", daemon.socket, "monitor-mode", String(id), "barge"]).status == 0)
        settle(parties, senders: &senders)
        heard = exchange(parties, tones: [nil, nil], senders: &senders)
        #expect(level(heard[0], 1000) > 100 * level(heard[0], 1400) && level(heard[1], 1000) > 100 * level(heard[1], 600), "barging, the card was not heard")

        let stop = try run(ctl, ["--socket", daemon.socket, "monitor-stop", String(id)])
        #expect(stop.status == 0 && stop.output.contains("alsa:default no longer monitors"), "\(stop.output)")
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["monitor"] == .null })
        #expect(eventually { daemon.log.contains("sound card leg ended") })
        // Closing the device may still flush its 100 ms buffer into the file; after that the
        // file must stop growing (a card left playing grows it by 8,000 samples a second).
        #expect(eventually(3) {
            let before = card.played.count
            usleep(300_000)
            return card.played.count == before
        }, "the card still plays after monitor-stop")
        var callerVoice = senders[0], aliceVoice = senders[1]
        #expect(relayed(from: call.rtp, to: alice.rtp, port: call.daemonRTPPort, seed: 21, sender: &callerVoice) >= 28)
        #expect(relayed(from: alice.rtp, to: call.rtp, port: alicePort, seed: 22, sender: &aliceVoice) >= 28)
        let again = try run(ctl, ["--socket", daemon.socket, "monitor-stop", String(id)])
        #expect(again.status != 0 && again.output.contains("is not being monitored"), "\(again.output)")
        #expect(try call.hangUp(daemon)?.status == .ok)
        if let bye = try alice.nextRequest(.bye) { alice.respond(bye, .ok) }
    }

    /// A supervisor's phone on a sound-card agent's call: listening, it hears the caller and the
    /// card and nobody hears it; whispering, only the card does; the recording keeps the card's
    /// side to the end and never holds the supervisor.
    @Test func aSupervisorWhispersToASoundCardAgent() throws {
        let card = try Card("cardwhisper", seconds: 30)
        let daemon = try Daemon(sets: ["groups.0.wrap_up_seconds": "0"], environment: card.environment)
        defer { daemon.stop() }
        let ctl = "\(binDir)/acdctl"
        let supervisor = try AgentPhone("1003", daemon: daemon)
        let (call, id) = try cardAgentCall(daemon)
        #expect(try run(ctl, ["--socket", daemon.socket, "monitor", String(id), "--device", "sip:1003"]).status == 0)
        let supervisorPort = try supervisor.answerNextCall(ringFor: 0.05)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["monitor"]?["state"] == "monitoring" })
        let parties: [Party] = [(call.rtp, call.daemonRTPPort), (supervisor.rtp, supervisorPort)]
        var senders = [RTPSenderState](repeating: RTPSenderState(), count: 2)
        settle(parties, senders: &senders)

        // The caller says 600 Hz, the supervisor 1400 Hz, the card 1 kHz.
        var heard: [[Int16]] = []
        var cardHeard = card.playedDuring { heard = exchange(parties, tones: [600, 1400], senders: &senders) }
        #expect(level(heard[1], 600) > 100 * level(heard[1], 1400) && level(heard[1], 1000) > 100 * level(heard[1], 1400), "the supervisor did not hear both sides")
        #expect(level(heard[0], 1000) > 100 * level(heard[0], 1400), "the caller heard the listening supervisor")
        #expect(cardHeard.count > 4000 && level(cardHeard, 600) > 100 * level(cardHeard, 1400), "the card heard the listening supervisor")

        #expect(try run(ctl, ["--socket", daemon.socket, "monitor-mode", String(id), "whisper"]).status == 0)
        settle(parties, senders: &senders)
        cardHeard = card.playedDuring { heard = exchange(parties, tones: [600, 1400], senders: &senders) }
        #expect(level(cardHeard, 1400) > 100 * level(cardHeard, 1000), "the whisper did not reach the card")
        #expect(level(heard[0], 1000) > 100 * level(heard[0], 1400), "the caller heard the whisper")

        #expect(try run(ctl, ["--socket", daemon.socket, "monitor-stop", String(id)]).status == 0)
        let bye = try #require(try supervisor.nextRequest(.bye), "the supervisor's phone got no BYE")
        supervisor.respond(bye, .ok)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["monitor"] == .null })
        settle(Array(parties.prefix(1)), senders: &senders)
        cardHeard = card.playedDuring { heard = exchange(Array(parties.prefix(1)), tones: [600], senders: &senders) }
        #expect(level(heard[0], 1000) > 100 * level(heard[0], 1400), "after the monitoring the caller does not hear the card")
        #expect(level(cardHeard, 600) > 100 * level(cardHeard, 1400), "after the monitoring the card does not hear the caller")
        #expect(try run(ctl, ["--socket", daemon.socket, "agent", "hangup", "1001"]).status == 0)

        let wav = try daemon.lastRecording()
        #expect(level(wav.right[...], 1000) > 100 * level(wav.right[...], 1400), "the supervisor is in the recording")
        let last = wav.right.suffix(4000)
        #expect(level(last, 1000) > 100 * level(last, 1400), "the card's side left the recording after the monitoring")
        _ = call
    }

    /// A sound-card agent makes a conference: the card, the caller and Bob each hear the two
    /// others; Bob leaving leaves the caller with the card; the recording holds Bob.
    @Test func aSoundCardAgentMakesAConference() throws {
        let card = try Card("cardconference", seconds: 30)
        let daemon = try Daemon(sets: ["groups.0.wrap_up_seconds": "0"], environment: card.environment)
        defer { daemon.stop() }
        let ctl = "\(binDir)/acdctl"
        let bob = try AgentPhone("1002", daemon: daemon)
        let (call, id) = try cardAgentCall(daemon)
        #expect(try daemon.control("agent.login", ["agent": "1002"]).ok)
        #expect(try run(ctl, ["--socket", daemon.socket, "consult", String(id), "--agent", "1002"]).status == 0)
        let bobPort = try bob.answerNextCall(ringFor: 0.05)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "consulting" })
        #expect(try run(ctl, ["--socket", daemon.socket, "conference", String(id)]).status == 0)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "conference" })
        let parties: [Party] = [(call.rtp, call.daemonRTPPort), (bob.rtp, bobPort)]
        var senders = [RTPSenderState](repeating: RTPSenderState(), count: 2)
        settle(parties, senders: &senders)

        // The caller says 600 Hz, Bob 1400 Hz, the card 1 kHz.
        var heard: [[Int16]] = []
        var cardHeard = card.playedDuring { heard = exchange(parties, tones: [600, 1400], senders: &senders) }
        #expect(level(heard[0], 1400) > 100 * level(heard[0], 600) && level(heard[0], 1000) > 100 * level(heard[0], 600), "the caller does not hear Bob and the card")
        #expect(level(heard[1], 600) > 100 * level(heard[1], 1400) && level(heard[1], 1000) > 100 * level(heard[1], 1400), "Bob does not hear the caller and the card")
        #expect(cardHeard.count > 4000 && level(cardHeard, 600) > 100 * level(cardHeard, 1000) && level(cardHeard, 1400) > 100 * level(cardHeard, 1000), "the card does not hear the caller and Bob")

        #expect(try bob.hangUp(cseq: 30)?.status == .ok)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "bridged" })
        settle(Array(parties.prefix(1)), senders: &senders)
        cardHeard = card.playedDuring { heard = exchange(Array(parties.prefix(1)), tones: [600], senders: &senders) }
        #expect(level(heard[0], 1000) > 100 * level(heard[0], 1400), "after the conference the caller does not hear the card")
        #expect(level(cardHeard, 600) > 100 * level(cardHeard, 1400), "after the conference the card does not hear the caller")
        #expect(try run(ctl, ["--socket", daemon.socket, "agent", "hangup", "1001"]).status == 0)

        let wav = try daemon.lastRecording()
        #expect(level(wav.right[...], 1400) > 100 * level(wav.left[...], 1400), "the recording does not hold Bob")
        #expect(level(wav.right[...], 1000) > 100 * level(wav.left[...], 1000), "the recording does not hold the card")
    }

    /// A card that cannot be opened is a phone that cannot be reached: the ACD hears a decline
    /// and the agent goes on as the group's rules say; the log names the device and why.
    @Test func aSoundCardThatCannotOpenIsADecline() throws {
        let daemon = try Daemon(sets: ["groups.0.wrap_up_seconds": "0"])
        defer { daemon.stop() }
        #expect(try run("\(binDir)/acdctl", ["--socket", daemon.socket, "agent", "login", "1001", "--device", "alsa:nosuchcard"]).status == 0)
        let (call, _) = try callSales(daemon)
        #expect(eventually { daemon.log.contains("sound card cannot ring") })
        #expect(daemon.log.contains("nosuchcard"))
        #expect(try daemon.control("calls").result?.arrayValue?.first?["state"] == "queued")
        _ = try call.hangUp(daemon)
    }
}
