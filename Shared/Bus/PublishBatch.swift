import Synchronization

/// Pipelined JetStream publishes: each `publish` returns once sent (waiting only when `maxPending` acks are
/// outstanding); `complete` waits for every ack and reports each message's outcome in order.
public final class PublishBatch: Sendable {
    public struct Outcome: Sendable {
        /// One entry per publish, in publish order.
        public var results: [Result<PubAck, BusError>]
        public var acks: [PubAck] { results.compactMap { try? $0.get() } }
        public var failures: [(index: Int, error: BusError)] {
            results.enumerated().compactMap { entry in
                if case .failure(let error) = entry.element { return (entry.offset, error) }
                return nil
            }
        }
    }

    private struct State {
        var results: [Result<PubAck, BusError>?] = []
        var outstanding = 0
        var windowWaiter: CheckedContinuation<Void, Never>?
        var doneWaiter: CheckedContinuation<Void, Never>?
        var doneBlocking: BlockingAnswer<Void>?
        /// With a `ReplyInbox`: which publish each reply token answers.
        var byToken: [UInt64: (slot: Int, subject: String, expected: UInt64?)] = [:]
    }

    private let jetStream: JetStream
    private let maxPending: Int
    /// An ack not back by then counts as `.timeout` (expired by the connection's request sweeper).
    private let ackTimeout: Duration
    /// Where the acks come, when the caller takes them itself (`completeBlocking`); else the connection's reply inbox.
    private let replies: ReplyInbox?
    private let state = Mutex(State())

    init(jetStream: JetStream, maxPending: Int, ackTimeout: Duration, replies: ReplyInbox? = nil) {
        self.jetStream = jetStream
        self.maxPending = max(1, maxPending)
        self.ackTimeout = ackTimeout
        self.replies = replies
    }

    /// Sends one message; see `JetStream.publish` for `msgId` and `expectedLastSubjectSequence`.
    public func publish(
        _ payload: [UInt8],
        to subject: String,
        headers: Headers = Headers(),
        msgId: String? = nil,
        expectedLastSubjectSequence: UInt64? = nil
    ) async throws {
        precondition(replies == nil, "a batch with its own reply inbox is waited for with completeBlocking")
        while true {
            if let slot = claimSlot() {
                return try send(payload, to: subject, headers: headers, msgId: msgId, expectedLastSubjectSequence: expectedLastSubjectSequence,
                                slot: slot)
            }
            jetStream.connection.sendBuffered()  // the window waits for acks of what is still in the buffer
            await withCheckedContinuation { continuation in
                let full = state.withLock { state -> Bool in
                    guard state.outstanding >= maxPending else { return false }
                    state.windowWaiter = continuation
                    return true
                }
                if !full { continuation.resume() }
            }
        }
    }

    /// `publish` without waiting: sends the message and returns true when the window has room, else sends nothing and
    /// returns false. For threads that must not suspend (see `completeBlocking`).
    public func publishNow(
        _ payload: [UInt8],
        to subject: String,
        headers: Headers = Headers(),
        msgId: String? = nil,
        expectedLastSubjectSequence: UInt64? = nil
    ) throws -> Bool {
        guard let slot = claimSlot() else { return false }
        try send(payload, to: subject, headers: headers, msgId: msgId, expectedLastSubjectSequence: expectedLastSubjectSequence, slot: slot)
        return true
    }

    /// A slot in the window and the index of its result, claimed in one lock; nil when the window is full.
    private func claimSlot() -> Int? {
        state.withLock { state -> Int? in
            guard state.outstanding < maxPending else { return nil }
            state.results.append(nil)
            state.outstanding += 1
            return state.results.count - 1
        }
    }

    private func send(
        _ payload: [UInt8], to subject: String, headers: Headers, msgId: String?, expectedLastSubjectSequence: UInt64?, slot: Int
    ) throws {
        if let replies {
            let (token, replySubject) = replies.nextReply()
            state.withLock { $0.byToken[token] = (slot, subject, expectedLastSubjectSequence) }
            do {
                try jetStream.connection.publish(payload, to: subject, reply: replySubject, headers: headers, msgId: msgId,
                                                 expectedLastSubjectSequence: expectedLastSubjectSequence)
            } catch {
                state.withLock { _ = $0.byToken.removeValue(forKey: token) }
                record(.failure(error), at: slot)
                throw error
            }
            return
        }
        let mux = try jetStream.connection.requestMux()
        let (token, replySubject) = mux.register(subject: subject, timeout: ackTimeout, waiter: .callback { [self] result in
            record(result.flatMap { Self.ack(in: $0, subject: subject, expected: expectedLastSubjectSequence) }.mapError(Self.busError), at: slot)
        })
        do {
            try jetStream.connection.publish(payload, to: subject, reply: replySubject, headers: headers, msgId: msgId,
                                             expectedLastSubjectSequence: expectedLastSubjectSequence)
        } catch {
            mux.resolve(token, with: .failure(error))
            throw error
        }
    }

