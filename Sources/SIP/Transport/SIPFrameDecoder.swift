import NIOCore
import SIPMessage

/// Frames SIP messages on a stream (RFC 3261 §18.3): header block, then Content-Length bytes. A
/// head that breaks a limit or lacks Content-Length makes the stream unreadable from there on, so
/// the decoder throws and the connection is closed. CRLF keep-alives (RFC 5626 §3.5.1) are passed
/// up on their own so the stack can answer them.
struct SIPFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = [UInt8]
    let parser: SIPParser
    /// How far the search for the end of the head got, so a peer sending a byte at a time costs
    /// O(n) in all rather than a rescan of the buffer per byte.
    private var scanned = 0
    /// Length of the message being received, once its head is complete.
    private var frame: Int?

    init(parser: SIPParser) { self.parser = parser }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        guard !view.isEmpty else { return .needMoreData }
        if frame == nil {
            var leading = 0
            for b in view {
                guard b == 0x0D || b == 0x0A else { break }
                leading += 1
            }
            if leading > 0 {
                // A ping is CRLFCRLF; wait until all four bytes are here. Shorter runs before a
                // message (a pong, stray line ends) are dropped.
                if leading >= 4 {
                    context.fireChannelRead(wrapInboundOut(buffer.readBytes(length: 4)!))
                    return .continue
                }
                if leading == view.count { return .needMoreData }
                buffer.moveReaderIndex(forwardBy: leading)
                scanned = 0
                return .continue
            }
            guard let headEnd = Self.endOfHead(view, from: scanned) else {
                scanned = max(0, view.count - 3)
                // An unfinished head is bounded by the message limit; its lines are checked once
                // it is complete.
                guard view.count <= parser.limits.maxMessageBytes else {
                    throw SIPParseError(.limitExceeded, "message head larger than \(parser.limits.maxMessageBytes) bytes")
                }
                return .needMoreData
            }
            // Read Content-Length (and check the head's limits) once per message.
            guard let length = try parser.messageLength(head: view.prefix(headEnd)) else {
                throw SIPParseError(.malformedHeader, "unreadable message head")
            }
            // A frame shorter than its own head would cut the stream mid-message.
            guard length >= headEnd else { throw SIPParseError(.badContentLength, "message length \(length) shorter than its head") }
            frame = length
        }
        guard let length = frame, view.count >= length else { return .needMoreData }
        frame = nil
        scanned = 0
        context.fireChannelRead(wrapInboundOut(buffer.readBytes(length: length)!))
        return .continue
    }

    /// Index just past the blank line ending the head (CRLFCRLF or LFLF), searching from `from`.
    static func endOfHead(_ view: ByteBufferView, from: Int) -> Int? {
        var i = view.startIndex + from
        while i < view.endIndex {
            if view[i] == 0x0A {
                let next = view.index(after: i)
                if next < view.endIndex, view[next] == 0x0A { return next + 1 - view.startIndex }
                if next + 1 < view.endIndex, view[next] == 0x0D, view[next + 1] == 0x0A { return next + 2 - view.startIndex }
            }
            i = view.index(after: i)
        }
        return nil
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
