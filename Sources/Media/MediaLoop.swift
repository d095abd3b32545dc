import Atomics
import CMediaIO
public import Dispatch
import Foundation
public import NIOCore
import Synchronization

/// The event loop that carries call legs' RTP and RTCP: one thread with epoll, our own UDP
/// sockets read with recvmmsg into one preallocated arena, and NIO's `EventLoop` interface so the
/// call layer schedules on it, hops to it and makes futures on it exactly as on NIO's loops.
///
/// Why not NIO's datagram channels: their read path allocates three times per datagram (a
/// `SocketAddress` with its host string and the envelope array, measured with `perf probe` on
/// malloc: 91,076 mallocs for 30,000 packets) and gives every socket a receive buffer of its own,
/// which is memory per call. Here a datagram is read into the loop's arena, its source is a
/// 24-byte value, and the handler sees a pointer into the arena: nothing is allocated per packet
/// and the arena is shared by every leg on the loop.
///
/// Tasks from other threads go through a mutex-guarded array and an eventfd; that is per task,
/// not per packet, and a packet never waits on it. Tasks and timers from the loop itself take no
/// lock.
public final class MediaLoop: EventLoop, @unchecked Sendable {
    public let name: String
    private let epoll: Int32
    private let wakeFD: Int32
    private let arena: OpaquePointer
    /// Datagrams per read and the largest we accept whole (a G.722 20 ms frame is 172 bytes;
    /// 2 KiB leaves room for anything a phone sends on an RTP port).
    static let batch: UInt32 = 32
    static let stride: UInt32 = 2048
    private static let wakeToken = UInt64.max

    private let remote = Mutex<[@Sendable () -> Void]>([])
    private let stopping = ManagedAtomic<Bool>(false)
    /// Datagrams the kernel refused to send from this loop's sockets (a full buffer, no route, a
    /// bad port): dropped, never queued or retried, and counted here for status.
    let sendFailureCount = ManagedAtomic<Int>(0)
    public var sendFailures: Int { sendFailureCount.load(ordering: .relaxed) }
    private nonisolated(unsafe) var thread = pthread_t()
    private let finished = DispatchSemaphore(value: 0)

    // Loop-only from here on.
    private var local: [() -> Void] = []
    private var timers = TimerHeap()
    private var slots: [Slot] = []
    private var freeSlots: [Int] = []
    private var tokens = [UInt64](repeating: 0, count: 256)

    private struct Slot {
        var socket: MediaSocket?
        var generation: UInt32 = 0
    }

    public init(name: String) throws {
        self.name = name
        let ep = mediaio_epoll_new()
        guard ep >= 0 else { throw MediaSocketError(operation: "epoll_create1", code: -ep) }
        let wake = mediaio_eventfd_new()
        guard wake >= 0 else {
            mediaio_close(ep)
            throw MediaSocketError(operation: "eventfd", code: -wake)
        }
        guard let arena = mediaio_rx_new(Self.batch, Self.stride) else {
            mediaio_close(ep)
            mediaio_close(wake)
            throw MediaSocketError(operation: "allocating the receive arena", code: Int32(ENOMEM))
        }
        epoll = ep
        wakeFD = wake
        self.arena = arena
        _ = mediaio_epoll_add(ep, wake, Self.wakeToken)
        let started = DispatchSemaphore(value: 0)
        let worker = Thread { [self] in
            thread = pthread_self()
            started.signal()
            run()
            finished.signal()
        }
        worker.name = name
        worker.start()
        started.wait()
    }

    deinit {
        mediaio_rx_free(arena)
        mediaio_close(epoll)
        mediaio_close(wakeFD)
    }

    // MARK: EventLoop

    public var inEventLoop: Bool { pthread_equal(pthread_self(), thread) != 0 }

    public func execute(_ task: @escaping @Sendable () -> Void) {
        if inEventLoop {
            local.append(task)
            return
        }
        let wasEmpty = remote.withLock { tasks in
            tasks.append(task)
            return tasks.count == 1
        }
        // One wake-up per batch of tasks: a producer that found tasks waiting knows the loop has
        // been woken for them and takes the whole array, this task included.
        if wasEmpty { mediaio_eventfd_signal(wakeFD) }
    }

