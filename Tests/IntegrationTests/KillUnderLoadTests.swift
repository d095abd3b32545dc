import Foundation
import JSON
import SIPMessage
import Synchronization
import TestSupport
import Testing

/// Issue 20, faults: `kill -9` of acdd while calls come and go. Every call whose BYE the daemon
/// answered has its record after the restart, and every one of its CRM events reaches the store,
/// each call's events in order with none missing or twice, from the outbox the restart resumes.
@Suite(.serialized) struct KillUnderLoadTests {
    /// One IVR call from fresh sockets, hung up once the welcome is heard: the Call-ID once the
    /// daemon answered the BYE, nil if anything on the way failed (the daemon died).
    static func shortCall(port: Int, caller: String, byeWait: Int = 1000) -> String? {
        guard let sip = try? UDPProbe(timeoutMilliseconds: byeWait), let rtp = try? UDPProbe(timeoutMilliseconds: 1000) else { return nil }
        let offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio \(rtp.port) RTP/AVP 0\r\n"
        var invite = SIPFixtures.request(
            .invite, uri: "sip:100@127.0.0.1:\(port)", viaPort: sip.port, rport: true, callID: "k9-\(UUID().uuidString)", body: Array(offer.utf8), fromUser: caller)
        invite.headers.set(.contentType, "application/sdp")
        sip.send(invite.serialized(), to: port)
        var ok: SIPResponse?
        while ok == nil, let bytes = sip.receive() {
            guard case .response(let r)? = try? SIPParser().parse(bytes) else { continue }
            if r.status.isFinal {
                guard r.status == .ok else { return nil }
                ok = r
            }
        }
        guard let answer = ok else { return nil }
        sip.send(SIPFixtures.request(.ack, uri: "sip:100@127.0.0.1:\(port)", branch: "z9hG4bKack\(sip.port)", viaPort: sip.port, rport: true, toTag: answer.to.tag, callID: invite.callID).serialized(), to: port)
        guard rtp.receive() != nil else { return nil }
        var bye = SIPFixtures.request(
            .bye, uri: "sip:100@127.0.0.1:\(port)", branch: "z9hG4bKbye\(sip.port)", viaPort: sip.port, rport: true, toTag: answer.to.tag, callID: invite.callID, cseq: 2)
        bye.contact = []
        sip.send(bye.serialized(), to: port)
        while let bytes = sip.receive() {
            if case .response(let r)? = try? SIPParser().parse(bytes), r.cseq.method == .bye { return r.status == .ok ? invite.callID : nil }
        }
        return nil
    }

    @Test func killNineUnderLoadLosesNoRecordAndNoEventOfAFinishedCall() throws {
        let dir = "/tmp/acdd-k9-\(UUID().uuidString.prefix(6))"
        let store = try CRMStoreProcess(directory: "\(dir)/store")
        let state = "\(dir)/state"
        let sets = ["crm.socket": store.socket]
        let daemon = try Daemon(sets: sets, state: state)
        let port = daemon.sipPort
        #expect(try eventually { try daemon.status()["crm"]?["connected"] == true })

        // Four callers one call after another, until the daemon is gone; it is killed 3 s in.
        let finished = Mutex<[String]>([])
        let pid = daemon.process.processIdentifier
        DispatchQueue.global().asyncAfter(deadline: .now() + 3) { kill(pid, SIGKILL) }
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            var n = 0
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline {
                n += 1
                if let id = Self.shortCall(port: port, caller: "05\(worker)\(String(format: "%05d", n))") {
                    finished.withLock { $0.append(id) }
                } else if kill(pid, 0) != 0 {
                    return
                }
            }
        }
        daemon.process.waitUntilExit()
        #expect(daemon.process.terminationReason == .uncaughtSignal, "the daemon was not killed")
        let done = finished.withLock { $0 }
        #expect(done.count >= 20, "only \(done.count) calls finished before the kill")

        let again = try Daemon(sets: sets, state: state, sipPort: port)
        defer { again.stop() }
        let records = try #require(try again.control("cdr.list").result?.arrayValue)
        let recorded = Set(records.compactMap { $0["sip_call_id"]?.stringValue })
        let lost = done.filter { !recorded.contains($0) }
        #expect(lost.isEmpty, "\(lost.count) of \(done.count) finished calls have no record after kill -9")

