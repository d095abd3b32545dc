import SIP
import Testing

/// RFC 3263 for a trunk named by DNS (issue 20), over made-up lookups.
@Suite struct SIPTargetsTests {
    typealias SRV = SIPTargets.SRVRecord
    static let hosts: [String: [String]] = ["sip1.carrier.test": ["192.0.2.1"], "sip2.carrier.test": ["192.0.2.2", "2001:db8::2"], "carrier.test": ["192.0.2.9"]]

    func resolve(_ name: String, port: Int? = nil, srv: [String: [SRV]] = [:], failing: Set<String> = []) -> SIPTargets.Resolution {
        SIPTargets.resolve(
            name: name, port: port, srv: { n in (srv[n] ?? [], failing.contains(n) ? "timed out" : nil) },
            addresses: { h in (Self.hosts[h] ?? [], Self.hosts[h] == nil ? "Name or service not known" : nil) })
    }

    @Test func srvTargetsInPriorityThenWeightOrderEachWithItsAddresses() {
        let records = ["_sip._udp.carrier.test": [
            SRV(priority: 20, weight: 0, port: 5062, target: "sip1.carrier.test"), SRV(priority: 10, weight: 10, port: 5060, target: "sip1.carrier.test"),
            SRV(priority: 10, weight: 60, port: 5070, target: "sip2.carrier.test"),
        ]]
        let r = resolve("carrier.test", srv: records)
        #expect(r.targets.map(\.description) == ["192.0.2.2:5070", "[2001:db8::2]:5070", "192.0.2.1:5060", "192.0.2.1:5062"])
        #expect(r.problems.isEmpty)
    }

    @Test func withoutSRVOrWithAPortTheNamesOwnAddresses() {
        #expect(resolve("carrier.test").targets.map(\.description) == ["192.0.2.9:5060"], "no SRV: A/AAAA at 5060")
        let srv = ["_sip._udp.carrier.test": [SRV(priority: 1, weight: 1, port: 5070, target: "sip1.carrier.test")]]
        #expect(resolve("carrier.test", port: 5080, srv: srv).targets.map(\.description) == ["192.0.2.9:5080"], "a port: no SRV lookup")
    }

    @Test func whatFailsIsSaid() {
        let r = resolve("nowhere.test")
        #expect(r.targets.isEmpty && r.problems == ["nowhere.test: Name or service not known"])
        let dot = resolve("carrier.test", srv: ["_sip._udp.carrier.test": [SRV(priority: 0, weight: 0, port: 0, target: ".")]])
        #expect(dot.targets.isEmpty && dot.problems.last == "carrier.test has no SIP service (SRV target '.')")
        let half = resolve("carrier.test", srv: ["_sip._udp.carrier.test": [
            SRV(priority: 1, weight: 0, port: 5060, target: "gone.carrier.test"), SRV(priority: 2, weight: 0, port: 5060, target: "sip1.carrier.test"),
        ]])
        #expect(half.targets.map(\.description) == ["192.0.2.1:5060"] && half.problems == ["gone.carrier.test: Name or service not known"])
        #expect(resolve("carrier.test", failing: ["_sip._udp.carrier.test"]).targets.map(\.description) == ["192.0.2.9:5060"], "an SRV lookup that fails falls back to A/AAAA")
    }
}
