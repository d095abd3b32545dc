import Foundation
import JSON
import SIP
import SIPMessage
import TestSupport
import Testing

/// Issue 20: a trunk that registers with its carrier, against two registrars of our own making on
/// loopback: the first never answers, the second challenges, checks the digest, and grants a
/// short registration; the daemon fails over, answers the challenge, refreshes before the
/// registration lapses, and withdraws it when it stops.
@Suite(.serialized) struct TrunkRegistrationTests {
    @Test func aTrunkRegistersFailsOverRefreshesAndWithdraws() throws {
        let dead = try UDPProbe(timeoutMilliseconds: 200)
        let live = try UDPProbe(timeoutMilliseconds: 9000)
        let daemon = try Daemon(sets: [
            "trunks.0.username": "carrier-user", "trunks.0.password": "s3cret", "trunks.0.register": "true",
            "trunks.0.registrars": "[\"127.0.0.1:\(dead.port)\", \"127.0.0.1:\(live.port)\"]", "trunks.0.register_domain": "carrier.example",
        ])
        defer { daemon.stop() }
        let auth = DigestAuthenticator(realm: "carrier.example", scheduler: ManualScheduler())
        func next(_ probe: UDPProbe) throws -> SIPRequest? {
            guard let bytes = probe.receive() else { return nil }
            guard case .request(let r) = try SIPParser().parse(bytes) else { return nil }
            return r
        }
        func answer(_ r: SIPRequest, _ response: SIPResponse) { live.send(response.serialized(), to: daemon.sipPort) }

        // The first registrar is tried and given up on after 5 s; the second gets the REGISTER.
        let first = try #require(try next(live), "the second registrar got no REGISTER")
        #expect(first.method == .register && first.uri.host == "carrier.example" && first.to.uri.user == "carrier-user")
        #expect(first.headers[.expires] == "600" && first.contact.first?.nameAddr?.uri.user == "carrier-user")
        let tried = try #require(try next(dead), "the first registrar was not tried")
        #expect(tried.callID == first.callID && tried.cseq.sequence < first.cseq.sequence, "one registration, one Call-ID, a rising CSeq")

        var challenge = first.response(.unauthorized, toTag: "reg1")
        for c in auth.challenges(stale: false) { challenge.headers.add(.wwwAuthenticate, c) }
        answer(first, challenge)
        let authorized = try #require(try next(live), "the challenge was not answered")
        #expect(authorized.cseq.sequence == first.cseq.sequence + 1 && authorized.callID == first.callID)
        #expect(auth.verify(authorized, proxy: false) { $0 == "carrier-user" ? "s3cret" : nil } == .authenticated(user: "carrier-user"))
        var ok = authorized.response(.ok, toTag: "reg1")
        ok.contact = authorized.contact.compactMap(\.nameAddr).map { a in
            var granted = a
            granted.parameters["expires"] = .some("8")
            return .address(granted)
        }
        answer(authorized, ok)
        #expect(try eventually { try daemon.status()["trunk_registrations"]?.arrayValue?.first?["state"] == "registered" })
        let state = try #require(try daemon.status()["trunk_registrations"]?.arrayValue?.first)
        #expect(state["registrar"]?.stringValue?.contains(":\(live.port)") == true, "\(state)")

        // Granted 8 s: the refresh comes about 5 s early, to the same registrar, same Call-ID.
        let sent = Date()
        let refresh = try #require(try next(live), "no refresh")
        #expect(Date().timeIntervalSince(sent) < 6, "the refresh came \(Date().timeIntervalSince(sent)) s after the grant")
        #expect(refresh.callID == first.callID && refresh.cseq.sequence > authorized.cseq.sequence)
        answer(refresh, refresh.response(.ok, toTag: "reg1"))
        #expect(daemon.log.contains("trunk registered"))

        // Stopping withdraws the registration.
        #expect(daemon.stop() == 0)
        let withdrawal = try #require(try next(live), "the registration was not withdrawn")
        #expect(withdrawal.method == .register && withdrawal.headers[.expires] == "0" && withdrawal.callID == first.callID)
    }

    @Test func registerWithoutCredentialsIsAConfigurationError() throws {
        let out = try run("\(binDir)/acdd", ["--check-config", "\(packageRoot)/config/acd.toml", "--set", "trunks.0.register=true"])
        #expect(out.status != 0 && out.output.contains("register needs the trunk's username and password"), "\(out.output)")
    }
}
