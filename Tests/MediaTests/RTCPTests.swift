import NIOCore
import Testing

@testable import Media

@Suite struct RTCPTests {
    func parse(_ bytes: [UInt8]) throws -> [RTCPPacket] {
        try bytes.withUnsafeBytes { raw throws(RTCPPacket.ParseError) in try RTCPPacket.parseCompound(raw) }
    }

    @Test func compoundPacketsRoundTripWithTheRightLengths() throws {
        let block = RTCPReportBlock(ssrc: 0xDEAD_BEEF, fractionLost: 12, cumulativeLost: -3, highestSequence: 0x1_0005, jitter: 42, lastSR: 0x1234_5678, delaySinceLastSR: 65536)
        let packets: [RTCPPacket] = [
            .senderReport(ssrc: 7, ntp: 0xE000_0000_8000_0000, rtpTimestamp: 160, packets: 50, octets: 8000, reports: [block, block]),
            .sourceDescription(ssrc: 7, cname: "acdd@127.0.0.1"),
            .bye(ssrc: 7),
        ]
        var bytes: [UInt8] = []
        for p in packets { p.write(to: &bytes) }
        // SR: 7 words + 6 per block; SDES: 2 words + "acdd@127.0.0.1" (14) + type, length, END, padded to 20; BYE: 2 words.
        #expect(bytes.count == (7 + 12) * 4 + 8 + 20 + 8)
        #expect(bytes.count % 4 == 0 && bytes[0] == 0x82 && bytes[1] == 200 && bytes[3] == 18)
        #expect(try parse(bytes) == packets)
        var rr: [UInt8] = []
        RTCPPacket.receiverReport(ssrc: 9, reports: []).write(to: &rr)
        #expect(rr == [0x80, 201, 0, 1, 0, 0, 0, 9])
        #expect(try parse(rr) == [.receiverReport(ssrc: 9, reports: [])])
    }

    @Test(arguments: [
        ([UInt8]([0x80, 201]), RTCPPacket.ParseError.tooShort(2)),
        ([0x40, 201, 0, 1, 0, 0, 0, 9], .version(1)),
        ([0x80, 201, 0, 5, 0, 0, 0, 9], .length(24)),
        ([0x81, 201, 0, 1, 0, 0, 0, 9], .length(8)),
        ([0x81, 202, 0, 1, 0, 0, 0, 9], .notReportFirst(202)),
    ])
    func brokenPacketsAreRefusedWithTheReason(bytes: [UInt8], error: RTCPPacket.ParseError) {
        #expect(throws: error) { try parse(bytes) }
    }

    @Test func lossIsCountedOverallAndPerReportInterval() {
        var s = RTPReceiverStatistics()
        var seq: UInt16 = 65_500  // wraps during the run
        for i in 0..<100 {
            if ![10, 11, 12, 50, 70].contains(i) { s.record(ssrc: 1, sequence: seq, timestamp: UInt32(i * 160), arrival: Int64(i * 160)) }
            seq &+= 1
        }
        #expect(s.expected == 100 && s.received == 95 && s.lost == 5)
        let first = s.reportBlock(lastSR: 0, delaySinceLastSR: 0)
        #expect(first?.fractionLost == UInt8(5 * 256 / 100) && first?.highestSequence == 65_536 + UInt32(seq &- 1))
        for i in 100..<150 {
            s.record(ssrc: 1, sequence: seq, timestamp: UInt32(i * 160), arrival: Int64(i * 160))
            seq &+= 1
        }
        #expect(s.reportBlock(lastSR: 0, delaySinceLastSR: 0)?.fractionLost == 0)
        // A duplicate makes the count go below zero for the interval; the fraction stays 0.
        s.record(ssrc: 1, sequence: seq &- 1, timestamp: 0, arrival: 0)
        #expect(s.lost == 4 && s.reportBlock(lastSR: 0, delaySinceLastSR: 0)?.fractionLost == 0)
        #expect(s.jitter < 1000)
    }

    @Test func aJumpIsBelievedOnlyWhenTheNextPacketFollowsIt() {
        var s = RTPReceiverStatistics()
        for i: UInt16 in 0..<10 { s.record(ssrc: 1, sequence: i, timestamp: 0, arrival: 0) }
        s.record(ssrc: 1, sequence: 30_000, timestamp: 0, arrival: 0)  // a stray: ignored
        #expect(s.received == 10 && s.extendedHighest == 9)
        s.record(ssrc: 1, sequence: 30_001, timestamp: 0, arrival: 0)  // the sender restarted there
        s.record(ssrc: 1, sequence: 30_002, timestamp: 0, arrival: 0)
        #expect(s.extendedHighest == 30_002 && s.lost == 0)
        // A new SSRC starts over.
        s.record(ssrc: 2, sequence: 5, timestamp: 0, arrival: 0)
        #expect(s.ssrc == 2 && s.expected == 1 && s.received == 1)
    }

