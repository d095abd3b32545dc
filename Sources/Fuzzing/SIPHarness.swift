import SIPMessage
import SIP

/// What a fuzzer does with one input (issue 20): everything the daemon does with a datagram from
/// the network before any state is touched. The parsers may refuse the input, never crash, loop or
/// grow without bound on it; and what they accept must survive our own serializer, since the
/// daemon answers, relays and logs what it parsed.
///
/// Shared by the libFuzzer executables (`fuzz-sip`, `fuzz-rtp`, built with
/// `-sanitize=fuzzer,address`) and by the tests that replay the corpus and every input a fuzzer
/// ever crashed on, so a finding stays fixed.
public enum SIPHarness {
    /// One SIP datagram or stream segment.
    public static func run(_ bytes: [UInt8]) {
        let parser = SIPParser()
        _ = SIPParser.isKeepAlive(bytes)
        // The TCP framer sees partial data first: every prefix it is asked about must be
        // answered (need more, a length, or an error), never beyond the bytes it has.
        if let n = try? parser.frameLength(bytes) { check(n > 0 && n <= bytes.count, "frame length \(n) of \(bytes.count) bytes") }
        if let n = try? parser.messageLength(head: bytes) { check(n > 0, "message length \(n)") }
        for streamed in [false, true] {
            guard let message = try? parser.parse(bytes, streamed: streamed) else { continue }
            exercise(message, parser: parser)
        }
    }

    static func exercise(_ message: SIPMessage, parser: SIPParser) {
        let headers: SIPHeaders
        let body: [UInt8]
        switch message {
        case .request(let r):
            headers = r.headers
            body = r.body
            _ = r.essentials
            // Every request is answered: the answer must be a message we can parse ourselves.
            let answer = r.response(.ok, toTag: "fuzz").serialized()
            check((try? parser.parse(answer)) != nil, "our answer to a parsed request does not parse")
            let again = r.serialized()
            check((try? parser.parse(again)) != nil, "a parsed request, serialized, does not parse")
            if let replaces = r.headers[.replaces] { _ = try? SIPReplaces.parse(replaces) }
            if let target = r.headers[.init("Refer-To")], let uri = try? SIPNameAddr.parse(target, header: "Refer-To").uri { _ = try? SIPReplaces.inReferTarget(uri) }
        case .response(let r):
            headers = r.headers
            body = r.body
            check((try? parser.parse(r.serialized())) != nil, "a parsed response, serialized, does not parse")
        }
        // The header values the daemon reads by name, each through its own reader.
        for field in headers {
            let v = field.value
            switch field.name.key {
            case "via": _ = try? SIPVia.parse(v)
            case "from", "to", "route", "record-route", "refer-to", "referred-by", "p-asserted-identity", "diversion":
                _ = try? SIPNameAddr.parse(v, header: field.name.name)
            case "contact": _ = try? SIPContact.parse(v)
            case "cseq", "rack": _ = try? SIPCSeq.parse(v)
            case "authorization", "proxy-authorization", "www-authenticate", "proxy-authenticate": _ = try? SIPAuthHeader.parse(v)
            default: _ = try? SIPURI.parse(v)
            }
        }
        _ = try? headers.addresses(.route)
        _ = headers.integer(.contentLength)
        _ = headers.tokens(.allow)
        guard !body.isEmpty, let sdp = try? SDPSession.parse(body) else { return }
        check((try? SDPSession.parse(sdp.serialized())) != nil, "a parsed SDP, serialized, does not parse")
        let ours = MediaCapabilities(codecs: [.pcmu, .pcma, .g722], telephoneEvents: true, address: "127.0.0.1")
        if let (answer, _) = try? SDPNegotiation.answer(sdp, capabilities: ours, localPort: 40_000, sessionID: "1", sessionVersion: 1) {
            check((try? SDPSession.parse(answer.serialized())) != nil, "our SDP answer does not parse")
        }
        _ = try? SDPNegotiation.accept(answer: sdp, capabilities: ours)
    }

    /// A broken rule is a crash, so the fuzzer keeps the input.
    static func check(_ rule: @autoclosure () -> Bool, _ what: @autoclosure () -> String) {
        if !rule() { fatalError("fuzz rule broken: \(what())") }
    }
}
