@testable import Control
import Foundation
import NIOCore
import NIOTestUtils
import Testing

@Suite struct ControlProtocolTests {
    /// Lines split anywhere (NIO's verifier feeds byte by byte and in chunks); CRLF tolerated; a line
    /// over the limit comes out once as nil and the next line is intact.
    @Test func lineDecoder() throws {
        let long = Array(repeating: UInt8(ascii: "x"), count: 40)
        let input = ByteBuffer(bytes: Array("{\"command\":\"status\"}\n".utf8) + Array("a\r\n".utf8) + long + [0x0A] + Array("b\n".utf8))
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [(input, [Array("{\"command\":\"status\"}".utf8), Array("a".utf8), nil, Array("b".utf8)])],
            decoderFactory: { LineDecoder(limit: 30) })
    }

    @Test func requestsAndErrors() throws {
        guard case .success(let r) = ControlCodec.decodeRequest(Array(#"{"id":"x","command":"hangup","args":{"call":3}}"#.utf8)) else {
            Issue.record("not decoded")
            return
        }
        #expect(r.id == "x" && r.command == "hangup" && r.args?["call"] == 3)
        for bad in ["[1,2]", "not json", #"{"id":1}"#, #"{"command":5}"#, #"{"command":"x","args":[1]}"#] {
            guard case .failure(let e) = ControlCodec.decodeRequest(Array(bad.utf8)) else {
                Issue.record("accepted \(bad)")
                continue
            }
            #expect(e.code == .badRequest)
        }
    }

    @Test func responsesAlwaysCarryAnID() throws {
        let line = ControlCodec.encodeLine(ControlResponse(id: nil, error: ControlError(.badRequest, "no")))
        #expect(String(decoding: line, as: UTF8.self) == #"{"error":{"code":"bad_request","message":"no"},"id":null,"ok":false}"# + "\n")
        let ok = ControlCodec.encodeLine(ControlResponse(id: 7, result: ["n": 2, "s": "t", "f": 1.5]))
        #expect(String(decoding: ok, as: UTF8.self) == #"{"id":7,"ok":true,"result":{"f":1.5,"n":2,"s":"t"}}"# + "\n")
    }
}
