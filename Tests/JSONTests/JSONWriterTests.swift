import Foundation
import TestSupport
import Testing
import JSON

/// `JSONValue.write` replaces Foundation's encoder on the hot paths (CRM events, the event stream),
/// so it is held to the same output: every value decodes back to itself, and where Foundation's
/// key order is plain byte order the bytes are the same.
@Suite struct JSONWriterTests {
    static func line(_ value: JSONValue) -> [UInt8] { value.encodedLine() }

    static let pieces = ["a", "Z", "é", "日本", "/", "\"", "\\", "\n", "\r", "\t", "\u{08}", "\u{0C}", "\u{01}", "\u{1F}", "\u{7F}", " ", "😀", "0", "sip:1001@127.0.0.1"]

    func randomString(_ rng: inout SplitMix64) -> String {
        (0..<Int.random(in: 0...6, using: &rng)).map { _ in Self.pieces.randomElement(using: &rng)! }.joined()
    }

    func randomKey(_ rng: inout SplitMix64) -> String {
        String((0..<Int.random(in: 1...8, using: &rng)).map { _ in "abcdefghijklmnopqrstuvwxyz".randomElement(using: &rng)! })
    }

    func randomValue(_ rng: inout SplitMix64, depth: Int) -> JSONValue {
        switch Int.random(in: 0..<(depth > 3 ? 4 : 6), using: &rng) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2:
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: return .number(Double(Int.random(in: -1_000_000...1_000_000, using: &rng)))
            case 1: return .number(Double.random(in: -1e6...1e6, using: &rng))
            case 2: return .number(Double(Int64.random(in: -(1 << 52)...(1 << 52), using: &rng)))
            default: return .number([0.1, 1e-7, 2.5e20, -0.0, 1e15 + 0.5, 123456.789].randomElement(using: &rng)!)
            }
        case 3: return .string(randomString(&rng))
        case 4: return .array((0..<Int.random(in: 0...4, using: &rng)).map { _ in randomValue(&rng, depth: depth + 1) })
        default:
            var o: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 0...5, using: &rng) { o[randomKey(&rng)] = randomValue(&rng, depth: depth + 1) }
            return .object(o)
        }
    }

    func foundation(_ value: JSONValue) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }

    @Test func twoThousandRandomValuesMatchFoundation() throws {
        var rng = SplitMix64(seed: 20261123)
        for _ in 0..<2_000 {
            let value = randomValue(&rng, depth: 0)
            let line = Self.line(value)
            #expect(line.last == 0x0A)
            let ours = Array(line.dropLast())
            #expect(!ours.contains(0x0A), "a newline inside a line would split it")
            let back = try JSONDecoder().decode(JSONValue.self, from: Data(ours))
            #expect(back == value, "\(String(decoding: ours, as: UTF8.self))")
            // Lowercase ASCII keys sort the same either way; the bytes must then agree.
            let theirs = try foundation(value)
            #expect(ours == theirs, "\(String(decoding: ours, as: UTF8.self)) against \(String(decoding: theirs, as: UTF8.self))")
        }
    }

    @Test func escapesWhatJSONRequiresAndNothingElse() {
        let line = Self.line(["k": "a\"b\\c\nd\u{01}e/é😀"])
        #expect(String(decoding: line, as: UTF8.self) == "{\"k\":\"a\\\"b\\\\c\\nd\\u0001e/é😀\"}\n")
        #expect(String(decoding: Self.line(.number(.nan)), as: UTF8.self) == "null\n")
        #expect(String(decoding: Self.line(["b": 1, "a": [1.5, true, .null]]), as: UTF8.self) == "{\"a\":[1.5,true,null],\"b\":1}\n")
    }
}
