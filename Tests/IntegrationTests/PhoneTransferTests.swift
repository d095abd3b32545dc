import Foundation
import JSON
import Media
import SIP
import SIPMessage
import TestSupport
import Testing

/// The attended transfer from an agent's own phone (FEATURES A4, RFC 5589 §7, RFC 3891), against
/// the daemon on its default configuration with plain SIP/RTP phones and caller: hold, a second
/// line to another agent, REFER with Replaces naming it.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct PhoneTransferTests {
    /// A call from `phone`'s SIP socket on a port of its own: the phone's second line.
    struct Line {
        let callID: String
        let fromTag: String
        let toTag: String
        let rtp: UDPProbe
        let daemonRTPPort: Int
    }

    /// Dials `number` from the phone (digest-authenticated), as a second line with its own RTP
    /// port; returns once it is answered and ACKed.
    func secondLine(_ phone: AgentPhone, to number: String, daemon: Daemon) throws -> Line {
        let rtp = try UDPProbe(timeoutMilliseconds: 1000)
        let tag = "line\(UUID().uuidString.prefix(6))"
        let callID = "line-\(phone.user)-\(tag)"
        let offer = "v=0\r\no=- 4 4 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio \(rtp.port) RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
        func invite(_ cseq: UInt32, _ auth: String?) -> SIPRequest {
            var r = SIPFixtures.request(
                .invite, uri: "sip:\(number)@127.0.0.1:\(daemon.sipPort)", branch: "z9hG4bK\(tag)\(cseq)", viaPort: phone.sip.port, rport: true,
                fromTag: tag, callID: callID, cseq: cseq, body: Array(offer.utf8), fromUser: phone.user)
            r.headers.set(.contentType, "application/sdp")
            if let auth { r.headers.add(.proxyAuthorization, auth) }
            return r
        }
        func final(_ request: SIPRequest) throws -> SIPResponse {
            phone.sip.send(request.serialized(), to: daemon.sipPort)
            while let b = phone.sip.receive() {
                if case .response(let r) = try SIPParser().parse(b), r.callID == callID, r.status.isFinal, r.cseq.sequence == request.cseq.sequence { return r }
            }
            throw ProbeError("no final answer to the second line's INVITE")
        }
        let first = invite(1, nil)
        let challenge = try final(first)
        guard challenge.status == .proxyAuthenticationRequired else { throw ProbeError("expected 407, got \(challenge.status.rawValue)") }
        let ack407 = SIPFixtures.request(
            .ack, uri: first.uri.description, branch: "z9hG4bK\(tag)1", viaPort: phone.sip.port, rport: true, fromTag: tag, toTag: challenge.to.tag,
            callID: callID, cseq: 1, fromUser: phone.user)
        phone.sip.send(ack407.serialized(), to: daemon.sipPort)
        var client = DigestClient(username: phone.user, password: "secret\(phone.user)")
        var signed = invite(2, nil)
        guard client.authorize(&signed, challengedBy: challenge), let auth = signed.headers[.proxyAuthorization] else { throw ProbeError("cannot answer the 407") }
        let ok = try final(invite(2, auth))
        guard ok.status == .ok, let toTag = ok.to.tag, let port = try SDPSession.parse(ok.body).media.first?.port else {
            throw ProbeError("the second line to \(number) got \(ok.status.rawValue)")
        }
        let ack = SIPFixtures.request(
            .ack, uri: first.uri.description, branch: "z9hG4bK\(tag)ack", viaPort: phone.sip.port, rport: true, fromTag: tag, toTag: toTag, callID: callID,
            cseq: 2, fromUser: phone.user)
        phone.sip.send(ack.serialized(), to: daemon.sipPort)
        return Line(callID: callID, fromTag: tag, toTag: toTag, rtp: rtp, daemonRTPPort: port)
    }

    /// The phone answers what comes on its SIP socket (NOTIFY, BYE) for `seconds`: the NOTIFY
    /// bodies in order and the Call-IDs that got a BYE.
    func answerRequests(_ phone: AgentPhone, daemon: Daemon, seconds: Double, untilByes: Int = .max) throws -> (notifies: [String], byes: [String]) {
        var notifies: [String] = [], byes: [String] = []
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline, byes.count < untilByes {
            guard let b = phone.sip.receive(timeoutMilliseconds: 200), case .request(let r) = try SIPParser().parse(b) else { continue }
            phone.sip.send(r.response(.ok).serialized(), to: daemon.sipPort)
            if r.method == .notify { notifies.append(String(decoding: r.body, as: UTF8.self)) }
            if r.method == .bye { byes.append(r.callID) }
        }
        return (notifies, byes)
    }


    func state(_ daemon: Daemon) throws -> String? { try daemon.control("calls").result?.arrayValue?.first?["state"]?.stringValue }

    /// Alice holds the caller, calls Bob on her phone's second line (the caller hears neither),
    /// then sends REFER with Replaces naming that line: a Replaces naming nothing first (NOTIFY
    /// 481, the call goes on), then the right one: NOTIFY 200, BYE on both of Alice's lines, the
    /// caller and Bob talk, the queue log says ATTENDEDTRANSFER.
    @Test func theAgentsPhoneTransfersAfterASecondLine() throws {
        let daemon = try Daemon(sets: ["groups.0.wrap_up_seconds": "0"])
        defer { daemon.stop() }
        let alice = try AgentPhone("1001", daemon: daemon)
        let bob = try AgentPhone("1002", daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)
        let (call, _) = try callSales(daemon)
        _ = try alice.answerNextCall(ringFor: 0.05)
        #expect(try eventually { try state(daemon) == "bridged" })
        #expect(try daemon.control("agent.login", ["agent": "1002"]).ok)
        #expect(try alice.reinvite(direction: "sendonly", cseq: 30).status == .ok)
        #expect(try eventually { try state(daemon) == "held" })

        let line = try secondLine(alice, to: "1002", daemon: daemon)
        #expect(try eventually { try state(daemon) == "consulting" })
        let bobPort = try bob.answerNextCall(ringFor: 0.05)
        var lineVoice = RTPSenderState(), bobVoice = RTPSenderState(), callerVoice = RTPSenderState()
        usleep(100_000)
        #expect(relayed(from: line.rtp, to: bob.rtp, port: line.daemonRTPPort, seed: 1, sender: &lineVoice) >= 28, "Bob did not hear Alice's second line")
        #expect(relayed(from: bob.rtp, to: line.rtp, port: bobPort, seed: 2, sender: &bobVoice) >= 28, "Alice's second line did not hear Bob")
        #expect(relayed(from: bob.rtp, to: call.rtp, port: bobPort, seed: 3, sender: &bobVoice) == 0, "the holding caller heard Bob")

        // A Replaces that names no dialog: accepted, then NOTIFY 481; nothing else changes.
        let bogus = "sip:1002@127.0.0.1?Replaces=nosuchcall%40nowhere%3Bto-tag%3Dx%3Bfrom-tag%3Dy"
        #expect(try alice.refer(to: "1002", cseq: 31, referTo: bogus).status == .accepted)
        let refused = try answerRequests(alice, daemon: daemon, seconds: 1)
        #expect(refused.notifies.contains { $0.hasPrefix("SIP/2.0 481") }, "\(refused.notifies)")
        let stillConsulting = try state(daemon)
        #expect(refused.byes.isEmpty && stillConsulting == "consulting")

        // The real one. In Refer-To, to-tag is the daemon's tag on the second line, from-tag Alice's.
        let replaces = "\(line.callID);to-tag=\(line.toTag);from-tag=\(line.fromTag)"
        let encoded = replaces.replacingOccurrences(of: "@", with: "%40").replacingOccurrences(of: ";", with: "%3B").replacingOccurrences(of: "=", with: "%3D")
        #expect(try alice.refer(to: "1002", cseq: 32, referTo: "sip:1002@127.0.0.1?Replaces=\(encoded)").status == .accepted)
        let done = try answerRequests(alice, daemon: daemon, seconds: 3, untilByes: 2)
        #expect(done.notifies.last?.hasPrefix("SIP/2.0 200") == true, "\(done.notifies)")
        #expect(Set(done.byes) == [alice.invite?.callID ?? "", line.callID], "both of Alice's lines get BYE: \(done.byes)")
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["agent"] == "1002" })
        #expect(try state(daemon) == "bridged")
        let drained = Date().addingTimeInterval(0.5)
        while Date() < drained, call.rtp.receive(timeoutMilliseconds: 20) != nil {}
        #expect(relayed(from: call.rtp, to: bob.rtp, port: call.daemonRTPPort, seed: 4, sender: &callerVoice) >= 28, "Bob did not hear the caller")
        #expect(relayed(from: bob.rtp, to: call.rtp, port: bobPort, seed: 5, sender: &bobVoice) >= 28, "the caller did not hear Bob")

        #expect(try call.hangUp(daemon)?.status == .ok)
        if let bye = try bob.nextRequest(.bye) { bob.respond(bye, .ok) }
        _ = try eventually { try daemon.control("cdr.list").result?.arrayValue?.isEmpty == false }
        let record = try #require(try daemon.control("cdr.list").result?.arrayValue?.last)
        #expect(record["agent"] == "1002" && record["transfers"] == "attended:agent:1002", "\(record)")
        let log = (try? String(contentsOfFile: "\(daemon.state)/queue_log", encoding: .utf8)) ?? ""
        #expect(log.contains("|Agent/1001|ATTENDEDTRANSFER|BRIDGE|"), "\(log)")
        #expect(try eventually(3) { try daemon.control("agents").result?.arrayValue?.first { $0["id"] == "1001" }?["state"] == "ready" })
    }

    /// RFC 3891 §3 on a new INVITE: a Replaces naming no dialog gets 481, one naming a live
    /// dialog is declined (acdd does not hand its dialogs to a new INVITE) and that call goes on;
    /// one that does not parse gets 400.
    @Test func anInviteWithReplacesIsAnsweredAsTheRFCSays() throws {
        let daemon = try Daemon()
        defer { daemon.stop() }
        let call = try place(daemon, number: "600")  // the echo test: a live dialog
        func invite(replaces: String) throws -> SIPResponse {
            let sip = try UDPProbe()
            var r = SIPFixtures.request(
                .invite, uri: "sip:600@127.0.0.1:\(daemon.sipPort)", viaPort: sip.port, rport: true, callID: "rep-\(UUID().uuidString)",
                extraHeaders: [("Replaces", replaces)])
            r.body = Array("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n".utf8)
            r.headers.set(.contentType, "application/sdp")
            sip.send(r.serialized(), to: daemon.sipPort)
            while let b = sip.receive() {
                if case .response(let resp) = try SIPParser().parse(b), resp.status.isFinal { return resp }
            }
            throw ProbeError("no answer to the INVITE with Replaces")
        }
        #expect(try invite(replaces: "nosuch@nowhere;to-tag=a;from-tag=b").status == .callDoesNotExist)
        let live = "\(call.invite.callID);to-tag=\(call.answer.to.tag ?? "");from-tag=\(call.invite.from.tag ?? "")"
        #expect(try invite(replaces: live).status == .decline)
        #expect(try invite(replaces: "no-tags-here").status == .badRequest)
        #expect(try daemon.control("calls").result?.arrayValue?.count == 1, "the replaced call goes on")
        #expect(daemon.log.contains("its Replaces names no dialog") && daemon.log.contains("does not replace a dialog by INVITE"))
        _ = try call.hangUp(daemon)
    }
}