        #expect(try eventually(20) { try again.status()["crm"]?["outbox"] == 0 }, "the outbox did not drain after the restart")
        let events = try store.dump("events")
        let byCall = Dictionary(grouping: events.filter { $0["stream"]?.stringValue != nil }, by: { $0["stream"]!.stringValue! })
        for record in records where recorded.contains(record["sip_call_id"]?.stringValue ?? "") && done.contains(record["sip_call_id"]?.stringValue ?? "") {
            let unique = record["unique_id"]?.stringValue ?? ""
            let mine = byCall[unique] ?? []
            let seqs = mine.compactMap { $0["seq"]?.doubleValue }.map { Int($0) }
            #expect(seqs == Array(1...max(1, seqs.count)), "call \(unique): events \(seqs), not 1...n once each")
            #expect(mine.last?["event"] == "call.ended" && mine.first?["event"] == "call.incoming", "call \(unique): \(mine.map { $0["event"] ?? .null })")
        }
        #expect(again.stop() == 0)
    }

    /// The CRM store away while calls come and go: the outbox grows on disk up to
    /// `crm.outbox_max_events`, then new events are dropped and counted (alarm and log once),
    /// each call's `call.ended` still kept; when the store comes, what waited drains in order and
    /// every finished call's record reaches it.
    @Test func theStoreAwayUnderLoadFillsTheOutboxToItsCapAndDrainsInOrder() throws {
        let dir = "/tmp/acdd-away-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: "\(dir)/store", withIntermediateDirectories: true)
        let daemon = try Daemon(sets: ["crm.socket": "\(dir)/store/crm.sock", "crm.outbox_max_events": "60"])
        defer { daemon.stop() }
        let port = daemon.sipPort
        let finished = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { worker in
            for n in 1...20 {
                if let id = Self.shortCall(port: port, caller: "06\(worker)\(String(format: "%05d", n))") { finished.withLock { $0.append(id) } }
            }
        }
        let done = finished.withLock { $0 }
        #expect(done.count == 40, "\(done.count) of 40 calls finished")
        let crm = try #require(try daemon.status()["crm"])
        #expect(crm["connected"] == false && (crm["dropped"]?.intValue ?? 0) > 0, "\(crm)")
        #expect((crm["outbox"]?.intValue ?? 0) <= 60 + 40, "past the cap only calls' ends are kept: \(crm)")
        #expect(daemon.log.components(separatedBy: "CRM outbox at its cap").count == 2, "logged once")

        let store = try CRMStoreProcess(directory: "\(dir)/store")
        #expect(try eventually(20) { try daemon.status()["crm"]?["outbox"] == 0 }, "the outbox did not drain")
        let records = try #require(try daemon.control("cdr.list").result?.arrayValue)
        #expect(Set(records.compactMap { $0["sip_call_id"]?.stringValue }) == Set(done))
        let events = try store.dump("events")
        for record in records {
            let unique = record["unique_id"]?.stringValue ?? ""
            let seqs = events.filter { $0["stream"]?.stringValue == unique }.compactMap { $0["seq"]?.doubleValue }
            #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count, "call \(unique): events out of order or twice: \(seqs)")
            #expect(events.contains { $0["stream"]?.stringValue == unique && $0["event"] == "call.ended" }, "call \(unique) has no call.ended in the store")
        }
        #expect(try store.dump("records").count == records.count)
        #expect(daemon.stop() == 0)
    }

    /// The state disk full: calls go on (the BYE is answered within 2 s though its record cannot be
    /// written), records wait in memory and are written once there is room; past
    /// `daemon.records_in_memory` new calls get 503 rather than go unrecorded. The state is a
    /// 4 MiB tmpfs the test mounts and fills.
    @Test(.enabled(if: getuid() == 0, "mounting a tmpfs for the state needs root"))
    func aFullStateDiskKeepsRecordsInMemoryAndWritesThemOnceThereIsRoom() throws {
        let dir = "/tmp/acdd-full-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let mounted = try run("/bin/mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", dir])
        try #require(mounted.status == 0, "mount: \(mounted.output)")
        defer { _ = try? run("/bin/umount", ["-l", dir]) }
        let daemon = try Daemon(sets: ["daemon.records_in_memory": "12", "crm.enabled": "false"], state: "\(dir)/state")
        defer { daemon.stop() }
        let port = daemon.sipPort
        #expect(Self.shortCall(port: port, caller: "0700000001") != nil, "a call before the disk filled")
        _ = try run("/bin/dd", ["if=/dev/zero", "of=\(dir)/filler", "bs=64k"])

        var finished: [String] = []
        var refused = false
        for n in 2...30 {
            guard let id = Self.shortCall(port: port, caller: "07000000\(String(format: "%02d", n))", byeWait: 3500) else {
                refused = true
                break
            }
            finished.append(id)
        }
        #expect(finished.count >= 2, "calls stopped going on at once on a full disk (\(finished.count))")
        #expect(refused, "\(finished.count) calls and no refusal with 12 rows allowed in memory")
        let records = try #require(try daemon.status()["records"])
        #expect(records["writes_failing"] == true && (records["waiting_in_memory"]?.intValue ?? 0) >= 12, "\(records)")
        #expect(daemon.log.components(separatedBy: "call records not written; kept for retry").count == 2, "logged once")
        #expect(daemon.process.isRunning)

        try FileManager.default.removeItem(atPath: "\(dir)/filler")
        #expect(try eventually(10) { try daemon.status()["records"]?["writes_failing"] == false }, "the records were not written once there was room")
        let written = Set(try #require(try daemon.control("cdr.list").result?.arrayValue).compactMap { $0["sip_call_id"]?.stringValue })
        #expect(finished.allSatisfy { written.contains($0) }, "\(finished.filter { !written.contains($0) }.count) records lost")
        #expect(Self.shortCall(port: port, caller: "0700000099") != nil, "new calls not taken again")
        #expect(daemon.stop() == 0)
    }
}
