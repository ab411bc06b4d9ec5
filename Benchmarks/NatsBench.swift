import Bus
import CNats
import Foundation
import Logging

struct NatsBench {
    let url: String
    let logger: Logger

    func connect(sendAsap: Bool) async throws -> NatsConnection {
        var options = ConnectionOptions(servers: [url], name: "bench")
        options.sendAsap = sendAsap
        return try await NatsConnection.connect(options, logger: logger)
    }

    /// Bus request → MicroService endpoint → reply, against raw cnats request → C-callback echo, both in this run.
    ///
    /// Two rows: an async endpoint (handler in a Swift task) and an inline endpoint (handler on the delivery thread).
    func requestReply(count: Int) async throws -> [CaseResult] {
        let payload = [UInt8](repeating: 7, count: 128)
        // Baseline: raw cnats on both ends, SendAsap as NATS.md recommends for RPC.
        let rawResponder = RawConnection(url: url, sendAsap: true)
        let rawSub = rawResponder.echoResponder(subject: "bench.raw.echo")
        let rawClient = RawConnection(url: url, sendAsap: true)
        _ = rawClient.requestLoop(subject: "bench.raw.echo", payload: payload, count: count / 10)
        let (rawLatency, rawTime) = await onThread { rawClient.requestLoop(subject: "bench.raw.echo", payload: payload, count: count) }
        natsSubscription_Unsubscribe(rawSub)
        natsSubscription_Destroy(rawSub)
        let base = Measurement(opsPerSecond: Double(count) / seconds(rawTime), p50Micros: rawLatency.p50, p99Micros: rawLatency.p99)

        let serverConnection = try await connect(sendAsap: true)
        let service = try MicroService(connection: serverConnection, identity: .init(name: "bench", version: "1.0.0"))
        try service.addEndpoint("echo", subject: "bench.bus.echo") { ServiceReply(payload: $0.payload) }
        try service.addInlineEndpoint("echo-inline", subject: "bench.bus.inline") { ServiceReply(payload: $0.payload) }
        let running = Task.detached { try await service.run() }
        let client = try await connect(sendAsap: true)
        try serverConnection.flush()

        var results: [CaseResult] = []
        for (label, subject) in [("async", "bench.bus.echo"), ("inline", "bench.bus.inline")] {
            for _ in 0..<(count / 10) { _ = try await client.request(payload, to: subject) }
            var latencies = Latencies()
            let clock = ContinuousClock()
            let start = clock.now
            for _ in 0..<count {
                let t0 = clock.now
                _ = try await client.request(payload, to: subject)
                latencies.record(clock.now - t0)
            }
            let busTime = clock.now - start
            let ratio = latencies.p50 / rawLatency.p50
            results.append(CaseResult(
                name: "request/reply 128 B (Bus + micro \(label))", baseline: "raw cnats request + C echo",
                ours: Measurement(opsPerSecond: Double(count) / seconds(busTime), p50Micros: latencies.p50, p99Micros: latencies.p99),
                base: base, ratioName: "p50 RTT of raw", ratio: ratio, target: "≤ 1.3×", met: ratio <= 1.3
            ))
        }
        await service.stop()
        try await running.value
        return results
    }

    /// Messages/s through the Bus AsyncSequence vs a raw cnats callback that only counts.
    func subscribeThroughput(count: Int) async throws -> CaseResult {
        let payload = [UInt8](repeating: 1, count: 128)
        let publisher = RawConnection(url: url, sendAsap: false)
        func publishAll(_ subject: String) {
            payload.withUnsafeBytes { buffer in
                for _ in 0..<count { natsConnection_Publish(publisher.nc, subject, buffer.baseAddress, Int32(buffer.count)) }
            }
            natsConnection_Flush(publisher.nc)
        }

        let rawReceiver = RawConnection(url: url, sendAsap: false)
        let counter = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        counter.initialize(to: 0)
        defer { counter.deallocate() }
        let rawSub = rawReceiver.countingSubscriber(subject: "bench.raw.sub", counter: counter)
        let clock = ContinuousClock()
        let rawStart = clock.now
        let rawPublish = Task.detached { publishAll("bench.raw.sub") }
        while counter.pointee < count && clock.now - rawStart < .seconds(60) { try await Task.sleep(for: .microseconds(200)) }
        let rawTime = clock.now - rawStart
        await rawPublish.value
        natsSubscription_Unsubscribe(rawSub)
        natsSubscription_Destroy(rawSub)

        let receiver = try await connect(sendAsap: false)
        let subscription = try receiver.subscribe(to: "bench.bus.sub", limits: PendingLimits(messages: -1, bytes: -1))
        try receiver.flush()
        let busStart = clock.now
        let consumer = Task.detached { () -> Int in
            var received = 0
            for try await _ in subscription {
                received += 1
                if received == count { break }
            }
            return received
        }
        let busPublish = Task.detached { publishAll("bench.bus.sub") }
        let received = try await consumer.value
        let busTime = clock.now - busStart
        await busPublish.value
        let ours = Double(received) / seconds(busTime)
        let base = Double(counter.pointee) / seconds(rawTime)
        return CaseResult(
            name: "subscribe 128 B (AsyncSequence)", baseline: "raw cnats callback counter",
            ours: Measurement(opsPerSecond: ours), base: Measurement(opsPerSecond: base),
            ratioName: "of raw", ratio: ours / base, target: "≥ 0.5×", met: ours / base >= 0.5
        )
    }

