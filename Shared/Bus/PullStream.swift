import Synchronization

/// A continuous pull from a durable consumer: requests for up to `maxMessages` stay outstanding on one inbox and are
/// topped up as messages are taken (when half are used), so messages arrive while the previous ones are processed and
/// each `next()` returns everything that came meanwhile — no inbox, subscription or round trip per batch.
///
/// Used by one task at a time. Replicas pulling from the same consumer share its messages as with `fetch`.
///
/// With an `inline` handler, messages are first handed to it on the cnats delivery thread, as they arrive (what
/// queued up while it worked is one batch); only those it leaves come from `next()`.
public final class PullStream: Sendable {
    /// Called on the cnats delivery thread with the consumer's messages that arrived together, in order (the stream
    /// takes status messages in itself; an error among them is thrown by `next()`); returns those it leaves to
    /// `next()`. It may block that thread, never a task, while it works: it runs no Swift task, and its next batch is
    /// what arrives meanwhile.
    public typealias InlineHandler = @Sendable ([JetStreamMessage]) -> [JetStreamMessage]

    public let consumer: PullConsumer
    public let maxMessages: Int
    /// How long each pull request lives on the server; an expired one is answered with 408 and requested again.
    public let expires: Duration
    /// When a wait ends with fewer than `gatherBelow` messages, wait this long once more for others to join them: one
    /// wake-up (and one batch downstream) for several messages instead of one each, at the price of that much latency.
    public let gather: Duration?
    let gatherBelow = 32
    let inline: InlineHandler?
    let subscription: Subscription
    let inbox: String

    /// How the delivery thread finds the stream (set once in `init`, before the first pull request).
    private final class InlineRoute: @unchecked Sendable {
        weak var stream: PullStream?
    }

    private struct State {
        /// Messages requested and not yet received (an estimate the server's 408s correct).
        var outstanding = 0
        /// When the last pull request was sent: the requests are gone from the server `expires` after it.
        var lastRequest = ContinuousClock.now
        /// Set by the watchdog: the requests are gone, ask anew.
        var silenceNoted = ContinuousClock.now
        var watchdog: Task<Void, Never>?
        /// After `stop()` the inline handler gets nothing more (what still arrives is handed back).
        var stopped = false
        /// The inline handler is at work on the delivery thread (so the stream is not silent), and who waits for it.
        var inlineBusy = false
        var inlineWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// `streamHeaders` false: messages come without their headers (see `NatsConnection.subscribe`).
    init(consumer: PullConsumer, maxMessages: Int, expires: Duration, gather: Duration?, streamHeaders: Bool = true,
         inline: InlineHandler? = nil) throws {
        precondition(maxMessages > 1)
        self.consumer = consumer
        self.maxMessages = maxMessages
        self.expires = expires
        self.gather = gather
        self.inline = inline
        let connection = consumer.jetStream.connection
        inbox = connection.newInbox()
        let route = InlineRoute()
        if let inline {
            let queue = DeliveryQueue(capacity: maxMessages * 2)
            subscription = try connection.subscribeBatches(to: inbox, queue: queue, batchLimit: maxMessages, streamHeaders: streamHeaders) { batch in
                route.stream?.deliverInline(batch, to: queue, inline)
            }
        } else {
            subscription = try connection.subscribe(to: inbox, limits: PendingLimits(swiftBuffer: maxMessages * 2), streamHeaders: streamHeaders)
        }
        route.stream = self
        // Requests vanish without a 408 when the connection is lost; after a silence longer than a request lives, ask anew.
        let watchdog = Task.detached { [weak self, expires] in
            while !Task.isCancelled {
                try? await Task.sleep(for: expires)
                guard let self else { return }
                self.kickIfSilent()
            }
        }
        state.withLock { $0.watchdog = watchdog }
        try topUp()  // messages start coming at once, before the first `next()`
    }

    deinit { state.withLock { $0.watchdog?.cancel() } }

