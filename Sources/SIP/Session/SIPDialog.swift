public import SIPMessage

/// Names a dialog from our side (RFC 3261 §12): Call-ID, our tag, their tag.
public struct DialogID: Sendable, Hashable, CustomStringConvertible {
    public var callID: String
    public var localTag: String
    public var remoteTag: String

    public init(callID: String, localTag: String, remoteTag: String) {
        self.callID = callID
        self.localTag = localTag
        self.remoteTag = remoteTag
    }

    public var description: String { "\(callID);local=\(localTag);remote=\(remoteTag)" }
}

/// The state a dialog keeps (RFC 3261 §12.1) and the requests it makes (§12.2.1.1).
public struct SIPDialog: Sendable {
    public let id: DialogID
    /// Our From (as UAC) or To (as UAS), with our tag.
    public var localParty: SIPNameAddr
    public var remoteParty: SIPNameAddr
    public var localSequence: UInt32
    public var remoteSequence: UInt32?
    public var remoteTarget: SIPURI
    /// Route set, in the order our requests use it.
    public var routeSet: [SIPNameAddr]
    /// Where in-dialog requests go.
    public var peer: SIPPeer

    /// The dialog a UAS makes from the INVITE it answers (§12.1.1).
    public init(uasFor invite: SIPRequest, localTag: String, peer: SIPPeer) {
        id = DialogID(callID: invite.callID, localTag: localTag, remoteTag: invite.from.tag ?? "")
        var local = invite.to
        local.tag = localTag
        localParty = local
        remoteParty = invite.from
        localSequence = 0
        remoteSequence = invite.cseq.sequence
        remoteTarget = invite.contact.first?.nameAddr?.uri ?? invite.from.uri
        routeSet = (try? invite.headers.addresses(.recordRoute)) ?? []
        self.peer = SIPDialog.targetPeer(remoteTarget, routeSet: routeSet, fallback: peer)
    }

    /// The dialog a UAC makes from the 2xx to its INVITE (§12.1.2).
    public init(uacFor invite: SIPRequest, response: SIPResponse, peer: SIPPeer) {
        id = DialogID(callID: invite.callID, localTag: invite.from.tag ?? "", remoteTag: response.to.tag ?? "")
        localParty = invite.from
        remoteParty = response.to
        localSequence = invite.cseq.sequence
        remoteSequence = nil
        remoteTarget = response.contact.first?.nameAddr?.uri ?? invite.uri
        routeSet = ((try? response.headers.addresses(.recordRoute)) ?? []).reversed()
        self.peer = SIPDialog.targetPeer(remoteTarget, routeSet: routeSet, fallback: peer)
    }

    /// Over TCP and TLS the connection we already have is reused; over UDP the remote target (or first
    /// route) is used when it is an address, else the address the dialog started from.
    static func targetPeer(_ target: SIPURI, routeSet: [SIPNameAddr], fallback: SIPPeer) -> SIPPeer {
        if fallback.transport.isReliable { return fallback }
        let next = routeSet.first?.uri ?? target
        return SIPPeer(resolving: next, defaultTransport: fallback.transport) ?? fallback
    }

    /// A request inside the dialog (§12.2.1.1). ACK and CANCEL reuse a CSeq; everything else takes
    /// the next one.
    public mutating func makeRequest(_ method: SIPMethod, via: SIPVia, contact: SIPURI?, cseq: UInt32? = nil) -> SIPRequest {
        let sequence: UInt32
        if let cseq {
            sequence = cseq
        } else {
            localSequence += 1
            sequence = localSequence
        }
        var headers = SIPHeaders()
        // Loose routing: the Request-URI is the remote target and the routes go in Route headers;
        // a strict router first in the set takes the Request-URI itself (§12.2.1.1).
        var uri = remoteTarget
        var routes = routeSet
        if let first = routes.first, !first.uri.parameters.contains("lr") {
            uri = first.uri
            routes.removeFirst()
            routes.append(SIPNameAddr(uri: remoteTarget))
        }
        for route in routes { headers.add(.route, route.description) }
        return SIPRequest(
            method: method, uri: uri, via: [via], from: localParty, to: remoteParty, callID: id.callID,
            cseq: SIPCSeq(sequence, method), maxForwards: 70,
            contact: contact.map { [.address(SIPNameAddr(uri: $0))] } ?? [], headers: headers)
    }
}

extension SIPPeer {
    /// The peer a SIP URI names when its host is an IP address; nil for host names (no DNS here).
    public init?(resolving uri: SIPURI, defaultTransport: SIPTransportKind = .udp) {
        let transport =
            uri.scheme == .sips ? .tls : uri.transportParameter.flatMap { SIPTransportKind(rawValue: $0.uppercased()) } ?? defaultTransport
        guard let address = try? SocketAddress(ipAddress: uri.host, port: uri.port ?? (transport == .tls ? 5061 : 5060)) else { return nil }
        self.init(transport, address)
    }
}

import NIOCore
