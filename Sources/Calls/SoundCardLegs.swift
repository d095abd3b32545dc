import Logging
import Media
import Recording

/// An agent whose phone is the host's sound card (FEATURES A1, `--device alsa:NAME`): the ACD's
/// offer rings the card, `acdctl agent answer` and `agent hangup` stand for the handset, and the
/// audio crosses between the caller's media loop and the card's own 20 ms thread through the
/// lock-free rings of `SoundCardPhone`. To the machine it is an agent's leg like any other.
final class SoundCardLeg {
    let call: UInt64
    let leg: LegID
    let agent: String
    let phone: SoundCardPhone
    /// Set while a stream (the caller's, or a consulted party's) hears the card, and that
    /// stream's lease.
    var bridge: SoundCardBridge?
    var bridgedTo: RTPPortLease?

    init(call: UInt64, leg: LegID, agent: String, phone: SoundCardPhone) {
        self.call = call
        self.leg = leg
        self.agent = agent
        self.phone = phone
    }
}

/// Runs on the caller's media loop: each tick of the loop's clock sends the caller's decoded
/// frame to the card, and the caller's stream plays what the card captured.
final class SoundCardBridge: MediaTicker, AudioSource, @unchecked Sendable {
    // Unchecked: made, used and dropped on the caller's media loop only.
    let phone: SoundCardPhone
    let input = JitterBuffer()
    private var frame = [Int16](repeating: 0, count: SoundCardPhone.frameSamples)
    /// The call's recording, which takes the card's side from here (there is no RTP to tap).
    var recording: CallRecordingFeed?

    init(phone: SoundCardPhone) { self.phone = phone }

    func tick() {
        frame.withUnsafeMutableBufferPointer { f in
            _ = input.pull(into: f)
            phone.sendToCard(UnsafeBufferPointer(f))
        }
    }

    func read(into frame: UnsafeMutableBufferPointer<Int16>) -> Int {
        if !phone.takeFromCard(into: frame) { for i in 0..<frame.count { frame[i] = 0 } }
        recording?.take(.agent, UnsafeBufferPointer(frame))
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

    /// The ACD offers the call to an agent on `alsa:NAME`: the card rings.
    func dialSoundCard(_ call: ActiveCall, leg: LegID, device: String) {
        let name = String(device.dropFirst("alsa:".count))
        guard let agent = call.machine.leg(leg)?.agent else { return deliver(.legFailed(leg, reason: "a sound card answers agents' calls only"), to: call) }
        if soundCardLegs.values.contains(where: { $0.phone.device == name }) {
            return deliver(.legFailed(leg, reason: "sound card \(name) is on another call"), to: call)
        }
        let phone: SoundCardPhone
        do {
            phone = try SoundCardPhone(device: name)
        } catch {
            logger.warning("sound card cannot ring", metadata: ["call.id": "\(call.session.id)", "agent.id": "\(agent)", "agent.device": "\(device)", "agent.reason": "\(error)"])
            return deliver(.legFailed(leg, reason: error.description), to: call)
        }
        phone.start()
        soundCardLegs[agent] = SoundCardLeg(call: call.session.id, leg: leg, agent: agent, phone: phone)
        logger.info("ringing the sound card", metadata: ["call.id": "\(call.session.id)", "agent.id": "\(agent)", "agent.device": "\(device)"])
        deliver(.legRinging(leg), to: call)
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
        guard soundCardLegs[s.agent] === s else { return }
        soundCardLegs[s.agent] = nil
        let phone = s.phone
        if let call = calls[s.call] {
            unbridgeSoundCard(call, s) { phone.stop() }
            deliver(.legEnded(s.leg, end), to: call)
        } else {
            phone.stop()
        }
        logger.info("sound card leg ended", metadata: ["call.id": "\(s.call)", "agent.id": "\(s.agent)", "soundcard.played": "\(phone.framesPlayed)", "soundcard.captured": "\(phone.framesCaptured)", "soundcard.dropped": "\(phone.dropped)"])
    }

    /// `.bridge` to a sound-card leg (or `.bridgeLegs` with a party consulted): that stream's
    /// decoded audio goes to the card on each tick of the loop's clock, and the stream plays what
    /// the card captured.
    func bridgeSoundCard(_ call: ActiveCall, _ s: SoundCardLeg, to lease: RTPPortLease? = nil) {
        guard let target = lease ?? call.lease else { return }
        if s.bridge != nil { unbridgeSoundCard(call, s) }
        s.phone.answer()
        let bridge = SoundCardBridge(phone: s.phone)
        s.bridge = bridge
        s.bridgedTo = target
        onMedia(target) { stream in
            RTPBridge.split(stream)
            stream.onPlaybackEnded = nil
            stream.inbound = bridge.input
            stream.play(bridge)
            stream.clock?.add(ticker: bridge)
        }
    }

    /// Takes the card out of the caller's stream (`.split`, the leg's end); `then` runs on the
    /// caller's loop once it is out.
    func unbridgeSoundCard(_ call: ActiveCall, _ s: SoundCardLeg, then: (@Sendable () -> Void)? = nil) {
        let bridge = s.bridge
        let lease = s.bridgedTo ?? call.lease
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
                if stream.inbound === bridge.input { stream.inbound = nil }
                if stream.source === bridge { stream.stopPlayback() }
            }
            then?()
        }
    }
}
