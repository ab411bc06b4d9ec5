/// A message delivered by a JetStream consumer, with its delivery metadata and acknowledgement verbs.
public struct JetStreamMessage: Sendable {
    public let message: BusMessage
    public let stream: String
    public let consumer: String
    /// How many times this message has been delivered (1 on first delivery).
    public let deliveryCount: UInt64
    public let streamSequence: UInt64
    public let consumerSequence: UInt64
    /// Messages still pending for the consumer after this one.
    public let pending: UInt64
    let connection: NatsConnection

    public var subject: String { message.subject }
    public var payload: [UInt8] { message.payload }
    public var headers: Headers { message.headers }

    /// Parses `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>` (and the v2 form with domain and hash).
    init?(_ message: BusMessage, connection: NatsConnection) {
        guard let reply = message.reply, reply.hasPrefix("$JS.ACK.") else { return nil }
        let tokens = reply.split(separator: ".", omittingEmptySubsequences: false)
        let base: Int
        switch tokens.count {
        case 9: base = 2
        case 11...: base = 4
        default: return nil
        }
        guard let delivered = UInt64(tokens[base + 2]), let sseq = UInt64(tokens[base + 3]), let cseq = UInt64(tokens[base + 4]),
              let pending = UInt64(tokens[base + 6])
        else { return nil }
        self.message = message
        self.stream = String(tokens[base])
        self.consumer = String(tokens[base + 1])
        self.deliveryCount = delivered
        self.streamSequence = sseq
        self.consumerSequence = cseq
        self.pending = pending
        self.connection = connection
    }

    /// Acknowledges processing (fire and forget).
    public func ack() throws {
        try connection.publish(Array("+ACK".utf8), to: message.reply!)
    }

    /// Acknowledges and waits until the server confirms it, so a crash right after cannot redeliver.
    public func ackSync(timeout: Duration = .seconds(5)) async throws {
        _ = try await connection.rawRequest(Array("+ACK".utf8), to: message.reply!, timeout: timeout)
    }

    /// Asks for redelivery, after `delay` if given.
    public func nak(delay: Duration? = nil) throws {
        let body = delay.map { "-NAK {\"delay\":\($0.nanoseconds)}" } ?? "-NAK"
        try connection.publish(Array(body.utf8), to: message.reply!)
    }

    /// Never deliver this message again (poison message).
    public func term() throws {
        try connection.publish(Array("+TERM".utf8), to: message.reply!)
    }

    /// Resets the ack timer while work is still going on.
    public func inProgress() throws {
        try connection.publish(Array("+WPI".utf8), to: message.reply!)
    }
}
