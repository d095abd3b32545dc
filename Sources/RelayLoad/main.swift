// relay-load: N bridged G.711 calls through a relay, each leg sending 50 packets a second, with
// loss, added delay and jitter measured on the packets that come back out of the other leg.
//
//   relay-load --sip 127.0.0.1:5090 --number 602 --calls 1000 --seconds 10 --pid <acdd pid>
//   relay-load --static 20000 --calls 1000 --seconds 10 --pid <relay pid>
//
// With --legs-per-call 3 and the conference test number (media.conference_size = 3) each "call"
// is a conference of three: what comes back is a mix, not our packets, so only the packets out of
// the relay per second and the relay's CPU are measured (out_pps), not delay or loss.
//
// SIP mode places 2N calls to the daemon's bridge test number (it pairs callers in order), reads
// each leg's RTP port from the 200's SDP, and hangs up at the end. Static mode talks to the
// minimal C relay of bench/c-relay, whose pairs of ports are fixed (leg i at BASE + 2i, legs 2k
// and 2k+1 joined).
//
// All legs send from one UDP socket: a relay latches each leg to the address its packets come
// from, so one socket can stand for every phone and one recvmmsg loop reads what comes back.
// Each leg sends at its own phase within the 20 ms period (spread over 1 ms slots), the way
// independent phones do, rather than all at once.
//
// Every payload carries a magic number, the sending leg, its sequence number and the send time
// (CLOCK_MONOTONIC), so the receiver measures one-way delay through the relay without any clock
// but its own. Bounded: --seconds of media (at most 120), and each step gives up after a timeout.
import CBatchIO
import Foundation
import SIPMessage

#if canImport(Glibc)
import Glibc
#endif

struct Options {
    var sip: (String, Int)?
    var number = "602"
    var staticBase: Int?
    var calls = 100
    var seconds = 10
    var pid: Int32?
    var warmup = 2
    var legsPerCall = 2

    init() {
        var args = CommandLine.arguments.dropFirst()
        func value() -> String {
            guard let v = args.popFirst() else { fail("missing value") }
            return v
        }
        while let a = args.popFirst() {
            switch a {
            case "--sip":
                let parts = value().split(separator: ":")
                guard parts.count == 2, let p = Int(parts[1]) else { fail("--sip HOST:PORT") }
                sip = (String(parts[0]), p)
            case "--number": number = value()
            case "--static": staticBase = Int(value())
            case "--calls": calls = Int(value()) ?? 0
            case "--seconds": seconds = min(120, Int(value()) ?? 10)
            case "--warmup": warmup = min(30, Int(value()) ?? 2)
            case "--pid": pid = Int32(value())
            case "--legs-per-call": legsPerCall = max(2, min(10, Int(value()) ?? 2))
            default: fail("unknown argument \(a)")
            }
        }
        guard calls > 0, (sip == nil) != (staticBase == nil) else { fail("give --calls N and one of --sip HOST:PORT or --static BASE") }
    }
}

func fail(_ why: String) -> Never {
    FileHandle.standardError.write(Data("relay-load: \(why)\n".utf8))
    exit(2)
}

func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func address(_ host: String, _ port: Int) -> sockaddr_in {
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_port = UInt16(port).bigEndian
    inet_pton(AF_INET, host, &a.sin_addr)
    return a
}

func udpSocket(bufferBytes: Int32) -> (Int32, Int) {
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    var a = address("127.0.0.1", 0)
    let rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard fd >= 0, rc == 0 else { fail("cannot bind a UDP socket") }
    var size = bufferBytes
    // Root may exceed rmem_max/wmem_max; others get what the limit allows.
    if setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, 4) != 0 { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, 4) }
    if setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, 4) != 0 { setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, 4) }
    var bound = sockaddr_in()
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return (fd, Int(UInt16(bigEndian: bound.sin_port)))
}

func sendTo(_ fd: Int32, _ bytes: [UInt8], _ to: sockaddr_in) {
    var to = to
    _ = bytes.withUnsafeBytes { b in
        withUnsafePointer(to: &to) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, b.baseAddress, b.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    }
}

func receive(_ fd: Int32, timeoutMs: Int32) -> [UInt8]? {
    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    guard poll(&p, 1, timeoutMs) > 0 else { return nil }
    var buf = [UInt8](repeating: 0, count: 65536)
    let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
    return n > 0 ? Array(buf[0..<n]) : nil
}

