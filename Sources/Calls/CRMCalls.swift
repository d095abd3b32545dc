import CRMBridge
import Logging
import NIOCore
import Store
import JSON

extension InboundCallService {
    /// A call's event for the CRM store (FEATURES M1): numbered within the call from 1, written to
    /// the outbox in call order (the SIP loop is the only producer of call events).
    func emit(_ call: ActiveCall, _ type: String, _ data: JSONValue) {
        guard let onOutbox else { return }
        call.crmSeq += 1
        // Every call event says which way the call goes: a store files an agent's own call under
        // the number called, a caller's under the caller.
        var data = data
        if case .object(var fields) = data {
            fields["direction"] = .string(call.machine.direction.rawValue)
            data = .object(fields)
        }
        onOutbox(CRMEvents.call(type, unique: call.machine.uniqueID, seq: call.crmSeq, time: scheduler.wallClock, data: data))
    }

    /// Asks the CRM store about the caller as soon as the call is answered; the answer (or the
    /// timeout, `crm.lookup_timeout_ms`) arrives long before the IVR routes the call, and the
    /// call never waits for it.
    func lookUpCaller(_ call: ActiveCall) {
        guard let crmLookup, !call.info.caller.isEmpty else { return deliver(.lookupDone(nil), to: call) }
        let id = call.session.id
        let (service, sip) = (bound, loop)
        call.lookupTimer = scheduler.schedule(after: .milliseconds(Int64(policy.crmLookupTimeoutMilliseconds))) { [weak self] in
            guard let self, let call = self.calls[id], !call.machine.lookupDone else { return }
            self.logger.notice("CRM lookup timed out; the call goes on without it", metadata: ["call.id": "\(id)", "crm.timeout_ms": "\(self.policy.crmLookupTimeoutMilliseconds)"])
            self.deliver(.lookupDone(nil), to: call)
        }
        crmLookup(call.info.caller) { customer in
            sip.execute {
                guard let call = service.value.calls[id], !call.machine.lookupDone else { return }
                call.lookupTimer?.cancel()
                service.value.deliver(.lookupDone(customer), to: call)
            }
        }
    }

    /// The priority a route gives this caller: a VIP customer (C7) gets at least `crm.vip_priority`.
    func priority(for call: ActiveCall, route: Int) -> Int {
        guard let customer = call.machine.customer, customer.vip else { return route }
        return max(route, policy.vipPriority)
    }

    /// The customer's own agent (C7), when the CRM names one who serves `group` and is logged in
    /// now: the call waits for that agent only (the group's maximum wait still applies).
    func ownAgent(for call: ActiveCall, group: String) -> String? {
        guard policy.routeToOwnAgent, let agent = call.machine.customer?.agent, policy.agentGroups[agent]?.contains(group) == true,
            agentLoggedIn?(agent) == true
        else { return nil }
        return agent
    }

    /// The screen pop that goes with ringing an agent (FEATURES A6).
    func screenPop(_ call: ActiveCall, agent: String) -> JSONValue {
        let waited = call.machine.facts.queuedAt.map { Int((scheduler.wallClock - $0).rounded()) } ?? 0
        var pop: JSONValue = [
            "agent": .string(agent), "caller": .string(call.machine.campaignGroup != nil ? call.machine.caller : call.info.caller), "queue": JSONValue(call.machine.queue),
            "customer": call.machine.customer?.record ?? .null,
            "new_customer": .bool(call.machine.customer.map { $0.record["status"] == "potential" } ?? true),
            "ivr_path": .array(call.machine.ivrPath.map { .string($0) }), "waited_seconds": JSONValue(waited),
            "history": .array(call.machine.customer?.history ?? []),
        ]
        // A predictive campaign's customer: the contact and the list's fields.
        if case .object(var fields) = pop, let campaign = campaignCalls[call.machine.uniqueID] {
            fields["campaign"] = campaign.screenPop
            pop = .object(fields)
        }
        return pop
    }
}
