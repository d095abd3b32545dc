/// Names a leg within its call: the caller is 0, every other leg gets the next number when it is
/// made, so an id is never reused within a call and a late report about an old leg cannot be
/// mistaken for a new one.
public struct LegID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let raw: Int
    public init(_ raw: Int) { self.raw = raw }
    public static let caller = LegID(0)
    public static func < (a: LegID, b: LegID) -> Bool { a.raw < b.raw }
    public var description: String { "leg\(raw)" }
}

/// One side of a call: the caller, an agent's phone, or a number dialled through a trunk. One
/// type for all of them, so consulted parties and supervisors (issue 18, part 2) are new roles,
/// not new classes with flags of their own.
public struct CallLeg: Sendable, Equatable {
    public enum Role: Sendable, Equatable {
        case caller
        /// An agent offered the call by the ACD (or rung after a transfer to them).
        case agent(String)
        /// An external number the caller was transferred to.
        case number(String)
        /// A supervisor's phone (a registered phone or a number) monitoring the call (O3).
        case supervisor(device: String)
        /// The agent's phone calling out on its second line while the caller holds: the agent
        /// talks to the party consulted on it, and a REFER with Replaces naming it hands the
        /// caller over (RFC 5589 §7).
        case line(agent: String)
    }

    /// Where the leg is in its life. Legs only move down this list.
    public enum State: Sendable, Equatable {
        /// Asked for; its RTP port is being found and its INVITE is not out yet.
        case dialling
        /// The INVITE is out (or, for the caller, the INVITE came in and is not answered yet).
        case ringing
        case answered
        /// We ended it (withdrawn offer, transfer, the caller left): what it reports from now on
        /// changes nothing.
        case releasing
        case ended
    }

    public let id: LegID
    public let role: Role
    public internal(set) var state: State
    /// A leg rung in place of the agent's phone (call forwarding): it is not forwarded again.
    public let forwarded: Bool
    /// The party the agent consults while the caller holds (issue 18): its leg talks to the
    /// agent's, not the caller's, until a transfer or conference.
    public let consult: Bool
    /// The far end put us on hold (re-INVITE sendonly or inactive): no media is expected from it,
    /// and for an agent's leg the caller hears music instead of the agent.
    public internal(set) var held = false
    /// What the media watchdog last saw of this leg.
    var watch: MediaWatch?

    init(id: LegID, role: Role, state: State, forwarded: Bool = false, consult: Bool = false) {
        self.id = id
        self.role = role
        self.state = state
        self.forwarded = forwarded
        self.consult = consult
    }

    /// Not yet answered and not given up on: an offer still ringing (or about to).
    var isOffer: Bool { state == .dialling || state == .ringing }
    /// Still to be hung up by us when the call ends.
    var isLive: Bool { state == .dialling || state == .ringing || state == .answered }

    public var agent: String? {
        if case .agent(let a) = role { return a }
        return nil
    }

    public var number: String? {
        if case .number(let n) = role { return n }
        return nil
    }
}

/// The media watchdog's memory of one leg: the packet count it last saw, and since when that count
/// has not moved, on the scheduler's monotonic clock. A leg whose count stands still for the
/// configured time, while not on hold, has gone away.
struct MediaWatch: Sendable, Equatable {
    var packets: Int
    var since: Duration
}
