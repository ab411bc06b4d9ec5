import Bus
import Foundation
import Logging

/// `RawRelay`'s calls made through our Bus the way deal-status makes them: a `PullConsumer.consume` loop with the
/// same gather, a `PublishBatch` per batch waited for, acks, `sendBuffered`; a `snapshotAndUpdates` projection.
/// Beside the plain cnats relay it shows what the Swift bridge and its thread hand-offs cost, apart from deal-status's
/// own work (`svyaz-bench --relay bus <url>`). It ends when its standard input closes.
enum BusRelay {
    static let shape = RelayShape(kind: "bus")

    static func run(url: String) async throws -> Never {
        var options = ConnectionOptions(servers: [url], name: "bus-relay")
        options.sendAsap = false
        let connection = try await NatsConnection.connect(options, logger: Logger(label: "bus-relay"))
        let js = JetStream(connection: connection)
        let gather: Duration = .microseconds(500)  // as deal-status's default
        let projection = try await js.snapshotAndUpdates(stream: shape.statusStream, filter: shape.storedPrefix + ">", gather: gather)
        let following = Task { for try await _ in projection {} }
        let consumer = js.pullConsumer(stream: shape.eventsStream, durable: shape.consumer)
        let handling = Task {
            await consumer.consume(gather: gather, failed: { error in FileHandle.standardError.write(Data("bus relay: \(error)\n".utf8)) }) { batch in
                let versions = js.batch(maxPending: batch.count)
                for event in batch {
                    let stored = shape.stored(for: event.subject)
                    try await versions.publish(event.payload, to: stored, msgId: "\(stored).1", expectedLastSubjectSequence: 0)
                }
                // As the plain relay: a version refused or deduplicated would leave the bench waiting for it.
                let outcome = await versions.complete()
                precondition(outcome.failures.isEmpty && outcome.acks.allSatisfy { !$0.duplicate }, "bus relay: \(outcome.failures)")
                for event in batch { try event.ack() }
                connection.sendBuffered()
            }
        }
        FileHandle.standardOutput.write(Data("ready\n".utf8))
        _ = (following, handling)
        exitWhenInputCloses()
    }
}
