public import NIOCore

/// The 20 ms clock of one media event loop: at every tick each stream that is playing something
/// sends one frame. One clock per loop rather than one timer per call, so a thousand playing calls
/// cost one scheduled task per tick, and every stream's frames stay on the same beat.
///
/// Ticks are kept on absolute deadlines (start + n × 20 ms), so a late wake-up does not push the
/// following ones back and the media clock does not drift from the wall clock. When the loop was
/// held up, the frames owed are sent at once (up to `maxCatchUp`); beyond that the clock skips
/// ahead and the streams' timestamps jump with it, which the far end's jitter buffer handles as
/// a gap rather than as audio arriving faster than real time.
///
/// Loop-bound: made, fed and run on `loop` only.
public final class MediaClock {
    public static let frame = TimeAmount.milliseconds(20)
    public static let samplesPerFrame = 160
    static let maxCatchUp = 5

    let loop: any EventLoop
    private var streams: [RTPStream] = []
    /// Conferences on this loop: mixed at each tick before any stream sends.
    private var mixers: [Mixer] = []
    /// Whatever else needs the beat (call recordings): run at each tick, after the streams.
    private var tickers: [any MediaTicker] = []
    private var scheduled: Scheduled<Void>?
    private var nextDeadline = NIODeadline.uptimeNanoseconds(0)
    /// The number of the next tick; streams use it to notice gaps in what they send.
    private(set) var tick: UInt64 = 0
    /// Ticks skipped because the loop was held up longer than `maxCatchUp` frames.
    public private(set) var skippedTicks: UInt64 = 0

    /// The time, from the loop unless a test supplies a clock that can jump.
    private let now: () -> NIODeadline

    public init(loop: any EventLoop, now: (() -> NIODeadline)? = nil) {
        self.loop = loop
        self.now = now ?? { loop.now }
    }

    /// Streams being played into right now.
    public var playingCount: Int { streams.count }

    func add(_ mixer: Mixer) {
        guard !mixers.contains(where: { $0 === mixer }) else { return }
        mixers.append(mixer)
    }

    func remove(_ mixer: Mixer) {
        mixers.removeAll { $0 === mixer }
        rooms = rooms.filter { $0.value !== mixer }
    }

    /// Conferences on this loop by name, made on first use and forgotten when the last
    /// participant leaves.
    private var rooms: [String: Mixer] = [:]

    public func room(_ name: String) -> Mixer {
        if let room = rooms[name] { return room }
        let room = Mixer(clock: self)
        rooms[name] = room
        return room
    }

    public func existingRoom(_ name: String) -> Mixer? { rooms[name] }

    /// Keeps the clock running for `ticker` until `remove(ticker:)`.
    public func add(ticker: any MediaTicker) {
        guard !tickers.contains(where: { $0 === ticker }) else { return }
        tickers.append(ticker)
        startIfStopped()
    }

    public func remove(ticker: any MediaTicker) {
        tickers.removeAll { $0 === ticker }
    }

    func add(_ stream: RTPStream) {
        guard !stream.clocked else { return }
        stream.clocked = true
        streams.append(stream)
        startIfStopped()
    }

    private func startIfStopped() {
        if scheduled == nil {
            // The first frame leaves now and the beat starts from here; the tick count moves on
            // by the time the clock stood still, so streams see the gap in their timestamps.
            let now = now()
            if tick > 0, now > nextDeadline {
                tick += UInt64((now - nextDeadline).nanoseconds / Self.frame.nanoseconds)
            }
            nextDeadline = now
            run()
        }
    }

    private func run() {
        scheduled = nil
        let now = now()
        var owed = 0
        while nextDeadline <= now, owed < Self.maxCatchUp {
            for mixer in mixers { mixer.mix() }
            for stream in streams { stream.playFrame(tick: tick) }
            for ticker in tickers { ticker.tick() }
            tick += 1
            owed += 1
            nextDeadline = nextDeadline + Self.frame
        }
        if nextDeadline <= now {
            let behind = (now - nextDeadline).nanoseconds / Self.frame.nanoseconds + 1
            skippedTicks += UInt64(behind)
            tick += UInt64(behind)
            nextDeadline = nextDeadline + .nanoseconds(behind * Self.frame.nanoseconds)
        }
        streams.removeAll { stream in
            if stream.source == nil && !stream.eventsPending { stream.clocked = false; return true }
            return false
        }
        guard !streams.isEmpty || !tickers.isEmpty else { return }
        scheduled = loop.assumeIsolated().scheduleTask(deadline: nextDeadline) { [self] in run() }
    }
}

/// Something driven by a loop's media clock, once per 20 ms frame, on that loop.
public protocol MediaTicker: AnyObject {
    func tick()
}
