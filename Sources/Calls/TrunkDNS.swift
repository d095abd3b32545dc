import CResolv
import Dispatch
import NIOCore
import SIP
import SIPMessage

/// The system resolver, for trunks whose `outbound` is a DNS name (issue 20). Blocking: called on
/// a dispatch queue, never on a loop.
enum SystemResolver {
    static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func srv(_ name: String) -> (values: [SIPTargets.SRVRecord], problem: String?, ttl: Int) {
        var buffer = [CChar](repeating: 0, count: 8192)
        var ttl: Int32 = 0
        var error: Int32 = 0
        let n = cresolv_srv(name, &buffer, Int32(buffer.count), &ttl, &error)
        if n < 0 { return ([], "SRV lookup failed (resolver error \(error))", 0) }
        let records = text(buffer).split(separator: "\n").compactMap { line -> SIPTargets.SRVRecord? in
            let f = line.split(separator: " ")
            guard f.count == 4, let p = Int(f[0]), let w = Int(f[1]), let port = Int(f[2]) else { return nil }
            var target = String(f[3])
            if target.hasSuffix("."), target != "." { target.removeLast() }
            return SIPTargets.SRVRecord(priority: p, weight: w, port: port, target: target)
        }
        return (records, nil, Int(ttl))
    }

    static func addresses(_ host: String) -> (values: [String], problem: String?) {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = cresolv_addresses(host, &buffer, Int32(buffer.count))
        if n < 0 { return ([], text(Array(String(cString: cresolv_error(n)).utf8CString))) }
        return (text(buffer).split(separator: "\n").map(String.init), nil)
    }
}

extension InboundCallService {
    /// Resolves every trunk's outbound name (at start-up and after a reload); a name resolved
    /// before applies at once, and is looked up again in the background.
    public func startTrunkResolution() {
        let named = policy.trunks.filter { $0.outboundName != nil }
        let names = Set(named.map(\.name))
        for (trunk, token) in resolveTimers where !names.contains(trunk) {
            token.cancel()
            resolveTimers[trunk] = nil
        }
        for trunk in named {
            if let cached = resolvedTargets[Self.resolveKey(trunk)] { applyTargets(cached, to: trunk.name) }
            resolveTimers[trunk.name]?.cancel()
            resolveTimers[trunk.name] = nil
            resolveTrunk(trunk.name)
        }
    }

    public func stopTrunkResolution() {
        for token in resolveTimers.values { token.cancel() }
        resolveTimers = [:]
    }

    static func resolveKey(_ trunk: CallPolicy.Trunk) -> String {
        "\(trunk.transport.rawValue):\(trunk.outboundName ?? ""):\(trunk.outboundNamePort.map(String.init) ?? "srv")"
    }

    private func resolveTrunk(_ name: String) {
        guard let trunk = policy.trunks.first(where: { $0.name == name }), let host = trunk.outboundName else { return }
        let port = trunk.outboundNamePort
        let transport = trunk.transport
        let key = Self.resolveKey(trunk)
        let (service, sip) = (bound, loop)
        DispatchQueue.global().async {
            var ttl = 0
            let resolution = SIPTargets.resolve(
                name: host, port: port, transport: transport,
                srv: { n in
                    let r = SystemResolver.srv(n)
                    ttl = r.ttl
                    return (r.values, r.problem)
                },
                addresses: { SystemResolver.addresses($0) })
            let found = ttl
            sip.execute { service.value.trunkResolved(name, key: key, resolution, ttl: found) }
        }
    }

