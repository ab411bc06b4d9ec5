import Testing

@testable import DealStatus

/// The bookkeeping that lets deal-status handle a batch while the one before waits for its acks: a wrong floor here
/// would fold an event on a state that misses an earlier one, so every way the chain can break is checked.
/// A `prepare` that waited where it must not would hang: the time limit turns that into a failure.
@Suite("overlapping batches: which floor a batch may assume", .timeLimit(.minutes(1)))
struct BatchChainTests {
    static func batch(_ sequences: ClosedRange<UInt64>, floor: UInt64) -> Horizon {
        Horizon(sequences: Array(sequences), ackFloor: floor)
    }

    static func finished(_ done: Bool) -> Task<Bool, any Error> { Task { done } }

    /// A batch still waiting for its acks, until `release`.
    final class Pending: Sendable {
        let continuation: AsyncStream<Bool>.Continuation
        let task: Task<Bool, any Error>

        init() {
            let (stream, continuation) = AsyncStream<Bool>.makeStream()
            self.continuation = continuation
            task = Task {
                for await done in stream { return done }
                return false
            }
        }

        func release(_ done: Bool) { continuation.yield(done) }
    }

    @Test("a batch's horizon runs from the floor over the events it holds, a redelivered copy included; a gap ends it")
    func horizon() {
        #expect(Horizon(sequences: [13, 11, 12, 12, 15], ackFloor: 10).contiguousEnd == 13)
        #expect(Horizon(sequences: [9, 10, 11], ackFloor: 10).contiguousEnd == 11)
        #expect(Horizon(sequences: [12, 13], ackFloor: 10).contiguousEnd == 10)
        #expect(Horizon(sequences: [], ackFloor: 10).contiguousEnd == 10)
    }

    @Test("with nothing known the server is asked; a handled batch is the floor of the one right after it, not of one after a gap")
    func sequentialBatches() async throws {
        var chain = BatchChain()
        #expect(try await chain.prepare(first: 11, deals: ["d.A"]) == nil)
        try await chain.start(Self.finished(true), deals: ["d.A"], horizon: Self.batch(11...15, floor: 10))
        #expect(try await chain.prepare(first: 16, deals: ["d.A"]) == 15)  // shares deal A: waited, then its end
        #expect(chain.running == nil && chain.handledUpTo == 15)
        #expect(try await chain.prepare(first: 17, deals: ["d.B"]) == nil)  // event 16 went to another replica
    }

    @Test("a batch sharing a deal with the running one waits for it, and gets no floor when it was not all handled")
    func sharedDealWaits() async throws {
        var chain = BatchChain()
        let running = Pending()
        try await chain.start(running.task, deals: ["d.A", "d.B"], horizon: Self.batch(11...15, floor: 10))
        #expect(!chain.mayOverlap(first: 16, deals: ["d.C", "d.B"]))  // deal B's earlier event may not be folded yet
        running.release(false)  // e.g. an event of deal B handed back for later
        #expect(try await chain.prepare(first: 16, deals: ["d.C", "d.B"]) == nil)
        #expect(chain.running == nil && chain.handledUpTo == 0)
    }

    @Test("a batch that follows on and shares no deal starts at once, its floor the running batch's end")
    func overlap() async throws {
        var chain = BatchChain()
        let running = Pending()
        try await chain.start(running.task, deals: ["d.A", "d.B"], horizon: Self.batch(11...15, floor: 10))
        #expect(try await chain.prepare(first: 16, deals: ["d.C"]) == 15)  // returns while the running batch waits
        #expect(chain.running != nil)
        running.release(true)
        try await chain.start(Self.finished(true), deals: ["d.C"], horizon: Self.batch(16...20, floor: 15))
        #expect(chain.running?.chained == true)
        #expect(try await chain.prepare(first: 21, deals: ["d.C"]) == 20)  // shares deal C: waited for it
        #expect(chain.handledUpTo == 20)
    }

    @Test("a batch after a gap waits for the running one and asks the server")
    func gap() async throws {
        var chain = BatchChain()
        let running = Pending()
        try await chain.start(running.task, deals: ["d.A"], horizon: Self.batch(11...15, floor: 10))
        #expect(!chain.mayOverlap(first: 17, deals: ["d.C"]))
        running.release(true)
        #expect(try await chain.prepare(first: 17, deals: ["d.C"]) == nil)
        #expect(chain.running == nil && chain.handledUpTo == 15)
    }

    @Test("when the batch before fails while the next runs, the chain breaks: the next is no floor and nothing overlaps it")
    func predecessorFails() async throws {
        var chain = BatchChain()
        let first = Pending()
        try await chain.start(first.task, deals: ["d.A"], horizon: Self.batch(11...15, floor: 10))
        first.release(false)
        let second = Pending()
        try await chain.start(second.task, deals: ["d.C"], horizon: Self.batch(16...20, floor: 15))
        #expect(chain.running?.chained == false)
        #expect(!chain.mayOverlap(first: 21, deals: ["d.D"]))
        second.release(true)
        #expect(try await chain.prepare(first: 21, deals: ["d.D"]) == nil)  // all of 16–20 handled, but not 11–15
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
        #expect(try await chain.prepare(first: 21, deals: ["d.C"]) == nil)
        #expect(chain.handledUpTo == 0 && chain.running == nil)
    }
}

/// Which events deal-status's delivery thread leaves to the event task: a deal with work there stays there until that
/// work is done, so that it is never folded in two places at once; a restarted pull starts afresh.
@Suite("routing between the delivery thread and the event task")
struct RoutingTests {
    @Test("a deal stays with the task until every event handed over is finished; other deals stay on the delivery thread")
    func handOverAndFinish() {
        var routing = DealStatusService.Routing()
        routing.handOver(["deal.event.C1.D1", "deal.event.C1.D1", "deal.event.C1.D2"])
        #expect(routing.isHandedOver("deal.event.C1.D1") && routing.isHandedOver("deal.event.C1.D2"))
        #expect(!routing.isHandedOver("deal.event.C1.D3"))
        routing.finished(["deal.event.C1.D1", "deal.event.C1.D2"], generation: routing.generation)
        #expect(routing.isHandedOver("deal.event.C1.D1"), "one of its two events is still with the task")
        #expect(!routing.isHandedOver("deal.event.C1.D2"))
        routing.finished(["deal.event.C1.D1", "deal.event.C1.D9"], generation: routing.generation)
        #expect(!routing.isHandedOver("deal.event.C1.D1"))
    }

    @Test("after a restart of the pull nothing is handed over, and tasks from before it do not count against new work")
    func restart() {
        var routing = DealStatusService.Routing()
        routing.handOver(["deal.event.C1.D1"])
        let before = routing.generation
        routing.restart()
        #expect(!routing.isHandedOver("deal.event.C1.D1"))
        routing.handOver(["deal.event.C1.D1"])
        routing.finished(["deal.event.C1.D1"], generation: before)
        #expect(routing.isHandedOver("deal.event.C1.D1"), "the old task's end is not the new work's")
        routing.finished(["deal.event.C1.D1"], generation: routing.generation)
        #expect(!routing.isHandedOver("deal.event.C1.D1"))
    }
}
