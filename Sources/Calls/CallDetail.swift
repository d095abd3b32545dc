import Foundation
import CRMBridge
import Logging
import NIOCore
public import SIP
import Store

/// What the call-detail record needs that the summary does not keep.
struct RecordFacts {
    var queuedAt: Double?
    var firstConnectedAt: Double?
    /// The current stretch bridged to an agent, and the stretches before it.
    var connectedAt: Double?
    var talkSeconds = 0.0
    var transfers: [String] = []
    var voicemail = false
    /// The queue let the caller go (maximum wait with nowhere to go, or refused to queue).
    var queueLetGo = false
    var transferredOut = false
    var written = false
}

extension InboundCallService {
    /// Ends a caller's call from our side, saying why; the record is written now, with this as its
    /// end, rather than when the caller answers our BYE.
    func hangUp(_ call: ActiveCall, cause: String, by: String = "system") {
        writeRecord(call, cause: cause, by: by)
        call.session.hangUp()
    }

    /// The caller's bridge to an agent ended (the agent hung up, transferred, or went away).
    func bridgeEnded(_ call: ActiveCall) {
        guard let since = call.record.connectedAt else { return }
        call.record.talkSeconds += scheduler.wallClock - since
        call.record.connectedAt = nil
    }

    /// The call-detail record, exactly once per call: at the first of our hang-up or the call
    /// ending. Recording stops here too, so the file ends where the record does.
    func writeRecord(_ call: ActiveCall, cause: String, by: String, outcome: String? = nil) {
        guard !call.record.written else { return }
        call.record.written = true
        stopRecording(call)
        let end = scheduler.wallClock
        bridgeEnded(call)
        let facts = call.record
        let s = call.summary
        let recordingStatus: String =
            if let state = call.recording { state.failure == nil ? "recorded" : "failed" } else { "none" }
        let record = CallDetailRecord(
            uniqueID: s.uniqueID, sipCallID: s.callID, caller: s.caller, called: s.called, trunk: s.origin, start: s.startedAt, answer: s.answeredAt,
            end: end, outcome: outcome ?? self.outcome(of: call), queue: s.queue, agent: facts.firstConnectedAt == nil ? nil : s.agent,
            waitSeconds: facts.queuedAt.map { Int(((facts.firstConnectedAt ?? end) - $0).rounded()) },
            talkSeconds: facts.firstConnectedAt == nil ? nil : Int(facts.talkSeconds.rounded()), ivrPath: s.ivrPath.joined(separator: ">"),
            transfers: facts.transfers.joined(separator: ";"), recordingPath: s.recordingPath, recordingStatus: recordingStatus,
            surveyScore: s.surveyScore, hangupCause: cause, hangupBy: by, codec: s.codec)
        onRecord?(record)
        // After the record, through the same writer: committed in the same transaction or a later one.
        emit(call, "call.ended", ["cdr": CRMEvents.cdr(record)])
    }

    private func outcome(of call: ActiveCall) -> String {
        let s = call.summary
        let f = call.record
        if s.origin.hasPrefix("user:"), FeatureCode(s.called) != nil { return "feature" }
        if [policy.echoNumber, policy.playbackNumber, policy.bridgeNumber, policy.conferenceNumber].contains(s.called) { return "test" }
        if f.voicemail { return "voicemail" }
        if f.transferredOut { return "transferred" }
        if f.firstConnectedAt != nil { return "connected" }
        if f.queueLetGo { return "timeout" }
        if f.queuedAt != nil { return "abandoned" }
        return "ivr"
    }

    /// Why a session ended, as the record says it, when we did not end it ourselves.
    static func cause(of reason: InviteSession.EndReason) -> (cause: String, by: String) {
        switch reason {
        case .remoteHangup: ("caller hung up", "caller")
        case .cancelled: ("caller cancelled", "caller")
        case .localHangup: ("ended by the daemon", "system")
        case .rejected(let status): ("refused with \(status.rawValue)", "system")
        case .failed(let status, _): ("failed with \(status.rawValue)", "system")
        case .ackTimeout: ("no ACK for our answer", "system")
        case .timeout: ("SIP timeout", "system")
        case .transportFailure: ("transport failure", "system")
        }
    }

    /// A call admitted but not answered (no RTP port, an SDP we cannot meet) still leaves a record.
    func recordUnanswered(_ call: ActiveCall, cause: String) {
        writeRecord(call, cause: cause, by: "system", outcome: "failed")
    }

    // MARK: SessionLayerDelegate: BYE

    /// Answers a BYE once the records it caused are on disk (or after 2 s, if the disk is stuck,
    /// so a failing disk cannot make the far end retransmit for 32 s).
    public func byeReceived(_ session: InviteSession, respond: @escaping () -> Void) {
        guard let whenRecordsWritten else { return respond() }
        let once = NIOLoopBoundOnce(respond)
        once.timer = scheduler.schedule(after: .seconds(2)) { [weak self, once] in
            if once.run() {
                self?.logger.warning("BYE answered before the call record was written (the database is slow)", metadata: ["call.id": "\(session.id)"])
            }
        }
        let (sip, box) = (loop, NIOLoopBound(once, eventLoop: loop))
        whenRecordsWritten { sip.execute { _ = box.value.run() } }
    }
}

/// A closure run at most once, on one loop.
final class NIOLoopBoundOnce {
    private var body: (() -> Void)?
    /// A deadline that runs it anyway; cancelled when it runs.
    var timer: SIPTimerToken?
    init(_ body: @escaping () -> Void) { self.body = body }
    /// Runs the closure if it has not run yet; true if it ran now.
    func run() -> Bool {
        guard let b = body else { return false }
        body = nil
        timer?.cancel()
        timer = nil
        b()
        return true
    }
}
