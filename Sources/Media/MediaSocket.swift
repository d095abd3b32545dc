import CMediaIO
#if canImport(Glibc)
import Glibc
#endif
import NIOCore

/// Where a datagram came from or goes to: 24 bytes, copied and compared without allocating,
/// which is what lets a leg latch and check the far end's address on every packet for free.
public struct MediaAddress: Hashable, Sendable, CustomStringConvertible {
    var raw: mediaio_addr

    init(_ raw: mediaio_addr) { self.raw = raw }

    /// A numeric IPv4 or IPv6 address and a port; nil for anything else.
    public init?(ip: String, port: Int) {
        var raw = mediaio_addr()
        guard (0...65535).contains(port), mediaio_addr_parse(ip, Int32(port), &raw) == 0 else { return nil }
        self.raw = raw
    }

    public var port: Int { Int(raw.port) }

    public var ip: String {
        var buffer = [CChar](repeating: 0, count: 64)
        var copy = raw
        guard mediaio_addr_format(&copy, &buffer, buffer.count) == 0 else { return "?" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public var description: String { raw.family == 10 ? "[\(ip)]:\(port)" : "\(ip):\(port)" }

    public static func == (a: MediaAddress, b: MediaAddress) -> Bool {
        a.raw.family == b.raw.family && a.raw.port == b.raw.port && a.raw.scope == b.raw.scope && a.addressBytes == b.addressBytes
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(raw.family)
        hasher.combine(raw.port)
        hasher.combine(addressBytes.0)
        hasher.combine(addressBytes.1)
    }

    private var addressBytes: (UInt64, UInt64) {
        withUnsafeBytes(of: raw.addr) { ($0.loadUnaligned(fromByteOffset: 0, as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) }
    }
}

/// Why a media socket could not be made.
public struct MediaSocketError: Error, Sendable, CustomStringConvertible {
    public let operation: String
    public let code: Int32
    public var description: String { "\(operation): \(String(cString: strerror(code)))" }
}

/// What a leg sends its datagrams through: a media socket, or in fast tests a fake that keeps
/// them. The bytes are only valid during the call.
public protocol DatagramTransport: AnyObject {
    func send(_ bytes: UnsafeRawBufferPointer, to: MediaAddress)
}

/// What reads a media socket's datagrams: `bytes` points into the loop's arena and is valid only
/// during the call; `truncated` says the datagram did not fit the arena's slot.
protocol DatagramReceiver: AnyObject {
    func receive(_ bytes: UnsafeRawBufferPointer, from: MediaAddress, truncated: Bool, now: NIODeadline)
}

/// A bound UDP socket on a media loop. Made, used and closed on that loop only (unchecked
/// Sendable, like the stream, so a handle can travel back in a future).
public final class MediaSocket: DatagramTransport, @unchecked Sendable {
    let fd: Int32
    public let port: Int
    let slot: Int
    private unowned let loop: MediaLoop
    /// Strong: the socket lives as long as the lease that owns it, and the lease owns the stream.
    private var receiver: (any DatagramReceiver)?
    public private(set) var isClosed = false

    init(fd: Int32, port: Int, loop: MediaLoop, slot: Int, receiver: any DatagramReceiver) {
        self.fd = fd
        self.port = port
        self.loop = loop
        self.slot = slot
        self.receiver = receiver
    }

    /// A datagram the kernel refuses (its buffer full, the destination unreachable) is dropped,
    /// never queued: late audio is worth nothing, and the far end's loss statistics (RTCP) show it.
    public func send(_ bytes: UnsafeRawBufferPointer, to: MediaAddress) {
        guard !isClosed else { return }
        var to = to.raw
        if mediaio_send(fd, bytes.baseAddress, bytes.count, &to) < 0 { loop.sendFailureCount.wrappingIncrement(ordering: .relaxed) }
    }

    func deliver(_ bytes: UnsafeRawBufferPointer, from: MediaAddress, truncated: Bool, now: NIODeadline) {
        receiver?.receive(bytes, from: from, truncated: truncated, now: now)
    }

    /// Closes the socket and frees its port. Idempotent.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        receiver = nil
        loop.close(self)
    }
}
