import Calls
import ACD
import Control
import Foundation
import Store
import JSON

/// The control-socket commands of the daemon (docs/control-protocol.md).
final class ControlCommands: ControlCommandHandler, @unchecked Sendable {
    // Unchecked: holds only the core, which is itself loop-confined and reached through async hops.
    let core: DaemonCore

    init(core: DaemonCore) { self.core = core }

    static let commands = [
        "status", "calls", "registrations", "reload", "hangup", "agents", "queues", "agent.login", "agent.logout", "agent.ready",
        "agent.pause", "agent.skills", "agent.reset", "agent.answer", "agent.hangup", "dial", "transfer", "consult", "conference", "return", "release", "survey", "monitor", "monitor.mode", "monitor.stop", "dtmf", "voicemail.list", "callback.list", "callback.cancel", "callback.done", "callback.dial", "callback.assign", "campaign.create", "campaign.load", "campaign.start", "campaign.pause", "campaign.stop", "campaign.status", "campaign.contacts", "campaign.preview", "campaign.accept", "campaign.skip", "dnc.add", "dnc.remove", "dnc.list", "recording.pause", "recording.resume", "recording.info", "cdr.list", "report.billing", "report.calls", "report.campaigns", "recording.play", "prompt.record", "subscribe", "help",
    ]

    func handle(_ request: ControlRequest, connection: ControlConnection, respond: @escaping @Sendable (ControlResponse) -> Void) {
        let core = self.core
        Task {
            respond(await Self.run(request, core: core, connection: connection))
        }
    }

