import CNats
import Synchronization

/// Limits on what may wait for a slow consumer before cnats drops messages (and reports it).
public struct PendingLimits: Sendable {
    /// Messages queued inside cnats; -1 = unlimited.
    public var messages: Int
    /// Bytes queued inside cnats; -1 = unlimited.
    public var bytes: Int
    /// Messages buffered on the Swift side before the delivery thread waits.
    public var swiftBuffer: Int

    public init(messages: Int = 512 * 1024, bytes: Int = 256 * 1024 * 1024, swiftBuffer: Int = 16 * 1024) {
        self.messages = messages
        self.bytes = bytes
        self.swiftBuffer = swiftBuffer
    }

    public static let `default` = PendingLimits()
}

/// What the cnats callbacks of one subscription need; retained by C until `onComplete`.
final class SubscriptionContext: @unchecked Sendable {  // immutable after init except the handle, set once before delivery matters
    let subject: String
    let deliver: @Sendable (BusMessage) -> Void
    let queue: DeliveryQueue?
    /// Set for subscriptions that take their messages in batches (`NatsConnection.subscribeBatches`).
    let batcher: DeliveryBatcher?
    /// Whether messages of a JetStream consumer come with their headers (see `NatsConnection.subscribe`).
    let streamHeaders: Bool
    let id: UInt64
    weak var events: ConnectionEvents?

    init(subject: String, id: UInt64, queue: DeliveryQueue?, batcher: DeliveryBatcher? = nil, streamHeaders: Bool = true,
         deliver: @escaping @Sendable (BusMessage) -> Void) {
        self.subject = subject
        self.id = id
        self.queue = queue
        self.batcher = batcher
        self.streamHeaders = streamHeaders
        self.deliver = deliver
    }

    func completed() {
        queue?.finish()
        events?.unregister(self)
    }
}

/// Hands a subscription's messages on in batches, on its delivery thread: a message and those cnats has queued behind
/// it are one batch (at most `limit`). Used only on that thread.
final class DeliveryBatcher: @unchecked Sendable {  // its state is touched only by the subscription's delivery thread
    private var gathered: [BusMessage] = []
    let limit: Int
    let deliver: @Sendable ([BusMessage]) -> Void

    init(limit: Int, deliver: @escaping @Sendable ([BusMessage]) -> Void) {
        self.limit = max(1, limit)
        self.deliver = deliver
    }

    /// Adds a message; hands the batch on when nothing is queued behind it (or the batch is full).
    func add(_ message: BusMessage, queuedBehind: Int32) {
        gathered.append(message)
        guard queuedBehind == 0 || gathered.count >= limit else { return }
        var batch: [BusMessage] = []
        swap(&batch, &gathered)
        deliver(batch)
    }
}

/// Owns a cnats subscription handle; unsubscribes when released.
final class SubscriptionHandle: @unchecked Sendable {  // wraps a C handle; cnats subscription calls are thread-safe
    let sub: OpaquePointer
    let context: SubscriptionContext

    init(sub: OpaquePointer, context: SubscriptionContext) {
        self.sub = sub
        self.context = context
    }

    deinit {
        natsSubscription_Unsubscribe(sub)
        natsSubscription_Destroy(sub)
    }
}

/// An ordered stream of messages on a subject, drained by one task.
///
/// Iterate it with `for try await message in subscription`; the sequence ends after `unsubscribe()`,
/// `drain()` or connection close, and throws `BusError.permissionDenied` if the server refuses it.
public final class Subscription: AsyncSequence, Sendable {
    public typealias Element = BusMessage

    let handle: SubscriptionHandle
    public let subject: String
    public let queueGroup: String?

    init(handle: SubscriptionHandle, subject: String, queueGroup: String?) {
        self.handle = handle
        self.subject = subject
        self.queueGroup = queueGroup
    }

    /// Messages cnats dropped because this consumer fell behind its pending limits.
    public var droppedCount: Int64 {
        var dropped: Int64 = 0
        natsSubscription_GetDropped(handle.sub, &dropped)
        return dropped
    }

    /// Stops delivery at once; messages already buffered are still yielded.
    public func unsubscribe() {
        natsSubscription_Unsubscribe(handle.sub)
        handle.context.queue?.finish()
    }

    /// Stops interest but delivers everything the server already sent, then ends the sequence.
    ///
    /// Without a server to confirm the drain (disconnected), the subscription closes after `timeout`.
    public func drain(timeout: Duration = .seconds(5)) async { beginDrain(timeout: timeout) }

    /// Starts the drain and returns (the UNSUB is queued on the connection before anything published after this); the
    /// end comes through the delivery queue. When a drain cannot start (the connection is closed or draining), the
    /// subscription ends at once.
    func beginDrain(timeout: Duration) {
        guard natsSubscription_DrainTimeout(handle.sub, timeout.milliseconds) != NATS_OK else { return }
        natsSubscription_Unsubscribe(handle.sub)
        handle.context.queue?.finish()
    }

    public func makeAsyncIterator() -> Iterator { Iterator(subscription: self, gather: nil) }

    /// An iterator that, when a wait ends with only a few messages, waits `gather` once more for others to join them:
    /// one wake-up of the consuming task for several messages (see `PullStream.gather`).
    public func makeAsyncIterator(gather: Duration?) -> Iterator { Iterator(subscription: self, gather: gather) }

    public struct Iterator: AsyncIteratorProtocol {
        let subscription: Subscription
        let gather: Duration?
        private var batch: [BusMessage] = []
        private var index = 0

        init(subscription: Subscription, gather: Duration?) {
            self.subscription = subscription
            self.gather = gather
        }

        public mutating func next() async throws -> BusMessage? {
            if index < batch.count {
                defer { index += 1 }
                return batch[index]
            }
            guard let queue = subscription.handle.context.queue else { return nil }
            switch await queue.take() {
            case .batch(var next):
                if let gather, next.count < 32, (try? await Task.sleep(for: gather)) != nil, case .batch(let more) = queue.takeNow() {
                    next += more
                }
                batch = next
                index = 1
                return next[0]
            case .end(let error):
                batch = []
                index = 0
                if let error { throw error }
                return nil
            }
        }
    }
}
