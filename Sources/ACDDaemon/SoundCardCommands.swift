import Config
import Control
import Foundation
import Logging
import Recording
import Store
import JSON

/// `recording.play` and `prompt.record`: the host's sound card, one use at a time, on a queue of
/// its own (ALSA calls block for as long as the audio lasts).
enum SoundCardCommands {
    static let queue = DispatchQueue(label: "acdd.soundcard")

    /// Runs `work` on the sound card's queue and waits for it without holding a thread of the
    /// caller's.
    static func onCard<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { c in queue.async { c.resume(returning: work()) } }
    }

    static func play(_ args: [String: JSONValue]?, records: CallRecords, logger: Logger) async -> Result<JSONValue, ControlError> {
        guard let unique = args?["unique_id"]?.stringValue, !unique.isEmpty else {
            return .failure(ControlError(.invalidArgument, "recording.play needs args {\"unique_id\": \"<call's unique id>\", \"device\": \"<ALSA device>\"}"))
        }
        let device = args?["device"]?.stringValue ?? "default"
        let entry: RecordingEntry
        do {
            guard let e = try records.recording(uniqueID: unique) else { return .failure(ControlError(.notFound, "no recording of call \(unique) in the index")) }
            entry = e
        } catch {
            return .failure(ControlError(.failed, "cannot read the recordings index: \(error)"))
        }
        guard entry.status != "deleted", FileManager.default.fileExists(atPath: entry.path) else {
            return .failure(ControlError(.notFound, "the recording of call \(unique) is no longer on disk (\(entry.status))"))
        }
        let path = entry.path
        let result = await onCard { () -> Result<Double, SoundCard.Failure> in
            Result { () throws(SoundCard.Failure) -> Double in try SoundCard.play(path, device: device) }
        }
        switch result {
        case .success(let seconds):
            logger.info("recording played", metadata: ["call.unique_id": "\(unique)", "recording.path": "\(path)", "alsa.device": "\(device)"])
            return .success(["unique_id": .string(unique), "path": .string(path), "seconds": JSONValue(seconds), "device": .string(device)])
        case .failure(let e):
            logger.error("recording could not be played", metadata: ["call.unique_id": "\(unique)", "alsa.device": "\(device)", "error": "\(e)"])
            return .failure(ControlError(.failed, e.description))
        }
    }

    static func record(_ args: [String: JSONValue]?, config: DaemonConfiguration, logger: Logger) async -> Result<JSONValue, ControlError> {
        guard let name = args?["name"]?.stringValue, !name.isEmpty, name.count <= 64,
            name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
        else {
            return .failure(ControlError(.invalidArgument, "prompt.record needs a name of letters, digits, - and _ (at most 64)"))
        }
        let seconds = args?["seconds"]?.doubleValue ?? 5
        guard seconds >= 0.5, seconds <= 120 else { return .failure(ControlError(.invalidArgument, "seconds must be 0.5 to 120")) }
        let language = args?["language"]?.stringValue ?? config.prompts.language
        guard !language.isEmpty, !language.contains("/"), language != ".", language != ".." else {
            return .failure(ControlError(.invalidArgument, "language must be a folder name"))
        }
        let device = args?["device"]?.stringValue ?? "default"
        let directory = (config.paths.prompts as NSString).appendingPathComponent(language)
        let path = (directory as NSString).appendingPathComponent("\(name).wav")
        if FileManager.default.fileExists(atPath: path) && args?["replace"] != .bool(true) {
            return .failure(ControlError(.failed, "prompt \(language)/\(name) exists; pass replace to record over it"))
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            return .failure(ControlError(.failed, "cannot create \(directory): \(error.localizedDescription)"))
        }
        let result = await onCard { () -> Result<Int, SoundCard.Failure> in
            Result { () throws(SoundCard.Failure) -> Int in try SoundCard.record(path, device: device, seconds: seconds) }
        }
        switch result {
        case .success(let peak):
            logger.notice("prompt recorded", metadata: ["prompt.path": "\(path)", "alsa.device": "\(device)", "prompt.peak": "\(peak)"])
            return .success(["path": .string(path), "seconds": JSONValue(seconds), "peak": JSONValue(peak), "silent": .bool(peak < 100)])
        case .failure(let e):
            logger.error("prompt could not be recorded", metadata: ["prompt.path": "\(path)", "alsa.device": "\(device)", "error": "\(e)"])
            return .failure(ControlError(.failed, e.description))
        }
    }
}
