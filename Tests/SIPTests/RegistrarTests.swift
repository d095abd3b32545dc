import Logging
@testable import SIP
import SIPMessage
import TestSupport
import Testing

/// An in-memory binding store, so that the tests can see what the registrar persists.
final class MemoryBindingStore: SIPBindingStore {
    var saved: [String: SIPBinding] = [:]
    func loadBindings() -> [SIPBinding] { Array(saved.values) }
    func saveBinding(_ binding: SIPBinding) { saved["\(binding.aor)|\(binding.contact.uri)"] = binding }
    func removeBinding(aor: String, contactURI: String) { saved["\(aor)|\(contactURI)"] = nil }
}

/// A registrar on a manual clock with users 1001 (secret1001) and 1002 (secret1002), and a phone
/// that answers challenges with the real digest client.
final class RegistrarFixture {
    let stack: SIPStack
    let clock: ManualScheduler
    let transport: FakeTransport
    let store: MemoryBindingStore
    let authenticator: DigestAuthenticator
    let registrar: Registrar
    let phone = SIPPeer.udp(5071)
    var cseq: UInt32 = 1

    init(store: MemoryBindingStore = MemoryBindingStore(), clock: ManualScheduler? = nil) {
        let (stack, defaultClock, transport) = SIPFixtures.stack()
        self.stack = stack
        self.clock = defaultClock
        self.transport = transport
        self.store = store
        authenticator = DigestAuthenticator(realm: "acd", nonceLifetime: 300, scheduler: defaultClock)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        registrar = Registrar(
            policy: RegistrarPolicy(), authenticator: authenticator,
            passwords: { ["1001": "secret1001", "1002": "secret1002"][$0] }, scheduler: defaultClock, store: store, logger: logger)
        stack.handlers = [registrar]
    }

    func register(
        user: String = "1001", contact: String = "<sip:1001@127.0.0.1:5071>", expires: Int? = 600, callID: String = "reg-1",
        authorization: String? = nil, toUser: String? = nil
    ) -> SIPResponse {
        var headers: [(String, String)] = []
        if let expires { headers.append(("Expires", String(expires))) }
        if let authorization { headers.append(("Authorization", authorization)) }
        var req = SIPFixtures.request(
            .register, uri: "sip:127.0.0.1", branch: stack.makeBranch(), viaPort: 5071, callID: callID, cseq: cseq,
            extraHeaders: headers, fromUser: user)
        req.to = SIPNameAddr(uri: try! SIPURI.parse("sip:\(toUser ?? user)@127.0.0.1"))
        req.contact = contact.isEmpty ? [] : try! splitContacts(contact)
        cseq += 1
        transport.sent.removeAll()
        stack.receive(req.serialized(), from: phone)
        return transport.responses.last!
    }

    /// REGISTER, answer the 401 with the digest client, return the final response.
    func registerWithAuth(user: String = "1001", password: String = "secret1001", contact: String = "<sip:1001@127.0.0.1:5071>", expires: Int? = 600, callID: String = "reg-1") -> SIPResponse {
        let challenge = register(user: user, contact: contact, expires: expires, callID: callID)
        guard challenge.status == .unauthorized else { return challenge }
        var client = DigestClient(username: user, password: password)
        var req = SIPFixtures.request(.register, uri: "sip:127.0.0.1")
        _ = client.authorize(&req, challengedBy: challenge)
        return register(user: user, contact: contact, expires: expires, callID: callID, authorization: req.headers[.authorization])
    }

    private func splitContacts(_ text: String) throws -> [SIPContact] {
        var bytes = Array("REGISTER sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\nContact: ".utf8)
        bytes += Array(text.utf8) + Array("\r\nContent-Length: 0\r\n\r\n".utf8)
        guard case .request(let r) = try SIPParser().parse(bytes) else { return [] }
        return r.contact
    }
}

@Suite struct DigestTests {
    @Test func challengeOffersMD5ThenSHA256() throws {
        let f = RegistrarFixture()
        let r = f.register()
        #expect(r.status == .unauthorized)
        let challenges = try r.headers.values(.wwwAuthenticate).map { try SIPAuthHeader.parse($0) }
        #expect(challenges.map { $0["algorithm"] } == ["MD5", "SHA-256"])
        #expect(challenges.allSatisfy { $0["realm"] == "acd" && $0["qop"] == "auth" && $0["stale"] == nil })
        #expect(challenges[0]["nonce"] == challenges[1]["nonce"])
    }

    @Test func rightPasswordRegisters() {
        let f = RegistrarFixture()
        #expect(f.registerWithAuth().status == .ok)
        #expect(f.registrar.bindings(for: "1001").count == 1)
    }

    @Test(arguments: [DigestAlgorithm.md5, .sha256])
    func eachAlgorithmWorks(_ algorithm: DigestAlgorithm) {
        let f = RegistrarFixture()
        f.authenticator.algorithms = [algorithm]
        #expect(f.registerWithAuth().status == .ok)
    }

    @Test func wrongPasswordIsForbidden() {
        let f = RegistrarFixture()
        #expect(f.registerWithAuth(password: "guess").status == .forbidden)
        #expect(f.registrar.bindings(for: "1001").isEmpty)
    }

