import Bus

extension Subscription {
    /// Ends this subscription's sequence after `limit` unless the returned task is cancelled first, so that a loop
    /// over it waits with a deadline instead of forever (then the caller checks what it got).
    public func unsubscribe(after limit: Duration) -> Task<Void, any Error> {
        Task {
            try await Task.sleep(for: limit)
            unsubscribe()
        }
    }
}
