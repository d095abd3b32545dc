/// The bytes of an IP address written as text: 4 for dotted IPv4, 16 for IPv6 (RFC 4291 §2.2:
/// groups of up to four hex digits, at most one `::`, an optional dotted IPv4 tail). Nil for
/// anything else, host names included; brackets and zone ids are the caller's to strip.
/// One parser for URIs, Via, SDP, configuration and access lists.
public func parseIPAddress(_ text: String) -> [UInt8]? {
    let u = Array(text.utf8)
    guard !u.isEmpty, u.count <= 45 else { return nil }
    if !u.contains(0x3A) { return parseIPv4(u[...]) }

    // An IPv4 tail ("::ffff:192.0.2.1") stands for the last two groups.
    var body = u[...]
    var tail: [UInt8] = []
    if let lastColon = u.lastIndex(of: 0x3A), u[(lastColon + 1)...].contains(0x2E) {
        guard let v4 = parseIPv4(u[(lastColon + 1)...]) else { return nil }
        tail = v4
        // Keep "::" whole when the tail follows it; drop a single separating colon.
        body = u[..<(lastColon + 1)]
        if !(body.count >= 2 && body[body.endIndex - 2] == 0x3A) { body = body.dropLast() }
    }
    func groups(_ part: ArraySlice<UInt8>) -> [UInt16]? {
        if part.isEmpty { return [] }
        var out: [UInt16] = []
        for g in part.split(separator: 0x3A, omittingEmptySubsequences: false) {
            guard !g.isEmpty, g.count <= 4, g.allSatisfy(SIPChar.isHex) else { return nil }
            out.append(UInt16(String(decoding: g, as: UTF8.self), radix: 16)!)
        }
        return out
    }
    let needed = tail.isEmpty ? 8 : 6
    var all: [UInt16]
    if let gap = firstDoubleColon(body) {
        let rearPart = body[(gap + 2)...]
        guard firstDoubleColon(rearPart) == nil,
            let head = groups(body[..<gap]), let rear = groups(rearPart), head.count + rear.count < needed
        else { return nil }
        all = head + Array(repeating: 0, count: needed - head.count - rear.count) + rear
    } else {
        guard let g = groups(body), g.count == needed else { return nil }
        all = g
    }
    return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] } + tail
}

private func firstDoubleColon(_ s: ArraySlice<UInt8>) -> Int? {
    var i = s.startIndex
    while i + 1 < s.endIndex {
        if s[i] == 0x3A && s[i + 1] == 0x3A { return i }
        i += 1
    }
    return nil
}

private func parseIPv4(_ u: ArraySlice<UInt8>) -> [UInt8]? {
    let parts = u.split(separator: 0x2E, omittingEmptySubsequences: false)
    guard parts.count == 4 else { return nil }
    var out: [UInt8] = []
    for p in parts {
        guard !p.isEmpty, p.count <= 3, p.allSatisfy(SIPChar.isDigit), let v = UInt8(String(decoding: p, as: UTF8.self)) else { return nil }
        out.append(v)
    }
    return out
}

/// RFC 4291 text form of an IPv6 address (no brackets).
public func isValidIPv6(_ s: String) -> Bool { s.contains(":") && parseIPAddress(s)?.count == 16 }