    @Test func unknownUserIsForbidden() {
        let f = RegistrarFixture()
        #expect(f.registerWithAuth(user: "9999", password: "x").status == .forbidden)
    }

    @Test func cannotRegisterSomeoneElse() {
        let f = RegistrarFixture()
        let challenge = f.register(toUser: "1002")
        var client = DigestClient(username: "1001", password: "secret1001")
        var req = SIPFixtures.request(.register, uri: "sip:127.0.0.1")
        _ = client.authorize(&req, challengedBy: challenge)
        #expect(f.register(authorization: req.headers[.authorization], toUser: "1002").status == .forbidden)
    }

    /// An expired nonce with the right password gets a new challenge marked stale.
    @Test func expiredNonceIsStale() throws {
        let f = RegistrarFixture()
        let challenge = f.register()
        var client = DigestClient(username: "1001", password: "secret1001")
        var req = SIPFixtures.request(.register, uri: "sip:127.0.0.1")
        _ = client.authorize(&req, challengedBy: challenge)
        f.clock.advance(by: .seconds(301))
        let r = f.register(authorization: req.headers[.authorization])
        #expect(r.status == .unauthorized)
        #expect(try SIPAuthHeader.parse(r.headers[.wwwAuthenticate]!)["stale"] == "true")
        // A nonce from another process (a restart) is stale too.
        let other = DigestAuthenticator(realm: "acd", scheduler: f.clock)
        var foreign = challenge
        foreign.headers.set(.wwwAuthenticate, other.challenges(stale: false)[0])
        var req2 = SIPFixtures.request(.register, uri: "sip:127.0.0.1")
        _ = client.authorize(&req2, challengedBy: foreign)
        #expect(try SIPAuthHeader.parse(f.register(authorization: req2.headers[.authorization]).headers[.wwwAuthenticate]!)["stale"] == "true")
    }

    /// The same nonce-count twice is a replay: challenged again, not registered, and no longer stale.
    @Test func replayedNonceCountIsRefused() throws {
        let f = RegistrarFixture()
        let challenge = f.register()
        var client = DigestClient(username: "1001", password: "secret1001")
        var req = SIPFixtures.request(.register, uri: "sip:127.0.0.1")
        _ = client.authorize(&req, challengedBy: challenge)
        let credentials = req.headers[.authorization]
        #expect(f.register(authorization: credentials).status == .ok)
        let replay = f.register(authorization: credentials)
        #expect(replay.status == .unauthorized)
        #expect(try SIPAuthHeader.parse(replay.headers[.wwwAuthenticate]!)["stale"] == nil)
        // The next nonce-count on the same nonce is fine.
        var next = SIPFixtures.request(.register, uri: "sip:127.0.0.1")
        _ = client.authorize(&next, challengedBy: challenge)
        #expect(f.register(authorization: next.headers[.authorization]).status == .ok)
        // Remembered nonces are forgotten once they could not be used any more.
        f.clock.advance(by: .seconds(400))
        _ = f.registerWithAuth()
        #expect(f.authenticator.rememberedNonceCount == 1)
    }

    @Test func malformedCredentialsAre400() {
        let f = RegistrarFixture()
        #expect(f.register(authorization: "Digest realm=\"acd\", username=").status == .badRequest)
        #expect(f.register(authorization: "Digest realm=\"acd\", username=\"1001\"").status == .badRequest)
    }

    /// The digest URI must be the Request-URI (RFC 3261 §22.4).
    @Test func digestURIMustMatch() {
        let f = RegistrarFixture()
        let challenge = f.register()
        var client = DigestClient(username: "1001", password: "secret1001")
        var req = SIPFixtures.request(.register, uri: "sip:other.example.com")
        _ = client.authorize(&req, challengedBy: challenge)
        #expect(f.register(authorization: req.headers[.authorization]).status == .forbidden)
    }

    /// RFC 7616 §3.9.1's example, computed by our client for SHA-256 and MD5 (no qop variant
    /// checked against a hand computation).
    @Test func knownAnswer() throws {
        // MD5("Mufasa:http-auth@example.org:Circle of Life") etc. from RFC 7616 §3.9.1.
        let ha1 = DigestAlgorithm.md5.hashForTest("Mufasa:http-auth@example.org:Circle of Life")
        let ha2 = DigestAlgorithm.md5.hashForTest("GET:/dir/index.html")
        let response = DigestAlgorithm.md5.hashForTest("\(ha1):7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v:00000001:f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ:auth:\(ha2)")
        #expect(response == "8ca523f5e9506fed4657c9700eebdbec")
        let ha1s = DigestAlgorithm.sha256.hashForTest("Mufasa:http-auth@example.org:Circle of Life")
        let ha2s = DigestAlgorithm.sha256.hashForTest("GET:/dir/index.html")
        let responses = DigestAlgorithm.sha256.hashForTest("\(ha1s):7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v:00000001:f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ:auth:\(ha2s)")
        #expect(responses == "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1")
    }
}