    /// JetStream pipelined publish through Bus vs js_PublishAsync.
    func jetStreamPublish(count: Int) async throws -> CaseResult {
        let payload = [UInt8](repeating: 3, count: 128)
        return try await comparePublish(
            stream: "BENCH_PUB", name: "JetStream async publish 128 B", baseline: "raw js_PublishAsync",
            raw: { $0.jetStreamAsyncPublish(subject: "bench.bench_pub.raw.all", payload: payload, count: count) },
            bus: { batch in for _ in 0..<count { try await batch.publish(payload, to: "bench.bench_pub.bus.all") } }
        )
    }

    /// Versions as deal-status publishes them (a subject each, 4 headers: content type, schema, message id, expected
    /// last subject sequence), through a `PublishBatch`, beside cnats' `natsMsgHeader_Set` + `js_PublishMsgAsync`.
    func jetStreamPublishWithHeaders(count: Int) async throws -> CaseResult {
        let payload = [UInt8](repeating: 3, count: 128)
        let headers: Headers = ["Content-Type": "application/msgpack", "Svyaz-Schema": "DealStatus/1"]
        return try await comparePublish(
            stream: "BENCH_VERSIONS", name: "JetStream publish, 4 headers", baseline: "raw natsMsgHeader_Set + js_PublishMsgAsync",
            raw: { $0.jetStreamAsyncPublishWithHeaders(prefix: "bench.bench_versions.raw", payload: payload, count: count) },
            bus: { batch in
                for n in 0..<count {
                    let subject = "bench.bench_versions.bus.\(n)"
                    try await batch.publish(payload, to: subject, headers: headers, msgId: subject + ".v1", expectedLastSubjectSequence: 0)
                }
            }
        )
    }

    /// A publish comparison, each side into a fresh stream of its own (`<stream>_RAW` on `bench.<stream lowercased>.raw.>`,
    /// `<stream>_BUS` on `….bus.>`, so neither works against what the other stored; names apart from the deal cases'
    /// streams, which a full run creates on the same server): the raw cnats side timed on a
    /// thread of its own, then the Bus side through one `PublishBatch`, as messages per second.
    private func comparePublish(
        stream: String, name: String, baseline: String, raw: @escaping @Sendable (RawConnection) -> Duration,
        bus: (PublishBatch) async throws -> Void
    ) async throws -> CaseResult {
        let connection = try await connect(sendAsap: false)
        let js = JetStream(connection: connection)
        for side in ["raw", "bus"] {
            var config = StreamConfig(name: "\(stream)_\(side.uppercased())", subjects: ["bench.\(stream.lowercased()).\(side).>"])
            config.maxMsgs = 2_000_000
            try await js.ensureStream(config)
        }
        let rawConnection = RawConnection(url: url, sendAsap: false)
        let rawTime = await onThread { raw(rawConnection) }

        let clock = ContinuousClock()
        let start = clock.now
        let batch = js.batch(maxPending: 4_096, ackTimeout: .seconds(60))
        try await bus(batch)
        let outcome = await batch.complete()
        let busTime = clock.now - start
        precondition(outcome.failures.isEmpty, "bus JetStream publish failures: \(outcome.failures.count)")
        let count = Double(outcome.results.count)
        let (ours, base) = (count / seconds(busTime), count / seconds(rawTime))
        return CaseResult(
            name: name, baseline: baseline, ours: Measurement(opsPerSecond: ours), base: Measurement(opsPerSecond: base),
            ratioName: "of raw", ratio: ours / base, target: "≥ 0.8×", met: ours / base >= 0.8
        )
    }
}