func cpuTicks(_ pid: Int32?) -> Double? {
    guard let pid, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return nil }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    // After the command: state is field 3, utime 14 and stime 15 (1-based in proc(5)).
    guard fields.count > 13, let u = Double(fields[11]), let s = Double(fields[12]) else { return nil }
    return u + s
}

// MARK: SIP (setup and teardown only)

struct Leg {
    var port: Int
    var callID = ""
    var fromTag = ""
    var toTag: String?
}

final class Signalling {
    let fd: Int32
    let localPort: Int
    let server: sockaddr_in
    let host: String
    let serverPort: Int

    init(host: String, port: Int) {
        (fd, localPort) = udpSocket(bufferBytes: 4 << 20)
        server = address(host, port)
        self.host = host
        serverPort = port
    }

    func header(_ method: String, _ leg: Leg, number: String, branch: String, cseq: Int) -> String {
        var h = "\(method) sip:\(number)@\(host):\(serverPort) SIP/2.0\r\n"
        h += "Via: SIP/2.0/UDP 127.0.0.1:\(localPort);branch=z9hG4bK\(branch);rport\r\n"
        h += "Max-Forwards: 70\r\nFrom: <sip:load@127.0.0.1>;tag=\(leg.fromTag)\r\n"
        h += "To: <sip:\(number)@\(host)>\(leg.toTag.map { ";tag=\($0)" } ?? "")\r\n"
        h += "Call-ID: \(leg.callID)\r\nCSeq: \(cseq) \(method)\r\nContact: <sip:load@127.0.0.1:\(localPort)>\r\n"
        return h
    }

    /// INVITE with our RTP port; returns the leg with the daemon's RTP port and To tag.
    func call(_ index: Int, number: String, rtpPort: Int) -> Leg? {
        var leg = Leg(port: 0, callID: "relay-load-\(getpid())-\(index)", fromTag: "t\(index)")
        let sdp = "v=0\r\no=- \(index) 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio \(rtpPort) RTP/AVP 0\r\n"
        let invite = header("INVITE", leg, number: number, branch: "i\(index)", cseq: 1)
            + "Content-Type: application/sdp\r\nContent-Length: \(sdp.utf8.count)\r\n\r\n" + sdp
        sendTo(fd, Array(invite.utf8), server)
        let deadline = monotonicNanos() + 5_000_000_000
        while monotonicNanos() < deadline {
            guard let bytes = receive(fd, timeoutMs: 500) else { sendTo(fd, Array(invite.utf8), server); continue }
            guard case .response(let r)? = try? SIPParser().parse(bytes), r.callID == leg.callID else {
                answerRequest(bytes)
                continue
            }
            guard r.status.isFinal else { continue }
            guard r.status == .ok, let port = try? SDPSession.parse(r.body).media.first?.port else { return nil }
            leg.port = port
            leg.toTag = r.to.tag
            let ack = header("ACK", leg, number: number, branch: "a\(index)", cseq: 1) + "Content-Length: 0\r\n\r\n"
            sendTo(fd, Array(ack.utf8), server)
            return leg
        }
        return nil
    }

    func hangUp(_ leg: Leg, index: Int, number: String) {
        let bye = header("BYE", leg, number: number, branch: "b\(index)", cseq: 2) + "Content-Length: 0\r\n\r\n"
        sendTo(fd, Array(bye.utf8), server)
    }

    /// Answers the daemon's own BYEs (it hangs up a leg whose partner left) so it does not retransmit.
    func answerRequest(_ bytes: [UInt8]) {
        guard case .request(let r)? = try? SIPParser().parse(bytes), r.method != .ack else { return }
        sendTo(fd, r.response(.ok).serialized(), server)
    }

    func drain(milliseconds: Int) {
        let end = monotonicNanos() + UInt64(milliseconds) * 1_000_000
        while monotonicNanos() < end {
            if let b = receive(fd, timeoutMs: 50) { answerRequest(b) }
        }
    }
}

// MARK: Media

let magic: UInt32 = 0x5245_4C59  // "RELY"
let payloadBytes = 160
let packetBytes = 12 + payloadBytes

final class Receiver: @unchecked Sendable {
    let fd: Int32
    let legs: Int
    var received: [Int]
    var lastTransit: [Int64]
    var jitter: [Double]
    var delaysMicros: [Int32] = []
    /// Only packets sent after this instant are measured (the warm-up is left out).
    var measureFrom: UInt64 = .max
    var measureUntil: UInt64 = .max
    var measured = 0
    var stray = 0
    /// Every datagram that arrived inside the window, ours or a mix.
    var arrivedInWindow = 0
    var running = true

