import Bus
import Foundation
import Logging

/// `RawRelay`'s calls made through our Bus the way deal-status makes them: the batch handled on the pull's delivery
/// thread (`PullConsumer.consume` with an inline handler), a `PublishBatch` per batch whose acks that thread takes from
/// its own `ReplyInbox`, acks, `sendBuffered`; a projection handled on its delivery thread (`snapshotAndUpdates`
/// inline); messages taken without their headers. Beside the plain cnats relay it shows what the Swift bridge costs, apart from deal-status's own work
/// (`svyaz-bench --relay bus <url>`). It ends when its standard input closes.
enum BusRelay {
    static let shape = RelayShape(kind: "bus")

    static func run(url: String) async throws -> Never {
        var options = ConnectionOptions(servers: [url], name: "bus-relay")
        options.sendAsap = false
        let connection = try await NatsConnection.connect(options, logger: Logger(label: "bus-relay"))
        let js = JetStream(connection: connection)
        let projection = try await js.snapshotAndUpdates(stream: shape.statusStream, filter: shape.storedPrefix + ">",
                                                      streamHeaders: false, inline: { _ in })
        let following = Task { for try await _ in projection {} }
        let replies = try connection.replyInbox()  // only the pull's delivery thread uses it
        let consumer = js.pullConsumer(stream: shape.eventsStream, durable: shape.consumer)
        let handling = Task {
            await consumer.consume(streamHeaders: false, inline: { batch in
                let versions = js.batch(maxPending: batch.count, replies: replies)
                for event in batch {
                    let stored = shape.stored(for: event.subject)
                    let sent = try? versions.publishNow(event.payload, to: stored, msgId: "\(stored).1", expectedLastSubjectSequence: 0)
                    precondition(sent == true, "bus relay: publish failed")
                }
                // As the plain relay: a version refused or deduplicated would leave the bench waiting for it.
                let outcome = versions.completeBlocking()
                precondition(outcome.failures.isEmpty && outcome.acks.allSatisfy { !$0.duplicate }, "bus relay: \(outcome.failures)")
                for event in batch { try? event.ack() }
                connection.sendBuffered()
                return []
            }, failed: { error in FileHandle.standardError.write(Data("bus relay: \(error)\n".utf8)) }) { _ in }
        }
        FileHandle.standardOutput.write(Data("ready\n".utf8))
        _ = (following, handling)
        exitWhenInputCloses()
    }
}