    public func scheduleTask<T>(deadline: NIODeadline, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        let promise: EventLoopPromise<T> = makePromise()
        let entry = TimerEntry {
            do { promise.assumeIsolated().succeed(try task()) } catch { promise.fail(error) }
        }
        if inEventLoop {
            timers.push(deadline: deadline, entry)
        } else {
            execute { [self] in timers.push(deadline: deadline, entry) }
        }
        return Scheduled(promise: promise, cancellationTask: { entry.cancel() })
    }

    public func scheduleTask<T>(in delay: TimeAmount, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        scheduleTask(deadline: .now() + delay, task)
    }

    public func preconditionInEventLoop(file: StaticString, line: UInt) {
        precondition(inEventLoop, "not on media loop \(name)", file: file, line: line)
    }

    public func preconditionNotInEventLoop(file: StaticString, line: UInt) {
        precondition(!inEventLoop, "on media loop \(name)", file: file, line: line)
    }

    public func shutdownGracefully(queue: DispatchQueue, _ callback: @escaping @Sendable ((any Error)?) -> Void) {
        stop()
        queue.async { callback(nil) }
    }

    /// Stops the thread after the tasks already queued have run, and waits for it. Sockets still
    /// open are closed. Not from the loop itself.
    public func stop() {
        precondition(!inEventLoop, "a media loop cannot wait for itself to stop")
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        mediaio_eventfd_signal(wakeFD)
        finished.wait()
    }

    // MARK: Sockets

    /// Binds a UDP socket on this loop whose datagrams go to `receiver`. On the loop only.
    func open(host: String, port: Int, receiveBuffer: Int, receiver: any DatagramReceiver) throws(MediaSocketError) -> MediaSocket {
        preconditionInEventLoop(file: #file, line: #line)
        let fd = mediaio_udp_bind(host, Int32(port), Int32(receiveBuffer))
        guard fd >= 0 else { throw MediaSocketError(operation: "binding \(host):\(port)", code: -fd) }
        let index: Int
        if let free = freeSlots.popLast() {
            index = free
        } else {
            index = slots.count
            slots.append(Slot())
        }
        slots[index].generation &+= 1
        let socket = MediaSocket(fd: fd, port: port, loop: self, slot: index, receiver: receiver)
        slots[index].socket = socket
        // The generation in the token makes a readiness reported for a socket closed earlier in
        // the same batch harmless even when a new socket has taken its slot.
        let token = UInt64(slots[index].generation) << 32 | UInt64(index)
        let added = mediaio_epoll_add(epoll, fd, token)
        guard added == 0 else {
            slots[index].socket = nil
            freeSlots.append(index)
            mediaio_close(fd)
            throw MediaSocketError(operation: "epoll_ctl", code: -added)
        }
        return socket
    }

    func close(_ socket: MediaSocket) {
        guard slots.indices.contains(socket.slot), slots[socket.slot].socket === socket else { return }
        _ = mediaio_epoll_remove(epoll, socket.fd)
        mediaio_close(socket.fd)
        slots[socket.slot].socket = nil
        freeSlots.append(socket.slot)
    }

    /// Sockets open on this loop.
    public var openSockets: Int { slots.count - freeSlots.count }

    // MARK: The loop

    private func run() {
        while true {
            let timeout: Int64
            if !local.isEmpty {
                timeout = 0
            } else if let next = timers.nextDeadline {
                timeout = max(0, (next - .now()).nanoseconds)
            } else {
                timeout = -1
            }
            let n = tokens.withUnsafeMutableBufferPointer { mediaio_epoll_wait(epoll, $0.baseAddress, Int32($0.count), timeout) }
            guard n > 0 else {
                runTimers()
                runLocal()
                if stopping.load(ordering: .acquiring) { return shutDown() }
                continue
            }
            // Tasks handed over before these datagrams arrived run before they are read: the
            // call layer configures a leg (echo, codec, where to send) and then answers the call,
            // and the far end's first packet must find the leg configured even when the thread
            // woke late and sees the task and the packet in one batch.
            if tokens[0..<Int(n)].contains(Self.wakeToken) {
                mediaio_eventfd_drain(wakeFD)
                let taken = remote.withLock { tasks -> [@Sendable () -> Void] in
                    defer { tasks.removeAll(keepingCapacity: true) }
                    return tasks
                }
                for task in taken { local.append(task) }
                runLocal()
            }
            let now = NIODeadline.now()
            for i in 0..<Int(n) {
                let token = tokens[i]
                guard token != Self.wakeToken else { continue }
                let index = Int(token & 0xFFFF_FFFF)
                guard index < slots.count, slots[index].generation == UInt32(token >> 32), let socket = slots[index].socket else { continue }
                readAll(socket, now: now)
            }
            runTimers()
            runLocal()
            if stopping.load(ordering: .acquiring) { return shutDown() }
        }
    }

    /// Whatever was queued before the stop still runs, then the sockets close.
    private func shutDown() {
        let last = remote.withLock { tasks -> [@Sendable () -> Void] in
            defer { tasks.removeAll() }
            return tasks
        }
        for task in last { local.append(task) }
        runLocal()
        for slot in slots { if let socket = slot.socket { socket.close() } }
        timers.removeAll()
    }

    private func runTimers() {
        let now = NIODeadline.now()
        while let entry = timers.popDue(now: now) { entry.fire() }
    }

    private func runLocal() {
        guard !local.isEmpty else { return }
        // Tasks queued while these run wait for the next turn, after I/O: a task that keeps
        // requeueing itself cannot starve the sockets.
        var batch: [() -> Void] = []
        swap(&batch, &local)
        for task in batch { task() }
        if local.isEmpty {
            batch.removeAll(keepingCapacity: true)
            swap(&batch, &local)
        }
    }

    /// Reads until the socket is empty, a bounded number of arenas at a time so one flooded
    /// socket cannot keep the others waiting: level-triggered epoll reports it again next turn.
    private func readAll(_ socket: MediaSocket, now: NIODeadline) {
        for _ in 0..<4 {
            let n = mediaio_rx_read(arena, socket.fd)
            // An error here is mostly ICMP port unreachable from an earlier send, reported on
            // the next read (ECONNREFUSED): nothing to do but read again next turn.
            guard n > 0 else { return }
            for i in 0..<UInt32(n) {
                var length: UInt32 = 0
                var truncated: Int32 = 0
                var from = mediaio_addr()
                let base = mediaio_rx_datagram(arena, i, &length, &truncated, &from)
                socket.deliver(UnsafeRawBufferPointer(start: base, count: Int(min(length, Self.stride))), from: MediaAddress(from), truncated: truncated != 0, now: now)
                // A handler may close its own socket; the rest of the arena is then not its.
                if socket.isClosed { return }
            }
            if UInt32(n) < Self.batch { return }
        }
    }
}

/// A group of media loops, one per core, made together and stopped together.
public final class MediaLoopGroup: Sendable {
    public let loops: [MediaLoop]

