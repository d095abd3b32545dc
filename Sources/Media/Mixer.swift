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
    public enum Role: Sendable, Equatable {
        case talker
        case listener
        case whisper(to: Int)
    }

    /// One party: its input (decoded, reordered) and the mix it hears.
    public final class Participant: AudioSource {
        public let id: Int
        public let stream: RTPStream
        public let input: JitterBuffer
        public var role: Role
        fileprivate var heard = [Int16](repeating: 0, count: MediaClock.samplesPerFrame)
        fileprivate var out = [Int16](repeating: 0, count: MediaClock.samplesPerFrame)
        fileprivate var removed = false

        init(id: Int, stream: RTPStream, input: JitterBuffer, role: Role) {
            self.id = id
            self.stream = stream
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

    /// Removes the participant whose leg is `stream`, if there is one.
    public func remove(stream: RTPStream) {
        if let p = participants.first(where: { $0.stream === stream }) { remove(p) }
    }

    public func remove(_ p: Participant) {
        p.removed = true
        if p.stream.inbound === p.input { p.stream.inbound = nil }
        p.stream.stopPlayback()
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
        for p in participants { _ = p.heard.withUnsafeMutableBufferPointer { p.input.pull(into: $0) } }
        for listener in participants {
            for i in 0..<sum.count { sum[i] = 0 }
            for speaker in participants where Self.hears(listener, speaker) {
                for i in 0..<sum.count { sum[i] += Int32(speaker.heard[i]) }
            }
            for i in 0..<sum.count { listener.out[i] = Int16(clamping: sum[i]) }
        }
    }
}
