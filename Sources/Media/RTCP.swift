/// RTCP (RFC 3550 §6): what each side tells the other about the stream it receives (loss,
/// jitter) and what it sends (packet and octet counts, and a wall-clock/media-clock pair that lets
/// the other side measure the round trip). Reports are compound packets: a sender report (SR)
/// when we have sent since the last report, else a receiver report (RR), then an SDES packet with
/// our CNAME, as §6.1 requires.

/// One report block (§6.4.1): how a receiver sees one source.
public struct RTCPReportBlock: Sendable, Equatable {
    public var ssrc: UInt32
    /// Share of packets lost since the previous report, in 1/256.
    public var fractionLost: UInt8
    /// Packets lost since the start (24-bit signed: duplicates can make it negative).
    public var cumulativeLost: Int32
    /// Highest sequence number received, extended with the count of wrap-arounds.
    public var highestSequence: UInt32
    /// Interarrival jitter in timestamp units.
    public var jitter: UInt32
    /// Middle 32 bits of the NTP time of the last SR from this source (0 if none yet).
    public var lastSR: UInt32
    /// Time since that SR was received, in 1/65536 s.
    public var delaySinceLastSR: UInt32

    public init(ssrc: UInt32, fractionLost: UInt8, cumulativeLost: Int32, highestSequence: UInt32, jitter: UInt32, lastSR: UInt32, delaySinceLastSR: UInt32) {
        self.ssrc = ssrc
        self.fractionLost = fractionLost
        self.cumulativeLost = cumulativeLost
        self.highestSequence = highestSequence
        self.jitter = jitter
        self.lastSR = lastSR
        self.delaySinceLastSR = delaySinceLastSR
    }
}

public enum RTCPPacket: Sendable, Equatable {
    case senderReport(ssrc: UInt32, ntp: UInt64, rtpTimestamp: UInt32, packets: UInt32, octets: UInt32, reports: [RTCPReportBlock])
    case receiverReport(ssrc: UInt32, reports: [RTCPReportBlock])
    case sourceDescription(ssrc: UInt32, cname: String)
    case bye(ssrc: UInt32)
    /// APP, XR, feedback and other types: skipped, with their packet type.
    case other(UInt8)

    public enum ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        case tooShort(Int)
        case version(UInt8)
        case length(Int)
        case notReportFirst(UInt8)

