import CNats

/// An inbox whose replies the waiting thread takes itself, from a cnats synchronous subscription: for code that blocks
/// for its replies anyway (an inline handler on a delivery thread, see `PullStream`). A reply then wakes that thread
/// directly, where the connection's shared reply inbox wakes its own delivery thread, which then wakes the waiter.
///
/// Used by one thread at a time (see `JetStream.batch(maxPending:ackTimeout:replies:)`). Release it before draining the
/// connection: cnats completes the drain of a synchronous subscription only when someone takes its messages.
public final class ReplyInbox: @unchecked Sendable {  // its state belongs to the one thread using it
    let connection: NatsConnection
    private(set) var sub: OpaquePointer
    private(set) var prefix: String
    private var counter: UInt64 = 0

    init(connection: NatsConnection) throws(BusError) {
        self.connection = connection
        (sub, prefix) = try Self.subscribe(connection)
    }

    private static func subscribe(_ connection: NatsConnection) throws(BusError) -> (OpaquePointer, String) {
        let prefix = connection.newInbox() + "."
        var sub: OpaquePointer?
        let status = natsConnection_SubscribeSync(&sub, connection.nc, prefix + "*")
        guard status == NATS_OK, let sub else { throw BusError.from(status, context: prefix) }
        natsSubscription_SetPendingLimits(sub, -1, -1)
        return (sub, prefix)
    }

    deinit {
        natsSubscription_Unsubscribe(sub)
        natsSubscription_Destroy(sub)
    }

    /// Replaces the subscription with one on a new prefix, so that replies still due to the old one (a batch that gave
    /// up waiting) never reach the next batch: a "no responders" reply cannot be told apart by its token. If that
    /// fails, the old one stays.
    func renew() {
        guard let (sub, prefix) = try? Self.subscribe(connection) else { return }
        natsSubscription_Unsubscribe(self.sub)
        natsSubscription_Destroy(self.sub)
        self.sub = sub
        self.prefix = prefix
    }

    /// A reply subject of its own, and its token.
    func nextReply() -> (token: UInt64, subject: String) {
        counter += 1
        return (counter, ReplyToken.subject(prefix: prefix, counter))
    }

    enum Next {
        case reply(token: UInt64, message: BusMessage)
        /// A request went to a subject nobody serves. cnats drops that reply (503) on synchronous subscriptions and
        /// reports only this, so which request it answered is not known.
        case noResponders
    }

    /// The next reply, blocking until `deadline`; nil when none came by then (or the connection closed).
    func next(until deadline: ContinuousClock.Instant) -> Next? {
        while true {
            let left = deadline - .now
            guard left > .zero else { return nil }
            var msg: OpaquePointer?
            let status = natsSubscription_NextMsg(&msg, sub, left.milliseconds)
            if status == NATS_NO_RESPONDERS { return .noResponders }
            guard status == NATS_OK, let msg else { return nil }
            let message = BusMessage(copying: msg)
            freeMessage(msg)
            if let token = ReplyToken.parse(message.subject, prefix: prefix) { return .reply(token: token, message: message) }
        }
    }
}

extension NatsConnection {
    /// An inbox for replies the waiting thread takes itself (see `ReplyInbox`).
    public func replyInbox() throws(BusError) -> ReplyInbox { try ReplyInbox(connection: self) }
}
