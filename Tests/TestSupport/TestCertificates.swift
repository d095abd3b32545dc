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

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("acdd-tls-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(toFile: "\(dir)/san.cnf", atomically: true, encoding: .utf8)
        for (ca, server) in [("ca", "server"), ("other-ca", "other-server")] {
            try openssl([
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "\(ca).key", "-out", "\(ca).pem",
                "-days", "2", "-subj", "/CN=acdd test \(ca)",
            ])
            try openssl([
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "\(server).key", "-out", "\(server).csr",
                "-subj", "/CN=127.0.0.1",
            ])
            try openssl([
                "x509", "-req", "-in", "\(server).csr", "-CA", "\(ca).pem", "-CAkey", "\(ca).key", "-CAcreateserial", "-out", "\(server).pem", "-days", "2",
                "-extfile", "san.cnf",
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
