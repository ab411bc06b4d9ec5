import CNats
import Logging
import Metrics
import Synchronization

/// A change of a connection's link to the server (`NatsConnection.connectionChanges`).
public enum ConnectionChange: Sendable, Equatable {
    /// The server is out of reach; cnats tries again (a closed connection ends the stream instead). Core
    /// subscriptions receive nothing meanwhile.
    case disconnected
    /// Back, and subscribed again: what was published in between never reaches core subscriptions.
    case reconnected
}

/// Receives cnats connection callbacks (disconnect, reconnect, close, async errors) and routes
/// permission errors to the requests and subscriptions they concern.
final class ConnectionEvents: @unchecked Sendable {  // state behind Mutex; the raw nc is set once before callbacks matter
    let logger: Logger
    nonisolated(unsafe) var nc: OpaquePointer?
    private let subscriptions = Mutex<[UInt64: SubscriptionContext]>([:])
    private let closedWaiters = Mutex<(closed: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    weak var requests: RequestMux?
    let disconnects = Counter(label: "bus_disconnects_total")
    let reconnects = Counter(label: "bus_reconnects_total")
    let slowConsumers = Counter(label: "bus_slow_consumer_events_total")
    let asyncErrors = Counter(label: "bus_async_errors_total")

    /// Who waits to hear of disconnects and reconnects (`NatsConnection.connectionChanges`), by id.
    private let observers = Mutex<(next: UInt64, all: [UInt64: AsyncStream<ConnectionChange>.Continuation])>((0, [:]))

    init(logger: Logger) { self.logger = logger }

    /// Every disconnect and reconnect from now on, in order; finishes at close.
    func observeChanges() -> AsyncStream<ConnectionChange> {
        let (stream, continuation) = AsyncStream<ConnectionChange>.makeStream()
        let id = observers.withLock { observers -> UInt64? in
            if closedWaiters.withLock({ $0.closed }) { return nil }
            observers.next += 1
            observers.all[observers.next] = continuation
            return observers.next
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in _ = self?.observers.withLock { $0.all.removeValue(forKey: id) } }
        return stream
    }

    private func tellObservers(_ change: ConnectionChange) {
        for observer in observers.withLock({ Array($0.all.values) }) { observer.yield(change) }
    }

    func register(_ context: SubscriptionContext) {
        context.events = self
        subscriptions.withLock { $0[context.id] = context }
    }

    func unregister(_ context: SubscriptionContext) {
        _ = subscriptions.withLock { $0.removeValue(forKey: context.id) }
    }

    func disconnected() {
        // cnats also reports a disconnect when the connection is closed on purpose (drain, close): that is no outage,
        // so no warning and no count (operators alert on both), and observers are not told.
        if let nc, natsConnection_IsClosed(nc) {
            logger.debug("nats disconnected on close")
            return
        }
        disconnects.increment()
        logger.warning("nats disconnected", metadata: ["url": "\(connectedURL() ?? "-")"])
        tellObservers(.disconnected)
    }

    func reconnected() {
        reconnects.increment()
        logger.notice("nats reconnected", metadata: ["url": "\(connectedURL() ?? "-")"])
        tellObservers(.reconnected)
    }

    func closed() {
        logger.info("nats connection closed")
        let waiters = closedWaiters.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.closed = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
        for observer in observers.withLock({ Array($0.all.values) }) { observer.finish() }
        let all = subscriptions.withLock { $0.values }
        for context in all { context.queue?.finish() }
        requests?.failAll(.connectionClosed)
    }

    func waitClosed() async {
        await withCheckedContinuation { continuation in
            let done = closedWaiters.withLock { state -> Bool in
                if state.closed { return true }
                state.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    func asyncError(subscription: OpaquePointer?, status: natsStatus) {
        asyncErrors.increment()
        var text = String(cString: natsStatus_GetText(status))
        if let nc {
            var last: UnsafePointer<CChar>?
            _ = natsConnection_GetLastError(nc, &last)
            if let last { text = String(cString: last) }
        }
        if status == NATS_SLOW_CONSUMER, let subscription {
            slowConsumers.increment()
            var dropped: Int64 = 0
            natsSubscription_GetDropped(subscription, &dropped)
            let subject = natsSubscription_GetSubject(subscription).map { String(cString: $0) } ?? "?"
            logger.error("slow consumer: messages dropped", metadata: ["subject": "\(subject)", "dropped": "\(dropped)"])
            return
        }
        logger.error("nats async error", metadata: ["status": "\(status.rawValue)", "error": "\(text)"])
        guard status == NATS_NOT_PERMITTED, let subject = Self.quotedSubject(in: text) else { return }
        let error = BusError.permissionDenied(subject: subject, detail: text)
        if text.contains("Subscription") {
            let hits = subscriptions.withLock { $0.values.filter { $0.subject == subject } }
            for context in hits { context.queue?.finish(error: error) }
        } else {
            requests?.failRequests(to: subject, error: error)
        }
    }

    func connectedURL() -> String? {
        guard let nc else { return nil }
        var buffer = [CChar](repeating: 0, count: 256)
        guard natsConnection_GetConnectedUrl(nc, &buffer, buffer.count) == NATS_OK else { return nil }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// `Permissions Violation for Publish to "deal.status.C2.x"` → `deal.status.C2.x`.
    static func quotedSubject(in text: String) -> String? {
        guard let open = text.firstIndex(of: "\"") else { return nil }
        let rest = text[text.index(after: open)...]
        guard let close = rest.firstIndex(of: "\"") else { return nil }
        return String(rest[..<close])
    }
}
