import Bus
import Foundation
import Synchronization
import Testing
import TestSupport

@Suite("JetStream through the bus")
struct JetStreamTests {
    func stream(_ js: JetStream, _ name: String = "EVENTS", subjects: [String] = ["ev.>"]) async throws {
        try await js.ensureStream(StreamConfig(name: name, subjects: subjects))
    }

    @Test("ensureStream is idempotent and applies changed settings")
    func ensureStream() async throws {
        let server = try NatsServer()
        let js = JetStream(connection: try await connect(server))
        var config = StreamConfig(name: "S", subjects: ["s.>"])
        let first = try await js.ensureStream(config)
        let again = try await js.ensureStream(config)
        #expect(first.config == again.config)
        config.maxMsgsPerSubject = 1
        let updated = try await js.ensureStream(config)
        #expect(updated.config.maxMsgsPerSubject == 1)
    }

    @Test("a repeated Nats-Msg-Id is stored once and reported as duplicate")
    func dedupe() async throws {
        let server = try NatsServer()
        let js = JetStream(connection: try await connect(server))
        try await stream(js)
        let a = try await js.publish(Array("x".utf8), to: "ev.1", msgId: "m-1")
        let b = try await js.publish(Array("x".utf8), to: "ev.1", msgId: "m-1")
        let c = try await js.publish(Array("y".utf8), to: "ev.1", msgId: "m-2")
        #expect(a == PubAck(stream: "EVENTS", sequence: 1, duplicate: false))
        #expect(b.duplicate && b.sequence == 1)
        #expect(c.sequence == 2 && !c.duplicate)
        #expect(try await js.streamInfo("EVENTS").state.messages == 2)
    }

    @Test("the msgId and expected sequence given to publish win over such headers in the headers given")
    func publishHeadersOverride() async throws {
        let server = try NatsServer()
        let js = JetStream(connection: try await connect(server))
        try await stream(js)
        let headers: Headers = ["nats-msg-id": "stale", "Nats-Expected-Last-Subject-Sequence": "99", "X-Kept": "yes"]
        let batch = js.batch()
        try await batch.publish(Array("v1".utf8), to: "ev.deal", headers: headers, msgId: "fresh", expectedLastSubjectSequence: 0)
        try await batch.publish(Array("v1 again".utf8), to: "ev.deal", headers: headers, msgId: "fresh")
        let outcome = await batch.complete()
        #expect(outcome.acks.map(\.sequence) == [1, 1] && outcome.acks.map(\.duplicate) == [false, true])
        let stored = try #require(try await js.lastMessage(stream: "EVENTS", subject: "ev.deal"))
        #expect(stored.payload == Array("v1".utf8))
        let block = String(decoding: Data(base64Encoded: try #require(stored.hdrs)) ?? Data(), as: UTF8.self)
        #expect(block == "NATS/1.0\r\nX-Kept: yes\r\nNats-Msg-Id: fresh\r\nNats-Expected-Last-Subject-Sequence: 0\r\n\r\n")
    }

    @Test("a stale expected-last-subject-sequence is a conflict and stores nothing")
    func expectedSequence() async throws {
        let server = try NatsServer()
        let js = JetStream(connection: try await connect(server))
        try await stream(js)
        let first = try await js.publish(Array("v1".utf8), to: "ev.deal", expectedLastSubjectSequence: 0)
        let second = try await js.publish(Array("v2".utf8), to: "ev.deal", expectedLastSubjectSequence: first.sequence)
        #expect(second.sequence == 2)
        await #expect(throws: BusError.wrongLastSequence(expected: first.sequence, detail: "wrong last sequence: 2")) {
            try await js.publish(Array("v2'".utf8), to: "ev.deal", expectedLastSubjectSequence: first.sequence)
        }
        #expect(try await js.streamInfo("EVENTS").state.messages == 2)
        await #expect(throws: BusError.noResponders(subject: "nostream.x")) {
            try await js.publish([], to: "nostream.x")
        }
    }

