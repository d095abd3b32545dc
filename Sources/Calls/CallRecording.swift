import Foundation
import Logging
import Media
import NIOCore
import Recording
import Store

/// How bridged calls are recorded (FEATURES R1–R3); nil in the policy records nothing.
public struct RecordingPolicy: Sendable {
    /// `<directory>/YYYY/MM/DD/<unique id>.wav`.
    public var directory: String
    /// 2: caller left, agent right; 1: both mixed.
    public var channels: Int
    /// Longest recording kept per call; the rest is dropped and counted.
    public var maxSeconds: Int

    public init(directory: String, channels: Int = 2, maxSeconds: Int = 4 * 3600) {
        self.directory = directory
        self.channels = channels
        self.maxSeconds = maxSeconds
    }
}

/// A call's recording, as the SIP loop keeps it. The feed and taps live on the call's media loop
/// (`tap`, reached only there).
final class CallRecordingState {
    let recorder: Recorder
    let startedAt: Double
    let tap: NIOLoopBoundBox<BridgeRecordingTap?>
    var pausedSince: Double?
    var pausedSeconds = 0.0
    /// Why writing failed, once the writer has said so.
    var failure: String?
    var stopped = false

    init(recorder: Recorder, startedAt: Double, tap: NIOLoopBoundBox<BridgeRecordingTap?>) {
        self.recorder = recorder
        self.startedAt = startedAt
        self.tap = tap
    }
}

/// Taps both legs of a bridged call on their (shared) media loop: each side's payloads are decoded
/// with a decoder of its own (G.722 keeps state) into the feed, and the loop's media clock ticks the
/// feed, which hands the recorder one frame per 20 ms. Allocates only when a side's codec changes.
final class BridgeRecordingTap: MediaTicker {
    let feed: CallRecordingFeed
    private var decoders: [VoiceCodec?] = [nil, nil, nil]
    private weak var callerStream: RTPStream?
    private weak var agentStream: RTPStream?
    private weak var partyStream: RTPStream?
    private var pcm = [Int16](repeating: 0, count: 960)

    init(feed: CallRecordingFeed) { self.feed = feed }

    func attach(_ side: CallRecordingFeed.Side, to stream: RTPStream) {
        if side == .agent, let old = agentStream, old !== stream, old !== partyStream { old.tap = nil }
        switch side {
        case .caller: callerStream = stream
        case .agent:
            agentStream = stream
            // The party handed the caller: they are the agent's side from now on.
            if partyStream === stream { detachParty() }
        case .party: partyStream = stream
        }
        decoders[side.rawValue] = nil
        stream.tap = { [unowned self, unowned stream] header, payload in
            self.take(side, header.payloadType, payload, from: stream)
        }
    }

    private func take(_ side: CallRecordingFeed.Side, _ payloadType: UInt8, _ payload: UnsafeRawBufferPointer, from stream: RTPStream) {
        let s = side.rawValue
        if decoders[s]?.payloadType != payloadType {
            guard let codec = stream.codec, codec.payloadType == payloadType else { return }
            decoders[s] = VoiceCodec(codec.kind, payloadType: payloadType)
        }
        guard let decoder = decoders[s] else { return }
        var pcm = self.pcm
        self.pcm = []
        pcm.withUnsafeMutableBufferPointer { out in
            let n = decoder.decode(payload, into: out)
            feed.take(side, UnsafeBufferPointer(rebasing: out[0..<n]))
        }
        self.pcm = pcm
    }

    func tick() { feed.tick() }

    /// The conference is over: the party's audio leaves the file.
    func detachParty() {
        if let s = partyStream, s !== agentStream { s.tap = nil }
        partyStream = nil
        feed.clear(.party)
    }

    /// Takes the taps off, stops the ticks, and lets the writer close the file.
    func stop(clock: MediaClock?) {
        if let s = callerStream { s.tap = nil }
        if let s = agentStream { s.tap = nil }
        if let s = partyStream { s.tap = nil }
        clock?.remove(ticker: self)
        feed.recorder.finish()
    }
}

extension InboundCallService {
    /// Recordings being written (their calls may have just ended).
    public var recordingsInProgress: Int { recordings.count }

