import CSpanDSP

/// The codec of one leg, on our side always 8 kHz 16-bit samples, on the wire 160 bytes and 160
/// RTP timestamp units per 20 ms for all three codecs we speak:
/// - PCMU and PCMA (G.711), stateless table lookups;
/// - G.722 (payload type 9; RFC 3551 §4.5.2 keeps its RTP clock at 8,000 although it samples at
///   16 kHz). spandsp's coder runs in its 8 kHz mode, so prompts, tones, mixing and transcoding
///   all work on the same 8 kHz audio. A bridge between two G.722 legs copies packets and keeps
///   the full wideband audio, and so does echo.
///
/// A class because G.722 is ADPCM: each direction has state that must see every frame in order.
/// One instance per leg; the encoder serves what we send and the decoder what we receive.
/// Owns the spandsp states (freed in `deinit`); used on the leg's event loop only.
public final class VoiceCodec: @unchecked Sendable {
    public enum Kind: Sendable, Equatable {
        case g711(G711)
        case g722
    }

    public let kind: Kind
    public let payloadType: UInt8
    private let encoder: OpaquePointer?
    private let decoder: OpaquePointer?

    public init(_ kind: Kind, payloadType: UInt8? = nil) {
        self.kind = kind
        switch kind {
        case .g711(let law):
            self.payloadType = payloadType ?? law.payloadType
            encoder = nil
            decoder = nil
        case .g722:
            self.payloadType = payloadType ?? 9
            encoder = g722_encode_init(nil, 64000, Int32(G722_SAMPLE_RATE_8000))
            decoder = g722_decode_init(nil, 64000, Int32(G722_SAMPLE_RATE_8000))
        }
    }

    /// PCMU, PCMA or G722 as SDP names them; nil for anything else.
    public static func kind(encodingName: String) -> Kind? {
        if encodingName.uppercased() == "G722" { return .g722 }
        return G711(encodingName: encodingName).map { .g711($0) }
    }

    public convenience init?(encodingName: String, payloadType: UInt8? = nil) {
        guard let kind = Self.kind(encodingName: encodingName) else { return nil }
        self.init(kind, payloadType: payloadType)
    }

    public static var ulaw: VoiceCodec { VoiceCodec(.g711(.ulaw)) }
    public static var alaw: VoiceCodec { VoiceCodec(.g711(.alaw)) }
    public static var g722: VoiceCodec { VoiceCodec(.g722) }

    deinit {
        if let encoder { g722_encode_free(encoder) }
        if let decoder { g722_decode_free(decoder) }
    }

    /// Decodes a payload; returns the samples written (one per byte for all three).
    @discardableResult
    public func decode(_ payload: UnsafeRawBufferPointer, into out: UnsafeMutableBufferPointer<Int16>) -> Int {
        let n = min(payload.count, out.count)
        switch kind {
        case .g711(let law):
            law.decode(UnsafeRawBufferPointer(rebasing: payload[0..<n]), into: out)
            return n
        case .g722:
            guard n > 0, let decoder else { return 0 }
            return Int(g722_decode(decoder, out.baseAddress, payload.bindMemory(to: UInt8.self).baseAddress, Int32(n)))
        }
    }

    /// Encodes samples; returns the bytes written (one per sample for all three).
    @discardableResult
    public func encode(_ samples: UnsafeBufferPointer<Int16>, into out: UnsafeMutableRawBufferPointer) -> Int {
        let n = min(samples.count, out.count)
        switch kind {
        case .g711(let law):
            law.encode(UnsafeBufferPointer(rebasing: samples[0..<n]), into: out)
            return n
        case .g722:
            guard n > 0, let encoder else { return 0 }
            return Int(g722_encode(encoder, out.bindMemory(to: UInt8.self).baseAddress, samples.baseAddress, Int32(n)))
        }
    }

    /// Whether packets of `other` can be forwarded to this leg as they are.
    public func sameFormat(as other: VoiceCodec) -> Bool { kind == other.kind }
}
