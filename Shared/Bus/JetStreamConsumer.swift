import Foundation

extension JetStream {
    /// Creates (or updates) a durable consumer explicitly, so no client unsubscribe can delete it.
    @discardableResult
    public func ensureConsumer(stream: String, _ config: ConsumerConfig) async throws -> ConsumerInfo {
        struct Request: Encodable { var streamName: String; var config: ConsumerConfig }
        let body = try [UInt8](Self.encoder.encode(Request(streamName: stream, config: config)))
        if let durable = config.durableName {
            return try await api("CONSUMER.DURABLE.CREATE.\(stream).\(durable)", body: body, as: ConsumerInfo.self)
        }
        return try await api("CONSUMER.CREATE.\(stream)", body: body, as: ConsumerInfo.self)
    }

    public func consumerInfo(stream: String, consumer: String) async throws -> ConsumerInfo {
        try await api("CONSUMER.INFO.\(stream).\(consumer)", as: ConsumerInfo.self)
    }

    /// `consumerInfo` for a thread that may block and is not running a Swift task (a cnats delivery thread in a
    /// `PullStream` inline handler). Never call it from a task.
    public func consumerInfoBlocking(stream: String, consumer: String) throws -> ConsumerInfo {
        try apiBlocking("CONSUMER.INFO.\(stream).\(consumer)", as: ConsumerInfo.self)
    }

    public func deleteConsumer(stream: String, consumer: String) async throws {
        struct Response: Decodable { var success: Bool }
        _ = try await api("CONSUMER.DELETE.\(stream).\(consumer)", as: Response.self)
    }

    /// A handle on an existing durable pull consumer.
    public func pullConsumer(stream: String, durable: String) -> PullConsumer {
        PullConsumer(jetStream: self, stream: stream, name: durable)
    }
}

/// A durable pull consumer: replicas fetching from it share the work; each message goes to one of them.
public struct PullConsumer: Sendable {
    public let jetStream: JetStream
    public let stream: String
    public let name: String

    /// Fetches up to `batch` messages, waiting at most `expires` for them to arrive.
    ///
    /// Returns early once `batch` messages came or the server reports none left within `expires`.
    /// With `noWait`, returns at once with whatever is available (possibly nothing).
    public func fetch(batch: Int, expires: Duration = .seconds(1), noWait: Bool = false) async throws -> [JetStreamMessage] {
        precondition(batch > 0)
        let connection = jetStream.connection
        let inbox = connection.newInbox()
        let subscription = try connection.subscribe(to: inbox, limits: PendingLimits(swiftBuffer: max(batch, 16)))
        defer { subscription.unsubscribe() }
        let request = noWait ? #"{"batch":\#(batch),"no_wait":true}"# : #"{"batch":\#(batch),"expires":\#(expires.nanoseconds)}"#
        try connection.publish(Array(request.utf8), to: "\(jetStream.apiPrefix).CONSUMER.MSG.NEXT.\(stream).\(name)", reply: inbox)
        var messages: [JetStreamMessage] = []
        messages.reserveCapacity(batch)
        // The server ends an unfilled pull with a 404/408 status; the local deadline only guards a lost server.
        let deadline = Task {
            try await Task.sleep(for: expires + .seconds(1))
            subscription.unsubscribe()
        }
        defer { deadline.cancel() }
        for try await message in subscription {
            if let status = message.status {
                if status == 100 { continue }  // idle heartbeat
                if status == 404 || status == 408 || status == 409 { break }
                throw BusError.jetStream(code: status, errorCode: 0, description: message.headers[BusHeader.description] ?? "pull status")
            }
            guard let delivered = JetStreamMessage(message, connection: connection) else { continue }
            messages.append(delivered)
            if messages.count == batch { break }
        }
        return messages
    }

    public func info() async throws -> ConsumerInfo {
        try await jetStream.consumerInfo(stream: stream, consumer: name)
    }
}
