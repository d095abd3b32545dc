import Foundation
import Fuzzing
import SIPMessage
import Testing

/// Every seed of the fuzzers' corpus and every input a fuzzer ever crashed on, run through the
/// same harness the fuzzers run (issue 20): a finding, once fixed, stays fixed in `make check`.
@Suite struct CorpusReplayTests {
    static let fuzz = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fuzz").path

    static func inputs(_ folders: [String]) throws -> [(name: String, bytes: [UInt8])] {
        try folders.flatMap { folder -> [(name: String, bytes: [UInt8])] in
            let path = "\(fuzz)/\(folder)"
            guard FileManager.default.fileExists(atPath: path) else { return [] }
            return try FileManager.default.contentsOfDirectory(atPath: path).sorted().map { name in
                ("\(folder)/\(name)", [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(path)/\(name)"))))
            }
        }
    }

    @Test func everySIPSeedAndFindingReplays() throws {
        let all = try Self.inputs(["corpus/sip", "found/sip"])
        #expect(all.count >= 20, "the SIP corpus is missing: \(Self.fuzz)")
        for input in all { SIPHarness.run(input.bytes) }
    }

    @Test func everyRTPSeedAndFindingReplays() throws {
        let all = try Self.inputs(["corpus/rtp", "found/rtp"])
        #expect(all.count >= 9, "the RTP corpus is missing: \(Self.fuzz)")
        for input in all { RTPHarness.run(input.bytes) }
    }

    /// Seeds the parser refuses teach the fuzzer nothing past the first line: each SIP seed
    /// (but the keep-alive and the cut TCP stream) must be a message we read.
    @Test func theSIPSeedsAreMessages() throws {
        for input in try Self.inputs(["corpus/sip"]) where !input.name.contains("keepalive") && !input.name.contains("tcp-") {
            #expect(throws: Never.self, "\(input.name)") { _ = try SIPParser().parse(input.bytes) }
        }
    }
}
