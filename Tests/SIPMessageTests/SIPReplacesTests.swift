import SIPMessage
import Testing

/// RFC 3891 §6.1's Replaces, alone and inside a Refer-To URI (RFC 5589 §7).
@Suite struct SIPReplacesTests {
    @Test func theDialogIsNamedByCallIDAndBothTags() throws {
        let r = try SIPReplaces.parse("425928@bobster.example.org;to-tag=7743;from-tag=6472;early-only")
        #expect(r == SIPReplaces(callID: "425928@bobster.example.org", toTag: "7743", fromTag: "6472", earlyOnly: true))
        // Order and case of the parameters do not matter; unknown ones are ignored.
        let s = try SIPReplaces.parse("abc ; From-Tag=f ; x=1; TO-TAG=t")
        #expect(s.callID == "abc" && s.toTag == "t" && s.fromTag == "f" && !s.earlyOnly)
    }

    @Test(arguments: ["", ";to-tag=a;from-tag=b", "abc;to-tag=a", "abc;from-tag=b", "abc;to-tag=;from-tag=b"])
    func withoutACallIDOrATagItIsRefused(_ text: String) {
        #expect(throws: SIPParseError.self) { try SIPReplaces.parse(text) }
    }

    @Test func aReferToCarriesItPercentEncoded() throws {
        let uri = try SIPURI.parse("sip:1002@127.0.0.1?Replaces=12345%40192.0.2.1%3Bto-tag%3D1234%3Bfrom-tag%3D5678")
        let r = try #require(try SIPReplaces.inReferTarget(uri))
        #expect(r == SIPReplaces(callID: "12345@192.0.2.1", toTag: "1234", fromTag: "5678"))
        #expect(try SIPReplaces.inReferTarget(SIPURI.parse("sip:1002@127.0.0.1")) == nil)
        #expect(throws: SIPParseError.self) { try SIPReplaces.inReferTarget(SIPURI.parse("sip:1002@127.0.0.1?Replaces=broken")) }
    }
}
