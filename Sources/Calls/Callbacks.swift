import ACD
import Logging
import Media
import NIOCore
import SIP
import SIPMessage
public import Store

/// The I/O of callbacks (issue 19): the worklist on disk, the ACD's offers of a callback turned
/// into agents' own calls, and the retries. What a caller or an attempt does is the machine's
/// (Session/CallSession+Callback.swift and +Outbound.swift).
extension InboundCallService {
    public struct CallbackError: Error, CustomStringConvertible {
        public var description: String
        init(_ d: String) { description = d }
        public init(description: String) { self.description = description }
    }

    /// The caller chose the number: it is written to the worklist, and only once it is on disk
    /// does the machine hear so (and the caller hear the promise).
    func saveCallback(_ call: ActiveCall, number: String) {
        let id = call.session.id
        guard let list = callbackList, let queue = call.machine.queue else { return deliver(.callbackSaved(false), to: call) }
        let now = scheduler.wallClock
        let entry = CallbackEntry(id: call.machine.acdCall, queue: queue, number: number, caller: call.info.caller, createdAt: now)
        let (service, sip) = (bound, loop)
        list.save(entry) { saved in
            sip.execute { service.value.callbackSaveDone(entry, saved: saved, call: id) }
        }
    }

    private func callbackSaveDone(_ entry: CallbackEntry, saved: Bool, call id: UInt64) {
        guard let call = calls[id], !call.machine.recordWritten else {
            // The caller hung up while it was written: they were promised nothing.
            if saved {
                var gone = entry
                gone.status = "cancelled"
                gone.lastOutcome = "caller hung up before the callback was confirmed"
                callbackList?.save(gone)
            }
            return
        }
        if saved {
            callbacks[entry.id] = entry
            logger.info("callback saved", metadata: ["callback.id": "\(entry.id)", "callback.number": "\(entry.number)", "queue.name": "\(entry.queue)"])
        }
        deliver(.callbackSaved(saved), to: call)
    }

    /// The ACD offers a callback to an agent: the agent's phone is rung, and once it answers the
    /// number. A phone that cannot be rung is a decline, and the ACD offers the callback again.
    func offerCallback(_ id: String, agent: String, device: String) {
        guard let entry = callbacks[id] else { return }
        func decline(_ why: String) {
            logger.warning("callback cannot ring the agent", metadata: ["callback.id": "\(id)", "agent.id": "\(agent)", "agent.reason": "\(why)"])
            acd?(.agentDeclined(agent: agent, call: id))
        }
        if device.hasPrefix("alsa:") { return decline("the sound card cannot place calls yet") }
        let phone: Destination
        switch locate(device) {
        case .success(let d): phone = d
        case .failure(let why): return decline("\(why)")
        }
        let trunk = (try? locate("tel:\(entry.number)").get())?.trunk ?? ""
        ports.allocate(near: nil).hop(to: loop).assumeIsolated().whenComplete { [weak self] result in
            guard let self else { return }
            guard case .success(let lease) = result else { return decline("no free RTP port") }
            let session = self.sessions.reserveID()
            let startedAt = self.scheduler.wallClock
            let unique = String(format: "%.0f.%llu", startedAt.rounded(.down), session)
            self.ringAgent(
                agent: agent, number: entry.number, phone: phone, trunk: trunk, id: session, unique: unique, startedAt: startedAt, lease: lease,
                callbackOf: id)
        }
    }

    /// An attempt's record is written: a try that reached the agent counts; one that did not
    /// leaves the callback with the ACD, which offers it again.
    func callbackAttemptEnded(_ facts: CallRecordFacts, call unique: String) {
        if var entry = manualCallbacks.removeValue(forKey: unique) {
            // By hand: the agent decides whether to try again; a connected call is done.
            entry.updatedAt = scheduler.wallClock
            if facts.agentAnswered {
                entry.attempts += 1
                entry.lastOutcome = facts.outcome
                if facts.outcome == "connected" { entry.status = "done" }
            }
            callbackList?.save(entry)
            logger.info("callback dialled by hand", metadata: ["callback.id": "\(entry.id)", "callback.outcome": "\(facts.outcome)", "callback.status": "\(entry.status)"])
            return
        }
        guard let id = facts.callbackOf, var entry = callbacks[id], facts.agentAnswered else { return }
        let rule = policy.callbackRules[entry.queue] ?? CallPolicy.CallbackRule(key: nil)
        let now = scheduler.wallClock
        entry.attempts += 1
        entry.agent = facts.agent
        entry.lastOutcome = facts.outcome
        entry.updatedAt = now
        var meta: Logger.Metadata = ["callback.id": "\(id)", "callback.outcome": "\(facts.outcome)", "callback.attempts": "\(entry.attempts)"]
        if facts.outcome == "connected" {
            entry.status = "done"
            callbacks[id] = nil
        } else if entry.attempts >= rule.attempts {
            entry.status = "failed"
            callbacks[id] = nil
        } else {
            entry.nextAt = now + Double(rule.retrySeconds)
            callbacks[id] = entry
            scheduleCallback(entry, after: Double(rule.retrySeconds))
            meta["callback.retry_seconds"] = "\(rule.retrySeconds)"
        }
        callbackList?.save(entry)
        logger.info(entry.status == "waiting" ? "callback to be tried again" : "callback \(entry.status)", metadata: meta)
    }

