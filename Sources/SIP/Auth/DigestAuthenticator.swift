import Crypto
public import SIPMessage

// Digest authentication, server side (RFC 3261 §22, RFC 7616, RFC 8760 for SHA-256 in SIP).
//
// Nonces are stateless: `<time><random><mac>` where the MAC (HMAC-SHA-256 with a per-process key)
// proves we issued it and the time bounds its life. Only nonces that have been used are remembered,
// with their highest nonce-count, so that a replayed `nc` is caught; that table is bounded by the
// nonce lifetime. A restart makes every outstanding nonce unknown, which phones see as `stale=true`
// and answer without asking anyone for a password.

/// A digest algorithm we accept.
public enum DigestAlgorithm: String, Sendable, CaseIterable {
    case sha256 = "SHA-256"
    case md5 = "MD5"

    public init?(name: String) {
        switch name.uppercased() {
        case "SHA-256": self = .sha256
        case "MD5": self = .md5
        default: return nil
        }
    }

    func hash(_ text: String) -> String {
        switch self {
        case .md5: hexString(Insecure.MD5.hash(data: Array(text.utf8)))
        case .sha256: hexString(SHA256.hash(data: Array(text.utf8)))
        }
    }
}

func hexString(_ bytes: some Sequence<UInt8>) -> String {
    let digits: [UInt8] = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}

public final class DigestAuthenticator {
    /// The result of checking a request's credentials.
    public enum Outcome: Sendable, Equatable {
        case authenticated(user: String)
        /// Send a (new) challenge: no credentials for our realm, an expired or unknown nonce with a
        /// right answer (`stale`), or a replayed nonce-count.
        case challenge(stale: Bool, reason: String?)
        /// Credentials that are wrong: unknown user, wrong password, wrong URI. Answer 403.
        case forbidden(reason: String)
        /// Credentials that do not parse. Answer 400.
        case malformed(reason: String)
    }

    public let realm: String
    public var nonceLifetime: Double
    public var algorithms: [DigestAlgorithm]
    private let scheduler: any SIPScheduler
    private let key: SymmetricKey
    private var rng = SystemRandomNumberGenerator()
    /// Highest nonce-count seen per used nonce, and the order in which to forget them.
    private var usedNonces: [String: UInt32] = [:]
    private var usedOrder: [(expiry: Double, nonce: String)] = []
    private var usedHead = 0

    /// `algorithms` in the order the challenges are sent. MD5 leads by default although RFC 8760
    /// prefers SHA-256 first: clients that know only MD5 (SIPp 3.6, older phones) answer the first
    /// challenge or nothing, while SHA-256 clients find theirs second.
    public init(realm: String, nonceLifetime: Double = 300, algorithms: [DigestAlgorithm] = [.md5, .sha256], scheduler: any SIPScheduler) {
        self.realm = realm
        self.nonceLifetime = nonceLifetime
        self.algorithms = algorithms
        self.scheduler = scheduler
        self.key = SymmetricKey(size: .bits256)
    }

    // MARK: Challenges

    public func makeNonce() -> String {
        let time = UInt64(scheduler.wallClock)
        let random = rng.next() as UInt64
        let body = hex16(time) + hex16(random)
        return body + mac(body)
    }

    private func mac(_ body: String) -> String {
        hexString(HMAC<SHA256>.authenticationCode(for: Array(body.utf8), using: key).prefix(8))
    }

