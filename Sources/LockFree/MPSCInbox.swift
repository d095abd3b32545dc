import Atomics

/// An unbounded multi-producer single-consumer queue: any thread may `push`, exactly one thread
/// (the owner, e.g. the ACD engine's thread) may `pop`. This is Dmitry Vyukov's node-based MPSC
/// queue: producers never wait for each other (one atomic exchange each) and the consumer never
/// waits for producers.
///
/// Why this shape and not a bounded ring: the inbox carries control events (calls arriving, agents
/// changing state) whose producers are event loops that must never block or drop, and whose rate is
/// far below a packet rate. One node allocation per item is the price; the ring below is the
/// structure for per-packet work.
///
/// Memory orderings, argued:
/// - `push` writes the element into a fresh node, then publishes the node with an *acquiring-and-
///   releasing* exchange on `head`. The release half makes the node's contents visible to the next
///   producer that receives it as `prev`; the acquire half orders this producer's later write to
///   `prev.next` after the previous producer's initialisation of `prev`.
/// - The producer then links `prev.next = node` with a *releasing* store. That store is what the
///   consumer synchronises with: its *acquiring* load of `tail.next` makes the element visible.
/// - Between the exchange and the link the queue is briefly "cut": the consumer sees `next == nil`
///   and reports empty although a push is under way. That is correct for a queue (the push has not
///   completed) and is why a waiting consumer is woken only after `push` returns (see `ACDRunner`).
/// - The consumer frees the old tail only after it has read a non-nil `next` from it. The producer
///   that wrote that `next` never touches `prev` again, so no thread can hold the freed node.
public final class MPSCInbox<Element>: @unchecked Sendable {
    // Unchecked: the single-consumer rule below is the contract that makes it safe; `Element` must be
    // safe to hand from one thread to another (callers send Sendable values).
    private typealias NodePointer = UnsafeMutablePointer<Node>

    private struct Node {
        var next: UnsafeAtomic<NodePointer?>.Storage
        var element: Element?
    }

    /// Where producers append; only ever touched by the atomic exchange.
    private let head: UnsafeAtomic<NodePointer>
    /// Owned by the consumer alone: the stub or the last node consumed.
    private var tail: NodePointer

    public init() {
        let stub = Self.makeNode(nil)
        head = .create(stub)
        tail = stub
    }

    deinit {
        while pop() != nil {}
        Self.freeNode(tail)
        head.destroy()
    }

    private static func makeNode(_ element: Element?) -> NodePointer {
        let node = NodePointer.allocate(capacity: 1)
        node.initialize(to: Node(next: .init(nil), element: element))
        return node
    }

    private static func freeNode(_ node: NodePointer) {
        _ = node.pointee.next.dispose()
        node.deinitialize(count: 1)
        node.deallocate()
    }

    // The two fields are reached through pointers of their own, never through `node.pointee`: a
    // Swift access to `pointee` covers the whole node, including the `next` word a producer may be
    // writing atomically at that moment (ThreadSanitizer reports that as an access race).
    private static var nextOffset: Int { MemoryLayout<Node>.offset(of: \Node.next)! }
    private static var elementOffset: Int { MemoryLayout<Node>.offset(of: \Node.element)! }

    private static func next(of node: NodePointer) -> UnsafeAtomic<NodePointer?> {
        UnsafeAtomic(at: (UnsafeMutableRawPointer(node) + nextOffset).assumingMemoryBound(to: UnsafeAtomic<NodePointer?>.Storage.self))
    }

    private static func element(of node: NodePointer) -> UnsafeMutablePointer<Element?> {
        (UnsafeMutableRawPointer(node) + elementOffset).assumingMemoryBound(to: Element?.self)
    }

    /// Appends from any thread. Wait-free apart from the allocation.
    public func push(_ element: Element) {
        let node = Self.makeNode(element)
        let prev = head.exchange(node, ordering: .acquiringAndReleasing)
        Self.next(of: prev).store(node, ordering: .releasing)
    }

    /// Takes the oldest element. Only the owning consumer thread may call this.
    public func pop() -> Element? {
        let current = tail
        guard let next = Self.next(of: current).load(ordering: .acquiring) else { return nil }
        let element = Self.element(of: next).pointee.take()
        tail = next
        Self.freeNode(current)
        return element
    }

    /// True when nothing has been completely pushed yet. Consumer only.
    public var isEmpty: Bool { Self.next(of: tail).load(ordering: .acquiring) == nil }
}
