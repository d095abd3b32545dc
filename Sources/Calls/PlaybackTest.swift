import Prompts
import Logging
import Media

/// The playback test number: what an operator dials to hear that prompts reach a caller. It plays
/// the test announcement, the welcome and the main menu; a key press interrupts them (barge-in)
/// and is read back; then "goodbye", and the daemon hangs up. Every prompt it needs is checked at
/// start-up and reload (`promptNames`), so a broken set fails there and not on the call.
final class PlaybackTest {
    static let intro = ["playback-test", "welcome", "main-menu"]
    static let promptNames = intro + ["you-pressed", "goodbye", "star", "hash"] + (0...9).map { "number-\($0)" }

    /// The prompts that read a key back.
    static func readBack(_ key: Character) -> [String] {
        switch key {
        case "*": ["you-pressed", "star"]
        case "#": ["you-pressed", "hash"]
        case let d where d.isASCII && d.isNumber: ["you-pressed", "number-\(d)"]
        default: ["you-pressed"]
        }
    }

    private let stream: RTPStream
    private let store: PromptStore
    private let language: String
    private let hangUp: () -> Void
    private var intro: ClipPlayer?
    private var closing: ClipPlayer?

    init(stream: RTPStream, store: PromptStore, language: String, hangUp: @escaping () -> Void) throws(PromptStore.LoadError) {
        self.stream = stream
        self.store = store
        self.language = language
        self.hangUp = hangUp
        let player = ClipPlayer(try store.require(Self.intro, language: language), interruptible: true)
        intro = player
        stream.onPlaybackEnded = { [weak self] ended in self?.ended(ended) }
        stream.play(player)
    }

    func digit(_ key: Character) {
        guard let intro, intro.bargeIn() else { return }
        self.intro = nil
        finish(with: Self.readBack(key))
    }

    private func ended(_ source: any AudioSource) {
        if source === intro {
            intro = nil
            finish(with: [])
        } else if source === closing {
            closing = nil
            hangUp()
        }
    }

    private func finish(with prompts: [String]) {
        // Every name is in `promptNames`, checked when the store was loaded.
        let clips = (try? store.require(prompts + ["goodbye"], language: language)) ?? []
        let player = ClipPlayer(clips)
        closing = player
        stream.play(player)
    }
}

extension InboundCallService {
    /// What the playback test number plays, for the start-up check.
    public static var playbackTestPrompts: [String] { PlaybackTest.promptNames }

    /// The test runs on the leg's media loop; its end and failures come back here.
    func startPlaybackTest(_ call: ActiveCall, lease: RTPPortLease) {
        let id = call.session.id
        guard let store = policy.prompts else {
            logger.error("playback test without a prompt store; hanging up", metadata: ["call.id": "\(id)"])
            return hangUp(call, cause: "no prompts")
        }
        let language = policy.language
        let (service, sip) = (bound, loop)
        onMedia(lease) { stream in
            do throws(PromptStore.LoadError) {
                let test = try PlaybackTest(stream: stream, store: store, language: language) {
                    sip.execute { service.value.playbackTestEnded(id, error: nil) }
                }
                // Keys reach the test here, on the media loop, and the call's record as before.
                let report = stream.onDigit
                stream.onDigit = { digit in
                    test.digit(digit)
                    report?(digit)
                }
            } catch {
                sip.execute { service.value.playbackTestEnded(id, error: error) }
            }
        }
    }

    func playbackTestEnded(_ id: UInt64, error: PromptStore.LoadError?) {
        guard let call = calls[id] else { return }
        if let error {
            logger.error("playback test cannot start; hanging up", metadata: ["call.id": "\(id)", "prompt.error": "\(error)"])
        } else {
            logger.info("playback test done; hanging up", metadata: ["call.id": "\(id)", "call.digits": "\(call.summary.digits)"])
        }
        hangUp(call, cause: "playback test done")
    }
}
