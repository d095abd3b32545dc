import Calls
import Campaigns
import Control
import JSON

extension ControlCommands {
    /// `campaign.*` and `dnc.*` (docs/control-protocol.md, Campaigns).
    static func campaignCommand(_ request: ControlRequest, core: DaemonCore) async -> ControlResponse {
        let id = request.id
        func string(_ key: String) -> String? { request.args?[key]?.stringValue }
        func bad(_ usage: String) -> ControlResponse { ControlResponse(id: id, error: ControlError(.invalidArgument, "\(request.command) needs args \(usage)")) }
        func answer(_ r: Result<JSONValue, CampaignDialer.CampaignError>, _ code: ControlErrorCode = .failed) -> ControlResponse {
            switch r {
            case .success(let v): ControlResponse(id: id, result: v)
            case .failure(let e): ControlResponse(id: id, error: ControlError(code, e.description))
            }
        }
        let name = string("name") ?? ""
        switch request.command {
        case "campaign.create":
            guard !name.isEmpty, let group = string("group"), let modeText = string("mode") else {
                return bad(#"{"name", "group", "mode": "preview"|"progressive", "hours": "08:00-21:00", "days": "mon-sun", "time_zone", "attempts", "retry_seconds": {"busy": 600, ...}}"#)
            }
            guard let mode = DialMode(rawValue: modeText) else {
                return ControlResponse(id: id, error: ControlError(.invalidArgument, "mode '\(modeText)' is not preview, progressive or predictive"))
            }
            var settings = CampaignSettings(name: name, group: group, mode: mode)
            do {
                settings.hours = try CallingHours(hours: string("hours") ?? "08:00-21:00", days: string("days") ?? "mon-sun")
            } catch {
                return ControlResponse(id: id, error: ControlError(.invalidArgument, error.description))
            }
            if let z = string("time_zone") { settings.timeZone = z }
            if let v = request.args?["abandon_target"] {
                guard let d = v.doubleValue else { return ControlResponse(id: id, error: ControlError(.invalidArgument, "abandon_target must be a number")) }
                settings.abandonTarget = d
            }
            if let v = request.args?["ring_seconds"] {
                guard let n = v.intValue else { return ControlResponse(id: id, error: ControlError(.invalidArgument, "ring_seconds must be a whole number")) }
                settings.ringSeconds = n
            }
            if let v = request.args?["abandon_prompt"] {
                guard let p = v.stringValue else { return ControlResponse(id: id, error: ControlError(.invalidArgument, "abandon_prompt must be a prompt's name")) }
                settings.abandonPrompt = p
            }
            if let v = request.args?["max_lines_per_agent"] {
                guard let d = v.doubleValue else { return ControlResponse(id: id, error: ControlError(.invalidArgument, "max_lines_per_agent must be a number")) }
                settings.maxLinesPerAgent = d
            }
            if let a = request.args?["attempts"] {
                guard let n = a.intValue else { return ControlResponse(id: id, error: ControlError(.invalidArgument, "attempts must be a whole number")) }
                settings.attempts = n
            }
            if case .object(let retry)? = request.args?["retry_seconds"] {
                for (outcome, v) in retry {
                    guard let n = v.intValue else { return ControlResponse(id: id, error: ControlError(.invalidArgument, "retry_seconds.\(outcome) must be a whole number")) }
                    settings.retrySeconds[outcome] = n
                }
            }
            return answer(core.createCampaign(settings), .invalidArgument)
        case "campaign.load":
            guard !name.isEmpty, let csv = string("csv") else {
                return bad(#"{"name", "csv": "<the file's text, or a part>", "source": "<file name, for errors>", "upload": "<id>", "more": true while parts follow}"#)
            }
            // A list larger than a line comes in parts under one upload id; the last one loads it.
            var text = csv
            if let upload = string("upload") {
                let key = "\(name)\u{0}\(upload)"
                let more = request.args?["more"] == .bool(true)
                let staged = core.uploads.withLock { u -> Int? in
                    let total = (u[key]?.utf8.count ?? 0) + csv.utf8.count
                    guard total <= 64 << 20 else {
                        u[key] = nil
                        return nil
                    }
                    if more {
                        u[key, default: ""] += csv
                        return total
                    }
                    text = (u.removeValue(forKey: key) ?? "") + csv
                    return total
                }
                guard let staged else { return ControlResponse(id: id, error: ControlError(.invalidArgument, "a contact list is at most 64 MiB; split the file")) }
                if more { return ControlResponse(id: id, result: ["staged": JSONValue(staged)]) }
            }
            return answer(await core.loadCampaign(name, csv: text, source: string("source") ?? "csv"), .invalidArgument)
        case "campaign.start", "campaign.pause", "campaign.stop":
            guard !name.isEmpty else { return bad(#"{"name"}"#) }
            let status: CampaignStatus = request.command == "campaign.start" ? .running : request.command == "campaign.pause" ? .paused : .stopped
            return answer(await core.setCampaign(name, to: status))
        case "campaign.status":
            switch await core.campaignStatus(name.isEmpty ? nil : name) {
            case .success(let list): return ControlResponse(id: id, result: name.isEmpty ? .array(list) : list.first ?? .null)
            case .failure(let e): return ControlResponse(id: id, error: ControlError(.notFound, e.description))
            }
        case "campaign.contacts":
            guard !name.isEmpty else { return bad(#"{"name", "status"}"#) }
            var status: ContactStatus?
            if let s = string("status") {
                guard let st = ContactStatus(rawValue: s) else {
                    return ControlResponse(id: id, error: ControlError(.invalidArgument, "status '\(s)' is not one of \(ContactStatus.allCases.map(\.rawValue).joined(separator: ", "))"))
                }
                status = st
            }
            return answer(core.campaignContacts(name, status: status), .notFound)
        case "campaign.preview", "campaign.accept", "campaign.skip":
            guard let agent = string("agent"), !agent.isEmpty else { return bad(#"{"agent"}"#) }
            switch request.command {
            case "campaign.preview": return ControlResponse(id: id, result: await core.previewOf(agent: agent))
            case "campaign.skip": return answer(await core.skipPreview(agent: agent))
            default:
                switch await core.acceptPreview(agent: agent) {
                case .success(let placed): return ControlResponse(id: id, result: ["call": JSONValue(Int(placed.id)), "unique_id": .string(placed.uniqueID), "agent": .string(agent)])
                case .failure(let e): return ControlResponse(id: id, error: ControlError(.failed, e.description))
                }
            }
        case "dnc.add":
            let numbers = request.args?["numbers"]?.arrayValue?.compactMap(\.stringValue) ?? string("number").map { [$0] } ?? []
            guard !numbers.isEmpty else { return bad(#"{"number"} or {"numbers": [...]}, "note""#) }
            return answer(await core.addDoNotCall(numbers, note: string("note") ?? ""), .invalidArgument)
        case "dnc.remove":
            guard let number = string("number") else { return bad(#"{"number"}"#) }
            return answer(await core.removeDoNotCall(number), .notFound)
        case "dnc.list":
            return answer(core.doNotCallList())
        default:
            return ControlResponse(id: id, error: ControlError(.unknownCommand, "no command '\(request.command)'"))
        }
    }
}
