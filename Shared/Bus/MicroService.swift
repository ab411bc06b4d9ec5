import CNats
import Foundation
import Logging
import Metrics
import Synchronization

/// An error a handler throws to answer with ADR-32 error headers; `body` is the (MessagePack) error document.
public struct ServiceError: Error, Sendable {
    public var code: Int
    public var message: String
    public var body: [UInt8]

    public init(code: Int, message: String, body: [UInt8] = []) {
        self.code = code
        self.message = message
        self.body = body
    }
}

/// A request as an endpoint handler sees it.
public struct ServiceRequest: Sendable {
    public let message: BusMessage
    public var subject: String { message.subject }
    public var payload: [UInt8] { message.payload }
    public var headers: Headers { message.headers }
}

/// What an endpoint handler answers.
public struct ServiceReply: Sendable {
    public var payload: [UInt8]
    public var headers: Headers

    public init(payload: [UInt8], headers: Headers = Headers()) {
        self.payload = payload
        self.headers = headers
    }
}

/// A NATS micro service (ADR-32): discoverable with `$SRV.PING|INFO|STATS`, endpoints in queue group `q`.
///
/// Start more processes with the same name to scale: requests are split among them by the queue group.
public final class MicroService: Sendable {
    public typealias Handler = @Sendable (ServiceRequest) async throws -> ServiceReply
    /// A handler run right on the cnats delivery thread: no hop into Swift concurrency, so the lowest latency,
    /// for work that neither suspends nor blocks for long (in-memory lookups, pure computations).
    public typealias InlineHandler = @Sendable (ServiceRequest) throws -> ServiceReply

    enum Mode: Sendable {
        case async(Handler, maxConcurrency: Int)
        case inline(InlineHandler)
    }

    public struct Identity: Sendable {
        public var name: String
        public var version: String
        public var description: String
        public var metadata: [String: String]

        public init(name: String, version: String, description: String = "", metadata: [String: String] = [:]) {
            self.name = name
            self.version = version
            self.description = description
            self.metadata = metadata
        }
    }

    final class Endpoint: Sendable {
        let name: String
        let subject: String
        let queueGroup: String?
        let metadata: [String: String]
        let mode: Mode
        let subscription: Subscription
        let stats = Mutex<(requests: Int, errors: Int, lastError: String, processingNanos: Int64)>((0, 0, "", 0))
        let requestCounter: Counter
        let errorCounter: Counter
        let duration: Metrics.Timer

        init(name: String, subject: String, queueGroup: String?, metadata: [String: String], mode: Mode, subscription: Subscription) {
            self.name = name
            self.subject = subject
            self.queueGroup = queueGroup
            self.metadata = metadata
            self.mode = mode
            self.subscription = subscription
            let dimensions = [("endpoint", name)]
            requestCounter = Counter(label: "svyaz_requests_total", dimensions: dimensions)
            errorCounter = Counter(label: "svyaz_request_errors_total", dimensions: dimensions)
            duration = Metrics.Timer(label: "svyaz_request_duration_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds)
        }
    }

    public let connection: NatsConnection
    public let identity: Identity
    public let id: String
    public let started: Date
    public let logger: Logger
    private let endpoints = Mutex<[Endpoint]>([])
    private let discovery = Mutex<[Subscription]>([])

    public init(connection: NatsConnection, identity: Identity, logger: Logger? = nil) throws {
        guard !identity.name.isEmpty, identity.name.utf8.allSatisfy({ $0.isServiceNameByte }) else {
            throw BusError.invalidArgument("service name must match [A-Za-z0-9_-]+: \(identity.name)")
        }
        self.connection = connection
        self.identity = identity
        self.id = NatsConnection.randomToken()
        self.started = Date()
        self.logger = logger ?? connection.logger
        var handles: [Subscription] = []
        for verb in ["PING", "INFO", "STATS"] {
            for subject in ["$SRV.\(verb)", "$SRV.\(verb).\(identity.name)", "$SRV.\(verb).\(identity.name).\(id)"] {
                handles.append(try connection.subscribeDirect(to: subject) { [weak self] message in
                    self?.answerDiscovery(verb: verb, message: message)
                })
            }
        }
        discovery.withLock { $0 = handles }
    }

    /// Adds an endpoint; `subject` defaults to the name, `queueGroup` to "q" (nil = every instance gets every request).
    ///
    /// Requests are handled one at a time in arrival order unless `maxConcurrency` allows more in parallel.
    public func addEndpoint(
        _ name: String,
        subject: String? = nil,
        queueGroup: String? = "q",
        metadata: [String: String] = [:],
        maxConcurrency: Int = 1,
        handler: @escaping Handler
    ) throws {
        let subject = subject ?? name
        let subscription = try connection.subscribe(to: subject, queue: queueGroup)
        let endpoint = Endpoint(name: name, subject: subject, queueGroup: queueGroup, metadata: metadata,
                                mode: .async(handler, maxConcurrency: max(1, maxConcurrency)), subscription: subscription)
        endpoints.withLock { $0.append(endpoint) }
    }

