import Foundation
import Media
import SIP
import SIPMessage
import Testing
import TestSupport

/// A call set up by hand: INVITE with our RTP port, 200, ACK.
struct Call {
    let sip: UDPProbe
    let rtp: UDPProbe
    let daemonRTPPort: Int
    let answer: SIPResponse
    let invite: SIPRequest
}

/// Calls `number` on the daemon from raw sockets, as a trunk would (the default trunk admits
/// 127.0.0.1), offering `codecs` and telephone-events.
func place(_ daemon: Daemon, number: String, codecs: String = "0 101", from: String = "caller") throws -> Call {
    let sip = try UDPProbe()
    let rtp = try UDPProbe(timeoutMilliseconds: 1000)
    let offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio \(rtp.port) RTP/AVP \(codecs)\r\na=rtpmap:101 telephone-event/8000\r\n"
    var invite = SIPFixtures.request(
        .invite, uri: "sip:\(number)@127.0.0.1:\(daemon.sipPort)", viaPort: sip.port, rport: true, callID: "media-\(UUID().uuidString)", body: Array(offer.utf8),
        fromUser: from)
    invite.headers.set(.contentType, "application/sdp")
    sip.send(invite.serialized(), to: daemon.sipPort)
    var ok: SIPResponse?
    while ok == nil, let bytes = sip.receive() {
        if case .response(let r) = try SIPParser().parse(bytes), r.status.isFinal { ok = r }
    }
    let answer = try #require(ok)
    #expect(answer.status == .ok)
    let port = try #require(SDPSession.parse(answer.body).media.first?.port)
    let ack = SIPFixtures.request(
        .ack, uri: "sip:\(number)@127.0.0.1:\(daemon.sipPort)", branch: "z9hG4bKack\(sip.port)", viaPort: sip.port, rport: true,
        toTag: answer.to.tag, callID: invite.callID)
    sip.send(ack.serialized(), to: daemon.sipPort)
    return Call(sip: sip, rtp: rtp, daemonRTPPort: port, answer: answer, invite: invite)
}

/// Reaches the sales queue from a fresh call from `from`: hears the welcome start and presses 1
/// over it (the key skips the welcome and answers the menu, unheard).
func callSales(_ daemon: Daemon, from: String = "caller") throws -> (Call, RTPSenderState) {
    let call = try place(daemon, number: "100", from: from)
    _ = call.rtp.receive()
    var sender = RTPSenderState()
    call.press(1, sender: &sender)
    return (call, sender)
}

/// An RTP packet of ours.
func packet(_ header: RTPHeader, payload: [UInt8]) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: 12 + payload.count)
    bytes.withUnsafeMutableBytes { header.write(to: $0) }
    bytes.replaceSubrange(12..., with: payload)
    return bytes
}

/// Sends 30 packets of a pattern (from `seed`) from `from` to `port`; returns how many of them
/// `to` got within a second: what one party of a bridge or consultation heard of the other.
func relayed(from: UDPProbe, to: UDPProbe, port: Int, seed: Int, sender: inout RTPSenderState) -> Int {
    let payloads = (0..<30).map { p in (0..<160).map { i in UInt8(truncatingIfNeeded: seed * 31 + p * 7 + i) } }
    for p in payloads {
        from.send(packet(sender.next(payloadType: 0, samples: 160), payload: p), to: port)
        usleep(20_000)
    }
    // Bounded by time: a leg that hears music gets packets for ever.
    let wanted = Set(payloads)
    var got = 0
    let deadline = Date().addingTimeInterval(1)
    while got < 30, Date() < deadline, let d = to.receive(timeoutMilliseconds: 300) { if agentSetContains(wanted, d) { got += 1 } }
    return got
}

extension Call {
    /// Presses `key` as RFC 4733 events (payload type 101): three updates and three end packets.
    func press(_ key: UInt8, sender: inout RTPSenderState) {
        pressRFC4733(key, from: rtp, to: daemonRTPPort, sender: &sender)
    }