    /// The agent answered: recording starts with the first bridge of the call; a later agent
    /// (after a transfer) is attached to the same file, which keeps one timeline for the call.
    /// A sound-card agent has no stream: `card` hands its captured frames to the feed instead.
    func recordBridge(_ call: ActiveCall, agentLease: RTPPortLease?, card: SoundCardBridge? = nil) {
        guard let rules = policy.recording, let writer = recordingWriter, let callerLease = call.lease else { return }
        let agentStream = agentLease?.stream
        if let existing = call.recording {
            guard !existing.stopped else { return }
            let box = existing.tap
            return onMedia(callerLease) { _ in
                guard let tap = box.value else { return }
                if let agentStream { tap.attach(.agent, to: agentStream) }
                card?.recording = tap.feed
            }
        }
        let now = scheduler.wallClock
        let unique = call.machine.uniqueID
        let path = "\(rules.directory)/\(Self.dayFolder(now))/\(unique).wav"
        // 64 frames (1.28 s) may wait per call. The ring holds only pointers (1 KiB); the
        // samples wait in the caller's loop's pool, which grows only with what waits at once
        // (bench/README.md, "Frame pool"). Before the pool, a 32-frame ring cost 20 KiB per call
        // whether full or not, and 16-frame rings lost frames behind a 226 ms drain pass.
        let recorder = Recorder(
            path: path, maxSeconds: rules.maxSeconds, channels: rules.channels, bufferFrames: 64, pool: framePool(for: callerLease))
        let box = NIOLoopBoundBox<BridgeRecordingTap?>.makeEmptyBox(valueType: BridgeRecordingTap.self, eventLoop: callerLease.loop)
        let state = CallRecordingState(recorder: recorder, startedAt: now, tap: box)
        call.recording = state
        recordings[unique] = state
        call.info.recordingPath = path
        let (service, sip) = (bound, loop)
        let channels = rules.channels
        writer.start(
            recorder,
            failed: { why in sip.execute { service.value.recordingFailed(unique, path: path, why: why) } },
            done: { result in sip.execute { service.value.recordingWritten(result, unique: unique, channels: channels, startedAt: now) } })
        onMedia(callerLease) { callerStream in
            let tap = BridgeRecordingTap(feed: CallRecordingFeed(recorder: recorder))
            tap.attach(.caller, to: callerStream)
            if let agentStream { tap.attach(.agent, to: agentStream) }
            card?.recording = tap.feed
            callerStream.clock?.add(ticker: tap)
            box.value = tap
        }
        logger.info("recording the call", metadata: ["call.id": "\(call.session.id)", "call.unique_id": "\(unique)", "recording.path": "\(path)"])
    }

    /// The third of a conference of three joins the call's recording (mixed into the agent's
    /// channel), so the file holds everyone the caller heard.
    func recordParty(_ call: ActiveCall, _ partyLease: RTPPortLease) {
        guard let recording = call.recording, !recording.stopped, let callerLease = call.lease else { return }
        let box = recording.tap
        let stream = partyLease.stream
        onMedia(callerLease) { _ in box.value?.attach(.party, to: stream) }
    }

    /// The call is over: the taps come off on the media loop, and the writer closes the file once
    /// the ring is drained.
    func stopRecording(_ call: ActiveCall) {
        guard let state = call.recording, !state.stopped else { return }
        state.stopped = true
        if let since = state.pausedSince {
            state.pausedSeconds += scheduler.wallClock - since
            state.pausedSince = nil
        }
        let box = state.tap
        let recorder = state.recorder
        guard let lease = call.lease else { return recorder.finish() }
        onMedia(lease) { stream in
            if let tap = box.value {
                tap.stop(clock: stream.clock)
                box.value = nil
            } else {
                recorder.finish()
            }
        }
    }

    /// Pauses or resumes a call's recording (FEATURES R2): the file gets silence meanwhile.
    public func setRecordingPaused(call id: UInt64, paused: Bool) -> Result<Void, RecordingControlError> {
        guard let call = calls[id] else { return .failure(.noSuchCall) }
        guard let state = call.recording, !state.stopped else { return .failure(.notRecording) }
        let now = scheduler.wallClock
        if paused, state.pausedSince == nil {
            state.pausedSince = now
        } else if !paused, let since = state.pausedSince {
            state.pausedSeconds += now - since
            state.pausedSince = nil
        }
        state.recorder.isPaused = paused
        call.info.recordingPaused = paused
        logger.info(paused ? "recording paused" : "recording resumed", metadata: ["call.id": "\(id)", "call.unique_id": "\(call.summary.uniqueID)"])
        return .success(())
    }

    public enum RecordingControlError: Error, Sendable { case noSuchCall, notRecording }

    /// A write failed while the call goes on: the call is not touched; the record will say so and
    /// operators hear of it now (FEATURES R3).
    private func recordingFailed(_ unique: String, path: String, why: String) {
        recordings[unique]?.failure = why
        logger.error("recording failed; the call goes on", metadata: ["call.unique_id": "\(unique)", "recording.path": "\(path)", "recording.error": "\(why)"])
        onAlarm?("recording_failed", ["unique_id": unique, "path": path, "error": why])
    }

    private func recordingWritten(_ result: RecordingResult, unique: String, channels: Int, startedAt: Double) {
        let paused = recordings.removeValue(forKey: unique)?.pausedSeconds ?? 0
        recordingFramesDropped += result.droppedFrames
        let entry = RecordingEntry(
            uniqueID: unique, path: result.path, channels: channels, startedAt: startedAt, seconds: result.seconds, bytes: result.bytes,
            sha256: result.sha256, status: result.failure == nil ? "complete" : "failed", failure: result.failure, droppedFrames: result.droppedFrames,
            pausedSeconds: paused)
        onRecording?(entry)
        var meta: Logger.Metadata = [
            "call.unique_id": "\(unique)", "recording.path": "\(result.path)", "recording.seconds": "\(result.seconds)",
            "recording.dropped_frames": "\(result.droppedFrames)",
        ]
        if let sha = result.sha256 { meta["recording.sha256"] = "\(sha)" }
        if let failure = result.failure {
            meta["recording.error"] = "\(failure)"
            logger.error("recording incomplete", metadata: meta)
        } else {
            logger.info("recording complete", metadata: meta)
        }
    }
}