    /// Waits for at least one message and returns every message that has arrived.
    public func next() async throws -> [JetStreamMessage] {
        let connection = consumer.jetStream.connection
        guard let queue = subscription.handle.context.queue else { throw BusError.connectionClosed }
        while true {
            try Task.checkCancellation()
            try topUp()
            switch await queue.take() {
            case .end(let error):
                try Task.checkCancellation()
                throw error ?? BusError.connectionClosed
            case .batch(var messages):
                // Not `try`: a cancelled sleep must not drop the messages taken.
                if let gather, messages.count < gatherBelow, (try? await Task.sleep(for: gather)) != nil,
                   case .batch(let more) = queue.takeNow() {
                    messages += more
                }
                var delivered: [JetStreamMessage] = []
                delivered.reserveCapacity(messages.count)
                var requests = RequestsEnded()
                for message in messages {
                    if message.status != nil {
                        guard requests.note(message) else {
                            // Hand back what came with it, so another puller need not wait for the ack wait (once
                            // this stream's requests have expired: the server would send them straight back here).
                            Self.handBack(messages, connection: connection, after: expires + Self.expiryMargin)
                            throw BusError.jetStream(code: message.status ?? 0, errorCode: 0,
                                                     description: message.headers[BusHeader.description] ?? "pull status")
                        }
                        continue
                    }
                    if let message = JetStreamMessage(message, connection: connection) { delivered.append(message) }
                }
                let counted = inline == nil ? delivered.count : 0  // `deliverInline` counted them as they came
                account(delivered: counted, requests)
                if !delivered.isEmpty { return delivered }
            }
        }
    }

    /// What status messages say about the pull requests: how much of them ended unfulfilled, or that all did.
    struct RequestsEnded {
        var unfulfilled = 0
        var all = false

        /// Takes in a status message; false when it reports an error rather than requests that ended.
        mutating func note(_ message: BusMessage) -> Bool {
            switch message.status {
            case 100: return true  // idle heartbeat, or our own wake-up
            case 404, 408:
                // A request expired; the server says how much of it was left (when it does not, assume all).
                if let left = message.headers["Nats-Pending-Messages"].flatMap(Int.init) { unfulfilled += left } else { all = true }
                return true
            case 409 where PullStream.isTransient(message.headers[BusHeader.description]):
                all = true  // the server is going away: ask again once reconnected
                return true
            default:
                return false  // any other 409 (consumer deleted, too many waiting requests) is not normal
            }
        }

        /// Messages still requested, of `outstanding`, once `delivered` came with these statuses.
        func outstanding(after outstanding: Int, delivered: Int) -> Int {
            all ? 0 : max(0, outstanding - delivered - unfulfilled)
        }
    }

    private func account(delivered: Int, _ requests: RequestsEnded) {
        state.withLock { $0.outstanding = requests.outstanding(after: $0.outstanding, delivered: delivered) }
    }

