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
    var timer: SIPTimerToken?
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

    /// The caller leaves a message: the voicemail prompt (unless the IVR node just played it), a
    /// beep, then what they say is recorded until they press #, hang up, or the maximum length.
    func voicemail(_ call: ActiveCall, box: String?, prompted: Bool) {
        let id = call.session.id
        call.summary.state = "voicemail"
        call.record.voicemail = true
        guard recordingWriter != nil, policy.voicemailDirectory != nil, let store = policy.prompts else {
            logger.warning("voicemail is not configured; ending the call", metadata: ["call.id": "\(id)", "call.cause": "voicemail_unavailable"])
            return playPrompts(["all-busy", "goodbye"], language: policy.language, call: call) { service in
                if let call = service.calls[id] { service.hangUp(call, cause: "voicemail unavailable") }
            }
        }
        let intro = prompted ? [] : ((try? store.require(["voicemail"], language: policy.language)) ?? [])
        playClips(intro + [Self.beep], call: call) { service in
            guard let call = service.calls[id] else { return }
            service.startRecordingVoicemail(call, box: box ?? "default")
        }
    }

    private func startRecordingVoicemail(_ call: ActiveCall, box: String) {
        guard let writer = recordingWriter, let directory = policy.voicemailDirectory, let lease = call.lease else { return }
        let id = call.session.id
        let now = scheduler.wallClock
        let day = Self.dayFolder(now)
        let path = "\(directory)/\(day)/\(call.summary.uniqueID).wav"
        let recorder = Recorder(path: path, maxSeconds: policy.voicemailMaxSeconds, pool: framePool(for: lease))
        let recording = VoicemailRecording(recorder: recorder, box: box, startedAt: now)
        call.voicemail = recording
        let message = VoicemailEntry(
            uniqueID: call.summary.uniqueID, caller: call.summary.caller, box: box, queue: call.summary.queue, path: path, seconds: 0, droppedFrames: 0,
            createdAt: now)
        let (service, sip) = (bound, loop)
        writer.start(recorder) { result in
            sip.execute { service.value.voicemailWritten(result, message: message) }
        }
        onMedia(lease) { stream in
            guard let codec = stream.codec else { return }
            let tap = VoicemailTap(decoder: VoiceCodec(codec.kind, payloadType: codec.payloadType), recorder: recorder)
            stream.tap = { _, payload in tap.take(payload) }
        }
        recording.timer = scheduler.schedule(after: .seconds(Int64(policy.voicemailMaxSeconds))) { [weak self] in
            guard let self, let call = self.calls[id] else { return }
            self.stopVoicemail(call, reason: "maximum length", thank: true)
        }
        logger.info("recording voicemail", metadata: ["call.id": "\(id)", "voicemail.box": "\(box)", "voicemail.path": "\(path)"])
    }

    /// Ends the recording (the writer closes the file once the ring is drained); when the caller
    /// is still there, they hear that the message was saved and the call ends.
    func stopVoicemail(_ call: ActiveCall, reason: String, thank: Bool = false) {
        guard let recording = call.voicemail, !recording.stopped else { return }
        recording.stopped = true
        recording.timer?.cancel()
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
        logger.info("voicemail ends", metadata: ["call.id": "\(call.session.id)", "voicemail.reason": "\(reason)"])
        guard thank else { return }
        let id = call.session.id
        playPrompts(["voicemail-saved", "goodbye"], language: policy.language, call: call) { service in
            if let call = service.calls[id] { service.hangUp(call, cause: "voicemail: \(reason)") }
        }
    }

    /// The file is complete (or could not be written): index it, or say what went wrong.
    private func voicemailWritten(_ result: RecordingResult, message: VoicemailEntry) {
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
    }

    /// `YYYY/MM/DD` of a Unix time, in UTC.
    static func dayFolder(_ unix: Double) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: unix))
        return String(format: "%04d/%02d/%02d", c.year ?? 1970, c.month ?? 1, c.day ?? 1)
    }
}
