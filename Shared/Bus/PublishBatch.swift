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
    }

    private let jetStream: JetStream
    private let maxPending: Int
    /// An ack not back by then counts as `.timeout` (expired by the connection's request sweeper).
    private let ackTimeout: Duration
    private let state = Mutex(State())

    init(jetStream: JetStream, maxPending: Int, ackTimeout: Duration) {
        self.jetStream = jetStream
        self.maxPending = max(1, maxPending)
        self.ackTimeout = ackTimeout
    }

    /// Sends one message; see `JetStream.publish` for `msgId` and `expectedLastSubjectSequence`.
    public func publish(
        _ payload: [UInt8],
        to subject: String,
        headers: Headers = Headers(),
        msgId: String? = nil,
        expectedLastSubjectSequence: UInt64? = nil
    ) async throws {
        // Claim a slot in the window (waiting while it is full) and the result index in one lock.
        var index = -1
        while index < 0 {
            index = state.withLock { state -> Int in
                guard state.outstanding < maxPending else { return -1 }
                state.results.append(nil)
                state.outstanding += 1
                return state.results.count - 1
            }
            if index >= 0 { break }
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
        let slot = index
        let mux = try jetStream.connection.requestMux()
        let (token, replySubject) = mux.register(subject: subject, timeout: ackTimeout, waiter: .callback { [self] result in
            let outcome: Result<PubAck, BusError> = result.flatMap { message in
                Result { try JetStream.parseAck(message, subject: subject, expected: expectedLastSubjectSequence) }
            }.mapError { ($0 as? BusError) ?? .nats(status: -1, text: "\($0)") }
            record(outcome, at: slot)
        })
        let headers = JetStream.publishHeaders(headers, msgId: msgId, expectedLastSubjectSequence: expectedLastSubjectSequence)
        do {
            try jetStream.connection.publish(payload, to: subject, reply: replySubject, headers: headers)
        } catch {
            mux.resolve(token, with: .failure(error))
            throw error
        }
    }

    private func record(_ outcome: Result<PubAck, BusError>, at index: Int) {
        let (window, done) = state.withLock { state -> (CheckedContinuation<Void, Never>?, CheckedContinuation<Void, Never>?) in
            guard state.results[index] == nil else { return (nil, nil) }
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
            if state.outstanding == 0 {
                done = state.doneWaiter
                state.doneWaiter = nil
            }
            return (window, done)
        }
        window?.resume()
        done?.resume()
    }

    /// Waits until every publish has its ack, or failed (acks missing after the batch's ack timeout count as `.timeout`).
    public func complete() async -> Outcome {
        jetStream.connection.sendBuffered()  // what was published is waited for now
        await withCheckedContinuation { continuation in
            let finished = state.withLock { state -> Bool in
                if state.outstanding == 0 { return true }
                state.doneWaiter = continuation
                return false
            }
            if finished { continuation.resume() }
        }
        return state.withLock { Outcome(results: $0.results.map { $0 ?? .failure(.timeout(subject: "jetstream ack")) }) }
    }
}
