/// RTP fixed header (RFC 3550 §5.1), read from and written to raw bytes.
///
/// Parsing never copies the payload: it reports where the payload starts and how long it is, so a
/// relay can forward the bytes it already holds. Everything a hostile or broken peer can put in a
/// datagram is checked before it is used (version, CSRC count, extension length, padding length),
/// and a failure names the rule it broke, for the once-per-episode log line.
public struct RTPHeader: Sendable, Equatable {
    public var marker: Bool
    public var payloadType: UInt8
    public var sequence: UInt16
    public var timestamp: UInt32
    public var ssrc: UInt32
    /// Bytes from the start of the datagram to the payload (fixed header, CSRCs, extension).
    public var payloadOffset: Int
    /// Payload bytes, padding excluded.
    public var payloadLength: Int

    public init(marker: Bool = false, payloadType: UInt8, sequence: UInt16, timestamp: UInt32, ssrc: UInt32) {
        self.marker = marker
        self.payloadType = payloadType
        self.sequence = sequence
        self.timestamp = timestamp
        self.ssrc = ssrc
        payloadOffset = 12
        payloadLength = 0
    }

    public enum ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        case tooShort(Int)
        case version(UInt8)
        case truncatedCSRC
        case truncatedExtension
        case badPadding(Int)
        /// Payload types 72–76 collide with RTCP packet types 200–204 with the marker set (RFC 5761 §4).
        case rtcpPayloadType(UInt8)

        public var description: String {
            switch self {
            case .tooShort(let n): "datagram of \(n) bytes is shorter than the 12-byte RTP header"
            case .version(let v): "RTP version \(v), expected 2"
            case .truncatedCSRC: "the CSRC list runs past the end of the datagram"
            case .truncatedExtension: "the header extension runs past the end of the datagram"
            case .badPadding(let n): "padding length \(n) does not fit the datagram"
            case .rtcpPayloadType(let pt): "payload type \(pt) is reserved (RTCP collision)"
            }
        }
    }

    /// Reads the header of `bytes`.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(ParseError) -> RTPHeader {
        let n = bytes.count
        guard n >= 12 else { throw .tooShort(n) }
        let b0 = bytes[0], b1 = bytes[1]
        guard b0 >> 6 == 2 else { throw .version(b0 >> 6) }
        let payloadType = b1 & 0x7F
        guard !(72...76).contains(payloadType) else { throw .rtcpPayloadType(payloadType) }
        var offset = 12 + Int(b0 & 0x0F) * 4
        guard offset <= n else { throw .truncatedCSRC }
        if b0 & 0x10 != 0 {
            guard offset + 4 <= n else { throw .truncatedExtension }
            let words = Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            offset += 4 + words * 4
            guard offset <= n else { throw .truncatedExtension }
        }
        var end = n
        if b0 & 0x20 != 0 {
            let padding = Int(bytes[n - 1])
            guard padding > 0, n - padding >= offset else { throw .badPadding(padding) }
            end = n - padding
        }
        var h = RTPHeader(
            marker: b1 & 0x80 != 0, payloadType: payloadType,
            sequence: UInt16(bytes[2]) << 8 | UInt16(bytes[3]),
            timestamp: UInt32(bytes[4]) << 24 | UInt32(bytes[5]) << 16 | UInt32(bytes[6]) << 8 | UInt32(bytes[7]),
            ssrc: UInt32(bytes[8]) << 24 | UInt32(bytes[9]) << 16 | UInt32(bytes[10]) << 8 | UInt32(bytes[11]))
        h.payloadOffset = offset
        h.payloadLength = end - offset
        return h
    }

    /// Writes the 12-byte fixed header (no CSRC, no extension, no padding) at the start of `out`.
    public func write(to out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= 12)
        out[0] = 0x80
        out[1] = (marker ? 0x80 : 0) | (payloadType & 0x7F)
        out[2] = UInt8(sequence >> 8)
        out[3] = UInt8(truncatingIfNeeded: sequence)
        for i in 0..<4 {
            out[4 + i] = UInt8(truncatingIfNeeded: timestamp >> (24 - 8 * UInt32(i)))
            out[8 + i] = UInt8(truncatingIfNeeded: ssrc >> (24 - 8 * UInt32(i)))
        }
    }
}

/// What we put on the packets we send (RFC 3550 §5.1): our own SSRC, a sequence number that starts
/// at a random value and goes up by one per packet, and a timestamp that starts at a random value
/// and goes up by the samples each packet carries. The marker is set on the first packet of a
/// talk spurt (the start, and after a gap in what we send).
public struct RTPSenderState: Sendable {
    public let ssrc: UInt32
    public private(set) var sequence: UInt16
    public private(set) var timestamp: UInt32
    private var spurtStart = true

    public init<G: RandomNumberGenerator>(using rng: inout G) {
        ssrc = UInt32.random(in: 1...UInt32.max, using: &rng)
        sequence = UInt16.random(in: 0...UInt16.max, using: &rng)
        timestamp = UInt32.random(in: 0...UInt32.max, using: &rng)
    }

    public init() {
        var rng = SystemRandomNumberGenerator()
        self.init(using: &rng)
    }

    /// The header for the next packet of `samples` samples (at the codec's RTP clock rate).
    public mutating func next(payloadType: UInt8, samples: UInt32) -> RTPHeader {
        let h = RTPHeader(marker: spurtStart, payloadType: payloadType, sequence: sequence, timestamp: timestamp, ssrc: ssrc)
        spurtStart = false
        sequence &+= 1
        timestamp &+= samples
        return h
    }

    /// The header for one more packet of an RFC 4733 event: same timestamp as the event's first
    /// packet (§2.5.1.2), a new sequence number. `first` marks the event's start.
    public mutating func nextEvent(payloadType: UInt8, eventTimestamp: UInt32, first: Bool) -> RTPHeader {
        let h = RTPHeader(marker: first, payloadType: payloadType, sequence: sequence, timestamp: eventTimestamp, ssrc: ssrc)
        sequence &+= 1
        return h
    }

    /// The header for a relayed packet: our SSRC and the next sequence number, with the timestamp
    /// the relay computed (the far end's, moved by a fixed offset so its gaps carry through).
    /// Audio sent after it continues from there.
    public mutating func relayed(payloadType: UInt8, timestamp: UInt32, marker: Bool, samples: UInt32) -> RTPHeader {
        let h = RTPHeader(marker: marker || spurtStart, payloadType: payloadType, sequence: sequence, timestamp: timestamp, ssrc: ssrc)
        spurtStart = false
        sequence &+= 1
        self.timestamp = timestamp &+ samples
        return h
    }

    /// Skips the media clock forward (we sent nothing for `samples`); the next packet starts a spurt.
    public mutating func skip(samples: UInt32) {
        timestamp &+= samples
        spurtStart = true
    }

    /// The timestamp the next audio packet will carry (an event starting now uses it).
    public var nextTimestamp: UInt32 { timestamp }
}
