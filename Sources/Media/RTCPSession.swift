public import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// The RTCP half of a leg (RFC 3550 §6): reads the far end's reports from the leg's RTCP socket
/// and sends ours on a randomised interval. What it learns (how the far end hears us, the round
/// trip) ends up in the call's status and its end-of-call log line.
///
/// Loop-bound like the stream: the RTCP socket's handler and the pool's report timer run on the
/// pool's loop.
public final class RTCPSession: @unchecked Sendable {
    let stream: RTPStream
    let cname: String
    /// The leg's RTCP socket while the lease holds it (a fake in fast tests). Public, with `init`,
    /// `receive` and `report`, for the fuzz harness (Sources/Fuzzing), which drives a leg as its
    /// loop would.
    public var transport: (any DatagramTransport)?
    /// Where the far end's RTCP comes from (symmetric, like RTP).
    public private(set) var latched: MediaAddress?
    /// The far end's last report block about our stream.
    public private(set) var farReport: RTCPReportBlock?
    /// Round trip from the last report that echoed one of our SRs, in seconds.
    public private(set) var roundTrip: Double?
    public private(set) var badPackets = 0
    private var failing = false
    /// Middle 32 bits of the far end's last SR, and when it arrived (for LSR/DLSR).
    private var lastSR: (middle: UInt32, at: NIODeadline)?
    private var packetsAtLastReport = 0
    var nextReportAt: NIODeadline?
    private var scratch: [UInt8] = []

    public init(stream: RTPStream, cname: String) {
        self.stream = stream
        self.cname = cname
        scratch.reserveCapacity(128)
    }

    /// One datagram from the RTCP socket (a few every few seconds: parsing may allocate).
    public func receive(_ bytes: UnsafeRawBufferPointer, from: MediaAddress, now: NIODeadline, wallNanoseconds: Int64) {
        let parsed = Result { () throws(RTCPPacket.ParseError) in try RTCPPacket.parseCompound(bytes) }
        switch parsed {
        case .failure(let error):
            badPackets += 1
            if !failing {
                failing = true
                stream.onBadPacket?("RTCP: \(error) (from \(from))")
            }
        case .success(let packets):
            failing = false
            latched = from
            for packet in packets {
                switch packet {
                case .senderReport(_, let ntp, _, _, _, let reports):
                    lastSR = (ntpMiddle(ntp), now)
                    learn(reports, wallNanoseconds: wallNanoseconds)
                case .receiverReport(_, let reports):
                    learn(reports, wallNanoseconds: wallNanoseconds)
                default:
                    break
                }
            }
        }
    }

    private func learn(_ reports: [RTCPReportBlock], wallNanoseconds: Int64) {
        guard let mine = reports.first(where: { $0.ssrc == stream.ssrc }) else { return }
        farReport = mine
        if mine.lastSR != 0 {
            // RFC 3550 §6.4.1: A − LSR − DLSR, in 1/65536 s.
            let rtt = ntpMiddle(ntpTimestamp(unixNanoseconds: wallNanoseconds)) &- mine.lastSR &- mine.delaySinceLastSR
            if rtt < 1 << 31 { roundTrip = Double(rtt) / 65536 }
        }
    }

    /// Our compound report: SR if we sent since the last one, else RR; then SDES with the CNAME.
    public func report(now: NIODeadline, wallNanoseconds: Int64) -> [UInt8] {
        let dlsr = lastSR.map { UInt32(min(Int64(UInt32.max), (now - $0.at).nanoseconds * 65536 / 1_000_000_000)) } ?? 0
        let blocks = stream.receiverStats.reportBlock(lastSR: lastSR?.middle ?? 0, delaySinceLastSR: dlsr).map { [$0] } ?? []
        scratch.removeAll(keepingCapacity: true)
        if stream.packetsSent > packetsAtLastReport {
            RTCPPacket.senderReport(
                ssrc: stream.ssrc, ntp: ntpTimestamp(unixNanoseconds: wallNanoseconds), rtpTimestamp: stream.nextTimestamp,
                packets: UInt32(truncatingIfNeeded: stream.packetsSent), octets: UInt32(truncatingIfNeeded: stream.octetsSent), reports: blocks
            ).write(to: &scratch)
        } else {
            RTCPPacket.receiverReport(ssrc: stream.ssrc, reports: blocks).write(to: &scratch)
        }
        packetsAtLastReport = stream.packetsSent
        RTCPPacket.sourceDescription(ssrc: stream.ssrc, cname: cname).write(to: &scratch)
        return scratch
    }

    /// Where reports go: where the far end's RTCP comes from, else the RTP address's port + 1.
    var destination: MediaAddress? {
        if let latched { return latched }
        guard var rtp = stream.latched ?? stream.remote, rtp.port < 65535 else { return nil }
        rtp.raw.port += 1
        return rtp
    }

    /// Sends a report now if one is due; schedules the next at `interval` × [0.5, 1.5] (§6.3.1).
    func tick(now: NIODeadline, wallNanoseconds: Int64, interval: TimeAmount) {
        guard let due = nextReportAt else {
            // The first report comes after half an interval (§6.2), randomised the same way.
            nextReportAt = now + .nanoseconds(Int64(Double(interval.nanoseconds) / 2 * Double.random(in: 0.5...1.5)))
            return
        }
        guard now >= due else { return }
        nextReportAt = now + .nanoseconds(Int64(Double(interval.nanoseconds) * Double.random(in: 0.5...1.5)))
        send(report(now: now, wallNanoseconds: wallNanoseconds))
    }

    /// RTCP BYE as the leg closes (§6.6).
    func sendBye() {
        scratch.removeAll(keepingCapacity: true)
        RTCPPacket.receiverReport(ssrc: stream.ssrc, reports: []).write(to: &scratch)
        RTCPPacket.bye(ssrc: stream.ssrc).write(to: &scratch)
        send(scratch)
    }

    private func send(_ bytes: [UInt8]) {
        guard let transport, let to = destination, stream.sending else { return }
        bytes.withUnsafeBytes { transport.send($0, to: to) }
    }
}

extension RTCPSession: DatagramReceiver {
    func receive(_ bytes: UnsafeRawBufferPointer, from: MediaAddress, truncated: Bool, now: NIODeadline) {
        receive(bytes, from: from, now: now, wallNanoseconds: wallClockNanoseconds())
    }
}

/// Unix time in nanoseconds (RTCP's NTP timestamps are wall-clock time).
func wallClockNanoseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

/// A leg's media quality as both ends see it: what we receive (RTP counters and our own
/// RFC 3550 statistics) and what the far end reports about our stream (its RTCP).
public struct MediaQuality: Sendable, Hashable {
    public var packetsIn: Int
    public var packetsOut: Int
    public var lost: Int
    public var jitterMs: Double
    /// From the far end's last report about our stream, if one came.
    public var farLost: Int?
    public var farFractionLost: Double?
    public var farJitterMs: Double?
    public var roundTripMs: Double?
}

extension RTPPortLease {
    public var quality: MediaQuality {
        let far = rtcp.farReport
        return MediaQuality(
            packetsIn: stream.packetsReceived, packetsOut: stream.packetsSent, lost: Int(stream.receiverStats.lost),
            jitterMs: stream.receiverStats.jitter / 8, farLost: far.map { Int($0.cumulativeLost) }, farFractionLost: far.map { Double($0.fractionLost) / 256 },
            farJitterMs: far.map { Double($0.jitter) / 8 }, roundTripMs: rtcp.roundTrip.map { $0 * 1000 })
    }
}