        public var description: String {
            switch self {
            case .tooShort(let n): "RTCP datagram of \(n) bytes is shorter than a 4-byte header"
            case .version(let v): "RTCP version \(v), expected 2"
            case .length(let n): "RTCP packet length of \(n) bytes runs past the datagram or is cut short"
            case .notReportFirst(let pt): "compound RTCP packet starts with type \(pt), not SR or RR (RFC 3550 §6.1)"
            }
        }
    }

    /// Splits a compound packet and reads the parts this daemon uses.
    public static func parseCompound(_ bytes: UnsafeRawBufferPointer) throws(ParseError) -> [RTCPPacket] {
        var out: [RTCPPacket] = []
        var offset = 0
        while offset < bytes.count {
            guard bytes.count - offset >= 4 else { throw .tooShort(bytes.count - offset) }
            let b0 = bytes[offset], pt = bytes[offset + 1]
            guard b0 >> 6 == 2 else { throw .version(b0 >> 6) }
            let length = ((Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])) + 1) * 4
            guard offset + length <= bytes.count else { throw .length(length) }
            if offset == 0, pt != 200, pt != 201 { throw .notReportFirst(pt) }
            let p = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)])
            let count = Int(b0 & 0x1F)
            func u32(_ i: Int) -> UInt32 { UInt32(p[i]) << 24 | UInt32(p[i + 1]) << 16 | UInt32(p[i + 2]) << 8 | UInt32(p[i + 3]) }
            func blocks(from start: Int) throws(ParseError) -> [RTCPReportBlock] {
                guard start + count * 24 <= length else { throw .length(length) }
                return (0..<count).map { k in
                    let i = start + k * 24
                    let lost24 = Int32(bitPattern: (u32(i + 4) & 0x00FF_FFFF) << 8) >> 8
                    return RTCPReportBlock(
                        ssrc: u32(i), fractionLost: p[i + 4], cumulativeLost: lost24, highestSequence: u32(i + 8), jitter: u32(i + 12),
                        lastSR: u32(i + 16), delaySinceLastSR: u32(i + 20))
                }
            }
            switch pt {
            case 200:
                guard length >= 28 else { throw .length(length) }
                out.append(.senderReport(
                    ssrc: u32(4), ntp: UInt64(u32(8)) << 32 | UInt64(u32(12)), rtpTimestamp: u32(16), packets: u32(20), octets: u32(24),
                    reports: try blocks(from: 28)))
            case 201:
                guard length >= 8 else { throw .length(length) }
                out.append(.receiverReport(ssrc: u32(4), reports: try blocks(from: 8)))
            case 202:
                // The first chunk's CNAME, if it leads with one.
                if count >= 1, length >= 10, p[8] == 1, 10 + Int(p[9]) <= length {
                    out.append(.sourceDescription(ssrc: u32(4), cname: String(decoding: p[10..<(10 + Int(p[9]))], as: UTF8.self)))
                } else {
                    out.append(.other(pt))
                }
            case 203:
                out.append(count >= 1 && length >= 8 ? .bye(ssrc: u32(4)) : .other(pt))
            default:
                out.append(.other(pt))
            }
            offset += length
        }
        return out
    }

    /// Appends the packet's bytes to `out`.
    public func write(to out: inout [UInt8]) {
        func put(_ v: UInt32) { out += [UInt8(v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)] }
        func header(count: Int, type: UInt8, words: Int) { out += [0x80 | UInt8(count), type, UInt8(words >> 8), UInt8(truncatingIfNeeded: words)] }
        func put(_ b: RTCPReportBlock) {
            put(b.ssrc)
            put(UInt32(b.fractionLost) << 24 | (UInt32(bitPattern: b.cumulativeLost) & 0x00FF_FFFF))
            put(b.highestSequence)
            put(b.jitter)
            put(b.lastSR)
            put(b.delaySinceLastSR)
        }
        switch self {
        case .senderReport(let ssrc, let ntp, let ts, let packets, let octets, let reports):
            header(count: reports.count, type: 200, words: 6 + 6 * reports.count)
            put(ssrc)
            put(UInt32(ntp >> 32))
            put(UInt32(truncatingIfNeeded: ntp))
            put(ts)
            put(packets)
            put(octets)
            reports.forEach(put)
        case .receiverReport(let ssrc, let reports):
            header(count: reports.count, type: 201, words: 1 + 6 * reports.count)
            put(ssrc)
            reports.forEach(put)
        case .sourceDescription(let ssrc, let cname):
            let text = Array(cname.utf8.prefix(255))
            // SSRC, CNAME item (type, length, text), then the END item and padding to 32 bits.
            let itemBytes = 2 + text.count + 1
            let padded = (itemBytes + 3) / 4 * 4
            header(count: 1, type: 202, words: 1 + padded / 4)
            put(ssrc)
            out += [1, UInt8(text.count)] + text
            out += [UInt8](repeating: 0, count: padded - itemBytes + 1)
        case .bye(let ssrc):
            header(count: 1, type: 203, words: 1)
            put(ssrc)
        case .other:
            break
        }
    }
}

/// What a receiver keeps about one incoming stream to fill a report block (RFC 3550 Appendix A.1,
/// A.3 and A.8): sequence numbers extended over wrap-arounds, losses overall and since the last
/// report, and interarrival jitter.
public struct RTPReceiverStatistics: Sendable {
    static let maxDropout: UInt16 = 3000
    static let maxMisorder: UInt16 = 100

