/// The body of every error reply (MessagePack), beside the ADR-32 `Nats-Service-Error(-Code)` headers.
///
/// `code` is HTTP-like; the well-known codes are the static constants below (plain `Int`s, so a code Svyaz does not
/// name yet still decodes and compares).
public struct ErrorBody: Error, WireMessage, Equatable, CustomStringConvertible {
    public static let schema = "ErrorBody/1"

    /// HTTP-like code, also sent in `Nats-Service-Error-Code`.
    public var code: Int
    /// Human-readable reason, also sent in `Nats-Service-Error`.
    public var message: String
    /// The request field at fault, as a dotted path ("base.minor"), when there is one.
    public var field: String?

    /// An error reply body.
    public init(code: Int, message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    /// A refused amount or rate: always 422, since the request decoded but its value is impossible.
    public init(_ error: MoneyError, field: String? = nil) {
        self.init(code: Self.unprocessable, message: error.description, field: field)
    }

    public var description: String { "\(code) \(message)" + (field.map { " (\($0))" } ?? "") }

    /// 400: malformed MessagePack, a missing or mistyped field, an invalid subject.
    public static let badRequest = 400
    /// 401: the caller is not authenticated.
    public static let unauthorized = 401
    /// 403: the caller may not touch this resource (reserved: another client's subjects are refused by nats-server
    /// permissions before any service sees the request).
    public static let forbidden = 403
    /// 404: unknown entity (currency, deal, a deal with no payment in a netting set).
    public static let notFound = 404
    /// 409: optimistic-concurrency conflict (stale expected version) or a state that forbids the operation now.
    public static let conflict = 409
    /// 413: the request exceeds the endpoint's size limit; refused before decoding.
    public static let payloadTooLarge = 413
    /// 422: well-formed but impossible: negative amount, unknown currency, zero rate, invalid transition.
    public static let unprocessable = 422
    /// 500: a fault of ours; the request may be retried.
    public static let internalError = 500
    /// 503: a dependency (store, stream) is unavailable; retry later.
    public static let unavailable = 503
}
