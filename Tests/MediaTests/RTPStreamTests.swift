import NIOCore
import Testing

@testable import Media

@Suite struct RTPStreamTests {
    @Test func echoKeepsThePayloadAndNumbersPacketsAsOurs() throws {
        let stream = RTPStream()
        stream.mode = .echo
        let transport = FakeTransport()
        stream.transport = transport
        stream.audioPayloadType = 0
        var far = RTPSenderState()
        var last: RTPHeader?
        for p in 0..<5 {
            let payload = (0..<160).map { UInt8(truncatingIfNeeded: $0 &+ p) }
            stream.receive(far.next(payloadType: 0, samples: 160), payload, from: local(40000))
            let reply = try #require(transport.datagrams.last)
            #expect(transport.datagrams.count == p + 1 && reply.to == local(40000))
            let bytes = reply.bytes
            let h = try bytes.withUnsafeBytes { try RTPHeader.parse($0) }
            #expect(Array(bytes[12...]) == payload)
            #expect(h.ssrc != far.ssrc && h.payloadLength == 160)
            if let last { #expect(h.sequence == last.sequence &+ 1 && h.timestamp == last.timestamp &+ 160, "\(last.timestamp) → \(h.timestamp)") }
            last = h
        }
    }
}
