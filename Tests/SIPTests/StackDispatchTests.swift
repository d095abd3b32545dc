import Foundation
import SIP
import SIPMessage
import TestSupport
import Testing

@Suite struct StackDispatchTests {
    let peer = SIPPeer.udp(5070)

    func answer(_ request: SIPRequest, handlers: [any SIPRequestHandler] = []) -> [SIPResponse] {
        let (stack, _, transport) = SIPFixtures.stack()
        stack.handlers = handlers
        stack.receive(request.serialized(), from: peer)
        return transport.responses
    }

    @Test func unknownMethodGets501WithAllow() throws {
        let r = try #require(answer(SIPFixtures.request(SIPMethod("FOO"))).first)
        #expect(r.status == .notImplemented)
        #expect(r.headers[.allow]?.contains("INVITE") == true)
        #expect(r.to.tag != nil)
    }

    @Test func knownButUnhandledMethodGets405() throws {
        #expect(answer(SIPFixtures.request(.subscribe)).first?.status == .methodNotAllowed)
    }

    @Test func requestInAnUnknownDialogGets481() {
        #expect(answer(SIPFixtures.request(.bye, toTag: "gone")).first?.status == .callDoesNotExist)
        #expect(answer(SIPFixtures.request(.invite, toTag: "gone")).map(\.status) == [.trying, .callDoesNotExist])
    }

    @Test func maxForwardsZeroGets483() {
        let recorder = Recorder()
        #expect(answer(SIPFixtures.request(.options, maxForwards: 0), handlers: [recorder]).first?.status == .tooManyHops)
        #expect(recorder.transactions.isEmpty)
    }

    @Test func unknownSchemeGets416() {
        #expect(answer(SIPFixtures.request(.options, uri: "im:someone@example.com")).first?.status == SIPStatus(416))
    }

    @Test func unsupportedRequireGets420() throws {
        let r = try #require(answer(SIPFixtures.request(.options, extraHeaders: [("Require", "100rel, foo")])).first)
        #expect(r.status == .badExtension)
        #expect(r.headers[.unsupported] == "100rel, foo")
    }

    /// CANCEL: 200 for the CANCEL, 487 for the INVITE, and the INVITE's owner is told.
    @Test func cancelTerminatesThePendingInvite() throws {
        let (stack, _, transport) = SIPFixtures.stack()
        let recorder = Recorder()
        stack.handlers = [recorder]
        let invite = SIPFixtures.request(.invite)
        stack.receive(invite.serialized(), from: peer)
        var cancelled = false
        try #require(recorder.transactions.first).onCancel = { cancelled = true }
        var cancel = SIPFixtures.request(.cancel)
        cancel.via = invite.via
        stack.receive(cancel.serialized(), from: peer)
        #expect(cancelled)
        let statuses = transport.responses.map { "\($0.status.rawValue) \($0.cseq.method)" }
        #expect(statuses == ["100 INVITE", "200 CANCEL", "487 INVITE"])
        // The 200 for CANCEL carries the INVITE's To tag (§9.2).
        #expect(transport.responses[1].to.tag == recorder.transactions[0].toTag)
        // A CANCEL for nothing gets 481.
        var stray = SIPFixtures.request(.cancel, branch: "z9hG4bKnothing")
        stray.callID = "other"
        stack.receive(stray.serialized(), from: peer)
        #expect(transport.responses.last?.status == .callDoesNotExist)
    }

    /// A request that parses far enough gets `400 <reason>` naming the fault; a wrong version gets 505.
    @Test func brokenRequestsAreAnsweredWithTheReason() throws {
        let (stack, _, transport) = SIPFixtures.stack()
        var bytes = SIPFixtures.request(.options).serialized()
        bytes.insert(contentsOf: Array("X-Broken line\r\n".utf8), at: firstHeaderOffset(bytes))
        stack.receive(bytes, from: peer)
        let r = try #require(transport.drain().first?.response)
        #expect(r.status == .badRequest)
        #expect(r.reason.contains("colon"))
        let v7 = String(decoding: SIPFixtures.request(.options).serialized(), as: UTF8.self).replacingOccurrences(of: "SIP/2.0\r\n", with: "SIP/7.0\r\n")
        stack.receive(Array(v7.utf8), from: peer)
        #expect(transport.drain().first?.response?.status == .versionNotSupported)
        // Garbage that names no one is dropped.
        stack.receive(Array("\u{1}\u{2}hello".utf8), from: peer)
        #expect(transport.drain().isEmpty)
        #expect(stack.statistics.parseErrors == 3)
    }

    @Test func sourceFilterSeesFailuresAndCanDrop() {
        final class Filter: SIPSourceFilter {
            var failures: [String] = []
            var open = true
            func admit(_ peer: SIPPeer) -> Bool { open }
            func recordFailure(_ peer: SIPPeer, reason: String) { failures.append(reason) }
        }
        let (stack, _, transport) = SIPFixtures.stack()
        let filter = Filter()
        stack.sourceFilter = filter
        stack.receive(Array("garbage".utf8), from: peer)
        stack.receive(SIPFixtures.request(.options, maxForwards: 0).serialized(), from: peer)
        #expect(filter.failures.count == 2)
        filter.open = false
        transport.sent.removeAll()
        stack.receive(SIPFixtures.request(.options, branch: "z9hG4bKx").serialized(), from: peer)
        #expect(transport.sent.isEmpty && stack.statistics.filtered == 1)
    }

    @Test func tcpKeepAliveGetsAPong() {
        let (stack, _, transport) = SIPFixtures.stack()
        stack.receive([13, 10, 13, 10], from: .tcp(5070))
        #expect(transport.sent.map(\.bytes) == [[13, 10]])
    }

    private func firstHeaderOffset(_ bytes: [UInt8]) -> Int { bytes.firstIndex(of: 0x0A)! + 1 }
}

