import CNats

/// A message copied out of cnats: a plain value, safe to pass between tasks.
public struct BusMessage: Sendable {
    public var subject: String
    public var reply: String?
    public var headers: Headers
    public var payload: [UInt8]

    public init(subject: String, reply: String? = nil, headers: Headers = Headers(), payload: [UInt8] = []) {
        self.subject = subject
        self.reply = reply
        self.headers = headers
        self.payload = payload
    }

    /// The status code of a server status message (503 no responders, 404/408 on pulls, 100 heartbeats), if any.
    public var status: Int? { headers[BusHeader.status].flatMap { Int($0.prefix(3)) } }

    /// Copies subject, reply, headers and payload out of a cnats message (which the caller still owns). Without
    /// `streamHeaders`, a message from a JetStream consumer (reply `$JS.ACK.…`) is copied without its headers: reading
    /// them makes cnats parse them into a table first, some ten allocations per message.
    init(copying msg: OpaquePointer, streamHeaders: Bool = true) {
        subject = String(cString: natsMsg_GetSubject(msg))
        let replyText = natsMsg_GetReply(msg)
        if let replyText { reply = String(cString: replyText) } else { reply = nil }
        let length = Int(natsMsg_GetDataLength(msg))
        if length > 0, let data = natsMsg_GetData(msg) {
            payload = [UInt8](UnsafeRawBufferPointer(start: data, count: length))
        } else {
            payload = []
        }
        if !streamHeaders, let replyText, Self.isStreamReply(replyText) {
            headers = Headers()
            return
        }
        var keys: UnsafeMutablePointer<UnsafePointer<CChar>?>?
        var count: Int32 = 0
        guard natsMsgHeader_Keys(msg, &keys, &count) == NATS_OK, let keys else {
            headers = Headers()
            return
        }
        defer { free(keys) }
        headers = Headers(capacity: Int(count) + 1)
        for i in 0..<Int(count) {
            guard let key = keys[i] else { continue }
            var values: UnsafeMutablePointer<UnsafePointer<CChar>?>?
            var valueCount: Int32 = 0
            guard natsMsgHeader_Values(msg, key, &values, &valueCount) == NATS_OK, let values else { continue }
            let name = String(cString: key)
            for j in 0..<Int(valueCount) {
                if let value = values[j] { headers.append(name, String(cString: value)) }
            }
            free(values)
        }
        if headers[BusHeader.status] == nil, natsMsg_IsNoResponders(msg) {
            headers[BusHeader.status] = "503"
        }
    }
}

extension BusMessage {
    /// Whether `reply` starts with `$JS.ACK.` (a message of a JetStream consumer), read in place.
    static func isStreamReply(_ reply: UnsafePointer<CChar>) -> Bool {
        let prefix: StaticString = "$JS.ACK."
        for i in 0..<prefix.utf8CodeUnitCount where UInt8(bitPattern: reply[i]) != prefix.utf8Start[i] { return false }
        return true
    }
}

/// Builds a cnats message for publishing; the caller destroys it. `msgId` and `expectedLastSubjectSequence` replace
/// any such header in `headers` (see `JetStream.publish`), so that a publish needs no copy of its headers.
func makeNatsMsg(
    subject: String, reply: String?, headers: Headers, payload: [UInt8], msgId: String? = nil, expectedLastSubjectSequence: UInt64? = nil
) throws(BusError) -> OpaquePointer {
    var msg: OpaquePointer?
    let status = subject.withCString { subjectText in
        withOptionalCString(reply) { replyText in
            payload.withUnsafeBufferPointer { buffer in
                natsMsg_Create(&msg, subjectText, replyText,
                               buffer.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }, Int32(buffer.count))
            }
        }
    }
    try check(status, subject)
    guard let msg else { throw BusError.invalidArgument(subject) }
    func add(_ name: String, _ value: String, replacing: Bool) throws(BusError) {
        let s = name.withCString { n in
            value.withCString { v in replacing ? natsMsgHeader_Set(msg, n, v) : natsMsgHeader_Add(msg, n, v) }
        }
        if s != NATS_OK {
            natsMsg_Destroy(msg)
            throw BusError.from(s, context: "header \(name)")
        }
    }
    for field in headers.fields { try add(field.name, field.value, replacing: false) }
    if let msgId { try add(BusHeader.msgId, msgId, replacing: true) }
    if let expectedLastSubjectSequence {
        try add(BusHeader.expectedLastSubjectSequence, String(expectedLastSubjectSequence), replacing: true)
    }
    return msg
}

/// `body` with `text` as a C string, or NULL for nil. Swift's implicit String-to-pointer conversion copies the
/// string into a fresh array on every call; `withCString` lends the string's own bytes (or a stack copy of a small
/// one), which matters on paths taken per message.
@inline(__always)
func withOptionalCString<R>(_ text: String?, _ body: (UnsafePointer<CChar>?) throws -> R) rethrows -> R {
    guard let text else { return try body(nil) }
    return try text.withCString(body)
}