    @Test func jitterFollowsRFC3550() {
        var steady = RTPReceiverStatistics(), shaky = RTPReceiverStatistics()
        for i in 0..<500 {
            steady.record(ssrc: 1, sequence: UInt16(i), timestamp: UInt32(i * 160), arrival: Int64(i * 160) + 999)
            // Every other packet 80 units (10 ms) late: |D| is 80 each time, so J tends to 80.
            shaky.record(ssrc: 1, sequence: UInt16(i), timestamp: UInt32(i * 160), arrival: Int64(i * 160 + (i % 2) * 80))
        }
        #expect(steady.jitter == 0)
        #expect(abs(shaky.jitter - 80) < 0.5, "\(shaky.jitter)")
    }

    @Test func roundTripComesFromTheEchoedSenderReport() throws {
        let stream = RTPStream()
        let session = RTCPSession(stream: stream, cname: "x")
        let wall: Int64 = 1_800_000_000_000_000_000
        let ourSR = ntpMiddle(ntpTimestamp(unixNanoseconds: wall))
        // The far end held our SR 0.5 s and its report reaches us 0.6 s after we sent the SR.
        var bytes: [UInt8] = []
        RTCPPacket.receiverReport(
            ssrc: 99, reports: [RTCPReportBlock(ssrc: stream.ssrc, fractionLost: 64, cumulativeLost: 7, highestSequence: 100, jitter: 16, lastSR: ourSR, delaySinceLastSR: 32768)]
        ).write(to: &bytes)
        bytes.withUnsafeBytes { session.receive($0, from: local(5001), now: .now(), wallNanoseconds: wall + 600_000_000) }
        #expect(session.farReport?.cumulativeLost == 7 && session.farReport?.fractionLost == 64)
        #expect(abs((session.roundTrip ?? 0) - 0.1) < 0.001, "\(session.roundTrip ?? -1)")
        #expect(session.latched == local(5001))
        // Garbage is refused once per episode through the stream's bad-packet callback.
        var complaints: [String] = []
        stream.onBadPacket = { complaints.append($0) }
        for _ in 0..<3 {
            [UInt8]([1, 2, 3]).withUnsafeBytes { session.receive($0, from: local(5001), now: .now(), wallNanoseconds: wall) }
        }
        #expect(complaints.count == 1 && complaints[0].hasPrefix("RTCP: RTCP datagram of 3 bytes") && session.badPackets == 3)
    }

    @Test func ourReportIsAnSRAfterSendingAndCarriesLSRAndDLSR() throws {
        let stream = RTPStream()
        let session = RTCPSession(stream: stream, cname: "acdd@test")
        var far = RTPSenderState()
        var bytes = [UInt8](repeating: 0, count: 12)
        for _ in 0..<10 {
            bytes.withUnsafeMutableBytes { far.next(payloadType: 0, samples: 160).write(to: $0) }
            (bytes + [UInt8](repeating: 0xFF, count: 160)).withUnsafeBytes { stream.receive($0, from: local(5000), now: .now()) }
        }
        // The far end's SR arrives; our RR 0.25 s later echoes its middle bits and the delay.
        var sr: [UInt8] = []
        RTCPPacket.senderReport(ssrc: far.ssrc, ntp: 0xAAAA_BBBB_CCCC_DDDD, rtpTimestamp: 0, packets: 10, octets: 1600, reports: []).write(to: &sr)
        let t0 = NIODeadline.now()
        sr.withUnsafeBytes { session.receive($0, from: local(5001), now: t0, wallNanoseconds: 0) }
        let report = try parse(session.report(now: t0 + .milliseconds(250), wallNanoseconds: 0))
        guard case .receiverReport(let ssrc, let blocks) = report.first else { Issue.record("\(report)"); return }
        #expect(ssrc == stream.ssrc && blocks.count == 1)
        #expect(blocks.first?.ssrc == far.ssrc && blocks.first?.lastSR == 0xBBBB_CCCC && blocks.first?.delaySinceLastSR == 16384 && blocks.first?.cumulativeLost == 0)
        #expect(report.last == .sourceDescription(ssrc: stream.ssrc, cname: "acdd@test"))
    }
}
