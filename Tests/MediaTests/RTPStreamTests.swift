import NIOCore
import Testing

@testable import Media

@Suite struct RTPStreamTests {
    func datagram(_ header: RTPHeader, _ payload: [UInt8], from port: Int = 40000) throws -> AddressedEnvelope<ByteBuffer> {
        var bytes = [UInt8](repeating: 0, count: 12)
        bytes.withUnsafeMutableBytes { header.write(to: $0) }
        return AddressedEnvelope(remoteAddress: try SocketAddress(ipAddress: "127.0.0.1", port: port), data: ByteBuffer(bytes: bytes + payload))
    }

    @Test func echoKeepsThePayloadAndNumbersPacketsAsOurs() throws {
        let stream = RTPStream()
        stream.mode = .echo
        stream.audioPayloadType = 0
        var far = RTPSenderState()
        var last: RTPHeader?
        for p in 0..<5 {
            let payload = (0..<160).map { UInt8(truncatingIfNeeded: $0 &+ p) }
            let reply = try #require(stream.receive(try datagram(far.next(payloadType: 0, samples: 160), payload), now: .now()))
            let bytes = Array(reply.data.readableBytesView)
            let h = try bytes.withUnsafeBytes { try RTPHeader.parse($0) }
            #expect(Array(bytes[12...]) == payload)
            #expect(h.ssrc != far.ssrc && h.payloadLength == 160)
            if let last { #expect(h.sequence == last.sequence &+ 1 && h.timestamp == last.timestamp &+ 160, "\(last.timestamp) → \(h.timestamp)") }
            last = h
        }
    }
}