    /// Sends `keys` as DTMF tones in PCMU audio (spandsp's generator), `frames` packets of 20 ms
    /// each, `pauseMicroseconds` apart.
    func sendTones(_ keys: String, frames: Int, pauseMicroseconds: UInt32, sender: inout RTPSenderState) {
        let gen = DTMFToneGenerator()
        gen.queue(keys)
        var frame = [Int16](repeating: 0, count: 160)
        for _ in 0..<frames {
            let payload: [UInt8] = frame.withUnsafeMutableBufferPointer { f in
                for i in 0..<f.count { f[i] = 0 }
                _ = gen.generate(into: f)
                return f.map { G711.ulaw.encode($0) }
            }
            rtp.send(packet(sender.next(payloadType: 0, samples: 160), payload: payload), to: daemonRTPPort)
            usleep(pauseMicroseconds)
        }
    }

    /// Sends `packets` of PCMU silence, 20 ms apart (time passes on the stream, as between two keys).
    func talk(packets: Int, sender: inout RTPSenderState) {
        for _ in 0..<packets {
            rtp.send(packet(sender.next(payloadType: 0, samples: 160), payload: [UInt8](repeating: 0xFF, count: 160)), to: daemonRTPPort)
            usleep(20_000)
        }
    }

    /// Hangs up from our side and waits for the 200.
    func hangUp(_ daemon: Daemon) throws -> SIPResponse? {
        var bye = SIPFixtures.request(
            .bye, uri: "sip:\(invite.uri.user ?? "")@127.0.0.1:\(daemon.sipPort)", branch: "z9hG4bKbye\(sip.port)", viaPort: sip.port, rport: true,
            toTag: answer.to.tag, callID: invite.callID, cseq: 2)
        bye.contact = []
        sip.send(bye.serialized(), to: daemon.sipPort)
        while let bytes = sip.receive() {
            if case .response(let r) = try SIPParser().parse(bytes), r.cseq.method == .bye { return r }
        }
        return nil
    }
}

/// An agent's SIP phone from raw sockets: registers with digest credentials, then answers the
/// INVITEs the daemon sends it the way a desk phone does (180, then 200 with SDP).
final class AgentPhone {
    let user: String
    let sip: UDPProbe
    let rtp: UDPProbe
    let daemon: Daemon
    /// The INVITE being handled.
    var invite: SIPRequest?

    init(_ user: String, daemon: Daemon) throws {
        self.user = user
        self.daemon = daemon
        sip = try UDPProbe(timeoutMilliseconds: 3000)
        rtp = try UDPProbe(timeoutMilliseconds: 1000)
        try register()
    }

    /// A phone that does not register, on a socket made before the daemon (whose configuration
    /// names its port): a carrier's far end, or a forwarding target.
    init(unregistered user: String, sip: UDPProbe, daemon: Daemon) throws {
        self.user = user
        self.daemon = daemon
        self.sip = sip
        rtp = try UDPProbe(timeoutMilliseconds: 1000)
    }

    private func register() throws {
        try Self.register(user, daemon: daemon, from: sip, contactPort: sip.port)
    }