    /// Puts a waiting callback (back) in its queue: at once, or after a retry's spacing. A
    /// retry goes to the head: it has had its turn.
    func scheduleCallback(_ entry: CallbackEntry, after seconds: Double, head: Bool = true) {
        callbackTimers[entry.id]?.cancel()
        let enqueue = { [weak self] in
            guard let self, let e = self.callbacks[entry.id] else { return }
            self.callbackTimers[entry.id] = nil
            let arrival = CallArrival(call: e.id, group: e.queue, position: head ? 1 : nil, callerID: e.caller, agent: e.assigned, callback: e.number)
            let (service, sip) = (self.bound, self.loop)
            self.acdRequest?(.callArrived(arrival)) { error in
                guard let error else { return }
                sip.execute { service.value.callbackRefused(e.id, error.message) }
            }
        }
        if seconds <= 0 { return enqueue() }
        callbackTimers[entry.id] = scheduler.schedule(after: .milliseconds(Int64(seconds * 1000)), enqueue)
    }

    private func callbackRefused(_ id: String, _ why: String) {
        if var entry = callbacks[id], let agent = entry.assigned {
            // The agent it was given to left the group (a reload): the group's again.
            logger.warning("callback's agent refused by the ACD; given back to the group", metadata: ["callback.id": "\(id)", "agent.id": "\(agent)", "acd.error": "\(why)"])
            entry.assigned = nil
            entry.updatedAt = scheduler.wallClock
            callbacks[id] = entry
            callbackList?.save(entry)
            return scheduleCallback(entry, after: 0, head: true)
        }
        guard var entry = callbacks.removeValue(forKey: id) else { return }
        logger.error("callback refused by the ACD; marked failed", metadata: ["callback.id": "\(id)", "acd.error": "\(why)"])
        entry.status = "failed"
        entry.lastOutcome = "refused by the ACD: \(why)"
        entry.updatedAt = scheduler.wallClock
        callbackList?.save(entry)
    }

    /// After a start: the worklist's waiting callbacks go back in their queues, oldest first
    /// (a retry not yet due waits for its time).
    public func restoreCallbacks(_ entries: [CallbackEntry]) {
        let now = scheduler.wallClock
        for e in entries where e.status == "waiting" {
            callbacks[e.id] = e
            scheduleCallback(e, after: max(0, (e.nextAt ?? now) - now), head: false)
        }
        if !entries.isEmpty { logger.info("callbacks restored", metadata: ["callback.count": "\(entries.count)"]) }
    }

