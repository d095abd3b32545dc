import Foundation
public import Media

/// Presses `key` from `probe` to `port` as RFC 4733 events (payload type 101), as phones send
/// them: three updates, the first marked, then three end packets, all under one timestamp.
public func pressRFC4733(_ key: UInt8, from probe: UDPProbe, to port: Int, sender: inout RTPSenderState) {
    let ts = sender.nextTimestamp
    for i in 1...6 {
        let e = TelephoneEvent(event: key, end: i > 3, duration: UInt16(min(i, 4) * 160))
        var bytes = [UInt8](repeating: 0, count: 16)
        bytes.withUnsafeMutableBytes { b in
            sender.nextEvent(payloadType: 101, eventTimestamp: ts, first: i == 1).write(to: b)
            e.write(to: UnsafeMutableRawBufferPointer(rebasing: b[12...]))
        }
        probe.send(bytes, to: port)
    }
}

/// Waits until `condition` holds, up to `seconds`, looking every `every` seconds.
public func eventually(_ seconds: Double = 5, every: Double = 0.05, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(UInt32(every * 1_000_000))
    }
    return try condition()
}