    /// Registers `user` (password `secret<user>`) with digest over the wire from `probe`, with
    /// the Contact at `contactPort` on 127.0.0.1 (another process may answer for the phone).
    static func register(_ user: String, daemon: Daemon, from probe: UDPProbe, contactPort: Int) throws {
        func send(_ cseq: UInt32, authorization: String?) throws -> SIPResponse {
            var req = SIPFixtures.request(
                .register, uri: "sip:127.0.0.1:\(daemon.sipPort)", branch: "z9hG4bKreg\(user)\(cseq)", viaPort: probe.port, rport: true,
                callID: "reg-\(user)-\(probe.port)", cseq: cseq, extraHeaders: [("Expires", "300")], fromUser: user)
            req.to = SIPNameAddr(uri: try SIPURI.parse("sip:\(user)@127.0.0.1"))
            req.contact = [.address(SIPNameAddr(uri: try SIPURI.parse("sip:\(user)@127.0.0.1:\(contactPort)")))]
            if let authorization { req.headers.add(.authorization, authorization) }
            probe.send(req.serialized(), to: daemon.sipPort)
            while let b = probe.receive() {
                if case .response(let r) = try SIPParser().parse(b), r.status.isFinal, r.cseq.sequence == cseq { return r }
            }
            throw ProbeError("no answer to REGISTER")
        }
        let challenge = try send(1, authorization: nil)
        var client = DigestClient(username: user, password: "secret\(user)")
        var signed = SIPFixtures.request(.register, uri: "sip:127.0.0.1:\(daemon.sipPort)")
        guard client.authorize(&signed, challengedBy: challenge), let auth = signed.headers[.authorization] else { throw ProbeError("cannot answer the challenge") }
        let done = try send(2, authorization: auth)
        guard done.status == .ok else { throw ProbeError("REGISTER of \(user) got \(done.status.rawValue)") }
    }

    /// Next SIP request from the daemon (retransmissions of one already seen are skipped).
    func nextRequest(_ method: SIPMethod, timeoutMilliseconds: Int32 = 3000) throws -> SIPRequest? {
        let deadline = Date().addingTimeInterval(Double(timeoutMilliseconds) / 1000)
        while Date() < deadline {
            guard let b = sip.receive(timeoutMilliseconds: 200) else { continue }
            if case .request(let r) = try SIPParser().parse(b), r.method == method { return r }
        }
        return nil
    }

    func respond(_ request: SIPRequest, _ status: SIPStatus, sdp: Bool = false) {
        var r = SIPFixtures.response(to: request, status, toTag: "phone\(user)")
        if sdp {
            let body = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio \(rtp.port) RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
            r.body = Array(body.utf8)
            r.headers.set(.contentType, "application/sdp")
            r.contact = [.address(SIPNameAddr(uri: try! SIPURI.parse("sip:\(user)@127.0.0.1:\(sip.port)")))]
        }
        sip.send(r.serialized(), to: daemon.sipPort)
    }

