import CSpanDSP

/// G.711 µ-law (PCMU, payload type 0) and A-law (PCMA, 8) through spandsp's conversions. Decoding
/// goes through 256-entry tables filled once from spandsp, so a packet costs one table lookup per
/// sample and no call into C.
public enum G711: Sendable {
    case ulaw, alaw

    /// The static RTP payload type (RFC 3551 §6).
    public var payloadType: UInt8 { self == .ulaw ? 0 : 8 }

    public init?(encodingName: String) {
        switch encodingName.uppercased() {
        case "PCMU": self = .ulaw
        case "PCMA": self = .alaw
        default: return nil
        }
    }

    private static let ulawTable: [Int16] = (0...255).map { ulaw_to_linear(UInt8($0)) }
    private static let alawTable: [Int16] = (0...255).map { alaw_to_linear(UInt8($0)) }

    @inline(__always)
    public func decode(_ code: UInt8) -> Int16 {
        self == .ulaw ? Self.ulawTable[Int(code)] : Self.alawTable[Int(code)]
    }

    @inline(__always)
    public func encode(_ sample: Int16) -> UInt8 {
        self == .ulaw ? linear_to_ulaw(Int32(sample)) : linear_to_alaw(Int32(sample))
    }

    /// Decodes `codes` into `samples` (the same count).
    public func decode(_ codes: UnsafeRawBufferPointer, into samples: UnsafeMutableBufferPointer<Int16>) {
        precondition(samples.count >= codes.count)
        for i in 0..<codes.count { samples[i] = decode(codes[i]) }
    }

    /// Encodes `samples` into `codes` (the same count).
    public func encode(_ samples: UnsafeBufferPointer<Int16>, into codes: UnsafeMutableRawBufferPointer) {
        precondition(codes.count >= samples.count)
        for i in 0..<samples.count { codes[i] = encode(samples[i]) }
    }

    /// The code for silence, what fills a lost packet until concealment has something better.
    public var silence: UInt8 { self == .ulaw ? 0xFF : 0xD5 }
}
