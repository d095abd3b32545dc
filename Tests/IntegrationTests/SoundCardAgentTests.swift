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

    /// The ACD's offer rings the card (the ring's 440 + 480 Hz on the card); `acdctl agent
    /// answer` bridges it: the caller's 600 Hz tone reaches the card and the card's input (a
    /// 1 kHz tone) reaches the caller; `acdctl agent hangup` ends the conversation like a phone's
    /// BYE (COMPLETEAGENT, the caller gets BYE).
    @Test func anAgentAnswersAndTalksOnTheSoundCard() throws {
        let dir = "/tmp/acdd-cardagent-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "pcm.!default { type file slave.pcm \"null\" file \"\(dir)/out.raw\" infile \"\(dir)/in.raw\" format \"raw\" }\n".write(
            toFile: "\(dir)/asound.conf", atomically: true, encoding: .utf8)
        let voice = (0..<80_000).map { i in Int16(8000 * sin(2 * Double.pi * 1000 * Double(i) / 8000)) }
        try Data(voice.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: UInt16(bitPattern: $0) >> 8)] }).write(to: URL(fileURLWithPath: "\(dir)/in.raw"))
        let daemon = try Daemon(
            sets: ["groups.0.wrap_up_seconds": "0"], environment: ["ALSA_CONFIG_PATH": "/usr/share/alsa/alsa.conf:\(dir)/asound.conf"])
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
        _ = try eventually { try daemon.control("cdr.list").result?.arrayValue?.isEmpty == false }
        let unique = try #require(try daemon.control("cdr.list").result?.arrayValue?.last?["unique_id"]?.stringValue)
        #expect(try eventually { try daemon.control("recording.info", ["unique_id": .string(unique)]).result?["status"] == "complete" })
        let path = try #require(try daemon.control("recording.info", ["unique_id": .string(unique)]).result?["path"]?.stringValue)
        let wav = try RecordingCDRTests.stereo(path)
        #expect(level(wav.left[...], 600) > 100 * level(wav.left[...], 1000), "the recording's left channel is not the caller")
        #expect(level(wav.right[...], 1000) > 100 * level(wav.right[...], 600), "the recording's right channel is not the card")
    }

    /// A sound-card agent consults (acdctl): the card hears ringback, then talks with the party
    /// consulted (the card's 1 kHz reaches Bob, Bob's 1400 Hz reaches the card), and the hand-over
    /// leaves the caller with Bob (ATTENDEDTRANSFER) and the card silent.
    @Test func aSoundCardAgentConsultsAndHandsOver() throws {
        let dir = "/tmp/acdd-cardconsult-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "pcm.!default { type file slave.pcm \"null\" file \"\(dir)/out.raw\" infile \"\(dir)/in.raw\" format \"raw\" }\n".write(
            toFile: "\(dir)/asound.conf", atomically: true, encoding: .utf8)
        let voice = (0..<160_000).map { i in Int16(8000 * sin(2 * Double.pi * 1000 * Double(i) / 8000)) }
        try Data(voice.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: UInt16(bitPattern: $0) >> 8)] }).write(to: URL(fileURLWithPath: "\(dir)/in.raw"))
        let daemon = try Daemon(
            sets: ["groups.0.wrap_up_seconds": "0"], environment: ["ALSA_CONFIG_PATH": "/usr/share/alsa/alsa.conf:\(dir)/asound.conf"])
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
