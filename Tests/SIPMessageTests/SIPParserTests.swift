import Foundation
import Testing

@testable import SIPMessage

/// Turns "\n" into CRLF so that messages can be written as readable literals.
func crlf(_ text: String) -> [UInt8] {
    var out: [UInt8] = []
    for b in text.utf8 {
        if b == 0x0A { out.append(0x0D) }
        out.append(b)
    }
    return out
}

func request(_ text: String) throws -> SIPRequest {
    guard case .request(let r) = try SIPParser().parse(crlf(text)) else { throw SIPParseError(.malformedStartLine, "not a request") }
    return r
}

let basicInvite = """
    INVITE sip:100@127.0.0.1:5060 SIP/2.0
    Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1-0
    From: sipp <sip:sipp@127.0.0.1:5070>;tag=1
    To: <sip:100@127.0.0.1:5060>
    Call-ID: 1-1@127.0.0.1
    CSeq: 1 INVITE
    Contact: sip:sipp@127.0.0.1:5070
    Max-Forwards: 70
    Subject: Performance Test
    Content-Type: application/sdp
    Content-Length: 129

    v=0
    o=user1 53655765 2353687637 IN IP4 127.0.0.1
    s=-
    c=IN IP4 127.0.0.1
    t=0 0
    m=audio 6000 RTP/AVP 0
    a=rtpmap:0 PCMU/8000

    """

@Suite struct SIPParserValidTests {
    @Test func typicalInvite() throws {
        let r = try request(basicInvite)
        #expect(r.method == .invite)
        #expect(r.uri.user == "100" && r.uri.host == "127.0.0.1" && r.uri.port == 5060)
        #expect(r.via.count == 1 && r.via[0].transport == "UDP" && r.via[0].branch == "z9hG4bK-1-0")
        #expect(r.from.displayName == "sipp" && r.from.tag == "1")
        #expect(r.to.tag == nil)
        #expect(r.callID == "1-1@127.0.0.1")
        #expect(r.cseq == SIPCSeq(1, .invite))
        #expect(r.contact.first?.nameAddr?.uri.user == "sipp")
        #expect(r.maxForwards == 70)
        #expect(r.headers[.contentType] == "application/sdp")
        #expect(r.body.count == 129)
        let sdp = try SDPSession.parse(r.body)
        #expect(sdp.media.first?.port == 6000)
    }

    /// RFC 4475 §3.1.1.1 "wsinv": folding, LWS everywhere, compact and long forms, leading zeros.
    @Test func shortTortuousInvite() throws {
        let text = """
            INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
            TO :
             sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
            from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>
              ;
              tag = 98asjd8
            MaX-fOrWaRdS: 0068
            Call-ID: wsinv.ndaksdj@192.0.2.1
            Content-Length   : 150
            cseq: 0009
              INVITE
            Via  : SIP  /   2.0
             /UDP
                192.0.2.2;rport;branch=390skdjuw
            s :
            NewFangledHeader:   newfangled value
             continued newfangled value
            UnknownHeaderWithUnusualValue: ;;,,;;,;
            Content-Type: application/sdp
            Route:
             <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
            v:  SIP  / 2.0  / TCP     spindle.example.com   ;
              branch  =   z9hG4bK9ikj8  ,
             SIP  /    2.0   / UDP  192.168.255.111   ; branch=
             z9hG4bK30239
            m:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =
                  newvalue ;
              secondparam ; q = 0.33

            v=0
            o=mhandley 29739 7272939 IN IP4 192.0.2.3
            s=-
            c=IN IP4 192.0.2.4
            t=0 0
            m=audio 49217 RTP/AVP 0 12
            m=video 3227 RTP/AVP 31
            a=rtpmap:31 LPC

            """
        let r = try request(text)
        #expect(r.to.tag == "1918181833n")
        #expect(r.from.displayName == #"J Rosenberg \""#)
        #expect(r.from.tag == "98asjd8")
        #expect(r.maxForwards == 68)
        #expect(r.cseq == SIPCSeq(9, .invite))
        #expect(r.via.map(\.transport) == ["UDP", "TCP", "UDP"])
        #expect(r.via[0].rport.present && r.via[0].branch == "390skdjuw")
        #expect(r.via[2].branch == "z9hG4bK30239")
        #expect(r.headers[SIPHeaderName("newfangledheader")] == "newfangled value continued newfangled value")
        #expect(r.headers[.subject] == "")
        #expect(r.contact.first?.nameAddr?.parameters.value("q") == "0.33")
        #expect(r.body.count == 150)
        #expect(try r.headers.addresses(.route).first?.uri.parameters.contains("lr") == true)
    }

