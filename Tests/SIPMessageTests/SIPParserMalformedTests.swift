import Testing

@testable import SIPMessage

/// One malformed input: what it is, the fault we expect, and whether the request was readable
/// enough to answer `400 <reason>` (otherwise it is dropped).
struct MalformedCase: CustomTestStringConvertible, Sendable {
    let name: String
    let bytes: [UInt8]
    let code: SIPParseError.Code
    let answerable: Bool
    let mentions: String

    var testDescription: String { name }
}

/// Headers of a well-formed OPTIONS, keyed so a case can drop or replace one.
private let baseHeaders: [(String, String)] = [
    ("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKmal"),
    ("From", "<sip:caller@example.com>;tag=1"),
    ("To", "<sip:user@example.com>"),
    ("Call-ID", "malformed@example.com"),
    ("CSeq", "1 OPTIONS"),
    ("Max-Forwards", "70"),
]

/// An OPTIONS with one header replaced (or removed, when the value is nil) and extra lines added.
private func options(
    line: String = "OPTIONS sip:user@example.com SIP/2.0", replace: [String: String?] = [:], extra: [String] = [],
    body: String = "", contentLength: String? = "auto"
) -> [UInt8] {
    var lines = [line]
    for (name, value) in baseHeaders {
        if let r = replace[name] {
            if let r { lines.append("\(name): \(r)") }
        } else {
            lines.append("\(name): \(value)")
        }
    }
    lines += extra
    if let contentLength { lines.append("Content-Length: \(contentLength == "auto" ? String(body.utf8.count) : contentLength)") }
    return crlf(lines.joined(separator: "\n") + "\n\n") + Array(body.utf8)
}

private func c(
    _ name: String, _ bytes: [UInt8], _ code: SIPParseError.Code, answerable: Bool = true, _ mentions: String = ""
) -> MalformedCase {
    MalformedCase(name: name, bytes: bytes, code: code, answerable: answerable, mentions: mentions)
}

