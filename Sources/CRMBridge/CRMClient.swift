import Atomics
import Dispatch
import Foundation
import LockFree
public import Logging
public import Store

#if canImport(Glibc)
import Glibc
import JSON
#endif

/// Delivers the outbox to the CRM store and asks it about callers (FEATURES M1, M2, C7).
///
/// One thread of its own with one Unix stream connection: calls never wait for it. Events are
/// committed to the `crm_outbox` table before they are sent (by `CallRecordWriter`); this thread
/// sends them in table order, at most `window` unacknowledged at a time, and deletes a row only
/// when the store acknowledges its id. When the store is absent, restarting, or answers garbage,
/// the connection is dropped and tried again with backoff (0.1 s doubling to 5 s), and everything
/// not acknowledged is sent again from the oldest: delivery is at least once and in order, and
/// the store drops what it has seen by id.
///
/// Lookups by number share the connection. The caller bounds its own wait (the call goes on
/// without an answer); this thread answers nil at once when it is not connected.
public final class CRMClient: @unchecked Sendable {
    // Unchecked: everything below `// Thread-owned` is touched only by the client's thread; the
    // rest are atomics, the lock-free inbox and immutable settings.
    public let socketPath: String
    private let outbox: CRMOutbox
    private let logger: Logger
    private let window: Int
    private let requests = MPSCInbox<Request>(capacity: 4096)
    /// A pipe that wakes the thread's poll: written by `notify`, drained by the thread.
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let stopFlag = ManagedAtomic<Bool>(false)
    private let stopped = DispatchSemaphore(value: 0)
    private let sentCount = ManagedAtomic<Int>(0)
    private let ackedCount = ManagedAtomic<Int>(0)
    private let connectionsCount = ManagedAtomic<Int>(0)
    private let garbageCount = ManagedAtomic<Int>(0)
    private let connectedFlag = ManagedAtomic<Bool>(false)

    private enum Request {
        case lookup(number: String, done: @Sendable (CRMCustomer?) -> Void)
    }

    // Thread-owned.
    private var fd: Int32 = -1
    private var input: [UInt8] = []
    private var output: [UInt8] = []
    private var inflight: [String: Int64] = [:]
    private var lastSent: Int64 = 0
    private var backoff = 0.1
    private var nextAttempt = Date.distantPast
    private var outage = false
    private var lookups: [String: (deadline: Date, done: @Sendable (CRMCustomer?) -> Void)] = [:]
    private var lookupCounter = 0

    public init(socketPath: String, outbox: CRMOutbox, logger: Logger, window: Int = 64) {
        self.socketPath = socketPath
        self.outbox = outbox
        self.logger = logger
        self.window = window
        var ends: [Int32] = [0, 0]
        _ = pipe(&ends)
        for end in ends {
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        (wakeRead, wakeWrite) = (ends[0], ends[1])
        let thread = Thread { [self] in run() }
        thread.name = "crm-client"
        thread.start()
    }

    /// New rows are in the outbox (any thread).
    public func notify() {
        var one: UInt8 = 1
        _ = write(wakeWrite, &one, 1)
    }

    /// Asks the store about `number`; `done` runs on the client's thread with the customer, nil
    /// when unknown, not connected, or no answer within 2 s.
    public func lookup(_ number: String, done: @escaping @Sendable (CRMCustomer?) -> Void) {
        requests.push(.lookup(number: number, done: done))
        notify()
    }

    public func stop() {
        stopFlag.store(true, ordering: .relaxed)
        notify()
        stopped.wait()
    }

    public var isConnected: Bool { connectedFlag.load(ordering: .relaxed) }
    public var eventsSent: Int { sentCount.load(ordering: .relaxed) }
    public var eventsAcknowledged: Int { ackedCount.load(ordering: .relaxed) }
    public var connections: Int { connectionsCount.load(ordering: .relaxed) }
    public var garbageLines: Int { garbageCount.load(ordering: .relaxed) }

    // MARK: The thread

    private func run() {
        while !stopFlag.load(ordering: .relaxed) {
            while let r = requests.pop() {
                switch r {
                case .lookup(let number, let done): startLookup(number, done)
                }
            }
            if fd < 0 && Date() >= nextAttempt { connect() }
            if fd >= 0 { fill() }
            if fd >= 0 && !output.isEmpty { flush() }
            expireLookups()
            waitForWork()
        }
        if fd >= 0 { disconnect(nil) }
        close(wakeRead)
        close(wakeWrite)
        stopped.signal()
    }

    private func waitForWork() {
        var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
        if fd >= 0 { fds.append(pollfd(fd: fd, events: Int16(POLLIN) | (output.isEmpty ? 0 : Int16(POLLOUT)), revents: 0)) }
        var timeout: Int32 = 1000
        if fd < 0 { timeout = Int32(max(10, min(1000, nextAttempt.timeIntervalSinceNow * 1000))) }
        if !lookups.isEmpty { timeout = min(timeout, 100) }
        let n = poll(&fds, nfds_t(fds.count), timeout)
        guard n > 0 else { return }
        if fds[0].revents != 0 {
            var drain = [UInt8](repeating: 0, count: 256)
            while drain.withUnsafeMutableBytes({ read(wakeRead, $0.baseAddress, $0.count) }) > 0 {}
        }
        if fds.count > 1, fds[1].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 { receive() }
    }

    private func connect() {
        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { return retryLater("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socketPath.utf8)
        guard path.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(s)
            return retryLater("socket path too long: \(socketPath)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.enumerated() { raw[i] = b }
            raw[path.count] = 0
        }
        let ok = withUnsafePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard ok == 0 else {
            let why = String(cString: strerror(errno))
            close(s)
            return retryLater("cannot connect to \(socketPath): \(why)")
        }
        _ = fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK)
        fd = s
        connectedFlag.store(true, ordering: .relaxed)
        connectionsCount.wrappingIncrement(ordering: .relaxed)
        lastSent = 0
        let waiting = (try? outbox.count()) ?? -1
        if outage {
            logger.notice("CRM store reachable again; sending what waited", metadata: ["crm.socket": "\(socketPath)", "crm.outbox": "\(waiting)"])
        } else {
            logger.info("CRM store connected", metadata: ["crm.socket": "\(socketPath)", "crm.outbox": "\(waiting)"])
        }
        outage = false
    }

    /// Logs the first failure of an outage only; the rest wait quietly with growing backoff.
    private func retryLater(_ why: String) {
        if !outage {
            let waiting = (try? outbox.count()) ?? -1
            logger.warning(
                "CRM store unreachable; events wait in the outbox", metadata: ["crm.socket": "\(socketPath)", "crm.error": "\(why)", "crm.outbox": "\(waiting)"])
        }
        outage = true
        nextAttempt = Date().addingTimeInterval(backoff)
        backoff = min(backoff * 2, 5)
    }

    private func disconnect(_ why: String?) {
        close(fd)
        fd = -1
        connectedFlag.store(false, ordering: .relaxed)
        input.removeAll()
        output.removeAll()
        inflight.removeAll()
        lastSent = 0
        for (_, l) in lookups { l.done(nil) }
        lookups.removeAll()
        if let why { retryLater(why) }
    }

    /// Tops the window up from the outbox, in order.
    private func fill() {
        guard inflight.count < window else { return }
        let rows: [OutboxEvent]
        do {
            rows = try outbox.pending(after: lastSent, limit: window - inflight.count)
        } catch {
            logger.error("cannot read the CRM outbox", metadata: ["error": "\(error)"])
            return
        }
        for row in rows {
            output += Array(row.body.utf8) + [0x0A]
            inflight[row.id] = row.seq
            lastSent = row.seq
        }
        sentCount.wrappingIncrement(by: rows.count, ordering: .relaxed)
    }

    private func flush() {
        while !output.isEmpty {
            let n = output.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                output.removeFirst(n)
            } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                return
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return disconnect("send: \(String(cString: strerror(errno)))")
            }
        }
    }

