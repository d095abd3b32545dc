public import NIOCore

/// One call leg's RTP as the event loop sees it: the handler on the leg's socket parses each
/// datagram, latches the far end's real address, turns telephone-events (and, when asked, in-band
/// tones) into key presses, and in echo mode sends the audio straight back. What the call layer
/// reads (last packet time, counters, the latched address) lives here.
///
/// Loop-bound: created on the port pool's loop and touched only there (the handler runs there,
/// and so does the call layer), which is why it is `@unchecked Sendable` and takes no lock.
///
/// Symmetric RTP (RFC 4961): we send to where the far end's packets really come from, not only to
/// the SDP's address, because a caller behind NAT announces an address we cannot reach. The first
/// valid packet latches the address; a later packet from elsewhere re-latches only when it carries
/// a new SSRC (the far end restarted its stream), so a stray or spoofed datagram cannot steal a call.
public final class RTPStream: @unchecked Sendable {
    public enum Mode: Sendable, Equatable {
        /// Count and inspect what arrives, send nothing (until a bridge or player takes over).
        case receive
        /// Send every audio packet back to the latched address under our own SSRC/sequence/timestamp.
        case echo
    }

    public var mode: Mode = .receive
    /// Payload type of the audio codec negotiated for the leg; packets with another type (other
    /// than events) are counted, not played.
    public var audioPayloadType: UInt8?
    /// Negotiated RFC 4733 payload type, nil when the far end does not do events.
    public var eventPayloadType: UInt8?
    /// Decode audio and look for DTMF tones in it (trunks configured to send tones).
    public var inbandDTMF = false {
        didSet { if inbandDTMF != oldValue { inbandDetector = inbandDTMF ? InbandDTMFDetector() : nil } }
    }
    /// Called with each key press, however it arrived.
    public var onDigit: ((Character) -> Void)?
    /// Called once per failure episode with why a datagram was refused (the first of a run of
    /// bad datagrams); the next valid packet ends the episode.
    public var onBadPacket: ((String) -> Void)?

    /// What we play into the call (prompt, music, tone); nil sends nothing. Echo mode wins.
    public private(set) var source: (any AudioSource)?
    /// Told when a source has played to its end (not when it was replaced or stopped by us).
    public var onPlaybackEnded: ((any AudioSource) -> Void)?
    /// The leg's negotiated codec: what playback is encoded with, what received audio is decoded
    /// with when something needs it decoded, and what relayed audio is transcoded to.
    public var codec: VoiceCodec?
    /// Where to send before the far end's first packet tells us (the SDP's address).
    public var remote: MediaAddress?
    /// The other leg while the two are bridged: what arrives here goes out there, packet by
    /// packet. Weak both ways; `RTPBridge` sets and clears the pair.
    public internal(set) weak var bridged: RTPStream?
    /// Sees every audio payload that arrives, bridged or not (recording and monitoring). The
    /// pointer is valid only during the call.
    public var tap: ((RTPHeader, UnsafeRawBufferPointer) -> Void)?
    public private(set) var packetsRelayed = 0
    /// Where received audio goes when the leg is in a conference: decoded and reordered for the mixer.
    public var inbound: JitterBuffer?
    private var relaySSRC: UInt32?
    private var relayOffset: UInt32 = 0

    /// Whether the SDP lets us send (not when the far end put us on hold as recvonly or inactive):
    /// playback goes on reading its source so its timeline stays true, but nothing leaves.
    public var sending = true

