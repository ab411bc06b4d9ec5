import Synchronization

/// One wildcard inbox subscription shared by all requests of a connection; replies are matched by the
/// last subject token and resumed right on the cnats thread (no extra hop).
final class RequestMux: Sendable {
    enum Waiter {
        case continuation(CheckedContinuation<BusMessage, any Error>)
        /// Called on the cnats thread; used by pipelined JetStream publishes.
        case callback(@Sendable (Result<BusMessage, any Error>) -> Void)
    }

    struct Pending {
        let subject: String
        let waiter: Waiter
        let deadline: ContinuousClock.Instant

        func resume(with result: Result<BusMessage, any Error>) {
            switch waiter {
            case .continuation(let continuation): continuation.resume(with: result)
            case .callback(let callback): callback(result)
            }
        }
    }

    let prefix: String
    private let state = Mutex<(next: UInt64, pending: [UInt64: Pending])>((0, [:]))

    init(prefix: String) { self.prefix = prefix }

    /// Reserves a token and its reply subject.
    func nextToken() -> (UInt64, String) {
        let token = state.withLock { state -> UInt64 in
            state.next &+= 1
            return state.next
        }
        return (token, ReplyToken.subject(prefix: prefix, token))
    }

    /// Reserves a token and registers its waiter in one step (one lock instead of two on the hot path).
    func register(subject: String, timeout: Duration, waiter: Waiter) -> (UInt64, String) {
        let pending = Pending(subject: subject, waiter: waiter, deadline: .now + timeout)
        let token = state.withLock { state -> UInt64 in
            state.next &+= 1
            state.pending[state.next] = pending
            return state.next
        }
        return (token, ReplyToken.subject(prefix: prefix, token))
    }

    func register(_ token: UInt64, subject: String, timeout: Duration, waiter: Waiter) {
        let pending = Pending(subject: subject, waiter: waiter, deadline: .now + timeout)
        state.withLock { $0.pending[token] = pending }
    }

    /// Fails every request whose deadline passed; run by one sweeper task per connection, which is far cheaper
    /// than a timer per request (those cost a measurable share of a loopback round trip).
    func expire(now: ContinuousClock.Instant = .now) {
        let expired = state.withLock { state -> [Pending] in
            let keys = state.pending.filter { $0.value.deadline <= now }.map(\.key)
            return keys.compactMap { state.pending.removeValue(forKey: $0) }
        }
        for entry in expired { entry.resume(with: .failure(BusError.timeout(subject: entry.subject))) }
    }

    /// Starts the sweeper; it ends once the mux is released.
    func startSweeper(every tick: Duration = .milliseconds(20)) {
        Task.detached { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: tick)
                guard let self else { return }
                self.expire()
            }
        }
    }

    /// Resolves the waiting request with `result` (no-op when it already finished).
    func resolve(_ token: UInt64, with result: Result<BusMessage, any Error>) {
        let entry = state.withLock { $0.pending.removeValue(forKey: token) }
        entry?.resume(with: result)
    }

    func deliver(_ message: BusMessage) {
        guard let token = ReplyToken.parse(message.subject, prefix: prefix) else { return }
        resolve(token, with: .success(message))
    }

    func failRequests(to subject: String, error: BusError) {
        let hits = state.withLock { state -> [Pending] in
            let keys = state.pending.filter { $0.value.subject == subject }.map(\.key)
            return keys.compactMap { state.pending.removeValue(forKey: $0) }
        }
        for hit in hits { hit.resume(with: .failure(error)) }
    }

    func failAll(_ error: BusError) {
        let all = state.withLock { state -> [Pending] in
            defer { state.pending = [:] }
            return Array(state.pending.values)
        }
        for entry in all { entry.resume(with: .failure(error)) }
    }
}

/// A request's reply subject: its inbox's prefix and a token in base 36.
enum ReplyToken {
    static func subject(prefix: String, _ token: UInt64) -> String { prefix + String(token, radix: 36) }

    /// The token of `subject` if it is `prefix` and a token, read from its bytes (`String.dropFirst` would walk the
    /// prefix character by character, on every reply).
    static func parse(_ subject: String, prefix: String) -> UInt64? {
        let bytes = subject.utf8, prefixBytes = prefix.utf8
        guard bytes.count > prefixBytes.count, bytes.count - prefixBytes.count <= 13, bytes.starts(with: prefixBytes) else { return nil }
        var token: UInt64 = 0
        for byte in bytes.dropFirst(prefixBytes.count) {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): digit = byte - UInt8(ascii: "a") + 10
            default: return nil
            }
            let (shifted, overflow) = token.multipliedReportingOverflow(by: 36)
            let (sum, carry) = shifted.addingReportingOverflow(UInt64(digit))
            guard !overflow, !carry else { return nil }
            token = sum
        }
        return token
    }
}
