import ServiceKit
import Testing
import TestSupport

@Suite("Watermark: waiting for a sequence to be reached")
struct WatermarkTests {
    @Test("advancing wakes the waiters it reaches, and only those; a lower value changes nothing")
    func wakesReached() async throws {
        let mark = Watermark()
        let far = ContinuousClock.now + .seconds(60)
        async let five = mark.wait(for: 5, until: far)
        async let nine = mark.wait(for: 9, until: far)
        #expect(await eventually { mark.waiting == 2 })  // both wait before anything advances
        mark.advance(to: 3)
        mark.advance(to: 2)
        #expect(mark.value == 3)
        mark.advance(to: 5)
        #expect(await five)
        #expect(mark.waiting == 1)  // the other still waits
        mark.advance(to: 12)
        #expect(await nine)
        #expect(await mark.wait(for: 12, until: far))  // reached already: at once
    }

    @Test("a waiter gives up at its deadline, or when its task is cancelled, with false; a later advance finds nobody")
    func givesUp() async throws {
        let mark = Watermark()
        #expect(await mark.wait(for: 1, until: .now + .milliseconds(20)) == false)
        let early = Task { await mark.wait(for: 1, until: .now + .seconds(60)) }
        early.cancel()  // perhaps before it waits at all
        #expect(await early.value == false)
        // Cancelled while it waits.
        let waiting = Task { await mark.wait(for: 1, until: .now + .seconds(60)) }
        #expect(await eventually { mark.waiting == 1 })
        waiting.cancel()
        #expect(await waiting.value == false && mark.waiting == 0)
        mark.advance(to: 1)
        #expect(await mark.wait(for: 1, until: .now))
    }

    @Test("many waiters at once, advanced one step at a time: each wakes with true")
    func manyWaiters() async throws {
        let mark = Watermark()
        let far = ContinuousClock.now + .seconds(60)
        let results = await withTaskGroup(of: Bool.self) { group in
            for target in 1...200 { group.addTask { await mark.wait(for: UInt64(target % 50 + 1), until: far) } }
            group.addTask {
                for step in 1...50 {
                    mark.advance(to: UInt64(step))
                    await Task.yield()
                }
                return true
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.count == 201 && results.allSatisfy { $0 })
    }
}
