public import Logging

/// How hard the stack is on sources it does not trust (FEATURES S3).
public struct SourceGuardPolicy: Sendable, Hashable {
    /// Addresses that are never rate-limited or blocked (trunks, the host itself).
    public var trusted: [IPNetwork]
    /// Sustained messages per second allowed from one untrusted address.
    public var messagesPerSecond: Double
    /// How many messages an untrusted address may send at once before the rate applies.
    public var burst: Double
    /// Failures (parse errors, refused requests, bad credentials) within `failureWindow` seconds
    /// that get an untrusted address blocked.
    public var failuresBeforeBlock: Int
    public var failureWindow: Double
    /// How long a blocked address is ignored, in seconds.
    public var blockSeconds: Double
    /// Bound on the addresses remembered; the least recently seen is forgotten first.
    public var maxTrackedSources: Int

    public init(
        trusted: [IPNetwork] = [], messagesPerSecond: Double = 50, burst: Double = 200, failuresBeforeBlock: Int = 20,
        failureWindow: Double = 60, blockSeconds: Double = 300, maxTrackedSources: Int = 10_000
    ) {
        self.trusted = trusted
        self.messagesPerSecond = messagesPerSecond
        self.burst = burst
        self.failuresBeforeBlock = failuresBeforeBlock
        self.failureWindow = failureWindow
        self.blockSeconds = blockSeconds
        self.maxTrackedSources = maxTrackedSources
    }
}

/// Rate-limits and blocks misbehaving sources, logging once per source and episode rather than
/// once per packet: a scanner sending ten thousand garbage datagrams costs three log lines (first
/// fault, block, unblock with the count dropped).
public final class SourceGuard: SIPSourceFilter {
    private struct Entry {
        var tokens: Double
        var lastRefill: Duration
        var lastSeen: Duration
        var failures = 0
        var windowStart: Duration
        var blockedUntil: Duration?
        var dropped = 0
        var loggedFailure = false
        var loggedRateLimit = false
    }

    public var policy: SourceGuardPolicy {
        didSet { trustCache.removeAll() }
    }
    private let scheduler: any SIPScheduler
    private let logger: Logger
    private var entries: [String: Entry] = [:]
    private var trustCache: [String: Bool] = [:]

    public init(policy: SourceGuardPolicy, scheduler: any SIPScheduler, logger: Logger) {
        self.policy = policy
        self.scheduler = scheduler
        self.logger = logger
    }

    /// Addresses currently blocked, for status and tests.
    public var blockedSources: [String] {
        let now = scheduler.now
        return entries.filter { ($0.value.blockedUntil ?? .zero) > now }.map(\.key).sorted()
    }

    public var trackedSourceCount: Int { entries.count }

    private func isTrusted(_ ip: String) -> Bool {
        if let cached = trustCache[ip] { return cached }
        let trusted = policy.trusted.contains { $0.contains(ip: ip) }
        if trustCache.count > policy.maxTrackedSources { trustCache.removeAll() }
        trustCache[ip] = trusted
        return trusted
    }

    public func admit(_ peer: SIPPeer) -> Bool {
        let ip = peer.ip
        if isTrusted(ip) { return true }
        let now = scheduler.now
        var entry = entries[ip] ?? makeEntry(now: now)
        entry.lastSeen = now
        defer { entries[ip] = entry }
        if let until = entry.blockedUntil {
            if until > now {
                entry.dropped += 1
                return false
            }
            logger.notice(
                "source unblocked",
                metadata: ["sip.source": "\(ip)", "sip.dropped": "\(entry.dropped)"])
            entry = makeEntry(now: now)
        }
        let elapsed = now - entry.lastRefill
        entry.tokens = min(policy.burst, entry.tokens + policy.messagesPerSecond * seconds(elapsed))
        entry.lastRefill = now
        guard entry.tokens >= 1 else {
            entry.dropped += 1
            if !entry.loggedRateLimit {
                entry.loggedRateLimit = true
                logger.warning(
                    "source over its message rate; dropping its excess",
                    metadata: ["sip.source": "\(ip)", "sip.rate_limit": "\(policy.messagesPerSecond)/s"])
            }
            return false
        }
        entry.tokens -= 1
        return true
    }

    public func recordFailure(_ peer: SIPPeer, reason: String) {
        let ip = peer.ip
        let now = scheduler.now
        var entry = entries[ip] ?? makeEntry(now: now)
        defer { entries[ip] = entry }
        if seconds(now - entry.windowStart) > policy.failureWindow {
            entry.failures = 0
            entry.windowStart = now
            entry.loggedFailure = false
        }
        entry.failures += 1
        if !entry.loggedFailure {
            entry.loggedFailure = true
            logger.warning("bad request from source", metadata: ["sip.source": "\(ip)", "sip.reason": "\(reason)"])
        }
        guard !isTrusted(ip), entry.failures >= policy.failuresBeforeBlock, entry.blockedUntil == nil else { return }
        entry.blockedUntil = now + .milliseconds(Int64(policy.blockSeconds * 1000))
        logger.warning(
            "blocking source after repeated failures",
            metadata: [
                "sip.source": "\(ip)", "sip.failures": "\(entry.failures)", "sip.block_seconds": "\(Int(policy.blockSeconds))",
                "sip.reason": "\(reason)",
            ])
    }

    private func makeEntry(now: Duration) -> Entry {
        if entries.count >= policy.maxTrackedSources {
            // Forget the least recently seen tenth at once: a flood from many (spoofed) addresses
            // then costs O(log n) per new address instead of a full scan each.
            let drop = max(1, policy.maxTrackedSources / 10)
            for (key, _) in entries.sorted(by: { $0.value.lastSeen < $1.value.lastSeen }).prefix(drop) { entries[key] = nil }
        }
        return Entry(tokens: policy.burst, lastRefill: now, lastSeen: now, windowStart: now)
    }

    private func seconds(_ d: Duration) -> Double {
        let (s, atto) = d.components
        return Double(s) + Double(atto) / 1e18
    }
}
