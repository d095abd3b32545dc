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
    public var remote: SocketAddress?
    /// The other leg while the two are bridged: what arrives here goes out there, packet by
    /// packet. Weak both ways; `RTPBridge` sets and clears the pair.
    public internal(set) weak var bridged: RTPStream?
    /// Sees every audio payload that arrives, bridged or not (recording and monitoring). The
    /// pointer is valid only during the call.
    public var tap: ((RTPHeader, UnsafeRawBufferPointer) -> Void)?
    public private(set) var packetsRelayed = 0
    /// Where received audio goes when the leg is in a conference: decoded and reordered for the mixer.
    public var inbound: JitterBuffer?
    /// Relayed packets whose outgoing buffer was still held by NIO (the socket was not writable)
    /// and had to be allocated afresh; zero in a healthy relay.
    public private(set) var relayBufferMisses = 0
    private var relaySSRC: UInt32?
    private var relayOffset: UInt32 = 0
    /// Outgoing datagrams for relayed packets, reused in turn: NIO lets go of each once the flush
    /// at the end of the read batch has sent it.
    private var relayBuffers = (0..<16).map { _ in ByteBufferAllocator().buffer(capacity: 256) }
    private var relayIndex = 0
    var needsFlush = false

    /// Whether the SDP lets us send (not when the far end put us on hold as recvonly or inactive):
    /// playback goes on reading its source so its timeline stays true, but nothing leaves.
    public var sending = true

    public private(set) var latched: SocketAddress?
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
    /// Playback's outgoing datagram, reused for every frame: NIO lets go of it once the send
    /// completes, so by the next tick it is ours alone again and `clear()` allocates nothing.
    private var outBuffer = ByteBufferAllocator().buffer(capacity: 256)
    private var lastPlayedTick: UInt64?
    /// The loop's playback clock (set by the pool that made the stream).
    public internal(set) weak var clock: MediaClock?
    var clocked = false
    /// The leg's RTP socket, set while the stream's handler is in its pipeline.
    var channel: (any Channel)?

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
        guard n > 0, sending, let channel else { return }
        catchUp(to: tick)
        for i in n..<frame { pcm[i] = 0 }
        let header = sender.next(payloadType: codec.payloadType, samples: UInt32(frame))
        outBuffer.clear()
        outBuffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 12 + frame) { raw in
            header.write(to: raw)
            _ = pcm.withUnsafeBufferPointer { codec.encode(UnsafeBufferPointer(rebasing: $0[0..<frame]), into: UnsafeMutableRawBufferPointer(rebasing: raw[12..<(12 + frame)])) }
            return 12 + frame
        }
        packetsSent += 1
        octetsSent += frame
        channel.writeAndFlush(AddressedEnvelope(remoteAddress: to, data: outBuffer), promise: nil)
    }

    /// Before a packet at `tick`: ticks since our last packet that sent nothing still moved the
    /// media clock, so the timestamp skips them (and the packet starts a new talk spurt).
    private func catchUp(to tick: UInt64) {
        if let last = lastPlayedTick, tick > last + 1 {
            sender.skip(samples: UInt32(truncatingIfNeeded: (tick - last - 1) * UInt64(MediaClock.samplesPerFrame)))
        }
        lastPlayedTick = tick
    }

    private func sendEvent(tick: UInt64, payloadType: UInt8, to: SocketAddress) {
        guard let step = eventSender.next(), case .event(let event, let first, let lastPacket) = step else { return }
        catchUp(to: tick)
        if first { eventTimestamp = sender.nextTimestamp }
        let header = sender.nextEvent(payloadType: payloadType, eventTimestamp: eventTimestamp, first: first)
        if lastPacket {
            // The media clock moved on while the key was sent: audio resumes from the present.
            sender.skip(samples: UInt32(event.duration) + UInt32(TelephoneEventSender.endRepeats * MediaClock.samplesPerFrame))
        }
        guard sending, let channel else { return }
        outBuffer.clear()
        outBuffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 16) { raw in
            header.write(to: raw)
            event.write(to: UnsafeMutableRawBufferPointer(rebasing: raw[12..<16]))
            return 16
        }
        packetsSent += 1
        octetsSent += 4
        channel.writeAndFlush(AddressedEnvelope(remoteAddress: to, data: outBuffer), promise: nil)
    }

    /// Sends a packet that arrived on the bridged leg out of this one: re-headed under our SSRC
    /// and sequence, its timestamp moved by a fixed offset, the payload copied into one of our
    /// reused buffers, or, when the legs' codecs differ, encoded from `decoded` (the other leg's
    /// decoding of it). `source` nil means an RFC 4733 event, which goes out under our event
    /// payload type or not at all. Written, not flushed: the reading leg flushes once per read batch.
    func relay(_ h: RTPHeader, _ payload: UnsafeRawBufferPointer, from source: VoiceCodec?, decoded: UnsafeBufferPointer<Int16>?) {
        guard sending, mode != .echo, self.source == nil, let channel, let to = latched ?? remote else { return }
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
        if relaySSRC != h.ssrc {
            // A new source on the other side: continue from where our own stream stands.
            relaySSRC = h.ssrc
            relayOffset = sender.nextTimestamp &- h.timestamp
        }
        let length = transcode?.1.count ?? payload.count
        let out = sender.relayed(payloadType: pt, timestamp: h.timestamp &+ relayOffset, marker: h.marker, samples: source == nil ? 0 : UInt32(length))
        let i = relayIndex
        relayIndex = (relayIndex + 1) % relayBuffers.count
        // clear() keeps the storage when NIO has let go of it and copies it when not: compare.
        let before = relayBuffers[i].withVeryUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
        relayBuffers[i].clear()
        if relayBuffers[i].withVeryUnsafeBytes({ UInt(bitPattern: $0.baseAddress) }) != before { relayBufferMisses += 1 }
        relayBuffers[i].writeWithUnsafeMutableBytes(minimumWritableBytes: 12 + length) { raw in
            out.write(to: raw)
            let body = UnsafeMutableRawBufferPointer(rebasing: raw[12..<(12 + length)])
            if let (mine, samples) = transcode {
                return 12 + mine.encode(samples, into: body)
            }
            body.copyMemory(from: payload)
            return 12 + length
        }
        channel.write(AddressedEnvelope(remoteAddress: to, data: relayBuffers[i]), promise: nil)
        needsFlush = true
        packetsSent += 1
        octetsSent += length
        packetsRelayed += 1
    }

    /// Handles one datagram; returns the datagram to send back, if any (echo mode).
    func receive(_ envelope: AddressedEnvelope<ByteBuffer>, now: NIODeadline) -> AddressedEnvelope<ByteBuffer>? {
        var buffer = envelope.data
        let parsed = buffer.withUnsafeReadableBytes { bytes -> Result<RTPHeader, RTPHeader.ParseError> in
            Result { () throws(RTPHeader.ParseError) in try RTPHeader.parse(bytes) }
        }
        let header: RTPHeader
        switch parsed {
        case .failure(let error):
            badPackets += 1
            if !failing {
                failing = true
                onBadPacket?("\(error) (from \(envelope.remoteAddress))")
            }
            return nil
        case .success(let h):
            header = h
        }
        if latched == nil || (latched != envelope.remoteAddress && header.ssrc != latchedSSRC) {
            latched = envelope.remoteAddress
            latchedSSRC = header.ssrc
        } else if latched != envelope.remoteAddress {
            // Same SSRC from another address: a stray copy; not ours to follow.
            badPackets += 1
            return nil
        }
        failing = false
        packetsReceived += 1
        lastPacketAt = now
        // Arrival in 8 kHz timestamp units (125 µs), the clock of G.711 and its events.
        receiverStats.record(ssrc: header.ssrc, sequence: header.sequence, timestamp: header.timestamp, arrival: Int64(now.uptimeNanoseconds / 125_000))

        if let pt = eventPayloadType, header.payloadType == pt {
            let event = buffer.withUnsafeReadableBytes { bytes in
                let payload = UnsafeRawBufferPointer(rebasing: bytes[header.payloadOffset..<(header.payloadOffset + header.payloadLength)])
                bridged?.relay(header, payload, from: nil, decoded: nil)
                return try? TelephoneEvent.parse(payload)
            }
            if let event, let digit = events.receive(event, timestamp: header.timestamp) { onDigit?(digit) }
            return nil
        }
        guard header.payloadType == audioPayloadType else { return nil }
        // Decoded once, in arrival order (G.722's decoder has state), and only when something
        // needs samples: in-band key detection, a conference, or a bridge to another codec.
        let peer = bridged
        var transcoding = false
        if let mine = codec, let theirs = peer?.codec { transcoding = !theirs.sameFormat(as: mine) }
        let needsSamples = inbandDTMF || inbound != nil || transcoding
        var keys: [Character] = []
        buffer.withUnsafeReadableBytes { bytes in
            let payload = UnsafeRawBufferPointer(rebasing: bytes[header.payloadOffset..<(header.payloadOffset + header.payloadLength)])
            tap?(header, payload)
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
        }
        for k in keys { onDigit?(k) }
        guard mode == .echo, let to = latched else { return nil }
        // Echo: the far end's packet, re-headed as ours (G.711: one byte per sample). The datagram
        // is a slice of the vector read's shared buffer, so writing the header copies it once
        // (copy-on-write): one allocation per echoed packet. Acceptable for a test number; the
        // bridge's relay path must not work this way.
        let out = sender.next(payloadType: header.payloadType, samples: UInt32(header.payloadLength))
        buffer.moveReaderIndex(forwardBy: header.payloadOffset - 12)
        buffer.withUnsafeMutableReadableBytes { out.write(to: $0) }
        if header.payloadLength + 12 < buffer.readableBytes { buffer.moveWriterIndex(to: buffer.readerIndex + 12 + header.payloadLength) }
        packetsSent += 1
        octetsSent += header.payloadLength
        return AddressedEnvelope(remoteAddress: to, data: buffer)
    }
}

/// The channel handler that feeds an `RTPStream` from the leg's socket.
final class RTPStreamHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>
    let stream: RTPStream
    init(stream: RTPStream) { self.stream = stream }

    func handlerAdded(context: ChannelHandlerContext) { stream.channel = context.channel }
    func handlerRemoved(context: ChannelHandlerContext) {
        stream.channel = nil
        stream.stopPlayback()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if let reply = stream.receive(unwrapInboundIn(data), now: .now()) {
            context.write(wrapOutboundOut(reply), promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // Echoed packets of one vector read leave together (sendmmsg), and so do relayed ones on
        // the bridged leg's socket.
        context.flush()
        if let peer = stream.bridged, peer.needsFlush {
            peer.needsFlush = false
            peer.channel?.flush()
        }
    }
}