    @Test("a batch of async publishes is acknowledged in order")
    func batch() async throws {
        let server = try NatsServer()
        let js = JetStream(connection: try await connect(server))
        try await stream(js)
        let batch = js.batch(maxPending: 64)
        for i in 0..<1_000 { try await batch.publish(Array("\(i)".utf8), to: "ev.\(i % 10)", msgId: "b-\(i % 900)") }
        let outcome = await batch.complete()
        #expect(outcome.failures.isEmpty)
        #expect(outcome.acks.count == 1_000)
        #expect(outcome.acks.filter(\.duplicate).count == 100)
        #expect(try await js.streamInfo("EVENTS").state.messages == 900)
    }

    @Test("a batch that takes its acks from its own inbox reports each outcome in place, and ignores replies meant for an earlier batch")
    func ownInboxBatch() async throws {
        let server = try NatsServer()
        let js = JetStream(connection: try await connect(server))
        try await stream(js)
        let replies = try js.connection.replyInbox()
        let (gaveUp, outcome, fifthSent) = try await Task.detached {  // completeBlocking blocks its thread: not one of the tasks' pool
            // An earlier batch that gave up at once: its ack arrives while the next one waits.
            let early = js.batch(maxPending: 1, ackTimeout: .zero, replies: replies)
            _ = try early.publishNow(Array("early".utf8), to: "ev.early")
            let gaveUp = early.completeBlocking()
            let batch = js.batch(maxPending: 4, replies: replies)
            _ = try batch.publishNow(Array("a".utf8), to: "ev.a", msgId: "a")
            _ = try batch.publishNow(Array("a".utf8), to: "ev.a", msgId: "a")
            _ = try batch.publishNow(Array("x".utf8), to: "nowhere.x")
            _ = try batch.publishNow(Array("b".utf8), to: "ev.b", expectedLastSubjectSequence: 7)
            let full = try batch.publishNow(Array("c".utf8), to: "ev.c")
            return (gaveUp, batch.completeBlocking(), full)
        }.value
        #expect(gaveUp.failures.count == 1)
        #expect(!fifthSent, "the window is full: nothing sent")
        let results = outcome.results
        #expect(results.count == 4)
        #expect((try? results[0].get())?.duplicate == false && (try? results[1].get())?.duplicate == true)
        guard case .failure(.noResponders) = results[2] else { Issue.record("expected no responders, got \(String(describing: results[2]))"); return }
        guard case .failure(.wrongLastSequence) = results[3] else { Issue.record("expected a conflict, got \(String(describing: results[3]))"); return }
        #expect(try await js.streamInfo("EVENTS").state.messages == 2)
    }