    private func receive() {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n == 0 { return disconnect("the store closed the connection") }
        if n < 0 {
            if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return }
            return disconnect("recv: \(String(cString: strerror(errno)))")
        }
        input += chunk[0..<n]
        var acked: [String] = []
        while let nl = input.firstIndex(of: 0x0A) {
            let line = Array(input[..<nl])
            input.removeFirst(nl + 1)
            if let problem = handle(line, acked: &acked) {
                try? outbox.delete(ids: acked)
                return garbage(problem)
            }
        }
        if input.count > CRMProtocol.maxLine {
            try? outbox.delete(ids: acked)
            return garbage("a line longer than \(CRMProtocol.maxLine) bytes")
        }
        guard !acked.isEmpty else { return }
        do {
            try outbox.delete(ids: acked)
        } catch {
            // Kept rows are sent again after a reconnect; the store drops them by id.
            logger.error("cannot delete acknowledged CRM events", metadata: ["error": "\(error)"])
        }
        ackedCount.wrappingIncrement(by: acked.count, ordering: .relaxed)
        backoff = 0.1
    }

    /// One line from the store; a problem (garbage) ends the connection.
    private func handle(_ line: [UInt8], acked: inout [String]) -> String? {
        let value: JSONValue
        switch CRMProtocol.parse(line) {
        case .failure(let e): return e.description
        case .success(let v): value = v
        }
        guard let id = value["id"]?.stringValue else { return "a \(value["type"]?.stringValue ?? "") line without an id" }
        switch value["type"]?.stringValue {
        case "ack":
            guard inflight.removeValue(forKey: id) != nil else { return nil }  // a late duplicate ack
            acked.append(id)
        case "customer":
            guard let pending = lookups.removeValue(forKey: id) else { return nil }  // answered after its deadline
            let customer = value["customer"].flatMap { $0 == .null ? nil : $0 }
            pending.done(customer.map { CRMCustomer(record: $0, history: value["history"]?.arrayValue ?? []) })
        case let other:
            return "unknown type '\(other ?? "")'"
        }
        return nil
    }

    private func garbage(_ what: String) {
        garbageCount.wrappingIncrement(ordering: .relaxed)
        logger.error("CRM store sent garbage; reconnecting, nothing is lost", metadata: ["crm.error": "\(what)"])
        disconnect(nil)
        outage = true
        nextAttempt = Date().addingTimeInterval(backoff)
        backoff = min(backoff * 2, 5)
    }

    private func startLookup(_ number: String, _ done: @escaping @Sendable (CRMCustomer?) -> Void) {
        guard fd >= 0 else { return done(nil) }
        lookupCounter += 1
        let id = "L\(lookupCounter)"
        lookups[id] = (Date().addingTimeInterval(2), done)
        output += Array(CRMProtocol.lookup(id: id, number: number).utf8) + [0x0A]
    }

    private func expireLookups() {
        let now = Date()
        for (id, l) in lookups where l.deadline < now {
            lookups[id] = nil
            l.done(nil)
        }
    }
}
