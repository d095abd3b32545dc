import CMediaIO
import Dispatch

/// Whether the daemon is past what it can carry (issue 24, FEATURES S1): new calls are refused
/// with 503 and Retry-After rather than answered and then lost. The signal is lateness: of a
/// timer on the SIP loop, and of a task sent to each media loop, every 100 ms. A loop that cannot
/// keep up runs them late by what it had queued before them, whatever the cause. The media loops
/// count most: at 700 calls/s on two cores they fell seconds behind while the SIP loop stayed
/// within a few hundred ms, and they also find the agents' legs their ports (bench/README.md,
/// "Past capacity").
/// Pure: the shell feeds it lateness, it answers.
public struct OverloadGuard: Sendable, Equatable {
    /// Lateness at or above this enters overload; 0 turns the guard off.
    public var enterMilliseconds: Double
    /// Overload ends once lateness has stayed under half the threshold for this long.
    public var recoverSeconds: Double
    public private(set) var overloaded = false
    /// When lateness went under half the threshold, while overloaded.
    private var calmSince: Double?
    /// Episodes so far, and the worst lateness of the current or last one.
    public private(set) var episodes = 0
    public private(set) var worstMilliseconds = 0.0

    public init(enterMilliseconds: Double = 250, recoverSeconds: Double = 2) {
        self.enterMilliseconds = enterMilliseconds
        self.recoverSeconds = recoverSeconds
    }

    public enum Change: Sendable, Equatable {
        case entered(lateMilliseconds: Double)
        case left(afterSeconds: Double)
    }

    /// One reading: the timer meant for `due` ran at `now` (seconds on a monotonic clock).
    public mutating func observe(lateMilliseconds late: Double, at now: Double) -> Change? {
        guard enterMilliseconds > 0 else { return nil }
        if !overloaded {
            guard late >= enterMilliseconds else { return nil }
            overloaded = true
            episodes += 1
            worstMilliseconds = late
            calmSince = nil
            enteredAt = now
            return .entered(lateMilliseconds: late)
        }
        worstMilliseconds = max(worstMilliseconds, late)
        if late >= enterMilliseconds / 2 {
            calmSince = nil
            return nil
        }
        let since = calmSince ?? now
        calmSince = since
        guard now - since >= recoverSeconds else { return nil }
        overloaded = false
        calmSince = nil
        return .left(afterSeconds: now - enteredAt)
    }

    private var enteredAt = 0.0
}

/// Descriptors as a budget (issue 20): every call takes sockets (RTP and RTCP per leg, an agent's
/// leg, a recording's file), and a daemon that runs out fails calls half-way (a port not found
/// for the agent, a recording not opened, a TCP peer not accepted). Counted every 100 ms, with
/// each call admitted since the count assumed to take `perCall` more, the daemon refuses new
/// calls while fewer than `reserve` would be left, and calls already up keep what they hold.
/// Pure: the shell counts, it answers.
public struct DescriptorBudget: Sendable, Equatable {
    /// The soft RLIMIT_NOFILE; 0 until read.
    public var limit: Int
    /// Descriptors kept for what must not fail (calls already up, the store, the control socket);
    /// 0 turns the check off.
    public var reserve: Int
    public private(set) var open = 0
    public private(set) var admittedSinceCount = 0
    /// RTP and RTCP for the caller and an agent's leg, and a recording's file, with one to spare.
    public static let perCall = 6

    public init(limit: Int = 0, reserve: Int = 128) {
        self.limit = limit
        self.reserve = reserve
    }

    public mutating func counted(open: Int) {
        self.open = open
        admittedSinceCount = 0
    }

    /// Why a new call may not be taken now, or nil (and the call is counted against the budget).
    public mutating func admit() -> String? {
        guard reserve > 0, limit > 0 else { return nil }
        let expected = open + admittedSinceCount * Self.perCall
        if expected + Self.perCall > limit - reserve { return "Too many open files" }
        admittedSinceCount += 1
        return nil
    }

    /// Whether calls are being refused for it (for status and the once-per-episode log).
    public var short: Bool { reserve > 0 && limit > 0 && open + admittedSinceCount * Self.perCall + Self.perCall > limit - reserve }
}

extension InboundCallService {
    /// Why a new call is refused now, if it is: past capacity, the daemon sheds new calls before
    /// anything it has answered suffers (the 503 is cheap: no port, no call, no log line per call).
    func overloadRefusal() -> String? {
        if overload.overloaded { return "Overloaded" }
        if recordsBacklogged?() == true { return "Records cannot be written" }
        if let why = descriptors.admit() {
            if !descriptorsShortLogged {
                descriptorsShortLogged = true
                logger.warning(
                    "descriptors near the limit: new calls get 503 until calls end",
                    metadata: ["descriptors.open": "\(descriptors.open)", "descriptors.limit": "\(descriptors.limit)", "descriptors.reserve": "\(descriptors.reserve)", "calls.active": "\(calls.count)"])
                onAlarm?("descriptors", ["open": "\(descriptors.open)", "limit": "\(descriptors.limit)", "reserve": "\(descriptors.reserve)"])
            }
            return why
        }
        guard policy.maxCalls > 0 else { return nil }
        if calls.count >= policy.maxCalls {
            if !atCapacityLogged {
                atCapacityLogged = true
                logger.warning("at daemon.max_calls: new calls get 503 until calls end", metadata: ["calls.active": "\(calls.count)", "calls.max": "\(policy.maxCalls)"])
            }
            return "Too many calls"
        }
        atCapacityLogged = false
        return nil
    }

