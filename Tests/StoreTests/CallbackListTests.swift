import Foundation
import Logging
import Store
import Testing

/// The callbacks' worklist on disk (issue 19): what a restart reads back, the filters the
/// worklist is read with, and a voicemail's message worked with its callback.
@Suite struct CallbackListTests {
    func database() throws -> (ACDDatabase, String) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("acdd-cb-\(UUID().uuidString)/acdd.sqlite").path
        return (try ACDDatabase(path: path), path)
    }

    @Test func entriesComeBackAfterReopeningWithTheirAgentAndMessage() throws {
        let (db, path) = try database()
        let list = CallbackList(database: db, logger: Logger(label: "test"))
        list.save(CallbackEntry(id: "1.1", queue: "sales", number: "0301", caller: "0301", createdAt: 10, assigned: "1002"))
        list.save(CallbackEntry(id: "1.2", queue: "sales", number: "0302", caller: "0302", source: "voicemail", status: "open", createdAt: 20, voicemail: "/v/1.2.wav"))
        list.save(CallbackEntry(id: "1.3", queue: "support", number: "0303", caller: "0303", status: "done", createdAt: 5, assigned: "1002"))
        list.flush()
        let again = CallbackList(database: try ACDDatabase(path: path), logger: Logger(label: "test"))
        #expect(try again.list().map(\.id) == ["1.3", "1.1", "1.2"], "oldest first")
        #expect(try again.list(status: "waiting", assigned: "1002").map(\.id) == ["1.1"])
        #expect(try again.list(assigned: "1002").map(\.id) == ["1.3", "1.1"])
        #expect(try again.list(assigned: "1001").isEmpty)
        let message = try #require(try again.entry("1.2"))
        #expect(message.voicemail == "/v/1.2.wav" && message.assigned == nil && message.isLive)
    }

    @Test func workingAVoicemailsCallbackWorksTheMessage() throws {
        let (db, _) = try database()
        let logger = Logger(label: "test")
        let voicemails = VoicemailIndex(database: db, logger: logger)
        voicemails.add(VoicemailEntry(uniqueID: "2.1", caller: "0301", box: "sales", queue: "sales", path: "/v/2.1.wav", seconds: 3, droppedFrames: 0, createdAt: 1))
        voicemails.add(VoicemailEntry(uniqueID: "2.2", caller: "0302", box: "sales", queue: "sales", path: "/v/2.2.wav", seconds: 3, droppedFrames: 0, createdAt: 2))
        voicemails.flush()
        let list = CallbackList(database: db, logger: logger)
        var first = CallbackEntry(id: "2.1", queue: "sales", number: "0301", caller: "0301", source: "voicemail", status: "open", createdAt: 1, voicemail: "/v/2.1.wav")
        list.save(first)
        first.status = "waiting"
        list.save(first)
        list.flush()
        #expect(try voicemails.list().allSatisfy { $0.status == "new" }, "a callback still to be worked leaves its message new")
        first.status = "done"
        list.save(first)
        // A missed call's callback with the same id as no message changes nothing.
        list.save(CallbackEntry(id: "2.2", queue: "sales", number: "0302", caller: "0302", source: "missed", status: "done", createdAt: 2))
        list.flush()
        let statuses = Dictionary(uniqueKeysWithValues: try voicemails.list().map { ($0.uniqueID, $0.status) })
        #expect(statuses == ["2.1": "done", "2.2": "new"])
    }
}
