import NIOCore
import NIOEmbedded
import Testing

@testable import Media

/// Two legs on fake transports, clocked by one embedded loop, joined by `RTPBridge`.
@Suite struct BridgeTests {
    final class Leg {
        let transport = FakeTransport()
        let stream = RTPStream()
        let far: MediaAddress
        var sender = RTPSenderState()

        init(loop: EmbeddedEventLoop, port: Int, codec: VoiceCodec) throws {
            far = local(port)
            stream.codec = codec
            stream.audioPayloadType = codec.payloadType
            stream.eventPayloadType = 101
            stream.transport = transport
        }

        func receive(_ header: RTPHeader, _ payload: [UInt8]) throws {
            stream.receive(header, payload, from: far)
        }

        func sent() throws -> [(to: MediaAddress, header: RTPHeader, payload: [UInt8])] {
            try transport.take()
        }
    }

    @Test func samecodecPacketsCrossUntouchedUnderTheOtherLegsStream() throws {
        let loop = EmbeddedEventLoop()
        let a = try Leg(loop: loop, port: 41000, codec: .ulaw), b = try Leg(loop: loop, port: 42000, codec: .ulaw)
        // B's far end has spoken first, so B is latched; A is not and is reached at its SDP address.
        try b.receive(b.sender.next(payloadType: 0, samples: 160), [UInt8](repeating: 0xFF, count: 160))
        a.stream.remote = a.far
        RTPBridge.join(a.stream, b.stream)
        var tapped = 0
        a.stream.tap = { _, payload in tapped += payload.count }

        var payloads: [[UInt8]] = []
        var headers: [RTPHeader] = []
        for p in 0..<40 {
            let payload = (0..<160).map { UInt8(truncatingIfNeeded: $0 * 7 + p) }
            payloads.append(payload)
            if p == 20 { a.sender.skip(samples: 800) }  // the caller paused (silence suppression)
            try a.receive(a.sender.next(payloadType: 0, samples: 160), payload)
            let out = try b.sent()
            #expect(out.count == 1, "relayed as it arrived")
            guard let packet = out.first else { continue }
            #expect(packet.to == b.far && packet.payload == payload)
            headers.append(packet.header)
        }
        #expect(tapped == 40 * 160)
        #expect(Set(headers.map(\.ssrc)) == [headers[0].ssrc] && headers[0].ssrc != a.sender.ssrc)
        for (i, (x, y)) in zip(headers, headers.dropFirst()).enumerated() {
            #expect(y.sequence == x.sequence &+ 1)
            #expect(y.timestamp &- x.timestamp == (i == 19 ? 960 : 160), "the pause carries through")
        }
        #expect(headers[0].marker && headers[20].marker && !headers[1].marker)
        #expect(b.stream.packetsRelayed == 40)
        // Nothing goes back to A's side.
        #expect(try a.sent().isEmpty)
    }

    @Test func lawsAreTranscodedAndKeysCrossAsEvents() throws {
        let loop = EmbeddedEventLoop()
        let a = try Leg(loop: loop, port: 41002, codec: .ulaw), b = try Leg(loop: loop, port: 42002, codec: .alaw)
        a.stream.remote = a.far
        b.stream.remote = b.far
        RTPBridge.join(a.stream, b.stream)
        let payload = (0..<160).map { UInt8($0) }
        try a.receive(a.sender.next(payloadType: 0, samples: 160), payload)
        let out = try #require(try b.sent().first)
        #expect(out.header.payloadType == 8)
        #expect(out.payload == payload.map { G711.alaw.encode(G711.ulaw.decode($0)) })

        // A key pressed on B's side reaches A as an event with A's payload type, and is still
        // reported on B.
        var keys: [Character] = []
        b.stream.onDigit = { keys.append($0) }
        let ts = b.sender.nextTimestamp
        for i in 1...4 {
            var e = [UInt8](repeating: 0, count: 4)
            e.withUnsafeMutableBytes { TelephoneEvent(event: 9, end: i > 2, duration: UInt16(i * 160)).write(to: $0) }
            try b.receive(b.sender.nextEvent(payloadType: 101, eventTimestamp: ts, first: i == 1), e)
        }
        let events = try a.sent()
        #expect(events.count == 4 && events.allSatisfy { $0.header.payloadType == 101 && $0.payload[0] == 9 })
        #expect(Set(events.map(\.header.timestamp)).count == 1)
        #expect(keys == ["9"])
    }

    @Test func splitStopsTheRelayAndPlaybackTakesPrecedence() throws {
        let loop = EmbeddedEventLoop()
        let a = try Leg(loop: loop, port: 41004, codec: .ulaw), b = try Leg(loop: loop, port: 42004, codec: .ulaw)
        a.stream.remote = a.far
        b.stream.remote = b.far
        RTPBridge.join(a.stream, b.stream)
        try a.receive(a.sender.next(payloadType: 0, samples: 160), [UInt8](repeating: 1, count: 160))
        #expect(try b.sent().count == 1)
        // While B hears a prompt (a whisper, say), A's audio does not cut into it.
        let clock = MediaClock(loop: loop)
        b.stream.clock = clock
        b.stream.play(ClipPlayer([AudioClip(name: "p", samples: [Int16](repeating: 1000, count: 320))]))
        try a.receive(a.sender.next(payloadType: 0, samples: 160), [UInt8](repeating: 2, count: 160))
        #expect(try b.sent().map(\.payload) == [[UInt8](repeating: G711.ulaw.encode(1000), count: 160)])
        RTPBridge.split(b.stream)
        #expect(a.stream.bridged == nil && b.stream.bridged == nil)
        loop.advanceTime(by: .milliseconds(100))
        _ = try b.sent()
        #expect(clock.playingCount == 0)
        try a.receive(a.sender.next(payloadType: 0, samples: 160), [UInt8](repeating: 3, count: 160))
        #expect(try b.sent().isEmpty)
    }
}
