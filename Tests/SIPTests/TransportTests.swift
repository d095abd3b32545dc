import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOTestUtils
@testable import SIP
import SIPMessage
import TestSupport
import Testing

@Suite struct TransportTests {
    func options(branch: String, transport: String = "UDP") -> [UInt8] {
        SIPFixtures.request(.options, branch: branch, transport: transport, rport: true).serialized()
    }

    @Test func udpRoundTrip() throws {
        let live = try LiveStack()
        defer { try? live.shutdown() }
        let probe = try UDPProbe()
        probe.send(options(branch: "z9hG4bKudp"), to: live.port)
        let reply = try #require(probe.receive())
        guard case .response(let r) = try SIPParser().parse(reply) else { Issue.record("no response"); return }
        #expect(r.status == .ok)
    }

    /// Responses the kernel will not send (a Via naming port 0: EINVAL) are counted, and the
    /// listener reads on: before, the first one closed NIO's channel and SIP over UDP was
    /// gone for good (issue 20).
    @Test func unsendableResponsesLeaveTheListenerReading() throws {
        let live = try LiveStack()
        defer { try? live.shutdown() }
        let probe = try UDPProbe()
        for (i, host) in ["127.0.0.1:0", "127.0.0.1:0"].enumerated() {
            var text = String(decoding: SIPFixtures.request(.options, branch: "z9hG4bKbad\(i)", callID: "bad\(i)@test").serialized(), as: UTF8.self)
            text = text.replacingOccurrences(of: "SIP/2.0/UDP 127.0.0.1:5070", with: "SIP/2.0/UDP \(host)")
            #expect(text.contains(host))
            probe.send(Array(text.utf8), to: live.port)
        }
        for i in 0..<3 {
            probe.send(options(branch: "z9hG4bKgood\(i)"), to: live.port)
            let reply = try #require(probe.receive(), "OPTIONS \(i) after the bad ones got no answer")
            #expect(String(decoding: reply, as: UTF8.self).hasPrefix("SIP/2.0 200 OK"))
        }
        let failures = try live.loop.submit { live.transport.sendFailures }.wait()
        #expect(failures.failed == 2)
        #expect(failures.dropped == 0)
        #expect(failures.listenerReopened == 0)
        let received = try live.loop.submit { live.stack.statistics.messagesReceived }.wait()
        #expect(received == 5)
    }

    /// Should NIO close the UDP channel for a reason of its own, the listener opens a new channel
    /// on the same socket: a request sent while it was closed is still read (the kernel kept it).
    @Test func aClosedUDPChannelIsReopenedOnTheSameSocket() throws {
        let live = try LiveStack()
        defer { try? live.shutdown() }
        let probe = try UDPProbe()
        try live.loop.flatSubmit { live.transport.udpChannel!.close() }.wait()
        probe.send(options(branch: "z9hG4bKwhileclosed"), to: live.port)
        let reply = try #require(probe.receive(), "the request sent while the channel was closed got no answer")
        #expect(String(decoding: reply, as: UTF8.self).hasPrefix("SIP/2.0 200 OK"))
        #expect(try live.loop.submit { live.transport.sendFailures.listenerReopened }.wait() == 1)
    }

    /// A message split across segments, then two in one segment, then a keep-alive.
    @Test func tcpFramingAndKeepAlive() throws {
        let live = try LiveStack()
        defer { try? live.shutdown() }
        let probe = try TCPProbe(port: live.port)
        let first = options(branch: "z9hG4bKtcp1", transport: "TCP")
        probe.send(Array(first.prefix(40)))
        probe.send(Array(first.dropFirst(40)))
        let r1 = probe.receive(atLeast: 100)
        #expect(String(decoding: r1, as: UTF8.self).hasPrefix("SIP/2.0 200 OK"))
        probe.send(options(branch: "z9hG4bKtcp2", transport: "TCP") + options(branch: "z9hG4bKtcp3", transport: "TCP"))
        var both = probe.receive(atLeast: 2 * r1.count - 10)
        if String(decoding: both, as: UTF8.self).components(separatedBy: "SIP/2.0 200").count < 3 { both += probe.receive(atLeast: 1) }
        #expect(String(decoding: both, as: UTF8.self).components(separatedBy: "SIP/2.0 200").count == 3)
        probe.send([13, 10, 13, 10])
        #expect(probe.receive(atLeast: 2) == [13, 10])
    }

    /// Without Content-Length a stream cannot be framed: the connection is closed, the daemon lives.
    @Test func tcpWithoutContentLengthIsClosed() throws {
        let live = try LiveStack()
        defer { try? live.shutdown() }
        let probe = try TCPProbe(port: live.port)
        probe.send(Array("OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKx\r\n\r\n".utf8))
        #expect(probe.isClosedByPeer())
        let udp = try UDPProbe()
        udp.send(options(branch: "z9hG4bKalive"), to: live.port)
        #expect(udp.receive() != nil)
    }

    /// A negative Content-Length on a stream (fuzz-sip's first finding: one such message over TCP
    /// crashed the daemon): that connection is closed, the listener and UDP go on.
    @Test func tcpWithANegativeContentLengthIsClosed() throws {
        let live = try LiveStack()
        defer { try? live.shutdown() }
        for length in ["-1000", "-1"] {
            let probe = try TCPProbe(port: live.port)
            probe.send(Array("OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKn\r\nContent-Length: \(length)\r\n\r\n".utf8))
            #expect(probe.isClosedByPeer(), "Content-Length \(length)")
        }
        let again = try TCPProbe(port: live.port)
        again.send(options(branch: "z9hG4bKafter", transport: "TCP"))
        #expect(String(decoding: again.receive(atLeast: 12), as: UTF8.self).hasPrefix("SIP/2.0 200"))
        let udp = try UDPProbe()
        udp.send(options(branch: "z9hG4bKalive2"), to: live.port)
        #expect(udp.receive() != nil)
    }

    /// The decoder against NIO's verifier, which feeds it byte by byte and in chunks.
    @Test func frameDecoderByteByByte() throws {
        let a = options(branch: "z9hG4bKa", transport: "TCP")
        let b = SIPFixtures.request(.invite, branch: "z9hG4bKb", transport: "TCP", body: Array("v=0\r\n".utf8)).serialized()
        var input = ByteBuffer(bytes: a + b)
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [(input, [a, b])],
            decoderFactory: { SIPFrameDecoder(parser: SIPParser()) })
        input = ByteBuffer(bytes: [13, 10, 13, 10] + a)
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [(input, [[13, 10, 13, 10], a])],
            decoderFactory: { SIPFrameDecoder(parser: SIPParser()) })
    }

    /// Outbound over TCP: the transport opens a connection and the answer comes back on it.
    @Test func tcpClientTransaction() throws {
        let server = try LiveStack()
        let client = try LiveStack()
        defer {
            try? client.shutdown()
            try? server.shutdown()
        }
        let port = server.port
        let promise = client.loop.makePromise(of: SIPStatus.self)
        try client.loop.submit {
            let request = SIPFixtures.request(.options, uri: "sip:x@127.0.0.1:\(port);transport=tcp", branch: client.stack.makeBranch(), transport: "TCP")
            client.stack.sendRequest(request, to: SIPPeer(.tcp, try! SocketAddress(ipAddress: "127.0.0.1", port: port))) { event in
                switch event {
                case .response(let r): promise.succeed(r.status)
                default: promise.fail(ProbeError("\(event)"))
                }
            }
        }.wait()
        #expect(try promise.futureResult.wait() == .ok)
    }
}

