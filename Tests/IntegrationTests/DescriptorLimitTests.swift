import Foundation
import JSON
import SIPMessage
import TestSupport
import Testing

/// Issue 20: a daemon near its descriptor limit refuses new calls with 503 and Retry-After
/// before anything fails half-way, and calls already up keep their audio.
@Suite(.serialized) struct DescriptorLimitTests {
    /// An INVITE to the menu from fresh sockets: the final answer, and the call when answered.
    static func invite(_ daemon: Daemon) throws -> (status: SIPStatus, retryAfter: String?, call: Call?) {
        let sip = try UDPProbe()
        let rtp = try UDPProbe(timeoutMilliseconds: 1000)
        let offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio \(rtp.port) RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
        var invite = SIPFixtures.request(
            .invite, uri: "sip:100@127.0.0.1:\(daemon.sipPort)", viaPort: sip.port, rport: true, callID: "fd-\(UUID().uuidString)", body: Array(offer.utf8))
        invite.headers.set(.contentType, "application/sdp")
        sip.send(invite.serialized(), to: daemon.sipPort)
        var final: SIPResponse?
        while final == nil, let bytes = sip.receive() {
            if case .response(let r) = try SIPParser().parse(bytes), r.status.isFinal { final = r }
        }
        let answer = try #require(final, "no final answer to the INVITE")
        let ack = SIPFixtures.request(
            .ack, uri: "sip:100@127.0.0.1:\(daemon.sipPort)", branch: answer.status == .ok ? "z9hG4bKack\(sip.port)" : invite.branch!, viaPort: sip.port, rport: true,
            toTag: answer.to.tag, callID: invite.callID)
        sip.send(ack.serialized(), to: daemon.sipPort)
        guard answer.status == .ok, let port = try SDPSession.parse(answer.body).media.first?.port else { return (answer.status, answer.headers[.retryAfter], nil) }
        return (.ok, nil, Call(sip: sip, rtp: rtp, daemonRTPPort: port, answer: answer, invite: invite))
    }

    @Test func nearTheLimitNewCallsGet503AndCallsUpKeepTheirAudio() throws {
        let prlimit = "/usr/bin/prlimit"
        try #require(FileManager.default.isExecutableFile(atPath: prlimit), "util-linux's prlimit is missing")
        // The limit: what an idle daemon holds (24 here), the reserve of 40, and 60 more, room for
        // a few tens of IVR calls (2 sockets each).
        let probe = try Daemon()
        #expect(try eventually { (try probe.status()["descriptors"]?["open"]?.intValue ?? 0) > 0 })
        let idle = try #require(try probe.status()["descriptors"]?["open"]?.intValue)
        probe.stop()
        let limit = idle + 40 + 60
        let daemon = try Daemon(sets: ["daemon.descriptor_reserve": "40"], launcher: [prlimit, "--nofile=\(limit):\(limit)", "--"])
        defer { daemon.stop() }
        #expect(try eventually { try daemon.status()["descriptors"]?["limit"]?.intValue == limit })
        let seen = try daemon.status()["descriptors"]
        #expect(seen?["limit"]?.intValue == limit, "\(String(describing: seen)) against \(limit)")

        var calls: [Call] = []
        var refused: (status: SIPStatus, retryAfter: String?)?
        for _ in 0..<80 {
            let r = try Self.invite(daemon)
            if let call = r.call {
                calls.append(call)
                usleep(30_000)
                continue
            }
            refused = (r.status, r.retryAfter)
            break
        }
        let shed = try #require(refused, "\(calls.count) calls and no 503 at a limit of \(limit)")
        #expect(shed.status == .serviceUnavailable && shed.retryAfter != nil)
        #expect(calls.count >= 10, "only \(calls.count) calls before the 503 (idle \(idle), limit \(limit))")
        let status = try daemon.status()
        let open = try #require(status["descriptors"]?["open"]?.intValue)
        #expect(open < limit - 20, "\(open) of \(limit) open: the reserve was eaten into")
        #expect(status["descriptors"]?["short"] == true)

        // Every call answered before the 503 still hears its prompt.
        var silent = 0
        for call in calls where call.rtp.receive() == nil { silent += 1 }
        #expect(silent == 0, "\(silent) of \(calls.count) calls got no audio")
        // Once calls end, new ones are taken again.
        for call in calls.prefix(10) { _ = try call.hangUp(daemon) }
        #expect(try eventually(5) { try daemon.status()["descriptors"]?["short"] == false })
        let again = try Self.invite(daemon)
        #expect(again.status == .ok, "refused after calls ended: \(again.status)")
        _ = try again.call?.hangUp(daemon)
        let log = daemon.log
        #expect(log.components(separatedBy: "descriptors near the limit").count == 2, "logged once per episode")
        let errors = log.split(separator: "\n").filter { $0.contains(" error \"") || $0.contains(" critical \"") }
        #expect(errors.isEmpty, "something failed for want of a descriptor: \(errors)")
        #expect(daemon.stop() == 0)
    }
}
