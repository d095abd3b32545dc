import ACD
@testable import Calls
import Foundation
import IVR
import Logging
import Media
import NIOCore
import NIOPosix
import Prompts
import SIP
import SIPMessage
import Store
import Testing
import TestSupport

/// The shell (`InboundCallService`) with the machine inside it, as the daemon runs it but without
/// the daemon: SIP through the in-memory `FakeTransport` on the `ManualScheduler`'s clock, the
/// real ACD engine run synchronously, the shipped prompts, and one real media loop with RTP ports
/// on loopback (media is real time; SIP timers move only when the test says). The phones and
/// the trunk are the test's own messages, injected and read back, so a shell rule is checked in
/// well under a second without SIPp. Everything SIP-side runs on `loop`; `on` gets there.
final class ShellFixture: @unchecked Sendable {
    // Unchecked: every field below is touched only on `loop` (through `on`).
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    var loop: any EventLoop { group.next() }
    let media: MediaLoop
    var clock: ManualScheduler!
    var wire: FakeTransport!
    var stack: SIPStack!
    var service: InboundCallService!
    var engine: ACDEngine!
    var records: [CallDetailRecord] = []
    var queueLog: [QueueLogEntry] = []

    static let promptsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("prompts").path

    init() throws {
        media = try MediaLoop(name: "shell-test-media")
        let ports = RTPPortPools(host: "127.0.0.1", range: 41000...41199, loops: [media])
        let prompts = try PromptStore(directory: Self.promptsDirectory)
        try on {
            var logger = Logger(label: "shell-fixture")
            logger.logLevel = .critical
            let clock = ManualScheduler()
            let wire = FakeTransport()
            let stack = SIPStack(configuration: .init(), scheduler: clock, transport: wire, logger: logger)
            let sessions = SessionLayer(stack: stack)
            stack.handlers.append(sessions)
            var menu = IVRFlow.Menu(prompts: ["main-menu"], choices: ["1": "sales", "2": "support"], failure: "goodbye")
            menu.timeoutSeconds = 5
            let flow = IVRFlow(
                nodes: [
                    "welcome": .play(prompts: ["welcome"], bargeIn: true, next: "menu"), "menu": .menu(menu),
                    "sales": .route(.init(group: "sales")), "support": .route(.init(group: "support")), "goodbye": .hangUp(prompts: ["goodbye"]),
                ],
                entries: ["100": "welcome"])
            let policy = CallPolicy(
                trunks: [.init(name: "carrier", addresses: [IPNetwork("127.0.0.1")!], numbers: ["100"])], phoneUsers: ["1001": "secret1001", "1002": "secret1002"],
                media: MediaCapabilities(address: "127.0.0.1"), prompts: prompts, ivr: flow, groups: ["sales", "support"],
                agentGroups: ["1001": ["sales", "support"], "1002": ["sales", "support"]])
            let service = InboundCallService(
                policy: policy, sessions: sessions, ports: ports, loop: self.loop, authenticator: DigestAuthenticator(realm: "acdd", scheduler: clock),
                scheduler: clock, logger: logger)
            sessions.delegate = service
            var sales = GroupSettings(name: "sales")
            sales.wrapUpSeconds = 0
            let engine = try! ACDEngine(
                settings: ACDSettings(
                    groups: [sales, GroupSettings(name: "support")],
                    agents: [AgentSettings(id: "1001", skills: [.init("sales", 8)]), AgentSettings(id: "1002", skills: [.init("sales", 5)])]))
            self.clock = clock
            self.wire = wire
            self.stack = stack
            self.service = service
            self.engine = engine
            // The ACD's answers come back on a later turn of the loop, as the runner's do.
            service.acd = { [unowned self] event in _ = self.acd(event) }
            service.acdRequest = { [unowned self] event, done in done(self.acd(event)) }
            service.agentReady = { [unowned self] a in self.engine.snapshot(now: 0).agents.contains { $0.id == a && $0.state == .ready } }
            service.agentLoggedIn = { [unowned self] a in self.engine.snapshot(now: 0).agents.contains { $0.id == a && $0.state != .loggedOut } }
            service.onRecord = { [unowned self] in self.records.append($0) }
        }
    }

    deinit {
        media.stop()
        // The last reference may go on the loop itself (a closure the test sent there): the
        // asynchronous shutdown is the one allowed there.
        group.shutdownGracefully { _ in }
    }

    /// Runs `body` on the SIP loop and waits for it.
    @discardableResult
    func on<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> T {
        try loop.submit(body).wait()
    }

    /// Lets the loop run what is queued (media loop replies hop back here) for `seconds` of real
    /// time.
    func settle(_ seconds: Double = 0.05) throws {
        usleep(UInt32(seconds * 1_000_000))
        try on {}
    }

    private func acd(_ event: ACDEvent) -> ACDError? {
        var actions: [ACDAction] = []
        do {
            try engine.handle(event, now: ACDTime(Double(clock.now.components.seconds * 1000)), into: &actions)
        } catch {
            return error
        }
        var forCalls: [ACDAction] = []
        for action in actions {
            if case .log(let entry) = action { queueLog.append(entry) } else { forCalls.append(action) }
        }
        let batch = forCalls
        if !batch.isEmpty { loop.execute { [unowned self] in self.service.handleACD(batch) } }
        return nil
    }

    // MARK: The wire

    /// A request from `port` on 127.0.0.1 reaches the stack.
    func receive(_ request: SIPRequest, fromPort port: Int) throws {
        try on { self.stack.receive(request.serialized(), from: .udp(port)) }
    }

    func receive(_ response: SIPResponse, fromPort port: Int) throws {
        try on { self.stack.receive(response.serialized(), from: .udp(port)) }
    }

    /// What the stack sent, oldest first.
    func sent() throws -> [FakeTransport.Sent] { try on { self.wire.sent } }

    /// Waits (real time, bounded) until a sent message satisfies `match`.
    func await<T: Sendable>(_ what: String, seconds: Double = 2, _ match: @escaping @Sendable (FakeTransport.Sent) -> T?) throws -> T {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let found = try on({ self.wire.sent.lazy.compactMap(match).first }) { return found }
            usleep(5_000)
        }
        throw ProbeError("nothing sent: \(what)")
    }

    func state(_ callID: UInt64) throws -> String? { try on { self.service.activeCalls.first { $0.id == callID }?.state } }
    func calls() throws -> [CallSummary] { try on { self.service.activeCalls } }
}
