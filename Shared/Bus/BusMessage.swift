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

    /// Copies subject, reply, headers and payload out of a cnats message (which the caller still owns).
    init(copying msg: OpaquePointer) {
        subject = String(cString: natsMsg_GetSubject(msg))
        if let r = natsMsg_GetReply(msg) { reply = String(cString: r) } else { reply = nil }
        let length = Int(natsMsg_GetDataLength(msg))
        if length > 0, let data = natsMsg_GetData(msg) {
            payload = [UInt8](UnsafeRawBufferPointer(start: data, count: length))
        } else {
            payload = []
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

/// Builds a cnats message for publishing; the caller destroys it.
func makeNatsMsg(subject: String, reply: String?, headers: Headers, payload: [UInt8]) throws(BusError) -> OpaquePointer {
    var msg: OpaquePointer?
    let status = payload.withUnsafeBufferPointer { buffer in
        natsMsg_Create(&msg, subject, reply, buffer.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) },
                       Int32(buffer.count))
    }
    try check(status, subject)
    guard let msg else { throw BusError.invalidArgument(subject) }
    for field in headers.fields {
        let s = natsMsgHeader_Add(msg, field.name, field.value)
        if s != NATS_OK {
            natsMsg_Destroy(msg)
            throw BusError.from(s, context: "header \(field.name)")
        }
    }
    return msg
}
