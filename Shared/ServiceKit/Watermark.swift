import Synchronization

/// A number that only grows (a stream sequence written or projected so far), and tasks waiting for it to reach theirs.
///
/// `advance` wakes exactly the waiters it satisfies; a waiter gives up at its deadline or when its task is cancelled.
/// Waiting costs nothing while nothing advances, unlike a poll.
public final class Watermark: Sendable {
    private struct Waiter {
        let target: UInt64
        let continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var value: UInt64 = 0
        var nextId = 0
        var waiters: [Int: Waiter] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// The value now.
    public var value: UInt64 { state.withLock { $0.value } }

    /// Tasks waiting now.
    public var waiting: Int { state.withLock { $0.waiters.count } }

    /// Raises the value to `value` (a lower one changes nothing) and wakes the waiters it reaches.
    public func advance(to value: UInt64) {
        let woken = state.withLock { state -> [Waiter] in
            guard value > state.value else { return [] }
            state.value = value
            guard !state.waiters.isEmpty else { return [] }
            let reached = state.waiters.filter { $0.value.target <= value }
            for id in reached.keys { state.waiters[id] = nil }
            return Array(reached.values)
        }
        for waiter in woken { waiter.continuation.resume(returning: true) }
    }

    /// Waits until the value is at least `target`: true when it is, false at `deadline` or on cancellation.
    public func wait(for target: UInt64, until deadline: ContinuousClock.Instant) async -> Bool {
        let id = state.withLock { state -> Int? in
            guard state.value < target else { return nil }
            state.nextId += 1
            return state.nextId
        }
        guard let id else { return true }
        // Whoever takes the waiter out of the table resumes it: `advance`, the deadline or the cancellation, once.
        let timer = Task {
            try? await Task.sleep(until: deadline, clock: .continuous)
            self.resign(id)
        }
        defer { timer.cancel() }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let registered = state.withLock { state -> Bool in
                    // Reached meanwhile, or given up before it could register (the deadline came, or cancellation).
                    guard state.value < target, !Task.isCancelled, ContinuousClock.now < deadline else { return false }
                    state.waiters[id] = Waiter(target: target, continuation: continuation)
                    return true
                }
                if !registered { continuation.resume(returning: state.withLock { $0.value } >= target) }
            }
        } onCancel: {
            resign(id)
        }
    }

    /// Takes a waiter out and tells it the target was not reached (if it is still waiting).
    private func resign(_ id: Int) {
        state.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume(returning: false)
    }
}
