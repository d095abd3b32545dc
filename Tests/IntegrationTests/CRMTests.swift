import Control
import Foundation
import Media
import SIPMessage
import Testing
import TestSupport
import JSON

/// The reference CRM store (`acd-crm`) as a process of its own, on its own socket and file.
final class CRMStoreProcess: @unchecked Sendable {
    // Unchecked: the tests restart it from one helper thread while the test thread only reads paths.
    let socket: String
    let db: String
    private(set) var process = Process()

    init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        socket = "\(directory)/crm.sock"
        db = "\(directory)/crm.sqlite"
        try start()
    }

    func start() throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: "\(binDir)/acd-crm")
        process.arguments = ["serve", "--socket", socket, "--db", db]
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: socket) && Date() < deadline { usleep(20_000) }
    }

    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// `acd-crm dump WHAT`, one JSON value per line.
    func dump(_ what: String) throws -> [JSONValue] {
        let out = try run("\(binDir)/acd-crm", ["dump", what, "--db", db])
        return out.output.split(separator: "\n").compactMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) }
    }

    deinit { if process.isRunning { kill9() } }
}

@Suite(.serialized, .timeLimit(.minutes(3))) struct CRMTests {

    func temp(_ name: String) -> String { "/tmp/acdd-\(name)-\(UUID().uuidString.prefix(6))" }


    /// Customers imported from CSV (a bad line is named and skipped); a known VIP's call reaches
    /// the store as its events in order, with the screen pop naming the customer, VIP priority in
    /// the queue, and the call record at the end; an unknown caller becomes a potential customer.
    @Test func aCallsEventsReachTheStoreWithTheScreenPop() throws {
        let dir = temp("crm")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let csv = "number,name,company,vip,agent\n0301234567,Ada Lovelace,\"Analytical Engines, Ltd\",yes,1002\nnot-a-number,Bad,,no,\n0307654321,Charles,,no,\n"
        try csv.write(toFile: "\(dir)/customers.csv", atomically: true, encoding: .utf8)
        let imported = try run("\(binDir)/acd-crm", ["import", "\(dir)/customers.csv", "--db", "\(dir)/store/crm.sqlite"])
        #expect(imported.status == 1 && imported.output.contains("imported 2 customers") && imported.output.contains("customers.csv:3: number 'not-a-number'"), "\(imported.output)")
        let store = try CRMStoreProcess(directory: "\(dir)/store")
        let daemon = try Daemon(sets: ["crm.socket": store.socket, "groups.0.wrap_up_seconds": "0"])
        defer { daemon.stop() }
        #expect(try eventually { try daemon.status()["crm"]?["connected"] == true })

        let phone = try AgentPhone("1001", daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)
        let (call, _) = try callSales(daemon, from: "0301234567")
        _ = try phone.answerNextCall(ringFor: 0.05)
        #expect(try call.hangUp(daemon)?.status == .ok)
        if let bye = try phone.nextRequest(.bye) { phone.respond(bye, .ok) }
        // An unknown caller who hangs up in the IVR.
        let stranger = try place(daemon, number: "100", from: "0309999999")
        _ = stranger.rtp.receive()
        #expect(try stranger.hangUp(daemon)?.status == .ok)
        let drained = try eventually { try daemon.status()["crm"]?["outbox"] == 0 }
        #expect(drained, "\((try? daemon.status()["crm"]) ?? .null)")

        let events = try store.dump("events")
        let unique = try #require(daemon.control("cdr.list").result?.arrayValue?.first?["unique_id"]?.stringValue)
        let mine = events.filter { $0["stream"]?.stringValue == unique }
        #expect(mine.map { $0["event"]?.stringValue ?? "" } == ["call.incoming", "call.ivr_choice", "call.queued", "agent.ringing", "call.answered", "call.ended"], "\(mine)")
        #expect(mine.map { $0["seq"]?.doubleValue ?? 0 } == [1, 2, 3, 4, 5, 6])
        #expect(mine.allSatisfy { $0["v"] == 1 && $0["id"]?.stringValue == "\(unique):\($0["seq"]?.stringValue ?? "")" })
        let queued = try #require(mine.first { $0["event"] == "call.queued" })
        #expect(queued["data"]?["priority"] == 10 && queued["data"]?["vip"] == true, "a VIP queues with crm.vip_priority: \(queued)")
        let pop = try #require(mine.first { $0["event"] == "agent.ringing" }?["data"])
        #expect(pop["agent"] == "1001" && pop["caller"] == "0301234567" && pop["new_customer"] == false, "\(pop)")
        #expect(pop["customer"]?["name"] == "Ada Lovelace" && pop["customer"]?["company"] == "Analytical Engines, Ltd", "\(pop)")
        #expect(pop["ivr_path"]?.arrayValue?.contains("menu=1") == true && pop["waited_seconds"] != nil && pop["history"] == [], "\(pop)")
        let ended = try #require(mine.last?["data"]?["cdr"])
        #expect(ended["unique_id"]?.stringValue == unique && ended["outcome"] == "connected" && ended["agent"] == "1001")
        #expect(events.contains { $0["event"] == "agent.state" && $0["data"]?["agent"] == "1001" && $0["data"]?["state"] == "on-call" })

        let records = try store.dump("records")
        #expect(records.count == 2 && records.contains { $0["unique_id"]?.stringValue == unique })
        let customers = try store.dump("customers")
        #expect(customers.contains { $0["number"] == "0309999999" && $0["status"] == "potential" }, "\(customers)")
        #expect(customers.contains { $0["number"] == "0301234567" && $0["status"] == "customer" && $0["vip"] == 1 })

        // The next call from Ada: her screen pop carries the contact history.
        let (again, _) = try callSales(daemon, from: "0301234567")
        _ = try phone.answerNextCall(ringFor: 0.05)
        #expect(try again.hangUp(daemon)?.status == .ok)
        if let bye = try phone.nextRequest(.bye) { phone.respond(bye, .ok) }
        #expect(try eventually { try daemon.status()["crm"]?["outbox"] == 0 })
        let pops = try store.dump("events").filter { $0["event"] == "agent.ringing" }
        #expect(pops.last?["data"]?["history"]?.arrayValue?.first?["outcome"] == "connected", "\(pops.last ?? .null)")
    }

    /// A customer whose record names their own agent waits for that agent (FEATURES C7), though
    /// another has been idle longer; with that agent logged out, the call goes to anyone.
    @Test func aCustomerIsRoutedToTheirOwnAgent() throws {
        let dir = temp("crm-own")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "number,name,agent\n0305555555,Grace,1002\n".write(toFile: "\(dir)/c.csv", atomically: true, encoding: .utf8)
        #expect(try run("\(binDir)/acd-crm", ["import", "\(dir)/c.csv", "--db", "\(dir)/store/crm.sqlite"]).status == 0)
        let store = try CRMStoreProcess(directory: "\(dir)/store")
        let daemon = try Daemon(sets: ["crm.socket": store.socket, "groups.0.wrap_up_seconds": "0"])
        defer { daemon.stop() }
        #expect(try eventually { try daemon.status()["crm"]?["connected"] == true })
        let alice = try AgentPhone("1001", daemon: daemon)
        let bob = try AgentPhone("1002", daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)
        usleep(300_000)  // Alice has been idle longest: longest-idle routing would pick her
        #expect(try daemon.control("agent.login", ["agent": "1002"]).ok)

        let (call, _) = try callSales(daemon, from: "0305555555")
        _ = try bob.answerNextCall(ringFor: 0.05)
        #expect(try alice.nextRequest(.invite, timeoutMilliseconds: 300) == nil, "Alice's phone rang for Bob's customer")
        #expect(try call.hangUp(daemon)?.status == .ok)
        if let bye = try bob.nextRequest(.bye) { bob.respond(bye, .ok) }
        #expect(try daemon.control("cdr.list").result?.arrayValue?.last?["agent"] == "1002")

        // Bob logs out: his customer goes to whoever is there.
        #expect(try daemon.control("agent.logout", ["agent": "1002"]).ok)
        let (second, _) = try callSales(daemon, from: "0305555555")
        _ = try alice.answerNextCall(ringFor: 0.05)
        #expect(try second.hangUp(daemon)?.status == .ok)
        if let bye = try alice.nextRequest(.bye) { alice.respond(bye, .ok) }
        #expect(try eventually { try daemon.status()["crm"]?["outbox"] == 0 })
        let queued = try store.dump("events").filter { $0["event"] == "call.queued" }
        #expect(queued.map { $0["data"]?["agent"] ?? .null } == ["1002", .null], "\(queued)")
    }

    /// A blind transfer reaches the store between the two answers, in the call's order.
    @Test func aTransferIsAnEventBetweenTheTwoAnswers() throws {
        let store = try CRMStoreProcess(directory: temp("crm-transfer"))
        let daemon = try Daemon(sets: ["crm.socket": store.socket, "groups.0.wrap_up_seconds": "0", "groups.1.wrap_up_seconds": "0"])
        defer { daemon.stop() }
        let alice = try AgentPhone("1001", daemon: daemon)
        let bob = try AgentPhone("1002", daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)
        let (call, _) = try callSales(daemon, from: "0306666666")
        _ = try alice.answerNextCall(ringFor: 0.05)
        #expect(try daemon.control("agent.login", ["agent": "1002"]).ok)
        #expect(try alice.refer(to: "support", cseq: 201).status == .accepted)
        _ = try alice.answerUntilBye()
        _ = try bob.answerNextCall(ringFor: 0.05)
        #expect(try call.hangUp(daemon)?.status == .ok)
        if let bye = try bob.nextRequest(.bye) { bob.respond(bye, .ok) }
        #expect(try eventually { try daemon.status()["crm"]?["outbox"] == 0 })
        let unique = try #require(daemon.control("cdr.list").result?.arrayValue?.first?["unique_id"]?.stringValue)
        let mine = try store.dump("events").filter { $0["stream"]?.stringValue == unique }
        #expect(
            mine.map { $0["event"]?.stringValue ?? "" } == [
                "call.incoming", "call.ivr_choice", "call.queued", "agent.ringing", "call.answered", "call.transferred", "agent.ringing", "call.answered",
                "call.ended",
            ], "\(mine)")
        let transfer = try #require(mine.first { $0["event"] == "call.transferred" }?["data"])
        #expect(transfer["from_agent"] == "1001" && transfer["to"] == "group:support")
        #expect(mine.last?["data"]?["cdr"]?["transfers"] == "group:support" && mine.last?["data"]?["cdr"]?["agent"] == "1002")
    }

    /// A store that stops answering (SIGSTOP: connected, silent) costs a call at most the lookup
    /// timeout: the call is answered and routed as usual, and the events wait and arrive once the
    /// store runs again.
    @Test func aStuckStoreDoesNotHoldACall() throws {
        let store = try CRMStoreProcess(directory: temp("crm-stuck"))
        let daemon = try Daemon(sets: ["crm.socket": store.socket])
        defer { daemon.stop() }
        #expect(try eventually { try daemon.status()["crm"]?["connected"] == true })
        kill(store.process.processIdentifier, SIGSTOP)
        defer { kill(store.process.processIdentifier, SIGCONT) }
        let started = Date()
        let call = try place(daemon, number: "100", from: "0301111111")
        #expect(Date().timeIntervalSince(started) < 1, "answering waited for the store")
        var sender = RTPSenderState()
        _ = call.rtp.receive()
        call.press(1, sender: &sender)
        call.talk(packets: 15, sender: &sender)
        call.press(1, sender: &sender)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "queued" })
        #expect(daemon.log.contains("CRM lookup timed out"))
        #expect(try call.hangUp(daemon)?.status == .ok)
        #expect(try daemon.status()["crm"]?["outbox"]?.doubleValue ?? 0 > 0)
        kill(store.process.processIdentifier, SIGCONT)
        #expect(try eventually(10) { try daemon.status()["crm"]?["outbox"] == 0 })
        #expect(try store.dump("records").count == 1)
    }

    /// 500 calls from SIPp through the whole path while the store is killed (-9) and restarted
    /// three times: afterwards it holds every event exactly once, each call's in order, and every
    /// call's record.
    @Test(.enabled(if: haveSIPp, "SIPp (package sip-tester) is not installed"))
    func theStoreRestartedThreeTimesDuringFiveHundredCallsLosesNothing() throws {
        let calls = 500
        let store = try CRMStoreProcess(directory: temp("crm-chaos"))
        let rig = try SoakRig(agents: 60, calls: calls, sets: ["crm.socket": store.socket])
        defer { if rig.phones.isRunning { rig.phones.terminate() } }
        let daemon = rig.daemon
        #expect(try eventually { try daemon.status()["crm"]?["connected"] == true })
        let chaos = Thread {
            for _ in 0..<3 {
                Thread.sleep(forTimeInterval: 5)
                store.kill9()
                Thread.sleep(forTimeInterval: 0.7)
                try? store.start()
            }
        }
        chaos.start()
        let (status, stats, output) = try sipp(
            daemon, scenario: "caller_soak.xml", calls: calls, rate: 25, limit: 300, service: "100",
            extra: ["-mi", "127.0.0.1", "-mp", String(freePort(excluding: [daemon.sipPort, rig.phonePort]))], timeout: 150)
        #expect(status == 0 && stats.successful == calls && stats.failed == 0, "\(output.suffix(2000))")
        let drained = try eventually(30) { try daemon.status()["crm"]?["outbox"] == 0 }
        #expect(drained, "\((try? daemon.status()["crm"]) ?? .null)")
        let crm = try daemon.status()["crm"]
        #expect((crm?["connections"]?.doubleValue ?? 0) >= 4, "the store was not restarted under the client: \(crm ?? .null)")

        let cdrs = try #require(daemon.control("cdr.list").result?.arrayValue)
        #expect(cdrs.count == calls)
        let events = try store.dump("events")
        var byStream: [String: [Int]] = [:]
        var ids = Set<String>()
        for e in events {
            ids.insert(e["id"]?.stringValue ?? "")
            guard let stream = e["stream"]?.stringValue, !stream.hasPrefix("agent:") else { continue }
            byStream[stream, default: []].append(Int(e["seq"]?.doubleValue ?? 0))
        }
        #expect(ids.count == events.count, "an event was stored twice")
        #expect(byStream.count == calls, "\(byStream.count) calls have events in the store")
        let outOfOrder = byStream.filter { $0.value != Array(1...$0.value.count) }
        #expect(outOfOrder.isEmpty, "calls whose events are missing or out of order: \(outOfOrder.prefix(3))")
        let ended = Set(events.filter { $0["event"] == "call.ended" }.compactMap { $0["stream"]?.stringValue })
        #expect(ended == Set(cdrs.compactMap { $0["unique_id"]?.stringValue }))
        let records = try store.dump("records")
        #expect(Set(records.compactMap { $0["unique_id"]?.stringValue }) == ended, "\(records.count) call records in the store")
        #expect(daemon.stop() == 0)
    }

    /// An agent's own call (click-to-dial) reaches the store as an outbound call: every event says
    /// so, and the contact is filed under the number called, never under the agent.
    @Test func anAgentsOwnCallIsFiledUnderTheNumberCalled() throws {
        let dir = temp("crm-out")
        let store = try CRMStoreProcess(directory: "\(dir)/store")
        let carrier = try UDPProbe(timeoutMilliseconds: 3000)
        let daemon = try Daemon(sets: ["crm.socket": store.socket, "trunks.0.outbound": "127.0.0.1:\(carrier.port)"])
        defer { daemon.stop() }
        #expect(try eventually { try daemon.status()["crm"]?["connected"] == true })
        let phone = try AgentPhone("1001", daemon: daemon)
        let customer = try AgentPhone(unregistered: "customer", sip: carrier, daemon: daemon)
        #expect(try daemon.control("agent.login", ["agent": "1001"]).ok)
        let unique = try #require(try daemon.control("dial", ["agent": "1001", "number": "0301234567"]).result?["unique_id"]?.stringValue)
        _ = try phone.answerNextCall(ringFor: 0.05)
        _ = try customer.answerNextCall(ringFor: 0.05)
        #expect(try eventually { try daemon.control("calls").result?.arrayValue?.first?["state"] == "bridged" })
        #expect(try phone.hangUp()?.status == .ok)
        _ = try customer.answerUntilBye()
        #expect(try eventually { try daemon.status()["crm"]?["outbox"] == 0 })

        let events = try store.dump("events").filter { $0["stream"]?.stringValue == unique }
        #expect(events.compactMap { $0["event"]?.stringValue } == ["call.outbound", "call.dialling", "call.answered", "call.ended"], "\(events)")
        #expect(events.allSatisfy { $0["data"]?["direction"] == "outbound" }, "\(events)")
        #expect(events.first?["data"]?["number"] == "0301234567" && events.first?["data"]?["agent"] == "1001")
        let customers = try store.dump("customers").compactMap { $0["number"]?.stringValue }
        #expect(customers == ["0301234567"], "the number called became the customer, the agent did not: \(customers)")
        let records = try store.dump("records")
        #expect(records.count == 1 && records.first?["direction"] == "outbound", "\(records)")
        #expect(daemon.stop() == 0)
    }
}
