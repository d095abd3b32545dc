import Logging
import Media
import Recording

/// A leg on the host's sound card (FEATURES A1, `--device alsa:NAME`). For an agent, the ACD's
/// offer rings the card, and `acdctl agent answer` and `agent hangup` stand for the handset; for a
/// supervisor (`acdctl monitor --device alsa:NAME`) the card joins at once, since whoever asked is
/// sitting at it, and `acdctl monitor-stop` puts it down. The audio crosses between the caller's
/// media loop and the card's own 20 ms thread through the lock-free rings of `SoundCardPhone`.
/// To the machine it is a leg like any other.
final class SoundCardLeg {
    let call: UInt64
    let leg: LegID
    /// Who holds the card, and its key in `soundCardLegs`: the agent's id, or
    /// `supervisor:<call>` for a supervisor.
    let holder: String
    let phone: SoundCardPhone
    /// Set while the card is heard: bridged to a stream (the caller's, or a consulted party's,
    /// `bridgedTo`) or, with `bridgedTo` nil, a party in the call's room.
    var bridge: SoundCardBridge?
    var bridgedTo: RTPPortLease?
    /// The side of the call's recording the card's voice goes to; nil records nothing (a
    /// supervisor).
    var recordAs: CallRecordingFeed.Side?

    init(call: UInt64, leg: LegID, holder: String, phone: SoundCardPhone, recordAs: CallRecordingFeed.Side?) {
        self.call = call
        self.leg = leg
        self.holder = holder
        self.phone = phone
        self.recordAs = recordAs
    }
}

/// Runs on the caller's media loop. Bridged to a stream, each tick of the loop's clock sends that
/// stream's decoded frame to the card, and the stream plays what the card captured; in a room,
/// the mixer does both (`Mixer.LocalParty`).
final class SoundCardBridge: MediaTicker, AudioSource, Mixer.LocalParty, @unchecked Sendable {
    // Unchecked: made, used and dropped on the caller's media loop only.
    let phone: SoundCardPhone
    let input = JitterBuffer()
    private var frame = [Int16](repeating: 0, count: SoundCardPhone.frameSamples)
    /// The call's recording, which takes the card's side from here (there is no RTP to tap).
    var recording: CallRecordingFeed?
    var side: CallRecordingFeed.Side

    init(phone: SoundCardPhone, side: CallRecordingFeed.Side) {
        self.phone = phone
        self.side = side
    }

    func say(into frame: UnsafeMutableBufferPointer<Int16>) { _ = read(into: frame) }

    func hear(_ frame: UnsafeBufferPointer<Int16>) { phone.sendToCard(frame) }

    func tick() {
        frame.withUnsafeMutableBufferPointer { f in
            _ = input.pull(into: f)
            phone.sendToCard(UnsafeBufferPointer(f))
        }
    }

    func read(into frame: UnsafeMutableBufferPointer<Int16>) -> Int {
        if !phone.takeFromCard(into: frame) { for i in 0..<frame.count { frame[i] = 0 } }
        recording?.take(side, UnsafeBufferPointer(frame))
        return frame.count
    }
}

extension InboundCallService {
    public struct SoundCardError: Error, CustomStringConvertible, Sendable {
        public let description: String
        public init(description: String) { self.description = description }
    }

    func soundCardLeg(_ call: ActiveCall, _ leg: LegID) -> SoundCardLeg? {
        soundCardLegs.values.first { $0.call == call.session.id && $0.leg == leg }
    }

