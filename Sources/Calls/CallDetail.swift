import Foundation
import CRMBridge
import Logging
import NIOCore
public import SIP
import Store

extension InboundCallService {
    /// Ends a caller's call from our side, saying why: the machine writes the record now, with
    /// this as its end, rather than when the caller answers our BYE.
    func hangUp(_ call: ActiveCall, cause: String, by: String = "system") {
        deliver(.release(cause: cause, by: by), to: call)
    }

    /// The call-detail record, from what the machine knows and the call's SIP facts.
    func writeRecord(_ call: ActiveCall, _ facts: CallRecordFacts) {
        let s = call.info
        let recordingStatus: String =
            if let state = call.recording { state.failure == nil ? "recorded" : "failed" } else { "none" }
        let record = CallDetailRecord(
            uniqueID: call.machine.uniqueID, sipCallID: s.callID, caller: s.caller, called: s.called, trunk: s.origin, start: s.startedAt,
            // An agent's own call is billed from the number's answer; unanswered, it has none.
            answer: facts.direction == .outbound ? facts.targetAnsweredAt : s.answeredAt,
            end: facts.end, outcome: facts.outcome, queue: facts.queue, agent: facts.agent, waitSeconds: facts.waitSeconds, talkSeconds: facts.talkSeconds,
            ivrPath: facts.ivrPath, transfers: facts.transfers, recordingPath: s.recordingPath, recordingStatus: recordingStatus,
            surveyScore: facts.surveyScore, hangupCause: facts.cause, hangupBy: facts.by, codec: s.codec, direction: facts.direction.rawValue,
            account: s.account)
        onRecord?(record)
        callbackAttemptEnded(facts, call: call.machine.uniqueID)
        if let campaign = campaignCalls.removeValue(forKey: call.machine.uniqueID) {
            campaignDialer?.attemptEnded(campaign, facts: facts, unique: call.machine.uniqueID, startedAt: s.startedAt)
        }
        if facts.outcome == "abandoned" { missedCall(record, facts) }
        // After the record, through the same writer: committed in the same transaction or a later one.
        emit(call, "call.ended", ["cdr": CRMEvents.cdr(record)])
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
        case .sessionExpired: ("session timer expired", "system")
        }
    }

    /// The same for an agent's own call, whose first leg is the agent's phone.
    static func agentCause(of reason: InviteSession.EndReason) -> (cause: String, by: String) {
        switch reason {
        case .remoteHangup, .cancelled: ("agent hung up", "agent")
        case .rejected(let status), .failed(let status, _): ("agent's phone refused (\(status.rawValue))", "agent")
        case .timeout: ("agent's phone did not answer (SIP timeout)", "system")
        case .transportFailure: ("agent's phone: transport failure", "system")
        default: cause(of: reason)
        }
    }

    /// A call admitted but not answered (no RTP port, an SDP we cannot meet) still leaves a record.
    func recordUnanswered(_ call: ActiveCall, cause: String) {
        perform(call.machine.failedBeforeAnswer(cause: cause, at: now), call)
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
