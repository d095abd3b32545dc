import ACD
@testable import Calls
import Foundation
import Media
import NIOCore
import SIP
import SIPMessage
import Testing
import TestSupport

/// The shell's rules (admission, SDP, the agent's leg, hang-ups and the record) on the
/// `ShellFixture`: no daemon, no SIPp; each test takes well under a second alone. In `make test`
/// they share the process and the two cores with the end-to-end tests, and CI reported them at
/// 12-73 s, so the limit (a guard against hangs) is three minutes, as the end-to-end suites have.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ShellTests {
    static let trunkPort = 5080
    static let phonePort = 5999

    /// An INVITE from the trunk to 100 offering `rtp`'s port; returns the INVITE and the daemon's
    /// RTP port from its 200, after the ACK.
    func call(_ f: ShellFixture, rtp: UDPProbe, id: String = "shell-\(UUID().uuidString.prefix(6))") throws -> (SIPRequest, SIPResponse, Int) {
        let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio \(rtp.port) RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
        let invite = SIPFixtures.request(
            .invite, uri: "sip:100@127.0.0.1:5060", branch: "z9hG4bK\(id)", viaPort: Self.trunkPort, callID: id, body: Array(sdp.utf8), fromUser: "0301234567")
        try f.receive(invite, fromPort: Self.trunkPort)
        let ok = try f.await("200 for the INVITE") { s in s.response.flatMap { $0.callID == id && $0.status == .ok ? $0 : nil } }
        let port = try #require(try SDPSession.parse(ok.body).media.first?.port)
        let ack = SIPFixtures.request(.ack, uri: "sip:100@127.0.0.1:5060", branch: "z9hG4bK\(id)ack", viaPort: Self.trunkPort, toTag: ok.to.tag, callID: id)
        try f.receive(ack, fromPort: Self.trunkPort)
        return (invite, ok, port)
    }

    func press(_ key: UInt8, from rtp: UDPProbe, to port: Int) {
        var sender = RTPSenderState()
        pressRFC4733(key, from: rtp, to: port, sender: &sender)
    }

    /// A trunk's call is answered with our SDP on a port of the pool; a key over the welcome
    /// queues it in sales (no agent logged in), and the ACD writes ENTERQUEUE.
    @Test func aTrunksCallIsAnsweredAndAKeyQueuesIt() throws {
        let f = try ShellFixture()
        let rtp = try UDPProbe(timeoutMilliseconds: 500)
        let (_, ok, port) = try call(f, rtp: rtp)
        #expect((41000...41199).contains(port) && ok.headers[.contentType] == "application/sdp")
        let id = try #require(try f.calls().first?.id)
        #expect(try eventually(2, every: 0.005) { try f.state(id) == "ivr" })
        press(1, from: rtp, to: port)
        #expect(try eventually(2, every: 0.005) { try f.state(id) == "queued" })
        #expect(try f.on { f.queueLog.map(\.event) }.contains("ENTERQUEUE"))
    }

    /// The ACD's offer INVITEs the agent's device; its 180 and 200 bridge the call (CONNECT, an
    /// ACK to the phone); the caller's BYE is answered, the agent's leg gets BYE, and one record
    /// says who talked to whom.
    @Test func anOfferRingsTheDeviceAndTheCallersByeEndsBothLegs() throws {
        let f = try ShellFixture()
        try f.on { _ = f.service.acd?(.agentLogin(agent: "1001", device: "sip:1001@127.0.0.1:\(Self.phonePort)")) }
        let rtp = try UDPProbe(timeoutMilliseconds: 500)
        let (invite, ok, port) = try call(f, rtp: rtp)
        press(1, from: rtp, to: port)
        let offer = try f.await("INVITE to the agent's phone") { s in s.request.flatMap { $0.method == .invite && s.peer.port == Self.phonePort ? $0 : nil } }
        #expect(offer.headers[SIPHeaderName("X-ACD-Queue")] == "sales")
        try f.receive(SIPFixtures.response(to: offer, .ringing, toTag: "ph1"), fromPort: Self.phonePort)
        let id = try #require(try f.calls().first?.id)
        #expect(try eventually(2, every: 0.005) { try f.state(id) == "ringing" })
        let phoneRTP = try UDPProbe(timeoutMilliseconds: 500)
        let answer = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio \(phoneRTP.port) RTP/AVP 0\r\n"
        var answered = SIPFixtures.response(to: offer, .ok, toTag: "ph1", body: Array(answer.utf8))
        answered.contact = [.address(SIPNameAddr(uri: try SIPURI.parse("sip:1001@127.0.0.1:\(Self.phonePort)")))]
        try f.receive(answered, fromPort: Self.phonePort)
        _ = try f.await("ACK to the phone") { s in s.request.flatMap { $0.method == .ack && s.peer.port == Self.phonePort ? $0 : nil } }
        #expect(try eventually(2, every: 0.005) { try f.state(id) == "bridged" })
        #expect(try f.on { f.queueLog.map(\.event) }.contains("CONNECT"))

        var bye = SIPFixtures.request(
            .bye, uri: "sip:100@127.0.0.1:5060", branch: "z9hG4bKbye1", viaPort: Self.trunkPort, toTag: ok.to.tag, callID: invite.callID, cseq: 2)
        bye.contact = []
        try f.receive(bye, fromPort: Self.trunkPort)
        _ = try f.await("200 for the caller's BYE") { s in s.response.flatMap { $0.cseq.method == .bye && $0.callID == invite.callID ? $0 : nil } }
        _ = try f.await("BYE to the agent's phone") { s in s.request.flatMap { $0.method == .bye && s.peer.port == Self.phonePort ? $0 : nil } }
        #expect(try eventually(2, every: 0.005) { try f.on { f.records.count } == 1 })
        let record = try #require(try f.on { f.records.first })
        #expect(record.agent == "1001" && record.queue == "sales" && record.outcome == "connected" && record.hangupBy == "caller", "\(record)")
        #expect(try f.on { f.queueLog.map(\.event) }.contains("COMPLETECALLER"))
    }

    /// A phone that refuses (486) is a decline: the ACD rings the next agent's device.
    @Test func aRefusingDeviceSendsTheOfferToTheNextAgent() throws {
        let f = try ShellFixture()
        try f.on {
            _ = f.service.acd?(.agentLogin(agent: "1001", device: "sip:1001@127.0.0.1:\(Self.phonePort)"))
            _ = f.service.acd?(.agentLogin(agent: "1002", device: "sip:1002@127.0.0.1:\(Self.phonePort + 1)"))
        }
        let rtp = try UDPProbe(timeoutMilliseconds: 500)
        let (_, _, port) = try call(f, rtp: rtp)
        press(1, from: rtp, to: port)
        let first = try f.await("INVITE to 1001") { s in s.request.flatMap { $0.method == .invite && s.peer.port == Self.phonePort ? $0 : nil } }
        try f.receive(SIPFixtures.response(to: first, .busyHere, toTag: "ph1"), fromPort: Self.phonePort)
        _ = try f.await("INVITE to 1002") { s in s.request.flatMap { $0.method == .invite && s.peer.port == Self.phonePort + 1 ? $0 : nil } }
        #expect(try f.calls().first?.agent == "1002")
    }

    /// An INVITE from an address that is no trunk, with no credentials, is refused outright.
    @Test func aStrangerIsRefused() throws {
        let f = try ShellFixture()
        let invite = SIPFixtures.request(.invite, uri: "sip:100@127.0.0.1:5060", viaHost: "127.0.0.9", viaPort: 5090, callID: "stranger", fromUser: "nobody")
        try f.on { f.stack.receive(invite.serialized(), from: .udp(5090, ip: "127.0.0.9")) }
        let refused = try f.await("403") { s in s.response.flatMap { $0.callID == "stranger" && $0.status.isFinal ? $0 : nil } }
        #expect(refused.status == .forbidden)
        #expect(try f.calls().isEmpty)
    }

    /// A phone on 127.0.0.1:`port` answers `offer` with its own RTP port; returns after the ACK.
    func answer(_ f: ShellFixture, _ offer: SIPRequest, port: Int, user: String, tag: String) throws {
        let phoneRTP = try UDPProbe(timeoutMilliseconds: 500)
        let sdp = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio \(phoneRTP.port) RTP/AVP 0\r\n"
        var ok = SIPFixtures.response(to: offer, .ok, toTag: tag, body: Array(sdp.utf8))
        ok.contact = [.address(SIPNameAddr(uri: try SIPURI.parse("sip:\(user)@127.0.0.1:\(port)")))]
        try f.receive(ok, fromPort: port)
        _ = try f.await("ACK to \(user)") { s in s.request.flatMap { $0.method == .ack && s.peer.port == port ? $0 : nil } }
    }

    /// The first INVITE the shell sent to 127.0.0.1:`port`.
    func invite(_ f: ShellFixture, to port: Int, _ what: String) throws -> SIPRequest {
        try f.await(what) { s in s.request.flatMap { $0.method == .invite && s.peer.port == port ? $0 : nil } }
    }

    func byes(_ f: ShellFixture, to port: Int) throws -> Int {
        try f.sent().filter { $0.request?.method == .bye && $0.peer.port == port }.count
    }

    /// The caller bridged to 1001's phone (logged in at `phonePort`); 1002 is logged in at the
    /// next port. Returns the call's id.
    func bridged(_ f: ShellFixture) throws -> UInt64 {
        try f.on {
            _ = f.service.acd?(.agentLogin(agent: "1001", device: "sip:1001@127.0.0.1:\(Self.phonePort)"))
        }
        let rtp = try UDPProbe(timeoutMilliseconds: 500)
        let (_, _, port) = try call(f, rtp: rtp)
        press(1, from: rtp, to: port)
        let offer = try invite(f, to: Self.phonePort, "INVITE to 1001")
        try answer(f, offer, port: Self.phonePort, user: "1001", tag: "ph1")
        let id = try #require(try f.calls().first?.id)
        #expect(try eventually(2, every: 0.005) { try f.state(id) == "bridged" })
        try f.on { _ = f.service.acd?(.agentLogin(agent: "1002", device: "sip:1002@127.0.0.1:\(Self.phonePort + 1)")) }
        return id
    }

    /// `consult --agent 1002` rings 1002's phone while the caller holds; its answer makes the
    /// call `consulting`; the hand-over sends 1001's phone a BYE and leaves the caller with 1002,
    /// and the ACD writes ATTENDEDTRANSFER. A consult of a call that is consulting is refused.
    @Test func aConsultRingsTheSecondPhoneAndTheHandOverFreesTheFirst() throws {
        let f = try ShellFixture()
        let id = try bridged(f)
        #expect(try f.on { f.service.consult(call: id, .agent("1002")) } == .success("agent:1002"))
        let offer = try invite(f, to: Self.phonePort + 1, "INVITE to 1002")
        #expect(offer.headers[SIPHeaderName("X-ACD-Call")] != nil)
        try answer(f, offer, port: Self.phonePort + 1, user: "1002", tag: "ph2")
        #expect(try eventually(2, every: 0.005) { try f.state(id) == "consulting" })
        guard case .failure(let again) = try f.on({ f.service.consult(call: id, .agent("1002")) }) else { return #expect(Bool(false), "a second consult was taken") }
        #expect(again.description.contains("is consulting already"))
        #expect(try byes(f, to: Self.phonePort) == 0)
        #expect(try f.on { f.service.completeConsult(call: id) } == .success("agent:1002"))
        #expect(try eventually(2, every: 0.005) { try self.byes(f, to: Self.phonePort) == 1 })
        #expect(try eventually(2, every: 0.005) { try f.calls().first?.agent == "1002" && f.state(id) == "bridged" })
        #expect(try byes(f, to: Self.phonePort + 1) == 0)
        #expect(try f.on { f.queueLog.map(\.event) }.contains("ATTENDEDTRANSFER"))
    }

    /// `monitor` rings the supervisor's phone; once it answers the call shows it monitoring;
    /// `monitor-stop` sends that phone a BYE and the caller and the agent stay bridged; a second
    /// stop is refused.
    @Test func aSupervisorIsRungAndStoppedWithoutTouchingTheCall() throws {
        let f = try ShellFixture()
        let id = try bridged(f)
        let supervisorPort = Self.phonePort + 5
        #expect(try f.on { f.service.monitor(call: id, device: "sip:1003@127.0.0.1:\(supervisorPort)", mode: .listen, by: "operator:test") } == .success("1001"))
        let offer = try invite(f, to: supervisorPort, "INVITE to the supervisor")
        try answer(f, offer, port: supervisorPort, user: "1003", tag: "sup")
        #expect(try eventually(2, every: 0.005) { try f.calls().first?.monitor?.answered == true })
        #expect(try f.state(id) == "bridged")
        #expect(try f.on { f.service.monitorStop(call: id, by: "operator:test") }.map { _ in true } == .success(true))
        #expect(try eventually(2, every: 0.005) { try self.byes(f, to: supervisorPort) == 1 })
        #expect(try f.calls().first?.monitor == nil && f.state(id) == "bridged" && byes(f, to: Self.phonePort) == 0)
        guard case .failure(let again) = try f.on({ f.service.monitorStop(call: id, by: "operator:test") }) else { return #expect(Bool(false), "a second stop was taken") }
        #expect(again.description.contains("is not being monitored"))
    }

    /// A force release sends BYE to the caller and to the agent's phone, and the record names
    /// who released it.
    @Test func aForceReleaseByesEveryLegAndTheRecordSaysWho() throws {
        let f = try ShellFixture()
        let id = try bridged(f)
        #expect(try f.on { f.service.release(call: id, by: "operator:test") }.map { _ in true } == .success(true))
        let released = try eventually(2, every: 0.005) { try self.byes(f, to: Self.trunkPort) == 1 && self.byes(f, to: Self.phonePort) == 1 }
        let sent = try f.sent().compactMap { s in s.request.map { "\($0.method) \(s.peer)" } }
        #expect(released, "\(sent)")
        #expect(try eventually(2, every: 0.005) { try f.on { f.records.count } == 1 })
        let record = try #require(try f.on { f.records.first })
        #expect(record.hangupBy == "operator:test" && record.agent == "1001", "\(record)")
    }

    /// OPTIONS keep-alive (issue 20) on the manual clock: every 10 s an OPTIONS to each
    /// trunk's outbound address; an answer brings it up; two probes unanswered when the next is
    /// due mark it down, with one alarm; while it is down numbers go out on the other trunk; its
    /// next answer brings it up again, with one alarm.
    @Test func keepaliveMarksATrunkDownAndUpAndNumbersAvoidIt() throws {
        let f = try ShellFixture()
        let (first, second) = (5090, 5091)
        try f.on {
            f.service.policy.trunks[0].outbound = SIPPeer(.udp, try! SocketAddress(ipAddress: "127.0.0.1", port: first))
            f.service.policy.trunks[0].keepaliveSeconds = 10
            f.service.policy.trunks[0].keepaliveFailures = 2
            f.service.policy.trunks.append(
                .init(name: "backup", addresses: [], numbers: ["100"], outbound: SIPPeer(.udp, try! SocketAddress(ipAddress: "127.0.0.1", port: second))))
        }
        let raised = Box()
        try f.on {
            f.service.onAlarm = { kind, details in raised.items.append("\(kind) \(details["trunk"] ?? "")") }
            f.service.startTrunkKeepalive()
        }
        // Each probe once (its retransmissions carry the same branch).
        func options() throws -> [SIPRequest] {
            var seen = Set<String>()
            return try f.sent().compactMap { $0.request?.method == .options && $0.peer.port == first ? $0.request : nil }.filter { seen.insert($0.branch ?? "").inserted }
        }
        func state() throws -> TrunkHealth.State? { try f.on { f.service.trunkStates.first { $0.trunk == "carrier" }?.state } }
        func tick() throws { try f.on { f.clock.advance(by: .seconds(10)) } }
        func carrierFor() throws -> String? { try f.on { (try? f.service.locate("0301234567").get())?.trunk } }

        let probe = try #require(try options().first, "no OPTIONS to the trunk")
        #expect(probe.uri.host == "127.0.0.1" && probe.uri.port == first && probe.to.tag == nil)
        #expect(try f.sent().allSatisfy { $0.peer.port != second }, "a trunk without keep-alive was probed")
        try f.receive(SIPFixtures.response(to: probe, .ok, toTag: "carrier1"), fromPort: first)
        #expect(try state() == .up)
        #expect(try carrierFor() == "carrier")

        try tick()  // the second probe goes out
        try tick()  // unanswered: one failure; the third goes out
        #expect(try state() == .up && options().count >= 3)
        try tick()  // two in a row
        #expect(try state() == .down)
        #expect(try f.on { raised.items } == ["trunk_down carrier"])
        #expect(try carrierFor() == "backup")
        try tick()
        #expect(try f.on { raised.items }.count == 1, "down was raised twice")

        let latest = try #require(try options().last)
        try f.receive(SIPFixtures.response(to: latest, .methodNotAllowed, toTag: "carrier1"), fromPort: first)
        #expect(try state() == .up)
        #expect(try f.on { raised.items } == ["trunk_down carrier", "trunk_up carrier"])
        #expect(try carrierFor() == "carrier")
        try f.on { f.service.stopTrunkKeepalive() }
        let sent = try options().count
        try tick()
        #expect(try options().count == sent, "probes went on after stop")

        // A reload that keeps the address keeps the verdict; a new address starts afresh.
        try f.on { f.service.startTrunkKeepalive() }
        #expect(try state() == .up)
        try f.on {
            f.service.policy.trunks[0].outbound = SIPPeer(.udp, try! SocketAddress(ipAddress: "127.0.0.1", port: first + 10))
            f.service.startTrunkKeepalive()
        }
        #expect(try state() == .unknown && f.on { f.service.trunkStates.first?.target } == "127.0.0.1:\(first + 10)")
    }
}

extension ShellTests {
    /// RFC 4028 (issue 20): a trunk's INVITE asking for a 90 s session that the trunk refreshes
    /// gets it in the 200 (with Require: timer); when no refresh comes, the daemon sends BYE 60 s
    /// in (the interval less a third) and the record says the session timer ended the call.
    @Test func aCallerThatStopsRefreshingIsHungUpAndRecordedAsExpired() throws {
        let f = try ShellFixture()
        try f.on { f.service.policy.mediaTimeoutSeconds = 0 }
        let rtp = try UDPProbe(timeoutMilliseconds: 500)
        let id = "shell-session-timer"
        let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio \(rtp.port) RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
        var invite = SIPFixtures.request(
            .invite, uri: "sip:100@127.0.0.1:5060", branch: "z9hG4bK\(id)", viaPort: Self.trunkPort, callID: id, body: Array(sdp.utf8), fromUser: "0301234567")
        invite.headers.add(.supported, "timer")
        invite.headers.add(.sessionExpires, "90;refresher=uac")
        try f.receive(invite, fromPort: Self.trunkPort)
        let ok = try f.await("200 for the INVITE") { s in s.response.flatMap { $0.callID == id && $0.status == .ok ? $0 : nil } }
        #expect(ok.headers[.sessionExpires] == "90;refresher=uac" && ok.headers.tokens(.require).contains("timer"), "\(ok.headers)")
        let ack = SIPFixtures.request(.ack, uri: "sip:100@127.0.0.1:5060", branch: "z9hG4bK\(id)ack", viaPort: Self.trunkPort, toTag: ok.to.tag, callID: id)
        try f.receive(ack, fromPort: Self.trunkPort)
        let port = try #require(try SDPSession.parse(ok.body).media.first?.port)
        press(1, from: rtp, to: port)
        let call = try #require(try f.calls().first?.id)
        #expect(try eventually(2, every: 0.005) { try f.state(call) == "queued" })

        try f.on { f.clock.advance(by: .seconds(59)) }
        #expect(try byes(f, to: Self.trunkPort) == 0, "BYE before the session's time")
        try f.on { f.clock.advance(by: .seconds(2)) }
        // Unanswered here, so retransmitted on the advanced clock: at least one.
        #expect(try eventually(2, every: 0.005) { try self.byes(f, to: Self.trunkPort) >= 1 })
        #expect(try eventually(2, every: 0.005) { try f.on { f.records.count } == 1 })
        let record = try #require(try f.on { f.records.first })
        #expect(record.hangupCause == "session timer expired" && record.hangupBy == "system", "\(record)")
        #expect(try f.on { f.queueLog.map(\.event) }.contains("ABANDON"))
    }
}

/// Somewhere for a closure on the loop to put what it saw.
final class Box: @unchecked Sendable {
    // Unchecked: touched only on the fixture's loop.
    var items: [String] = []
}
