import Foundation
import NIOCore
import NIOEmbedded
import Testing

@testable import Media

/// Conferences on fake transports: each leg's far end speaks its own tone, and what each leg
/// sends back is checked for which tones it carries.
@Suite struct MixerTests {
    final class Party {
        let leg: BridgeTests.Leg
        let freq: Double
        var k = 0
        init(loop: EmbeddedEventLoop, port: Int, freq: Double, codec: VoiceCodec = .ulaw) throws {
            leg = try BridgeTests.Leg(loop: loop, port: port, codec: codec)
            leg.stream.remote = leg.far
            self.freq = freq
        }
        /// The far end's next 20 ms of its tone.
        func speak() throws {
            let codec = leg.stream.codec!
            let samples = (0..<160).map { i in Int16(6000 * sin(2 * Double.pi * freq * Double(k * 160 + i) / 8000)) }
            var payload = [UInt8](repeating: 0, count: 160)
            _ = samples.withUnsafeBufferPointer { s in payload.withUnsafeMutableBytes { codec.encode(s, into: $0) } }
            k += 1
            try leg.receive(leg.sender.next(payloadType: codec.payloadType, samples: 160), payload)
        }
        /// What the daemon sent this party, decoded.
        func heard() throws -> [Int16] {
            let codec = leg.stream.codec!
            return try leg.sent().flatMap { packet in
                var out = [Int16](repeating: 0, count: packet.payload.count)
                _ = packet.payload.withUnsafeBytes { p in out.withUnsafeMutableBufferPointer { codec.decode(p, into: $0) } }
                return out
            }
        }
    }

    func level(_ x: [Int16], _ f: Double) -> Double { goertzel(x[...], f) }

    /// Runs `ticks` 20 ms steps with every party speaking, and returns what each heard after the
    /// first 10 (the jitter buffers' prefill).
    func run(_ loop: EmbeddedEventLoop, _ parties: [Party], ticks: Int) throws -> [[Int16]] {
        var heard = [[Int16]](repeating: [], count: parties.count)
        for t in 0..<ticks {
            for p in parties { try p.speak() }
            loop.advanceTime(by: .milliseconds(20))
            for (i, p) in parties.enumerated() {
                let h = try p.heard()
                if t >= 10 { heard[i] += h }
            }
        }
        return heard
    }

    @Test func everyoneHearsEveryoneElseButNotThemselves() throws {
        let loop = EmbeddedEventLoop()
        let clock = MediaClock(loop: loop)
        let mixer = Mixer(clock: clock)
        let parties = [try Party(loop: loop, port: 43000, freq: 400), try Party(loop: loop, port: 43002, freq: 900), try Party(loop: loop, port: 43004, freq: 1500, codec: .g722)]
        for p in parties {
            p.leg.stream.clock = clock
            mixer.add(p.leg.stream)
        }
        let heard = try run(loop, parties, ticks: 40)
        for (i, p) in parties.enumerated() {
            #expect(heard[i].count >= 25 * 160)
            let own = level(heard[i], p.freq)
            for (j, q) in parties.enumerated() where j != i {
                let other = level(heard[i], q.freq)
                #expect(other > 1e-3 && other > 100 * own, "party \(i) hears \(q.freq) Hz at \(other), itself at \(own)")
            }
        }
        mixer.remove(mixer.participants[0])
        #expect(mixer.participants.count == 2 && parties[0].leg.stream.inbound == nil)
    }

    @Test func supervisorModesListenWhisperAndBargeIn() throws {
        let loop = EmbeddedEventLoop()
        let clock = MediaClock(loop: loop)
        let mixer = Mixer(clock: clock)
        let caller = try Party(loop: loop, port: 43010, freq: 400), agent = try Party(loop: loop, port: 43012, freq: 900)
        let supervisor = try Party(loop: loop, port: 43014, freq: 1500)
        for p in [caller, agent, supervisor] { p.leg.stream.clock = clock }
        mixer.add(caller.leg.stream)
        let agentParticipant = mixer.add(agent.leg.stream)
        let sup = mixer.add(supervisor.leg.stream, role: .listener)
        let all = [caller, agent, supervisor]

        // Listening: the supervisor hears both; neither hears the supervisor.
        var heard = try run(loop, all, ticks: 30)
        #expect(level(heard[2], 400) > 1e-3 && level(heard[2], 900) > 1e-3)
        #expect(level(heard[0], 1500) < level(heard[0], 900) / 100 && level(heard[1], 1500) < level(heard[1], 400) / 100)

        // Coaching: only the agent hears the supervisor.
        sup.role = .whisper(to: agentParticipant.id)
        heard = try run(loop, all, ticks: 30)
        #expect(level(heard[1], 1500) > 1e-3)
        #expect(level(heard[0], 1500) < level(heard[0], 900) / 100)

        // Barging in: both hear the supervisor.
        sup.role = .talker
        heard = try run(loop, all, ticks: 30)
        #expect(level(heard[0], 1500) > 1e-3 && level(heard[1], 1500) > 1e-3)
    }
}