    init(fd: Int32, legs: Int) {
        self.fd = fd
        self.legs = legs
        received = [Int](repeating: 0, count: legs)
        lastTransit = [Int64](repeating: .min, count: legs)
        jitter = [Double](repeating: 0, count: legs)
        delaysMicros.reserveCapacity(legs * 50 * 130)
    }

    func run() {
        let batch = 64, stride = 2048
        var storage = [UInt8](repeating: 0, count: batch * stride)
        var lengths = [UInt32](repeating: 0, count: batch)
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        storage.withUnsafeMutableBytes { raw in
            while running {
                guard poll(&p, 1, 100) > 0 else { continue }
                let n = batchio_recv(fd, raw.baseAddress, stride, UInt32(batch), &lengths)
                guard n > 0 else { continue }
                let now = monotonicNanos()
                if now >= measureFrom && now < measureUntil { arrivedInWindow += Int(n) }
                for i in 0..<Int(n) {
                    take(UnsafeRawBufferPointer(start: raw.baseAddress! + i * stride, count: Int(lengths[i])), now: now)
                }
            }
        }
    }

    func take(_ bytes: UnsafeRawBufferPointer, now: UInt64) {
        guard bytes.count == packetBytes, bytes.loadUnaligned(fromByteOffset: 12, as: UInt32.self) == magic else {
            stray += 1  // ringback before the pair is joined, or anything else
            return
        }
        let leg = Int(bytes.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
        let sentAt = bytes.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
        guard leg < legs else { stray += 1; return }
        received[leg] += 1
        let transit = Int64(now) - Int64(sentAt)
        if lastTransit[leg] != .min {
            // RFC 3550 §6.4.1 interarrival jitter, in nanoseconds.
            let d = Double(abs(transit - lastTransit[leg]))
            jitter[leg] += (d - jitter[leg]) / 16
        }
        lastTransit[leg] = transit
        if sentAt >= measureFrom && sentAt < measureUntil {
            measured += 1
            delaysMicros.append(Int32(clamping: transit / 1000))
        }
    }
}

/// Sends every leg's packet once per 20 ms, each leg in one of 20 one-millisecond slots.
func sendMedia(fd: Int32, destinations: [sockaddr_in], until end: UInt64, measureFrom: UInt64, measureUntil: UInt64) -> (sent: Int, measured: Int) {
    let legs = destinations.count
    var packets = [UInt8](repeating: 0, count: legs * packetBytes)
    var sequence = [UInt16](repeating: 0, count: legs)
    let dest = destinations
    var sent = 0, measured = 0
    let slots = 20
    var next = monotonicNanos()
    var slot = 0
    var batchPackets: [UnsafeMutableRawPointer?] = []
    var batchDests: [UnsafePointer<sockaddr_in>?] = []
    batchPackets.reserveCapacity(legs / slots + 1)
    batchDests.reserveCapacity(legs / slots + 1)
    packets.withUnsafeMutableBytes { raw in
        for leg in 0..<legs {
            let p = raw.baseAddress! + leg * packetBytes
            p.storeBytes(of: 0x80, as: UInt8.self)
            p.storeBytes(of: 0, toByteOffset: 1, as: UInt8.self)  // PCMU
            p.storeBytes(of: UInt32(leg + 1).bigEndian, toByteOffset: 8, as: UInt32.self)
            p.storeBytes(of: magic, toByteOffset: 12, as: UInt32.self)
            p.storeBytes(of: UInt32(leg), toByteOffset: 16, as: UInt32.self)
            for k in 32..<packetBytes { p.storeBytes(of: 0xFF, toByteOffset: k, as: UInt8.self) }
        }
        dest.withUnsafeBufferPointer { d in
            while next < end {
                // The legs whose phase is this slot.
                batchPackets.removeAll(keepingCapacity: true)
                batchDests.removeAll(keepingCapacity: true)
                let now = monotonicNanos()
                var leg = slot
                while leg < legs {
                    let p = raw.baseAddress! + leg * packetBytes
                    sequence[leg] &+= 1
                    p.storeBytes(of: sequence[leg].bigEndian, toByteOffset: 2, as: UInt16.self)
                    p.storeBytes(of: (UInt32(sequence[leg]) &* 160).bigEndian, toByteOffset: 4, as: UInt32.self)
                    p.storeBytes(of: now, toByteOffset: 24, as: UInt64.self)
                    batchPackets.append(p)
                    batchDests.append(d.baseAddress! + leg)
                    leg += slots
                }
                if !batchPackets.isEmpty {
                    let n = batchio_send(fd, batchPackets, packetBytes, batchDests, UInt32(batchPackets.count))
                    if n > 0 {
                        sent += Int(n)
                        if now >= measureFrom && now < measureUntil { measured += Int(n) }
                    }
                }
                slot = (slot + 1) % slots
                next += 1_000_000
                var ts = timespec(tv_sec: Int(next / 1_000_000_000), tv_nsec: Int(next % 1_000_000_000))
                clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil)
            }
        }
    }
    return (sent, measured)
}

