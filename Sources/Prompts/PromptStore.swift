public import Media
import Foundation

/// Every prompt and every music-on-hold track, decoded once at start-up (or reload) and shared by
/// all calls. Files live under the prompts directory as `<language>/<name>.wav` and
/// `moh/<name>.wav`; whatever their rate, width or channel count, they are converted here to the
/// call's 8 kHz mono, so nothing is converted while a call plays.
///
/// Loading is all or nothing: one unreadable file fails the whole load with the file named, so a
/// broken prompt is an error the operator sees at start-up or reload, never silence on a call.
/// Immutable once loaded; a reload builds a new store and swaps it in.
public final class PromptStore: Sendable {
    public enum LoadError: Error, Sendable, Equatable, CustomStringConvertible {
        case directory(String)
        case unreadable(path: String, reason: String)
        case empty(path: String)
        case missing(name: String, path: String)

        public var description: String {
            switch self {
            case .directory(let d): "prompt directory \(d) does not exist or has no language or moh folder"
            case .unreadable(let p, let r): "prompt \(p) cannot be read: \(r)"
            case .empty(let p): "prompt \(p) holds no audio"
            case .missing(let n, let p): "prompt \(n) is needed but \(p) does not exist"
            }
        }
    }

    public let directory: String
    /// Keyed "<language>/<name>" and "moh/<name>".
    private let clips: [String: AudioClip]
    public let rate: Int

    /// Folder of music on hold beside the language folders.
    public static let musicFolder = "moh"
    static let extensions: Set<String> = ["wav", "aiff", "aif", "flac", "au"]

    public init(directory: String, rate: Int = AudioClip.sampleRate) throws(LoadError) {
        self.directory = directory
        self.rate = rate
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue,
            let folders = try? fm.contentsOfDirectory(atPath: directory)
        else { throw .directory(directory) }
        var clips: [String: AudioClip] = [:]
        for folder in folders.sorted() {
            let path = (directory as NSString).appendingPathComponent(folder)
            guard fm.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue,
                let files = try? fm.contentsOfDirectory(atPath: path)
            else { continue }
            for file in files.sorted() where Self.extensions.contains((file as NSString).pathExtension.lowercased()) {
                let name = (file as NSString).deletingPathExtension
                let filePath = (path as NSString).appendingPathComponent(file)
                clips["\(folder)/\(name)"] = try Self.load(filePath, name: name, rate: rate)
            }
        }
        guard !clips.isEmpty else { throw .directory(directory) }
        self.clips = clips
    }

    /// Decodes one file to mono at `rate`: channels averaged, then resampled, then rounded to 16 bits.
    public static func load(_ path: String, name: String, rate: Int = AudioClip.sampleRate) throws(LoadError) -> AudioClip {
        let contents: SoundFile.Contents
        do {
            contents = try SoundFile.read(path)
        } catch {
            switch error {
            case .open(let reason), .format(let reason): throw .unreadable(path: path, reason: reason)
            }
        }
        guard !contents.samples.isEmpty else { throw .empty(path: path) }
        var mono = contents.samples
        if contents.channels > 1 {
            let c = contents.channels
            mono = (0..<(contents.samples.count / c)).map { f in
                var sum: Float = 0
                for ch in 0..<c { sum += contents.samples[f * c + ch] }
                return sum / Float(c)
            }
        }
        let converted = SampleRateConverter.convert(mono, from: contents.rate, to: rate)
        let samples = converted.map { Int16(max(-32768, min(32767, ($0 * 32768).rounded()))) }
        return AudioClip(name: name, samples: samples)
    }

    /// Names of every loaded prompt in a language (music excluded).
    public func names(language: String) -> [String] {
        clips.keys.filter { $0.hasPrefix(language + "/") }.map { String($0.dropFirst(language.count + 1)) }.sorted()
    }

    public var languages: [String] {
        Set(clips.keys.compactMap { $0.split(separator: "/").first.map(String.init) }).subtracting([Self.musicFolder]).sorted()
    }

    public func prompt(_ name: String, language: String) -> AudioClip? { clips["\(language)/\(name)"] }

    public func music(_ name: String) -> AudioClip? { clips["\(Self.musicFolder)/\(name)"] }

    /// The prompts `names` in `language`, or an error naming the first one missing.
    public func require(_ names: [String], language: String) throws(LoadError) -> [AudioClip] {
        var out: [AudioClip] = []
        for name in names {
            guard let clip = prompt(name, language: language) else {
                throw .missing(name: name, path: (directory as NSString).appendingPathComponent("\(language)/\(name).wav"))
            }
            out.append(clip)
        }
        return out
    }

    public func requireMusic(_ name: String) throws(LoadError) -> AudioClip {
        guard let clip = music(name) else {
            throw .missing(name: "music \(name)", path: (directory as NSString).appendingPathComponent("\(Self.musicFolder)/\(name).wav"))
        }
        return clip
    }

    /// Total decoded audio held, for status.
    public var totalSamples: Int { clips.values.reduce(0) { $0 + $1.samples.count } }
    public var count: Int { clips.count }
}
