import Logging
import Media

/// The bridge test number: the first caller hears ringback until a second caller dials the same
/// number, then the two are connected to each other through the relay (the same fast path a
/// caller and an agent will use), and when either hangs up so does the other. Operators use it to
/// hear a bridged call end to end; the relay benchmark (bench/relay-load.sh) drives it with
/// thousands of calls. The second caller's leg is allocated on the first one's media loop
/// (`incomingSession`), so the relay never crosses threads.
extension InboundCallService {
    func pairForBridgeTest(_ call: ActiveCall, lease: RTPPortLease) {
        let id = call.session.id
        let here = ObjectIdentifier(lease.loop)
        if let waitingID = waitingForBridge[here], waitingID != id, let other = calls[waitingID], let otherLease = other.lease {
            waitingForBridge[here] = nil
            let stream = lease.stream
            // Joining stops the waiting caller's ringback.
            onMedia(otherLease) { waiting in RTPBridge.join(waiting, stream) }
            other.info.bridgedWith = id
            call.info.bridgedWith = waitingID
            logger.info("calls bridged", metadata: ["call.id": "\(id)", "call.bridged_with": "\(waitingID)"])
        } else {
            waitingForBridge[here] = id
            let plan = policy.tones
            onMedia(lease) { stream in stream.play(TonePlayer(.ringback, plan: plan)) }
        }
    }

    /// A call that ends takes its partner with it, and no longer waits for one. (Releasing the
    /// leg splits the bridge on its loop.)
    func endBridge(of call: ActiveCall) {
        let id = call.session.id
        for (loop, waiting) in waitingForBridge where waiting == id { waitingForBridge[loop] = nil }
        guard let partnerID = call.summary.bridgedWith, let partner = calls[partnerID] else { return }
        partner.info.bridgedWith = nil
        logger.info("bridged call ended; hanging up the other side", metadata: ["call.id": "\(partnerID)", "call.bridged_with": "\(id)"])
        hangUp(partner, cause: "bridged caller hung up")
    }
}

/// The conference test number: every caller joins one room and hears everyone else (the mixer
/// the supervisors' listen, whisper and barge-in modes will use). Members are allocated on the
/// room's media loop.
extension InboundCallService {
    func joinConference(_ call: ActiveCall, lease: RTPPortLease) {
        let id = call.session.id
        var room = Self.conferenceRoom
        let size = policy.conferenceSize
        if size > 0 {
            // Rooms of `size`, each on one loop: a member allocated elsewhere starts a room there.
            let here = ObjectIdentifier(lease.loop)
            if var filling = conferenceFilling, filling.loop == here, filling.members < size {
                filling.members += 1
                room = filling.name
                conferenceFilling = filling.members == size ? nil : filling
            } else {
                conferenceRoomsMade += 1
                room = "\(Self.conferenceRoom)-\(conferenceRoomsMade)"
                conferenceFilling = size > 1 ? (room, here, 1, lease) : nil
            }
        }
        conferenceMembers[id] = (lease, room)
        let name = room
        onMedia(lease) { stream in
            guard stream.codec != nil, let clock = stream.clock else { return }
            clock.room(name).add(stream)
        }
        logger.info("joined conference", metadata: ["call.id": "\(id)", "conference.room": "\(room)", "conference.members": "\(conferenceMembers.count)"])
    }

    func leaveConference(_ call: ActiveCall) {
        guard let (lease, room) = conferenceMembers.removeValue(forKey: call.session.id) else { return }
        if conferenceFilling?.name == room, conferenceFilling?.lease === lease { conferenceFilling = nil }
        onMedia(lease) { stream in stream.clock?.existingRoom(room)?.remove(stream: stream) }
    }
}