    /// On the delivery thread: the consumer's messages go to the inline handler, what it leaves to `next()`. Status
    /// messages are taken in here (the requests they end are made again at once), except errors, which `next()`
    /// throws. Once stopped, messages are handed back instead.
    private func deliverInline(_ messages: [BusMessage], to queue: DeliveryQueue, _ inline: InlineHandler) {
        let connection = consumer.jetStream.connection
        var delivered: [JetStreamMessage] = []
        delivered.reserveCapacity(messages.count)
        var requests = RequestsEnded()
        for message in messages {
            if message.status != nil {
                if !requests.note(message) { queue.push(message) }
            } else if let event = JetStreamMessage(message, connection: connection) {
                delivered.append(event)
            }
        }
        if delivered.isEmpty {
            queue.noteAlive()
            account(delivered: 0, requests)
            try? topUp()  // if this fails, `next()` asks again
            return
        }
        let stopped = state.withLock { state -> Bool in
            guard !state.stopped else { return true }
            state.outstanding = requests.outstanding(after: state.outstanding, delivered: delivered.count)
            state.inlineBusy = true
            return false
        }
        if stopped {
            Self.handBack(delivered.map(\.message), connection: connection, after: afterRequestsExpire())
            return
        }
        queue.noteAlive()
        try? topUp()  // if this fails, `next()` asks again
        let left = inline(delivered)
        // Left after `stop()` ended the subscription: back to the consumer, not lost until the ack wait.
        Self.handBack(left.map(\.message).filter { !queue.push($0) }, connection: connection, after: afterRequestsExpire())
        let waiters = state.withLock { state in
            state.inlineBusy = false
            defer { state.inlineWaiters = [] }
            return state.inlineWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// The consumer's messages that have reached this stream (past cnats' own queue) and that `next()` has not taken
    /// yet (status messages, such as a request's 408, are not counted).
    public var buffered: Int { subscription.handle.context.queue?.count { $0.status == nil } ?? 0 }

    /// Stops pulling; `next()` ends. The subscription drains: the server is told, and what it already sent still
    /// arrives. Every message that reached the stream and was not taken, and every one still on its way (in the
    /// network or in cnats' own queue) when it stopped, is handed back (nak) as it arrives, for another puller once
    /// this stream's requests have expired (at most `expires`), not after the consumer's ack wait. The inline handler
    /// gets nothing more. Keep the stream until `stopAndFinish()` returns: one released while it drains drops what
    /// cnats still holds for it (back after the ack wait).
    ///
    /// Why not at once: nats-server 2.9.10 mishandles a redelivery that meets only requests nobody listens to any
    /// more (these, until they expire). It drops the redelivery until the ack wait, and sends another message twice
    /// (`loopAndGatherMsgs`: `o.sseq--` when no live request is found); a test showed it (`[m1, m2, m2]` instead of
    /// `[m0, m1, m2]`). The same can still happen, on the server's side, to a message it was sending here when the
    /// stop reached it, if no other puller has a request waiting at that moment (with several replicas, one nearly
    /// always has).
    public func stop() {
        // No request is sent once stopped, so the last one's expiry is known.
        let requestsGone = state.withLock { state -> ContinuousClock.Instant? in
            state.watchdog?.cancel()
            guard !state.stopped else { return nil }
            state.stopped = true
            return self.requestsGone(after: state.lastRequest)
        }
        guard let requestsGone, let queue = subscription.handle.context.queue else { return }
        let connection = consumer.jetStream.connection
        queue.divert { messages in
            Self.handBack(messages, connection: connection, after: Self.wait(until: requestsGone))
        }
        // An inline batch may still be at work when the drain's time is up; then what cnats holds is dropped.
        subscription.beginDrain(timeout: expires * 2)
    }

    /// The server measures a request's life from when it got it, a little after it was sent.
    static let expiryMargin = Duration.milliseconds(250)

    /// When the pull requests sent up to `lastRequest` have expired on the server.
    private func requestsGone(after lastRequest: ContinuousClock.Instant) -> ContinuousClock.Instant {
        lastRequest + expires + Self.expiryMargin
    }

    private static func wait(until instant: ContinuousClock.Instant) -> Duration { max(.zero, instant - .now) }

    /// How long until this stream's pull requests have expired on the server (final once stopped).
    private func afterRequestsExpire() -> Duration { Self.wait(until: requestsGone(after: state.withLock { $0.lastRequest })) }

    /// `stop()`, then waits until the drain has ended (what was on its way is handed back) and the inline handler has
    /// finished the batch it may have been working on (its acks are sent). Without the server (disconnected), the
    /// drain ends after twice the stream's `expires`.
    public func stopAndFinish() async {
        stop()
        await subscription.handle.context.queue?.ended()
        await withCheckedContinuation { continuation in
            let busy = state.withLock { state -> Bool in
                guard state.inlineBusy else { return false }
                state.inlineWaiters.append(continuation)
                return true
            }
            if !busy { continuation.resume() }
        }
    }

    /// Gives messages back to the consumer for redelivery `after` a while.
    private static func handBack(_ messages: [BusMessage], connection: NatsConnection, after delay: Duration) {
        guard messages.contains(where: { $0.status == nil }) else { return }
        for message in messages where message.status == nil {
            try? JetStreamMessage(message, connection: connection)?.nak(delay: delay)
        }
        connection.sendBuffered()
    }

    /// 409s that end requests without anything being wrong with them.
    static func isTransient(_ description: String?) -> Bool {
        guard let description = description?.lowercased() else { return false }
        return description.contains("server shutdown") || description.contains("leadership change")
    }

    private func topUp() throws {
        let wanted = state.withLock { state -> Int in
            guard !state.stopped, state.outstanding <= maxMessages / 2 else { return 0 }  // no requests to a dead inbox
            defer {
                state.outstanding = maxMessages
                state.lastRequest = .now
            }
            return maxMessages - state.outstanding
        }
        guard wanted > 0 else { return }
        let request = #"{"batch":\#(wanted),"expires":\#(expires.nanoseconds)}"#
        do {
            try consumer.jetStream.connection.publish(
                Array(request.utf8), to: "\(consumer.jetStream.apiPrefix).CONSUMER.MSG.NEXT.\(consumer.stream).\(consumer.name)", reply: inbox)
            consumer.jetStream.connection.sendBuffered()
        } catch {
            state.withLock { $0.outstanding -= wanted }  // never sent
            throw error
        }
    }

    /// Silence is measured where messages arrive (the delivery thread), so a consumer busy with a long batch is not
    /// mistaken for lost requests: the server answers live requests at least with a 408 when they expire.
    private func kickIfSilent() {
        guard let queue = subscription.handle.context.queue else { return }
        let heard = queue.lastPushed
        let silent = state.withLock { state -> Bool in
            guard !state.inlineBusy else { return false }  // working on what arrived: not silence
            let since = max(heard, state.silenceNoted)
            guard ContinuousClock.now - since > expires + .seconds(2) else { return false }
            state.outstanding = 0
            state.silenceNoted = .now
            return true
        }
        // A status message to ourselves wakes `next`, which then requests again.
        if silent { try? consumer.jetStream.connection.publish([], to: inbox, headers: [BusHeader.status: "100"]) }
    }
}

extension PullConsumer {
    /// A continuous pull of up to `maxMessages` in flight (see `PullStream`). With `streamHeaders` false the messages
    /// come without their headers, which saves copying them per message when nobody reads them.
    public func stream(
        maxMessages: Int = 512, expires: Duration = .seconds(5), gather: Duration? = nil, streamHeaders: Bool = true,
        inline: PullStream.InlineHandler? = nil
    ) throws -> PullStream {
        try PullStream(consumer: self, maxMessages: maxMessages, expires: expires, gather: gather, streamHeaders: streamHeaders, inline: inline)
    }

    /// Pulls continuously and hands each batch to `handle` until the task is cancelled. When the pull or `handle`
    /// fails, the stream is dropped (what it held goes back to the consumer), `failed` is told and after `pause` a new
    /// one starts. With `inline`, messages go to it first, on the delivery thread, and `handle` gets what it leaves
    /// (see `PullStream`); a dropped stream's inline handler has finished its batch when `failed` is told, and when
    /// this returns. `streamHeaders`: see `stream`.
    public func consume(
        maxMessages: Int = 512,
        gather: Duration? = nil,
        streamHeaders: Bool = true,
        inline: PullStream.InlineHandler? = nil,
        pause: Duration = .milliseconds(500),
        failed: (any Error) -> Void,
        _ handle: ([JetStreamMessage]) async throws -> Void
    ) async {
        var pulling: PullStream?
        let connection = jetStream.connection
        while !Task.isCancelled {
            do {
                let stream = try pulling ?? self.stream(maxMessages: maxMessages, gather: gather, streamHeaders: streamHeaders, inline: inline)
                pulling = stream
                try await handle(try await stream.next())
                connection.sendBuffered()  // what the handler published (acks, unless it finishes them later itself) goes out now
            } catch {
                if Task.isCancelled { break }
                // The inline handler is done with the old stream before `failed` hears of it (and before a new one).
                await pulling?.stopAndFinish()
                pulling = nil
                failed(error)
                try? await Task.sleep(for: pause)
            }
        }
        await pulling?.stopAndFinish()
    }
}
