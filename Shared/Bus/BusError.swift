import CNats

/// Failures a caller of the bus can act on; every cnats status is mapped to one of these.
public enum BusError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Nobody subscribes to the request subject.
    case noResponders(subject: String)
    /// No reply arrived before the deadline.
    case timeout(subject: String)
    /// The server refused to let this connection publish or subscribe there.
    case permissionDenied(subject: String, detail: String)
    /// The responder answered with ADR-32 error headers.
    case serviceError(code: Int, message: String, body: [UInt8])
    /// A JetStream expectation (last subject sequence, stream, msg id) did not hold.
    case wrongLastSequence(expected: UInt64, detail: String)
    /// JetStream API error other than a sequence conflict.
    case jetStream(code: Int, errorCode: Int, description: String)
    /// The connection is closed, draining or was never open.
    case connectionClosed
    /// Invalid subject, queue or option given by the caller.
    case invalidArgument(String)
    /// A status from cnats that has no more specific case.
    case nats(status: Int, text: String)
    /// A push consumer's deliveries skipped some (dropped by a slow subscriber, or sent while the connection was
    /// away): what came after cannot be trusted to be complete.
    case consumerGap(consumer: String, expected: UInt64, received: UInt64)

    public var description: String {
        switch self {
        case .noResponders(let subject): "no responders for \(subject)"
        case .timeout(let subject): "request to \(subject) timed out"
        case .permissionDenied(let subject, let detail): "permission denied on \(subject): \(detail)"
        case .serviceError(let code, let message, _): "service error \(code): \(message)"
        case .wrongLastSequence(let expected, let detail): "wrong last sequence (expected \(expected)): \(detail)"
        case .jetStream(let code, let errorCode, let description): "jetstream error \(code)/\(errorCode): \(description)"
        case .connectionClosed: "connection closed"
        case .invalidArgument(let what): "invalid argument: \(what)"
        case .nats(let status, let text): "nats status \(status): \(text)"
        case .consumerGap(let consumer, let expected, let received):
            "consumer \(consumer) skipped deliveries: expected \(expected), got \(received)"
        }
    }

    static func from(_ status: natsStatus, context: String = "") -> BusError {
        let text = String(cString: natsStatus_GetText(status))
        switch status {
        case NATS_CONNECTION_CLOSED, NATS_CONNECTION_DISCONNECTED, NATS_DRAINING: return .connectionClosed
        case NATS_TIMEOUT: return .timeout(subject: context)
        case NATS_NO_RESPONDERS: return .noResponders(subject: context)
        case NATS_NOT_PERMITTED: return .permissionDenied(subject: context, detail: text)
        case NATS_INVALID_SUBJECT, NATS_INVALID_ARG, NATS_INVALID_QUEUE_NAME: return .invalidArgument("\(context): \(text)")
        default:
            var detail = text
            if let last = nats_GetLastError(nil) { detail += " (" + String(cString: last) + ")" }
            return .nats(status: Int(status.rawValue), text: context.isEmpty ? detail : "\(context): \(detail)")
        }
    }
}

/// Throws the mapped `BusError` when cnats returned anything but `NATS_OK`.
@inline(__always)
func check(_ status: natsStatus, _ context: @autoclosure () -> String = "") throws(BusError) {
    if status != NATS_OK { throw BusError.from(status, context: context()) }
}
