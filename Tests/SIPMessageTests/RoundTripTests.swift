import TestSupport
import Testing

@testable import SIPMessage

@Suite struct RoundTripTests {
    /// Parsing what we serialize gives back the same message, and serializing again the same bytes.
    @Test(arguments: [basicInvite, ipv6Options, registerWithAuth])
    func parseSerializeParse(_ text: String) throws {
        let first = try SIPParser().parse(crlf(text))
        let bytes = first.serialized()
        let second = try SIPParser().parse(bytes, streamed: true)
        #expect(first == second)
        #expect(second.serialized() == bytes)
    }

    @Test func builtRequestSerializesAsExpected() throws {
        var via = SIPVia(transport: "udp", host: "127.0.0.1", port: 5060, branch: "z9hG4bK1")
        via.parameters["rport"] = .some(nil)
        var req = SIPRequest(
            method: .bye, uri: try SIPURI.parse("sip:1001@127.0.0.1:5070"), via: [via],
            from: SIPNameAddr(displayName: "ACD \"main\"", uri: try SIPURI.parse("sip:100@127.0.0.1"), parameters: SIPParameters([("tag", "a")])),
            to: SIPNameAddr(uri: try SIPURI.parse("sip:1001@127.0.0.1"), parameters: SIPParameters([("tag", "b")])),
            callID: "c1", cseq: SIPCSeq(2, .bye))
        req.headers.add(.userAgent, "acdd")
        let text = String(decoding: req.serialized(), as: UTF8.self)
        #expect(
            text == """
                BYE sip:1001@127.0.0.1:5070 SIP/2.0\r
                Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1;rport\r
                Max-Forwards: 70\r
                From: "ACD \\"main\\"" <sip:100@127.0.0.1>;tag=a\r
                To: <sip:1001@127.0.0.1>;tag=b\r
                Call-ID: c1\r
                CSeq: 2 BYE\r
                User-Agent: acdd\r
                Content-Length: 0\r
                \r

                """)
        guard case .request(let back) = try SIPParser().parse(req.serialized()) else { return }
        #expect(back.from.displayName == "ACD \"main\"")
    }

    @Test func responseCopiesTheRightHeaders() throws {
        let r = try request(basicInvite)
        let resp = r.response(.ok, toTag: "xyz")
        #expect(resp.via == r.via && resp.from == r.from && resp.callID == r.callID && resp.cseq == r.cseq)
        #expect(resp.to.tag == "xyz")
        #expect(r.response(.trying, toTag: "xyz").to.tag == nil)
    }

    /// Cut and mutate valid messages in many ways: every outcome is a message or a thrown error.
    /// Bounded: a fixed seed and 30,000 inputs.
    @Test func mutatedInputNeverTraps() {
        var rng = SplitMix64(seed: 0x5EED)
        let seeds = [crlf(basicInvite), crlf(ipv6Options), crlf(registerWithAuth)]
        let alphabet = Array(" \t\r\n:;,<>\"\\@[]=%0zZ/".utf8) + [0, 0x7F, 0xFF]
        var accepted = 0
        for i in 0..<30_000 {
            var m = seeds[i % seeds.count]
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let pos = Int(rng.next() % UInt64(m.count))
                switch rng.next() % 4 {
                case 0: m[pos] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                case 1: m.remove(at: pos)
                case 2: m.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: pos)
                default: m = Array(m.prefix(pos))
                }
                if m.isEmpty { break }
            }
            if let message = try? SIPParser().parse(m) {
                accepted += 1
                // What parses must serialize and parse again.
                #expect((try? SIPParser().parse(message.serialized())) != nil)
            }
        }
        #expect(accepted > 0)
    }
}

@Suite struct URITests {
    @Test(arguments: [
        "sip:alice@atlanta.com", "sips:alice:secret@atlanta.com;transport=tcp", "sip:+1-212-555-1212:1234@gateway.com;user=phone",
        "sip:alice@192.0.2.4:5070", "sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com", "sip:alice;day=tuesday@atlanta.com",
        "sip:[2001:db8::1]:5060", "tel:+358-555-1234567;postd=pp22", "sip:host.example.com.",
    ])
    func roundTrips(_ text: String) throws {
        #expect(try SIPURI.parse(text).description == text)
    }

    /// RFC 3261 §19.1.4's equivalence examples.
    @Test func equivalence() throws {
        func eq(_ a: String, _ b: String) throws -> Bool { try SIPURI.parse(a).isEquivalent(to: SIPURI.parse(b)) }
        #expect(try eq("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"))
        #expect(try eq("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"))
        #expect(try !eq("sip:alice@atlanta.com", "sip:ALICE@atlanta.com"))
        #expect(try !eq("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"))
        #expect(try !eq("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"))
        #expect(try !eq("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"))
    }

    @Test func hostValidation() {
        #expect(isValidHost("example.com") && isValidHost("127.0.0.1") && isValidHost("a-b.c"))
        #expect(!isValidHost("256.1.1.1") && !isValidHost("a..b") && !isValidHost("-a.com") && !isValidHost("1.2.3"))
        #expect(isValidIPv6("::1") && isValidIPv6("2001:db8::1") && isValidIPv6("::ffff:192.0.2.1") && isValidIPv6("1:2:3:4:5:6:7:8"))
        #expect(!isValidIPv6("1:2:3:4:5:6:7:8:9") && !isValidIPv6("::1::") && !isValidIPv6("12345::") && !isValidIPv6(":"))
    }

