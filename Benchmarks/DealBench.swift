import Bus
import Foundation
import Logging
import Messages
import TestSupport
import Wire

/// Deal status end to end: an event published to DEAL_EVENTS → the snapshot received by a subscribed terminal,
/// through the release `deal-status` binary (one instance), beside, in the same run and with the same payloads: a plain
/// cnats relay of the same NATS calls (`RawRelay`, the floor), the same relay through our Bus (`BusRelay`) and a raw
/// JetStream store-and-republish. And a netting preview of a 1,000-deal set through the `netting` binary.
struct DealBench {
    let server: NatsServer
    let logger: Logger
    let binDirectory: URL

    /// One pipeline's figures in one round.
    struct Measured {
        var p50: Double
        var p99: Double
        var rate: Double
        var cpu: String

        /// Each figure's median over the rounds (the upper one of an even count), with the CPU line of the round whose
        /// p99 (`paced`) or achieved rate is the median.
        static func median(_ rounds: [Measured], paced: Bool) -> Measured {
            func middle(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
            let p99 = middle(rounds.map(\.p99)), rate = middle(rounds.map(\.rate))
            let typical = rounds.first { paced ? $0.p99 == p99 : $0.rate == rate }!
            return Measured(p50: middle(rounds.map(\.p50)), p99: p99, rate: rate, cpu: typical.cpu)
        }
    }

