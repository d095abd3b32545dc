/// A conference on one event loop: every 20 ms each participant's decoded audio (from its jitter
/// buffer) is mixed, and each participant hears what its role lets it hear. The roles are the ones
/// a call centre needs around an agent's call:
/// - `talker`: hears everyone, heard by everyone (a conference, or a supervisor who barges in);
/// - `listener`: hears everyone, heard by no one (a supervisor listening);
/// - `whisper(to:)`: hears everyone, heard only by one participant (a supervisor coaching the agent).
///
/// The mixer runs on the loop's `MediaClock`, before any stream sends its frame for the tick, and
/// each participant's stream plays the participant's mix like any other source. Sums are taken
/// in 32 bits and clipped once. Frames are preallocated: mixing allocates nothing.
public final class Mixer {
    /// A party with no RTP stream of its own (the host's sound card): each tick the mixer takes
    /// the frame it says and hands it the frame it hears, both on the loop's clock, so the card
    /// can sit in a conference or be listened to as any phone can.
    public protocol LocalParty: AnyObject {
        /// Fills `frame` with what the party says this tick (silence when it has nothing).
        func say(into frame: UnsafeMutableBufferPointer<Int16>)
        /// This tick's mix for the party.
        func hear(_ frame: UnsafeBufferPointer<Int16>)
    }

    public enum Role: Sendable, Equatable {
        case talker
        case listener
        case whisper(to: Int)
    }

    /// One party: its input (decoded, reordered) and the mix it hears. Either an RTP stream or a
    /// local party.
    public final class Participant: AudioSource {
        public let id: Int
        public let stream: RTPStream?
        public let local: (any LocalParty)?
        /// A stream's received audio, decoded and reordered (a local party says its own).
        public let input: JitterBuffer?
        public var role: Role
        fileprivate var heard = [Int16](repeating: 0, count: MediaClock.samplesPerFrame)
        fileprivate var out = [Int16](repeating: 0, count: MediaClock.samplesPerFrame)
        fileprivate var removed = false

        init(id: Int, stream: RTPStream?, local: (any LocalParty)? = nil, input: JitterBuffer?, role: Role) {
            self.id = id
            self.stream = stream
            self.local = local
            self.input = input
            self.role = role
        }

        /// The mix for this tick. Ends (returns nothing) once the participant has left.
        public func read(into frame: UnsafeMutableBufferPointer<Int16>) -> Int {
            guard !removed else { return 0 }
            let n = min(frame.count, out.count)
            out.withUnsafeBufferPointer { _ = UnsafeMutableBufferPointer(rebasing: frame[0..<n]).initialize(from: UnsafeBufferPointer(rebasing: $0[0..<n])) }
            return n
        }
    }

    public private(set) var participants: [Participant] = []
    private let clock: MediaClock
    private var nextID = 1
    private var sum = [Int32](repeating: 0, count: MediaClock.samplesPerFrame)

    public init(clock: MediaClock) {
        self.clock = clock
    }

    /// Adds a leg: its received audio goes into a jitter buffer, and it plays its own mix.
    @discardableResult
    public func add(_ stream: RTPStream, role: Role = .talker) -> Participant {
        RTPBridge.split(stream)
        let p = Participant(id: nextID, stream: stream, input: JitterBuffer(), role: role)
        nextID += 1
        stream.inbound = p.input
        participants.append(p)
        if participants.count == 1 { clock.add(self) }
        stream.play(p)
        return p
    }

    /// Adds a party that is no stream: it says and hears through `party` on each tick.
    @discardableResult
    public func add(local party: any LocalParty, role: Role = .talker) -> Participant {
        let p = Participant(id: nextID, stream: nil, local: party, input: nil, role: role)
        nextID += 1
        participants.append(p)
        if participants.count == 1 { clock.add(self) }
        return p
    }

    /// Removes the participant whose leg is `stream`, if there is one.
    public func remove(stream: RTPStream) {
        if let p = participants.first(where: { $0.stream === stream }) { remove(p) }
    }

    /// Removes the local party `party`, if it is in the room.
    public func remove(local party: any LocalParty) {
        if let p = participants.first(where: { $0.local === party }) { remove(p) }
    }

    public func remove(_ p: Participant) {
        p.removed = true
        if let stream = p.stream {
            if stream.inbound === p.input { stream.inbound = nil }
            stream.stopPlayback()
        }
        participants.removeAll { $0 === p }
        if participants.isEmpty { clock.remove(self) }
    }

    /// Whether `listener` hears `speaker`.
    static func hears(_ listener: Participant, _ speaker: Participant) -> Bool {
        guard listener !== speaker else { return false }
        switch speaker.role {
        case .talker: return true
        case .listener: return false
        case .whisper(let to): return to == listener.id
        }
    }

    /// One tick: pull every input once, then build each participant's mix.
    func mix() {
        for p in participants {
            p.heard.withUnsafeMutableBufferPointer { heard in
                if let local = p.local { local.say(into: heard) } else { _ = p.input?.pull(into: heard) }
            }
        }
        for listener in participants {
            for i in 0..<sum.count { sum[i] = 0 }
            for speaker in participants where Self.hears(listener, speaker) {
                for i in 0..<sum.count { sum[i] += Int32(speaker.heard[i]) }
            }
            for i in 0..<sum.count { listener.out[i] = Int16(clamping: sum[i]) }
            if let local = listener.local { listener.out.withUnsafeBufferPointer { local.hear($0) } }
        }
    }
}
