/// What the daemon knows of a trunk's outbound address from its OPTIONS keep-alive (issue 20,
/// FEATURES S2): a carrier that stops answering is marked down after `failuresToDown` probes in a
/// row go unanswered, and up again at its first answer, so operators hear of it once per change
/// and calls to numbers go out on a trunk that answers. Any final response shows the far end is
/// there (a carrier may answer OPTIONS with 403, 404 or 405, or challenge it); a probe that gets
/// no final answer before the next is due, cannot be sent, or gets 408 or 503 is a failure.
/// Pure: the shell feeds it outcomes with the time, it answers with the change.
public struct TrunkHealth: Sendable, Equatable {
    public enum State: String, Sendable {
        /// No probe has been answered or failed enough yet (just started, or keep-alive off).
        case unknown
        case up
        case down
    }

    public enum Outcome: Sendable, Equatable {
        case answered(status: Int)
        case failed(String)
    }

    public enum Change: Sendable, Equatable {
        /// The first answer (from unknown), or an answer after being down.
        case up(wasDown: Bool)
        case down(reason: String)
    }

    public let trunk: String
    /// The address probed (`ADDRESS:PORT`); a new one starts a new judgement.
    public let target: String
    public let failuresToDown: Int
    public private(set) var state: State = .unknown
    /// Probes failed in a row, and why the last one did.
    public private(set) var failures = 0
    public private(set) var lastFailure: String?
    /// The last final status and when it came (wall clock), and when the state last changed.
    public private(set) var lastStatus: Int?
    public private(set) var lastAnsweredAt: Double?
    public private(set) var since: Double?

    public init(trunk: String, target: String = "", failuresToDown: Int = 3) {
        self.trunk = trunk
        self.target = target
        self.failuresToDown = max(1, failuresToDown)
    }

    public mutating func observe(_ outcome: Outcome, at wall: Double) -> Change? {
        switch outcome {
        case .answered(let status) where status != 408 && status != 503:
            lastStatus = status
            lastAnsweredAt = wall
            failures = 0
            lastFailure = nil
            guard state != .up else { return nil }
            let wasDown = state == .down
            state = .up
            since = wall
            return .up(wasDown: wasDown)
        case .answered(let status):
            lastStatus = status
            return failed("answered \(status)", at: wall)
        case .failed(let why):
            return failed(why, at: wall)
        }
    }

    private mutating func failed(_ why: String, at wall: Double) -> Change? {
        failures += 1
        lastFailure = why
        guard state != .down, failures >= failuresToDown else { return nil }
        state = .down
        since = wall
        return .down(reason: "\(failures) keep-alive probes failed in a row, the last: \(why)")
    }
}