    public private(set) var ssrc: UInt32?
    private var baseSequence: UInt32 = 0
    private var maxSequence: UInt16 = 0
    private var cycles: UInt32 = 0
    /// A sequence number after a big jump; two in a row restart the count (the sender restarted).
    private var badSequence: UInt32 = .max
    public private(set) var received: UInt32 = 0
    private var expectedPrior: UInt32 = 0
    private var receivedPrior: UInt32 = 0
    private var lastTransit: Int64?
    /// Jitter in timestamp units, kept as a double and reported rounded.
    public private(set) var jitter: Double = 0

    public init() {}

    public var extendedHighest: UInt32 { cycles &+ UInt32(maxSequence) }
    public var expected: UInt32 { ssrc == nil ? 0 : extendedHighest &- baseSequence &+ 1 }
    public var lost: Int32 { ssrc == nil ? 0 : max(-0x80_0000, min(0x7F_FFFF, Int32(truncatingIfNeeded: Int64(expected) - Int64(received)))) }

    /// Counts one packet; `arrival` is the arrival time in the stream's timestamp units (any origin).
    public mutating func record(ssrc: UInt32, sequence: UInt16, timestamp: UInt32, arrival: Int64) {
        if self.ssrc != ssrc {
            self = RTPReceiverStatistics()
            self.ssrc = ssrc
            restart(at: sequence)
        } else {
            let delta = sequence &- maxSequence
            if delta < Self.maxDropout {
                if sequence < maxSequence { cycles &+= 1 << 16 }
                maxSequence = sequence
            } else if delta <= UInt16.max - Self.maxMisorder {
                // A jump: believe it only when the next packet follows on from it.
                if UInt32(sequence) == badSequence {
                    restart(at: sequence)
                } else {
                    badSequence = UInt32(sequence &+ 1)
                    return
                }
            }
            // else: a duplicate or a packet arriving out of order; counted below.
        }
        received &+= 1
        let transit = arrival - Int64(timestamp)
        if let last = lastTransit {
            jitter += (Double(abs(transit - last)) - jitter) / 16
        }
        lastTransit = transit
    }

    private mutating func restart(at sequence: UInt16) {
        baseSequence = UInt32(sequence)
        maxSequence = sequence
        cycles = 0
        badSequence = .max
        received = 0
        expectedPrior = 0
        receivedPrior = 0
        lastTransit = nil
    }

    /// The report block for the stream, and the interval counts reset (call once per report).
    public mutating func reportBlock(lastSR: UInt32, delaySinceLastSR: UInt32) -> RTCPReportBlock? {
        guard let ssrc else { return nil }
        let expectedInterval = Int64(expected) - Int64(expectedPrior)
        let receivedInterval = Int64(received) - Int64(receivedPrior)
        expectedPrior = expected
        receivedPrior = received
        let lostInterval = expectedInterval - receivedInterval
        let fraction = expectedInterval <= 0 || lostInterval <= 0 ? 0 : UInt8(min(255, (lostInterval << 8) / expectedInterval))
        return RTCPReportBlock(
            ssrc: ssrc, fractionLost: fraction, cumulativeLost: lost, highestSequence: extendedHighest, jitter: UInt32(jitter.rounded()),
            lastSR: lastSR, delaySinceLastSR: delaySinceLastSR)
    }
}

/// NTP time (RFC 5905: seconds since 1900 in the high 32 bits, fraction in the low 32) from Unix
/// time in nanoseconds.
public func ntpTimestamp(unixNanoseconds: Int64) -> UInt64 {
    let seconds = UInt64(unixNanoseconds / 1_000_000_000) + 2_208_988_800
    let fraction = (UInt64(unixNanoseconds % 1_000_000_000) << 32) / 1_000_000_000
    return seconds << 32 | fraction
}

/// The middle 32 bits of an NTP timestamp (units of 1/65536 s), as LSR and DLSR use.
public func ntpMiddle(_ ntp: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: ntp >> 16) }