    /// Watches the SIP and media loops' lateness every 100 ms (started once, after the service is
    /// wired).
    public func startOverloadWatch() {
        overload.enterMilliseconds = Double(policy.overloadLagMilliseconds)
        countDescriptors()
        scheduleOverloadCheck()
    }

    public func stopOverloadWatch() {
        overloadWatch?.cancel()
        overloadWatch = nil
    }

    private func scheduleOverloadCheck() {
        let period = Duration.milliseconds(100)
        let due = scheduler.now + period
        overloadWatch = scheduler.schedule(after: period) { [weak self] in
            guard let self else { return }
            let now = self.scheduler.now
            let sipLate = Self.milliseconds(now - due)
            self.loopLateMaxMilliseconds = max(self.loopLateMaxMilliseconds, sipLate)
            let late = max(sipLate, self.mediaLateMilliseconds)
            self.probeMediaLoops()
            self.countDescriptors()
            self.overload.enterMilliseconds = Double(self.policy.overloadLagMilliseconds)
            switch self.overload.observe(lateMilliseconds: late, at: Self.seconds(now)) {
            case .entered(let ms)?:
                self.logger.warning(
                    "overloaded: new calls get 503 until the loops catch up",
                    metadata: ["loop.late_ms": "\(Int(ms))", "calls.active": "\(self.calls.count)"])
                self.onAlarm?("overload", ["loop_late_ms": "\(Int(ms))", "calls_active": "\(self.calls.count)"])
            case .left(let seconds)?:
                self.logger.notice(
                    "overload over: taking new calls again",
                    metadata: ["overload.seconds": "\(Int(seconds.rounded()))", "overload.worst_ms": "\(Int(self.overload.worstMilliseconds))", "calls.refused_overload": "\(self.refusedOverloadCount)"])
            case nil: break
            }
            self.scheduleOverloadCheck()
        }
    }

    /// Raises the soft descriptor limit to the hard one, once at start-up: a daemon holds a few
    /// sockets per call, and the soft default of 1,024 carries only about 150 calls. Returns the
    /// limit before and after (-errno after when it could not be raised).
    public static func raiseDescriptorLimit() -> (before: Int, after: Int) {
        let before = mediaio_descriptor_limit()
        return (before, mediaio_raise_descriptor_limit())
    }

    /// Reads the process's open descriptors (a directory of a few thousand entries: well under a
    /// millisecond) and its limit, which an operator may change under a running daemon (prlimit).
    func countDescriptors() {
        descriptors.reserve = policy.descriptorReserve
        let limit = mediaio_descriptor_limit()
        if limit > 0 { descriptors.limit = limit }
        let open = mediaio_open_descriptors()
        guard open >= 0 else { return }
        let wasShort = descriptors.short
        descriptors.counted(open: open)
        if wasShort, !descriptors.short, descriptorsShortLogged {
            descriptorsShortLogged = false
            logger.notice("descriptors back under the reserve: taking new calls again", metadata: ["descriptors.open": "\(open)", "descriptors.limit": "\(descriptors.limit)"])
        }
    }

    /// Sends each media loop a task stamped with the time; what it reports back is how long the
    /// task waited there (its queue of work ahead), kept until the next check reads it.
    private func probeMediaLoops() {
        let service = bound
        let latest = mediaLateMilliseconds
        mediaLateMilliseconds = mediaProbesOutstanding > 0 ? max(latest, mediaProbeAge()) : 0
        guard mediaProbesOutstanding == 0 else { return }
        let sip = loop
        for media in ports.loops {
            mediaProbesOutstanding += 1
            let sent = DispatchTime.now().uptimeNanoseconds
            media.execute {
                let waited = Double(DispatchTime.now().uptimeNanoseconds - sent) / 1e6
                sip.execute {
                    let s = service.value
                    s.mediaProbesOutstanding -= 1
                    s.mediaLateMilliseconds = max(s.mediaLateMilliseconds, waited)
                    s.mediaLateMaxMilliseconds = max(s.mediaLateMaxMilliseconds, waited)
                }
            }
        }
        mediaProbeSentAt = DispatchTime.now().uptimeNanoseconds
    }

    /// How long the probes still out have been waiting.
    private func mediaProbeAge() -> Double { Double(DispatchTime.now().uptimeNanoseconds - mediaProbeSentAt) / 1e6 }

    static func milliseconds(_ d: Duration) -> Double {
        let (s, atto) = d.components
        return Double(s) * 1000 + Double(atto) / 1e15
    }

    static func seconds(_ d: Duration) -> Double {
        let (s, atto) = d.components
        return Double(s) + Double(atto) / 1e18
    }
}