    public private(set) var latched: MediaAddress?
    public private(set) var latchedSSRC: UInt32?
    public private(set) var lastPacketAt: NIODeadline?
    public private(set) var packetsReceived = 0
    public private(set) var packetsSent = 0
    /// Payload bytes sent (RTCP sender reports carry it).
    public private(set) var octetsSent = 0
    /// Loss and jitter of what arrives, for our RTCP reports (RFC 3550 A.1, A.8).
    public internal(set) var receiverStats = RTPReceiverStatistics()
    /// The sender state's SSRC: what the far end's reports about our stream name.
    public var ssrc: UInt32 { sender.ssrc }
    /// The media-clock timestamp our next packet would carry, for sender reports.
    var nextTimestamp: UInt32 { sender.nextTimestamp }
    public private(set) var badPackets = 0
    private var failing = false
    private var sender = RTPSenderState()
    private var events = TelephoneEventReceiver()
    private var inbandDetector: InbandDTMFDetector?
    /// Decoded samples for in-band detection: allocated once, reused for every packet.
    private var pcm = [Int16](repeating: 0, count: 1024)
    /// Every datagram this leg sends is built here and handed to the kernel before the next one
    /// is built (sends are synchronous), so one buffer serves playback, events, relay and echo.
    /// 12 bytes of header and up to 320 of payload (G.722 20 ms is 160; a relayed packet carries
    /// what the far end put in one, which `relay` bounds).
    private var outBuffer = [UInt8](repeating: 0, count: RTPStream.maxDatagram)
    static let maxDatagram = 1500
    private var lastPlayedTick: UInt64?
    /// The loop's playback clock (set by the pool that made the stream).
    public internal(set) weak var clock: MediaClock?
    var clocked = false
    /// The leg's RTP socket while the lease holds it (a fake in fast tests).
    public var transport: (any DatagramTransport)?

    public init() {}


    /// Keys we send as RFC 4733 events, and the timestamp of the one being sent.
    private var eventSender = TelephoneEventSender()
    private var eventTimestamp: UInt32 = 0
    var eventsPending: Bool { eventSender.isActive }

    /// Sends keys as RFC 4733 events, paced by the media clock; audio being played pauses while a
    /// key is sent. Returns false when the far end did not negotiate events or a key is invalid.
    @discardableResult
    public func sendDigits(_ digits: String) -> Bool {
        guard eventPayloadType != nil, eventSender.queue(digits) else { return false }
        clock?.add(self)
        return true
    }

    /// Starts playing `source` from the next tick, replacing whatever played before.
    public func play(_ source: any AudioSource) {
        self.source = source
        clock?.add(self)
    }

    /// Stops playback at once (no end callback).
    public func stopPlayback() {
        source = nil
    }

    /// Sends one 20 ms frame of the source, at media tick `tick`. When the source ends inside the
    /// frame, the end is reported at once and whatever the callback starts fills the rest of the
    /// frame, so a playlist built from several sources (intro, then goodbye) has no gap.
    func playFrame(tick: UInt64) {
        if eventSender.isActive, let pt = eventPayloadType, mode != .echo, let to = latched ?? remote {
            return sendEvent(tick: tick, payloadType: pt, to: to)
        }
        guard source != nil, mode != .echo, let codec, let to = latched ?? remote else { return }
        let frame = MediaClock.samplesPerFrame
        var n = 0
        // Bounded: a callback that keeps starting sources with nothing in them cannot spin here.
        for _ in 0..<8 {
            guard n < frame, let current = source else { break }
            n += pcm.withUnsafeMutableBufferPointer { current.read(into: UnsafeMutableBufferPointer(rebasing: $0[n..<frame])) }
            guard n < frame, source === current else { break }
            source = nil
            onPlaybackEnded?(current)
        }
        guard n > 0, sending, let transport else { return }
        catchUp(to: tick)
        for i in n..<frame { pcm[i] = 0 }
        let header = sender.next(payloadType: codec.payloadType, samples: UInt32(frame))
        let length = outBuffer.withUnsafeMutableBytes { raw in
            header.write(to: raw)
            return pcm.withUnsafeBufferPointer { 12 + codec.encode(UnsafeBufferPointer(rebasing: $0[0..<frame]), into: UnsafeMutableRawBufferPointer(rebasing: raw[12...])) }
        }
        packetsSent += 1
        octetsSent += length - 12
        send(length, to: to, through: transport)
    }