let malformedCases: [MalformedCase] = [
    // RFC 4475 §3.1.2
    c("badinv01: extraneous separators in Via", options(replace: ["Via": "SIP/2.0/UDP 192.0.2.15;;,;,,"]), .malformedHeader, answerable: false, "Via"),
    c("clerr: Content-Length larger than the message", options(body: "v=0", contentLength: "9999"), .badContentLength, "Content-Length"),
    c("ncl: negative Content-Length", options(contentLength: "-999"), .badContentLength, "Content-Length"),
    c("scalar02: overlarge CSeq", options(replace: ["CSeq": "36893488147419103232 OPTIONS"]), .malformedHeader, answerable: false, "CSeq"),
    c("scalar02: overlarge Max-Forwards", options(replace: ["Max-Forwards": "300"]), .malformedHeader, "Max-Forwards"),
    c("scalar1024: overlarge response code", crlf("SIP/2.0 4294967301 better not break the receiver\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\n\n"), .malformedStartLine, answerable: false),
    c("quotbal: unterminated display name", options(replace: ["To": "\"Mr. J. User <sip:j.user@example.com>"]), .malformedHeader, answerable: false, "display name"),
    c("ltgtruri: Request-URI in <>", options(line: "INVITE <sip:user@example.com> SIP/2.0", replace: ["CSeq": "1 INVITE"]), .malformedURI, "Request-URI"),
    c("lwsruri: LWS in the Request-URI", options(line: "INVITE sip:user@example.com; lr SIP/2.0", replace: ["CSeq": "1 INVITE"]), .malformedStartLine),
    c("lwsstart: two spaces between elements", options(line: "OPTIONS  sip:user@example.com  SIP/2.0"), .malformedStartLine),
    c("trws: spaces after the version", options(line: "OPTIONS sip:user@example.com SIP/2.0  "), .malformedStartLine),
    c("escruri: headers in the Request-URI", options(line: "OPTIONS sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0"), .malformedURI, "headers"),
    c("regbadct: addr-spec with URI headers", options(extra: ["Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E"]), .malformedHeader, "Contact"),
    c("badaspec: spaces inside <>", options(replace: ["To": "\"Watson, Thomas\" < sip:t.watson@example.org >"]), .malformedHeader, answerable: false, "To"),
    c("baddn: comma in an unquoted display name", options(replace: ["From": "Bell, Alexander <sip:a.g.bell@example.com>;tag=43"]), .malformedHeader, answerable: false, "From"),
    c("badvers: SIP/7.0", options(line: "OPTIONS sip:t.watson@example.org SIP/7.0"), .unsupportedVersion, "7.0"),
    c("mismatch01: CSeq method differs", options(replace: ["CSeq": "1 INVITE"]), .cseqMismatch, "CSeq"),
    c("mismatch02: unknown method, CSeq differs", options(line: "NEWMETHOD sip:user@example.com SIP/2.0", replace: ["CSeq": "1 INVITE"]), .cseqMismatch),
    c("insuf: missing Call-ID", options(replace: ["Call-ID": nil]), .missingHeader, answerable: false, "Call-ID"),
    // Missing or repeated mandatory headers
    c("missing Via", options(replace: ["Via": nil]), .missingHeader, answerable: false, "Via"),
    c("missing From", options(replace: ["From": nil]), .missingHeader, answerable: false, "From"),
    c("missing To", options(replace: ["To": nil]), .missingHeader, answerable: false, "To"),
    c("missing CSeq", options(replace: ["CSeq": nil]), .missingHeader, answerable: false, "CSeq"),
    c("two From headers", options(extra: ["From: <sip:other@example.com>;tag=2"]), .malformedHeader, "From"),
    c("two To headers", options(extra: ["To: <sip:other@example.com>"]), .malformedHeader, "To"),
    c("two Call-IDs", options(extra: ["i: other@example.com"]), .malformedHeader, "Call-ID"),
    c("two CSeqs", options(extra: ["CSeq: 2 OPTIONS"]), .malformedHeader, "CSeq"),
    c("two Content-Lengths", options(extra: ["l: 0"]), .badContentLength, "Content-Length"),
    // Header lines
    c("header line without a colon", options(extra: ["This is not a header"]), .malformedHeader, "colon"),
    c("space inside a header name", options(extra: ["Bad Header: x"]), .malformedHeader, "header name"),
    c("continuation before any header", crlf("OPTIONS sip:u@example.com SIP/2.0\n folded\nCSeq: 1 OPTIONS\n\n"), .malformedHeader, answerable: false),
    c("bare CR in a header", options(extra: ["Subject: a\rb"]), .malformedHeader, "CR"),
    c("NUL in the request line", crlf("OPTIONS sip:u\u{0}@example.com SIP/2.0\n\n"), .malformedStartLine, answerable: false, "NUL"),
    c("headers not ended by an empty line", crlf("OPTIONS sip:u@example.com SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nCSeq: 1 OPTIONS"), .malformedHeader, answerable: false),
    c("CSeq without a method", options(replace: ["CSeq": "1"]), .malformedHeader, answerable: false, "CSeq"),
    c("CSeq not a number", options(replace: ["CSeq": "one OPTIONS"]), .malformedHeader, answerable: false, "CSeq"),
    c("CSeq of 2^31", options(replace: ["CSeq": "2147483648 OPTIONS"]), .malformedHeader, answerable: false, "CSeq"),
    c("Max-Forwards not a number", options(replace: ["Max-Forwards": "seventy"]), .malformedHeader, "Max-Forwards"),
    c("Content-Length not a number", options(contentLength: "ten"), .badContentLength),
    // Via
    c("Via with an unknown protocol version", options(replace: ["Via": "SIP/3.0/UDP 192.0.2.1;branch=z9hG4bK1"]), .malformedHeader, answerable: false, "Via"),
    c("Via without a host", options(replace: ["Via": "SIP/2.0/UDP ;branch=z9hG4bK1"]), .malformedHeader, answerable: false, "Via"),
    c("Via with port 70000", options(replace: ["Via": "SIP/2.0/UDP 192.0.2.1:70000;branch=z9hG4bK1"]), .malformedHeader, answerable: false, "Via"),
    c("Via with a bad rport", options(replace: ["Via": "SIP/2.0/UDP 192.0.2.1;rport=abc;branch=z9hG4bK1"]), .malformedHeader, answerable: false),
    c("Via with an empty branch", options(replace: ["Via": "SIP/2.0/UDP 192.0.2.1;branch="]), .malformedHeader, answerable: false),
    // URIs
    c("Request-URI without a scheme", options(line: "OPTIONS user@example.com SIP/2.0"), .malformedURI, "Request-URI"),
    c("Request-URI with a bad host", options(line: "OPTIONS sip:user@-bad-.example SIP/2.0"), .malformedURI),
    c("unterminated IPv6 reference", options(line: "OPTIONS sip:user@[2001:db8::1 SIP/2.0"), .malformedURI),
    c("IPv6 reference with a bad group", options(line: "OPTIONS sip:[2001:db8::g1] SIP/2.0"), .malformedURI),
    c("IPv6 reference with two ::", options(line: "OPTIONS sip:[2001::db8::1] SIP/2.0"), .malformedURI),
    c("IPv4 octet over 255", options(line: "OPTIONS sip:user@192.0.2.300 SIP/2.0"), .malformedURI),
    c("Request-URI with port 99999", options(line: "OPTIONS sip:user@example.com:99999 SIP/2.0"), .malformedURI),
    c("broken escape in the user part", options(line: "OPTIONS sip:us%zzer@example.com SIP/2.0"), .malformedURI),
    c("tel URI without digits", options(line: "OPTIONS tel:--- SIP/2.0"), .malformedURI),
    c("Contact with '<' but no '>'", options(extra: ["Contact: <sip:user@example.com"]), .malformedHeader, "Contact"),
    c("unterminated quoted parameter", options(replace: ["From": "<sip:caller@example.com>;tag=1;x=\"open"]), .malformedHeader, answerable: false),
    c("display name without <URI>", options(replace: ["To": "\"Name\" sip:user@example.com"]), .malformedHeader, answerable: false),
    // Start lines
    c("garbage", Array("\u{16}\u{03}\u{01}\u{02}\u{00}binary".utf8), .malformedStartLine, answerable: false),
    c("only whitespace", crlf("\n\n\n"), .empty, answerable: false),
    c("status line with a two-digit code", crlf("SIP/2.0 20 OK\n\n"), .malformedStartLine, answerable: false),
    c("HTTP request", crlf("GET / HTTP/1.1\nHost: example.com\n\n"), .malformedStartLine, answerable: false),
]

