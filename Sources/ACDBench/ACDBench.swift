import Foundation
import SIPMessage

/// `acd-bench`: micro-benchmarks whose results go in bench/. Run in release:
///   swift run -c release acd-bench parser [messages] [runs]
/// Prints one line per run and the median, so that a noisy shared machine shows its spread.
@main
enum ACDBench {
    static func main() {
        let args = CommandLine.arguments.dropFirst()
        switch args.first {
        case "parser":
            let n = args.dropFirst().first.flatMap(Int.init) ?? 200_000
            let runs = args.dropFirst(2).first.flatMap(Int.init) ?? 7
            parser(messages: n, runs: runs)
        case "routing":
            RoutingBench.run(cycles: args.dropFirst().first.flatMap(Int.init) ?? 200_000, runs: args.dropFirst(2).first.flatMap(Int.init) ?? 5)
        case "inbox":
            QueueBench.inbox(items: args.dropFirst().first.flatMap(Int.init) ?? 2_000_000, runs: args.dropFirst(2).first.flatMap(Int.init) ?? 5)
        case "ring":
            QueueBench.ring(frames: args.dropFirst().first.flatMap(Int.init) ?? 2_000_000, runs: args.dropFirst(2).first.flatMap(Int.init) ?? 5)
        case "recording":
            RecordsBench.recording(
                calls: args.dropFirst().first.flatMap(Int.init) ?? 500, seconds: args.dropFirst(2).first.flatMap(Int.init) ?? 30,
                directory: args.dropFirst(3).first ?? "/tmp/acd-bench-recording", bufferFrames: args.dropFirst(4).first.flatMap(Int.init) ?? 256)
        case "records":
            RecordsBench.writes(
                count: args.dropFirst().first.flatMap(Int.init) ?? 50_000, runs: args.dropFirst(2).first.flatMap(Int.init) ?? 5,
                directory: args.dropFirst(3).first ?? "/tmp/acd-bench-records")
        case "crm":
            RecordsBench.delivery(
                count: args.dropFirst().first.flatMap(Int.init) ?? 50_000, socket: args.dropFirst(2).first ?? "/tmp/acd-bench-crm/crm.sock",
                directory: "/tmp/acd-bench-delivery")
        case "pacing":
            PacingBench.run(hours: args.dropFirst().first.flatMap(Double.init) ?? 4, seed: args.dropFirst(2).first.flatMap(UInt64.init) ?? 1)
        default:
            print("usage: acd-bench parser|routing|inbox|ring|recording|records|crm|pacing [count|hours] [runs|seconds|socket|seed] [directory]")
        }
    }

    /// A typical trunk INVITE (SIPp's uac scenario, 14 headers and a 129-byte SDP body).
    static let invite = Array(
        """
        INVITE sip:100@127.0.0.1:5060 SIP/2.0\r
        Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-16544-1-0\r
        From: sipp <sip:sipp@127.0.0.1:5070>;tag=16544SIPpTag001\r
        To: <sip:100@127.0.0.1:5060>\r
        Call-ID: 1-16544@127.0.0.1\r
        CSeq: 1 INVITE\r
        Contact: sip:sipp@127.0.0.1:5070\r
        Max-Forwards: 70\r
        Subject: Performance Test\r
        Content-Type: application/sdp\r
        Content-Length: 129\r
        \r
        v=0\r
        o=user1 53655765 2353687637 IN IP4 127.0.0.1\r
        s=-\r
        c=IN IP4 127.0.0.1\r
        t=0 0\r
        m=audio 6000 RTP/AVP 0\r
        a=rtpmap:0 PCMU/8000\r

        """.utf8)

    static func parser(messages: Int, runs: Int) {
        let parser = SIPParser()
        var parseRates: [Double] = []
        var roundTripRates: [Double] = []
        var sink = 0
        for run in 1...runs {
            var start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<messages {
                if case .request(let r) = try! parser.parse(invite) { sink &+= r.body.count }
            }
            var elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            parseRates.append(Double(messages) / elapsed)
            // Parse, then serialize the parsed message (what a proxy-like hop costs).
            start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<messages / 4 {
                let m = try! parser.parse(invite)
                sink &+= m.serialized().count
            }
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            roundTripRates.append(Double(messages / 4) / elapsed)
            print(String(format: "run %d: parse %.0f msg/s, parse+serialize %.0f msg/s", run, parseRates.last!, roundTripRates.last!))
        }
        let median = { (v: [Double]) in v.sorted()[v.count / 2] }
        print(String(format: "median: parse %.0f msg/s (%.2f us/msg), parse+serialize %.0f msg/s; message %d bytes (sink %d)",
                     median(parseRates), 1e6 / median(parseRates), median(roundTripRates), invite.count, sink % 10))
    }
}
