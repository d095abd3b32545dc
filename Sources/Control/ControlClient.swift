import Foundation

#if canImport(Glibc)
import Glibc
public import JSON
#endif

/// A blocking client of the control socket, for acdctl and tests: one request, one response.
public final class ControlClient {
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var nextID = 1

    /// `timeoutSeconds` bounds each read; 0 waits for ever (following events).
    public init(path: String, timeoutSeconds: Int = 10) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ControlClientError("cannot create a socket") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        guard path.utf8.count < 108 else {
            close(fd)
            throw ControlClientError("socket path too long: \(path)")
        }
        let bytes = Array(path.utf8) + [0]
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw ControlClientError("cannot connect to \(path): \(reason)")
        }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Sends a command and waits for its response.
    public func call(_ command: String, args: [String: JSONValue]? = nil) throws -> ControlResponse {
        let id = nextID
        nextID += 1
        do {
            try sendLine(ControlCodec.encodeLine(ControlRequest(id: JSONValue(id), command: command, args: args)))
        } catch {
            // A refused peer is told why and disconnected at once, possibly before our request
            // went out: read the explanation before reporting the broken connection.
            if let line = try? readLine(), let response = try? JSONDecoder().decode(ControlResponse.self, from: Data(line)) {
                return response
            }
            throw error
        }
        while true {
            let line = try readLine()
            // Event lines (a subscription on this connection) carry "event" and no "ok".
            guard let response = try? JSONDecoder().decode(ControlResponse.self, from: Data(line)) else { continue }
            if response.id == JSONValue(id) || response.id == nil || response.id == .null { return response }
        }
    }

    /// Sends raw bytes (tests send garbage this way).
    public func sendLine(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw ControlClientError("the daemon closed the connection") }
            sent += n
        }
    }

    /// The next line from the daemon.
    public func readLine() throws -> [UInt8] {
        while true {
            if let nl = buffer.firstIndex(of: 0x0A) {
                let line = Array(buffer[..<nl])
                buffer.removeFirst(nl + 1)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw ControlClientError(n == 0 ? "the daemon closed the connection" : "no answer from the daemon") }
            buffer += chunk[0..<n]
        }
    }
}

public struct ControlClientError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
