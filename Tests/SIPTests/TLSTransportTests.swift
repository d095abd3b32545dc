import Foundation
import NIOCore
import NIOPosix
import SIP
import SIPMessage
import TestSupport
import Testing

/// SIP over TLS (issue 20) between two of our transports on loopback, with certificates openssl
/// makes for the test: the server side (a TLS listener on a port of its own), the client side
/// (our certificate check against the configured CA and the address), and reading renewed
/// certificates without a restart.
@Suite(.serialized) struct TLSTransportTests {
    /// OPTIONS from `client` to `server`'s TLS port; the response's status, or the event that
    /// ended the transaction instead.
    func options(from client: LiveStack, to port: Int) throws -> String {
        let promise = client.loop.makePromise(of: String.self)
        try client.loop.submit {
            let request = SIPFixtures.request(.options, uri: "sip:x@127.0.0.1:\(port);transport=tls", branch: client.stack.makeBranch(), transport: "TLS")
            client.stack.sendRequest(request, to: SIPPeer(.tls, try! SocketAddress(ipAddress: "127.0.0.1", port: port))) { event in
                switch event {
                case .response(let r): promise.succeed("\(r.status.rawValue)")
                case .timeout: promise.succeed("timeout")
                case .transportFailure: promise.succeed("transport failure")
                }
            }
        }.wait()
        return try promise.futureResult.wait()
    }

    @Test func optionsOverTLSBothWays() throws {
        let certs = try TestCertificates()
        let server = try LiveStack(tls: certs.server)
        let client = try LiveStack(tls: certs.server)
        defer {
            try? client.shutdown()
            try? server.shutdown()
        }
        #expect(server.tlsPort != 0 && server.tlsPort != server.port)
        #expect(try options(from: client, to: server.tlsPort) == "200")
        // The request came in over TLS, and our Contact for TLS names the TLS port.
        #expect(try server.loop.submit { server.transport.connectionCount }.wait() == 1)
        #expect(try server.loop.submit { server.transport.advertisedEndpoint(for: .tls).port }.wait() == server.tlsPort)
        #expect(try server.loop.submit { server.transport.advertisedEndpoint(for: .udp).port }.wait() == server.port)
    }

    @Test func aServerWhoseCertificateWeDoNotTrustIsATransportFailure() throws {
        let certs = try TestCertificates()
        let server = try LiveStack(tls: certs.otherServer)
        let client = try LiveStack(tls: certs.server)  // trusts `ca`, not `otherCA`
        defer {
            try? client.shutdown()
            try? server.shutdown()
        }
        let started = Date()
        #expect(try options(from: client, to: server.tlsPort) == "transport failure")
        #expect(Date().timeIntervalSince(started) < 5, "a failed handshake must end the transaction at once, not by Timer F")
        #expect(try client.loop.submit { client.transport.sendFailures.failed }.wait() == 1)
    }

    @Test func withoutTLSATLSPeerIsATransportFailure() throws {
        let certs = try TestCertificates()
        let server = try LiveStack(tls: certs.server)
        let client = try LiveStack()
        defer {
            try? client.shutdown()
            try? server.shutdown()
        }
        #expect(try options(from: client, to: server.tlsPort) == "transport failure")
        #expect(try client.loop.submit { client.transport.tlsReady }.wait() == false)
    }

    /// A server whose certificate names it (carrier.test) but not its address: refused when we
    /// know it only by address, accepted once the transport knows its name.
    @Test func aNamedServerIsCheckedByItsName() throws {
        let certs = try TestCertificates()
        let server = try LiveStack(tls: certs.namedServer)
        let client = try LiveStack(tls: certs.server)
        defer {
            try? client.shutdown()
            try? server.shutdown()
        }
        #expect(try options(from: client, to: server.tlsPort) == "transport failure")
        let port = server.tlsPort
        try client.loop.submit { client.transport.setServerName("carrier.test", for: try! SocketAddress(ipAddress: "127.0.0.1", port: port)) }.wait()
        #expect(try options(from: client, to: server.tlsPort) == "200")
    }

    /// A renewed certificate (here: one from another CA, at new paths) is used by the next
    /// connection after `reloadTLS`; files that are not usable are refused with the reason and
    /// the certificate in use stays.
    @Test func renewedCertificatesAreUsedByTheNextConnection() throws {
        let certs = try TestCertificates()
        let server = try LiveStack(tls: certs.server)
        let trustsOther = try LiveStack(tls: certs.otherServer)
        defer {
            try? trustsOther.shutdown()
            try? server.shutdown()
        }
        #expect(try options(from: trustsOther, to: server.tlsPort) == "transport failure")
        let missing = SIPTLSFiles(certificate: "\(certs.dir)/nothing.pem", key: "\(certs.dir)/server.key")
        let refused = try server.loop.submit { () -> String in
            do {
                try server.transport.reloadTLS(missing)
                return "reloaded"
            } catch {
                return "\(error)"
            }
        }.wait()
        #expect(refused.contains("nothing.pem"), "\(refused)")
        let mismatched = SIPTLSFiles(certificate: "\(certs.dir)/server.pem", key: "\(certs.dir)/other-server.key")
        #expect(try server.loop.submit { (try? server.transport.reloadTLS(mismatched)) == nil }.wait(), "a key that is not the certificate's was taken")
        try server.loop.submit { try server.transport.reloadTLS(certs.otherServer) }.wait()
        let fresh = try LiveStack(tls: certs.otherServer)
        defer { try? fresh.shutdown() }
        #expect(try options(from: fresh, to: server.tlsPort) == "200")
    }
}
