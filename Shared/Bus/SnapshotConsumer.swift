import Foundation
import Synchronization

extension JetStream {
    /// The last message of every subject matching `filter`, then live updates, in stream order.
    ///
    /// Backed by an ephemeral push consumer (`deliver_policy: last_per_subject`, no acks) that the server
    /// removes when the subscriber goes away. `SnapshotEvent.caughtUp` marks the end of the snapshot part.
    /// `gather`: see `Subscription.makeAsyncIterator(gather:)`. The server sends a heartbeat every `heartbeat` while
    /// there is nothing else; after three missed ones (the consumer is gone, e.g. the server restarted without it) the
    /// iteration throws, and the caller subscribes anew.
    public func snapshotAndUpdates(stream: String, filter: String, gather: Duration? = nil, heartbeat: Duration = .seconds(2)) async throws
        -> SnapshotSubscription
    {
        let inbox = connection.newInbox()
        let subscription = try connection.subscribe(to: inbox)
        let info = try await createSnapshotConsumer(stream: stream, filter: filter, inbox: inbox, heartbeat: heartbeat, subscription: subscription)
        return SnapshotSubscription(subscription: subscription, jetStream: self, stream: stream, consumer: info.name,
                                    initiallyPending: info.numPending, gather: gather, heartbeat: heartbeat, inline: false)
    }

    /// `snapshotAndUpdates` handled on the cnats delivery thread: `handle` gets the events as they arrive (what queued
    /// up while it worked is one call), in order, with no task or hand-off. It must not suspend; it may block that
    /// thread briefly. Iterating the returned subscription yields nothing: it ends when the subscription stops, and
    /// throws when the consumer is lost or `handle` threw (then `handle` is called no more). With `streamHeaders`
    /// false the messages come without their headers (see `NatsConnection.subscribe`).
    public func snapshotAndUpdates(
        stream: String, filter: String, heartbeat: Duration = .seconds(2), streamHeaders: Bool = true, limits: PendingLimits = .default,
        inline handle: @escaping @Sendable ([SnapshotEvent]) throws -> Void
    ) async throws -> SnapshotSubscription {
        let inbox = connection.newInbox()
        let queue = DeliveryQueue(capacity: 1)
        let delivery = InlineSnapshotDelivery(handle: handle, queue: queue, connection: connection)
        let subscription = try connection.subscribeBatches(to: inbox, limits: limits, queue: queue, batchLimit: 1_024,
                                                           streamHeaders: streamHeaders) {
            delivery.deliver($0)
        }
        let info = try await createSnapshotConsumer(stream: stream, filter: filter, inbox: inbox, heartbeat: heartbeat, subscription: subscription)
        if info.numPending == 0 { delivery.announceCaughtUp() }
        return SnapshotSubscription(subscription: subscription, jetStream: self, stream: stream, consumer: info.name,
                                    initiallyPending: info.numPending, gather: nil, heartbeat: heartbeat, inline: true)
    }

    private func createSnapshotConsumer(stream: String, filter: String, inbox: String, heartbeat: Duration, subscription: Subscription)
        async throws -> ConsumerInfo
    {
        var config = ConsumerConfig.unacknowledged(filter: filter, inactiveThreshold: .seconds(30))
        config.deliverPolicy = .lastPerSubject
        config.deliverSubject = inbox
        config.idleHeartbeat = heartbeat.nanoseconds
        do {
            return try await ensureConsumer(stream: stream, config)
        } catch {
            subscription.unsubscribe()
            throw error
        }
    }
}

extension ConsumerConfig {
    /// An ephemeral consumer whose messages nobody acknowledges (no ack wait, redelivery or limit), kept in memory, on
    /// `filter`; the server removes it `inactiveThreshold` after its last use.
    public static func unacknowledged(filter: String, inactiveThreshold: Duration) -> ConsumerConfig {
        var config = ConsumerConfig(filterSubject: filter)
        config.ackPolicy = .none
        config.ackWait = nil
        config.maxDeliver = nil
        config.maxAckPending = nil
        config.inactiveThreshold = inactiveThreshold.nanoseconds
        config.memStorage = true
        return config
    }
}

extension JetStream {
    /// Every message on `subject` in `stream`, oldest first, through a short-lived ephemeral pull consumer: a few
    /// requests however many messages, rather than one `STREAM.MSG.GET` each.
    public func readAll(stream: String, subject: String) async throws -> [JetStreamMessage] {
        let info = try await ensureConsumer(stream: stream, .unacknowledged(filter: subject, inactiveThreshold: .seconds(10)))
        defer { Task { [self] in try? await deleteConsumer(stream: stream, consumer: info.name) } }
        let consumer = pullConsumer(stream: stream, durable: info.name)
        var all: [JetStreamMessage] = []
        while UInt64(all.count) < info.numPending {
            let batch = try await consumer.fetch(batch: 1_000, noWait: true)
            if batch.isEmpty { break }
            all += batch
        }
        return all
    }
}

/// Turns what arrives for an inline snapshot subscription into `SnapshotEvent`s on the delivery thread.
private final class InlineSnapshotDelivery: Sendable {
    let handle: @Sendable ([SnapshotEvent]) throws -> Void
    let queue: DeliveryQueue
    let connection: NatsConnection
    /// Whether `.caughtUp` was handed on (by the delivery thread, or at once when there was nothing to catch up).
    private let caughtUp = Mutex(false)
    /// Deliveries so far, to notice one that was skipped (touched by the delivery thread only).
    private let sequence = Mutex(ConsumerSequence())