    public init(count: Int, name: String = "media") throws {
        precondition(count > 0)
        loops = try (0..<count).map { try MediaLoop(name: "\(name)-\($0)") }
    }

    public func stop() {
        for loop in loops { loop.stop() }
    }
}

/// A timer queued on a media loop. Cancellation can come from any thread, so whether it has run
/// or been cancelled is settled by one atomic exchange; the heap drops a cancelled entry when it
/// comes due.
final class TimerEntry: Sendable {
    private let body: @Sendable () -> Void
    private let state = ManagedAtomic<UInt8>(0)

    init(_ body: @escaping @Sendable () -> Void) { self.body = body }

    func cancel() {
        _ = state.compareExchange(expected: 0, desired: 2, ordering: .acquiringAndReleasing)
    }

    func fire() {
        guard state.compareExchange(expected: 0, desired: 1, ordering: .acquiringAndReleasing).exchanged else { return }
        body()
    }
}

/// A binary min-heap of timers by deadline, then by the order they were added (so two timers for
/// the same instant run in the order they were scheduled).
struct TimerHeap {
    private var items: [(deadline: NIODeadline, order: UInt64, entry: TimerEntry)] = []
    private var order: UInt64 = 0

    var nextDeadline: NIODeadline? { items.first?.deadline }

    mutating func push(deadline: NIODeadline, _ entry: TimerEntry) {
        order &+= 1
        items.append((deadline, order, entry))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard less(i, parent) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func popDue(now: NIODeadline) -> TimerEntry? {
        guard let first = items.first, first.deadline <= now else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var smallest = i
                if l < items.count, less(l, smallest) { smallest = l }
                if r < items.count, less(r, smallest) { smallest = r }
                if smallest == i { break }
                items.swapAt(i, smallest)
                i = smallest
            }
        }
        return first.entry
    }

    mutating func removeAll() { items.removeAll() }

    private func less(_ a: Int, _ b: Int) -> Bool {
        items[a].deadline < items[b].deadline || (items[a].deadline == items[b].deadline && items[a].order < items[b].order)
    }
}
