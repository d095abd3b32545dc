import Foundation
public import SIP

/// Certificates for TLS tests, made by the openssl command line (installed by scripts/setup.sh)
/// in a fresh directory: a CA, a server certificate it signed for 127.0.0.1 and localhost, and a
/// second CA with its own server certificate, for what must not be trusted.
public struct TestCertificates: Sendable {
    public let dir: String
    public var ca: String { "\(dir)/ca.pem" }
    public var otherCA: String { "\(dir)/other-ca.pem" }
    /// Signed by `ca` / by `otherCA`.
    public var server: SIPTLSFiles { SIPTLSFiles(certificate: "\(dir)/server.pem", key: "\(dir)/server.key", ca: ca) }
    public var otherServer: SIPTLSFiles { SIPTLSFiles(certificate: "\(dir)/other-server.pem", key: "\(dir)/other-server.key", ca: otherCA) }
    /// Signed by `ca` for the name carrier.test only (no address in it).
    public var namedServer: SIPTLSFiles { SIPTLSFiles(certificate: "\(dir)/named-server.pem", key: "\(dir)/named-server.key", ca: ca) }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("acdd-tls-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(toFile: "\(dir)/san.cnf", atomically: true, encoding: .utf8)
        try "subjectAltName=DNS:carrier.test\n".write(toFile: "\(dir)/named.cnf", atomically: true, encoding: .utf8)
        for (ca, server, san) in [("ca", "server", "san.cnf"), ("other-ca", "other-server", "san.cnf"), ("ca", "named-server", "named.cnf")] {
            // Each CA once.
            if !FileManager.default.fileExists(atPath: "\(dir)/\(ca).pem") {
                try openssl([
                    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "\(ca).key", "-out", "\(ca).pem",
                    "-days", "2", "-subj", "/CN=acdd test \(ca)",
                ])
            }
            try openssl([
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "\(server).key", "-out", "\(server).csr",
                "-subj", "/CN=\(server == "named-server" ? "carrier.test" : "127.0.0.1")",
            ])
            try openssl([
                "x509", "-req", "-in", "\(server).csr", "-CA", "\(ca).pem", "-CAkey", "\(ca).key", "-CAcreateserial", "-out", "\(server).pem", "-days", "2",
                "-extfile", san,
            ])
        }
    }

    private func openssl(_ args: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw Failure(description: "openssl \(args.joined(separator: " ")) failed: \(String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))")
        }
    }
}
