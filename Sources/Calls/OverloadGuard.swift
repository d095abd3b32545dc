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

extension InboundCallService {
    /// Why a new call is refused now, if it is: past capacity, the daemon sheds new calls before
    /// anything it has answered suffers (the 503 is cheap: no port, no call, no log line per call).
    func overloadRefusal() -> String? {
        if overload.overloaded { return "Overloaded" }
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