    private func send(_ length: Int, to: MediaAddress, through transport: any DatagramTransport) {
        outBuffer.withUnsafeBytes { transport.send(UnsafeRawBufferPointer(rebasing: $0[0..<length]), to: to) }
    }

    /// Before a packet at `tick`: ticks since our last packet that sent nothing still moved the
    /// media clock, so the timestamp skips them (and the packet starts a new talk spurt).
    private func catchUp(to tick: UInt64) {
        if let last = lastPlayedTick, tick > last + 1 {
            sender.skip(samples: UInt32(truncatingIfNeeded: (tick - last - 1) * UInt64(MediaClock.samplesPerFrame)))
        }
        lastPlayedTick = tick
    }

    private func sendEvent(tick: UInt64, payloadType: UInt8, to: MediaAddress) {
        guard let step = eventSender.next(), case .event(let event, let first, let lastPacket) = step else { return }
        catchUp(to: tick)
        if first { eventTimestamp = sender.nextTimestamp }
        let header = sender.nextEvent(payloadType: payloadType, eventTimestamp: eventTimestamp, first: first)
        if lastPacket {
            // The media clock moved on while the key was sent: audio resumes from the present.
            sender.skip(samples: UInt32(event.duration) + UInt32(TelephoneEventSender.endRepeats * MediaClock.samplesPerFrame))
        }
        guard sending, let transport else { return }
        outBuffer.withUnsafeMutableBytes { raw in
            header.write(to: raw)
            event.write(to: UnsafeMutableRawBufferPointer(rebasing: raw[12..<16]))
        }
        packetsSent += 1
        octetsSent += 4
        send(16, to: to, through: transport)
    }

    /// Sends a packet that arrived on the bridged leg out of this one: re-headed under our SSRC
    /// and sequence, its timestamp moved by a fixed offset, the payload copied, or, when the legs'
    /// codecs differ, encoded from `decoded` (the other leg's decoding of it). `source` nil means
    /// an RFC 4733 event, which goes out under our event payload type or not at all.
    func relay(_ h: RTPHeader, _ payload: UnsafeRawBufferPointer, from source: VoiceCodec?, decoded: UnsafeBufferPointer<Int16>?) {
        guard sending, mode != .echo, self.source == nil, let transport, let to = latched ?? remote else { return }
        let pt: UInt8
        var transcode: (VoiceCodec, UnsafeBufferPointer<Int16>)?
        if let source {
            guard let mine = codec else { return }
            pt = mine.payloadType
            if !mine.sameFormat(as: source) {
                guard let decoded else { return }
                transcode = (mine, decoded)
            }
        } else {
            guard let e = eventPayloadType else { return }
            pt = e
        }
        let length = transcode?.1.count ?? payload.count
        guard 12 + length <= Self.maxDatagram else { return }
        if relaySSRC != h.ssrc {
            // A new source on the other side: continue from where our own stream stands.
            relaySSRC = h.ssrc
            relayOffset = sender.nextTimestamp &- h.timestamp
        }
        let out = sender.relayed(payloadType: pt, timestamp: h.timestamp &+ relayOffset, marker: h.marker, samples: source == nil ? 0 : UInt32(length))
        let total = outBuffer.withUnsafeMutableBytes { raw in
            out.write(to: raw)
            let body = UnsafeMutableRawBufferPointer(rebasing: raw[12..<(12 + length)])
            if let (mine, samples) = transcode {
                return 12 + mine.encode(samples, into: body)
            }
            body.copyMemory(from: payload)
            return 12 + length
        }
        send(total, to: to, through: transport)
        packetsSent += 1
        octetsSent += total - 12
        packetsRelayed += 1
    }

