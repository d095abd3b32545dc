@testable import Control
import Foundation
import Logging
import NIOCore
import NIOPosix
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

/// Answers every command with its name.
final class EchoHandler: ControlCommandHandler {
    func handle(_ request: ControlRequest, connection: ControlConnection, respond: @escaping @Sendable (ControlResponse) -> Void) {
        respond(ControlResponse(id: request.id, result: .string(request.command)))
    }
}

@Suite struct ControlServerTests {
    func start(access: @escaping @Sendable (ControlPeer) -> Bool) async throws -> (ControlServer, MultiThreadedEventLoopGroup, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ctl-\(UUID().uuidString.prefix(6))").path
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let server = try await ControlServer.start(
            path: "\(dir)/acdd.sock", mode: 0o600, group: nil, access: access, handler: EchoHandler(), loopGroup: group, logger: logger)
        return (server, group, "\(dir)/acdd.sock")
    }

    @Test func servesRequests() async throws {
        let (server, group, path) = try await start { _ in true }
        let r = try ControlClient(path: path).call("ping")
        #expect(r.ok && r.result == "ping" && r.id == 1)
        await server.close()
        try await group.shutdownGracefully()
    }

    /// A refused client learns why even when the daemon closed before the request was sent.
    @Test func refusedClientReadsTheReason() async throws {
        let (server, group, path) = try await start { _ in false }
        let client = try ControlClient(path: path)
        try await Task.sleep(for: .milliseconds(200))  // the server has answered and closed by now
        let r = try client.call("status")
        #expect(r.ok == false && r.error?.code == .permissionDenied)
        await server.close()
        try await group.shutdownGracefully()
    }

    /// A second daemon on the same socket is refused; a stale file from a crash is replaced.
    @Test func socketFileHandling() async throws {
        let (server, group, path) = try await start { _ in true }
        await #expect(throws: ControlStartError.self) {
            _ = try await ControlServer.start(path: path, mode: 0o600, group: nil, access: { _ in true }, handler: EchoHandler(), loopGroup: group, logger: Logger(label: "t"))
        }
        await server.close()
        #expect(FileManager.default.createFile(atPath: path, contents: Data("stale".utf8)))
        let again = try await ControlServer.start(path: path, mode: 0o600, group: nil, access: { _ in true }, handler: EchoHandler(), loopGroup: group, logger: Logger(label: "t"))
        #expect(try ControlClient(path: path).call("x").ok)
        await again.close()
        try await group.shutdownGracefully()
    }
}
