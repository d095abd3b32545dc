import Foundation
import Media
import TestSupport

/// Plain RTP parties of one call talking at once, for the tests that check who hears whom.
typealias Party = (rtp: UDPProbe, port: Int)

/// `frames` steps of 20 ms: party i sends a tone of `tones[i]` Hz (nil: silence) to the daemon,
/// and the G.711 μ-law each one received back is decoded; returns those samples by index.
func exchange(_ parties: [Party], tones: [Double?], senders: inout [RTPSenderState], frames: Int = 50) -> [[Int16]] {
    var heard = [[Int16]](repeating: [], count: parties.count)
    for p in 0..<frames {
        for (i, party) in parties.enumerated() {
            let payload: [UInt8] =
                if let f = tones[i] {
                    (0..<160).map { n in G711.ulaw.encode(Int16(8000 * sin(2 * Double.pi * f * Double(p * 160 + n) / 8000))) }
                } else {
                    [UInt8](repeating: 0xFF, count: 160)
                }
            party.rtp.send(packet(senders[i].next(payloadType: 0, samples: 160), payload: payload), to: party.port)
        }
        usleep(20_000)
        for (i, party) in parties.enumerated() {
            for _ in 0..<8 {
                guard let d = party.rtp.receive(timeoutMilliseconds: 1) else { break }
                guard let h = try? d.withUnsafeBytes({ try RTPHeader.parse($0) }), h.payloadType == 0 else { continue }
                heard[i] += d[h.payloadOffset...].map { G711.ulaw.decode($0) }
            }
        }
    }
    return heard
}

/// One second in which only `speaker` talks (a 600 Hz tone unless told): the mean energy (RMS
/// per 20 ms packet) each party received, by index.
func speak(_ parties: [Party], speaker: Int, senders: inout [RTPSenderState], frequency: Double = 600) -> [Double] {
    let tones = parties.indices.map { $0 == speaker ? frequency : nil }
    return exchange(parties, tones: tones, senders: &senders).map { samples in
        let packets = stride(from: 0, to: samples.count, by: 160).map { start in
            let frame = samples[start..<min(start + 160, samples.count)]
            return (frame.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(frame.count)).squareRoot()
        }
        return packets.isEmpty ? 0 : packets.reduce(0, +) / Double(packets.count)
    }
}

/// Everyone sends silence for 300 ms and what they receive is thrown away: the mixer's jitter
/// buffers still hold the last speaker's tone for a few frames, which must not count for the next.
func settle(_ parties: [Party], senders: inout [RTPSenderState]) {
    _ = exchange(parties, tones: parties.map { _ in nil }, senders: &senders, frames: 15)
}
