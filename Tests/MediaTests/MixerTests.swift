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

    /// A party with no stream (the sound card's place in a room): it says a 1200 Hz tone and
    /// keeps what it hears.
    final class Local: Mixer.LocalParty {
        var k = 0
        var heard: [Int16] = []
        func say(into frame: UnsafeMutableBufferPointer<Int16>) {
            for i in 0..<frame.count { frame[i] = Int16(6000 * sin(2 * Double.pi * 1200 * Double(k * frame.count + i) / 8000)) }
            k += 1
        }
        func hear(_ frame: UnsafeBufferPointer<Int16>) { heard += frame }
    }

    /// A local party listens as a supervisor: it hears both streams and neither stream hears it;
    /// as a talker both hear it; removed, it is told nothing more and the room goes on.
    @Test func aLocalPartyHearsAndIsHeardByItsRole() throws {
        let loop = EmbeddedEventLoop()
        let clock = MediaClock(loop: loop)
        let mixer = Mixer(clock: clock)
        let caller = try Party(loop: loop, port: 43020, freq: 400), agent = try Party(loop: loop, port: 43022, freq: 900)
        for p in [caller, agent] { p.leg.stream.clock = clock }
        mixer.add(caller.leg.stream)
        mixer.add(agent.leg.stream)
        let card = Local()
        let party = mixer.add(local: card, role: .listener)
        var heard = try run(loop, [caller, agent], ticks: 30)
        let cardHeard = Array(card.heard.dropFirst(10 * 160))
        #expect(cardHeard.count >= 19 * 160)
        #expect(level(cardHeard, 400) > 1e-3 && level(cardHeard, 900) > 1e-3, "the local party does not hear both")
        #expect(level(heard[0], 1200) < level(heard[0], 900) / 100 && level(heard[1], 1200) < level(heard[1], 400) / 100, "a listener was heard")

        party.role = .talker
        heard = try run(loop, [caller, agent], ticks: 30)
        #expect(level(heard[0], 1200) > 1e-3 && level(heard[1], 1200) > 1e-3, "a talking local party was not heard")

        mixer.remove(local: card)
        let told = card.heard.count
        heard = try run(loop, [caller, agent], ticks: 20)
        #expect(card.heard.count == told, "a removed party was still handed frames")
        #expect(mixer.participants.count == 2 && level(heard[0], 900) > 1e-3)
    }
}
