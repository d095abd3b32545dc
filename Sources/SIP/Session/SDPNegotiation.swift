public import SIPMessage

// SDP offer/answer for audio calls (RFC 3264, RFC 3551 payload types, RFC 4733 telephone-event).

/// An audio codec the media engine can carry.
public enum AudioCodec: String, Sendable, Hashable, CaseIterable {
    case pcmu = "PCMU"
    case pcma = "PCMA"
    case g722 = "G722"

    /// The static payload type of RFC 3551.
    public var staticPayloadType: Int {
        switch self {
        case .pcmu: 0
        case .pcma: 8
        case .g722: 9
        }
    }

    /// The RTP clock rate; G.722 says 8000 although it samples at 16 kHz (RFC 3551 §4.5.2).
    public var clockRate: Int { 8000 }
}

/// What our side of a call can do.
public struct MediaCapabilities: Sendable, Hashable {
    /// In our order of preference.
    public var codecs: [AudioCodec]
    public var telephoneEvents: Bool
    /// The address in our c= line.
    public var address: String
    public var ptime: Int

    public init(codecs: [AudioCodec] = [.pcmu, .pcma], telephoneEvents: Bool = true, address: String, ptime: Int = 20) {
        self.codecs = codecs
        self.telephoneEvents = telephoneEvents
        self.address = address
        self.ptime = ptime
    }
}

/// The audio stream two sides agreed on.
public struct NegotiatedAudio: Sendable, Hashable {
    public var codec: AudioCodec
    public var payloadType: Int
    /// Payload type of RFC 4733 events, if both sides do them.
    public var telephoneEventPayloadType: Int?
    public var remoteAddress: String
    public var remotePort: Int
    /// Our direction (what we may do), e.g. `.recvonly` when the far end put us on hold.
    public var direction: SDPDirection
    public var ptime: Int
}

public enum SDPNegotiationError: Error, Sendable, Hashable, CustomStringConvertible {
    case noAudio
    case noCommonCodec(offered: [String])

    public var description: String {
        switch self {
        case .noAudio: "no usable audio stream in the offer"
        case .noCommonCodec(let offered): "no common codec (offered \(offered.joined(separator: " ")))"
        }
    }
}

public enum SDPNegotiation {
    /// Answers an offer (RFC 3264 §6): one m= line per offered one, in order; the first audio
    /// stream with a codec in common is accepted, every other stream refused with port 0.
    public static func answer(
        _ offer: SDPSession, capabilities: MediaCapabilities, localPort: Int, sessionID: String, sessionVersion: UInt64
    ) throws(SDPNegotiationError) -> (answer: SDPSession, audio: NegotiatedAudio) {
        var answer = SDPSession(
            origin: SDPOrigin(username: "acdd", sessionID: sessionID, sessionVersion: sessionVersion, addressType: addressType(capabilities.address), address: capabilities.address),
            sessionName: "acdd",
            connection: SDPConnection(addressType: addressType(capabilities.address), address: capabilities.address))
        var chosen: NegotiatedAudio?
        var offeredFormats: [String] = []
        for media in offer.media {
            var line = SDPMedia(type: media.type, port: 0, proto: media.proto, formats: media.formats)
            defer { answer.media.append(line) }
            guard chosen == nil, media.type == "audio", media.port != 0, media.proto.hasPrefix("RTP/AVP"),
                let connection = offer.connection(for: media)
            else { continue }
            offeredFormats += media.formats.map { media.rtpmap($0)?.encoding ?? $0 }
            guard let (codec, pt) = pickCodec(media, capabilities.codecs) else { continue }
            let event = capabilities.telephoneEvents ? telephoneEventPayload(media) : nil
            line.port = localPort
            line.proto = media.proto
            line.formats = [String(pt)] + (event.map { [String($0)] } ?? [])
            line.attributes.append(SDPAttribute("rtpmap", "\(pt) \(codec.rawValue)/\(codec.clockRate)"))
            if let event {
                line.attributes.append(SDPAttribute("rtpmap", "\(event) telephone-event/8000"))
                line.attributes.append(SDPAttribute("fmtp", "\(event) 0-16"))
            }
            let offeredDirection = media.direction ?? offer.attributes.lazy.compactMap { SDPDirection(rawValue: $0.name) }.first ?? .sendrecv
            // c=0.0.0.0 is the RFC 2543 way of putting a call on hold.
            let ourDirection: SDPDirection = connection.address == "0.0.0.0" ? .inactive : offeredDirection.reversed
            let ptime = media.attribute("ptime").flatMap(Int.init) ?? capabilities.ptime
            line.attributes.append(SDPAttribute("ptime", String(ptime)))
            line.attributes.append(SDPAttribute(ourDirection.rawValue))
            chosen = NegotiatedAudio(
                codec: codec, payloadType: pt, telephoneEventPayloadType: event, remoteAddress: connection.address,
                remotePort: media.port, direction: ourDirection, ptime: ptime)
        }
        guard let chosen else {
            if offeredFormats.isEmpty { throw .noAudio }
            throw .noCommonCodec(offered: offeredFormats)
        }
        return (answer, chosen)
    }

