import Foundation
import Synchronization

/// JetStream over the connection's core NATS: management through the JSON API, publishes as requests
/// whose acks come back on the shared inbox, pulls with their own inbox.
public struct JetStream: Sendable {
    public let connection: NatsConnection
    /// Prefix of the JetStream API (changes with domains/accounts).
    public var apiPrefix: String
    public var timeout: Duration

    public init(connection: NatsConnection, apiPrefix: String = "$JS.API", timeout: Duration = .seconds(5)) {
        self.connection = connection
        self.apiPrefix = apiPrefix
        self.timeout = timeout
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }()

    /// Calls the JSON API; a reply with an `error` member becomes `BusError.jetStream`.
    func api<Response: Decodable>(_ path: String, body: [UInt8] = [], as: Response.Type) async throws -> Response {
        try Self.decodeAPI(try await connection.rawRequest(body, to: "\(apiPrefix).\(path)", timeout: timeout), as: Response.self)
    }

    /// `api` for a thread that may block and is not running a Swift task (see `NatsConnection.rawRequestBlocking`).
    func apiBlocking<Response: Decodable>(_ path: String, body: [UInt8] = [], as: Response.Type) throws -> Response {
        try Self.decodeAPI(try connection.rawRequestBlocking(body, to: "\(apiPrefix).\(path)", timeout: timeout), as: Response.self)
    }

    private static func decodeAPI<Response: Decodable>(_ reply: BusMessage, as: Response.Type) throws -> Response {
        if let envelope = try? decoder.decode(APIErrorEnvelope.self, from: Data(reply.payload)), let error = envelope.error {
            throw BusError.jetStream(code: error.code, errorCode: error.errCode ?? 0, description: error.description ?? "")
        }
        return try decoder.decode(Response.self, from: Data(reply.payload))
    }

    // MARK: Streams

    /// Creates the stream, or updates it when its settings differ; safe to call from every replica at start.
    @discardableResult
    public func ensureStream(_ config: StreamConfig) async throws -> StreamInfo {
        for _ in 0..<3 {
            do {
                let info = try await streamInfo(config.name)
                if info.config == config { return info }
                let body = try [UInt8](Self.encoder.encode(config))
                return try await api("STREAM.UPDATE.\(config.name)", body: body, as: StreamInfo.self)
            } catch BusError.jetStream(_, let errorCode, _) where errorCode == 10059 {
                do {
                    let body = try [UInt8](Self.encoder.encode(config))
                    return try await api("STREAM.CREATE.\(config.name)", body: body, as: StreamInfo.self)
                } catch BusError.jetStream(_, let errorCode, _) where errorCode == 10058 {
                    continue  // another replica created it first; compare again
                }
            }
        }
        return try await streamInfo(config.name)
    }

    public func streamInfo(_ name: String) async throws -> StreamInfo {
        try await api("STREAM.INFO.\(name)", as: StreamInfo.self)
    }

    public func deleteStream(_ name: String) async throws {
        struct Response: Decodable { var success: Bool }
        _ = try await api("STREAM.DELETE.\(name)", as: Response.self)
    }

    /// The newest message stored on `subject`, or nil when there is none.
    public func lastMessage(stream: String, subject: String) async throws -> StoredMessage? {
        struct Request: Encodable { var lastBySubj: String }
        struct Response: Decodable { var message: StoredMessage }
        do {
            let body = try [UInt8](Self.encoder.encode(Request(lastBySubj: subject)))
            return try await api("STREAM.MSG.GET.\(stream)", body: body, as: Response.self).message
        } catch BusError.jetStream(_, let errorCode, _) where errorCode == 10037 {
            return nil
        }
    }

    /// The first message on `subject` at or after `sequence`, or nil when there is none.
    public func nextMessage(stream: String, subject: String, from sequence: UInt64) async throws -> StoredMessage? {
        struct Request: Encodable { var seq: UInt64; var nextBySubj: String }
        struct Response: Decodable { var message: StoredMessage }
        do {
            let body = try [UInt8](Self.encoder.encode(Request(seq: sequence, nextBySubj: subject)))
            return try await api("STREAM.MSG.GET.\(stream)", body: body, as: Response.self).message
        } catch BusError.jetStream(_, let errorCode, _) where errorCode == 10037 {
            return nil
        }
    }

    // MARK: Publish

    /// Stores a message and waits for the stream's acknowledgement.
    ///
    /// - Parameters:
    ///   - msgId: dedupe key (`Nats-Msg-Id`); a repeat within the window returns `duplicate == true`.
    ///   - expectedLastSubjectSequence: optimistic concurrency; a mismatch throws `BusError.wrongLastSequence`.
    public func publish(
        _ payload: [UInt8],
        to subject: String,
        headers: Headers = Headers(),
        msgId: String? = nil,
        expectedLastSubjectSequence: UInt64? = nil
    ) async throws -> PubAck {
        let reply = try await connection.rawRequest(payload, to: subject, headers: headers, msgId: msgId,
                                                    expectedLastSubjectSequence: expectedLastSubjectSequence, timeout: timeout)
        return try Self.parseAck(reply, subject: subject, expected: expectedLastSubjectSequence)
    }

