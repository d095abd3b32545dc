import CSpanDSP

/// The call-progress tones a caller hears from us: ringback while an agent's phone rings, busy and
/// congestion when a call cannot go on. Frequencies, levels and cadences follow the national
/// plans (ITU-T E.180 Supplement 2); the plan is a configuration choice because callers expect the
/// tones of their own country.
public enum CallProgressTone: String, Sendable, CaseIterable {
    case ringback, busy, congestion
}

public enum TonePlan: String, Sendable, CaseIterable {
    /// North America: ringback 440+480 Hz 2 s on 4 s off, busy 480+620 Hz 0.5/0.5, reorder 0.25/0.25.
    case us
    /// Most of Europe (CEPT): 425 Hz; ringback 1 s on 4 s off, busy 0.5/0.5, congestion 0.25/0.25.
    case eu
    /// United Kingdom: ringback 400+450 Hz 0.4/0.2/0.4/2.0, busy 400 Hz 0.375/0.375,
    /// congestion 400 Hz 0.4/0.35/0.225/0.525.
    case uk

    /// Frequencies in Hz (second 0 for a single tone), level per frequency in dBm0, and the
    /// cadence in ms: on, off, on, off.
    public struct Spec: Sendable, Equatable {
        public var f1: Int, f2: Int, level: Int
        public var cadence: (Int, Int, Int, Int)
        public static func == (a: Spec, b: Spec) -> Bool {
            a.f1 == b.f1 && a.f2 == b.f2 && a.level == b.level && a.cadence == b.cadence
        }
    }

    public func spec(_ tone: CallProgressTone) -> Spec {
        switch (self, tone) {
        case (.us, .ringback): Spec(f1: 440, f2: 480, level: -19, cadence: (2000, 4000, 0, 0))
        case (.us, .busy): Spec(f1: 480, f2: 620, level: -24, cadence: (500, 500, 0, 0))
        case (.us, .congestion): Spec(f1: 480, f2: 620, level: -24, cadence: (250, 250, 0, 0))
        case (.eu, .ringback): Spec(f1: 425, f2: 0, level: -13, cadence: (1000, 4000, 0, 0))
        case (.eu, .busy): Spec(f1: 425, f2: 0, level: -13, cadence: (500, 500, 0, 0))
        case (.eu, .congestion): Spec(f1: 425, f2: 0, level: -13, cadence: (250, 250, 0, 0))
        case (.uk, .ringback): Spec(f1: 400, f2: 450, level: -19, cadence: (400, 200, 400, 2000))
        case (.uk, .busy): Spec(f1: 400, f2: 0, level: -13, cadence: (375, 375, 0, 0))
        case (.uk, .congestion): Spec(f1: 400, f2: 0, level: -13, cadence: (400, 350, 225, 525))
        }
    }
}

/// A cadenced tone from spandsp's generator (`tone_gen`), repeating until the stream plays
/// something else.
///
/// Owns the C state (an `OpaquePointer` freed in `deinit`); used on one call's event loop only.
public final class TonePlayer: AudioSource {
    public let tone: CallProgressTone
    private let state: OpaquePointer

    public init(_ tone: CallProgressTone, plan: TonePlan) {
        self.tone = tone
        let s = plan.spec(tone)
        // spandsp copies the descriptor into the generator's state, so it is freed at once.
        let descriptor = tone_gen_descriptor_init(
            nil, Int32(s.f1), Int32(s.level), Int32(s.f2), Int32(s.f2 == 0 ? 0 : s.level),
            Int32(s.cadence.0), Int32(s.cadence.1), Int32(s.cadence.2), Int32(s.cadence.3), 1)
        state = tone_gen_init(nil, descriptor)
        tone_gen_descriptor_free(descriptor)
    }

    deinit { tone_gen_free(state) }

    public func read(into frame: UnsafeMutableBufferPointer<Int16>) -> Int {
        guard let base = frame.baseAddress else { return 0 }
        return Int(tone_gen(state, base, Int32(frame.count)))
    }
}
