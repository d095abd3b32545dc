/// The Replaces header (RFC 3891 §6.1): the dialog a request means to replace, named by its
/// Call-ID and both tags as the sender sees them. It comes as a header of its own on an INVITE,
/// or as the `Replaces` header of a REFER's Refer-To URI (RFC 5589 §7, percent-encoded there).
public struct SIPReplaces: Sendable, Equatable {
    public var callID: String
    /// The tag of the dialog's far end from the sender's side: the recipient's own tag.
    public var toTag: String
    /// The sender's tag in that dialog.
    public var fromTag: String
    /// Only an early dialog may be replaced (`early-only`).
    public var earlyOnly: Bool

    public init(callID: String, toTag: String, fromTag: String, earlyOnly: Bool = false) {
        self.callID = callID
        self.toTag = toTag
        self.fromTag = fromTag
        self.earlyOnly = earlyOnly
    }

    /// `callid;to-tag=X;from-tag=Y[;early-only]`; both tags are required.
    public static func parse(_ text: String) throws(SIPParseError) -> SIPReplaces {
        let parts = text.split(separator: ";", omittingEmptySubsequences: false).map { String($0.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()) }
        guard let callID = parts.first, !callID.isEmpty, !callID.contains(" ") else { throw SIPParseError(.malformedHeader, "Replaces needs a Call-ID before its tags") }
        var toTag: String?
        var fromTag: String?
        var earlyOnly = false
        for p in parts.dropFirst() {
            let kv = p.split(separator: "=", maxSplits: 1).map(String.init)
            switch kv.first?.lowercased() {
            case "to-tag"?: toTag = kv.count > 1 ? kv[1] : nil
            case "from-tag"?: fromTag = kv.count > 1 ? kv[1] : nil
            case "early-only"?: earlyOnly = true
            default: continue  // generic parameters are allowed and mean nothing here
            }
        }
        guard let toTag, !toTag.isEmpty, let fromTag, !fromTag.isEmpty else { throw SIPParseError(.malformedHeader, "Replaces needs to-tag and from-tag") }
        return SIPReplaces(callID: callID, toTag: toTag, fromTag: fromTag, earlyOnly: earlyOnly)
    }

    /// The Replaces a Refer-To URI carries (`?Replaces=...`, percent-decoded), if any.
    public static func inReferTarget(_ uri: SIPURI) throws(SIPParseError) -> SIPReplaces? {
        guard let value = uri.headers.first(where: { $0.name.lowercased() == "replaces" })?.value else { return nil }
        return try parse(percentDecoded(value))
    }
}