    /// Adds an endpoint whose handler runs on the cnats delivery thread (see `InlineHandler`).
    public func addInlineEndpoint(
        _ name: String,
        subject: String? = nil,
        queueGroup: String? = "q",
        metadata: [String: String] = [:],
        handler: @escaping InlineHandler
    ) throws {
        let subject = subject ?? name
        let slot = Mutex<Endpoint?>(nil)
        let subscription = try connection.subscribeDirect(to: subject, queue: queueGroup) { [weak self] message in
            guard let self, let endpoint = slot.withLock({ $0 }) else { return }
            let start = ContinuousClock.now
            guard self.repliesToInbox(message, endpoint, start: start) else { return }
            self.respond(to: message, endpoint, start: start, result: Result { try handler(ServiceRequest(message: message)) })
        }
        let endpoint = Endpoint(name: name, subject: subject, queueGroup: queueGroup, metadata: metadata, mode: .inline(handler),
                                subscription: subscription)
        slot.withLock { $0 = endpoint }
        endpoints.withLock { $0.append(endpoint) }
    }

    /// Serves every endpoint until `stop()` drains them; in-flight requests finish first.
    public func run() async throws {
        let all = endpoints.withLock { $0 }
        try await withThrowingDiscardingTaskGroup { group in
            for endpoint in all {
                group.addTask { try await self.serve(endpoint) }
            }
        }
    }

    /// Stops taking requests: endpoint subscriptions drain (already-received requests are still answered).
    public func stop() async {
        let handles = discovery.withLock { handles -> [Subscription] in
            defer { handles = [] }
            return handles
        }
        for handle in handles { handle.unsubscribe() }
        for endpoint in endpoints.withLock({ $0 }) { await endpoint.subscription.drain() }
    }

    private func serve(_ endpoint: Endpoint) async throws {
        switch endpoint.mode {
        case .inline:
            for try await _ in endpoint.subscription {}  // requests are answered on the delivery thread; wait for the drain
        case .async(let handler, let maxConcurrency) where maxConcurrency == 1:
            for try await message in endpoint.subscription { await handle(message, endpoint, handler) }
        case .async(let handler, let maxConcurrency):
            try await withThrowingTaskGroup(of: Void.self) { group in
                var inFlight = 0
                for try await message in endpoint.subscription {
                    if inFlight >= maxConcurrency {
                        try await group.next()
                        inFlight -= 1
                    }
                    inFlight += 1
                    group.addTask { await self.handle(message, endpoint, handler) }
                }
                try await group.waitForAll()
            }
        }
    }

    private func handle(_ message: BusMessage, _ endpoint: Endpoint, _ handler: Handler) async {
        let start = ContinuousClock.now
        guard repliesToInbox(message, endpoint, start: start) else { return }
        let result: Result<ServiceReply, any Error>
        do {
            result = .success(try await handler(ServiceRequest(message: message)))
        } catch {
            result = .failure(error)
        }
        respond(to: message, endpoint, start: start, result: result)
    }

    /// Whether a reply to `message` may be sent: it asks for none, or for one on an inbox (`_INBOX.…`, or a prefix
    /// of its own like the terminal's `_INBOX_<client>.…`). A request naming any other subject is not handled and
    /// gets no reply (counted as an error): nats-server does not check a reply subject against the requester's
    /// permissions, and a service publishing its answer there with its own would let a client write into streams
    /// (`deal.snapshot.…`) or call the JetStream API (`$JS.API.…`).
    private func repliesToInbox(_ message: BusMessage, _ endpoint: Endpoint, start: ContinuousClock.Instant) -> Bool {
        guard let reply = message.reply, !Self.isInbox(reply) else { return true }
        logger.warning("request ignored: its reply subject is not an inbox", metadata: ["endpoint": "\(endpoint.name)", "reply": "\(reply)"])
        record(endpoint, start: start, failure: "400:reply subject \(reply) is not an inbox")
        return false
    }

    /// `_INBOX` followed by `.` or `_` (a client's own inbox prefix), and at least one more token.
    static func isInbox(_ subject: String) -> Bool {
        let bytes = subject.utf8
        guard bytes.starts(with: "_INBOX".utf8), bytes.count > 7 else { return false }
        let next = bytes[bytes.index(bytes.startIndex, offsetBy: 6)]
        return next == UInt8(ascii: ".") || next == UInt8(ascii: "_")
    }

