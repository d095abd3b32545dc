import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The daemon's subsystems as swift-service-lifecycle runs them: one `Service` each, in this
/// order. A subsystem starts only once the one before it is up; on SIGTERM (or when one fails) the
/// group shuts them down in reverse, each waiting for the ones after it to finish (the group's
/// graceful shutdown), so the drain runs while everything below it still works.
enum Subsystems {
    static func services(_ core: DaemonCore, logger: Logger) -> [ServiceGroupConfiguration.ServiceConfiguration] {
        let steps: [SubsystemService.Step] = [
            .init("records", start: { try core.startRecords() }, stop: { core.stopRecords() }),
            .init("acd", start: { try core.startACD() }, stop: { core.stopACD() }),
            .init("recording", start: { core.startRecording() }, stop: { await core.stopRecording() }),
            .init("sip", start: { try await core.startSIP() }, stop: { await core.stopSIP() }),
            .init("control", start: { try await core.startControl() }, stop: { await core.stopControl() }),
            .init("calls", start: {}, stop: { await core.drainCalls() }),
            .init("ready", start: { try await core.announceReady() }, stop: { await core.stopWatchdog() }, whileUp: { await reloadOnSIGHUP(core) }),
        ]
        var gates = [StartGate]()
        for _ in steps { gates.append(StartGate()) }
        return steps.enumerated().map { i, step in
            .init(
                service: SubsystemService(step: step, after: i > 0 ? gates[i - 1] : nil, gate: gates[i], logger: logger),
                successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)
        }
    }

    /// SIGHUP applies the configuration file again, until shutdown.
    static func reloadOnSIGHUP(_ core: DaemonCore) async {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            _ = await core.reload()
        }
    }
}

/// Opened once a subsystem is up (or failed: then the ones after it never start).
final class StartGate: Sendable {
    private enum State {
        case closed([CheckedContinuation<Bool, Never>])
        case open(Bool)
    }
    private let state = Mutex(State.closed([]))

    /// Whether the subsystem came up.
    func wait() async -> Bool {
        await withCheckedContinuation { continuation in
            let now: Bool? = state.withLock { s in
                switch s {
                case .open(let up): return up
                case .closed(var waiting):
                    waiting.append(continuation)
                    s = .closed(waiting)
                    return nil
                }
            }
            if let now { continuation.resume(returning: now) }
        }
    }

    func open(up: Bool) {
        let waiting: [CheckedContinuation<Bool, Never>] = state.withLock { s in
            guard case .closed(let w) = s else { return [] }
            s = .open(up)
            return w
        }
        for c in waiting { c.resume(returning: up) }
    }
}

/// One subsystem: waits for the one before it, starts, stays up until the group shuts down, stops.
struct SubsystemService: Service {
    struct Step: Sendable {
        let name: String
        let start: @Sendable () async throws -> Void
        let stop: @Sendable () async -> Void
        /// What it does while up (the last one watches for SIGHUP).
        let whileUp: @Sendable () async -> Void

        init(
            _ name: String, start: @escaping @Sendable () async throws -> Void, stop: @escaping @Sendable () async -> Void,
            whileUp: @escaping @Sendable () async -> Void = { try? await gracefulShutdown() }
        ) {
            self.name = name
            self.start = start
            self.stop = stop
            self.whileUp = whileUp
        }
    }

    let step: Step
    let after: StartGate?
    let gate: StartGate
    let logger: Logger

    func run() async throws {
        if let after, await !after.wait() {
            // Something before us failed: we never started, so there is nothing to stop.
            gate.open(up: false)
            return
        }
        do {
            try await step.start()
        } catch {
            gate.open(up: false)
            logger.critical("acdd could not start", metadata: ["subsystem": "\(step.name)", "error": "\(error)"])
            throw error
        }
        gate.open(up: true)
        await step.whileUp()
        await step.stop()
    }
}