// MARK: Run

let options = Options()
let legCount = options.calls * options.legsPerCall
let (rtpFD, rtpPort) = udpSocket(bufferBytes: 32 << 20)
var destinations: [sockaddr_in] = []
var signalling: Signalling?
var legs: [Leg] = []

if let base = options.staticBase {
    destinations = (0..<legCount).map { address("127.0.0.1", base + 2 * $0) }
} else if let (host, port) = options.sip {
    let s = Signalling(host: host, port: port)
    signalling = s
    for i in 0..<legCount {
        guard let leg = s.call(i, number: options.number, rtpPort: rtpPort) else { fail("call \(i) was not answered") }
        legs.append(leg)
        destinations.append(address(host, leg.port))
    }
}

let receiver = Receiver(fd: rtpFD, legs: legCount)
let thread = Thread { receiver.run() }
thread.start()

let start = monotonicNanos()
let measureFrom = start + UInt64(options.warmup) * 1_000_000_000
let measureUntil = measureFrom + UInt64(options.seconds) * 1_000_000_000
receiver.measureFrom = measureFrom
receiver.measureUntil = measureUntil
// Warm-up first (latching, ringback ending), then the measured window; the relay's CPU is read
// over the window only.
var cpuBefore: Double?
let warm = sendMedia(fd: rtpFD, destinations: destinations, until: measureFrom, measureFrom: measureFrom, measureUntil: measureUntil)
cpuBefore = cpuTicks(options.pid)
let ownCPUBefore = cpuTicks(getpid())
let window = sendMedia(fd: rtpFD, destinations: destinations, until: measureUntil, measureFrom: measureFrom, measureUntil: measureUntil)
let cpuAfter = cpuTicks(options.pid)
let ownCPUAfter = cpuTicks(getpid())
usleep(300_000)  // the last packets in flight
receiver.running = false
thread.cancel()
usleep(150_000)

if let s = signalling {
    for (i, leg) in legs.enumerated() { s.hangUp(leg, index: i, number: options.number) }
    s.drain(milliseconds: 1500)
}

let delays = receiver.delaysMicros.sorted()
func percentile(_ p: Double) -> Int32 { delays.isEmpty ? -1 : delays[min(delays.count - 1, Int(Double(delays.count) * p))] }
// A late warm-up may already have sent packets stamped inside the window.
let sentInWindow = window.measured + warm.measured
let lost = sentInWindow - receiver.measured
let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
let cpu = (cpuBefore != nil && cpuAfter != nil) ? (cpuAfter! - cpuBefore!) / hz / Double(options.seconds) * 100 : -1
let ownCPU = (ownCPUAfter ?? 0) - (ownCPUBefore ?? 0)
let meanJitter = receiver.jitter.reduce(0, +) / Double(max(1, legCount)) / 1000
print(String(
    format: "calls=%d legs=%d seconds=%d out_pps=%.0f sent=%d received=%d lost=%d loss_pct=%.4f p50_us=%d p99_us=%d max_us=%d jitter_us=%.1f relay_cpu_pct=%.1f load_cpu_pct=%.1f stray=%d",
    options.calls, legCount, options.seconds, Double(receiver.arrivedInWindow) / Double(options.seconds), sentInWindow, receiver.measured, lost, sentInWindow > 0 ? Double(lost) / Double(sentInWindow) * 100 : 0,
    percentile(0.5), percentile(0.99), delays.last ?? -1, meanJitter, cpu, ownCPU / hz / Double(options.seconds) * 100, receiver.stray))
exit(0)