    /// Sends the reply (or the ADR-32 error reply) and records stats and metrics.
    private func respond(to message: BusMessage, _ endpoint: Endpoint, start: ContinuousClock.Instant, result: Result<ServiceReply, any Error>) {
        var reply: ServiceReply
        var failure: String?
        switch result {
        case .success(let ok):
            reply = ok
        case .failure(let error as ServiceError):
            reply = ServiceReply(payload: error.body, headers: [BusHeader.serviceError: Headers.lineSafe(error.message, fallback: "error"),
                                                                BusHeader.serviceErrorCode: String(error.code)])
            failure = "\(error.code):\(error.message)"
        case .failure(let error):
            reply = ServiceReply(payload: [], headers: [BusHeader.serviceError: Headers.lineSafe("\(error)", fallback: "error"),
                                                        BusHeader.serviceErrorCode: "500"])
            failure = "500:\(error)"
            logger.error("endpoint failed", metadata: ["endpoint": "\(endpoint.name)", "error": "\(error)"])
        }
        if let replySubject = message.reply {
            do {
                try connection.publish(reply.payload, to: replySubject, headers: reply.headers)
            } catch {
                logger.warning("reply not sent", metadata: ["endpoint": "\(endpoint.name)", "error": "\(error)"])
            }
        }
        record(endpoint, start: start, failure: failure)
    }

    private func record(_ endpoint: Endpoint, start: ContinuousClock.Instant, failure: String?) {
        let elapsed = (ContinuousClock.now - start).nanoseconds
        endpoint.requestCounter.increment()
        endpoint.duration.recordNanoseconds(elapsed)
        if failure != nil { endpoint.errorCounter.increment() }
        endpoint.stats.withLock { stats in
            stats.requests += 1
            stats.processingNanos += elapsed
            if let failure {
                stats.errors += 1
                stats.lastError = failure
            }
        }
    }

    // MARK: Discovery (JSON, as ADR-32 requires)

    struct EndpointInfo: Encodable {
        var name: String
        var subject: String
        var queueGroup: String?
        var metadata: [String: String]?
    }

    struct EndpointStats: Encodable {
        var name: String
        var subject: String
        var queueGroup: String?
        var numRequests: Int
        var numErrors: Int
        var lastError: String
        var processingTime: Int64
        var averageProcessingTime: Int64
    }

    struct DiscoveryResponse: Encodable {
        var type: String
        var name: String
        var id: String
        var version: String
        var metadata: [String: String]
        var description: String?
        var started: String?
        var endpoints: [EndpointInfo]?
        var stats: [EndpointStats]?

        enum CodingKeys: String, CodingKey {
            case type, name, id, version, metadata, description, started, endpoints, stats
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(type, forKey: .type)
            try c.encode(name, forKey: .name)
            try c.encode(id, forKey: .id)
            try c.encode(version, forKey: .version)
            try c.encode(metadata, forKey: .metadata)
            try c.encodeIfPresent(description, forKey: .description)
            try c.encodeIfPresent(started, forKey: .started)
            if let endpoints { try c.encode(endpoints, forKey: .endpoints) }
            if let stats { try c.encode(stats, forKey: .endpoints) }
        }
    }

    /// The JSON body answered to `$SRV.<verb>`.
    func discoveryResponse(verb: String) -> DiscoveryResponse {
        var response = DiscoveryResponse(type: "", name: identity.name, id: id, version: identity.version, metadata: identity.metadata)
        let all = endpoints.withLock { $0 }
        switch verb {
        case "INFO":
            response.type = "io.nats.micro.v1.info_response"
            response.description = identity.description
            response.endpoints = all.map {
                EndpointInfo(name: $0.name, subject: $0.subject, queueGroup: $0.queueGroup, metadata: $0.metadata.isEmpty ? nil : $0.metadata)
            }
        case "STATS":
            response.type = "io.nats.micro.v1.stats_response"
            response.started = Self.iso8601(started)
            response.stats = all.map { endpoint in
                let s = endpoint.stats.withLock { $0 }
                return EndpointStats(name: endpoint.name, subject: endpoint.subject, queueGroup: endpoint.queueGroup,
                                     numRequests: s.requests, numErrors: s.errors, lastError: s.lastError,
                                     processingTime: s.processingNanos,
                                     averageProcessingTime: s.requests == 0 ? 0 : s.processingNanos / Int64(s.requests))
            }
        default:
            response.type = "io.nats.micro.v1.ping_response"
        }
        return response
    }

    private func answerDiscovery(verb: String, message: BusMessage) {
        guard let reply = message.reply, Self.isInbox(reply) else { return }
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        guard let body = try? encoder.encode(discoveryResponse(verb: verb)) else { return }
        try? connection.publish([UInt8](body), to: reply, headers: ["Content-Type": "application/json"])
    }

    static func iso8601(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }
}

extension UInt8 {
    var isServiceNameByte: Bool {
        (self >= 48 && self <= 57) || (self >= 65 && self <= 90) || (self >= 97 && self <= 122) || self == 45 || self == 95
    }
}