    /// Our offer for a call we place (agents' phones, trunks).
    public static func offer(capabilities: MediaCapabilities, localPort: Int, sessionID: String, sessionVersion: UInt64) -> SDPSession {
        var sdp = SDPSession(
            origin: SDPOrigin(username: "acdd", sessionID: sessionID, sessionVersion: sessionVersion, addressType: addressType(capabilities.address), address: capabilities.address),
            sessionName: "acdd",
            connection: SDPConnection(addressType: addressType(capabilities.address), address: capabilities.address))
        var m = SDPMedia(type: "audio", port: localPort, proto: "RTP/AVP", formats: capabilities.codecs.map { String($0.staticPayloadType) })
        for codec in capabilities.codecs {
            m.attributes.append(SDPAttribute("rtpmap", "\(codec.staticPayloadType) \(codec.rawValue)/\(codec.clockRate)"))
        }
        if capabilities.telephoneEvents {
            m.formats.append("101")
            m.attributes.append(SDPAttribute("rtpmap", "101 telephone-event/8000"))
            m.attributes.append(SDPAttribute("fmtp", "101 0-16"))
        }
        m.attributes.append(SDPAttribute("ptime", String(capabilities.ptime)))
        m.attributes.append(SDPAttribute("sendrecv"))
        sdp.media = [m]
        return sdp
    }

    /// Reads the far end's answer to our offer: the first accepted audio stream.
    public static func accept(answer: SDPSession, capabilities: MediaCapabilities) throws(SDPNegotiationError) -> NegotiatedAudio {
        for media in answer.media where media.type == "audio" && media.port != 0 {
            guard let connection = answer.connection(for: media) else { continue }
            guard let (codec, pt) = pickCodec(media, capabilities.codecs) else {
                throw .noCommonCodec(offered: media.formats)
            }
            let direction = (media.direction ?? .sendrecv).reversed
            return NegotiatedAudio(
                codec: codec, payloadType: pt, telephoneEventPayloadType: capabilities.telephoneEvents ? telephoneEventPayload(media) : nil,
                remoteAddress: connection.address, remotePort: media.port,
                direction: connection.address == "0.0.0.0" ? .inactive : direction,
                ptime: media.attribute("ptime").flatMap(Int.init) ?? capabilities.ptime)
        }
        throw .noAudio
    }

    /// The first offered format we support, in the offerer's order.
    static func pickCodec(_ media: SDPMedia, _ codecs: [AudioCodec]) -> (AudioCodec, Int)? {
        for format in media.formats {
            guard let pt = Int(format) else { continue }
            if let map = media.rtpmap(format) {
                guard map.clockRate == 8000, let codec = AudioCodec(rawValue: map.encoding.uppercased()), codecs.contains(codec) else { continue }
                return (codec, pt)
            }
            if let codec = codecs.first(where: { $0.staticPayloadType == pt }) { return (codec, pt) }
        }
        return nil
    }

    static func telephoneEventPayload(_ media: SDPMedia) -> Int? {
        for format in media.formats {
            if let map = media.rtpmap(format), map.encoding.lowercased() == "telephone-event", map.clockRate == 8000 {
                return Int(format)
            }
        }
        return nil
    }

    static func addressType(_ address: String) -> String { address.contains(":") ? "IP6" : "IP4" }
}
