import NIOCore

/// What is left of transactions that only wait out one of RFC 3261's 64*T1 timers (J, L, M): a
/// small value per key, forgotten at its deadline.
///
/// Why not a timer per record: under churn tens of thousands wait at once (issue 5), and every
/// record waits the same length, so deadlines arrive in order and one sweep for the oldest serves
/// them all. A record given a deadline a little earlier than one before it (Timer L counts from
/// the 2xx, not the ACK) is forgotten late by at most that gap. The serial tells a record from a
/// later one under the same key when its expiry comes up, and from one dropped early.
struct ExpiringRecords<Key: Hashable, Value> {
    private var records: [Key: (value: Value, serial: UInt32)] = [:]
    private var expiry = CircularBuffer<(key: Key, serial: UInt32, deadline: Duration)>()
    private var nextSerial: UInt32 = 0

    var count: Int { records.count }

    subscript(key: Key) -> Value? { records[key]?.value }

    /// The record under `key` with the serial it was inserted with, to remove that one later.
    func entry(_ key: Key) -> (value: Value, serial: UInt32)? { records[key] }

    mutating func insert(_ value: Value, for key: Key, until deadline: Duration) {
        nextSerial &+= 1
        records[key] = (value, nextSerial)
        expiry.append((key, nextSerial, deadline))
    }

    /// Forgets the record under `key` if it is still the one with `serial`.
    mutating func remove(_ key: Key, serial: UInt32) {
        if records[key]?.serial == serial { records[key] = nil }
    }

    /// When the oldest record is due, if any waits.
    var nextDeadline: Duration? { expiry.first?.deadline }

    /// Forgets every record due by `now`.
    mutating func expire(upTo now: Duration) {
        while let oldest = expiry.first, oldest.deadline <= now {
            expiry.removeFirst()
            remove(oldest.key, serial: oldest.serial)
        }
    }
}