    /// RFC 4475 §3.1.1.2 "intmeth": every character the grammar allows in method, URI and tokens.
    @Test func wideRangeOfValidCharacters() throws {
        var text = "!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0\n"
        text += "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\n"
        text += "To: \"BEL:\\\u{07} NUL:\\\u{00} DEL:\\\u{7F}\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>\n"
        text += "From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"\u{0440}\u{0430}\u{0431}\u{043E}\u{0442}\u{0430}\u{044E}\u{0449}\u{0438}\u{0439}\";tag=_token~1'+`*%!-.\n"
        text += "Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{\n"
        text += "CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\n"
        text += "Max-Forwards: 255\n"
        text += "extensionHeader-!.%*+_`'~:\u{FEFF}\u{5927}\u{505C}\u{96FB}\n"
        text += "Content-Length: 0\n\n"
        let r = try request(text)
        #expect(r.method.rawValue == "!interesting-Method0123456789_*+`.%indeed'~")
        #expect(r.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
        #expect(r.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
        #expect(r.to.displayName == "BEL:\u{07} NUL:\u{00} DEL:\u{7F}")
        #expect(r.from.displayName == "token1~` token2'+_ token3*%!.-")
        #expect(r.from.tag == "_token~1'+`*%!-.")
        #expect(r.callID == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{")
    }

    /// RFC 4475 §3.1.1.3 "esc01": escapes in the Request-URI user and in the To URI.
    @Test func validUseOfEscapes() throws {
        let r = try request(
            """
            INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0
            To: sip:%75se%72@example.com
            From: <sip:I%20have%20spaces@example.net>;tag=938
            Max-Forwards: 87
            i: esc01.239409asdfakjkn23onasd0-3234
            CSeq: 234234 INVITE
            Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw
            C: application/sdp
            Contact:
              <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>
            Content-Length: 0


            """)
        #expect(r.uri.user == "sips%3Auser%40example.com")
        #expect(r.to.uri.isEquivalent(to: try SIPURI.parse("sip:user@example.com")))
        #expect(r.headers[.contentType] == "application/sdp")
    }

    /// RFC 4475 §3.1.1.5 "lwsdisp" and §3.1.1.6 "longreq"-like: display names with and without
    /// quotes, many Via values, a long header value.
    @Test func displayNamesAndManyVias() throws {
        let longTag = String(repeating: "longlonglong", count: 50)
        let vias = (1...20).map { "Via: SIP/2.0/TCP sip\($0).example.com;branch=z9hG4bK\($0)" }.joined(separator: "\n")
        let r = try request(
            """
            OPTIONS sip:user@example.com SIP/2.0
            To: sip:user@example.com
            From: caller<sip:caller@example.com>;tag=\(longTag)
            Max-Forwards: 70
            Call-ID: lwsdisp.1234abcd@funky.example.com
            CSeq: 60 OPTIONS
            \(vias)
            l: 0


            """)
        #expect(r.from.displayName == "caller")
        #expect(r.from.tag == longTag)
        #expect(r.via.count == 20)
        #expect(r.via.last?.host == "sip20.example.com")
    }

