import ACD
import CRMBridge
import Control
import Store
import JSON

// The ACD's state and events as control-protocol JSON (docs/control-protocol.md).

enum ACDViews {
    static func agents(_ s: ACDSnapshot) -> JSONValue {
        .array(s.agents.map { a in
            [
                "id": .string(a.id), "name": .string(a.name), "state": .string(a.state.rawValue), "reason": JSONValue(a.reason),
                "seconds_in_state": JSONValue(a.secondsInState), "call": JSONValue(a.call), "device": a.device.isEmpty ? .null : .string(a.device),
                "skills": .object(Dictionary(a.skills.map { ($0.name, JSONValue($0.level)) }, uniquingKeysWith: { x, _ in x })),
                "offered": JSONValue(a.stats.offered), "answered": JSONValue(a.stats.answered), "missed": JSONValue(a.stats.missed),
                "talk_seconds": JSONValue(Int(a.stats.talkMs / 1000)), "retired": .bool(a.retired),
            ]
        })
    }

    static func queues(_ s: ACDSnapshot) -> JSONValue {
        .array(s.groups.map { g in
            let st = g.stats
            return [
                "name": .string(g.name), "strategy": .string(g.strategy.rawValue), "waiting": JSONValue(g.waiting), "ringing": JSONValue(g.ringing),
                "longest_wait_seconds": JSONValue(g.longestWaitSeconds), "agents_logged_in": JSONValue(g.agentsLoggedIn),
                "agents_ready": JSONValue(g.agentsReady), "agents_available": JSONValue(g.agentsAvailable),
                "entered": JSONValue(st.entered), "refused": JSONValue(st.refused), "answered": JSONValue(st.answered), "abandoned": JSONValue(st.abandoned),
                "timed_out": JSONValue(st.timedOut), "exited_empty": JSONValue(st.exitedEmpty), "exited_key": JSONValue(st.exitedKey),
                "ring_no_answer": JSONValue(st.ringNoAnswer), "transferred": JSONValue(st.transferred), "callbacks": JSONValue(st.callbacks),
                "abandoned_average_wait_seconds": st.abandoned > 0 ? JSONValue(Double(st.abandonedWaitMs) / Double(st.abandoned) / 1000) : .null,
                "longest_answered_wait_seconds": JSONValue(Int(st.longestAnsweredWaitMs / 1000)),
                "service_level": g.serviceLevel.map { JSONValue($0) } ?? .null, "service_level_seconds": JSONValue(g.serviceLevelSeconds),
                "average_speed_of_answer_seconds": g.averageSpeedOfAnswerSeconds.map { JSONValue($0) } ?? .null,
                "average_handle_seconds": g.averageHandleSeconds.map { JSONValue($0) } ?? .null,
                "estimated_wait_seconds": g.estimatedWaitSeconds.map { JSONValue($0) } ?? .null, "retired": .bool(g.retired),
                "callers": .array(s.waiting.filter { $0.group == g.name }.map { c in
                    [
                        "call": .string(c.call), "position": JSONValue(c.position), "priority": JSONValue(c.priority),
                        "waited_seconds": JSONValue(c.waitedSeconds), "offered_to": .array(c.offeredTo.map { .string($0) }),
                        "caller_id": .string(c.callerID), "callback": JSONValue(c.callback),
                    ]
                }),
            ]
        })
    }

    /// `agent` events for state changes, `queue` events for queue log lines.
    static func event(_ action: ACDAction) -> (String, [String: JSONValue])? {
        switch action {
        case .agentChanged(let agent, let state, let reason):
            return ("agent", ["agent": .string(agent), "state": .string(state.rawValue), "reason": JSONValue(reason)])
        case .log(let e):
            return ("queue", [
                "type": .string(e.event), "call": .string(e.call), "queue": .string(e.queue), "agent": .string(e.agent),
                "data": .array(e.data.map { .string($0) }),
            ])
        default:
            return nil
        }
    }

    static func controlError(_ e: ACDError) -> ControlError {
        switch e.code {
        case .unknownAgent, .unknownCall, .unknownGroup: ControlError(.notFound, e.message)
        case .illegalTransition, .duplicateCall: ControlError(.illegalTransition, e.message)
        case .invalid: ControlError(.invalidArgument, e.message)
        }
    }
}

extension ACDViews {
    static func recording(_ r: RecordingEntry) -> JSONValue {
        [
            "unique_id": .string(r.uniqueID), "path": .string(r.path), "channels": JSONValue(r.channels), "started_at": JSONValue(r.startedAt),
            "seconds": JSONValue(r.seconds), "bytes": JSONValue(r.bytes), "sha256": JSONValue(r.sha256), "status": .string(r.status),
            "failure": JSONValue(r.failure), "dropped_frames": JSONValue(r.droppedFrames), "paused_seconds": JSONValue(r.pausedSeconds),
        ]
    }

    /// One call-detail record for the control socket (docs/control-protocol.md, `cdr.list`): the
    /// same JSON the CRM store gets in `call.ended`.
    static func cdr(_ r: CallDetailRecord) -> JSONValue { CRMEvents.cdr(r) }
}
