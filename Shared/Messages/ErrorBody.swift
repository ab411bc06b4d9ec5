/// The body of every error reply (MessagePack), beside the ADR-32 `Nats-Service-Error(-Code)` headers.
public struct ErrorBody: Error, Codable, Sendable, Equatable, CustomStringConvertible {
    /// HTTP-like code, also sent in `Nats-Service-Error-Code`.
    public var code: Int
    public var message: String
    /// The request field at fault, as a dotted path ("base.minor"), when there is one.
    public var field: String?

    public init(code: Int, message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    public var description: String { "\(code) \(message)" + (field.map { " (\($0))" } ?? "") }

    /// Malformed MessagePack, missing or mistyped fields.
    public static let badRequest = 400
    /// The caller is not who it must be for this operation.
    public static let unauthorized = 401
    /// The caller may not touch this resource (e.g. another client's deal).
    public static let forbidden = 403
    public static let notFound = 404
    /// Optimistic-concurrency conflict or a state that forbids the operation.
    public static let conflict = 409
    public static let payloadTooLarge = 413
    /// Well-formed but impossible: negative amount, unknown currency, invalid transition.
    public static let unprocessable = 422
    public static let internalError = 500
    public static let unavailable = 503
}

/// Header names of the contract.
public enum Header {
    public static let contentType = "Content-Type"
    public static let msgId = "Nats-Msg-Id"
    public static let schema = "Svyaz-Schema"
    public static let serviceError = "Nats-Service-Error"
    public static let serviceErrorCode = "Nats-Service-Error-Code"
    public static let expectedLastSubjectSequence = "Nats-Expected-Last-Subject-Sequence"
    public static let expectedStream = "Nats-Expected-Stream"
}

public enum ContentType {
    public static let msgpack = "application/msgpack"
}

/// A message of the public contract; `schema` ("CounterAmountRequest/1") goes in the `Svyaz-Schema` header.
public protocol WireMessage: Codable, Sendable {
    static var schema: String { get }
}
