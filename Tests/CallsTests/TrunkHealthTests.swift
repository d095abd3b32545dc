@testable import Calls
import Testing

/// The keep-alive's judgement of a trunk (issue 20), on made-up outcomes and times.
@Suite struct TrunkHealthTests {
    /// The first answer brings an unknown trunk up without calling it a recovery; any final
    /// status but 408 and 503 counts as an answer.
    @Test func anyAnswerButTimeoutOrUnavailableShowsTheTrunkIsThere() {
        var h = TrunkHealth(trunk: "carrier", failuresToDown: 2)
        #expect(h.state == .unknown)
        #expect(h.observe(.answered(status: 405), at: 10) == .up(wasDown: false))
        #expect(h.state == .up && h.lastStatus == 405 && h.lastAnsweredAt == 10 && h.since == 10)
        #expect(h.observe(.answered(status: 200), at: 20) == nil)
        #expect(h.observe(.answered(status: 407), at: 30) == nil && h.failures == 0)
        #expect(h.observe(.answered(status: 503), at: 40) == nil && h.failures == 1)
        #expect(h.lastFailure == "answered 503")
    }

    /// Down after `failuresToDown` in a row, once; an answer in between starts the count again;
    /// the first answer after being down is a recovery.
    @Test func failuresInARowMarkItDownAndOneAnswerUp() {
        var h = TrunkHealth(trunk: "carrier", failuresToDown: 3)
        _ = h.observe(.answered(status: 200), at: 0)
        #expect(h.observe(.failed("no answer within 30 s"), at: 30) == nil)
        #expect(h.observe(.failed("no answer within 30 s"), at: 60) == nil)
        #expect(h.observe(.answered(status: 200), at: 90) == nil && h.failures == 0)
        #expect(h.observe(.failed("a"), at: 120) == nil)
        #expect(h.observe(.answered(status: 408), at: 150) == nil)
        let down = h.observe(.failed("the probe could not be sent"), at: 180)
        #expect(down == .down(reason: "3 keep-alive probes failed in a row, the last: the probe could not be sent"))
        #expect(h.state == .down && h.since == 180)
        #expect(h.observe(.failed("again"), at: 210) == nil && h.failures == 4)
        #expect(h.observe(.answered(status: 200), at: 240) == .up(wasDown: true))
        #expect(h.state == .up && h.failures == 0 && h.lastFailure == nil)
    }

    /// A trunk that never answers goes from unknown straight to down.
    @Test func aTrunkThatNeverAnswersGoesDown() {
        var h = TrunkHealth(trunk: "carrier", failuresToDown: 1)
        #expect(h.observe(.failed("no final response (Timer F)"), at: 5) == .down(reason: "1 keep-alive probes failed in a row, the last: no final response (Timer F)"))
    }
}
