import Control
import Foundation

/// The control-socket commands of the daemon (docs/control-protocol.md).
final class ControlCommands: ControlCommandHandler, @unchecked Sendable {
    // Unchecked: holds only the core, which is itself loop-confined and reached through async hops.
    let core: DaemonCore

    init(core: DaemonCore) { self.core = core }

    static let commands = ["status", "calls", "registrations", "reload", "hangup", "help"]

    func handle(_ request: ControlRequest, peer: ControlPeer, respond: @escaping @Sendable (ControlResponse) -> Void) {
        let core = self.core
        Task {
            respond(await Self.run(request, core: core))
        }
    }

    static func run(_ request: ControlRequest, core: DaemonCore) async -> ControlResponse {
        let id = request.id
        switch request.command {
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
        case "help":
            return ControlResponse(id: id, result: .array(commands.map { .string($0) }))
        default:
            return ControlResponse(id: id, error: ControlError(.unknownCommand, "no command '\(request.command)' (try: \(commands.joined(separator: ", ")))"))
        }
    }
}
