import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import Media

/// The media loop as an event loop (tasks, timers, futures) and as a socket reader, with real
/// UDP sockets on loopback.
@Suite struct MediaLoopTests {
    @Test func tasksFromOtherThreadsRunOnTheLoopInOrder() throws {
        let loop = try MediaLoop(name: "t")
        defer { loop.stop() }
        #expect(!loop.inEventLoop)
        let seen = Mutex<[Int]>([])
        let onLoop = Mutex(true)
        let done = loop.makePromise(of: Void.self)
        for i in 0..<1000 {
            loop.execute {
                if !loop.inEventLoop { onLoop.withLock { $0 = false } }
                seen.withLock { $0.append(i) }
                if i == 999 { done.succeed() }
            }
        }
        try done.futureResult.wait()
        #expect(seen.withLock { $0 } == Array(0..<1000))
        #expect(onLoop.withLock { $0 })
        // submit and flatSubmit give their results through futures, as on NIO's loops.
        #expect(try loop.submit { 41 + 1 }.wait() == 42)
        #expect(try loop.flatSubmit { loop.makeSucceededFuture("x") }.wait() == "x")
    }

    @Test func timersFireInDeadlineOrderNotBeforeAndNotWhenCancelled() throws {
        let loop = try MediaLoop(name: "t")
        defer { loop.stop() }
        let fired = Mutex<[String]>([])
        let start = NIODeadline.now()
        let late = loop.scheduleTask(in: .milliseconds(60)) { fired.withLock { $0.append("60") } }
        let early = loop.scheduleTask(in: .milliseconds(20)) { () -> NIODeadline in
            fired.withLock { $0.append("20") }
            return .now()
        }
        let cancelled = loop.scheduleTask(in: .milliseconds(40)) { fired.withLock { $0.append("40") } }
        cancelled.cancel()
        let at = try early.futureResult.wait()
        #expect(at - start >= .milliseconds(20))
        try late.futureResult.wait()
        #expect(fired.withLock { $0 } == ["20", "60"])
        #expect(throws: EventLoopError.self) { try cancelled.futureResult.wait() }
        // From the loop itself, a repeated task (what RTCP reports use) keeps its beat.
        let count = Mutex(0)
        let five = loop.makePromise(of: Void.self)
        try loop.submit {
            _ = loop.scheduleRepeatedTask(initialDelay: .milliseconds(5), delay: .milliseconds(5)) { task in
                if count.withLock({ $0 += 1; return $0 }) == 5 {
                    task.cancel()
                    five.succeed()
                }
            }
        }.wait()
        try five.futureResult.wait()
        Thread.sleep(forTimeInterval: 0.05)
        #expect(count.withLock { $0 } == 5)
    }

    @Test func anEchoLegOnItsOwnSocketAnswersEveryPacketAndRefusesAnOversizedOne() throws {
        let loop = try MediaLoop(name: "t")
        defer { loop.stop() }
        let port = 47000 + Int.random(in: 0..<500) * 2
        let stream = RTPStream()
        stream.mode = .echo
        stream.audioPayloadType = 0
        let complaints = Mutex<[String]>([])
        stream.onBadPacket = { why in complaints.withLock { $0.append(why) } }
        let socket = try loop.submit { () throws -> MediaSocket in
            let s = try loop.open(host: "127.0.0.1", port: port, receiveBuffer: 1 << 20, receiver: stream)
            stream.transport = s
            return s
        }.wait()
        #expect(socket.port == port)

        let client = try UDPPeer()
        var far = RTPSenderState()
        for i in 0..<200 {
            var bytes = [UInt8](repeating: 0, count: 12)
            bytes.withUnsafeMutableBytes { far.next(payloadType: 0, samples: 160).write(to: $0) }
            try client.send(bytes + [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: 160), to: port)
        }
        let echoes = try client.receive(count: 200, within: 5)
        #expect(echoes.count == 200)
        #expect(echoes.enumerated().allSatisfy { i, e in e.count == 172 && e[12...].allSatisfy { $0 == UInt8(truncatingIfNeeded: i) } })
        let latched = try loop.submit { stream.latched }.wait()
        #expect(latched == MediaAddress(ip: "127.0.0.1", port: client.port))

        // A datagram over the arena's 2 KiB is refused with a reason, once, and nothing is sent.
        try client.send([UInt8](repeating: 0x80, count: 3000), to: port)
        try client.send([UInt8](repeating: 0x80, count: 3000), to: port)
        Thread.sleep(forTimeInterval: 0.2)
        #expect(complaints.withLock { $0 } == ["datagram longer than 2048 bytes (from 127.0.0.1:\(client.port))"])
        #expect(try loop.submit { stream.badPackets }.wait() == 2)
        #expect(try client.receive(count: 1, within: 0.2).isEmpty)

        // Closed: the port is free again and the loop holds no socket.
        try loop.submit { socket.close() }.wait()
        #expect(try loop.submit { loop.openSockets }.wait() == 0)
        let again = try loop.submit { try loop.open(host: "127.0.0.1", port: port, receiveBuffer: 0, receiver: RTPStream()) }.wait()
        try loop.submit { again.close() }.wait()
    }