    /// Dials `number` from this phone (digest-authenticated INVITE), listens to what the daemon
    /// plays until it hangs up, and returns the audio heard.
    func dial(_ number: String) throws -> [Int16] {
        let tag = UUID().uuidString.prefix(8)
        let callID = "dial-\(user)-\(tag)"
        let offer = "v=0\r\no=- 3 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio \(rtp.port) RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
        func invite(_ cseq: UInt32, _ auth: String?) -> SIPRequest {
            var r = SIPFixtures.request(
                .invite, uri: "sip:\(number)@127.0.0.1:\(daemon.sipPort)", branch: "z9hG4bKdial\(cseq)\(tag)", viaPort: sip.port, rport: true,
                fromTag: "ph\(user)", callID: callID, cseq: cseq, body: Array(offer.utf8), fromUser: user)
            if let auth { r.headers.add(.proxyAuthorization, auth) }
            return r
        }
        func final(_ request: SIPRequest) throws -> SIPResponse {
            sip.send(request.serialized(), to: daemon.sipPort)
            while let b = sip.receive() {
                if case .response(let r) = try SIPParser().parse(b), r.status.isFinal, r.cseq.sequence == request.cseq.sequence { return r }
            }
            throw ProbeError("no final answer to the INVITE")
        }
        let first = invite(1, nil)
        let challenge = try final(first)
        guard challenge.status == .proxyAuthenticationRequired else { throw ProbeError("expected 407, got \(challenge.status.rawValue)") }
        var ack = SIPFixtures.request(.ack, uri: first.uri.description, branch: "z9hG4bKdial1\(tag)", viaPort: sip.port, rport: true, fromTag: "ph\(user)", toTag: challenge.to.tag, callID: callID, cseq: 1, fromUser: user)
        sip.send(ack.serialized(), to: daemon.sipPort)
        var client = DigestClient(username: user, password: "secret\(user)")
        var signed = invite(2, nil)
        guard client.authorize(&signed, challengedBy: challenge), let auth = signed.headers[.proxyAuthorization] else { throw ProbeError("cannot answer the 407") }
        let ok = try final(invite(2, auth))
        guard ok.status == .ok else { throw ProbeError("dialling \(number) got \(ok.status.rawValue)") }
        ack = SIPFixtures.request(.ack, uri: first.uri.description, branch: "z9hG4bKdialack\(tag)", viaPort: sip.port, rport: true, fromTag: "ph\(user)", toTag: ok.to.tag, callID: callID, cseq: 2, fromUser: user)
        sip.send(ack.serialized(), to: daemon.sipPort)
        var heard: [Int16] = []
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if let d = rtp.receive(timeoutMilliseconds: 20), let h = try? d.withUnsafeBytes({ try RTPHeader.parse($0) }), h.payloadType == 0 {
                heard += d[h.payloadOffset..<(h.payloadOffset + h.payloadLength)].map { G711.ulaw.decode($0) }
            }
            if let b = sip.receive(timeoutMilliseconds: 1), case .request(let r) = try SIPParser().parse(b), r.method == .bye {
                sip.send(r.response(.ok).serialized(), to: daemon.sipPort)
                return heard
            }
        }
        throw ProbeError("the daemon did not hang up after \(number)")
    }

    /// Sends a re-INVITE in the answered call with our audio `direction` (hold: sendonly;
    /// retrieve: sendrecv), waits for the 200 and ACKs it.
    func reinvite(direction: String, cseq: UInt32) throws -> SIPResponse {
        let inv = try #require(invite)
        let target = try #require(inv.contact.first.flatMap { if case .address(let a) = $0 { a.uri } else { nil } })
        let body = "v=0\r\no=- 2 \(cseq) IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio \(rtp.port) RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=\(direction)\r\n"
        var req = SIPFixtures.request(
            .invite, uri: target.description, branch: "z9hG4bKre\(cseq)\(sip.port)", viaPort: sip.port, rport: true, fromTag: "phone\(user)",
            toTag: inv.from.tag, callID: inv.callID, cseq: cseq, body: Array(body.utf8), fromUser: user)
        req.to = SIPNameAddr(uri: inv.from.uri, parameters: SIPParameters([("tag", inv.from.tag ?? "")]))
        sip.send(req.serialized(), to: daemon.sipPort)
        while let b = sip.receive() {
            guard case .response(let r) = try SIPParser().parse(b), r.cseq.sequence == cseq, r.status.isFinal else { continue }
            var ack = SIPFixtures.request(
                .ack, uri: target.description, branch: "z9hG4bKreack\(cseq)\(sip.port)", viaPort: sip.port, rport: true, fromTag: "phone\(user)",
                toTag: inv.from.tag, callID: inv.callID, cseq: cseq, fromUser: user)
            ack.to = req.to
            sip.send(ack.serialized(), to: daemon.sipPort)
            return r
        }
        throw ProbeError("no answer to the re-INVITE")
    }

    /// Sends REFER in the answered call (a blind transfer to `target`); returns the final response.
    /// `referTo` gives the whole Refer-To URI (an attended transfer's, with `?Replaces=`).
    func refer(to target: String, cseq: UInt32, referTo: String? = nil) throws -> SIPResponse {
        let inv = try #require(invite)
        let contact = try #require(inv.contact.first.flatMap { if case .address(let a) = $0 { a.uri } else { nil } })
        var req = SIPFixtures.request(
            .refer, uri: contact.description, branch: "z9hG4bKrefer\(cseq)\(sip.port)", viaPort: sip.port, rport: true, fromTag: "phone\(user)",
            toTag: inv.from.tag, callID: inv.callID, cseq: cseq, extraHeaders: [("Refer-To", "<\(referTo ?? "sip:\(target)@127.0.0.1")>")], fromUser: user)
        req.to = SIPNameAddr(uri: inv.from.uri, parameters: SIPParameters([("tag", inv.from.tag ?? "")]))
        sip.send(req.serialized(), to: daemon.sipPort)
        while let b = sip.receive() {
            if case .response(let r) = try SIPParser().parse(b), r.cseq.sequence == cseq, r.cseq.method == .refer, r.status.isFinal { return r }
        }
        throw ProbeError("no answer to the REFER")
    }

    /// Hangs up the answered call from the phone (BYE); returns the daemon's final answer.
    func hangUp(cseq: UInt32 = 20) throws -> SIPResponse? {
        let inv = try #require(invite)
        let contact = try #require(inv.contact.first.flatMap { if case .address(let a) = $0 { a.uri } else { nil } })
        var bye = SIPFixtures.request(
            .bye, uri: contact.description, branch: "z9hG4bKpbye\(cseq)\(sip.port)", viaPort: sip.port, rport: true, fromTag: "phone\(user)",
            toTag: inv.from.tag, callID: inv.callID, cseq: cseq, fromUser: user)
        bye.to = SIPNameAddr(uri: inv.from.uri, parameters: SIPParameters([("tag", inv.from.tag ?? "")]))
        sip.send(bye.serialized(), to: daemon.sipPort)
        let deadline = Date().addingTimeInterval(3)
        while Date() < deadline, let b = sip.receive(timeoutMilliseconds: 500) {
            if case .response(let r) = try SIPParser().parse(b), r.cseq.method == .bye, r.status.isFinal { return r }
        }
        return nil
    }

    /// Answers every in-dialog request (NOTIFY, BYE) with 200 until a BYE came; returns the
    /// NOTIFY bodies seen.
    func answerUntilBye() throws -> [String] {
        var notifies: [String] = []
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            guard let b = sip.receive(timeoutMilliseconds: 200), case .request(let r) = try SIPParser().parse(b) else { continue }
            respond(r, .ok)
            if r.method == .notify { notifies.append(String(decoding: r.body, as: UTF8.self)) }
            if r.method == .bye { return notifies }
        }
        throw ProbeError("no BYE for agent \(user)")
    }

    /// Waits for a call and rings without answering until the daemon cancels it; answers the
    /// CANCEL and the INVITE (487) as RFC 3261 §9.2 asks. Returns whether a CANCEL came.
    func ringUntilCancelled(timeoutMilliseconds: Int32 = 5000) throws -> Bool {
        let inv = try #require(try nextRequest(.invite), "agent \(user)'s phone was not called")
        invite = inv
        respond(inv, .ringing)
        guard let cancel = try nextRequest(.cancel, timeoutMilliseconds: timeoutMilliseconds) else { return false }
        respond(cancel, .ok)
        respond(inv, .requestTerminated)
        _ = try nextRequest(.ack)
        return true
    }

    /// Waits for a call and refuses it with `status` (486 Busy Here, say).
    func refuseNextCall(_ status: SIPStatus) throws {
        let inv = try #require(try nextRequest(.invite), "agent \(user)'s phone was not called")
        invite = inv
        respond(inv, status)
        _ = try nextRequest(.ack)
    }

    /// Waits for a call, rings, answers; returns the daemon's RTP port for this leg.
    func answerNextCall(ringFor seconds: Double = 0.2) throws -> Int {
        let inv = try #require(try nextRequest(.invite), "agent \(user)'s phone was not called")
        invite = inv
        respond(inv, .ringing)
        usleep(UInt32(seconds * 1_000_000))
        respond(inv, .ok, sdp: true)
        _ = try #require(try nextRequest(.ack), "no ACK for the agent's 200")
        return try #require(SDPSession.parse(inv.body).media.first?.port)
    }
}
