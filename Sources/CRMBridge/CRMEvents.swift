public import Store
public import JSON

/// The events the daemon sends (docs/crm-protocol.md), as outbox rows.
public enum CRMEvents {
    /// An event of a call: its id is `<unique id>:<seq>`, so the same event always has the same id
    /// and a store that saw it drops the copy.
    public static func call(_ type: String, unique: String, seq: Int, time: Double, data: JSONValue) -> OutboxEvent {
        let id = "\(unique):\(seq)"
        var event = OutboxEvent(id: id, body: CRMProtocol.event(id: id, type: type, stream: unique, seq: seq, time: time, data: data), createdAt: time)
        event.essential = type == "call.ended"
        return event
    }

    /// An agent's state change: stream `agent:<id>`; `boot` (the daemon's start time in ms) keeps
    /// ids unique across restarts, where the sequence starts again.
    public static func agentState(agent: String, state: String, reason: String?, boot: Int64, seq: Int, time: Double) -> OutboxEvent {
        let stream = "agent:\(agent)"
        let id = "\(stream):\(boot):\(seq)"
        let data: JSONValue = ["agent": .string(agent), "state": .string(state), "reason": JSONValue(reason)]
        return OutboxEvent(
            id: id, body: CRMProtocol.event(id: id, type: "agent.state", stream: stream, seq: seq, time: time, data: data), createdAt: time)
    }

    /// A campaign's event (a preview for an agent, the campaign finished): stream
    /// `campaign:<name>`, ids kept unique across restarts as for agents.
    public static func campaign(_ type: String, campaign: String, boot: Int64, seq: Int, time: Double, data: JSONValue) -> OutboxEvent {
        let stream = "campaign:\(campaign)"
        let id = "\(stream):\(boot):\(seq)"
        return OutboxEvent(id: id, body: CRMProtocol.event(id: id, type: type, stream: stream, seq: seq, time: time, data: data), createdAt: time)
    }

    /// A call-detail record as JSON: the `cdr` of `call.ended`, and the control socket's `cdr.list`.
    public static func cdr(_ r: CallDetailRecord) -> JSONValue {
        func int(_ v: Int?) -> JSONValue { v.map { JSONValue($0) } ?? .null }
        return [
            "unique_id": .string(r.uniqueID), "linked_id": .string(r.linkedID), "sip_call_id": .string(r.sipCallID), "caller": .string(r.caller),
            "called": .string(r.called), "trunk": .string(r.trunk), "start": JSONValue(r.start), "answer": r.answer.map { JSONValue($0) } ?? .null,
            "end": JSONValue(r.end), "duration": JSONValue(r.duration), "billable": JSONValue(r.billableSeconds), "disposition": .string(r.disposition),
            "outcome": .string(r.outcome), "queue": JSONValue(r.queue), "agent": JSONValue(r.agent), "wait_seconds": int(r.waitSeconds),
            "talk_seconds": int(r.talkSeconds), "ivr_path": .string(r.ivrPath), "transfers": .string(r.transfers),
            "recording_path": JSONValue(r.recordingPath), "recording_status": .string(r.recordingStatus), "survey_score": int(r.surveyScore),
            "hangup_cause": .string(r.hangupCause), "hangup_by": .string(r.hangupBy), "codec": JSONValue(r.codec), "direction": .string(r.direction), "account": JSONValue(r.account),
        ]
    }
}