    @Test func addressBytes() {
        #expect(parseIPAddress("192.0.2.1") == [192, 0, 2, 1])
        #expect(parseIPAddress("::1") == Array(repeating: 0, count: 15) + [1])
        #expect(parseIPAddress("::") == Array(repeating: 0, count: 16))
        #expect(parseIPAddress("2001:db8::ff00:42:8329") == [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0x42, 0x83, 0x29])
        #expect(parseIPAddress("::ffff:192.0.2.1") == Array(repeating: 0, count: 10) + [0xff, 0xff, 192, 0, 2, 1])
        #expect(parseIPAddress("1:2:3:4:5:6:192.0.2.1")?.count == 16)
        for bad in ["+1.2.3.4", "1.2.3", "256.1.1.1", "1.2.3.4.5", "+1::", "1::2::3", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "::g",
            "example.com", "", "[::1]", "1:2:3:4:5:6:7:1.2.3.4", ":1:2:3:4:5:6:7"]
        {
            #expect(parseIPAddress(bad) == nil, "\(bad)")
        }
    }
}

@Suite struct SDPTests {
    let offer = crlf(
        """
        v=0
        o=- 1 2 IN IP4 192.0.2.10
        s=call
        c=IN IP4 192.0.2.10
        t=0 0
        a=tool:test
        m=audio 49170 RTP/AVP 9 0 8 101
        a=rtpmap:9 G722/8000
        a=rtpmap:0 PCMU/8000
        a=rtpmap:101 telephone-event/8000
        a=fmtp:101 0-15
        a=ptime:20
        a=sendonly

        """)

    @Test func parsesMediaAndAttributes() throws {
        let sdp = try SDPSession.parse(offer)
        #expect(sdp.origin.address == "192.0.2.10" && sdp.origin.sessionVersion == 2)
        #expect(sdp.connection?.address == "192.0.2.10")
        let m = try #require(sdp.media.first)
        #expect(m.formats == ["9", "0", "8", "101"])
        #expect(m.rtpmap("101")?.encoding == "telephone-event")
        #expect(m.rtpmap("9")?.clockRate == 8000)
        #expect(m.fmtp("101") == "0-15")
        #expect(m.direction == .sendonly)
        #expect(m.attribute("ptime") == "20")
        #expect(try SDPSession.parse(sdp.serialized()) == sdp)
    }

    @Test(arguments: [
        ("o=- 1 2 IN IP4 1.2.3.4\nv=0\ns=-\nt=0 0\n", "v="),
        ("v=1\no=- 1 2 IN IP4 1.2.3.4\ns=-\nt=0 0\n", "version"),
        ("v=0\ns=-\no=- 1 2 IN IP4 1.2.3.4\nt=0 0\n", "o="),
        ("v=0\no=- 1 IN IP4 1.2.3.4\ns=-\nt=0 0\n", "o="),
        ("v=0\no=- 1 2 IN IP4 1.2.3.4\ns=-\n", "t="),
        ("v=0\no=- 1 2 IN IP4 1.2.3.4\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 0\n", "connection"),
        ("v=0\no=- 1 2 IN IP4 1.2.3.4\ns=-\nc=IN IP4 999.1.1.1\nt=0 0\n", "connection address"),
        ("v=0\no=- 1 2 IN IP4 1.2.3.4\ns=-\nc=IN IP4 1.2.3.4\nt=0 0\nm=audio 70000 RTP/AVP 0\n", "port"),
        ("v=0\no=- 1 2 IN IP4 1.2.3.4\ns=-\nc=IN IP4 1.2.3.4\nt=0 0\nm=audio 4000 RTP/AVP 0 200\n", "payload"),
        ("v=0\no=- 1 2 IN IP4 1.2.3.4\ns=-\nc=IN IP4 1.2.3.4\nt=0 0\nm=audio 4000 RTP/AVP\n", "m="),
        ("v=0\no=- 1 2 IN IP4 1.2.3.4\ns=-\nt=0 0\nq=nonsense\n", "unknown"),
        ("v=0\no=- 1 2 IN IP4 1.2.3.4\ns=-\nt=0 0\nm=audio 0 RTP/AVP 0\nt=0 0\n", "media section"),
        ("v=0\no=- 1 2 IN IP4 1.2.3.4\ns=-\nt=0 0\nthis is not sdp\n", "x=value"),
    ])
    func malformed(_ text: String, _ mentions: String) {
        do {
            _ = try SDPSession.parse(crlf(text))
            Issue.record("accepted")
        } catch {
            #expect(error.code == .malformedBody)
            #expect(error.detail.contains(mentions), "\(error.detail)")
        }
    }
}


let ipv6Options = """
    OPTIONS sip:[2001:db8::10]:5070;transport=udp SIP/2.0
    Via: SIP/2.0/UDP [2001:db8::9:1]:5070;branch=z9hG4bKas3-111;rport
    From: "Caller" <sip:caller@[2001:db8::1]>;tag=323
    To: <sip:user@[::ffff:192.0.2.1]>
    Call-ID: ipv6@example.com
    CSeq: 1 OPTIONS
    Accept: application/sdp, text/plain
    Route: <sip:proxy1.example.com;lr>, <sip:proxy2.example.com;lr>
    Content-Length: 0


    """

let registerWithAuth = """
    REGISTER sip:127.0.0.1 SIP/2.0
    Via: SIP/2.0/TCP 127.0.0.1:5071;branch=z9hG4bKreg1
    From: <sip:1001@127.0.0.1>;tag=r1
    To: <sip:1001@127.0.0.1>
    Call-ID: reg-1
    CSeq: 2 REGISTER
    Contact: <sip:1001@127.0.0.1:5071;transport=tcp>;expires=600;+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"
    Authorization: Digest username="1001", realm="acd", nonce="abc", uri="sip:127.0.0.1", response="00", algorithm=MD5, qop=auth, nc=00000001, cnonce="x"
    Expires: 600
    Content-Length: 0


    """