    /// RFC 4475 §3.1.1.10 "transports", §3.1.1.11 "mpart01"-ish: unknown transports, IPv6.
    @Test func ipv6AndUnknownTransports() throws {
        let r = try request(
            """
            OPTIONS sip:[2001:db8::10]:5070;transport=udp SIP/2.0
            Via: SIP/2.0/SCTP [2001:db8::9:1];branch=z9hG4bKas3-111
            Via: SIP/2.0/UDP 192.0.2.1;received=[2001:db8::9:255];branch=z9hG4bKjhja8781hjuaij65144
            Via: SIP/2.0/UDP [2001:db8::9:255];branch=z9hG4bK,SIP/2.0/TLS 192.0.2.2:5061;branch=z9hG4bK2
            From: "Caller" <sip:caller@[2001:db8::1]>;tag=323
            To: <sip:user@[::ffff:192.0.2.1]>
            Call-ID: ipv6@example.com
            CSeq: 1 OPTIONS
            Content-Length: 0


            """)
        #expect(r.uri.host == "2001:db8::10" && r.uri.port == 5070 && r.uri.transportParameter == "udp")
        #expect(r.via.count == 4)
        #expect(r.via[0].transport == "SCTP" && r.via[0].host == "2001:db8::9:1")
        #expect(r.via[1].received == "[2001:db8::9:255]")
        #expect(r.to.uri.host == "::ffff:192.0.2.1")
        #expect(r.uri.description == "sip:[2001:db8::10]:5070;transport=udp")
    }

    /// tel URIs (RFC 3966) and an unknown scheme (RFC 4475 §3.1.1.12 "unksm2", §3.1.1.13 "novelsc").
    @Test func telAndUnknownSchemes() throws {
        let r = try request(
            """
            REGISTER tel:+1-201-555-0123;phone-context=example.com SIP/2.0
            Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKkdjuw
            To: isbn:2983792873
            From: <http://www.example.com>;tag=3234233
            Call-ID: unksm2.daksdj@hyphenated-host.example.com
            CSeq: 234902 REGISTER
            Max-Forwards: 70
            Contact: <name:John_Smith>
            l: 0


            """)
        #expect(r.uri.scheme == .tel && r.uri.user == "+1-201-555-0123")
        #expect(r.uri.parameters.value("phone-context") == "example.com")
        #expect(r.to.uri.scheme == .other("isbn:2983792873"))
        #expect(r.from.uri.scheme == .other("http://www.example.com"))
    }

    @Test func responses() throws {
        let text = """
            SIP/2.0 200 OK
            Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc;received=127.0.0.1;rport=5070
            From: <sip:100@127.0.0.1>;tag=a
            To: <sip:1001@127.0.0.1>;tag=b
            Call-ID: x@y
            CSeq: 2 INVITE
            Contact: <sip:1001@127.0.0.1:5070>;expires=60, <sip:1001@[::1]:5070>
            Content-Length: 0


            """
        guard case .response(let r) = try SIPParser().parse(crlf(text)) else {
            Issue.record("not a response")
            return
        }
        #expect(r.status == .ok && r.reason == "OK")
        #expect(r.via[0].rport.value == 5070)
        #expect(r.contact.count == 2)
        // RFC 4475 §3.1.1.8 "noreason": an empty reason phrase is fine.
        let noReason = Array(crlf(text).split(separator: 0x0A, maxSplits: 1)[1])
        guard case .response(let n) = try SIPParser().parse(crlf("SIP/2.0 100 \n") + noReason) else { return }
        #expect(n.status == .trying && n.reason == "")
    }

    @Test func leadingBlankLinesAndLFOnlyLineEnds() throws {
        let lf = Array(basicInvite.replacingOccurrences(of: "Content-Length: 129", with: "Content-Length: 122").utf8)
        guard case .request(let r) = try SIPParser().parse([0x0D, 0x0A, 0x0D, 0x0A] + lf) else { return }
        #expect(r.body.count == 122)
    }

    @Test func bodyWithoutContentLengthOnDatagrams() throws {
        let text = basicInvite.replacingOccurrences(of: "Content-Length: 129\n", with: "")
        let r = try request(text)
        #expect(r.body.count == 129)
        #expect(throws: SIPParseError.self) { try SIPParser().parse(crlf(text), streamed: true) }
    }

    @Test func extraBytesAfterContentLengthAreIgnored() throws {
        guard case .request(let r) = try SIPParser().parse(crlf(basicInvite) + Array("garbage".utf8)) else { return }
        #expect(r.body.count == 129)
    }

    @Test func keepAlives() {
        #expect(SIPParser.isKeepAlive([0x0D, 0x0A, 0x0D, 0x0A]))
        #expect(!SIPParser.isKeepAlive([]))
        #expect(!SIPParser.isKeepAlive(Array("OPTIONS".utf8)))
    }
}

