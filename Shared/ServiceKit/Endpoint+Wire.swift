import Bus
import Logging
import Messages
import Wire

/// Limits applied to every typed endpoint before its handler runs.
public struct EndpointLimits: Sendable {
    /// Larger requests are refused with 413 without being decoded.
    public var maxPayload: Int
    public var wire: WireLimits
    /// A field the request type does not have is refused (400, naming it) rather than ignored: a misspelt optional
    /// field (`expectedVersion`, a list filter) must not silently switch off what it asks for. Streams and replies
    /// stay lenient (a newer sender must not break an older reader); a request is answered, so its sender learns.
    public var rejectUnknownFields: Bool

    public init(maxPayload: Int = 64 * 1024, wire: WireLimits = .default, rejectUnknownFields: Bool = true) {
        self.maxPayload = maxPayload
        self.wire = wire
        self.rejectUnknownFields = rejectUnknownFields
    }
}

/// A reply encoded once and sent as it is, e.g. the rendering of a value cached per version.
public struct EncodedReply<Value: Encodable>: Sendable {
    public let bytes: [UInt8]

    public init(_ value: Value, encoder: MessagePackEncoder = MessagePackEncoder()) throws {
        bytes = try encoder.encode(value)
    }
}

extension MicroService {
    /// Adds an endpoint that decodes `Request` from MessagePack and encodes `Response`.
    ///
    /// Malformed or oversize input and thrown `ErrorBody` values become ADR-32 error replies whose body is
    /// a MessagePack `ErrorBody`; nothing reaches the handler unless it decoded cleanly.
    public func addEndpoint<Request: Decodable & Sendable, Response: Encodable & Sendable>(
        _ name: String,
        subject: String,
        request: Request.Type,
        limits: EndpointLimits = EndpointLimits(),
        metadata: [String: String] = [:],
        maxConcurrency: Int = 1,
        handler: @escaping @Sendable (Request, ServiceRequest) async throws -> Response
    ) throws {
        let encoder = MessagePackEncoder()
        try addEndpoint(name, subject: subject, request: request, limits: limits, metadata: metadata, maxConcurrency: maxConcurrency,
                        encoded: { request, incoming in try encoder.encode(try await handler(request, incoming)) })
    }

    /// The same, for a handler that replies with bytes it encoded (or cached) itself.
    public func addEndpoint<Request: Decodable & Sendable, Response: Encodable & SendableMetatype>(
        _ name: String,
        subject: String,
        request: Request.Type,
        limits: EndpointLimits = EndpointLimits(),
        metadata: [String: String] = [:],
        maxConcurrency: Int = 1,
        handler: @escaping @Sendable (Request, ServiceRequest) async throws -> EncodedReply<Response>
    ) throws {
        try addEndpoint(name, subject: subject, request: request, limits: limits, metadata: metadata, maxConcurrency: maxConcurrency,
                        encoded: { request, incoming in try await handler(request, incoming).bytes })
    }

    private func addEndpoint<Request: Decodable & Sendable>(
        _ name: String,
        subject: String,
        request: Request.Type,
        limits: EndpointLimits,
        metadata: [String: String],
        maxConcurrency: Int,
        encoded handler: @escaping @Sendable (Request, ServiceRequest) async throws -> [UInt8]
    ) throws {
        let decoder = MessagePackDecoder(limits: limits.wire, rejectUnknownKeys: limits.rejectUnknownFields)
        let encoder = MessagePackEncoder()
        try addEndpoint(name, subject: subject, metadata: metadata, maxConcurrency: maxConcurrency) { incoming in
            guard incoming.payload.count <= limits.maxPayload else {
                throw ErrorBody(code: ErrorBody.payloadTooLarge,
                                message: "request of \(incoming.payload.count) bytes exceeds \(limits.maxPayload)").serviceError(encoder)
            }
            // A request that names its schema must name this endpoint's: another version would be misread.
            if let named = incoming.headers[Header.schema], let expected = (Request.self as? any WireMessage.Type)?.schema, named != expected {
                throw ErrorBody(code: ErrorBody.badRequest, message: "this endpoint takes \(expected), not \(named)").serviceError(encoder)
            }
            let decoded: Request
            do {
                decoded = try decoder.decode(Request.self, from: incoming.payload)
            } catch {
                throw ErrorBody(code: ErrorBody.badRequest, message: "malformed request: \(error)", field: Self.field(of: error))
                    .serviceError(encoder)
            }
            do {
                return ServiceReply(payload: try await handler(decoded, incoming), headers: ["Content-Type": "application/msgpack"])
            } catch let error as ErrorBody {
                throw error.serviceError(encoder)
            } catch {
                self.logger.error("endpoint failed", metadata: ["endpoint": "\(name)", "error": "\(error)"])
                throw Self.errorBody(for: error).serviceError(encoder)
            }
        }
    }
}

extension MicroService {
    /// The answer to a request that failed for a reason of ours, not of the request (a handler throws `ErrorBody` for
    /// those): 503 when NATS or JetStream did not answer in time or at all (try again), else 500. Both carry an
    /// `ErrorBody` like every error reply; what went wrong inside is logged, not told to the client.
    static func errorBody(for error: any Error) -> ErrorBody {
        let unavailable = ErrorBody(code: ErrorBody.unavailable, message: "a service this request needs did not answer; try again")
        switch error {
        case BusError.timeout, BusError.noResponders, BusError.connectionClosed: return unavailable
        case BusError.jetStream(let code, _, _) where code == 503: return unavailable  // JetStream not available (yet)
        case is CancellationError: return unavailable  // the service is stopping; another replica will answer
        default: return ErrorBody(code: ErrorBody.internalError, message: "internal error; it has been logged")
        }
    }

    /// The request field a decoding error is about, when it names one (unknown, missing, of the wrong type, nil,
    /// out of range, or a value it does not take, such as an unknown enum case: the decoder turns a type's own
    /// `DecodingError` into `invalidValue` with its path).
    static func field(of error: any Error) -> String? {
        switch error as? WireError {
        case .unknownKey(let key, let path)?, .keyNotFound(let key, let path)?: path.isEmpty ? key : path + "." + key
        case .typeMismatch(_, _, let path)?, .valueNotFound(_, let path)?, .numberOverflow(let path)?, .invalidValue(_, let path)?:
            path.isEmpty ? nil : path
        default: nil
        }
    }
}

extension ErrorBody {
    /// The ADR-32 error reply carrying this body.
    func serviceError(_ encoder: MessagePackEncoder) -> ServiceError {
        ServiceError(code: code, message: message, body: (try? encoder.encode(self)) ?? [])
    }
}

extension NatsConnection {
    /// Sends a MessagePack request and decodes the reply; an error reply throws its decoded `ErrorBody`.
    public func request<Request: Encodable, Response: Decodable>(
        _ request: Request,
        to subject: String,
        expecting: Response.Type,
        timeout: Duration = .seconds(5)
    ) async throws -> Response {
        let payload = try MessagePackEncoder().encode(request)
        do {
            let reply = try await self.request(payload, to: subject, headers: ["Content-Type": "application/msgpack"], timeout: timeout)
            return try MessagePackDecoder().decode(Response.self, from: reply.payload)
        } catch BusError.serviceError(let code, let message, let body) {
            throw (try? MessagePackDecoder().decode(ErrorBody.self, from: body)) ?? ErrorBody(code: code, message: message)
        }
    }
}
