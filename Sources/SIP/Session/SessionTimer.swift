public import SIPMessage

/// RFC 4028 session timer of a call we answer (issue 20): a dialog whose far end vanished without
/// a BYE (a carrier's box rebooted, a NAT binding gone) would otherwise hold its agent and its
/// record open for ever; with a timer, the side named refresher renews the session before the
/// interval ends, and a session not renewed in time is ended with a BYE. We refresh with UPDATE
/// (RFC 3311, no body) where the far end allows it, and otherwise with a re-INVITE carrying our
/// SDP unchanged (every SIP UA takes INVITE), so a far end that vanished is found whatever it
/// supports. Pure: `negotiate` decides what the 2xx says; the session keeps the clock.
public struct SessionTimer: Sendable, Equatable {
    public enum Refresher: String, Sendable { case uac, uas }

    /// Seconds the session lasts unless refreshed.
    public let interval: Int
    public let refresher: Refresher
    /// Whether the refresher is us: `uas` on a call we answered, `uac` on one we placed.
    public let weRefresh: Bool
    /// Our refresh is an UPDATE (the far end allows it) or else a re-INVITE.
    public let refreshByUpdate: Bool

    public init(interval: Int, refresher: Refresher, weAre role: InviteSession.Role = .uas, refreshByUpdate: Bool = true) {
        self.interval = interval
        self.refresher = refresher
        weRefresh = (refresher == .uas) == (role == .uas)
        self.refreshByUpdate = refreshByUpdate
    }

    /// The timer a 2xx to an INVITE of ours set (§7.2), if any; when we refresh, by UPDATE if
    /// the 2xx allows it, else by re-INVITE.
    public static func fromAnswer(_ response: SIPResponse) -> SessionTimer? {
        guard let value = response.headers[.sessionExpires] else { return nil }
        let parts = value.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let first = parts.first, let interval = Int(first), interval > 0 else { return nil }
        let named = parts.dropFirst().compactMap { p -> Refresher? in
            let kv = p.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            return kv.count == 2 && kv[0] == "refresher" ? Refresher(rawValue: kv[1]) : nil
        }.first
        // No refresher named in a 2xx: the UAC (us) refreshes (§7.2).
        let update = response.headers.tokens(.allow).contains { $0.uppercased() == "UPDATE" }
        return SessionTimer(interval: interval, refresher: named ?? .uac, weAre: .uac, refreshByUpdate: update)
    }
    /// §10: the refresher sends its refresh at half the interval.
    public var refreshAfter: Int { max(1, interval / 2) }
    /// §10: without a refresh, the other side sends BYE at the interval less a third of it, or
    /// less 32 s, whichever is smaller.
    public var expireAfter: Int { interval - min(32, interval / 3) }

    /// `Session-Expires` as the 2xx carries it.
    public var headerValue: String { "\(interval);refresher=\(refresher.rawValue)" }

    public enum Negotiation: Sendable, Equatable {
        /// No timer for this session (off here, or a far end we cannot refresh).
        case none
        /// 422 Session Interval Too Small, with our `Min-SE`.
        case tooSmall(minSE: Int)
        /// 400: the header does not parse.
        case malformed(String)
        /// The timer; `require` when the far end refreshes (it must say `Require: timer` then,
        /// §9).
        case timer(SessionTimer, require: Bool)
    }

    /// What we answer an INVITE (or a refresh) with (§9). `ourInterval` 0 turns timers off.
    public static func negotiate(_ request: SIPRequest, ourInterval: Int, ourMinSE: Int) -> Negotiation {
        guard ourInterval > 0 else { return .none }
        let supportsTimer = (request.headers.tokens(.supported) + request.headers.tokens(.require)).contains { $0.lowercased() == "timer" }
        let allowsUpdate = request.headers.tokens(.allow).contains { $0.uppercased() == "UPDATE" }
        guard let value = request.headers[.sessionExpires] else {
            if supportsTimer { return .timer(SessionTimer(interval: ourInterval, refresher: .uac), require: true) }
            // A far end that knows nothing of timers: we refresh (§9), however it lets us.
            return .timer(SessionTimer(interval: ourInterval, refresher: .uas, refreshByUpdate: allowsUpdate), require: false)
        }
        let parts = value.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let first = parts.first, let asked = Int(first), asked > 0 else {
            return .malformed("Session-Expires must be delta-seconds, not '\(value)'")
        }
        // Too small: a far end that knows the extension gets 422 and asks again; one that does
        // not could not, so its interval is raised instead (RFC 4028 errata 1687).
        if asked < ourMinSE && supportsTimer { return .tooSmall(minSE: ourMinSE) }
        let theirMinSE = request.headers[.minSE].flatMap { Int($0.split(separator: ";").first?.trimmingCharacters(in: .whitespaces) ?? "") } ?? 0
        // We may shorten the interval, never below either side's Min-SE (§9).
        let interval = max(min(asked, ourInterval), ourMinSE, theirMinSE)
        var named: Refresher?
        for p in parts.dropFirst() {
            let kv = p.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard kv.count == 2, kv[0] == "refresher" else { continue }
            guard let r = Refresher(rawValue: kv[1]) else { return .malformed("refresher must be uac or uas, not '\(kv[1])'") }
            named = r
        }
        // A refresher the request names is kept (§9). Left to us, the far end refreshes when it
        // knows the extension; otherwise we do, by UPDATE if it takes UPDATE, else by re-INVITE.
        let refresher = named ?? (supportsTimer ? .uac : .uas)
        return .timer(SessionTimer(interval: interval, refresher: refresher, refreshByUpdate: refresher == .uac || allowsUpdate), require: refresher == .uac)
    }
}
