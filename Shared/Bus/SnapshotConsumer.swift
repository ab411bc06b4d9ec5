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
        var config = ConsumerConfig(filterSubject: filter)
        config.deliverPolicy = .lastPerSubject
        config.ackPolicy = .none
        config.ackWait = nil
        config.maxDeliver = nil
        config.maxAckPending = nil
        config.deliverSubject = inbox
        config.inactiveThreshold = 30_000_000_000
        config.memStorage = true
        config.idleHeartbeat = heartbeat.nanoseconds
        do {
            let info = try await ensureConsumer(stream: stream, config)
            return SnapshotSubscription(subscription: subscription, jetStream: self, stream: stream, consumer: info.name,
                                        initiallyPending: info.numPending, gather: gather, heartbeat: heartbeat)
        } catch {
            subscription.unsubscribe()
            throw error
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
    private let watchdog = Mutex<Task<Void, Never>?>(nil)

    init(subscription: Subscription, jetStream: JetStream, stream: String, consumer: String, initiallyPending: UInt64, gather: Duration?,
         heartbeat: Duration) {
        self.gather = gather
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
        Iterator(base: subscription.makeAsyncIterator(gather: gather), connection: jetStream.connection, caughtUp: initiallyPending == 0)
    }

    public struct Iterator: AsyncIteratorProtocol {
        var base: Subscription.Iterator
        let connection: NatsConnection
        var caughtUp: Bool
        var announced = false

        public mutating func next() async throws -> SnapshotEvent? {
            if caughtUp && !announced {
                announced = true
                return .caughtUp
            }
            while let message = try await base.next() {
                if message.status != nil { continue }  // heartbeats
                guard let delivered = JetStreamMessage(message, connection: connection) else { continue }
                if !caughtUp && delivered.pending == 0 { caughtUp = true }
                return .message(delivered)
            }
            return nil
        }
    }
}
