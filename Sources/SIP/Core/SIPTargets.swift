/// Where a SIP target named by a host name is (RFC 3263 §4, issue 20): pure, over lookups the
/// caller makes (the shell asks the system resolver, off the event loops; tests pass tables).
///
/// A name with a port is its addresses at that port; a name without one looks for SRV records
/// of the transport's service first (`_sip._udp.NAME`, `_sip._tcp.NAME`, `_sips._tcp.NAME` for TLS), targets in priority order (lowest first) and, within a
/// priority, by weight (highest first: RFC 2782 picks at random in proportion to weight, we keep
/// the order stable so every lookup fails over the same way), each target's addresses at its
/// port; with no SRV records the name's own addresses at 5060 (5061 for TLS).
public enum SIPTargets {
    public struct SRVRecord: Sendable, Equatable {
        public var priority: Int
        public var weight: Int
        public var port: Int
        public var target: String
        public init(priority: Int, weight: Int, port: Int, target: String) {
            self.priority = priority
            self.weight = weight
            self.port = port
            self.target = target
        }
    }

    public struct Target: Sendable, Equatable, CustomStringConvertible {
        public var ip: String
        public var port: Int
        public init(ip: String, port: Int) {
            self.ip = ip
            self.port = port
        }
        public var description: String { ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)" }
    }

    public struct Resolution: Sendable, Equatable {
        /// In the order to try them; empty when nothing resolved.
        public var targets: [Target]
        /// Seconds the answer may be kept (the SRV records' TTL; nil: the resolver's own cache).
        public var ttl: Int?
        /// Why nothing resolved, or what failed on the way (a target without addresses).
        public var problems: [String]
    }

    /// A lookup's result: records, or why there are none (`nil` problem: simply none).
    public typealias Lookup<T> = (String) -> (values: [T], problem: String?)

    public static func resolve(
        name: String, port: Int?, transport: SIPTransportKind = .udp, srv: Lookup<SRVRecord>, addresses: Lookup<String>
    ) -> Resolution {
        let service = switch transport {
        case .udp: "_sip._udp.\(name)"
        case .tcp: "_sip._tcp.\(name)"
        case .tls: "_sips._tcp.\(name)"
        }
        let defaultPort = transport == .tls ? 5061 : 5060
        var problems: [String] = []
        func hosts(_ host: String, at port: Int) -> [Target] {
            let found = addresses(host)
            if let p = found.problem { problems.append("\(host): \(p)") }
            var seen: Set<String> = []
            return found.values.filter { seen.insert($0).inserted }.map { Target(ip: $0, port: port) }
        }
        if let port { return Resolution(targets: hosts(name, at: port), ttl: nil, problems: problems) }
        let records = srv(service)
        if let p = records.problem { problems.append("\(service): \(p)") }
        // "." as the only target: the service is decidedly not available (RFC 2782).
        let usable = records.values.filter { $0.target != "." && $0.target != "" && (1...65535).contains($0.port) }
        guard !usable.isEmpty else {
            if records.values.contains(where: { $0.target == "." }) { return Resolution(targets: [], ttl: nil, problems: problems + ["\(name) has no SIP service (SRV target '.')"]) }
            return Resolution(targets: hosts(name, at: defaultPort), ttl: nil, problems: problems)
        }
        let ordered = usable.enumerated().sorted { a, b in
            a.element.priority != b.element.priority ? a.element.priority < b.element.priority
                : a.element.weight != b.element.weight ? a.element.weight > b.element.weight : a.offset < b.offset
        }.map(\.element)
        var targets: [Target] = []
        for r in ordered {
            for t in hosts(r.target, at: r.port) where !targets.contains(t) { targets.append(t) }
        }
        return Resolution(targets: targets, ttl: nil, problems: problems)
    }
}
