import ArgumentParser
import Bus
import Logging
import ServiceKit

/// `refdata`: currency minor units and exact counter-amount calculation for the other services and clients.
@main
struct RefDataMain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "refdata",
        abstract: "Reference data service: ISO 4217 minor units and counter amounts (ref.currency.get, ref.fx.counter)."
    )

    @OptionGroup var options: ServiceOptions

    func run() async throws {
        let logger = ServiceRuntime.bootstrap(options, service: "refdata")
        let store = try RefDataStore(path: options.databasePath("refdata"))
        let connection = try await NatsConnection.connect(options.connectionOptions(name: "refdata"), logger: logger)
        let service = try RefDataService.make(connection: connection, store: store)
        logger.info("refdata ready", metadata: ["id": "\(service.id)", "nats": "\(connection.connectedURL ?? "-")"])
        try await ServiceRuntime.run([MicroServiceRunner(service, store: store.store)], options: options, logger: logger)
    }
}
