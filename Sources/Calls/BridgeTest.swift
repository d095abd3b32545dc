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

/// The conference test number: every caller joins one room on the media loop and hears everyone
/// else (the mixer the supervisors' listen, whisper and barge-in modes will use).
extension InboundCallService {
    func joinConference(_ call: ActiveCall, stream: RTPStream) {
        guard stream.codec != nil else {
            logger.error("conference needs a negotiated codec; hanging up", metadata: ["call.id": "\(call.session.id)"])
            return call.session.hangUp()
        }
        let room = conference ?? Mixer(clock: ports.clock)
        conference = room
        call.conferenceSeat = room.add(stream)
        logger.info("joined conference", metadata: ["call.id": "\(call.session.id)", "conference.size": "\(room.participants.count)"])
    }

    func leaveConference(_ call: ActiveCall) {
        guard let seat = call.conferenceSeat, let room = conference else { return }
        room.remove(seat)
        call.conferenceSeat = nil
        if room.participants.isEmpty { conference = nil }
    }
}
