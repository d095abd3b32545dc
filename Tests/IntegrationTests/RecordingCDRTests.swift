import Control
import Foundation
import Media
import SIPMessage
import Testing
import TestSupport
import JSON

/// Recording of bridged calls and call-detail records, end to end on the default configuration:
/// a raw trunk caller reaches sales, a raw registered phone answers, and what the files and the
/// database hold afterwards is checked against what the two sides sent.
@Suite(.serialized, .timeLimit(.minutes(2))) struct RecordingCDRTests {

    /// Deterministic noise, µ-law encoded: easy to find again by correlation, and never silent.
    static func noise(seed: UInt32, packets: Int) -> [[UInt8]] {
        var x = seed
        return (0..<packets).map { _ in
            (0..<160).map { _ in
                x = x &* 1_664_525 &+ 1_013_904_223
                return G711.ulaw.encode(Int16(truncatingIfNeeded: Int(x >> 16) % 12_000 - 6000))
            }
        }
    }

    static func decoded(_ packets: [[UInt8]]) -> [Int16] { packets.flatMap { $0.map { G711.ulaw.decode($0) } } }

    /// 8 kHz 16-bit stereo WAV: (channels, left, right).
    static func stereo(_ path: String) throws -> (channels: Int, left: [Int16], right: [Int16]) {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        func le32(_ i: Int) -> Int { Int(bytes[i]) | Int(bytes[i + 1]) << 8 | Int(bytes[i + 2]) << 16 | Int(bytes[i + 3]) << 24 }
        var channels = 0
        var offset = 12
        while offset + 8 <= bytes.count {
            let id = String(decoding: bytes[offset..<(offset + 4)], as: UTF8.self)
            let size = le32(offset + 4)
            if id == "fmt " { channels = Int(bytes[offset + 10]) }
            if id == "data" {
                let samples = stride(from: offset + 8, to: min(bytes.count, offset + 8 + size) - 1, by: 2).map {
                    Int16(bitPattern: UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8)
                }
                if channels == 1 { return (1, samples, []) }
                return (channels, stride(from: 0, to: samples.count - 1, by: 2).map { samples[$0] }, stride(from: 1, to: samples.count, by: 2).map { samples[$0] })
            }
            offset += 8 + size + (size & 1)
        }
        throw ProbeError("\(path) has no data chunk")
    }

    /// A caller in sales bridged to agent 1001's registered phone; returns both ends and when the
    /// agent answered.
    func bridgedCall(_ daemon: Daemon) throws -> (call: Call, sender: RTPSenderState, phone: AgentPhone, agentRTP: Int, answeredAt: Date) {
        let phone = try AgentPhone("1001", daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)
        let (call, sender) = try callSales(daemon)
        let agentRTP = try phone.answerNextCall(ringFor: 0.05)
        return (call, sender, phone, agentRTP, Date())
    }

    func cdrs(_ daemon: Daemon) throws -> [JSONValue] { try #require(daemon.control("cdr.list").result?.arrayValue) }

    @Test func aBridgedCallIsRecordedInStereoWithAPauseThatKeepsTheTimeline() throws {
        let daemon = try Daemon(sets: ["groups.0.wrap_up_seconds": "1"])
        defer { daemon.stop() }
        var (call, sender, phone, agentRTP, answeredAt) = try bridgedCall(daemon)
        let callID = try #require(daemon.control("calls").result?.arrayValue?.first?["id"])

        // 3 s each way: the second second with the recording paused.
        let callerAudio = Self.noise(seed: 7, packets: 150)
        let agentAudio = Self.noise(seed: 99, packets: 150)
        var agentSender = RTPSenderState()
        // Paced on absolute deadlines, so the packets keep to the wall clock the file follows.
        let begin = Date()
        for p in 0..<150 {
            if p == 50 { #expect(try daemon.control("recording.pause", ["call": callID]).ok) }
            if p == 100 { #expect(try daemon.control("recording.resume", ["call": callID]).ok) }
            call.rtp.send(packet(sender.next(payloadType: 0, samples: 160), payload: callerAudio[p]), to: call.daemonRTPPort)
            phone.rtp.send(packet(agentSender.next(payloadType: 0, samples: 160), payload: agentAudio[p]), to: agentRTP)
            let wait = begin.addingTimeInterval(Double(p + 1) * 0.02).timeIntervalSinceNow
            if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
        }
        usleep(100_000)
        #expect(try call.hangUp(daemon)?.status == .ok)
        let bridged = Date().timeIntervalSince(answeredAt)
        if let bye = try phone.nextRequest(.bye) { phone.respond(bye, .ok) }

        // One record, written when the call ended.
        let records = try cdrs(daemon)
        try #require(records.count == 1, "\(records)")
        let cdr = records[0]
        #expect(cdr["outcome"] == "connected" && cdr["agent"] == "1001" && cdr["queue"] == "sales" && cdr["trunk"] == "local")
        #expect(cdr["hangup_by"] == "caller" && cdr["hangup_cause"] == "caller hung up" && cdr["disposition"] == "ANSWERED")
        #expect(cdr["ivr_path"]?.stringValue?.hasPrefix("welcome") == true, "\(cdr)")
        #expect((cdr["talk_seconds"]?.doubleValue ?? 0) >= 3 && (cdr["billable"]?.doubleValue ?? 0) >= 3, "\(cdr)")
        let unique = try #require(cdr["unique_id"]?.stringValue)
        let path = try #require(cdr["recording_path"]?.stringValue)
        #expect(path.hasPrefix("\(daemon.state)/recordings/") && path.hasSuffix("/\(unique).wav"))

        // The index has the file once it is complete: its SHA-256 and the paused time.
        #expect(try eventually { try daemon.control("recording.info", ["unique_id": .string(unique)]).ok })
        let info = try #require(daemon.control("recording.info", ["unique_id": .string(unique)]).result)
        #expect(info["status"] == "complete" && info["channels"] == 2 && info["dropped_frames"] == 0, "\(info)")
        let paused = info["paused_seconds"]?.doubleValue ?? 0
        #expect(paused > 0.7 && paused < 1.5, "\(info)")
        let sum = try run("/usr/bin/sha256sum", [path])
        #expect(info["sha256"]?.stringValue == String(sum.output.prefix(64)))
        #expect(try cdrs(daemon).first?["recording_status"] == "complete")
        // The frames waited in the media loop's pool: one 40 KiB chunk at least, kept.
        let recordings = try #require(daemon.status()["recordings"])
        #expect(recordings["frames_dropped"] == 0 && (recordings["frame_pool_kib"]?.doubleValue ?? 0) >= 40, "\(recordings)")

        // The file: stereo, as long as the bridged part, the caller on the left, the agent on
        // the right, silence where it was paused, and the audio after the pause where it was sent.
        let wav = try Self.stereo(path)
        #expect(wav.channels == 2)
        let seconds = Double(wav.left.count) / 8000
        #expect(abs(seconds - bridged) < 0.5, "the file lasts \(seconds) s; the bridge \(bridged) s")
        let caller = Self.decoded(callerAudio), agent = Self.decoded(agentAudio)
        let atLeft = PromptAudio.locate(caller[1600..<5600], in: wav.left, maxStart: wav.left.count)
        #expect(atLeft.correlation > 0.99, "the caller's audio is not in the left channel: \(atLeft)")
        let atRight = PromptAudio.locate(agent[1600..<5600], in: wav.right, maxStart: wav.right.count)
        #expect(atRight.correlation > 0.99, "the agent's audio is not in the right channel: \(atRight)")
        #expect(PromptAudio.locate(agent[1600..<5600], in: wav.left, maxStart: wav.left.count).correlation < 0.3, "the agent is in the left channel")
        let start = atLeft.offset - 1600  // where the caller's first packet lies in the file
        let pausedPart = (start + 60 * 160)..<(start + 90 * 160)
        #expect(wav.left[pausedPart].allSatisfy { $0 == 0 } && wav.right[pausedPart].allSatisfy { $0 == 0 }, "the paused part is not silent")
        // After the pause the caller's audio is where it was sent, give or take the network's
        // jitter on loopback (100 ms): a pause that cut the file would put it a second early.
        let after = caller[(110 * 160)..<(140 * 160)]
        let window = Array(wav.left[max(0, start + 110 * 160 - 800)..<min(wav.left.count, start + 140 * 160 + 800)])
        let resumed = PromptAudio.locate(after, in: window, maxStart: window.count)
        #expect(resumed.correlation > 0.99 && abs(resumed.offset - 800) <= 800, "after the pause the caller's audio is not where it was sent: \(resumed)")

        // CSV for tools that read Asterisk's Master.csv.
        let csv = try run("\(binDir)/acdctl", ["--socket", daemon.socket, "cdr", "list", "--csv"])
        let lines = csv.output.split(separator: "\n")
        #expect(lines.count == 2 && lines[0].hasPrefix("accountcode,src,dst,") && lines[1].hasPrefix("\"local\",\"caller\",\"100\","), "\(csv.output)")
        #expect(lines.count == 2 && lines[1].contains("\"\(unique)\""))
    }

    /// A disk that fills during the call (a 64 KiB tmpfs for the recordings: 2 s of stereo): the
    /// call goes on with all its audio, an alarm goes out while it runs, and the record says the
    /// recording failed.
    @Test func aFullDiskFailsTheRecordingNotTheCall() throws {
        let small = FileManager.default.temporaryDirectory.appendingPathComponent("acdd-full-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: true)
        let mounted = try run("/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", small])
        try #require(mounted.status == 0, "mounting a 64 KiB tmpfs needs root (make test runs as root): \(mounted.output)")
        defer { _ = try? run("/bin/umount", [small]) }
        let daemon = try Daemon(sets: ["paths.recordings": small])
        defer { daemon.stop() }
        let alarms = try ControlClient(path: daemon.socket)
        #expect(try alarms.call("subscribe", args: ["topics": ["alarm"]]).ok)
        var (call, sender, phone, _, _) = try bridgedCall(daemon)
        let callerAudio = Self.noise(seed: 3, packets: 200)
        var atAgent = 0
        for p in 0..<200 {
            call.rtp.send(packet(sender.next(payloadType: 0, samples: 160), payload: callerAudio[p]), to: call.daemonRTPPort)
            usleep(20_000)
            while let d = phone.rtp.receive(timeoutMilliseconds: 0) { if callerAudio.contains(Array(d[12...])) { atAgent += 1 } }
        }
        while let d = phone.rtp.receive(timeoutMilliseconds: 300) { if callerAudio.contains(Array(d[12...])) { atAgent += 1 } }
        #expect(atAgent == 200, "the agent got \(atAgent) of 200 packets after the disk filled")
        let alarm = try JSONDecoder().decode(JSONValue.self, from: Data(try alarms.readLine()))
        #expect(alarm["event"] == "alarm" && alarm["type"] == "recording_failed", "\(alarm)")
        #expect(alarm["error"]?.stringValue?.contains("No space left") == true, "\(alarm)")
        #expect(try daemon.control("calls").result?.arrayValue?.first?["state"] == "bridged", "the call did not go on")
        #expect(try daemon.status()["recordings"]?["failed"] == 1)
        #expect(try call.hangUp(daemon)?.status == .ok)
        if let bye = try phone.nextRequest(.bye) { phone.respond(bye, .ok) }
        let cdr = try #require(try cdrs(daemon).first)
        #expect(cdr["outcome"] == "connected")
        #expect(try eventually { try cdrs(daemon).first?["recording_status"] == "failed" }, "\(cdr)")
        let unique = try #require(cdr["unique_id"]?.stringValue)
        #expect(try eventually { try daemon.control("recording.info", ["unique_id": .string(unique)]).ok })
        let info = try #require(daemon.control("recording.info", ["unique_id": .string(unique)]).result)
        #expect(info["status"] == "failed" && info["failure"]?.stringValue?.contains("No space left") == true, "\(info)")
        #expect((info["seconds"]?.doubleValue ?? 0) > 0.5, "what fitted is kept: \(info)")
    }

    /// The record of a call is on disk by the time the caller has the 200 for their BYE: a
    /// `kill -9` at that moment loses nothing, for either side hanging up.
    @Test(arguments: ["caller", "agent"])
    func aRecordSurvivesKillNineRightAfterTheCallEnds(_ who: String) throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("acdd-kill-\(UUID().uuidString.prefix(8))").path
        var unique: String?
        do {
            let daemon = try Daemon(state: state)
            var (call, sender, phone, _, _) = try bridgedCall(daemon)
            call.talk(packets: 10, sender: &sender)
            unique = try daemon.control("calls").result?.arrayValue?.first?["unique_id"]?.stringValue
            if who == "caller" {
                #expect(try call.hangUp(daemon)?.status == .ok)
            } else {
                #expect(try phone.hangUp()?.status == .ok)
            }
            kill(daemon.process.processIdentifier, SIGKILL)
            daemon.process.waitUntilExit()
        }
        let again = try Daemon(state: state)
        defer { again.stop() }
        let records = try cdrs(again)
        #expect(records.count == 1 && records.first?["unique_id"]?.stringValue == unique, "\(records)")
        #expect(records.first?["hangup_by"]?.stringValue == who, "\(records)")
    }

    /// The host's sound card, through an ALSA `file` device standing in for it: a call's recording
    /// plays sample for sample, and a prompt recorded from the card becomes a prompt file.
    @Test func theSoundCardPlaysARecordingAndRecordsAPrompt() throws {
        let dir = "/tmp/acdd-card-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "pcm.!default { type file slave.pcm \"null\" file \"\(dir)/out.raw\" infile \"\(dir)/in.raw\" format \"raw\" }\n".write(
            toFile: "\(dir)/asound.conf", atomically: true, encoding: .utf8)
        _ = try run("/bin/cp", ["-r", "\(packageRoot)/prompts", "\(dir)/prompts"])
        let daemon = try Daemon(
            sets: ["paths.prompts": "\(dir)/prompts"], environment: ["ALSA_CONFIG_PATH": "/usr/share/alsa/alsa.conf:\(dir)/asound.conf"])
        defer { daemon.stop() }
        var (call, sender, phone, agentRTP, _) = try bridgedCall(daemon)
        let callerAudio = Self.noise(seed: 5, packets: 50)
        var agentSender = RTPSenderState()
        for p in 0..<50 {
            call.rtp.send(packet(sender.next(payloadType: 0, samples: 160), payload: callerAudio[p]), to: call.daemonRTPPort)
            phone.rtp.send(packet(agentSender.next(payloadType: 0, samples: 160), payload: Self.noise(seed: 8, packets: 50)[p]), to: agentRTP)
            usleep(20_000)
        }
        #expect(try call.hangUp(daemon)?.status == .ok)
        if let bye = try phone.nextRequest(.bye) { phone.respond(bye, .ok) }
        let unique = try #require(try cdrs(daemon).first?["unique_id"]?.stringValue)
        #expect(try eventually { try daemon.control("recording.info", ["unique_id": .string(unique)]).ok })
        let path = try #require(daemon.control("recording.info", ["unique_id": .string(unique)]).result?["path"]?.stringValue)

        let played = try run("\(binDir)/acdctl", ["--socket", daemon.socket, "recording", "play", unique])
        #expect(played.status == 0 && played.output.contains("played"), "\(played.output)")
        let wav = try Self.stereo(path)
        let interleaved = zip(wav.left, wav.right).flatMap { [$0, $1] }
        let out = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/out.raw"))
        let card = stride(from: 0, to: out.count - 1, by: 2).map { Int16(bitPattern: UInt16(out[$0]) | UInt16(out[$0 + 1]) << 8) }
        #expect(card.count == interleaved.count && card == interleaved, "the card got \(card.count) samples, the file has \(interleaved.count)")

        // A prompt from the card's input: 440 Hz.
        let tone = (0..<16_000).map { i in Int16(8000 * sin(2 * Double.pi * 440 * Double(i) / 8000)) }
        try Data(tone.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: UInt16(bitPattern: $0) >> 8)] }).write(to: URL(fileURLWithPath: "\(dir)/in.raw"))
        let recorded = try run("\(binDir)/acdctl", ["--socket", daemon.socket, "prompt", "record", "thanks", "--seconds", "1"])
        #expect(recorded.status == 0 && recorded.output.contains("en/thanks.wav"), "\(recorded.output)")
        let prompt = try PromptAudio.wav("\(dir)/prompts/en/thanks.wav")
        #expect(prompt == Array(tone.prefix(8000)))
        let again = try run("\(binDir)/acdctl", ["--socket", daemon.socket, "prompt", "record", "thanks", "--seconds", "1"])
        #expect(again.status == 1 && again.output.contains("exists"), "\(again.output)")
        #expect(try daemon.control("prompt.record", ["name": "../etc/x"]).error?.code == .invalidArgument)
        #expect(try daemon.control("reload").ok)
        #expect(try daemon.control("recording.play", ["unique_id": "no-such-call"]).error?.code == .notFound)
    }
}

extension Daemon {
    /// The recording of the call whose record is newest, once the daemon says it is complete.
    func lastRecording() throws -> (channels: Int, left: [Int16], right: [Int16]) {
        _ = try eventually { try control("cdr.list").result?.arrayValue?.isEmpty == false }
        let unique = try #require(try control("cdr.list").result?.arrayValue?.last?["unique_id"]?.stringValue)
        #expect(try eventually { try control("recording.info", ["unique_id": .string(unique)]).result?["status"] == "complete" }, "recording \(unique) did not complete")
        let path = try #require(try control("recording.info", ["unique_id": .string(unique)]).result?["path"]?.stringValue)
        return try RecordingCDRTests.stereo(path)
    }
}