    /// A datagram the kernel refuses (port 0: EINVAL) is dropped and counted; the socket still
    /// sends to a good address and still reads.
    @Test func aRefusedSendIsCountedAndTheSocketGoesOn() throws {
        let loop = try MediaLoop(name: "t")
        defer { loop.stop() }
        let peer = try UDPPeer()
        let socket = try loop.submit { try loop.open(host: "127.0.0.1", port: 0, receiveBuffer: 0, receiver: RTPStream()) }.wait()
        let bad = try #require(MediaAddress(ip: "127.0.0.1", port: 0))
        let good = try #require(MediaAddress(ip: "127.0.0.1", port: peer.port))
        try loop.submit {
            let bytes: [UInt8] = [0x80, 0, 0, 1]
            bytes.withUnsafeBytes { socket.send($0, to: bad) }
            bytes.withUnsafeBytes { socket.send($0, to: bad) }
            bytes.withUnsafeBytes { socket.send($0, to: good) }
        }.wait()
        #expect(loop.sendFailures == 2)
        #expect(try peer.receive(count: 1, within: 1).count == 1)
        try loop.submit { socket.close() }.wait()
    }

    @Test func aPortHeldElsewhereIsAClearErrorAndIPv6Binds() throws {
        let loop = try MediaLoop(name: "t")
        defer { loop.stop() }
        let holder = try UDPPeer()
        let held = holder.port
        #expect {
            try loop.submit { try loop.open(host: "127.0.0.1", port: held, receiveBuffer: 0, receiver: RTPStream()) }.wait()
        } throws: { error in
            (error as? MediaSocketError)?.code == EADDRINUSE && "\(error)".contains("127.0.0.1:\(held)")
        }
        #expect(throws: MediaSocketError.self) {
            try loop.submit { try loop.open(host: "not-an-address", port: 5000, receiveBuffer: 0, receiver: RTPStream()) }.wait()
        }
        let v6 = try loop.submit { try loop.open(host: "::1", port: 0, receiveBuffer: 0, receiver: RTPStream()) }.wait()
        try loop.submit { v6.close() }.wait()
        #expect(MediaAddress(ip: "::1", port: 4000)?.description == "[::1]:4000")
        #expect(MediaAddress(ip: "::1", port: 4000) != MediaAddress(ip: "127.0.0.1", port: 4000))
    }

    @Test func stopRunsWhatWasQueuedAndClosesTheSockets() throws {
        let loop = try MediaLoop(name: "t")
        let ran = Mutex(0)
        let port = 47000 + Int.random(in: 500..<999) * 2
        _ = try loop.submit { try loop.open(host: "127.0.0.1", port: port, receiveBuffer: 0, receiver: RTPStream()) }.wait()
        for _ in 0..<100 { loop.execute { ran.withLock { $0 += 1 } } }
        loop.stop()
        #expect(ran.withLock { $0 } == 100)
        // The port is free: the socket was closed with the loop.
        let rebound = try UDPPeer(port: port)
        #expect(rebound.port == port)
    }
}

/// A plain blocking UDP socket on loopback: the far end in these tests.
final class UDPPeer {
    let fd: Int32
    let port: Int

    init(port: Int = 0) throws {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        self.fd = fd
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0 else {
            close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        self.port = Int(UInt16(bigEndian: addr.sin_port))
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8], to port: Int) throws {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let n = withUnsafePointer(to: &addr) { a in
            a.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, sa, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        guard n == bytes.count else { throw POSIXError(.EIO) }
    }

    /// Up to `count` datagrams, waiting at most `within` seconds in all.
    func receive(count: Int, within: Double) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        let deadline = Date().addingTimeInterval(within)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while out.count < count {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { break }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, Int32(left * 1000) + 1) > 0 else { continue }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { out.append(Array(buffer[0..<n])) }
        }
        return out
    }
}
