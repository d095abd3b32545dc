import Foundation
import Logging
import Media
import NIOCore
import Recording
import SIP
import Store

/// A voicemail being recorded on one call.
final class VoicemailRecording {
    let recorder: Recorder
    let box: String
    let startedAt: Double
    var stopped = false

    init(recorder: Recorder, box: String, startedAt: Double) {
        self.recorder = recorder
        self.box = box
        self.startedAt = startedAt
    }
}

/// Decodes what the caller says, on the leg's media loop, into the recorder's ring. Its own
/// decoder (G.722 keeps state) and its own sample buffer, made once per message, so a packet
/// costs no allocation.
final class VoicemailTap {
    let decoder: VoiceCodec
    let recorder: Recorder
    var pcm = [Int16](repeating: 0, count: 640)

    init(decoder: VoiceCodec, recorder: Recorder) {
        self.decoder = decoder
        self.recorder = recorder
    }

    func take(_ payload: UnsafeRawBufferPointer) {
        pcm.withUnsafeMutableBufferPointer { out in
            var n = decoder.decode(payload, into: out)
            var offset = 0
            // A packet longer than 20 ms goes in as several frames.
            while n > 0 {
                let chunk = min(n, Recorder.frameSamples)
                recorder.write(UnsafeBufferPointer(rebasing: out[offset..<(offset + chunk)]))
                offset += chunk
                n -= chunk
            }
        }
    }
}

extension InboundCallService {
    /// 300 ms at 1 kHz: "speak after the tone".
    static let beep: AudioClip = AudioClip(
        name: "beep", samples: (0..<2400).map { i in Int16(9000 * sin(2 * Double.pi * 1000 * Double(i) / 8000)) })

    /// The voicemail prompt (unless the IVR node just played it) and the beep; their end is the
    /// machine's cue to record.
    func playVoicemailIntro(_ call: ActiveCall, withPrompt: Bool, serial: Int) {
        let id = call.session.id
        let intro = withPrompt ? ((try? policy.prompts?.require(["voicemail"], language: policy.language)) ?? []) : []
        playClips(intro + [Self.beep], call: call) { service in
            if let call = service.calls[id] { service.deliver(.playbackEnded(serial: serial), to: call) }
        }
    }

    /// What the caller says goes into `<voicemail directory>/YYYY/MM/DD/<unique id>.wav`.
    func startRecordingVoicemail(_ call: ActiveCall, box: String) {
        guard let writer = recordingWriter, let directory = policy.voicemailDirectory, let lease = call.lease else { return }
        let id = call.session.id
        let now = scheduler.wallClock
        let day = Self.dayFolder(now)
        let unique = call.machine.uniqueID
        let path = "\(directory)/\(day)/\(unique).wav"
        let recorder = Recorder(path: path, maxSeconds: policy.voicemailMaxSeconds, pool: framePool(for: lease))
        call.voicemail = VoicemailRecording(recorder: recorder, box: box, startedAt: now)
        let message = VoicemailEntry(
            uniqueID: unique, caller: call.info.caller, box: box, queue: call.machine.queue, path: path, seconds: 0, droppedFrames: 0, createdAt: now)
        let (service, sip) = (bound, loop)
        writer.start(recorder) { result in
            sip.execute { service.value.voicemailWritten(result, message: message) }
        }
        onMedia(lease) { stream in
            guard let codec = stream.codec else { return }
            let tap = VoicemailTap(decoder: VoiceCodec(codec.kind, payloadType: codec.payloadType), recorder: recorder)
            stream.tap = { _, payload in tap.take(payload) }
        }
        logger.info("recording voicemail", metadata: ["call.id": "\(id)", "voicemail.box": "\(box)", "voicemail.path": "\(path)"])
    }

    /// Ends the recording: the writer closes the file once the ring is drained.
    func stopVoicemail(_ call: ActiveCall) {
        guard let recording = call.voicemail, !recording.stopped else { return }
        recording.stopped = true
        let recorder = recording.recorder
        if let lease = call.lease {
            // Same loop as the tap: every frame it wrote is in the ring before `finish`.
            onMedia(lease) { stream in
                stream.tap = nil
                recorder.finish()
            }
        } else {
            recorder.finish()
        }
    }

    /// The file is complete (or could not be written): index it, or say what went wrong.
    func voicemailWritten(_ result: RecordingResult, message: VoicemailEntry) {
        var meta: Logger.Metadata = [
            "call.unique_id": "\(message.uniqueID)", "voicemail.path": "\(result.path)", "voicemail.seconds": "\(result.seconds)",
            "voicemail.dropped_frames": "\(result.droppedFrames)",
        ]
        if let failure = result.failure {
            meta["voicemail.error"] = "\(failure)"
            // What was written before the disk failed is still the caller's message.
            guard result.kept else { return logger.error("voicemail could not be written", metadata: meta) }
            logger.error("voicemail cut short by a failed write; keeping what was written", metadata: meta)
        }
        guard result.seconds >= 0.5 else {
            unlink(result.path)
            return logger.info("voicemail shorter than half a second; discarded", metadata: meta)
        }
        var saved = message
        saved.seconds = result.seconds
        saved.droppedFrames = result.droppedFrames
        onVoicemail?(saved)
        logger.info("voicemail saved", metadata: meta)
        voicemailCallback(saved)
    }

    /// `YYYY/MM/DD` of a Unix time, in UTC.
    static func dayFolder(_ unix: Double) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: unix))
        return String(format: "%04d/%02d/%02d", c.year ?? 1970, c.month ?? 1, c.day ?? 1)
    }
}
