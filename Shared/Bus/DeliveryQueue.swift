#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Ordered hand-off from a cnats delivery thread to one Swift task.
///
/// The producer blocks when `capacity` messages wait (backpressure: cnats then queues up to its pending
/// limits and reports a slow consumer beyond them). The consumer takes everything buffered in one step,
/// so a busy consumer pays one lock and no continuation per message.
final class DeliveryQueue: @unchecked Sendable {  // all mutable state is guarded by `mutex`
    enum Take {
        case batch([BusMessage])
        case end((any Error)?)
    }

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let notFull = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var buffer: [BusMessage] = []
    private var waiter: UnsafeContinuation<Take, Never>?
    private var finished = false
    private var failure: (any Error)?
    private var producerWaiting = false
    private var pushedAt = ContinuousClock.now
    /// Set by `divert(to:)`: where pushed messages go instead of the buffer.
    private var diverted: (@Sendable ([BusMessage]) -> Void)?
    private var endWaiters: [UnsafeContinuation<Void, Never>] = []
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(notFull, nil)
        buffer.reserveCapacity(min(self.capacity, 1024))
    }

    deinit {
        pthread_cond_destroy(notFull)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        notFull.deallocate()
    }

    /// Called on the cnats delivery thread; may block while the consumer catches up. False when the queue was finished
    /// (the message is dropped). Once diverted, the message goes to the diversion's handler on this thread.
    @discardableResult
    func push(_ message: BusMessage) -> Bool {
        pthread_mutex_lock(mutex)
        pushedAt = .now
        while buffer.count >= capacity && !finished && diverted == nil {
            producerWaiting = true
            pthread_cond_wait(notFull, mutex)
        }
        if finished {
            pthread_mutex_unlock(mutex)
            return false
        }
        if let diverted {
            pthread_mutex_unlock(mutex)
            diverted([message])
            return true
        }
        if let waiter {
            self.waiter = nil
            pthread_mutex_unlock(mutex)
            waiter.resume(returning: .batch([message]))
            return true
        }
        buffer.append(message)
        pthread_mutex_unlock(mutex)
        return true
    }

    /// Ends the sequence once buffered messages are consumed; `error` is thrown to the consumer after them.
    func finish(error: (any Error)? = nil) {
        pthread_mutex_lock(mutex)
        if finished {
            pthread_mutex_unlock(mutex)
            return
        }
        finished = true
        failure = error
        let waiter = buffer.isEmpty ? self.waiter : nil
        if waiter != nil { self.waiter = nil }
        let endWaiters = self.endWaiters
        self.endWaiters = []
        pthread_cond_broadcast(notFull)
        pthread_mutex_unlock(mutex)
        waiter?.resume(returning: .end(error))
        for waiter in endWaiters { waiter.resume() }
    }

    /// From now on pushed messages go to `handler`, on the pushing thread, instead of to a taker; what is buffered is
    /// handed to it at once, and a waiting taker gets the end. Until `finish()`, which ends the diversion.
    func divert(to handler: @escaping @Sendable ([BusMessage]) -> Void) {
        pthread_mutex_lock(mutex)
        guard !finished, diverted == nil else {
            pthread_mutex_unlock(mutex)
            return
        }
        diverted = handler
        var buffered: [BusMessage] = []
        swap(&buffered, &buffer)
        let waiter = self.waiter
        self.waiter = nil
        if producerWaiting {
            producerWaiting = false
            pthread_cond_broadcast(notFull)
        }
        pthread_mutex_unlock(mutex)
        waiter?.resume(returning: .end(nil))
        if !buffered.isEmpty { handler(buffered) }
    }

    /// Waits until `finish()` (for a subscription's queue: until the subscription has completed).
    func ended() async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            pthread_mutex_lock(mutex)
            if finished {
                pthread_mutex_unlock(mutex)
                continuation.resume()
            } else {
                endWaiters.append(continuation)
                pthread_mutex_unlock(mutex)
            }
        }
    }

    /// When the last message arrived (or the queue was made): liveness as the delivery thread sees it, whether or
    /// not the consumer is taking messages at the moment. While messages wait to be taken it is now: a slow consumer
    /// is not a silent server.
    var lastPushed: ContinuousClock.Instant {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return buffer.isEmpty && !producerWaiting ? pushedAt : .now
    }

    /// Messages arrived and were handled on the delivery thread without passing through here: counts for `lastPushed`.
    func noteAlive() {
        pthread_mutex_lock(mutex)
        pushedAt = .now
        pthread_mutex_unlock(mutex)
    }

    var isFinished: Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return finished
    }

    /// Everything buffered, or waits for the next message or the end.
    func take() async -> Take {
        if let ready = takeNow() { return ready }
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Take, Never>) in
                pthread_mutex_lock(mutex)
                if let ready = takeLocked() {
                    pthread_mutex_unlock(mutex)
                    continuation.resume(returning: ready)
                } else if Task.isCancelled {
                    pthread_mutex_unlock(mutex)
                    continuation.resume(returning: .end(nil))
                } else {
                    waiter = continuation
                    pthread_mutex_unlock(mutex)
                }
            }
        } onCancel: {
            pthread_mutex_lock(mutex)
            let waiter = self.waiter
            self.waiter = nil
            pthread_mutex_unlock(mutex)
            waiter?.resume(returning: .end(nil))
        }
    }

    /// How many messages wait to be taken.
    var count: Int {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return buffer.count
    }

    /// How many of the messages waiting to be taken satisfy `predicate`.
    func count(where predicate: (BusMessage) -> Bool) -> Int {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return buffer.count(where: predicate)
    }

    /// What is buffered now, without waiting (nil when nothing is).
    func takeNow() -> Take? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return takeLocked()
    }

    private func takeLocked() -> Take? {
        if !buffer.isEmpty {
            var batch: [BusMessage] = []
            batch.reserveCapacity(min(capacity, 1024))
            swap(&batch, &buffer)
            if producerWaiting {
                producerWaiting = false
                pthread_cond_broadcast(notFull)
            }
            return .batch(batch)
        }
        if finished { return .end(failure) }
        if diverted != nil { return .end(nil) }
        return nil
    }
}
