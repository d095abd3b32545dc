import Control
import Foundation
import Synchronization
import JSON

/// Operators' event subscriptions (FEATURES O5): `subscribe` on the control socket registers a
/// connection with the topics it wants; the ACD thread and the SIP loop publish here.
///
/// Publishing costs one atomic load when nobody listens, so the ACD thread pays nothing for the
/// feature until an operator uses it. Subscribers are few and change rarely, so a mutex guards the
/// list; the line is encoded once per event, outside the mutex.
final class EventHub: Sendable {
    static let topics: Set<String> = ["agent", "queue", "call", "alarm", "campaign"]

    private struct Subscriber {
        var topics: Set<String>
        var connection: ControlConnection
        var dropped: Int
    }

    private let subscribers = Mutex<(next: Int, all: [Int: Subscriber])>((0, [:]))
    private let count = Atomic<Int>(0)

    var hasSubscribers: Bool { count.load(ordering: .relaxed) > 0 }

    func subscribe(_ connection: ControlConnection, topics: Set<String>) -> Int {
        let id = subscribers.withLock { s in
            s.next += 1
            s.all[s.next] = Subscriber(topics: topics, connection: connection, dropped: 0)
            count.store(s.all.count, ordering: .relaxed)
            return s.next
        }
        connection.closed.whenComplete { [weak self] _ in self?.unsubscribe(id) }
        return id
    }

    func unsubscribe(_ id: Int) {
        subscribers.withLock { s in
            s.all[id] = nil
            count.store(s.all.count, ordering: .relaxed)
        }
    }

    /// Sends `{"event": topic, "time": epoch, ...fields}` to every subscriber of `topic`. A
    /// subscriber that could not take earlier events is told how many it missed.
    func publish(_ topic: String, _ fields: [String: JSONValue]) {
        guard hasSubscribers else { return }
        var body = fields
        body["event"] = .string(topic)
        body["time"] = JSONValue(Date().timeIntervalSince1970)
        let line = ControlCodec.encodeLine(JSONValue.object(body))
        let targets = subscribers.withLock { s in s.all.filter { $0.value.topics.contains(topic) }.map { ($0.key, $0.value) } }
        for (id, sub) in targets {
            var out = line
            if sub.dropped > 0 {
                var withGap = body
                withGap["dropped_before"] = JSONValue(sub.dropped)
                out = ControlCodec.encodeLine(JSONValue.object(withGap))
            }
            let sent = sub.connection.send(out)
            subscribers.withLock { s in
                guard s.all[id] != nil else { return }
                s.all[id]!.dropped = sent ? 0 : s.all[id]!.dropped + 1
            }
        }
    }
}