    static func run(_ request: ControlRequest, core: DaemonCore, connection: ControlConnection) async -> ControlResponse {
        let id = request.id
        func string(_ key: String) -> String? { request.args?[key]?.stringValue }
        func agentCommand(_ make: (String) -> Result<ACDEvent, ControlError>) async -> ControlResponse {
            guard let agent = string("agent"), !agent.isEmpty else {
                return ControlResponse(id: id, error: ControlError(.invalidArgument, "\(request.command) needs args {\"agent\": \"<id>\"}"))
            }
            switch make(agent) {
            case .failure(let e): return ControlResponse(id: id, error: e)
            case .success(let event):
                switch await core.acd.request(event) {
                case .success(let snap):
                    guard let view = ACDViews.agents(snap).arrayValue?.first(where: { $0["id"]?.stringValue == agent }) else {
                        // A retired agent that just logged out is gone from the configuration.
                        return ControlResponse(id: id, result: ["id": .string(agent), "state": "logged-out"])
                    }
                    return ControlResponse(id: id, result: view)
                case .failure(let e): return ControlResponse(id: id, error: ACDViews.controlError(e))
                }
            }
        }
        switch request.command {
        case "agents":
            return ControlResponse(id: id, result: ACDViews.agents(core.acd.snapshot))
        case "queues":
            return ControlResponse(id: id, result: ACDViews.queues(core.acd.snapshot))
        case "agent.login":
            return await agentCommand { agent in
                let paused = string("paused_reason")
                if let p = paused, p.isEmpty { return .failure(ControlError(.invalidArgument, "paused_reason must not be empty")) }
                return .success(.agentLogin(agent: agent, device: string("device") ?? "sip:\(agent)", pausedReason: paused))
            }
        case "agent.logout":
            return await agentCommand { .success(.agentLogout(agent: $0)) }
        case "agent.ready":
            return await agentCommand { .success(.agentReady(agent: $0)) }
        case "agent.pause":
            return await agentCommand { agent in
                guard let reason = string("reason"), !reason.isEmpty else {
                    return .failure(ControlError(.invalidArgument, "agent.pause needs args {\"agent\": \"<id>\", \"reason\": \"<reason>\"}"))
                }
                return .success(.agentPause(agent: agent, reason: reason))
            }
        case "agent.reset":
            return await agentCommand { .success(.agentReset(agent: $0)) }
        case "agent.answer", "agent.hangup":
            guard let agent = string("agent"), !agent.isEmpty else {
                return ControlResponse(id: id, error: ControlError(.invalidArgument, "\(request.command) needs args {\"agent\": \"<id>\"}"))
            }
            switch await core.soundCard(agent: agent, answer: request.command == "agent.answer") {
            case .success(let call):
                return ControlResponse(id: id, result: ["agent": .string(agent), "call": JSONValue(Int(call)), request.command == "agent.answer" ? "answered" : "hung_up": true])
            case .failure(let e): return ControlResponse(id: id, error: ControlError(.failed, e.description))
            }
        case "agent.skills":
            return await agentCommand { agent in
                guard case .object(let table)? = request.args?["skills"] else {
                    return .failure(ControlError(.invalidArgument, "agent.skills needs args {\"agent\": \"<id>\", \"skills\": {\"sales\": 8}}"))
                }
                var skills: [AgentSettings.Skill] = []
                for (name, value) in table.sorted(by: { $0.key < $1.key }) {
                    guard let level = value.doubleValue, level == level.rounded() else {
                        return .failure(ControlError(.invalidArgument, "skill level of '\(name)' must be an integer 1-10"))
                    }
                    skills.append(.init(name, Int(level)))
                }
                return .success(.agentSetSkills(agent: agent, skills: skills))
            }
        case "subscribe":
            var topics = EventHub.topics
            if let requested = request.args?["topics"] {
                guard let list = requested.arrayValue?.compactMap(\.stringValue), !list.isEmpty, Set(list).isSubset(of: EventHub.topics) else {
                    return ControlResponse(id: id, error: ControlError(.invalidArgument, "topics must be a list of: agent, queue, call, alarm"))
                }
                topics = Set(list)
            }
            _ = core.events.subscribe(connection, topics: topics)
            return ControlResponse(id: id, result: ["subscribed": .array(topics.sorted().map { .string($0) })])
        case "status":
            return ControlResponse(id: id, result: await core.status())
        case "calls":
            return ControlResponse(id: id, result: await core.callList())
        case "registrations":
            return ControlResponse(id: id, result: await core.registrationList())
        case "reload":
            switch await core.reload() {
            case .success(let notes):
                return ControlResponse(id: id, result: ["reloaded": true, "config": .string(core.configPath), "notes": .array(notes.map { .string($0) })])
            case .failure(let error):
                return ControlResponse(id: id, error: ControlError(.failed, "reload refused, the running configuration stays: \(error)"))
            }
        case "hangup":
            guard let call = request.args?["call"]?.doubleValue, call >= 0, call == call.rounded() else {
                return ControlResponse(id: id, error: ControlError(.invalidArgument, "hangup needs args {\"call\": <call id from 'calls'>}"))
            }
            return await core.hangUp(callID: Int(call))
                ? ControlResponse(id: id, result: ["hung_up": JSONValue(Int(call))])
                : ControlResponse(id: id, error: ControlError(.notFound, "no call \(Int(call))"))
        case "voicemail.list":
            switch core.voicemailList(status: request.args?["status"]?.stringValue) {
            case .success(let list): return ControlResponse(id: id, result: list)
            case .failure(let e): return ControlResponse(id: id, error: ControlError(.failed, "cannot read the voicemail index: \(e)"))
            }
        case "callback.list":
            switch core.callbackList(status: string("status"), assigned: string("assigned")) {
            case .success(let list): return ControlResponse(id: id, result: list)
            case .failure(let e): return ControlResponse(id: id, error: ControlError(.failed, "cannot read the callbacks: \(e)"))
            }
        case "callback.dial":
            guard let callback = string("id"), !callback.isEmpty, let agent = string("agent"), !agent.isEmpty else {
                return ControlResponse(id: id, error: ControlError(.invalidArgument, "callback.dial needs args {\"id\": \"<callback id>\", \"agent\": \"<id>\"}"))
            }
            switch await core.dialCallback(callback, agent: agent) {
            case .success(let placed):
                return ControlResponse(id: id, result: ["callback": .string(callback), "call": JSONValue(Int(placed.id)), "unique_id": .string(placed.uniqueID), "agent": .string(agent)])
            case .failure(let e): return ControlResponse(id: id, error: ControlError(.failed, e.description))
            }
        case "callback.assign":
            // `agent` null gives the callback back to its whole group.
            let agent = request.args?["agent"]
            guard let callback = string("id"), !callback.isEmpty, let agent, agent == .null || !(agent.stringValue ?? "").isEmpty else {
                return ControlResponse(id: id, error: ControlError(.invalidArgument, "callback.assign needs args {\"id\": \"<callback id>\", \"agent\": \"<id>\" or null}"))
            }
            switch await core.assignCallback(callback, agent: agent.stringValue, by: Self.operatorName(connection.peer)) {
            case .success(let entry): return ControlResponse(id: id, result: DaemonCore.callbackView(entry))
            case .failure(let e): return ControlResponse(id: id, error: ControlError(.failed, e.description))
            }
        case "callback.cancel", "callback.done":
            guard let callback = string("id"), !callback.isEmpty else {
                return ControlResponse(id: id, error: ControlError(.invalidArgument, "\(request.command) needs args {\"id\": \"<callback id from callback.list>\"}"))
            }
            let status = request.command == "callback.done" ? "done" : "cancelled"
            switch await core.closeCallback(callback, status: status, by: Self.operatorName(connection.peer)) {
            case .success(let entry): return ControlResponse(id: id, result: DaemonCore.callbackView(entry))
            case .failure(let e): return ControlResponse(id: id, error: ControlError(.notFound, e.description))
            }
        case "transfer" where request.args?["complete"] == .bool(true):
            guard let call = request.args?["call"]?.doubleValue, call >= 0, call == call.rounded() else {
                return ControlResponse(id: id, error: ControlError(.invalidArgument, "transfer needs args {\"call\": <call id from 'calls'>, \"complete\": true}"))
            }
            switch await core.completeConsult(callID: Int(call)) {
            case .success(let to): return ControlResponse(id: id, result: ["transferred": JSONValue(Int(call)), "to": .string(to), "attended": true])
            case .failure(let e): return ControlResponse(id: id, error: ControlError(.failed, e.description))
            }
        case "consult":
            let args = request.args
            let targets: [InboundCallService.TransferTarget] =
                [args?["group"]?.stringValue.map { .group($0) }, args?["agent"]?.stringValue.map { .agent($0) }, args?["number"]?.stringValue.map { .number($0) }]
                .compactMap { $0 }
            guard let call = args?["call"]?.doubleValue, call >= 0, call == call.rounded(), targets.count == 1, let target = targets.first else {
                return ControlResponse(
                    id: id, error: ControlError(.invalidArgument, "consult needs args {\"call\": <call id from 'calls'>} and one of \"group\", \"agent\" or \"number\""))
            }
            switch await core.consult(callID: Int(call), target) {
            case .success(let to): return ControlResponse(id: id, result: ["call": JSONValue(Int(call)), "consulting": .string(to)])
            case .failure(let e): return ControlResponse(id: id, error: ControlError(.failed, e.description))
            }
        case "conference":
            guard let call = request.args?["call"]?.doubleValue, call >= 0, call == call.rounded() else {
                return ControlResponse(id: id, error: ControlError(.invalidArgument, "conference needs args {\"call\": <call id from 'calls'>}"))
            }
            switch await core.conference(callID: Int(call)) {
            case .success(let with): return ControlResponse(id: id, result: ["call": JSONValue(Int(call)), "conference": .string(with)])
            case .failure(let e): return ControlResponse(id: id, error: ControlError(.failed, e.description))
            }
        case "return":
            guard let call = request.args?["call"]?.doubleValue, call >= 0, call == call.rounded() else {
                return ControlResponse(id: id, error: ControlError(.invalidArgument, "return needs args {\"call\": <call id from 'calls'>}"))
            }
            switch await core.returnFromConsult(callID: Int(call)) {
            case .success: return ControlResponse(id: id, result: ["call": JSONValue(Int(call)), "returned": true])
            case .failure(let e): return ControlResponse(id: id, error: ControlError(.failed, e.description))
            }
        case "transfer":
            let args = request.args
            let targets: [InboundCallService.TransferTarget] =
                [args?["group"]?.stringValue.map { .group($0) }, args?["agent"]?.stringValue.map { .agent($0) }, args?["number"]?.stringValue.map { .number($0) }]
                .compactMap { $0 }
            guard let call = args?["call"]?.doubleValue, call >= 0, call == call.rounded(), targets.count == 1, let target = targets.first else {
                return ControlResponse(
                    id: id, error: ControlError(.invalidArgument, "transfer needs args {\"call\": <call id from 'calls'>} and one of \"group\", \"agent\" or \"number\""))
            }
            switch await core.transfer(callID: Int(call), to: target) {
            case .success: return ControlResponse(id: id, result: ["transferred": JSONValue(Int(call)), "to": .string(target.description)])
            case .failure(let e): return ControlResponse(id: id, error: ControlError(.failed, e.description))
            }
        case "dial":
            guard let agent = string("agent"), !agent.isEmpty, let number = string("number") else {
                return ControlResponse(
                    id: id, error: ControlError(.invalidArgument, "dial needs args {\"agent\": \"<id>\", \"number\": \"<digits>\", \"account\": \"<code>\" (optional)}"))
            }
            switch await core.dial(agent: agent, number: number, account: string("account")) {
            case .success(let placed):
                return ControlResponse(
                    id: id, result: ["call": JSONValue(Int(placed.id)), "unique_id": .string(placed.uniqueID), "agent": .string(agent), "number": .string(number)])
            case .failure(let e): return ControlResponse(id: id, error: ControlError(.failed, e.description))
            }
        case "release":
            guard let call = request.args?["call"]?.doubleValue, call >= 0, call == call.rounded() else {
                return ControlResponse(id: id, error: ControlError(.invalidArgument, "release needs args {\"call\": <call id from 'calls'>}"))
            }
            let who = Self.operatorName(connection.peer)
            switch await core.release(callID: Int(call), by: who) {
            case .success: return ControlResponse(id: id, result: ["released": JSONValue(Int(call)), "by": .string(who)])
            case .failure(let e): return ControlResponse(id: id, error: ControlError(.notFound, e.description))
            }
        case "monitor.stop":
            guard let call = request.args?["call"]?.doubleValue, call >= 0, call == call.rounded() else {
                return ControlResponse(id: id, error: ControlError(.invalidArgument, "monitor.stop needs args {\"call\": <call id from 'calls'>}"))
            }
            let who = Self.operatorName(connection.peer)
            switch await core.monitorStop(callID: Int(call), by: who) {
            case .success(let device): return ControlResponse(id: id, result: ["call": JSONValue(Int(call)), "device": .string(device), "by": .string(who)])
            case .failure(let e): return ControlResponse(id: id, error: ControlError(.failed, e.description))
            }
        case "monitor", "monitor.mode":
            let modes = MonitorMode.allCases.map(\.rawValue).joined(separator: ", ")
            let modeText = request.args?["mode"]?.stringValue ?? (request.command == "monitor" ? "listen" : "")
            guard let call = request.args?["call"]?.doubleValue, call >= 0, call == call.rounded(), let mode = MonitorMode(rawValue: modeText) else {
                let usage = request.command == "monitor" ? "{\"call\": <call id>, \"device\": \"sip:USER\" or a number, \"mode\": \"\(modes)\"}" : "{\"call\": <call id>, \"mode\": \"\(modes)\"}"
                return ControlResponse(id: id, error: ControlError(.invalidArgument, "\(request.command) needs args \(usage)"))
            }
            if request.command == "monitor.mode" {
                switch await core.monitorMode(callID: Int(call), mode) {
                case .success: return ControlResponse(id: id, result: ["call": JSONValue(Int(call)), "mode": .string(mode.rawValue)])
                case .failure(let e): return ControlResponse(id: id, error: ControlError(.failed, e.description))
                }
            }
            guard let device = request.args?["device"]?.stringValue, !device.isEmpty else {
                return ControlResponse(id: id, error: ControlError(.invalidArgument, "monitor needs args {\"call\": <call id>, \"device\": \"sip:USER\" or a number, \"mode\": \"\(modes)\"}"))
            }
            let who = Self.operatorName(connection.peer)
            switch await core.monitor(callID: Int(call), device: device, mode: mode, by: who) {
            case .success(let agent):
                return ControlResponse(
                    id: id, result: ["call": JSONValue(Int(call)), "agent": .string(agent), "device": .string(device), "mode": .string(mode.rawValue), "by": .string(who)])
            case .failure(let e): return ControlResponse(id: id, error: ControlError(.failed, e.description))
            }
        case "survey":
            guard let call = request.args?["call"]?.doubleValue, call >= 0, call == call.rounded() else {
                return ControlResponse(id: id, error: ControlError(.invalidArgument, "survey needs args {\"call\": <call id from 'calls'>}"))
            }
            let who = Self.operatorName(connection.peer)
            switch await core.survey(callID: Int(call), by: who) {
            case .success(let agent): return ControlResponse(id: id, result: ["call": JSONValue(Int(call)), "survey": true, "agent": .string(agent), "by": .string(who)])
            case .failure(let e): return ControlResponse(id: id, error: ControlError(.failed, e.description))
            }
        case "dtmf":
            guard let call = request.args?["call"]?.doubleValue, call >= 0, call == call.rounded(), let digits = request.args?["digits"]?.stringValue else {
                return ControlResponse(id: id, error: ControlError(.invalidArgument, "dtmf needs args {\"call\": <call id from 'calls'>, \"digits\": \"0-9*#A-D\"}"))
            }
            switch await core.sendDigits(callID: Int(call), digits) {
            case .success(let method): return ControlResponse(id: id, result: ["call": JSONValue(Int(call)), "digits": .string(digits), "method": .string(method)])
            case .failure(let e): return ControlResponse(id: id, error: ControlError(.failed, e.description))
            }
        case "recording.pause", "recording.resume":
            guard let call = request.args?["call"]?.doubleValue, call >= 0, call == call.rounded() else {
                return ControlResponse(id: id, error: ControlError(.invalidArgument, "\(request.command) needs args {\"call\": <call id from 'calls'>}"))
            }
            let pause = request.command == "recording.pause"
            switch await core.setRecordingPaused(callID: Int(call), paused: pause) {
            case .success: return ControlResponse(id: id, result: ["call": JSONValue(Int(call)), "recording_paused": .bool(pause)])
            case .failure(.noSuchCall): return ControlResponse(id: id, error: ControlError(.notFound, "no call \(Int(call))"))
            case .failure(.notRecording): return ControlResponse(id: id, error: ControlError(.failed, "call \(Int(call)) is not being recorded"))
            }
        case "recording.info":
            guard let unique = string("unique_id"), !unique.isEmpty else {
                return ControlResponse(id: id, error: ControlError(.invalidArgument, "recording.info needs args {\"unique_id\": \"<call's unique id>\"}"))
            }
            do {
                guard let r = try core.callRecords.recording(uniqueID: unique) else {
                    return ControlResponse(id: id, error: ControlError(.notFound, "no recording of call \(unique) in the index (none, or still being written)"))
                }
                return ControlResponse(id: id, result: ACDViews.recording(r))
            } catch {
                return ControlResponse(id: id, error: ControlError(.failed, "cannot read the recordings index: \(error)"))
            }
        case "cdr.list":
            let from = request.args?["from"]?.doubleValue ?? 0
            let to = request.args?["to"]?.doubleValue ?? Double(Int64.max)
            let limit = request.args?["limit"]?.doubleValue ?? 10_000
            guard from <= to, limit >= 1, limit == limit.rounded() else {
                return ControlResponse(
                    id: id, error: ControlError(.invalidArgument, "cdr.list takes args {\"from\": <unix time>, \"to\": <unix time>, \"limit\": <count>}, from <= to"))
            }
            do {
                let list = try core.callRecords.cdrs(from: from, to: to, limit: Int(limit))
                if request.args?["format"]?.stringValue == "csv" {
                    return ControlResponse(id: id, result: ["csv": .string(([CDRCSV.header] + list.map(CDRCSV.line)).joined(separator: "\n") + "\n")])
                }
                return ControlResponse(id: id, result: .array(list.map(ACDViews.cdr)))
            } catch {
                return ControlResponse(id: id, error: ControlError(.failed, "cannot read the call records: \(error)"))
            }
        case "recording.play", "prompt.record":
            let result =
                request.command == "recording.play"
                ? await SoundCardCommands.play(request.args, records: core.callRecords, logger: core.logger)
                : await SoundCardCommands.record(request.args, config: await core.currentConfig(), logger: core.logger)
            switch result {
            case .success(let r): return ControlResponse(id: id, result: r)
            case .failure(let e): return ControlResponse(id: id, error: e)
            }
        case "report.campaigns":
            switch ReportCommands.campaigns(request.args, store: core.campaignStore) {
            case .success(let r): return ControlResponse(id: id, result: r)
            case .failure(let e): return ControlResponse(id: id, error: e)
            }
        case "report.billing", "report.calls":
            let config = await core.currentConfig()
            let result =
                request.command == "report.billing"
                ? ReportCommands.billing(request.args, config: config, records: core.callRecords)
                : ReportCommands.calls(request.args, config: config, records: core.callRecords)
            switch result {
            case .success(let r): return ControlResponse(id: id, result: r)
            case .failure(let e): return ControlResponse(id: id, error: e)
            }
        case "help":
            return ControlResponse(id: id, result: .array(commands.map { .string($0) }))
        case let c where c.hasPrefix("campaign.") || c.hasPrefix("dnc."):
            return await campaignCommand(request, core: core)
        default:
            return ControlResponse(id: id, error: ControlError(.unknownCommand, "no command '\(request.command)' (try: \(commands.joined(separator: ", ")))"))
        }
    }

    /// Who an operator is, for records and events: `operator:` and the peer's user name (its uid
    /// when the name cannot be found).
    static func operatorName(_ peer: ControlPeer) -> String {
        if let pw = getpwuid(peer.uid), let name = String(validatingCString: pw.pointee.pw_name) { return "operator:\(name)" }
        return "operator:uid=\(peer.uid)"
    }
}