    func launch(_ name: String, directory: URL, url: String? = nil) throws -> Process {
        let process = Process()
        process.executableURL = binDirectory.appendingPathComponent(name)
        process.arguments = ["--nats-url", url ?? server.url, "--data-dir", directory.path, "--instance-id", "\(name)-bench", "--log-level", "warning"]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Waits until the service answers `$SRV.PING.<name>` (it has connected, created its streams and registered).
    func awaitReady(_ name: String, on connection: NatsConnection) async {
        _ = await eventually(within: .seconds(20)) {
            (try? await connection.request([], to: "$SRV.PING.\(name)", timeout: .milliseconds(200))) != nil
        }
    }

    func stop(_ process: Process) {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        process.waitUntilExit()
    }

    static func terms(client: String, deal: String, valueDate: String = "2024-12-02") -> DealTerms {
        DealTerms(client: client, dealId: deal, tradeTime: Date(), channel: .fixAPI, product: .spot, side: .buy, baseCurrency: "CNY",
                  quoteCurrency: "RUB", amount: Money(minor: 100_000_000, currency: "CNY"), rate: Rate(mantissa: 112_345, scale: 4),
                  valueDate: valueDate,
                  requisites: [SettlementRequisites(currency: "CNY", account: "1", bic: "B"), SettlementRequisites(currency: "RUB", account: "2", bic: "B")])
    }

    /// Publishes `count` bookings at `rate` per second (0 = as fast as possible) on `prefix`.<deal> and measures until
    /// every deal's first snapshot arrives on `receive`.<deal>. Returns latencies and the achieved end-to-end rate.
    func pipeline(connection: NatsConnection, publishPrefix: String, receivePrefix: String, count: Int, rate: Double, tag: String)
        async throws -> (Latencies, Double)
    {
        let js = JetStream(connection: connection)
        let received = try connection.subscribe(to: "\(receivePrefix).>")
        try connection.flush()
        let sent = SentTimes(count: count)
        let encoder = MessagePackEncoder()
        let payloads = try (0..<count).map { n in
            let deal = "\(tag)-\(n)"
            return try encoder.encode(DealEvent(eventId: "\(tag)-\(n)", client: "B", dealId: deal, kind: .booked, occurredAt: Date(),
                                                terms: Self.terms(client: "B", deal: deal)))
        }
        let clock = ContinuousClock()
        let start = clock.now
        let publisher = Task {
            let batch = js.batch(maxPending: 1_024)
            let interval = rate > 0 ? Duration.seconds(1) / rate : .zero
            for n in 0..<count {
                if rate > 0 {
                    // Paced in 1 ms steps (a sleep per message would cost the load generator more than the system
                    // under test); each message's latency counts from its actual send.
                    let due = start.advanced(by: interval * n)
                    if due > clock.now + .milliseconds(1) {
                        connection.sendBuffered()  // this step's events leave now, not after cnats' 1 ms flusher wait
                        try await Task.sleep(until: due, clock: clock)
                    }
                }
                sent.set(n, clock.now)
                try await batch.publish(payloads[n], to: "\(publishPrefix).\(tag)-\(n)", msgId: "\(tag)-\(n)")
            }
            _ = await batch.complete()
        }
        var latencies = Latencies()
        var seen = 0
        // A pipeline that stalls ends the bench with its name rather than hanging it.
        let watchdog = received.unsubscribe(after: .seconds(120))
        defer {
            watchdog.cancel()
            received.unsubscribe()
        }
        var trace: [String] = []
        for try await message in received {
            guard let dash = message.subject.lastIndex(of: "-"), let n = Int(message.subject[message.subject.index(after: dash)...]) else { continue }
            let sentAt = sent.get(n), latency = clock.now - sentAt
            latencies.record(latency)
            if traceDirectory != nil { trace.append("\(n) \(Int(seconds(sentAt - start) * 1e6)) \(Int(seconds(latency) * 1e6))") }
            seen += 1
            if seen == count { break }
        }
        guard seen == count else { throw BenchError.stalled(pipeline: publishPrefix, received: seen, of: count) }
        let elapsed = clock.now - start
        try await publisher.value
        if let traceDirectory { try trace.joined(separator: "\n").write(toFile: "\(traceDirectory)/\(tag).txt", atomically: true, encoding: .utf8) }
        return (latencies, Double(count) / seconds(elapsed))
    }

    /// Starts this benchmark binary as a relay (`RawRelay`, `BusRelay`: baselines of the deal cases) on streams shaped
    /// like ours.
    func launchRelay(_ shape: RelayShape, _ js: JetStream) async throws -> Process {
        try await js.ensureStream(StreamConfig(name: shape.eventsStream, subjects: [shape.eventPrefix + ">"]))
        var status = StreamConfig(name: shape.statusStream, subjects: [shape.storedPrefix + ">"])
        status.republish = .init(src: shape.storedPrefix + ">", dest: shape.statusPrefix + ">")
        status.maxMsgsPerSubject = 32
        try await js.ensureStream(status)
        var consumer = ConsumerConfig(durableName: shape.consumer)
        consumer.ackWait = Duration.seconds(10).nanoseconds
        consumer.maxAckPending = 10_000
        try await js.ensureConsumer(stream: shape.eventsStream, consumer)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        process.arguments = ["--relay", shape.kind, server.url]
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = Pipe()  // the relay ends when this closes: with the bench, even if it is killed
        try process.run()
        let ready = try output.fileHandleForReading.read(upToCount: 6)  // "ready\n": subscribed and pulling
        guard ready == Data("ready\n".utf8), process.isRunning else { throw BenchError.relayNotReady(shape.kind) }
        return process
    }

    /// The paced and sustained cases, each pipeline's median of `rounds` interleaved rounds.
    func run(scale: Int, rounds: Int) async throws -> [CaseResult] {
        let directory = try scratchDirectory("bench")
        defer { try? FileManager.default.removeItem(at: directory) }
        var options = ConnectionOptions(servers: [server.url], name: "bench-terminal")
        options.sendAsap = false
        let connection = try await NatsConnection.connect(options, logger: logger)
        let js = JetStream(connection: connection)
        // Baseline of the relay: a stream that stores bench.in.> and republishes to bench.out.> (one store, no consumer).
        var raw = StreamConfig(name: "BENCH_RAW", subjects: ["bench.in.>"])
        raw.republish = .init(src: "bench.in.>", dest: "bench.out.>")
        try await js.ensureStream(raw)

        let dealStatus = try launch("deal-status", directory: directory)
        defer { stop(dealStatus) }
        let relay = try await launchRelay(RawRelay.shape, js)
        defer { stop(relay) }
        let busRelay = try await launchRelay(BusRelay.shape, js)
        defer { stop(busRelay) }
        await awaitReady("deal-status", on: connection)
        var results: [CaseResult] = []
        // SVYAZ_BENCH_RATES=1000,5000 picks the paced rates (e.g. to profile one of them under `perf`).
        let rates = ProcessInfo.processInfo.environment["SVYAZ_BENCH_RATES"].map { $0.split(separator: ",").compactMap { Double($0) } }
            ?? [1_000, 5_000, 10_000]
        let me = ("bench", getpid())
        // Publish prefix, receive prefix, the processes whose CPU counts, the consumer whose acks end the work.
        let pipelines: [(String, String, [(String, Int32)], (stream: String, consumer: String)?)] = [
            ("deal.event.B", "deal.status.B", [("nats-server", server.pid), ("deal-status", dealStatus.processIdentifier), me],
             (Subjects.Deal.eventsStream, "deal-status")),
            (RawRelay.shape.eventPrefix + "B", RawRelay.shape.statusPrefix + "B", [("nats-server", server.pid), ("relay", relay.processIdentifier), me],
             (RawRelay.shape.eventsStream, RawRelay.shape.consumer)),
            (BusRelay.shape.eventPrefix + "B", BusRelay.shape.statusPrefix + "B",
             [("nats-server", server.pid), ("bus relay", busRelay.processIdentifier), me], (BusRelay.shape.eventsStream, BusRelay.shape.consumer)),
            ("bench.in", "bench.out", [("nats-server", server.pid), me], nil),
        ]
        /// Ours, the plain relay, the Bus relay and raw store → republish, one after the other (paced at `rate`, or as
        /// fast as they go): latencies, achieved rate, CPU per event. A pipeline's CPU counts until its events are all
        /// acknowledged and its projection has had time to write (the last 10 ms interval), so that its trailing work
        /// is its own and does not run into the next pipeline. `first` rotates which pipeline goes first.
        func measure(count: Int, rate: Double, tag: String, first: Int) async throws -> [Measured] {
            var measured = [Measured?](repeating: nil, count: pipelines.count)
            for step in 0..<pipelines.count {
                let index = (first + step) % pipelines.count
                let (publish, receive, processes, consumer) = pipelines[index]
                let cpu = CPUSample(processes)
                let (latencies, achieved) = try await pipeline(connection: connection, publishPrefix: publish, receivePrefix: receive,
                                                               count: count, rate: rate, tag: "\(tag)\(index)")
                if let consumer {
                    _ = await eventually(within: .seconds(30), poll: .milliseconds(5)) {
                        (try? await js.consumerInfo(stream: consumer.stream, consumer: consumer.consumer).numAckPending) == 0
                    }
                    try await Task.sleep(for: .milliseconds(20))
                }
                measured[index] = Measured(p50: latencies.p50, p99: latencies.p99, rate: achieved, cpu: cpu.perOperation(count))
            }
            return measured.map { $0! }
        }
        /// `rounds` interleaved rounds of `measure` (each starting with another pipeline), each pipeline's median: a
        /// burst of noise from the shared machine then moves one round of one pipeline, not the comparison.
        func measureRounds(count: Int, rate: Double, tag: String) async throws -> [Measured] {
            var measured: [[Measured]] = []
            for round in 0..<rounds {
                measured.append(try await measure(count: count, rate: rate, tag: "\(tag)r\(round)-", first: round))
            }
            return pipelines.indices.map { index in Measured.median(measured.map { $0[index] }, paced: rate > 0) }
        }
        let relayName = "plain cnats relay, same NATS calls"
        let rowNames = ["deal event → terminal", "plain cnats relay → terminal", "Bus relay → terminal"]
        // Row: what it is measured against. Ours and the Bus relay against the plain relay, that one against raw.
        let against = [1, 3, 1]
        let baselineNames = [relayName, "raw JetStream store → republish", relayName]
        /// A row's CPU line; the plain relay's also shows raw store → republish's.
        func cpu(_ m: [Measured], _ row: Int) -> String { row == 1 ? "\(m[row].cpu); raw: \(m[3].cpu)" : m[row].cpu }
        for (round, rate) in rates.enumerated() {
            // Message ids differ per round: the streams would drop a repeated rate's events as duplicates.
            let m = try await measureRounds(count: Int(rate) * scale, rate: rate, tag: "R\(round)-\(Int(rate))-")
            for row in 0..<3 {
                let (measured, base) = (m[row], m[against[row]])
                results.append(CaseResult(
                    name: "\(rowNames[row]) @ \(Int(rate / 1000))k/s", baseline: baselineNames[row],
                    ours: Measurement(opsPerSecond: rate, p50Micros: measured.p50, p99Micros: measured.p99),
                    base: Measurement(opsPerSecond: rate, p50Micros: base.p50, p99Micros: base.p99),
                    ratioName: against[row] == 3 ? "p99 of raw" : "p99 of relay", ratio: measured.p99 / base.p99,
                    target: rate == 5_000 ? "p99 < 10 ms" : "-", met: rate == 5_000 ? measured.p99 < 10_000 : true,
                    cpu: cpu(m, row)
                ))
            }
        }
        let burst = 20_000 * scale
        let m = try await measureRounds(count: burst, rate: 0, tag: "S")
        let sustainedNames = ["deal events sustained (1 instance)", "plain cnats relay sustained", "Bus relay sustained"]
        for row in 0..<3 {
            let (achieved, base) = (m[row].rate, m[against[row]].rate)
            results.append(CaseResult(
                name: sustainedNames[row], baseline: baselineNames[row],
                ours: Measurement(opsPerSecond: achieved), base: Measurement(opsPerSecond: base),
                ratioName: against[row] == 3 ? "of raw" : "of relay", ratio: achieved / base, target: "≥ 20k/s", met: achieved >= 20_000,
                cpu: cpu(m, row)
            ))
        }
        await connection.drain()
        return results
    }

    /// A backlog of `count` bookings waiting in DEAL_EVENTS when deal-status starts (a restart after an outage):
    /// the rate at which it catches up, until the last snapshot reaches a terminal; beside a consumer that only pulls
    /// and acknowledges the same backlog through the same Bus (the floor of reading it).
    func catchUp(count: Int) async throws -> CaseResult {
        let fresh = try NatsServer()
        defer { fresh.stop(); fresh.removeFiles() }
        let directory = try scratchDirectory("bench-catchup")
        defer { try? FileManager.default.removeItem(at: directory) }
        let connection = try await NatsConnection.connect(ConnectionOptions(servers: [fresh.url], name: "bench-catchup"), logger: logger)
        defer { connection.close() }
        // A first start creates the streams and the durable consumer; then the backlog builds while it is down.
        let first = try launch("deal-status", directory: directory, url: fresh.url)
        await awaitReady("deal-status", on: connection)
        stop(first)
        let js = JetStream(connection: connection)
        var raw = ConsumerConfig(durableName: "bench-raw")
        raw.maxAckPending = 10_000
        _ = try await js.ensureConsumer(stream: "DEAL_EVENTS", raw)
        let batch = js.batch(maxPending: 1_024)
        let encoder = MessagePackEncoder()
        for n in 0..<count {
            let deal = "C-\(n)"
            let event = DealEvent(eventId: deal, client: "B", dealId: deal, kind: .booked, occurredAt: Date(), terms: Self.terms(client: "B", deal: deal))
            try await batch.publish(try encoder.encode(event), to: "deal.event.B.\(deal)", msgId: deal)
        }
        _ = await batch.complete()
        let clock = ContinuousClock()

        let received = try connection.subscribe(to: "deal.status.B.>")
        try connection.flush()
        let start = clock.now
        let dealStatus = try launch("deal-status", directory: directory, url: fresh.url)
        defer { stop(dealStatus) }
        let cpu = CPUSample([("nats-server", fresh.pid), ("deal-status", dealStatus.processIdentifier), ("bench", getpid())])
        var seen = 0
        for try await _ in received {
            seen += 1
            if seen == count { break }
        }
        let ours = Double(count) / seconds(clock.now - start)
        let cpuUsed = cpu.perOperation(count)

        let pulling = try js.pullConsumer(stream: "DEAL_EVENTS", durable: "bench-raw").stream(maxMessages: 512)
        defer { pulling.stop() }
        let baseStart = clock.now
        let baseCPU = CPUSample([("nats-server", fresh.pid), ("bench", getpid())])
        var acked = 0
        while acked < count {
            for message in try await pulling.next() {
                try message.ack()
                acked += 1
            }
        }
        let base = Double(count) / seconds(clock.now - baseStart)
        return CaseResult(
            name: "deal events catch-up, \(count / 1000)k backlog", baseline: "pull + ack of the same backlog",
            ours: Measurement(opsPerSecond: ours), base: Measurement(opsPerSecond: base),
            ratioName: "of raw", ratio: ours / base, target: "-", met: true,
            cpu: "\(cpuUsed); pull + ack only: \(baseCPU.perOperation(count))"
        )
    }

    /// 1,000 confirmed deals on one value date, then `preview` of that set, beside a raw request/reply of the same bytes.
    func nettingPreview(iterations: Int) async throws -> CaseResult {
        // A server of its own: the deals of the latency cases would otherwise form one giant set first.
        let fresh = try NatsServer()
        defer { fresh.stop(); fresh.removeFiles() }
        let nettingDirectory = try scratchDirectory("bench-netting")
        defer { try? FileManager.default.removeItem(at: nettingDirectory) }
        let dealStatus = try launch("deal-status", directory: nettingDirectory, url: fresh.url)
        defer { stop(dealStatus) }
        let netting = try launch("netting", directory: nettingDirectory, url: fresh.url)
        defer { stop(netting) }
        let connection = try await NatsConnection.connect(ConnectionOptions(servers: [fresh.url], name: "bench-feed"), logger: logger)
        var asap = ConnectionOptions(servers: [fresh.url], name: "bench-requests")
        asap.sendAsap = true  // request/reply latency, as a terminal connection is configured
        let requester = try await NatsConnection.connect(asap, logger: logger)
        defer { requester.close(); connection.close() }
        await awaitReady("netting", on: requester)
        let js = JetStream(connection: connection)
        let batch = js.batch(maxPending: 1_024)
        let encoder = MessagePackEncoder()
        for n in 0..<1_000 {
            let deal = "N-\(n)"
            for (i, confirmation) in [ConfirmationStatus?.none, .awaiting, .confirmed].enumerated() {
                let event = DealEvent(eventId: "\(deal)-\(i)", client: "N", dealId: deal, kind: confirmation == nil ? .booked : .confirmation,
                                      occurredAt: Date(), terms: confirmation == nil ? Self.terms(client: "N", deal: deal) : nil,
                                      confirmation: confirmation)
                try await batch.publish(try encoder.encode(event), to: "deal.event.N.\(deal)", msgId: event.eventId)
            }
        }
        _ = await batch.complete()
        let preview = try encoder.encode(NettingPreview(valueDate: "2024-12-02"))
        var size = 0
        var included = 0
        let ready = await eventually(within: .seconds(120), poll: .milliseconds(100)) {
            guard let reply = try? await requester.request(preview, to: "netting.cmd.N.preview", timeout: .seconds(2)),
                  let set = try? MessagePackDecoder().decode(NettingSummary.self, from: reply.payload) else { return false }
            size = reply.payload.count
            included = set.dealsIn.count
            return included == 1_000
        }
        if !ready { print("  netting: only \(included) of 1,000 deals netted after 120 s") }
        let clock = ContinuousClock()
        var ours = Latencies()
        for _ in 0..<iterations {
            let start = clock.now
            let reply = try await requester.request(preview, to: "netting.cmd.N.preview", timeout: .seconds(2))
            _ = try MessagePackDecoder().decode(NettingSummary.self, from: reply.payload)
            ours.record(clock.now - start)
        }
        // Baseline: an echo of a payload of the same size over the same connection (transport and copy only).
        let echoes = try requester.subscribe(to: "bench.echo")
        try requester.flush()
        let echo = Task {
            for try await message in echoes { if let reply = message.reply { try requester.publish(message.payload, to: reply) } }
        }
        let blob = [UInt8](repeating: 7, count: size)
        var base = Latencies()
        for _ in 0..<iterations {
            let start = clock.now
            _ = try await requester.request(blob, to: "bench.echo", timeout: .seconds(2))
            base.record(clock.now - start)
        }
        echo.cancel()
        echoes.unsubscribe()
        return CaseResult(
            name: "netting preview, 1,000 deals (\(size / 1024) KiB)", baseline: "raw request/reply, same bytes",
            ours: Measurement(opsPerSecond: 0, p50Micros: ours.p50, p99Micros: ours.p99),
            base: Measurement(opsPerSecond: 0, p50Micros: base.p50, p99Micros: base.p99),
            ratioName: "p99 of raw", ratio: ours.p99 / base.p99, target: "p99 < 5 ms", met: ours.p99 < 5_000
        )
    }
}

/// Where each deal pipeline leaves a line per event (`SVYAZ_BENCH_TRACE`): index, µs from the start to its send, µs
/// to its snapshot. To see whether a p99 is one stall or many (e.g. per 100 ms window).
let traceDirectory = ProcessInfo.processInfo.environment["SVYAZ_BENCH_TRACE"]

/// Publish instants by index, written by the publisher task and read by the receiver.
final class SentTimes: @unchecked Sendable {  // guarded by `lock`
    private var times: [ContinuousClock.Instant]
    private let lock = NSLock()

    init(count: Int) { times = Array(repeating: ContinuousClock.now, count: count) }

    func set(_ index: Int, _ instant: ContinuousClock.Instant) { lock.withLock { times[index] = instant } }
    func get(_ index: Int) -> ContinuousClock.Instant { lock.withLock { times[index] } }
}

enum BenchError: Error {
    case relayNotReady(String)
    case stalled(pipeline: String, received: Int, of: Int)
}
