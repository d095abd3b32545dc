import Foundation
import JSON
import TestSupport
import Testing

/// A trunk reached over TLS (issue 20): the daemon connects to the carrier's TLS port, checks
/// its certificate against sip.tls_ca, and probes it with OPTIONS over that connection. The
/// carrier is our own SIP stack on loopback with a certificate openssl made for the test.
@Suite(.serialized) struct TrunkTLSTests {
    func trunk(_ daemon: Daemon) throws -> JSONValue? { try daemon.status()["trunks"]?.arrayValue?.first }

    @Test(arguments: [true, false])
    func aTLSTrunkIsUpOnlyWhenItsCertificateIsTrusted(_ trusted: Bool) throws {
        let certs = try TestCertificates()
        let carrier = try LiveStack(tls: trusted ? certs.server : certs.otherServer)
        defer { try? carrier.shutdown() }
        let daemon = try Daemon(sets: [
            "sip.tls_listen": "127.0.0.1:\(freePort())", "sip.tls_certificate": certs.server.certificate, "sip.tls_key": certs.server.key,
            "sip.tls_ca": certs.ca, "trunks.0.outbound": "127.0.0.1:\(carrier.tlsPort)", "trunks.0.transport": "tls",
            "trunks.0.keepalive_seconds": "1", "trunks.0.keepalive_failures": "1",
        ])
        defer { daemon.stop() }
        let expected = trusted ? "up" : "down"
        #expect(try eventually(8) { try trunk(daemon)?["state"]?.stringValue == expected }, "\((try? trunk(daemon)) ?? .null)\n\(daemon.log)")
        #expect(try trunk(daemon)?["outbound"] == .string("127.0.0.1:\(carrier.tlsPort)"))
        if trusted {
            #expect(try trunk(daemon)?["last_status"] == 200)
        } else {
            #expect(try trunk(daemon)?["last_failure"] == "the probe could not be sent", "\((try? trunk(daemon)) ?? .null)")
            #expect(daemon.log.contains("closing TLS connection after an error") || daemon.log.contains("TLS connect failed"), "\(daemon.log)")
        }
        #expect(daemon.stop() == 0)
    }

    /// acdd on the default configuration with `sets`, expected to refuse to start: its status and
    /// what it printed. `check` only reads the configuration (`--check-config`).
    func runDaemonExpectingFailure(sets: [String: String], check: Bool = false) throws -> (Int32, String) {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("acdd-tls-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let rtp = 30000 + Int.random(in: 0..<30) * 1000
        var args = check ? ["--check-config", "\(packageRoot)/config/acd.toml"] : [
            "--config", "\(packageRoot)/config/acd.toml", "--set", "paths.state=\(state)", "--set", "sip.listen=127.0.0.1:\(freePort())",
            "--set", "media.rtp_ports=\(rtp)-\(rtp + 99)", "--set", "paths.prompts=\(packageRoot)/prompts",
        ]
        for (k, v) in sets { args += ["--set", "\(k)=\(v)"] }
        let (status, output) = try run("\(binDir)/acdd", args, timeout: 20)
        return (status, output)
    }

    /// Bad TLS settings are refused at start with the key and the reason.
    @Test func tlsSettingsThatCannotWorkAreRefused() throws {
        let certs = try TestCertificates()
        let cases: [([String: String], String)] = [
            (["sip.tls_listen": "127.0.0.1:5061"], "tls_listen needs tls_certificate"),
            (["sip.tls_certificate": certs.server.certificate], "tls_certificate is used only with tls_listen"),
            (["trunks.0.transport": "sctp"], "transport must be \"udp\", \"tcp\" or \"tls\", not 'sctp'"),
        ]
        for (sets, message) in cases {
            let (status, output) = try runDaemonExpectingFailure(sets: sets, check: true)
            #expect(status != 0 && output.contains(message), "\(sets): \(output)")
        }
        // Files that are not a certificate: the daemon does not start, and says which file.
        let (status, output) = try runDaemonExpectingFailure(sets: [
            "sip.tls_listen": "127.0.0.1:\(freePort())", "sip.tls_certificate": "\(certs.dir)/san.cnf", "sip.tls_key": certs.server.key,
        ])
        #expect(status != 0 && output.contains("san.cnf"), "\(output)")
    }
}
