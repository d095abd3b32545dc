import SIPMessage

/// How a request finds its server transaction (RFC 3261 §17.2.3). With the magic cookie the branch,
/// sent-by and method suffice; otherwise RFC 2543's fields are used (§17.2.3, second part).
struct ServerTransactionKey: Hashable {
    let branch: String
    let sentBy: String
    /// ACK is matched to its INVITE; CANCEL has transactions of its own.
    let method: SIPMethod

    init(request: SIPRequest, ackOf: Bool) {
        self.init(request: request, method: ackOf ? .invite : request.method)
    }

    init(request: SIPRequest, method: SIPMethod) {
        let top = request.via.first
        self.method = method
        if let branch = top?.branch, branch.hasPrefix(SIPVia.magicCookie) {
            self.branch = branch
            self.sentBy = top?.sentBy.lowercased() ?? ""
        } else {
            // RFC 2543 peers: Request-URI, From tag, Call-ID, CSeq number and the top Via. The To tag
            // is left out so that the ACK of a non-2xx (which carries our tag) finds its INVITE.
            self.branch = "2543|\(request.uri)|\(request.from.tag ?? "")|\(request.callID)|\(request.cseq.sequence)"
            self.sentBy = top.map { "\($0)" } ?? ""
        }
    }
}

/// Responses find their client transaction by the top Via branch and the CSeq method (§17.1.3).
struct ClientTransactionKey: Hashable {
    let branch: String
    let method: SIPMethod
}