@Suite struct SIPParserMalformedTests {
    @Test func thereAreAtLeastFortyCases() { #expect(malformedCases.count >= 40) }

    @Test(arguments: malformedCases)
    func rejected(_ testCase: MalformedCase) {
        do {
            let m = try SIPParser().parse(testCase.bytes)
            Issue.record("accepted: \(m)")
        } catch {
            #expect(error.code == testCase.code, "\(error.detail)")
            #expect((error.context != nil) == testCase.answerable, "context: \(String(describing: error.context))")
            if !testCase.mentions.isEmpty { #expect(error.detail.contains(testCase.mentions), "\(error.detail)") }
            #expect(!error.reasonPhrase.utf8.contains { $0 < 0x20 })
        }
    }

    @Test func limits() {
        let limits = SIPParserLimits(maxMessageBytes: 2048, maxHeaderLines: 20, maxLineBytes: 200)
        let parser = SIPParser(limits: limits)
        func code(_ bytes: [UInt8]) -> SIPParseError.Code? {
            do { _ = try parser.parse(bytes) } catch { return error.code }
            return nil
        }
        #expect(code(options()) == nil)
        #expect(code(options(extra: (1...30).map { "X-H\($0): v" })) == .limitExceeded)
        #expect(code(options(extra: ["X-Long: " + String(repeating: "a", count: 300)])) == .limitExceeded)
        #expect(code(options(extra: ["X-Folded: a", " " + String(repeating: "b", count: 150), " " + String(repeating: "c", count: 150)])) == .limitExceeded)
        #expect(code(options(body: String(repeating: "x", count: 3000))) == .limitExceeded)
    }

    /// Stream framing: a message is complete once its head and Content-Length bytes are there.
    @Test func streamFraming() throws {
        let parser = SIPParser()
        let whole = options(body: "hello")
        #expect(try parser.frameLength(whole[...]) == whole.count)
        #expect(try parser.frameLength(whole.dropLast()) == nil)
        #expect(try parser.frameLength(whole.prefix(20)) == nil)
        #expect(try parser.frameLength((whole + whole)[...]) == whole.count)
        #expect(throws: SIPParseError.self) { try parser.frameLength(options(contentLength: nil)[...]) }
        // Found by fuzz-sip (fuzz/found/sip/negative-content-length): the framer took Int()'s
        // reading, so "-1000" framed a message shorter than its head and the daemon crashed.
        for bad in ["-1000", "-1", "+5", "0x10", "5 5", "９"] {
            #expect(throws: SIPParseError.self, "Content-Length \(bad)") { try parser.frameLength(options(contentLength: bad)[...]) }
            #expect(throws: SIPParseError.self, "Content-Length \(bad)") { try parser.messageLength(head: options(contentLength: bad)[...]) }
        }
        let small = SIPParser(limits: SIPParserLimits(maxMessageBytes: 300))
        #expect(throws: SIPParseError.self) { try small.frameLength(options(body: String(repeating: "x", count: 400))[...]) }
        #expect(throws: SIPParseError.self) { try small.frameLength(Array(repeating: 0x41, count: 400)[...]) }
    }
}
