import Media
import NIOCore

/// One input of the RTP fuzzer: a run of datagrams into one call leg as its media loop would
/// deliver them, with the leg set up as the first byte says (key detection in the audio, a
/// conference's jitter buffer, echo, a bridge to a G.722 leg that transcodes), then the same
/// bytes as RTCP. The readers may refuse any datagram; they may not crash, and whatever the leg
/// sends because of them must be RTP we can read back, no larger than a datagram.
///
/// The input is `flags, (length high, length low, bytes)*`; the top bit of a length's first
/// byte says the datagram came from a second address (a stray copy, or a restarted far end).
public enum RTPHarness {
    public static func run(_ input: [UInt8]) {
        guard let flags = input.first else { return }
        let sink = CheckingTransport()
        let leg = RTPStream()
        leg.audioPayloadType = 0
        leg.eventPayloadType = 101
        leg.codec = .ulaw
        leg.transport = sink
        leg.remote = MediaAddress(ip: "127.0.0.1", port: 4000)
        leg.inbandDTMF = flags & 1 != 0
        if flags & 2 != 0 { leg.inbound = JitterBuffer() }
        if flags & 4 != 0 { leg.mode = .echo }
        let other = RTPStream()
        if flags & 8 != 0 {
            other.codec = flags & 16 != 0 ? .g722 : .alaw
            other.audioPayloadType = other.codec?.payloadType
            other.eventPayloadType = 101
            other.transport = sink
            other.remote = MediaAddress(ip: "127.0.0.1", port: 5000)
            RTPBridge.join(leg, other)
            if flags & 4 != 0 { leg.mode = .echo }
        }
        var keys = 0
        leg.onDigit = { _ in keys += 1 }
        let rtcp = RTCPSession(stream: leg, cname: "fuzz@127.0.0.1")
        rtcp.transport = sink
        let first = MediaAddress(ip: "127.0.0.1", port: 4000)!
        let second = MediaAddress(ip: "127.0.0.2", port: 4002)!
        var frame = [Int16](repeating: 0, count: 160)
        var now = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var i = 1
        while i + 2 <= input.count {
            let from = input[i] & 0x80 != 0 ? second : first
            let length = min(Int(input[i] & 0x7f) << 8 | Int(input[i + 1]), input.count - i - 2)
            let datagram = Array(input[(i + 2)..<(i + 2 + length)])
            i += 2 + length
            datagram.withUnsafeBytes { bytes in
                leg.receive(bytes, from: from, now: now)
                rtcp.receive(bytes, from: from, now: now, wallNanoseconds: 1_700_000_000_000_000_000 + Int64(now.uptimeNanoseconds))
            }
            if let buffer = leg.inbound { frame.withUnsafeMutableBufferPointer { _ = buffer.pull(into: $0) } }
            now = now + .milliseconds(20)
        }
        let report = rtcp.report(now: now, wallNanoseconds: 1_800_000_000_000_000_000)
        if (try? report.withUnsafeBytes { try RTCPPacket.parseCompound($0) }) == nil { fatalError("fuzz rule broken: our RTCP report does not parse") }
        RTPBridge.split(leg)
    }
}

/// Reads back every datagram the legs send.
final class CheckingTransport: DatagramTransport {
    func send(_ bytes: UnsafeRawBufferPointer, to: MediaAddress) {
        if bytes.count > 1500 { fatalError("fuzz rule broken: a \(bytes.count)-byte datagram sent") }
        // RTCP goes out on its own socket (version 2, types 200-204): only RTP is read back here.
        if bytes.count >= 2, (200...204).contains(bytes[1]) {
            if (try? RTCPPacket.parseCompound(bytes)) == nil { fatalError("fuzz rule broken: our RTCP does not parse") }
            return
        }
        if (try? RTPHeader.parse(bytes)) == nil { fatalError("fuzz rule broken: our RTP does not parse") }
    }
}
