import NIOCore

@testable import Media

/// The fast tests' transport: keeps every datagram a leg sends, in order.
final class FakeTransport: DatagramTransport {
    var datagrams: [(to: MediaAddress, bytes: [UInt8])] = []

    func send(_ bytes: UnsafeRawBufferPointer, to: MediaAddress) {
        datagrams.append((to, Array(bytes)))
    }

    /// What was sent since the last call, parsed as RTP.
    func take() throws -> [(to: MediaAddress, header: RTPHeader, payload: [UInt8])] {
        defer { datagrams.removeAll() }
        return try datagrams.map { d in
            (d.to, try d.bytes.withUnsafeBytes { try RTPHeader.parse($0) }, Array(d.bytes[12...]))
        }
    }
}

/// A loopback address for the fakes.
func local(_ port: Int) -> MediaAddress { MediaAddress(ip: "127.0.0.1", port: port)! }

extension RTPStream {
    /// One RTP datagram from `from`, as the leg's socket would deliver it.
    func receive(_ header: RTPHeader, _ payload: [UInt8], from: MediaAddress, now: NIODeadline = .now()) {
        var bytes = [UInt8](repeating: 0, count: 12)
        bytes.withUnsafeMutableBytes { header.write(to: $0) }
        (bytes + payload).withUnsafeBytes { receive($0, from: from, now: now) }
    }
}
