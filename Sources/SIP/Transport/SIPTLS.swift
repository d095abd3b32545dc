public import NIOSSL

/// SIP over TLS (RFC 3261 §26.2, issue 20): the certificate we present, as a server to phones and
/// carriers that connect to us and as a client to carriers we connect to, and what we trust in
/// theirs. Read from PEM files named in the configuration; read again on reload, so a renewed
/// certificate is used by the next connection without a restart.
public struct SIPTLSFiles: Sendable, Equatable {
    /// Our certificate chain (leaf first) and its private key.
    public var certificate: String
    public var key: String
    /// The CA certificates a server we connect to must chain to; nil: the system's roots.
    public var ca: String?

    public init(certificate: String, key: String, ca: String? = nil) {
        self.certificate = certificate
        self.key = key
        self.ca = ca
    }
}

/// What `SIPTLSFiles` could not be made into, naming the file and the reason.
public struct SIPTLSError: Error, CustomStringConvertible {
    public var description: String
}

/// The two TLS contexts built from the files. Phones do not present certificates (they prove
/// who they are by digest), so the server side asks for none; as a client we check the
/// server's chain against `ca` and its name against the address we connected to (IP SAN).
public struct SIPTLSContexts: Sendable {
    public let server: NIOSSLContext
    public let client: NIOSSLContext

    public init(_ files: SIPTLSFiles) throws(SIPTLSError) {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(files.certificate)
        } catch {
            throw SIPTLSError(description: "cannot read the PEM certificate \(files.certificate): \(error)")
        }
        guard !chain.isEmpty else { throw SIPTLSError(description: "no certificate in \(files.certificate)") }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: files.key, format: .pem)
        } catch {
            throw SIPTLSError(description: "cannot read the PEM private key \(files.key): \(error)")
        }
        var server = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        server.minimumTLSVersion = .tlsv12
        var client = TLSConfiguration.makeClientConfiguration()
        client.minimumTLSVersion = .tlsv12
        client.certificateVerification = .fullVerification
        // Carriers that want mutual TLS get the same certificate.
        client.certificateChain = chain.map { .certificate($0) }
        client.privateKey = .privateKey(key)
        if let ca = files.ca {
            do {
                let roots = try NIOSSLCertificate.fromPEMFile(ca)
                guard !roots.isEmpty else { throw SIPTLSError(description: "no certificate in \(ca)") }
                client.trustRoots = .certificates(roots)
            } catch let e as SIPTLSError {
                throw e
            } catch {
                throw SIPTLSError(description: "cannot read the PEM CA certificates \(ca): \(error)")
            }
        }
        do {
            self.server = try NIOSSLContext(configuration: server)
            self.client = try NIOSSLContext(configuration: client)
        } catch {
            throw SIPTLSError(description: "certificate \(files.certificate) and key \(files.key) do not make a TLS context: \(error)")
        }
    }
}