    /// The ACD offers the call to an agent on `alsa:NAME`: the card rings. A supervisor's card
    /// answers at once.
    func dialSoundCard(_ call: ActiveCall, leg: LegID, device: String) {
        let name = String(device.dropFirst("alsa:".count))
        let holder: String
        let recordAs: CallRecordingFeed.Side?
        switch call.machine.leg(leg)?.role {
        // A party consulted is not in the file until a conference or the hand-over puts it there.
        case .agent(let a): (holder, recordAs) = (a, call.machine.leg(leg)?.consult == true ? nil : .agent)
        case .supervisor: (holder, recordAs) = ("supervisor:\(call.session.id)", nil)
        default: return deliver(.legFailed(leg, reason: "a sound card takes agents' and supervisors' legs only"), to: call)
        }
        if soundCardLegs.values.contains(where: { $0.phone.device == name }) {
            return deliver(.legFailed(leg, reason: "sound card \(name) is on another call"), to: call)
        }
        let phone: SoundCardPhone
        do {
            phone = try SoundCardPhone(device: name)
        } catch {
            logger.warning("sound card cannot ring", metadata: ["call.id": "\(call.session.id)", "agent.id": "\(holder)", "agent.device": "\(device)", "agent.reason": "\(error)"])
            return deliver(.legFailed(leg, reason: error.description), to: call)
        }
        soundCardLegs[holder] = SoundCardLeg(call: call.session.id, leg: leg, holder: holder, phone: phone, recordAs: recordAs)
        guard case .supervisor = call.machine.leg(leg)?.role else {
            phone.start()
            logger.info("ringing the sound card", metadata: ["call.id": "\(call.session.id)", "agent.id": "\(holder)", "agent.device": "\(device)"])
            return deliver(.legRinging(leg), to: call)
        }
        phone.answer()
        phone.start()
        logger.info("supervisor's sound card joins", metadata: ["call.id": "\(call.session.id)", "monitor.device": "\(device)"])
        deliver(.legRinging(leg), to: call)
        deliver(.legAnswered(leg, usable: true), to: call)
    }

    /// `acdctl agent answer`: the card stops ringing and the machine bridges the caller to it.
    public func answerSoundCard(agent: String) -> Result<UInt64, SoundCardError> {
        guard let s = soundCardLegs[agent], let call = calls[s.call] else { return .failure(SoundCardError(description: "agent \(agent) has no call ringing on a sound card")) }
        guard let leg = call.machine.leg(s.leg), leg.state == .ringing else { return .failure(SoundCardError(description: "agent \(agent)'s sound card is not ringing")) }
        s.phone.answer()
        deliver(.legAnswered(s.leg, usable: true), to: call)
        return .success(s.call)
    }

    /// `acdctl agent hangup`: the agent puts the handset down.
    public func hangUpSoundCard(agent: String) -> Result<UInt64, SoundCardError> {
        guard let s = soundCardLegs[agent] else { return .failure(SoundCardError(description: "agent \(agent) has no call on a sound card")) }
        endSoundCard(s, end: .ended("agent hung up on the sound card"))
        return .success(s.call)
    }

    /// The card's leg is over (hung up by us or by the agent): the card stops, the caller's
    /// stream lets go of it, and the machine hears how it ended.
    func endSoundCard(_ s: SoundCardLeg, end: LegEnd) {
        guard soundCardLegs[s.holder] === s else { return }
        soundCardLegs[s.holder] = nil
        let phone = s.phone
        if let call = calls[s.call] {
            unbridgeSoundCard(call, s) { phone.stop() }
            deliver(.legEnded(s.leg, end), to: call)
        } else {
            phone.stop()
        }
        logger.info("sound card leg ended", metadata: ["call.id": "\(s.call)", "soundcard.holder": "\(s.holder)", "soundcard.played": "\(phone.framesPlayed)", "soundcard.captured": "\(phone.framesCaptured)", "soundcard.dropped": "\(phone.dropped)"])
    }

    /// `.bridge` to a sound-card leg (or `.bridgeLegs` with a party consulted): that stream's
    /// decoded audio goes to the card on each tick of the loop's clock, and the stream plays what
    /// the card captured.
    func bridgeSoundCard(_ call: ActiveCall, _ s: SoundCardLeg, to lease: RTPPortLease? = nil) {
        guard let target = lease ?? call.lease else { return }
        let bridge = newCardBridge(call, s)
        s.bridgedTo = target
        onMedia(target) { stream in
            RTPBridge.split(stream)
            stream.onPlaybackEnded = nil
            stream.inbound = bridge.input
            stream.play(bridge)
            stream.clock?.add(ticker: bridge)
        }
    }