    /// The waiting callbacks, oldest first.
    public var waitingCallbacks: [CallbackEntry] { callbacks.values.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) } }

    /// An operator withdraws a callback (`acdctl callback cancel`), or marks it done (`callback
    /// done`: handled some other way). `stored` is the worklist's row, for one no queue holds.
    public func closeCallback(_ id: String, stored: CallbackEntry?, status: String, by who: String) -> Result<CallbackEntry, CallbackError> {
        if let busy = beingDialled(id) { return .failure(CallbackError(busy)) }
        guard var entry = callbacks[id] ?? stored, entry.isLive else {
            return .failure(CallbackError("no open or waiting callback \(id)"))
        }
        withdraw(id)
        entry.status = status
        entry.lastOutcome = "\(status) by \(who)"
        entry.updatedAt = scheduler.wallClock
        callbackList?.save(entry)
        logger.info("callback \(status)", metadata: ["callback.id": "\(id)", "callback.by": "\(who)"])
        return .success(entry)
    }

    /// Why a callback cannot be worked now: one of its tries is under way.
    private func beingDialled(_ id: String) -> String? {
        if let live = caller(id), live.machine.callbackOf == id { return "callback \(id) is being dialled now (call \(live.session.id))" }
        if manualCallbacks.values.contains(where: { $0.id == id }) { return "callback \(id) is being dialled now" }
        return nil
    }

    /// A supervisor gives a callback to one agent of its group (`callback.assign`), or back to
    /// the whole group (`agent` nil). A waiting one keeps its place and is offered only to that
    /// agent; an open one (a missed call, a voicemail) joins its queue for them, behind the
    /// callers waiting now. The ACD checks the agent serves the group.
    public func assignCallback(_ stored: CallbackEntry, agent: String?, by who: String, done: @escaping @Sendable (Result<CallbackEntry, CallbackError>) -> Void) {
        let id = stored.id
        if let busy = beingDialled(id) { return done(.failure(CallbackError(busy))) }
        var entry = callbacks[id] ?? stored
        guard entry.isLive else { return done(.failure(CallbackError("callback \(id) is \(entry.status), not open or waiting"))) }
        let before = entry
        entry.assigned = agent
        entry.updatedAt = scheduler.wallClock
        let event: ACDEvent
        if callbacks[id] != nil {
            // Waiting for a retry's time: it joins with its agent when it is due.
            guard entry.nextAt.map({ $0 <= scheduler.wallClock }) ?? true else { return assigned(entry, by: who, done) }
            event = .callbackAssigned(call: id, agent: agent)
        } else if let agent {
            entry.status = "waiting"
            event = .callArrived(CallArrival(call: id, group: entry.queue, callerID: entry.caller, agent: agent, callback: entry.number))
        } else {
            return assigned(entry, by: who, done)
        }
        guard let acdRequest else { return done(.failure(CallbackError("the ACD is not running"))) }
        callbacks[id] = entry
        let (service, sip, asked) = (bound, loop, entry)
        acdRequest(event) { error in
            sip.execute {
                let service = service.value
                guard let error else { return service.assigned(asked, by: who, done) }
                // Refused: as it was before.
                service.callbacks[id] = before.status == "waiting" ? before : nil
                done(.failure(CallbackError(error.message)))
            }
        }
    }

    private func assigned(_ entry: CallbackEntry, by who: String, _ done: (Result<CallbackEntry, CallbackError>) -> Void) {
        if callbacks[entry.id] != nil { callbacks[entry.id] = entry }
        callbackList?.save(entry)
        logger.info(
            entry.assigned == nil ? "callback given back to its group" : "callback assigned",
            metadata: ["callback.id": "\(entry.id)", "agent.id": "\(entry.assigned ?? "")", "callback.by": "\(who)", "queue.name": "\(entry.queue)"])
        done(.success(entry))
    }

    /// Takes a waiting callback out of its queue (or its retry's timer).
    private func withdraw(_ id: String) {
        guard let entry = callbacks.removeValue(forKey: id) else { return }
        callbackTimers.removeValue(forKey: id)?.cancel()
        if entry.nextAt.map({ $0 > scheduler.wallClock }) != true { acd?(.callerHungUp(call: id)) }
    }

    /// An agent works a callback by hand (`acdctl callback dial ID AGENT`): it leaves its queue,
    /// and the agent's own call dials its number, as `dial` does; the try is counted on it.
    public func dialCallback(_ stored: CallbackEntry, agent: String, done: @escaping (Result<(id: UInt64, uniqueID: String), DialError>) -> Void) {
        let id = stored.id
        if let busy = beingDialled(id) { return done(.failure(DialError(busy))) }
        var entry = callbacks[id] ?? stored
        guard entry.isLive else {
            return done(.failure(DialError("callback \(id) is \(stored.status), not open or waiting")))
        }
        placeCall(agent: agent, number: entry.number) { [weak self] result in
            guard let self else { return }
            if case .success(let placed) = result {
                self.withdraw(id)
                entry.status = "open"
                entry.agent = agent
                entry.updatedAt = self.scheduler.wallClock
                self.manualCallbacks[placed.uniqueID] = entry
                self.callbackList?.save(entry)
            }
            done(result)
        }
    }

    /// A caller who waited at least the group's `callback_missed_seconds` and hung up: a
    /// callback of the group's worklist for agents to work (FEATURES A8), not queued by itself.
    func missedCall(_ record: CallDetailRecord, _ facts: CallRecordFacts) {
        guard let queue = facts.queue, let rule = policy.callbackRules[queue], rule.missedSeconds > 0, (facts.waitSeconds ?? 0) >= rule.missedSeconds,
            Self.dialable(record.caller)
        else { return }
        let entry = CallbackEntry(
            id: record.uniqueID, queue: queue, number: record.caller, caller: record.caller, source: "missed", status: "open", createdAt: scheduler.wallClock)
        callbackList?.save(entry)
        logger.info("missed call kept as a callback", metadata: ["callback.id": "\(entry.id)", "callback.number": "\(entry.number)", "queue.name": "\(queue)"])
    }

    /// A message left in a group's box (or a box of its own): a callback of that worklist, open
    /// for agents to work with the message beside it (FEATURES A8). Working the callback works
    /// the message (CallbackList.save).
    func voicemailCallback(_ message: VoicemailEntry) {
        guard Self.dialable(message.caller) else {
            return logger.info("voicemail from a number that cannot be called back; no callback", metadata: ["call.unique_id": "\(message.uniqueID)"])
        }
        let entry = CallbackEntry(
            id: message.uniqueID, queue: message.queue ?? message.box, number: message.caller, caller: message.caller, source: "voicemail", status: "open",
            createdAt: message.createdAt, voicemail: message.path)
        callbackList?.save(entry)
        logger.info("voicemail kept as a callback", metadata: ["callback.id": "\(entry.id)", "callback.number": "\(entry.number)", "queue.name": "\(entry.queue)"])
    }

    /// A caller id we can dial back: digits, with a leading + at most (not "anonymous").
    static func dialable(_ number: String) -> Bool {
        let digits = number.hasPrefix("+") ? number.dropFirst() : Substring(number)
        return !digits.isEmpty && digits.allSatisfy { $0.isASCII && $0.isNumber }
    }
}
