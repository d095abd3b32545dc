import ArgumentParser
import Config
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// `acdd`: the ACD/IVR daemon.
@main
struct ACDD: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "acdd",
        abstract: "ACD/IVR telephony daemon: answers SIP calls, queues callers by skill, bridges them to agents.",
        version: DaemonCore.version)

    @Option(name: .long, help: "Configuration file (TOML).")
    var config: String = "config/acd.toml"

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a configuration value, e.g. --set sip.listen=127.0.0.1:5080.", valueName: "key=value"))
    var settings: [String] = []

    @Option(name: .customLong("check-config"), help: ArgumentHelp("Check a configuration file and exit: 0 if valid, 1 with file:line: reason if not.", valueName: "file"))
    var checkConfig: String?

    func overrides() throws -> [String: String] {
        var out: [String: String] = [:]
        for item in settings {
            guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
                throw ValidationError("--set takes key=value, not '\(item)'")
            }
            out[String(item[..<eq])] = String(item[item.index(after: eq)...])
        }
        return out
    }

    func run() async throws {
        let overrides = try overrides()
        if let checkConfig {
            do {
                _ = try DaemonConfiguration.load(path: checkConfig, overrides: overrides)
                print("\(checkConfig): OK")
                return
            } catch {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                throw ExitCode(1)
            }
        }
        let configuration: DaemonConfiguration
        do {
            configuration = try DaemonConfiguration.load(path: config, overrides: overrides)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(78)  // EX_CONFIG
        }
        let levelBox = LogLevelBox(Logger.Level(rawValue: configuration.daemon.logLevel) ?? .info)
        LoggingSystem.bootstrap { label in JournalLogHandler(label: label, levelBox: levelBox) }
        let logger = Logger(label: "acdd")
        let core: DaemonCore
        do {
            core = try DaemonCore(config: configuration, configPath: config, overrides: overrides, logger: logger, levelBox: levelBox)
        } catch {
            logger.critical("acdd could not start its media loops", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
        let group = ServiceGroup(
            configuration: .init(services: Subsystems.services(core, logger: logger), gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            // The failing subsystem said what failed; the ones before it were stopped in reverse.
            await core.shutDownLoops()
            throw ExitCode(1)
        }
        await core.shutDownLoops()
    }
}
