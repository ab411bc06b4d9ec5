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
        // Read once per delivered message, so the tokens are found in the UTF-8 bytes rather than split into strings.
        guard let info = reply.utf8.withContiguousStorageIfAvailable({ Self.parseAckSubject($0) }) ?? Self.parseAckSubject(Array(reply.utf8))
        else { return nil }
        let (stream, consumer, delivered, sseq, cseq, pending) = info
        self.message = message
        self.stream = stream
        self.consumer = consumer
        self.deliveryCount = delivered
        self.streamSequence = sseq
        self.consumerSequence = cseq
        self.pending = pending
        self.connection = connection
    }

    typealias AckSubject = (stream: String, consumer: String, delivered: UInt64, sseq: UInt64, cseq: UInt64, pending: UInt64)

    static func parseAckSubject(_ bytes: [UInt8]) -> AckSubject? { bytes.withUnsafeBufferPointer { parseAckSubject($0) } }

    /// The tokens of `$JS.ACK.…`: 9 in the v1 form, 11 or more in v2 (domain and account hash before the stream).
    static func parseAckSubject(_ bytes: UnsafeBufferPointer<UInt8>) -> AckSubject? {
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 16) { starts -> AckSubject? in
            var count = 1
            starts[0] = 0
            for i in bytes.indices where bytes[i] == UInt8(ascii: ".") {
                guard count < 15 else { return nil }
                starts[count] = i + 1
                count += 1
            }
            starts[count] = bytes.count + 1  // one past the last token's end, as if a dot followed it
            let base: Int
            switch count {
            case 9: base = 2
            case 11...: base = 4
            default: return nil
            }
            func token(_ n: Int) -> UnsafeBufferPointer<UInt8> {
                UnsafeBufferPointer(rebasing: bytes[starts[base + n]..<(starts[base + n + 1] - 1)])
            }
            func number(_ n: Int) -> UInt64? {
                let digits = token(n)
                guard !digits.isEmpty, digits.count <= 19 else { return nil }
                var value: UInt64 = 0
                for d in digits {
                    guard d >= 48, d <= 57 else { return nil }
                    value = value * 10 + UInt64(d - 48)
                }
                return value
            }
            guard let delivered = number(2), let sseq = number(3), let cseq = number(4), let pending = number(6) else { return nil }
            return (String(decoding: token(0), as: UTF8.self), String(decoding: token(1), as: UTF8.self), delivered, sseq, cseq, pending)
        }
    }

    private static let ackBody = Array("+ACK".utf8)
    private static let termBody = Array("+TERM".utf8)
    private static let progressBody = Array("+WPI".utf8)

    /// Acknowledges processing (fire and forget).
    public func ack() throws {
        try connection.publish(Self.ackBody, to: message.reply!)
    }

    /// Acknowledges and waits until the server confirms it, so a crash right after cannot redeliver.
    public func ackSync(timeout: Duration = .seconds(5)) async throws {
        _ = try await connection.rawRequest(Self.ackBody, to: message.reply!, timeout: timeout)
    }

    /// Asks for redelivery, after `delay` if given.
    public func nak(delay: Duration? = nil) throws {
        let body = delay.map { "-NAK {\"delay\":\($0.nanoseconds)}" } ?? "-NAK"
        try connection.publish(Array(body.utf8), to: message.reply!)
    }

    /// Never deliver this message again (poison message).
    public func term() throws {
        try connection.publish(Self.termBody, to: message.reply!)
    }

    /// Resets the ack timer while work is still going on.
    public func inProgress() throws {
        try connection.publish(Self.progressBody, to: message.reply!)
    }
}