    /// Handles one datagram from the leg's socket (or a test). `bytes` is valid only during the call.
    public func receive(_ bytes: UnsafeRawBufferPointer, from: MediaAddress, now: NIODeadline) {
        let header: RTPHeader
        do throws(RTPHeader.ParseError) {
            header = try RTPHeader.parse(bytes)
        } catch {
            refuse("\(error)", from: from)
            return
        }
        if latched == nil || (latched != from && header.ssrc != latchedSSRC) {
            latched = from
            latchedSSRC = header.ssrc
        } else if latched != from {
            // Same SSRC from another address: a stray copy; not ours to follow.
            badPackets += 1
            return
        }
        failing = false
        packetsReceived += 1
        lastPacketAt = now
        // Arrival in 8 kHz timestamp units (125 µs), the clock of G.711 and its events.
        receiverStats.record(ssrc: header.ssrc, sequence: header.sequence, timestamp: header.timestamp, arrival: Int64(now.uptimeNanoseconds / 125_000))
        let payload = UnsafeRawBufferPointer(rebasing: bytes[header.payloadOffset..<(header.payloadOffset + header.payloadLength)])

        if let pt = eventPayloadType, header.payloadType == pt {
            bridged?.relay(header, payload, from: nil, decoded: nil)
            if let event = try? TelephoneEvent.parse(payload), let digit = events.receive(event, timestamp: header.timestamp) { onDigit?(digit) }
            return
        }
        guard header.payloadType == audioPayloadType else { return }
        // Decoded once, in arrival order (G.722's decoder has state), and only when something
        // needs samples: in-band key detection, a conference, or a bridge to another codec.
        let peer = bridged
        var transcoding = false
        if let mine = codec, let theirs = peer?.codec { transcoding = !theirs.sameFormat(as: mine) }
        let needsSamples = inbandDTMF || inbound != nil || transcoding
        tap?(header, payload)
        var keys: [Character] = []
        pcm.withUnsafeMutableBufferPointer { out in
            var decoded: UnsafeBufferPointer<Int16>?
            if needsSamples, let codec {
                let n = codec.decode(payload, into: out)
                decoded = UnsafeBufferPointer(rebasing: out[0..<n])
            }
            peer?.relay(header, payload, from: codec, decoded: decoded)
            if let decoded {
                inbound?.insert(sequence: header.sequence, timestamp: header.timestamp, arrival: Int64(now.uptimeNanoseconds / 125_000), samples: decoded)
                if let detector = inbandDetector {
                    keys = detector.feed(UnsafeMutableBufferPointer(mutating: decoded))
                }
            }
        }
        for key in keys { onDigit?(key) }
        guard mode == .echo, let to = latched, let transport, 12 + header.payloadLength <= Self.maxDatagram else { return }
        // Echo: the far end's payload sent back under our own SSRC, sequence and timestamp.
        let out = sender.next(payloadType: header.payloadType, samples: UInt32(header.payloadLength))
        outBuffer.withUnsafeMutableBytes { raw in
            out.write(to: raw)
            UnsafeMutableRawBufferPointer(rebasing: raw[12..<(12 + header.payloadLength)]).copyMemory(from: payload)
        }
        packetsSent += 1
        octetsSent += header.payloadLength
        send(12 + header.payloadLength, to: to, through: transport)
    }

    /// The reason is only built for the first datagram of a bad run, so a flood of garbage
    /// costs no string per packet.
    private func refuse(_ why: @autoclosure () -> String, from: MediaAddress) {
        badPackets += 1
        if !failing {
            failing = true
            onBadPacket?("\(why()) (from \(from))")
        }
    }
}

extension RTPStream: DatagramReceiver {
    func receive(_ bytes: UnsafeRawBufferPointer, from: MediaAddress, truncated: Bool, now: NIODeadline) {
        guard !truncated else { return refuse("datagram longer than \(MediaLoop.stride) bytes", from: from) }
        receive(bytes, from: from, now: now)
    }
}
