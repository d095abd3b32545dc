import Foundation

/// One call's call-detail record (FEATURES B1): written once, when the call ends. Times are Unix
/// seconds (UTC); durations are whole seconds, rounded.
public struct CallDetailRecord: Sendable, Equatable {
    /// The call's id in the queue log, the recording's name and the CRM's events.
    public var uniqueID: String
    /// The first call of a chain of calls that belong together; a call on its own is its own.
    public var linkedID: String
    public var sipCallID: String
    public var caller: String
    public var called: String
    /// The trunk the call came in on, or `user:<id>` for an agent's own phone.
    public var trunk: String
    public var start: Double
    /// When the daemon answered (the IVR answers every call at once, so billing starts here).
    public var answer: Double?
    public var end: Double
    /// What became of the call for the centre: `connected` (reached an agent), `abandoned`
    /// (hung up waiting or while an agent's phone rang), `voicemail`, `ivr` (ended in the IVR:
    /// closed, no choice, hung up in the menu), `transferred` (to an outside number),
    /// `timeout` (the queue let the caller go), `feature` (an agent's feature code), `test`
    /// (a test number), `failed` (could not be answered).
    public var outcome: String
    public var queue: String?
    public var agent: String?
    /// Seconds from entering the first queue to an agent answering (or leaving the queue).
    public var waitSeconds: Int?
    /// Seconds bridged to agents.
    public var talkSeconds: Int?
    /// IVR nodes and keys, as `welcome>menu:1>sales`.
    public var ivrPath: String
    /// Transfers in order, as `group:support;agent:1002;number:5551234`.
    public var transfers: String
    public var recordingPath: String?
    /// `none`, `recorded`, or `failed` as known when the call ended; the recording index has the
    /// final word once the file is complete.
    public var recordingStatus: String
    public var surveyScore: Int?
    /// Why it ended, as `caller hung up`, `agent hung up`, `media timeout`, `queue timeout`...
    public var hangupCause: String
    /// Who ended it: `caller`, `agent` or `system`.
    public var hangupBy: String
    public var codec: String?
    /// `inbound` (a caller rang in) or `outbound` (an agent placed the call: click-to-dial).
    public var direction: String
    /// The account an agent's own call is billed to (`dial`'s `account`, a campaign's name);
    /// nil: the trunk, as cdr_csv's accountcode has carried until now.
    public var account: String?

    public init(
        uniqueID: String, linkedID: String? = nil, sipCallID: String, caller: String, called: String, trunk: String, start: Double, answer: Double?,
        end: Double, outcome: String, queue: String? = nil, agent: String? = nil, waitSeconds: Int? = nil, talkSeconds: Int? = nil,
        ivrPath: String = "", transfers: String = "", recordingPath: String? = nil, recordingStatus: String = "none", surveyScore: Int? = nil,
        hangupCause: String, hangupBy: String, codec: String? = nil, direction: String = "inbound", account: String? = nil
    ) {
        self.account = account
        self.direction = direction
        self.uniqueID = uniqueID
        self.linkedID = linkedID ?? uniqueID
        self.sipCallID = sipCallID
        self.caller = caller
        self.called = called
        self.trunk = trunk
        self.start = start
        self.answer = answer
        self.end = end
        self.outcome = outcome
        self.queue = queue
        self.agent = agent
        self.waitSeconds = waitSeconds
        self.talkSeconds = talkSeconds
        self.ivrPath = ivrPath
        self.transfers = transfers
        self.recordingPath = recordingPath
        self.recordingStatus = recordingStatus
        self.surveyScore = surveyScore
        self.hangupCause = hangupCause
        self.hangupBy = hangupBy
        self.codec = codec
    }

    /// Whole seconds from start to end.
    public var duration: Int { max(0, Int((end - start).rounded())) }
    /// Whole seconds from answer to end: what a carrier bills.
    public var billableSeconds: Int { answer.map { max(0, Int((end - $0).rounded())) } ?? 0 }
    /// Asterisk's disposition, for tools that read cdr_csv.
    public var disposition: String {
        if answer != nil { return "ANSWERED" }
        if outcome == "busy" { return "BUSY" }
        return outcome == "failed" || outcome == "congestion" ? "FAILED" : "NO ANSWER"
    }
}

/// One call recording in the index: written when its file is complete (or has failed).
public struct RecordingEntry: Sendable, Equatable {
    public var uniqueID: String
    public var path: String
    public var channels: Int
    public var startedAt: Double
    public var seconds: Double
    public var bytes: Int
    public var sha256: String?
    /// `complete`, `failed`, or `deleted` (by retention).
    public var status: String
    public var failure: String?
    public var droppedFrames: Int
    /// Seconds written as silence on request (FEATURES R2).
    public var pausedSeconds: Double

    public init(
        uniqueID: String, path: String, channels: Int, startedAt: Double, seconds: Double, bytes: Int, sha256: String?, status: String,
        failure: String?, droppedFrames: Int, pausedSeconds: Double
    ) {
        self.uniqueID = uniqueID
        self.path = path
        self.channels = channels
        self.startedAt = startedAt
        self.seconds = seconds
        self.bytes = bytes
        self.sha256 = sha256
        self.status = status
        self.failure = failure
        self.droppedFrames = droppedFrames
        self.pausedSeconds = pausedSeconds
    }
}
