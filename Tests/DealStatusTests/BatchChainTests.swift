import Testing

@testable import DealStatus

/// The bookkeeping that lets deal-status handle a batch while the one before waits for its acks: a wrong floor here
/// would fold an event on a state that misses an earlier one, so every way the chain can break is checked.
@Suite("overlapping batches: which floor a batch may assume")
struct BatchChainTests {
    static func batch(_ sequences: ClosedRange<UInt64>, floor: UInt64) -> Horizon {
        Horizon(sequences: Array(sequences), ackFloor: floor)
    }

    static func finished(_ done: Bool) -> Task<Bool, any Error> { Task { done } }

    /// Never finishes until `release` is called: a batch still waiting for its acks.
    final class Pending: Sendable {
        let stream = AsyncStream<Bool>.makeStream()
        var task: Task<Bool, any Error> {
            let stream = stream.stream
            return Task { for await done in stream { return done }; return false }
        }
        func release(_ done: Bool) { stream.continuation.yield(done) }
    }

    @Test("with nothing known the server is asked; a handled batch is the floor of the one right after it, not of one after a gap")
    func sequentialBatches() async throws {
        var chain = BatchChain()
        #expect(chain.floor(first: 1) == nil)
        try await chain.start(Self.finished(true), deals: ["d.A"], horizon: Self.batch(11...15, floor: 10))
        #expect(chain.mayOverlap(first: 16, deals: ["d.A"]) == false)  // shares deal A
        try await chain.finishRunning()
        #expect(chain.handledUpTo == 15)
        #expect(chain.floor(first: 16) == 15)
        #expect(chain.floor(first: 17) == nil)  // event 16 went to another replica: ask the server
    }

    @Test("a batch not all handled gives no floor")
    func failedBatch() async throws {
        var chain = BatchChain()
        try await chain.start(Self.finished(false), deals: ["d.A"], horizon: Self.batch(11...15, floor: 10))
        try await chain.finishRunning()
        #expect(chain.handledUpTo == 0)
        #expect(chain.floor(first: 16) == nil)
    }

    @Test("the next batch overlaps only when it follows on and shares no deal; its floor is the running batch's end")
    func overlapRules() async throws {
        var chain = BatchChain()
        let first = Pending()
        try await chain.start(first.task, deals: ["d.A", "d.B"], horizon: Self.batch(11...15, floor: 10))
        #expect(chain.mayOverlap(first: 16, deals: ["d.C"]))
        #expect(!chain.mayOverlap(first: 16, deals: ["d.C", "d.B"]))  // deal B's earlier event may not be folded yet
        #expect(!chain.mayOverlap(first: 17, deals: ["d.C"]))  // a gap: event 16 is elsewhere
        #expect(chain.floor(first: 16) == 15)
        first.release(true)
        try await chain.start(Self.finished(true), deals: ["d.C"], horizon: Self.batch(16...20, floor: 15))
        #expect(chain.running?.chained == true)
        try await chain.finishRunning()
        #expect(chain.handledUpTo == 20)
    }

    @Test("when the batch before fails while the next runs, the chain breaks: the next is no floor and nothing overlaps it")
    func predecessorFails() async throws {
        var chain = BatchChain()
        let first = Pending()
        try await chain.start(first.task, deals: ["d.A"], horizon: Self.batch(11...15, floor: 10))
        first.release(false)  // e.g. an event of deal A handed back for later
        try await chain.start(Pending().task, deals: ["d.C"], horizon: Self.batch(16...20, floor: 15))
        #expect(chain.running?.chained == false)
        #expect(!chain.mayOverlap(first: 21, deals: ["d.D"]))
    }

    @Test("a batch that throws breaks the chain too, and the one started after it is still waited for")
    func predecessorThrows() async throws {
        struct Lost: Error {}
        var chain = BatchChain()
        try await chain.start(Task { throw Lost() }, deals: ["d.A"], horizon: Self.batch(11...15, floor: 10))
        await #expect(throws: Lost.self) {
            try await chain.start(Self.finished(true), deals: ["d.C"], horizon: Self.batch(16...20, floor: 15))
        }
        #expect(chain.running?.chained == false)
        try await chain.finishRunning()
        #expect(chain.handledUpTo == 0 && chain.running == nil)
    }
}