    /// Stores the next version of a value under `subject` only if the subject's last message is still the one at
    /// `expectedLastSubjectSequence` (0: none yet), with `msgId` naming the version. Returns the new sequence, or nil
    /// when another writer got there first (the last sequence moved, or this version id was already stored).
    public func publishIfLast(
        _ payload: [UInt8],
        to subject: String,
        headers: Headers = Headers(),
        msgId: String,
        expectedLastSubjectSequence: UInt64
    ) async throws -> UInt64? {
        do {
            let ack = try await publish(payload, to: subject, headers: headers, msgId: msgId,
                                        expectedLastSubjectSequence: expectedLastSubjectSequence)
            return ack.duplicate ? nil : ack.sequence
        } catch BusError.wrongLastSequence {
            return nil
        }
    }

    /// Starts a batch of asynchronous publishes (pipelined; acks collected by `PublishBatch.complete`).
    public func batch(maxPending: Int = 4_096, ackTimeout: Duration = .seconds(30)) -> PublishBatch {
        PublishBatch(jetStream: self, maxPending: maxPending, ackTimeout: ackTimeout)
    }

    /// A batch whose acks the calling thread takes itself from `replies`, one wake-up fewer per wait: published with
    /// `publishNow` and waited for with `completeBlocking` only, by the one thread that uses `replies`.
    public func batch(maxPending: Int, ackTimeout: Duration = .seconds(30), replies: ReplyInbox) -> PublishBatch {
        PublishBatch(jetStream: self, maxPending: maxPending, ackTimeout: ackTimeout, replies: replies)
    }

    /// Parses `{"stream":"S","seq":N,"duplicate":true}` or an API error, without Foundation JSON on the happy path.
    static func parseAck(_ reply: BusMessage, subject: String, expected: UInt64?) throws -> PubAck {
        if reply.status == 503 { throw BusError.noResponders(subject: subject) }
        let bytes = reply.payload
        // The server writes `{"stream":"S", "seq":1,"duplicate": true}`: spacing varies, so values are scanned leniently.
        if let seq = scanUInt(bytes, key: AckKeys.seq), find(bytes, AckKeys.error) == nil {
            let stream = scanString(bytes, key: AckKeys.stream) ?? ""
            return PubAck(stream: stream, sequence: seq, duplicate: scanTrue(bytes, key: AckKeys.duplicate))
        }
        let envelope = try? decoder.decode(APIErrorEnvelope.self, from: Data(bytes))
        guard let error = envelope?.error else {
            throw BusError.jetStream(code: 0, errorCode: 0, description: "unreadable ack: \(String(decoding: bytes, as: UTF8.self))")
        }
        if error.errCode == 10071 {
            throw BusError.wrongLastSequence(expected: expected ?? 0, detail: error.description ?? "")
        }
        throw BusError.jetStream(code: error.code, errorCode: error.errCode ?? 0, description: error.description ?? "")
    }

    /// The keys of a publish ack, as bytes once (an ack is parsed per published message).
    private enum AckKeys {
        static let seq = Array(#""seq":"#.utf8)
        static let error = Array(#""error""#.utf8)
        static let stream = Array(#""stream":"#.utf8)
        static let duplicate = Array(#""duplicate":"#.utf8)
    }

    private static func find(_ bytes: [UInt8], _ n: [UInt8]) -> Int? {
        guard bytes.count >= n.count else { return nil }
        var i = 0
        while i <= bytes.count - n.count {
            if bytes[i] == n[0] {
                var j = 1
                while j < n.count && bytes[i + j] == n[j] { j += 1 }
                if j == n.count { return i + n.count }
            }
            i += 1
        }
        return nil
    }

    private static func skipSpaces(_ bytes: [UInt8], from start: Int) -> Int {
        var i = start
        while i < bytes.count, bytes[i] == UInt8(ascii: " ") { i += 1 }
        return i
    }

    private static func scanTrue(_ bytes: [UInt8], key: [UInt8]) -> Bool {
        guard let found = find(bytes, key) else { return false }
        let i = skipSpaces(bytes, from: found)
        return i < bytes.count && bytes[i] == UInt8(ascii: "t")
    }

    private static func scanUInt(_ bytes: [UInt8], key: [UInt8]) -> UInt64? {
        guard let found = find(bytes, key) else { return nil }
        var i = skipSpaces(bytes, from: found)
        var value: UInt64 = 0
        var digits = 0
        while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(bytes[i] - 48))
            if o1 || o2 { return nil }
            value = a
            digits += 1
            i += 1
        }
        return digits > 0 ? value : nil
    }

    private static func scanString(_ bytes: [UInt8], key: [UInt8]) -> String? {
        guard let found = find(bytes, key) else { return nil }
        let quote = skipSpaces(bytes, from: found)
        guard quote < bytes.count, bytes[quote] == UInt8(ascii: "\"") else { return nil }
        let start = quote + 1
        var end = start
        while end < bytes.count, bytes[end] != UInt8(ascii: "\"") { end += 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }
}

/// A message read directly from a stream by sequence or subject.
public struct StoredMessage: Decodable, Sendable {
    public var subject: String
    public var seq: UInt64
    /// Base64 as the API sends it.
    public var data: String?
    public var hdrs: String?

    public var payload: [UInt8] { data.flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) } ?? [] }
}
