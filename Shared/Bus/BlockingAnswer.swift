import Dispatch
import Synchronization

/// One result handed to a thread that blocks until it comes: for code on a thread that is not running a Swift task
/// (a cnats delivery thread), which may block where a task would suspend. The first result given counts.
final class BlockingAnswer<Value: Sendable>: Sendable {
    private let result = Mutex<Result<Value, any Error>?>(nil)
    private let ready = DispatchSemaphore(value: 0)

    func give(_ value: Result<Value, any Error>) {
        let first = result.withLock { result -> Bool in
            guard case .none = result else { return false }
            result = value
            return true
        }
        if first { ready.signal() }
    }

    /// Blocks the calling thread until a result is given.
    func wait() -> Result<Value, any Error> {
        ready.wait()
        return result.withLock { $0! }
    }
}