@Suite struct RegistrarTests {
    @Test func bindingsListAndExpire() throws {
        let f = RegistrarFixture()
        let ok = f.registerWithAuth(expires: 120)
        #expect(ok.status == .ok)
        #expect(ok.contact.first?.nameAddr?.parameters.value("expires") == "120")
        f.clock.advance(by: .seconds(119))
        #expect(f.registrar.bindings(for: "1001").count == 1)
        f.clock.advance(by: .seconds(16))  // past expiry and a sweep
        #expect(f.registrar.bindings(for: "1001").isEmpty)
        #expect(f.store.saved.isEmpty)
    }

    @Test func severalContactsAndPerContactExpires() throws {
        let f = RegistrarFixture()
        let r = f.registerWithAuth(contact: "<sip:1001@127.0.0.1:5071>;expires=300;q=0.5, <sip:1001@127.0.0.1:5072>;q=0.9", expires: 900)
        #expect(r.status == .ok)
        let list = f.registrar.bindings(for: "1001")
        #expect(list.map(\.contact.uri.port) == [5072, 5071])
        #expect(Set(r.contact.compactMap { $0.nameAddr?.parameters.value("expires") }) == ["300", "900"])
    }

    @Test func reRegisterRefreshesAndExpiresZeroRemoves() {
        let f = RegistrarFixture()
        #expect(f.registerWithAuth(expires: 60).status == .ok)
        f.clock.advance(by: .seconds(50))
        #expect(f.registerWithAuth(expires: 60).status == .ok)
        f.clock.advance(by: .seconds(50))
        #expect(f.registrar.bindings(for: "1001").count == 1)
        let removed = f.registerWithAuth(expires: 0)
        #expect(removed.status == .ok && removed.contact.isEmpty)
        #expect(f.registrar.bindings(for: "1001").isEmpty && f.store.saved.isEmpty)
    }

    @Test func starRemovesEverything() {
        let f = RegistrarFixture()
        _ = f.registerWithAuth(contact: "<sip:1001@127.0.0.1:5071>, <sip:1001@127.0.0.1:5072>")
        #expect(f.registrar.bindings(for: "1001").count == 2)
        #expect(f.registerWithAuth(contact: "*", expires: 600).status == .badRequest)
        #expect(f.registerWithAuth(contact: "*", expires: 0).status == .ok)
        #expect(f.registrar.bindings(for: "1001").isEmpty)
    }

    @Test func tooShortIsRefusedWithMinExpires() {
        let f = RegistrarFixture()
        let r = f.registerWithAuth(expires: 10)
        #expect(r.status == .intervalTooBrief)
        #expect(r.headers[.minExpires] == "60")
    }

    @Test func tooLongIsClamped() {
        let f = RegistrarFixture()
        #expect(f.registerWithAuth(expires: 999_999).contact.first?.nameAddr?.parameters.value("expires") == "3600")
    }

    @Test func queryWithoutContactListsBindings() {
        let f = RegistrarFixture()
        _ = f.registerWithAuth()
        let r = f.registerWithAuth(contact: "")
        #expect(r.status == .ok && r.contact.count == 1)
    }

    /// A REGISTER in the same Call-ID with a CSeq not above the binding's is refused (§10.3 step 7).
    @Test func outOfOrderCSeqIsRefused() {
        let f = RegistrarFixture()
        #expect(f.registerWithAuth().status == .ok)
        f.cseq = 1
        #expect(f.registerWithAuth().status == .badRequest)
    }

    /// Bindings come back from the store after a restart; lapsed ones are dropped then.
    @Test func bindingsSurviveARestart() throws {
        let store = MemoryBindingStore()
        let first = RegistrarFixture(store: store)
        _ = first.registerWithAuth(expires: 600)
        _ = first.registerWithAuth(user: "1002", password: "secret1002", contact: "<sip:1002@127.0.0.1:5073>", expires: 60, callID: "reg-2")
        #expect(store.saved.count == 2)
        let second = RegistrarFixture(store: store)
        #expect(second.registrar.bindings(for: "1001").first?.contact.uri.port == 5071)
        #expect(second.registrar.bindings(for: "1001").first?.source == first.phone)
        #expect(second.registrar.bindings(for: "1002").count == 1)
    }

    @Test func optionsAnswer() throws {
        let (stack, _, transport) = SIPFixtures.stack()
        let responder = OptionsResponder(allow: [.invite, .ack, .bye, .cancel, .options, .register], supported: ["replaces"])
        stack.handlers = [responder]
        stack.receive(SIPFixtures.request(.options).serialized(), from: .udp(5070))
        let r = try #require(transport.drain().first?.response)
        #expect(r.status == .ok && r.headers[.allow] == "INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER" && r.headers[.accept] == "application/sdp")
        responder.acceptingCalls = false
        stack.receive(SIPFixtures.request(.options, branch: "z9hG4bK2").serialized(), from: .udp(5070))
        #expect(transport.drain().first?.response?.status == .serviceUnavailable)
    }
}

extension DigestAlgorithm {
    func hashForTest(_ s: String) -> String { hash(s) }
}