    /// A fresh bridge for the card, out of any stream or room it was in, with the call's
    /// recording attached (on the caller's loop) if the card's side is recorded: a retrieve, a
    /// return or the end of a mix keeps the file whole. The caller places it (a stream or the
    /// call's room).
    func newCardBridge(_ call: ActiveCall, _ s: SoundCardLeg) -> SoundCardBridge {
        if s.bridge != nil { unbridgeSoundCard(call, s) }
        s.phone.answer()
        let bridge = SoundCardBridge(phone: s.phone, side: s.recordAs ?? .agent)
        s.bridge = bridge
        s.bridgedTo = nil
        if s.recordAs != nil, let recording = call.recording, !recording.stopped, let lease = call.lease {
            let box = recording.tap
            onMedia(lease) { _ in bridge.recording = box.value?.feed }
        }
        return bridge
    }

    /// Takes the card out of the stream it is bridged to, or out of the call's room (`.split`,
    /// `.unmix`, the leg's end); `then` runs on that loop once it is out.
    func unbridgeSoundCard(_ call: ActiveCall, _ s: SoundCardLeg, then: (@Sendable () -> Void)? = nil) {
        let bridge = s.bridge
        let lease = s.bridgedTo ?? call.lease
        let room = "call-\(call.session.id)"
        s.bridge = nil
        s.bridgedTo = nil
        guard let lease else {
            then?()
            return
        }
        onMedia(lease) { stream in
            if let bridge {
                bridge.recording = nil
                stream.clock?.remove(ticker: bridge)
                stream.clock?.existingRoom(room)?.remove(local: bridge)
                if stream.inbound === bridge.input { stream.inbound = nil }
                if stream.source === bridge { stream.stopPlayback() }
            }
            then?()
        }
    }

    /// The card's voice goes to `side` of the call's recording from now on (the hand-over makes
    /// a party consulted the agent; a conference adds it as the third).
    func recordCard(_ call: ActiveCall, _ s: SoundCardLeg, as side: CallRecordingFeed.Side) {
        s.recordAs = side
        guard let bridge = s.bridge, let lease = call.lease else { return }
        let box = call.recording.flatMap { $0.stopped ? nil : $0.tap }
        onMedia(lease) { _ in
            bridge.side = side
            if let box { bridge.recording = box.value?.feed }
        }
    }

    /// The two legs talk to each other (a consultation), whichever of them is on the card.
    func bridgeLegs(_ call: ActiveCall, _ a: LegID, _ b: LegID) {
        switch (soundCardLeg(call, a), soundCardLeg(call, b)) {
        case (let card?, nil): if let other = legSession(call, b)?.lease { bridgeSoundCard(call, card, to: other) }
        case (nil, let card?): if let other = legSession(call, a)?.lease { bridgeSoundCard(call, card, to: other) }
        case (_?, _?):
            logger.warning("two sound cards cannot be bridged to each other", metadata: ["call.id": "\(call.session.id)", "agent.leg": "\(a)", "consult.leg": "\(b)"])
        case (nil, nil):
            if let one = legSession(call, a)?.lease, let other = legSession(call, b)?.lease.stream {
                onMedia(one) { RTPBridge.join($0, other) }
            }
        }
    }

    /// A leg as it joins the call's room: a card leaves any bridge for the room.
    func joiningMember(_ call: ActiveCall, _ leg: LegID) -> RoomMember? {
        if let card = soundCardLeg(call, leg) { return .card(newCardBridge(call, card)) }
        return member(call, leg)
    }

    /// A leg as it is in the room now.
    func member(_ call: ActiveCall, _ leg: LegID) -> RoomMember? {
        if leg == .caller { return call.lease.map { .stream($0.stream) } }
        if let card = soundCardLeg(call, leg) { return card.bridge.map { .card($0) } }
        return legSession(call, leg).map { .stream($0.lease.stream) }
    }
}

/// How a leg takes part in the call's room: by its RTP stream, or as the sound card it is on.
enum RoomMember: Sendable {
    case stream(RTPStream)
    case card(SoundCardBridge)

    @discardableResult
    func join(_ room: Mixer, role: Mixer.Role = .talker) -> Mixer.Participant {
        switch self {
        case .stream(let s): room.add(s, role: role)
        case .card(let c): room.add(local: c, role: role)
        }
    }

    func isParty(_ p: Mixer.Participant) -> Bool {
        switch self {
        case .stream(let s): p.stream === s
        case .card(let c): p.local === c
        }
    }
}
