import NIOCore
import SIPMessage

/// Frames SIP messages on a stream (RFC 3261 §18.3): header block, then Content-Length bytes. A
/// head that breaks a limit or lacks Content-Length makes the stream unreadable from there on, so
/// the decoder throws and the connection is closed. CRLF keep-alives (RFC 5626 §3.5.1) are passed
/// up on their own so the stack can answer them.
struct SIPFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = [UInt8]
    let parser: SIPParser

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        guard !view.isEmpty else { return .needMoreData }
        var leading = 0
        for b in view {
            guard b == 0x0D || b == 0x0A else { break }
            leading += 1
        }
        if leading > 0 {
            // A ping is CRLFCRLF; wait until all four bytes are here. Shorter runs before a message
            // (a pong, stray line ends) are dropped.
            if leading >= 4 {
                context.fireChannelRead(wrapInboundOut(buffer.readBytes(length: 4)!))
                return .continue
            }
            if leading == view.count { return .needMoreData }
            buffer.moveReaderIndex(forwardBy: leading)
            return .continue
        }
        guard let length = try parser.frameLength(view) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(buffer.readBytes(length: length)!))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
