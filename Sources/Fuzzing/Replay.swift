import Foundation

/// The fuzz executables' entry without libFuzzer: every file named (or in a folder named) is run
/// once through the harness, which is how a crash file from a fuzzing run is checked by hand.
public enum Replay {
    public static func files(_ paths: [String], through harness: ([UInt8]) -> Void) -> Int32 {
        var count = 0
        for path in paths {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
                FileHandle.standardError.write(Data("no such file or folder: \(path)\n".utf8))
                return 2
            }
            let files = isFolder.boolValue ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { "\(path)/\($0)" } : [path]
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                harness([UInt8](data))
                count += 1
            }
        }
        print("\(count) inputs replayed, none crashed")
        return 0
    }
}
