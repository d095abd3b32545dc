import ACD
import JSON

/// Callbacks (FEATURES C4; issue 19): a waiting caller presses the group's callback key, keys
/// the number (or takes the one they call from), and hangs up with their place kept. The ACD
/// turns their entry into a callback once the worklist has it on disk; when its turn comes the
/// ACD offers it to an agent, and the attempt is an agent's own call (`callbackOf`).
extension CallSession {
    public static let callbackPrompts = ["callback-confirm", "callback-thanks"]
    /// How long the caller has to key the number, from the end of each key.
    static let callbackEntrySeconds: Int64 = 10

    /// A key while waiting: the group's callback key starts the choice of number.
    mutating func callbackKey(_ key: Character, into out: inout [CallAction]) -> Bool {
        guard phase == .queued, direction == .inbound, let q = queue, rules.callbackKeys[q] == key else { return false }
        phase = .callback
        callbackDigits = ""
        play(["callback-confirm"], interruptible: true, for: .announcement, into: &out)
        out.append(.arm(.callbackEntry, after: .seconds(Self.callbackEntrySeconds)))
        out.append(.log(.info, "caller asks for a callback", ["queue.name": q]))
        return true
    }

    /// Keys while choosing: 1 first takes the caller's own number; digits then # another; * goes
    /// back to waiting.
    mutating func callbackEntry(_ key: Character, into out: inout [CallAction]) {
        guard callbackSaving == nil else { return }
        switch key {
        case "*":
            out.append(.log(.info, "caller went back to waiting", [:]))
            backToWaiting(into: &out)
        case "1" where callbackDigits.isEmpty:
            saveCallback(caller, into: &out)
        case "#":
            saveCallback(callbackDigits.isEmpty ? caller : callbackDigits, into: &out)
        default:
            guard key.isNumber, callbackDigits.count < 20 else { return }
            if callbackDigits.isEmpty { out.append(.stopPlayback) }
            callbackDigits.append(key)
            out.append(.arm(.callbackEntry, after: .seconds(Self.callbackEntrySeconds)))
        }
    }

    private mutating func saveCallback(_ number: String, into out: inout [CallAction]) {
        // A number too short to dial (or an anonymous caller with none) is asked for again.
        guard number.count >= 3, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "+") }) else {
            out.append(.log(.info, "callback number not usable", ["callback.number": number]))
            callbackDigits = ""
            play(["invalid", "callback-confirm"], interruptible: true, for: .announcement, into: &out)
            out.append(.arm(.callbackEntry, after: .seconds(Self.callbackEntrySeconds)))
            return
        }
        callbackSaving = number
        out.append(.disarm(.callbackEntry))
        out.append(.saveCallback(number: number))
    }

    /// Nothing keyed in time: the caller goes on waiting, as before.
    mutating func callbackEntryTimedOut(into out: inout [CallAction]) {
        guard phase == .callback, callbackSaving == nil else { return }
        out.append(.log(.info, "no callback number keyed; the caller waits on", [:]))
        backToWaiting(into: &out)
    }

    private mutating func backToWaiting(into out: inout [CallAction]) {
        out.append(.disarm(.callbackEntry))
        callbackDigits = ""
        phase = .queued
        playback = nil
        out.append(.playMusic)
    }

    /// The worklist has it: the ACD's entry becomes the callback, and the caller hears the
    /// goodbye. Unsaved, the caller is not promised anything and waits on.
    mutating func callbackSaved(_ saved: Bool, at time: CallTime, into out: inout [CallAction]) {
        guard let number = callbackSaving else { return }
        callbackSaving = nil
        guard saved else {
            out.append(.log(.warning, "callback could not be saved; the caller waits on", ["callback.number": number]))
            return backToWaiting(into: &out)
        }
        // An agent's phone may have started ringing meanwhile: the ACD withdraws that ring.
        for leg in legs where leg.agent != nil && leg.isOffer { release(leg.id, into: &out) }
        agent = nil
        facts.callbackNumber = number
        acdHasCall = false
        out.append(.tellACD(.callerCallback(call: acdCall, number: number)))
        out.append(.emit("call.callback", ["queue": queue.map { .string($0) } ?? .null, "number": .string(number)]))
        farewell(["callback-thanks"], cause: "callback requested", into: &out)
    }

    /// The ACD stopped ringing the agent for a callback (ring timeout, logout): the attempt ends
    /// without a word to the ACD, which offers the callback again.
    mutating func callbackWithdrawn(at time: CallTime, into out: inout [CallAction]) {
        guard legs[0].isOffer else { return }
        acdHasCall = false
        hangUp(cause: "agent's phone did not answer", by: "system", at: time, into: &out)
    }
}
