import Logging
import Media

/// The bridge test number: the first caller hears ringback until a second caller dials the same
/// number, then the two are connected to each other through the relay (the same fast path a
/// caller and an agent will use), and when either hangs up so does the other. Operators use it to
/// hear a bridged call end to end; the relay benchmark (bench/relay-load) drives it with
/// thousands of calls.
extension InboundCallService {
    func pairForBridgeTest(_ call: ActiveCall, stream: RTPStream) {
        let id = call.session.id
        if let waitingID = waitingForBridge, waitingID != id, let other = calls[waitingID], let otherStream = other.lease?.stream {
            waitingForBridge = nil
            other.ringback?.stop()
            other.ringback = nil
            RTPBridge.join(otherStream, stream)
            other.summary.bridgedWith = id
            call.summary.bridgedWith = waitingID
            logger.info("calls bridged", metadata: ["call.id": "\(id)", "call.bridged_with": "\(waitingID)"])
        } else {
            waitingForBridge = id
            let tone = TonePlayer(.ringback, plan: policy.tones)
            call.ringback = tone
            stream.play(tone)
        }
    }

    /// A call that ends takes its partner with it, and no longer waits for one.
    func endBridge(of call: ActiveCall) {
        let id = call.session.id
        if waitingForBridge == id { waitingForBridge = nil }
        guard let partnerID = call.summary.bridgedWith else { return }
        if let stream = call.lease?.stream { RTPBridge.split(stream) }
        if let partner = calls[partnerID] {
            partner.summary.bridgedWith = nil
            logger.info("bridged call ended; hanging up the other side", metadata: ["call.id": "\(partnerID)", "call.bridged_with": "\(id)"])
            partner.session.hangUp()
        }
    }
}