    @Test("a batch reports each failure in place: missing stream and unanswered acks")
    func batchFailures() async throws {
        let server = try NatsServer()
        let nc = try await connect(server)
        let js = JetStream(connection: nc)
        try await stream(js)
        let silent = try nc.subscribe(to: "quiet.x")  // answers nothing: its acks time out
        try nc.flush()
        let batch = js.batch(maxPending: 8, ackTimeout: .milliseconds(300))
        try await batch.publish(Array("a".utf8), to: "ev.1")
        try await batch.publish(Array("b".utf8), to: "nostream.1")
        try await batch.publish(Array("c".utf8), to: "quiet.x")
        try await batch.publish(Array("d".utf8), to: "ev.2", expectedLastSubjectSequence: 99)
        let outcome = await batch.complete()
        #expect(outcome.results.count == 4)
        #expect(outcome.acks.map(\.sequence) == [1])
        #expect(outcome.failures.map(\.index) == [1, 2, 3])
        #expect(outcome.failures.map(\.error) == [.noResponders(subject: "nostream.1"), .timeout(subject: "quiet.x"),
                                                   .wrongLastSequence(expected: 99, detail: "wrong last sequence: 0")])
        _ = silent
    }

    @Test("a nak'ed message is redelivered by the durable pull consumer; acked ones are not")
    func pullRedelivery() async throws {
        let server = try NatsServer()
        let js = JetStream(connection: try await connect(server))
        try await stream(js)
        for i in 1...3 { _ = try await js.publish(Array("m\(i)".utf8), to: "ev.\(i)") }
        var config = ConsumerConfig(durableName: "worker")
        config.ackWait = 30_000_000_000
        try await js.ensureConsumer(stream: "EVENTS", config)
        try await js.ensureConsumer(stream: "EVENTS", config)  // idempotent
        let consumer = js.pullConsumer(stream: "EVENTS", durable: "worker")
        let first = try await consumer.fetch(batch: 3, expires: .seconds(2))
        #expect(first.map { String(decoding: $0.payload, as: UTF8.self) } == ["m1", "m2", "m3"])
        #expect(first.allSatisfy { $0.deliveryCount == 1 })
        try await first[0].ackSync()
        try first[1].nak(delay: .milliseconds(200))
        try first[2].term()
        let again = try await consumer.fetch(batch: 3, expires: .seconds(2))
        #expect(again.map { String(decoding: $0.payload, as: UTF8.self) } == ["m2"])
        #expect(again.first?.deliveryCount == 2)
        try await again[0].ackSync()
        let empty = try await consumer.fetch(batch: 5, expires: .milliseconds(300))
        #expect(empty.isEmpty)
        let noWait = try await consumer.fetch(batch: 5, noWait: true)
        #expect(noWait.isEmpty)
    }

    @Test("two replicas fetching from one durable consumer share the messages without overlap")
    func sharedWork() async throws {
        let server = try NatsServer()
        let nc = try await connect(server)
        let js = JetStream(connection: nc)
        try await stream(js)
        let batch = js.batch()
        for i in 0..<200 { try await batch.publish(Array("\(i)".utf8), to: "ev.x") }
        _ = await batch.complete()
        try await js.ensureConsumer(stream: "EVENTS", ConsumerConfig(durableName: "shared"))
        let other = JetStream(connection: try await connect(server))
        async let a = drain(js.pullConsumer(stream: "EVENTS", durable: "shared"))
        async let b = drain(other.pullConsumer(stream: "EVENTS", durable: "shared"))
        let (left, right) = try await (a, b)
        #expect(left.count + right.count == 200)
        #expect(Set(left).isDisjoint(with: Set(right)))
    }

    @Test("a pull stream delivers what arrives while the last batch is handled, shares the consumer, and gives back what it did not acknowledge")
    func pullStream() async throws {
        let server = try NatsServer()
        let js = JetStream(connection: try await connect(server))
        try await stream(js)
        var config = ConsumerConfig(durableName: "streamed")
        config.ackWait = 5_000_000_000  // short, for the last step; long enough that a busy machine acks in time
        try await js.ensureConsumer(stream: "EVENTS", config)
        // Fewer than a request's worth at first, more than one request's worth later: it keeps topping up.
        let pulling = try js.pullConsumer(stream: "EVENTS", durable: "streamed").stream(maxMessages: 8, expires: .milliseconds(500))
        for i in 0..<3 { _ = try await js.publish(Array("a\(i)".utf8), to: "ev.\(i)") }
        var seen: [String] = []
        while seen.count < 3 {
            for message in try await pulling.next() {
                seen.append(String(decoding: message.payload, as: UTF8.self))
                try message.ack()
            }
        }
        // Requests expire (408) and are renewed while nothing comes; then a burst larger than one request.
        try await Task.sleep(for: .milliseconds(1_200))
        let batch = js.batch()
        for i in 0..<50 { try await batch.publish(Array("b\(i)".utf8), to: "ev.\(i)") }
        _ = await batch.complete()
        while seen.count < 53 {
            for message in try await pulling.next() {
                seen.append(String(decoding: message.payload, as: UTF8.self))
                try message.ack()
            }
        }
        #expect(seen == (0..<3).map { "a\($0)" } + (0..<50).map { "b\($0)" })
        // Taken and not acknowledged: after the ack wait another puller gets it.
        _ = try await js.publish(Array("c".utf8), to: "ev.c")
        let taken = try await pulling.next()
        #expect(taken.map(\.payload) == [Array("c".utf8)])
        pulling.stop()
        let other = try js.pullConsumer(stream: "EVENTS", durable: "streamed").stream(maxMessages: 8, expires: .milliseconds(500))
        defer { other.stop() }
        let again = try await other.next()
        #expect(again.map(\.payload) == [Array("c".utf8)] && again[0].deliveryCount == 2)
    }

    @Test("an inline handler gets every message on the delivery thread in order, may block there for publish acks (from the shared inbox or its own) and API replies, and leaves some to next()",
          arguments: [false, true])
    func inlinePullStream(ownInbox: Bool) async throws {
        let server = try NatsServer()
        let js = JetStream(connection: try await connect(server))
        try await stream(js)
        try await stream(js, "COPIES", subjects: ["copy.>"])
        try await js.ensureConsumer(stream: "EVENTS", ConsumerConfig(durableName: "inline"))
        struct Seen { var payloads: [String] = []; var batches = 0; var ackFloors: [UInt64] = []; var failures: [String] = [] }
        let seen = Mutex(Seen())
        let replies = ownInbox ? try js.connection.replyInbox() : nil
        // Each event is copied to COPIES and acknowledged once the copy is stored, all on the delivery thread; events
        // starting with "x" are left to next().
        let pulling = try js.pullConsumer(stream: "EVENTS", durable: "inline").stream(maxMessages: 8, expires: .milliseconds(500)) { batch in
            let copies = replies.map { js.batch(maxPending: batch.count, replies: $0) } ?? js.batch(maxPending: batch.count)
            var left: [JetStreamMessage] = []
            var mine: [JetStreamMessage] = []
            for message in batch {
                if message.payload.first == UInt8(ascii: "x") { left.append(message); continue }
                mine.append(message)
                do {
                    _ = try copies.publishNow(message.payload, to: "copy.\(message.streamSequence)")
                } catch {
                    seen.withLock { $0.failures.append("\(error)") }
                }
            }
            let outcome = copies.completeBlocking()
            for message in mine { try? message.ack() }
            js.connection.sendBuffered()
            let floor = Result { try js.consumerInfoBlocking(stream: "EVENTS", consumer: "inline").ackFloor.streamSeq }
            seen.withLock { seen in
                seen.payloads += mine.map { String(decoding: $0.payload, as: UTF8.self) }
                seen.batches += 1
                switch floor {
                case .success(let floor): seen.ackFloors.append(floor)
                case .failure(let error): seen.failures.append("consumer info: \(error)")
                }
                seen.failures += outcome.failures.map { "\($0.error)" }
            }
            return left
        }
        defer { pulling.stop() }
        // A trickle, then a burst larger than one pull request: it keeps topping up from the delivery thread.
        for i in 0..<3 { _ = try await js.publish(Array("a\(i)".utf8), to: "ev.\(i)") }
        #expect(await eventually { seen.withLock { $0.payloads.count } == 3 })
        // Requests expire (408) and must be renewed while nothing comes, though nobody calls next() meanwhile.
        try await Task.sleep(for: .milliseconds(1_200))
        let burst = js.batch()
        for i in 0..<50 { try await burst.publish(Array((i == 20 ? "x\(i)" : "b\(i)").utf8), to: "ev.\(i)") }
        _ = await burst.complete()
        #expect(await eventually { seen.withLock { $0.payloads.count } == 52 })
        let left = try await pulling.next()
        #expect(left.map { String(decoding: $0.payload, as: UTF8.self) } == ["x20"])
        try left.forEach { try $0.ack() }
        let result = seen.withLock { $0 }
        #expect(result.failures.isEmpty)
        #expect(result.payloads == (0..<3).map { "a\($0)" } + (0..<50).filter { $0 != 20 }.map { "b\($0)" })
        #expect(result.batches < 52, "what queued while a batch blocked came as one batch")
        // The server applies acks asynchronously, so a floor may lag the acks sent just before; it never goes back.
        #expect(result.ackFloors.count == result.batches, "every blocking API request was answered on the delivery thread")
        #expect(result.ackFloors == result.ackFloors.sorted())
        #expect(await eventually { (try? await js.consumerInfo(stream: "EVENTS", consumer: "inline").ackFloor.streamSeq) == 53 })
        #expect(try await js.streamInfo("COPIES").state.messages == 52)
    }

    @Test("stopping a pull stream waits for the batch its inline handler has in hand, whose acks then count")
    func stopWaitsForInlineBatch() async throws {
        let server = try NatsServer()
        let js = JetStream(connection: try await connect(server))
        try await stream(js)
        try await js.ensureConsumer(stream: "EVENTS", ConsumerConfig(durableName: "held"))
        let entered = Mutex(false)
        let release = DispatchSemaphore(value: 0)
        let pulling = try js.pullConsumer(stream: "EVENTS", durable: "held").stream(maxMessages: 8) { batch in
            entered.withLock { $0 = true }
            _ = release.wait(timeout: .now() + 10)  // a batch that takes a while (bounded, so a failing test ends)
            for message in batch { try? message.ack() }
            js.connection.sendBuffered()
            return []
        }
        _ = try await js.publish(Array("a".utf8), to: "ev.a")
        #expect(await eventually { entered.withLock { $0 } })
        let stopped = Mutex(false)
        let stopping = Task {
            await pulling.stopAndFinish()
            stopped.withLock { $0 = true }
        }
        // Still working on its batch: the stop waits. (What "not yet" can show is bounded by this wait.)
        #expect(await eventually(within: .milliseconds(300)) { stopped.withLock { $0 } } == false)
        release.signal()
        await stopping.value
        #expect(await eventually { (try? await js.consumerInfo(stream: "EVENTS", consumer: "held"))?.ackFloor.streamSeq == 1 })
    }

    @Test("a pull stream goes on after the server restarts: the requests lost with the connection are made again")
    func pullStreamAfterRestart() async throws {
        let server = try NatsServer()
        let nc = try await connect(server)
        let js = JetStream(connection: nc)
        try await stream(js)
        try await js.ensureConsumer(stream: "EVENTS", ConsumerConfig(durableName: "survivor"))
        let pulling = try js.pullConsumer(stream: "EVENTS", durable: "survivor").stream(maxMessages: 8, expires: .seconds(1))
        defer { pulling.stop() }
        _ = try await js.publish(Array("before".utf8), to: "ev.1")
        let first = try await pulling.next()
        #expect(first.map(\.payload) == [Array("before".utf8)])
        try first.forEach { try $0.ack() }

        try server.restart()
        #expect(await eventually(within: .seconds(15)) { (try? nc.flush(timeout: .milliseconds(200))) != nil })
        _ = try await js.publish(Array("after".utf8), to: "ev.2")
        // A server that stops answers its waiting requests with 409 "Server Shutdown": the stream asks again.
        var seen = try await collect(pulling, until: "after")
        #expect(seen.last == "after" && Set(seen).isSubset(of: ["before", "after"]))

        // A crashed server answers nothing: the stream notices the silence and asks again.
        server.crash()
        try server.restart()
        #expect(await eventually(within: .seconds(15)) { (try? nc.flush(timeout: .milliseconds(200))) != nil })
        _ = try await js.publish(Array("after crash".utf8), to: "ev.3")
        // A crash may lose acknowledgements the server had not written yet: earlier messages can come again (at least once).
        seen = try await collect(pulling, until: "after crash")
        #expect(seen.last == "after crash" && Set(seen).isSubset(of: ["before", "after", "after crash"]))
    }

    /// Takes and acknowledges messages until `payload` arrives (or 20 s pass without any); returns them in order.
    func collect(_ pulling: PullStream, until payload: String) async throws -> [String] {
        var seen: [String] = []
        while !seen.contains(payload), let batch = try await next(pulling, within: .seconds(20)) {
            for message in batch {
                seen.append(String(decoding: message.payload, as: UTF8.self))
                try message.ack()
            }
        }
        return seen
    }

    @Test("a stopped pull stream hands back what it received and nobody took, once its requests expire, not after the ack wait")
    func pullStreamStop() async throws {
        let server = try NatsServer()
        let js = JetStream(connection: try await connect(server))
        try await stream(js)
        var config = ConsumerConfig(durableName: "handback")
        config.ackWait = 60_000_000_000
        try await js.ensureConsumer(stream: "EVENTS", config)
        let consumer = js.pullConsumer(stream: "EVENTS", durable: "handback")
        for i in 0..<3 { _ = try await js.publish(Array("m\(i)".utf8), to: "ev.\(i)") }
        let first = try consumer.stream(maxMessages: 8, expires: .seconds(1))  // its first request takes all three
        // All three delivered to the first stream (pending its ack) and arrived in it, none taken by its user. (The
        // server counts them delivered once sent: a loaded machine may still hold them in cnats' own queue, and
        // those would come back only after the ack wait.)
        #expect(await eventually { (try? await consumer.info())?.numAckPending == 3 && first.buffered == 3 })
        first.stop()
        let second = try consumer.stream(maxMessages: 8, expires: .seconds(5))
        defer { second.stop() }
        var again: [JetStreamMessage] = []
        while again.count < 3, let batch = try await next(second, within: .seconds(20)) { again += batch }
        #expect(again.map { String(decoding: $0.payload, as: UTF8.self) } == ["m0", "m1", "m2"])
        #expect(again.allSatisfy { $0.deliveryCount == 2 })
    }

    @Test("a pull stream stopped while messages are still on their way to it hands every one back, not after the ack wait",
          arguments: [false, true])
    func pullStreamStopInFlight(inline: Bool) async throws {
        let server = try NatsServer()
        let js = JetStream(connection: try await connect(server))
        try await stream(js)
        var config = ConsumerConfig(durableName: "inflight")
        config.ackWait = 600_000_000_000  // ten minutes: a message not handed back stays missing for the rest of the test
        try await js.ensureConsumer(stream: "EVENTS", config)
        let consumer = js.pullConsumer(stream: "EVENTS", durable: "inflight")
        let published = (0..<2_000).map { "m\($0)" }
        let batch = js.batch()
        for (i, payload) in published.enumerated() { try await batch.publish(Array(payload.utf8), to: "ev.\(i)") }
        #expect(await batch.complete().failures.isEmpty)
        // The first stream asks for 512 at once and acknowledges what it takes; it stops after its first batch, while
        // the rest of its 512 are still coming (inline: while its handler holds the delivery thread on that batch). A
        // second stream, another replica, is pulling by then.
        let taken = Mutex<[String]>([])
        let first: PullStream
        let second: PullStream
        if inline {
            let entered = Mutex(false)
            let release = DispatchSemaphore(value: 0)
            first = try consumer.stream(maxMessages: 512, expires: .seconds(1)) { batch in
                if !entered.withLock({ $0 }) {
                    entered.withLock { $0 = true }
                    _ = release.wait(timeout: .now() + 10)  // bounded, so a failing test ends
                }
                for message in batch { try? message.ack() }
                js.connection.sendBuffered()
                taken.withLock { $0 += batch.map { String(decoding: $0.payload, as: UTF8.self) } }
                return []
            }
            #expect(await eventually { entered.withLock { $0 } })
            second = try consumer.stream(maxMessages: 512)
            first.stop()
            release.signal()
        } else {
            first = try consumer.stream(maxMessages: 512, expires: .seconds(1))
            let batch = try await first.next()
            for message in batch { try message.ack() }
            taken.withLock { $0 += batch.map { String(decoding: $0.payload, as: UTF8.self) } }
            second = try consumer.stream(maxMessages: 512)
        }
        defer { second.stop() }
        await first.stopAndFinish()
        let before = taken.withLock { $0 }
        #expect(before.count < published.count)
        var after: [String] = []
        while before.count + after.count < published.count, let batch = try await next(second, within: .seconds(20)) {
            for message in batch {
                after.append(String(decoding: message.payload, as: UTF8.self))
                try message.ack()
            }
        }
        #expect(Set(before).isDisjoint(with: after), "what the first stream acknowledged does not come again")
        let missing = Set(published).subtracting(before + after)
        #expect(missing.isEmpty, "\(missing.count) of \(published.count) messages reached neither stream")
    }

    /// The next messages of `pulling`, or nil when none came within `limit`.
    func next(_ pulling: PullStream, within limit: Duration) async throws -> [JetStreamMessage]? {
        try await withThrowingTaskGroup(of: [JetStreamMessage]?.self) { group in
            group.addTask { try await pulling.next() }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    func drain(_ consumer: PullConsumer) async throws -> [String] {
        var seen: [String] = []
        while true {
            let messages = try await consumer.fetch(batch: 17, expires: .milliseconds(300))
            if messages.isEmpty { return seen }
            for message in messages {
                seen.append(String(decoding: message.payload, as: UTF8.self))
                try message.ack()
            }
        }
    }

    /// The events of a snapshot subscription taken by iterating it, or inline on the delivery thread.
    func snapshotEvents(_ js: JetStream, filter: String, inline: Bool) async throws
        -> (AsyncThrowingStream<SnapshotEvent, any Error>, SnapshotSubscription)
    {
        let (events, continuation) = AsyncThrowingStream<SnapshotEvent, any Error>.makeStream()
        if inline {
            let subscription = try await js.snapshotAndUpdates(stream: "STATUS", filter: filter, inline: { batch in
                for event in batch { continuation.yield(event) }
            })
            return (events, subscription)
        }
        let subscription = try await js.snapshotAndUpdates(stream: "STATUS", filter: filter)
        Task {
            do {
                for try await event in subscription { continuation.yield(event) }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        return (events, subscription)
    }

    @Test("the snapshot consumer gives the last message per subject, then live updates", arguments: [false, true])
    func snapshot(inline: Bool) async throws {
        let server = try NatsServer()
        let js = JetStream(connection: try await connect(server))
        var config = StreamConfig(name: "STATUS", subjects: ["st.>"])
        config.maxMsgsPerSubject = 5
        try await js.ensureStream(config)
        for (deal, version) in [("D1", 1), ("D2", 1), ("D1", 2), ("D1", 3), ("D2", 2)] {
            _ = try await js.publish(Array("\(deal)v\(version)".utf8), to: "st.C1.\(deal)")
        }
        _ = try await js.publish(Array("other".utf8), to: "st.C2.D9")
        let (events, snapshot) = try await snapshotEvents(js, filter: "st.C1.>", inline: inline)
        var seen: [String] = []
        var caughtUpAfter: [String]?
        for try await event in events {
            switch event {
            case .caughtUp:
                caughtUpAfter = seen
                _ = try await js.publish(Array("D2v3".utf8), to: "st.C1.D2")
            case .message(let message):
                seen.append(String(decoding: message.payload, as: UTF8.self))
            }
            if seen.count == 3 { break }
        }
        await snapshot.stop()
        #expect(caughtUpAfter == ["D1v3", "D2v2"])
        #expect(seen == ["D1v3", "D2v2", "D2v3"])
    }

    @Test("an empty snapshot is caught up at once", arguments: [false, true])
    func emptySnapshot(inline: Bool) async throws {
        let server = try NatsServer()
        let js = JetStream(connection: try await connect(server))
        try await js.ensureStream(StreamConfig(name: "STATUS", subjects: ["st.>"]))
        let (events, snapshot) = try await snapshotEvents(js, filter: "st.C1.>", inline: inline)
        var iterator = events.makeAsyncIterator()
        let first = try await iterator.next()
        guard case .caughtUp = first else {
            Issue.record("expected caughtUp, got \(String(describing: first))")
            return
        }
        await snapshot.stop()
    }

    @Test("without stream headers, messages keep payload, subject and metadata, and a snapshot still catches up",
          arguments: [false, true])
    func withoutStreamHeaders(inline: Bool) async throws {
        let server = try NatsServer()
        let js = JetStream(connection: try await connect(server))
        try await stream(js)
        try await js.ensureStream(StreamConfig(name: "STATUS", subjects: ["st.>"]))
        for name in ["bare", "full"] { try await js.ensureConsumer(stream: "EVENTS", ConsumerConfig(durableName: name)) }
        let headers: Headers = ["Content-Type": "application/msgpack"]
        _ = try await js.publish(Array("e1".utf8), to: "ev.1", headers: headers, msgId: "e1")
        _ = try await js.publish(Array("s1".utf8), to: "st.C1.D1", headers: headers, msgId: "s1")

        let (received, sink) = AsyncStream<JetStreamMessage>.makeStream()
        func pull(_ durable: String, streamHeaders: Bool) throws -> PullStream {
            let consumer = js.pullConsumer(stream: "EVENTS", durable: durable)
            guard inline else { return try consumer.stream(maxMessages: 8, expires: .milliseconds(300), streamHeaders: streamHeaders) }
            return try consumer.stream(maxMessages: 8, expires: .milliseconds(300), streamHeaders: streamHeaders) { batch in
                for message in batch { sink.yield(message) }
                return []
            }
        }
        func take(_ pulling: PullStream, _ count: Int) async throws -> [JetStreamMessage] {
            var taken: [JetStreamMessage] = []
            var iterator = received.makeAsyncIterator()
            while taken.count < count {
                taken += inline ? [await iterator.next()!] : try await pulling.next()
            }
            for message in taken { try message.ack() }
            return taken
        }
        let bare = try pull("bare", streamHeaders: false)
        defer { bare.stop() }
        let first = try await take(bare, 1)
        #expect(first.map(\.payload) == [Array("e1".utf8)] && first[0].subject == "ev.1" && first[0].streamSequence == 1)
        #expect(first[0].headers.isEmpty)
        _ = try await js.publish(Array("e2".utf8), to: "ev.2", headers: headers)
        let second = try await take(bare, 1)
        #expect(second.map(\.payload) == [Array("e2".utf8)] && second[0].streamSequence == 2 && second[0].headers.isEmpty)
        bare.stop()
        let full = try pull("full", streamHeaders: true)
        defer { full.stop() }
        let withHeaders = try await take(full, 2)
        #expect(withHeaders.map { $0.headers["Content-Type"] } == ["application/msgpack", "application/msgpack"])
        #expect(withHeaders.first?.headers["Nats-Msg-Id"] == "e1")

        let (events, continuation) = AsyncStream<SnapshotEvent>.makeStream()
        let snapshot = try await js.snapshotAndUpdates(stream: "STATUS", filter: "st.>", streamHeaders: false, inline: { batch in
            for event in batch { continuation.yield(event) }
        })
        var seen: [String] = []
        for await event in events {
            switch event {
            case .message(let message):
                #expect(message.headers.isEmpty && message.subject == "st.C1.D1")
                seen.append(String(decoding: message.payload, as: UTF8.self))
            case .caughtUp:
                seen.append("caught up")
            }
            if seen.count == 2 { break }
        }
        await snapshot.stop()
        #expect(seen == ["s1", "caught up"])
    }

    @Test("an inline snapshot handler that throws ends the subscription with its error and is not called again")
    func inlineSnapshotFailure() async throws {
        struct Unreadable: Error {}
        let server = try NatsServer()
        let js = JetStream(connection: try await connect(server))
        try await js.ensureStream(StreamConfig(name: "STATUS", subjects: ["st.>"]))
        let calls = Mutex(0)
        let snapshot = try await js.snapshotAndUpdates(stream: "STATUS", filter: "st.>", inline: { events in
            for case .message in events {
                calls.withLock { $0 += 1 }
                throw Unreadable()
            }
        })
        _ = try await js.publish(Array("bad".utf8), to: "st.C1.D1")
        await #expect(throws: Unreadable.self) {
            for try await _ in snapshot {}
        }
        _ = try await js.publish(Array("later".utf8), to: "st.C1.D2")
        try js.connection.flush()
        #expect(calls.withLock { $0 } == 1)
        await snapshot.stop()
    }

    @Test("a snapshot subscription whose deliveries were dropped (it fell behind) ends with consumerGap after handing on what came before")
    func snapshotGap() async throws {
        let server = try NatsServer()
        let js = JetStream(connection: try await connect(server))
        try await js.ensureStream(StreamConfig(name: "STATUS", subjects: ["st.>"]))
        let gate = DispatchSemaphore(value: 0)
        let handed = Mutex<[String]>([])
        // Room for one message inside cnats; the handler holds the delivery thread at the first message.
        // A long heartbeat: the held delivery thread must not look like a lost consumer.
        let snapshot = try await js.snapshotAndUpdates(stream: "STATUS", filter: "st.>", heartbeat: .seconds(10),
                                                       limits: PendingLimits(messages: 1, bytes: -1, swiftBuffer: 1), inline: { events in
            for case .message(let message) in events {
                let first = handed.withLock { seen in
                    seen.append(String(decoding: message.payload, as: UTF8.self))
                    return seen.count == 1
                }
                if first { gate.wait() }
            }
        })
        for n in 1...50 { _ = try await js.publish(Array("m\(n)".utf8), to: "st.D\(n)") }
        // The server sent all 50 while the handler held on: cnats kept one, and dropped the rest.
        #expect(await eventually { (try? await js.consumerInfo(stream: "STATUS", consumer: snapshot.consumer))?.delivered.consumerSeq == 50 })
        gate.signal()
        _ = try await js.publish(Array("m51".utf8), to: "st.D51")  // the next delivery shows the gap
        do {
            for try await _ in snapshot {}
            Issue.record("the subscription ended without an error")
        } catch BusError.consumerGap(_, let expected, let received) {
            #expect(expected >= 2 && received > expected)
        }
        #expect(handed.withLock { $0.first } == "m1")
        await snapshot.stop()
    }
}
