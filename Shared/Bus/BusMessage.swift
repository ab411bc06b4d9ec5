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

/// Frees a cnats message the bus owns (received by its subscriptions, or built by `makeNatsMsg`) on this thread,
/// rather than through `natsMsg_Destroy`, which wakes libnats' garbage-collector thread to do it (see `shim.h`).
@inline(__always)
func freeMessage(_ msg: OpaquePointer) {
    natsMsg_free(UnsafeMutableRawPointer(msg))
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
///
/// The header block is encoded here, into one buffer with the payload, and cnats sends it as it is. A name must be
/// non-empty without ':', space or control characters; a value must not be empty or blank (readers skip blanks up to
/// the next line, taking it as the value) and must not hold CR, LF or NUL. Anything else would change the block's
/// meaning (a forged or swallowed header) and is refused with `invalidArgument`, as is an empty reply subject.
func makeNatsMsg(
    subject: String, reply: String?, headers: Headers, payload: [UInt8], msgId: String? = nil, expectedLastSubjectSequence: UInt64? = nil
) throws(BusError) -> OpaquePointer {
    if reply?.isEmpty == true { throw BusError.invalidArgument("empty reply subject") }
    var buffer: [UInt8] = []
    buffer.reserveCapacity(128 + payload.count)
    buffer.append(contentsOf: HeaderBlock.statusLine)
    for field in headers.fields {
        if msgId != nil, Headers.sameName(field.name, BusHeader.msgId) { continue }
        if expectedLastSubjectSequence != nil, Headers.sameName(field.name, BusHeader.expectedLastSubjectSequence) { continue }
        try HeaderBlock.append(field.name, field.value, to: &buffer)
    }
    if let msgId { try HeaderBlock.append(BusHeader.msgId, msgId, to: &buffer) }
    if let expectedLastSubjectSequence {
        try HeaderBlock.append(BusHeader.expectedLastSubjectSequence, String(expectedLastSubjectSequence), to: &buffer)
    }
    buffer.append(contentsOf: HeaderBlock.crlf)
    let headerLength = buffer.count
    buffer.append(contentsOf: payload)
    var msg: OpaquePointer?
    var subject = subject, reply = reply ?? ""
    func text(_ bytes: UnsafeBufferPointer<UInt8>) -> UnsafePointer<CChar>? {
        UnsafeRawPointer(bytes.baseAddress)?.assumingMemoryBound(to: CChar.self)
    }
    let status = subject.withUTF8 { subjectBytes in
        reply.withUTF8 { replyBytes in
            buffer.withUnsafeBufferPointer { bytes in
                natsMsg_create(&msg, text(subjectBytes), Int32(subjectBytes.count), text(replyBytes), Int32(replyBytes.count),
                               text(bytes), Int32(bytes.count), Int32(headerLength))
            }
        }
    }
    try check(status, subject)
    guard let msg else { throw BusError.invalidArgument(subject) }
    return msg
}

/// The NATS header block: `NATS/1.0`, then `Name: value` lines, then an empty line.
enum HeaderBlock {
    static let statusLine = Array("NATS/1.0\r\n".utf8)
    static let crlf = Array("\r\n".utf8)

    static func append(_ name: String, _ value: String, to buffer: inout [UInt8]) throws(BusError) {
        guard !name.isEmpty, name.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x7F && $0 != UInt8(ascii: ":") }) else {
            throw BusError.invalidArgument("header name \(name.debugDescription)")
        }
        guard value.utf8.contains(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }),
              !value.utf8.contains(where: { $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") || $0 == 0 })
        else {
            throw BusError.invalidArgument("header \(name) value \(value.debugDescription)")
        }
        buffer.append(contentsOf: name.utf8)
        buffer.append(UInt8(ascii: ":"))
        buffer.append(UInt8(ascii: " "))
        buffer.append(contentsOf: value.utf8)
        buffer.append(contentsOf: crlf)
    }
}