    private func record(_ outcome: Result<PubAck, BusError>, at index: Int) {
        let (window, done, doneBlocking) = state.withLock { state in
            guard state.results[index] == nil else { return (CheckedContinuation<Void, Never>?.none, CheckedContinuation<Void, Never>?.none, BlockingAnswer<Void>?.none) }
            state.results[index] = outcome
            state.outstanding -= 1
            // Wake a publisher waiting for room only once a quarter of the window is free: one task switch per
            // many acks instead of one per ack.
            var window: CheckedContinuation<Void, Never>?
            if state.outstanding <= maxPending - max(1, maxPending / 4) || state.outstanding == 0 {
                window = state.windowWaiter
                state.windowWaiter = nil
            }
            var done: CheckedContinuation<Void, Never>?
            var doneBlocking: BlockingAnswer<Void>?
            if state.outstanding == 0 {
                done = state.doneWaiter
                state.doneWaiter = nil
                doneBlocking = state.doneBlocking
                state.doneBlocking = nil
            }
            return (window, done, doneBlocking)
        }
        window?.resume()
        done?.resume()
        doneBlocking?.give(.success(()))
    }

    /// Waits until every publish has its ack, or failed (acks missing after the batch's ack timeout count as `.timeout`).
    public func complete() async -> Outcome {
        precondition(replies == nil, "a batch with its own reply inbox is waited for with completeBlocking")
        jetStream.connection.sendBuffered()  // what was published is waited for now
        await withCheckedContinuation { continuation in
            let finished = state.withLock { state -> Bool in
                if state.outstanding == 0 { return true }
                state.doneWaiter = continuation
                return false
            }
            if finished { continuation.resume() }
        }
        return outcome
    }

    /// `complete` for a thread that may block and is not running a Swift task (a cnats delivery thread, see
    /// `NatsConnection.subscribeBatches`): waits on the calling thread. Never call it from a task.
    public func completeBlocking() -> Outcome {
        jetStream.connection.sendBuffered()
        if let replies {
            let deadline = ContinuousClock.now + ackTimeout
            var unattributed = 0  // "no responders" replies: each answers one publish, not known which
            while state.withLock({ !$0.byToken.isEmpty }), let next = replies.next(until: deadline) {
                switch next {
                case .reply(let token, let reply):
                    // Replies to an earlier batch on the same inbox (one that gave up waiting) are not this batch's.
                    guard let sent = state.withLock({ $0.byToken.removeValue(forKey: token) }) else { continue }
                    record(Self.ack(in: reply, subject: sent.subject, expected: sent.expected).mapError(Self.busError), at: sent.slot)
                case .noResponders:
                    unattributed += 1
                }
                // Every publish gets one reply: once only as many are open as replies could not be placed, those are the
                // publishes nobody served.
                if unattributed > 0, let open = state.withLock({ $0.byToken.count <= unattributed ? $0.byToken : nil }) {
                    for sent in open.values { record(.failure(.noResponders(subject: sent.subject)), at: sent.slot) }
                    break
                }
            }
            if state.withLock({ !$0.byToken.isEmpty }) { replies.renew() }  // gave up: late replies must not reach the next batch
            return outcome
        }
        let done = BlockingAnswer<Void>()
        let waiting = state.withLock { state -> Bool in
            guard state.outstanding > 0 else { return false }
            state.doneBlocking = done
            return true
        }
        if waiting { _ = done.wait() }
        return outcome
    }

    /// The outcome a reply to a publish on `subject` reports.
    private static func ack(in reply: BusMessage, subject: String, expected: UInt64?) -> Result<PubAck, any Error> {
        Result { try JetStream.parseAck(reply, subject: subject, expected: expected) }
    }

    private static func busError(_ error: any Error) -> BusError { (error as? BusError) ?? .nats(status: -1, text: "\(error)") }

    private var outcome: Outcome {
        state.withLock { Outcome(results: $0.results.map { $0 ?? .failure(.timeout(subject: "jetstream ack")) }) }
    }
}
