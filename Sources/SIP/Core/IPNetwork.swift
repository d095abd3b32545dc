public import NIOCore
import SIPMessage

/// An address block such as `127.0.0.1`, `10.0.0.0/8` or `2001:db8::/32`, for trunk and operator
/// access lists. IPv4-mapped IPv6 addresses match their IPv4 blocks.
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]
    public let prefixLength: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let addr = IPNetwork.parseAddress(String(parts[0])) else { return nil }
        let maxBits = addr.count * 8
        if parts.count == 2 {
            guard let n = Int(parts[1]), (0...maxBits).contains(n) else { return nil }
            prefixLength = n
        } else {
            prefixLength = maxBits
        }
        bytes = addr
    }

    public var description: String {
        let text: String
        if bytes.count == 4 {
            text = bytes.map(String.init).joined(separator: ".")
        } else {
            text = stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":")
        }
        return prefixLength == bytes.count * 8 ? text : "\(text)/\(prefixLength)"
    }

    public func contains(_ address: SocketAddress) -> Bool {
        guard let ip = address.ipAddress, let other = IPNetwork.parseAddress(ip) else { return false }
        return contains(bytes: other)
    }

    public func contains(ip: String) -> Bool {
        guard let other = IPNetwork.parseAddress(ip) else { return false }
        return contains(bytes: other)
    }

    func contains(bytes other: [UInt8]) -> Bool {
        var candidate = other
        // ::ffff:a.b.c.d matches a.b.c.d/n.
        if bytes.count == 4, other.count == 16, other[0..<10].allSatisfy({ $0 == 0 }), other[10] == 0xFF, other[11] == 0xFF {
            candidate = Array(other[12..<16])
        }
        guard candidate.count == bytes.count else { return false }
        var bits = prefixLength
        for i in 0..<bytes.count where bits > 0 {
            let mask: UInt8 = bits >= 8 ? 0xFF : ~(0xFF >> UInt8(bits))
            if candidate[i] & mask != bytes[i] & mask { return false }
            bits -= 8
        }
        return true
    }

    /// 4 bytes for IPv4 text, 16 for IPv6 text (brackets and a zone index allowed); nil for
    /// anything else, host names included.
    public static func parseAddress(_ text: String) -> [UInt8]? {
        var t = Substring(text)
        if t.hasPrefix("["), t.hasSuffix("]") { t = t.dropFirst().dropLast() }
        if let pct = t.firstIndex(of: "%") { t = t[..<pct] }
        return parseIPAddress(String(t))
    }
}