    init(handle: @escaping @Sendable ([SnapshotEvent]) throws -> Void, queue: DeliveryQueue, connection: NatsConnection) {
        self.handle = handle
        self.queue = queue
        self.connection = connection
    }

    func deliver(_ messages: [BusMessage]) {
        guard !queue.isFinished else { return }
        queue.noteAlive()  // heartbeats included: the watchdog measures liveness here
        var events: [SnapshotEvent] = []
        events.reserveCapacity(messages.count + 1)
        do {
            try sequence.withLock { sequence in
                for message in messages {
                    guard let delivered = try sequence.check(message, connection: connection) else { continue }
                    events.append(.message(delivered))
                    if delivered.pending == 0, announcingCaughtUp() { events.append(.caughtUp) }
                }
            }
        } catch {
            // What came before the gap is handed on; the subscription then ends, and its owner subscribes anew.
            if !events.isEmpty { hand(events) }
            queue.finish(error: error)
            return
        }
        if !events.isEmpty { hand(events) }
    }

    func announceCaughtUp() {
        if announcingCaughtUp() { hand([.caughtUp]) }
    }

    /// True the first time only: `.caughtUp` is handed on once.
    private func announcingCaughtUp() -> Bool {
        caughtUp.withLock { announced in
            defer { announced = true }
            return !announced
        }
    }

    /// Hands events to the handler; one that throws ends the subscription with its error.
    private func hand(_ events: [SnapshotEvent]) {
        do {
            try handle(events)
        } catch {
            queue.finish(error: error)
        }
    }
}

public enum SnapshotEvent: Sendable {
    case message(JetStreamMessage)
    /// Every subject's last message up to the moment of subscribing has been delivered.
    case caughtUp
}

/// Snapshot then live updates of a set of subjects; see `JetStream.snapshotAndUpdates`.
public final class SnapshotSubscription: AsyncSequence, Sendable {
    public typealias Element = SnapshotEvent
    let subscription: Subscription
    let jetStream: JetStream
    public let stream: String
    public let consumer: String
    let initiallyPending: UInt64
    let gather: Duration?
    /// Handled on the delivery thread: the iteration yields nothing.
    let inline: Bool
    private let watchdog = Mutex<Task<Void, Never>?>(nil)

    init(subscription: Subscription, jetStream: JetStream, stream: String, consumer: String, initiallyPending: UInt64, gather: Duration?,
         heartbeat: Duration, inline: Bool) {
        self.gather = gather
        self.inline = inline
        defer {
            let watching = Task.detached { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: heartbeat)
                    guard let self else { return }
                    // Measured where messages arrive, so a consumer slow to take them is not mistaken for a lost one.
                    guard let queue = self.subscription.handle.context.queue, ContinuousClock.now - queue.lastPushed > heartbeat * 3
                    else { continue }
                    queue.finish(
                        error: BusError.timeout(subject: "heartbeat of consumer \(consumer) on \(stream)"))
                    return
                }
            }
            watchdog.withLock { $0 = watching }
        }
        self.subscription = subscription
        self.jetStream = jetStream
        self.stream = stream
        self.consumer = consumer
        self.initiallyPending = initiallyPending
    }

    /// Stops delivery and deletes the server-side consumer.
    deinit { watchdog.withLock { $0?.cancel() } }

    public func stop() async {
        watchdog.withLock { $0?.cancel() }
        subscription.unsubscribe()
        try? await jetStream.deleteConsumer(stream: stream, consumer: consumer)
    }

    public func makeAsyncIterator() -> Iterator {
        Iterator(base: subscription.makeAsyncIterator(gather: gather), connection: jetStream.connection, caughtUp: initiallyPending == 0,
                 announced: inline)
    }

    public struct Iterator: AsyncIteratorProtocol {
        var base: Subscription.Iterator
        let connection: NatsConnection
        var caughtUp: Bool
        var announced = false
        var sequence = ConsumerSequence()

        public mutating func next() async throws -> SnapshotEvent? {
            if caughtUp && !announced {
                announced = true
                return .caughtUp
            }
            while let message = try await base.next() {
                guard let delivered = try sequence.check(message, connection: connection) else { continue }
                if !caughtUp && delivered.pending == 0 { caughtUp = true }
                return .message(delivered)
            }
            return nil
        }
    }
}

/// The deliveries of a push consumer without acks, counted to notice one that never arrived: cnats dropped it (the
/// subscriber fell behind its pending limits) or the server sent it while the connection was away. Each delivery
/// carries its consumer sequence, and the server's idle heartbeat the last one it sent (`Nats-Last-Consumer`).
struct ConsumerSequence: Sendable {
    private(set) var last: UInt64 = 0

    /// The message as a consumer delivery; nil for a heartbeat or anything else that is not one. Throws
    /// `BusError.consumerGap` when deliveries were skipped.
    mutating func check(_ message: BusMessage, connection: NatsConnection) throws(BusError) -> JetStreamMessage? {
        if let status = message.status {
            if status == 100, let sent = message.headers[Self.lastConsumerHeader].flatMap(UInt64.init), sent > last {
                throw BusError.consumerGap(consumer: "", expected: last + 1, received: sent)
            }
            return nil
        }
        guard let delivered = JetStreamMessage(message, connection: connection) else { return nil }
        guard delivered.consumerSequence == last + 1 else {
            throw BusError.consumerGap(consumer: delivered.consumer, expected: last + 1, received: delivered.consumerSequence)
        }
        last = delivered.consumerSequence
        return delivered
    }

    static let lastConsumerHeader = "Nats-Last-Consumer"
}
