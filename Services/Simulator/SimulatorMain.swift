import ArgumentParser
import Bus
import Foundation
import Logging
import Messages
import ServiceKit
import ServiceLifecycle
import Wire

/// `simulator`: realistic FX deals for N clients with full lifecycles, published to DEAL_EVENTS at a steady rate.
@main
struct SimulatorMain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulator",
        abstract: "Books deals for N clients and walks each through confirmation (with mismatches) and settlement (with failures)."
    )

    @OptionGroup var options: ServiceOptions
    @Option(help: "Number of clients (C1…Cn).") var clients = 3
    @Option(help: "Events per second.") var rate = 20.0
    @Option(help: "Deals in flight at once.") var active = 40
    @Option(help: "Stop after this many deals have gone through their lifecycle; 0 = run until stopped.") var deals = 0
    @Option(help: "Random seed (same seed, same deals).") var seed: UInt64 = 42
    @Option(help: "Prefix of deal numbers; default: unique per run so reruns never collide.") var prefix: String?
    @Flag(help: "Lifecycles as a trading day brings them: also disputes, amendments after confirmation and cancellations, and forwards and swaps that stop at CONFIRMED (the simulator does not settle them: their value dates are weeks ahead), so they stay nettable. Without it every deal settles.")
    var variedLifecycles = false

    func validate() throws {
        guard rate > 0, rate <= 1_000_000 else { throw ValidationError("--rate must be in (0, 1000000]") }
        guard clients >= 1, active >= 1, deals >= 0 else { throw ValidationError("--clients and --active must be ≥ 1, --deals ≥ 0") }
    }

    func run() async throws {
        let logger = ServiceRuntime.bootstrap(options, service: "simulator")
        let connection = try await NatsConnection.connect(options.connectionOptions(name: "simulator"), logger: logger)
        let js = JetStream(connection: connection)
        var events = StreamConfig(name: Subjects.Deal.eventsStream, subjects: [Subjects.Deal.allEvents])
        events.duplicateWindow = 10 * 60 * 1_000_000_000
        try await js.ensureStream(events)
        // SIGTERM / Ctrl-C end the run between two events: what was published gets its acks, then the connection drains.
        try await ServiceRuntime.run([Simulation(command: self, jetStream: js, logger: logger)], options: options, logger: logger,
                                     endWhenFinished: true)
        await connection.drain()
    }

    /// Publishes until `deals` are settled (or forever) or until cancelled, then waits for the outstanding acks.
    func simulate(_ js: JetStream, logger: Logger) async throws {
        let runPrefix = prefix ?? "FX" + String(UInt64(Date().timeIntervalSince1970) % 10_000_000, radix: 36).uppercased() + "-"
        var random = SeededRandom(state: seed)
        var inFlight: [DealScript] = []
        var booked = 0
        var finished = 0
        var published = 0
        let encoder = MessagePackEncoder()
        let interval = Duration.seconds(1) / rate
        let clock = ContinuousClock()
        var next = clock.now
        var batch = js.batch(maxPending: 256)
        logger.info("simulating", metadata: ["clients": "\(clients)", "rate": "\(rate)/s", "prefix": "\(runPrefix)"])
        while !Task.isCancelled && (deals == 0 || finished < deals) {
            // Keep `active` deals in flight; each step advances one random deal by one event.
            if inFlight.count < active && (deals == 0 || booked < deals) {
                booked += 1
                let client = "C\(Int(random.next() % UInt64(clients)) + 1)"
                inFlight.append(DealScript.make(client: client, number: booked, tradeTime: Date(), random: &random, varied: variedLifecycles))
                inFlight[inFlight.count - 1] = renamed(inFlight[inFlight.count - 1], prefix: runPrefix)
            }
            guard !inFlight.isEmpty else { break }
            let index = Int(random.next() % UInt64(inFlight.count))
            guard var event = inFlight[index].events.popLast() else { continue }
            event.occurredAt = Date()
            try await batch.publish(try encoder.encode(event), to: "deal.event.\(event.client).\(event.dealId)",
                                    headers: [Header.contentType: ContentType.msgpack, Header.schema: DealEvent.schema], msgId: event.eventId)
            published += 1
            if inFlight[index].events.isEmpty {
                inFlight.remove(at: index)
                finished += 1
            }
            if published % 1_000 == 0 {
                let outcome = await batch.complete()
                if !outcome.failures.isEmpty { logger.error("publishes failed", metadata: ["count": "\(outcome.failures.count)"]) }
                batch = js.batch(maxPending: 256)
                logger.info("progress", metadata: ["events": "\(published)", "deals": "\(booked)", "finished": "\(finished)"])
            }
            next = next.advanced(by: interval)
            if next > clock.now, (try? await Task.sleep(until: next, clock: clock)) == nil { break }  // stopping
        }
        let outcome = await batch.complete()
        if !outcome.failures.isEmpty { logger.error("publishes failed", metadata: ["count": "\(outcome.failures.count)"]) }
        logger.info("done", metadata: ["events": "\(published)", "deals": "\(finished)"])
    }

    /// Gives the script's deal the run's prefix (deal numbers are subject tokens: letters, digits, '-').
    private func renamed(_ script: DealScript, prefix: String) -> DealScript {
        let dealId = prefix + script.dealId.dropFirst()
        var copy = DealScript(client: script.client, dealId: dealId, events: script.events)
        for i in copy.events.indices {
            copy.events[i].dealId = dealId
            copy.events[i].eventId = "\(prefix)\(copy.events[i].eventId)"
            if copy.events[i].terms != nil { copy.events[i].terms?.dealId = dealId }
        }
        return copy
    }
}

/// The simulation as a service, so graceful shutdown (SIGTERM, Ctrl-C) ends it between two events.
struct Simulation: Service {
    let command: SimulatorMain
    let jetStream: JetStream
    let logger: Logger

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await command.simulate(jetStream, logger: logger)
        }
    }
}