    private func hex16(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    /// One challenge per algorithm, in the configured order (RFC 8760 §2.4).
    public func challenges(stale: Bool) -> [String] {
        let nonce = makeNonce()
        return algorithms.map { alg in
            var items: [(name: String, value: String, quoted: Bool)] = [
                ("realm", realm, true), ("nonce", nonce, true), ("algorithm", alg.rawValue, false), ("qop", "auth", true),
            ]
            if stale { items.append(("stale", "true", false)) }
            return SIPAuthHeader(scheme: "Digest", items).description
        }
    }

    /// The header a challenge goes in: 401 + WWW-Authenticate for registrars, 407 +
    /// Proxy-Authenticate for calls (RFC 3261 §22.2, §22.3).
    public func challengeResponse(
        to transaction: ServerTransaction, proxy: Bool, stale: Bool
    ) -> SIPResponse {
        var r = transaction.makeResponse(proxy ? .proxyAuthenticationRequired : .unauthorized)
        for value in challenges(stale: stale) { r.headers.add(proxy ? .proxyAuthenticate : .wwwAuthenticate, value) }
        return r
    }

    // MARK: Verification

    /// Checks the credentials of a request. `password` looks a user up; nil means unknown user.
    public func verify(_ request: SIPRequest, proxy: Bool, password: (String) -> String?) -> Outcome {
        let headerName: SIPHeaderName = proxy ? .proxyAuthorization : .authorization
        var credentials: SIPAuthHeader?
        for value in request.headers.values(headerName) {
            let parsed: SIPAuthHeader
            do { parsed = try SIPAuthHeader.parse(value) } catch { return .malformed(reason: error.detail) }
            if parsed.scheme.lowercased() == "digest", parsed["realm"] == realm {
                credentials = parsed
                break
            }
        }
        guard let c = credentials else { return .challenge(stale: false, reason: nil) }
        guard let username = c["username"], let nonce = c["nonce"], let uri = c["uri"], let response = c["response"] else {
            return .malformed(reason: "credentials lack username, nonce, uri or response")
        }
        let algorithm: DigestAlgorithm
        if let name = c["algorithm"] {
            guard let a = DigestAlgorithm(name: name), algorithms.contains(a) else {
                return .challenge(stale: false, reason: "algorithm \(name) not offered")
            }
            algorithm = a
        } else {
            algorithm = .md5  // RFC 7616 §3.4: absent means MD5
            guard algorithms.contains(.md5) else { return .challenge(stale: false, reason: "MD5 not offered") }
        }
        // §22.4: the digest URI must be the Request-URI.
        if uri != request.uri.description {
            guard let parsed = try? SIPURI.parse(uri), parsed.isEquivalent(to: request.uri) else {
                return .forbidden(reason: "digest uri \(uri) is not the Request-URI")
            }
        }
        guard let secret = password(username) else { return .forbidden(reason: "unknown user \(username)") }

        let ha1 = algorithm.hash("\(username):\(realm):\(secret)")
        let ha2 = algorithm.hash("\(request.method.rawValue):\(uri)")
        let expected: String
        var nonceCount: UInt32 = 0
        if let qop = c["qop"] {
            guard qop.lowercased() == "auth" else { return .challenge(stale: false, reason: "qop \(qop) not offered") }
            guard let ncText = c["nc"], ncText.count == 8, let nc = UInt32(ncText, radix: 16), let cnonce = c["cnonce"] else {
                return .malformed(reason: "qop=auth without a valid nc and cnonce")
            }
            nonceCount = nc
            expected = algorithm.hash("\(ha1):\(nonce):\(ncText):\(cnonce):\(qop):\(ha2)")
        } else {
            expected = algorithm.hash("\(ha1):\(nonce):\(ha2)")
        }
        guard constantTimeEquals(expected, response.lowercased()) else {
            return .forbidden(reason: "wrong password for \(username)")
        }
        // The answer is right; now the nonce itself.
        guard nonce.utf8.count == 48, mac(String(nonce.prefix(32))) == String(nonce.suffix(16)),
            let issued = UInt64(nonce.prefix(16), radix: 16)
        else { return .challenge(stale: true, reason: "nonce not issued by this process") }
        let now = scheduler.wallClock
        if Double(issued) + nonceLifetime < now { return .challenge(stale: true, reason: "nonce expired") }
        forgetExpiredNonces(now: now)
        if let last = usedNonces[nonce], nonceCount <= last {
            return .challenge(stale: false, reason: "replayed nonce (nc \(nonceCount))")
        }
        if usedNonces.updateValue(nonceCount, forKey: nonce) == nil {
            usedOrder.append((Double(issued) + nonceLifetime, nonce))
        }
        return .authenticated(user: username)
    }

    private func forgetExpiredNonces(now: Double) {
        while usedHead < usedOrder.count, usedOrder[usedHead].expiry < now {
            usedNonces[usedOrder[usedHead].nonce] = nil
            usedHead += 1
        }
        if usedHead > 1024, usedHead * 2 > usedOrder.count {
            usedOrder.removeFirst(usedHead)
            usedHead = 0
        }
    }

    /// Nonces currently remembered for replay checks.
    public var rememberedNonceCount: Int { usedNonces.count }

    private func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<x.count { diff |= x[i] ^ y[i] }
        return diff == 0
    }
}

/// Digest, client side: answers a 401/407 challenge for requests we send (agents' phones behind
/// an authenticating proxy, trunks that challenge).
public struct DigestClient: Sendable {
    public var username: String
    public var password: String
    private var nonceCounts: [String: UInt32] = [:]

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    /// Credentials for `request`, answering the strongest challenge we support in `response`;
    /// nil when there is none. The header name is Authorization for 401, Proxy-Authorization for 407.
    public mutating func authorize(_ request: inout SIPRequest, challengedBy response: SIPResponse) -> Bool {
        let proxy = response.status == .proxyAuthenticationRequired
        let challenges = response.headers.values(proxy ? .proxyAuthenticate : .wwwAuthenticate)
            .compactMap { try? SIPAuthHeader.parse($0) }
            .filter { $0.scheme.lowercased() == "digest" }
        let ranked = challenges.compactMap { c -> (SIPAuthHeader, DigestAlgorithm)? in
            guard let alg = DigestAlgorithm(name: c["algorithm"] ?? "MD5") else { return nil }
            return (c, alg)
        }.sorted { $0.1 == .sha256 && $1.1 != .sha256 }
        guard let (challenge, algorithm) = ranked.first, let realm = challenge["realm"], let nonce = challenge["nonce"] else {
            return false
        }
        let uri = request.uri.description
        let ha1 = algorithm.hash("\(username):\(realm):\(password)")
        let ha2 = algorithm.hash("\(request.method.rawValue):\(uri)")
        var items: [(name: String, value: String, quoted: Bool)] = [
            ("username", username, true), ("realm", realm, true), ("nonce", nonce, true), ("uri", uri, true),
        ]
        let qops = (challenge["qop"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: " ") }
        if qops.contains("auth") {
            let nc = (nonceCounts[nonce] ?? 0) + 1
            nonceCounts[nonce] = nc
            let ncText = String(repeating: "0", count: 8 - String(nc, radix: 16).count) + String(nc, radix: 16)
            var g = SystemRandomNumberGenerator()
            let cnonce = String(g.next() as UInt64, radix: 16)
            let response = algorithm.hash("\(ha1):\(nonce):\(ncText):\(cnonce):auth:\(ha2)")
            items += [("response", response, true), ("algorithm", algorithm.rawValue, false), ("qop", "auth", false), ("nc", ncText, false), ("cnonce", cnonce, true)]
        } else {
            items += [("response", algorithm.hash("\(ha1):\(nonce):\(ha2)"), true), ("algorithm", algorithm.rawValue, false)]
        }
        if let opaque = challenge["opaque"] { items.append(("opaque", opaque, true)) }
        let name: SIPHeaderName = proxy ? .proxyAuthorization : .authorization
        request.headers.remove(name)
        request.headers.add(name, SIPAuthHeader(scheme: "Digest", items).description)
        return true
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        var s = self
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}
