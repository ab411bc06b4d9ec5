import ArgumentParser
import Bus
import Logging
import ServiceKit

/// `netting`: payment netting of a client's FX deals per value date (seed 000).
@main
struct NettingMain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "netting",
        abstract: "Keeps netting sets per client and value date; answers preview, include, exclude and close."
    )

    @OptionGroup var options: ServiceOptions

    func run() async throws {
        let logger = ServiceRuntime.bootstrap(options, service: "netting")
        let store = try NettingStore(path: options.databasePath("netting"))
        var connectionOptions = options.connectionOptions(name: "netting")
        connectionOptions.sendAsap = true  // request-heavy: every event is a JetStream publish waiting for its ack
        let connection = try await NatsConnection.connect(connectionOptions, logger: logger)
        try await NettingService.ensureStreams(JetStream(connection: connection), logger: logger)
        let service = try NettingService(connection: connection, store: store, logger: logger)
        logger.info("netting ready", metadata: ["id": "\(service.micro.id)"])
        // Shut down in reverse order: the workers first (the last batch's acks still go out), then the endpoints and
        // the connection.
        try await ServiceRuntime.run([MicroServiceRunner(service.micro, store: store.store), NettingWorkers(service: service)],
                                     options: options, logger: logger)
    }
}
