import Logging
public import SIP
public import SIPMessage

/// Builds requests and responses for tests from a few fields.
public enum SIPFixtures {
    public static func request(
        _ method: SIPMethod, uri: String = "sip:100@127.0.0.1:5060", branch: String = "z9hG4bKtest1",
        viaHost: String = "127.0.0.1", viaPort: Int = 5070, transport: String = "UDP", rport: Bool = false,
        fromTag: String = "caller1", toTag: String? = nil, callID: String = "call-1@test", cseq: UInt32 = 1,
        maxForwards: Int = 70, extraHeaders: [(String, String)] = [], body: [UInt8] = [], fromUser: String = "caller"
    ) -> SIPRequest {
        var via = SIPVia(transport: transport, host: viaHost, port: viaPort, branch: branch)
        if rport { via.parameters["rport"] = .some(nil) }
        var to = SIPNameAddr(uri: try! SIPURI.parse(String(uri.split(separator: ";")[0])))
        to.uri.parameters = SIPParameters()
        to.tag = toTag
        var headers = SIPHeaders()
        for (n, v) in extraHeaders { headers.add(SIPHeaderName(n), v) }
        if !body.isEmpty { headers.add(.contentType, "application/sdp") }
        return SIPRequest(
            method: method, uri: try! SIPURI.parse(uri), via: [via],
            from: SIPNameAddr(uri: try! SIPURI.parse("sip:\(fromUser)@\(viaHost)"), parameters: SIPParameters([("tag", fromTag)])),
            to: to, callID: callID, cseq: SIPCSeq(cseq, method), maxForwards: maxForwards,
            contact: [.address(SIPNameAddr(uri: try! SIPURI.parse("sip:\(fromUser)@\(viaHost):\(viaPort)")))],
            headers: headers, body: body)
    }

    public static func bytes(_ request: SIPRequest) -> [UInt8] { request.serialized() }

    /// A response to `request` as a far-end UA would send it.
    public static func response(to request: SIPRequest, _ status: SIPStatus, toTag: String? = "callee1", body: [UInt8] = []) -> SIPResponse {
        var r = request.response(status, toTag: toTag)
        r.body = body
        if !body.isEmpty { r.headers.add(.contentType, "application/sdp") }
        return r
    }

    /// A stack on a manual clock and a fake transport.
    public static func stack(timers: SIPTimerValues = SIPTimerValues()) -> (SIPStack, ManualScheduler, FakeTransport) {
        let scheduler = ManualScheduler()
        let transport = FakeTransport()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let stack = SIPStack(configuration: .init(timers: timers), scheduler: scheduler, transport: transport, logger: logger)
        return (stack, scheduler, transport)
    }
}
