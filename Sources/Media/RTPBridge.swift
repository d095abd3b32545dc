/// Two call legs joined: each packet from one far end goes out to the other, re-headed as ours,
/// without decoding when both legs use the same codec (the fast path) and transcoded between
/// µ-law and A-law when they differ. Key presses (RFC 4733) cross too when the other leg
/// negotiated events. Taps on either stream still see every payload, so recording and
/// monitoring work on a bridged call.
///
/// Both legs must live on the same event loop (they do: one port pool per loop), which is what
/// lets a packet cross without a lock or a hop.
public enum RTPBridge {
    public static func join(_ a: RTPStream, _ b: RTPStream) {
        precondition(a !== b)
        a.bridged?.bridged = nil
        b.bridged?.bridged = nil
        a.stopPlayback()
        b.stopPlayback()
        a.mode = .receive
        b.mode = .receive
        a.bridged = b
        b.bridged = a
    }

    /// Separates a stream from its partner (hold, transfer, one side hung up).
    public static func split(_ a: RTPStream) {
        a.bridged?.bridged = nil
        a.bridged = nil
    }
}