    private func trunkResolved(_ name: String, key: String, _ r: SIPTargets.Resolution, ttl: Int) {
        guard let trunk = policy.trunks.first(where: { $0.name == name }), Self.resolveKey(trunk) == key else { return }
        let host = trunk.outboundName ?? ""
        let again: Int
        if r.targets.isEmpty {
            // Kept: the last good answer, if any; asked again in 30 s. Logged once per failure.
            if resolveFailing.insert(name).inserted {
                logger.error(
                    "trunk's outbound name does not resolve; calls out on it wait for it",
                    metadata: ["trunk": "\(name)", "trunk.outbound": "\(host)", "dns.problems": "\(r.problems.joined(separator: "; "))"])
                onAlarm?("trunk_dns_failed", ["trunk": name, "outbound": host, "reason": r.problems.joined(separator: "; ")])
            }
            again = 30
        } else {
            if resolveFailing.remove(name) != nil || resolvedTargets[key] != r.targets {
                logger.info(
                    "trunk's outbound name resolved",
                    metadata: ["trunk": "\(name)", "trunk.outbound": "\(host)", "trunk.targets": "\(r.targets.map(\.description).joined(separator: ","))"])
            }
            resolvedTargets[key] = r.targets
            if trunk.transport == .tls {
                for t in r.targets { if let a = try? SocketAddress(ipAddress: t.ip, port: t.port) { tlsServerName?(a, host) } }
            }
            applyTargets(r.targets, to: name)
            // The SRV records' TTL, kept between 30 s and an hour; A/AAAA answers: every 5 minutes.
            again = min(3600, max(30, ttl > 0 ? ttl : 300))
        }
        resolveTimers[name]?.cancel()
        resolveTimers[name] = scheduler.schedule(after: .seconds(Int64(again))) { [weak self] in
            self?.resolveTimers[name] = nil
            self?.resolveTrunk(name)
        }
    }

    /// The first target is where the trunk's calls and keep-alive go; the keep-alive follows a
    /// change of address.
    private func applyTargets(_ targets: [SIPTargets.Target], to name: String) {
        guard let first = targets.first, let i = policy.trunks.firstIndex(where: { $0.name == name }),
            let address = try? SocketAddress(ipAddress: first.ip, port: first.port)
        else { return }
        let peer = SIPPeer(policy.trunks[i].transport, address)
        if policy.trunks[i].outbound?.description == peer.description { return }
        policy.trunks[i].outbound = peer
        startTrunkKeepalive()
    }
}

extension InboundCallService {
    /// How long calls try a target last after failing at it, when a 503 names no Retry-After
    /// (and for silence or a failed send): long enough that a dead carrier host costs one call
    /// its Timer B, not every call.
    static let avoidTargetSeconds = 60.0

    /// A trunk's resolved targets as calls are to try them: in RFC 3263 order, those a call
    /// failed at lately moved to the back (the soonest free again first). Before the first
    /// answer from the resolver: the trunk's `outbound`, if any.
    func orderedTargets(of trunk: CallPolicy.Trunk) -> [SIPPeer] {
        guard let targets = resolvedTargets[Self.resolveKey(trunk)], !targets.isEmpty else { return trunk.outbound.map { [$0] } ?? [] }
        let now = scheduler.wallClock
        var fresh: [SIPPeer] = []
        var avoided: [(SIPPeer, Double)] = []
        for t in targets {
            guard let address = try? SocketAddress(ipAddress: t.ip, port: t.port) else { continue }
            let peer = SIPPeer(trunk.transport, address)
            if let until = avoidedTargets[t.description], until > now { avoided.append((peer, until)) } else { fresh.append(peer) }
        }
        return fresh + avoided.sorted { $0.1 < $1.1 }.map(\.0)
    }

    /// What a call's INVITE tells when it moves to the trunk's next target: logged once per
    /// move, counted for status, and the target given up is tried last for a while.
    func failoverHandler(_ destination: Destination, call: String) -> ((SIPPeer, SIPPeer, String, SIPResponse?) -> Void)? {
        guard let trunk = destination.trunk, !destination.alternates.isEmpty else { return nil }
        return { [weak self] from, to, why, response in
            guard let self else { return }
            let given = SIPTargets.Target(ip: from.ip, port: from.port).description
            // Retry-After: delta-seconds, maybe followed by a comment or parameters (RFC 3261 §20.33).
            let retryAfter = response?.headers[.retryAfter].flatMap { Double($0.prefix { $0.isNumber }) }
            let seconds = min(3600, max(1, retryAfter ?? Self.avoidTargetSeconds))
            self.avoidedTargets[given] = self.scheduler.wallClock + seconds
            self.avoidedTargets = self.avoidedTargets.filter { $0.value > self.scheduler.wallClock }
            self.trunkFailovers[trunk, default: 0] += 1
            self.logger.warning(
                "trunk target failed; the call tries the next",
                metadata: [
                    "call.unique_id": "\(call)", "trunk": "\(trunk)", "trunk.target": "\(given)",
                    "trunk.next": "\(SIPTargets.Target(ip: to.ip, port: to.port))", "trunk.reason": "\(why)", "trunk.avoid_seconds": "\(Int(seconds))",
                ])
        }
    }
}
