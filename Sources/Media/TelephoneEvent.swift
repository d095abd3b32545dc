/// RFC 4733 telephone-events: the 4-byte payload (§2.3) and the receiver's rule for turning a
/// stream of event packets into digits, each exactly once.
public struct TelephoneEvent: Sendable, Equatable {
    /// 0–9, 10 = *, 11 = #, 12–15 = A–D (§3.2).
    public var event: UInt8
    public var end: Bool
    /// Power level, 0 to -63 dBm0, carried as its magnitude.
    public var volume: UInt8
    /// In RTP timestamp units since the event's timestamp.
    public var duration: UInt16

    public init(event: UInt8, end: Bool, volume: UInt8 = 10, duration: UInt16) {
        self.event = event
        self.end = end
        self.volume = volume
        self.duration = duration
    }

    public enum ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        case length(Int)
        public var description: String {
            switch self { case .length(let n): "telephone-event payload of \(n) bytes, expected 4 or more" }
        }
    }

    public static func parse(_ payload: UnsafeRawBufferPointer) throws(ParseError) -> TelephoneEvent {
        // Several events may be stacked in one packet (redundancy); the first is the current one.
        guard payload.count >= 4 else { throw .length(payload.count) }
        return TelephoneEvent(event: payload[0], end: payload[1] & 0x80 != 0, volume: payload[1] & 0x3F,
                              duration: UInt16(payload[2]) << 8 | UInt16(payload[3]))
    }

    public func write(to out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= 4)
        out[0] = event
        out[1] = (end ? 0x80 : 0) | (volume & 0x3F)
        out[2] = UInt8(duration >> 8)
        out[3] = UInt8(truncatingIfNeeded: duration)
    }

    /// The key for a DTMF event code, nil for codes that are not DTMF keys.
    public static func digit(_ event: UInt8) -> Character? {
        switch event {
        case 0...9: Character(Unicode.Scalar(48 + event))
        case 10: "*"
        case 11: "#"
        case 12...15: Character(Unicode.Scalar(65 + event - 12))
        default: nil
        }
    }

    /// The event code for a DTMF key, nil for anything else.
    public static func code(_ digit: Character) -> UInt8? {
        switch digit {
        case "0"..."9": digit.asciiValue! - 48
        case "*": 10
        case "#": 11
        case "A"..."D": digit.asciiValue! - 65 + 12
        case "a"..."d": digit.asciiValue! - 97 + 12
        default: nil
        }
    }
}

/// Turns received telephone-event packets into key presses. One key press is one event, and one
/// event is identified by its RTP timestamp (RFC 4733 §2.5.1.2): the start is reported as soon as
/// its first packet arrives (a caller pressing a key in a menu should not wait for the release),
/// and everything else with that timestamp (updates, the three end packets, reordered copies) is
/// absorbed. A packet older than the current event is late and ignored. A long key press sent as
/// several segments (§2.5.1.3: the same event continuing under a new timestamp once the duration
/// field is full) stays one key press.
public struct TelephoneEventReceiver: Sendable {
    private var current: (timestamp: UInt32, event: UInt8, ended: Bool, duration: UInt16)?

    public init() {}

    /// Feeds one packet; returns the key when this packet starts a new key press.
    public mutating func receive(_ e: TelephoneEvent, timestamp: UInt32) -> Character? {
        if let c = current {
            if timestamp == c.timestamp {
                if e.end { current?.ended = true }
                current?.duration = max(c.duration, e.duration)
                return nil
            }
            // Serial-number order (RFC 1982): a timestamp behind the current one is a late packet.
            if Int32(bitPattern: timestamp &- c.timestamp) < 0 { return nil }
            let continuation = !c.ended && e.event == c.event && c.duration == .max
                && timestamp &- c.timestamp <= UInt32(UInt16.max) + 1
            current = (timestamp, e.event, e.end, e.duration)
            if continuation { return nil }
        } else {
            current = (timestamp, e.event, e.end, e.duration)
        }
        return TelephoneEvent.digit(e.event)
    }
}

/// Sending key presses as RFC 4733 events, one 20 ms tick at a time: for each key, packets every
/// 20 ms for `toneTicks` with a growing duration (the first marked), then the end packet three
/// times (§2.5.1.4: the end is what the receiver must not miss), then `gapTicks` with no event
/// before the next key. All packets of one key carry the timestamp of its start (§2.5.1.2).
public struct TelephoneEventSender: Sendable {
    public enum Step: Sendable, Equatable {
        /// Send this event; `first` for the first packet of a key (marker), `last` after its last.
        case event(TelephoneEvent, first: Bool, last: Bool)
        /// Between keys: no event this tick.
        case gap
    }

    public var toneTicks = 5
    public var gapTicks = 3
    public static let endRepeats = 3
    private var queue: [UInt8] = []
    private var tick = 0

    public init() {}

    public var isActive: Bool { !queue.isEmpty }

    /// Queues keys (0–9, *, #, A–D); returns false, queuing none, if any is not a key.
    public mutating func queue(_ digits: String) -> Bool {
        let codes = digits.map { TelephoneEvent.code($0) }
        guard codes.allSatisfy({ $0 != nil }) else { return false }
        queue += codes.map { $0! }
        return true
    }

    public mutating func next() -> Step? {
        guard let code = queue.first else { return nil }
        let t = tick
        tick += 1
        if t < toneTicks {
            return .event(TelephoneEvent(event: code, end: false, duration: UInt16((t + 1) * 160)), first: t == 0, last: false)
        }
        if t < toneTicks + Self.endRepeats {
            return .event(TelephoneEvent(event: code, end: true, duration: UInt16(toneTicks * 160)), first: false, last: t == toneTicks + Self.endRepeats - 1)
        }
        if t == toneTicks + Self.endRepeats + gapTicks - 1 {
            queue.removeFirst()
            tick = 0
        }
        return .gap
    }
}
