import CNats
import Foundation
import Logging
import Synchronization

/// A connection to NATS through cnats: publish, subscribe, request/reply, JetStream.
///
/// cnats connection calls are thread-safe, so one connection is shared by all tasks of a service.
public final class NatsConnection: @unchecked Sendable {  // wraps the C handle; cnats guarantees thread safety
    let nc: OpaquePointer
    let events: ConnectionEvents
    public let logger: Logger
    public let options: ConnectionOptions
    /// Unique inbox root of this connection (`<inboxPrefix>.<random>`).
    public let inboxRoot: String
    private let subscriptionIDs = Atomic<UInt64>(0)
    private let mux: Mutex<(RequestMux, Subscription)?> = Mutex(nil)

    private init(nc: OpaquePointer, events: ConnectionEvents, options: ConnectionOptions) {
        self.nc = nc
        self.events = events
        self.logger = events.logger
        self.options = options
        self.inboxRoot = options.inboxPrefix + "." + Self.randomToken()
    }

    deinit {
        natsConnection_Close(nc)
        natsConnection_Destroy(nc)
    }

    /// Connects, trying every server; blocks a dedicated thread, never the cooperative pool.
    public static func connect(_ options: ConnectionOptions, logger: Logger) async throws -> NatsConnection {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try connectBlocking(options, logger: logger) })
            }
            thread.start()
        }
    }

    /// Connects on the calling thread.
    public static func connectBlocking(_ options: ConnectionOptions, logger: Logger) throws -> NatsConnection {
        var opts: OpaquePointer?
        try check(natsOptions_Create(&opts), "options")
        guard let opts else { throw BusError.invalidArgument("options") }
        defer { natsOptions_Destroy(opts) }
        try configure(opts, options)
        let events = ConnectionEvents(logger: logger)
        let retained = Unmanaged.passRetained(events)
        let closure = retained.toOpaque()
        try check(natsOptions_SetDisconnectedCB(opts, { _, closure in
            guard let closure else { return }
            Unmanaged<ConnectionEvents>.fromOpaque(closure).takeUnretainedValue().disconnected()
        }, closure))
        try check(natsOptions_SetReconnectedCB(opts, { _, closure in
            guard let closure else { return }
            Unmanaged<ConnectionEvents>.fromOpaque(closure).takeUnretainedValue().reconnected()
        }, closure))
        try check(natsOptions_SetClosedCB(opts, { _, closure in
            guard let closure else { return }
            // The closed callback is the last one cnats makes, so it releases the events object.
            Unmanaged<ConnectionEvents>.fromOpaque(closure).takeRetainedValue().closed()
        }, closure))
        try check(natsOptions_SetErrorHandler(opts, { _, sub, status, closure in
            guard let closure else { return }
            Unmanaged<ConnectionEvents>.fromOpaque(closure).takeUnretainedValue().asyncError(subscription: sub, status: status)
        }, closure))
        var nc: OpaquePointer?
        let status = natsConnection_Connect(&nc, opts)
        guard status == NATS_OK, let nc else {
            retained.release()
            var detail = String(cString: natsStatus_GetText(status))
            if let last = nats_GetLastError(nil) { detail = String(cString: last) }
            throw BusError.nats(status: Int(status.rawValue), text: "connect to \(options.servers.joined(separator: ",")): \(detail)")
        }
        events.nc = nc
        let connection = NatsConnection(nc: nc, events: events, options: options)
        logger.info("nats connected", metadata: ["url": "\(events.connectedURL() ?? "-")", "name": "\(options.name ?? "-")"])
        return connection
    }

    private static func configure(_ opts: OpaquePointer, _ options: ConnectionOptions) throws {
        guard !options.servers.isEmpty else { throw BusError.invalidArgument("no NATS server URL") }
        var cStrings = options.servers.map { strdup($0) }
        defer { cStrings.forEach { free($0) } }
        let status = cStrings.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buffer.count) {
                natsOptions_SetServers(opts, $0, Int32(buffer.count))
            }
        }
        try check(status, "servers")
        if let name = options.name { try check(natsOptions_SetName(opts, name), "name") }
        if options.user != nil || options.password != nil {
            try check(natsOptions_SetUserInfo(opts, options.user, options.password), "user")
        }
        if let token = options.token { try check(natsOptions_SetToken(opts, token), "token") }
        if let creds = options.credentialsFile { try check(natsOptions_SetUserCredentialsFromFiles(opts, creds, nil), "creds \(creds)") }
        let wantsTLS = options.tlsCAFile != nil || options.tlsCertificateFile != nil || options.servers.contains { $0.hasPrefix("tls://") }
        if wantsTLS { try check(natsOptions_SetSecure(opts, true), "tls") }
        if let ca = options.tlsCAFile { try check(natsOptions_LoadCATrustedCertificates(opts, ca), "tls ca \(ca)") }
        if let cert = options.tlsCertificateFile, let key = options.tlsKeyFile {
            try check(natsOptions_LoadCertificatesChain(opts, cert, key), "tls cert \(cert)")
        }
        try check(natsOptions_SetMaxReconnect(opts, Int32(options.maxReconnect)), "max reconnect")
        try check(natsOptions_SetReconnectWait(opts, options.reconnectWait.milliseconds), "reconnect wait")
        try check(natsOptions_SetRetryOnFailedConnect(opts, options.retryOnFailedConnect, nil, nil), "retry on failed connect")
        try check(natsOptions_SetTimeout(opts, options.connectTimeout.milliseconds), "timeout")
        try check(natsOptions_SetSendAsap(opts, options.sendAsap), "send asap")
        try check(natsOptions_SetNoEcho(opts, options.noEcho), "no echo")
        try check(natsOptions_SetReconnectBufSize(opts, 32 * 1024 * 1024), "reconnect buffer")
        try check(natsOptions_SetCustomInboxPrefix(opts, options.inboxPrefix), "inbox prefix")
    }

    static func randomToken() -> String {
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
        var generator = SystemRandomNumberGenerator()
        return String(decoding: (0..<22).map { _ in alphabet[Int(generator.next(upperBound: UInt64(alphabet.count)))] }, as: UTF8.self)
    }

    /// A fresh reply subject under this connection's inbox.
    public func newInbox() -> String { inboxRoot + "." + Self.randomToken() }

    /// The version of the cnats library in use ("3.4.1").
    public static var clientVersion: String { String(cString: nats_GetVersion()) }

    /// The URL of the server currently connected to.
    public var connectedURL: String? { events.connectedURL() }

    public var isClosed: Bool { natsConnection_IsClosed(nc) }

    /// Each time the connection loses the server, and each time it is back (by then cnats has subscribed again), in
    /// order, from the call on; ends when the connection closes. A core subscription misses what is published while
    /// the connection is away: show that what it has may be stale, and re-read the state when it is back.
    public func connectionChanges() -> AsyncStream<ConnectionChange> { events.observeChanges() }

    // MARK: Publish

    /// Publishes `payload` to `subject`, with optional reply subject and headers.
    public func publish(_ payload: [UInt8], to subject: String, reply: String? = nil, headers: Headers = Headers()) throws(BusError) {
        try publish(payload, to: subject, reply: reply, headers: headers, msgId: nil, expectedLastSubjectSequence: nil)
    }

    /// `publish` with the JetStream headers `msgId` and `expectedLastSubjectSequence` set over `headers`.
    func publish(
        _ payload: [UInt8], to subject: String, reply: String?, headers: Headers, msgId: String?, expectedLastSubjectSequence: UInt64?
    ) throws(BusError) {
        if headers.isEmpty, msgId == nil, expectedLastSubjectSequence == nil {
            // C strings lent, not copied (the implicit String-to-pointer conversion copies the string into a new array
            // on every call): this runs per message (acks, replies).
            let status = subject.withCString { subjectText in
                payload.withUnsafeBytes { buffer in
                    if let reply {
                        reply.withCString { natsConnection_PublishRequest(nc, subjectText, $0, buffer.baseAddress, Int32(buffer.count)) }
                    } else {
                        natsConnection_Publish(nc, subjectText, buffer.baseAddress, Int32(buffer.count))
                    }
                }
            }
            try check(status, subject)
            return
        }
        let msg = try makeNatsMsg(subject: subject, reply: reply, headers: headers, payload: payload, msgId: msgId,
                                  expectedLastSubjectSequence: expectedLastSubjectSequence)
        defer { freeMessage(msg) }
        try check(natsConnection_PublishMsg(nc, msg), subject)
    }

    /// Writes what publishes have buffered to the socket now, without a round trip. On a connection without
    /// `sendAsap`, publishes wait in a buffer until the cnats flusher thread sends them, up to 1 ms later (so that
    /// many go in one write); a caller that has just sent a batch and will wait for its answers calls this once.
    /// While reconnecting, the buffer goes to the data sent on reconnect, as with any publish.
    public func sendBuffered() {
        // With sendAsap every publish is written at once. Like the flusher, write only while connected: while
        // reconnecting, publishes go to cnats' pending buffer, which it sends itself on reconnect.
        guard !options.sendAsap, natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED else { return }
        natsConn_lockAndRetain(nc)
        _ = natsConn_bufferFlush(nc)  // a failed write is the read loop's to notice (it reconnects)
        natsConn_unlockAndRelease(nc)
    }

    /// Sends buffered data and waits for the server to acknowledge it (a PING/PONG round trip).
    public func flush(timeout: Duration = .seconds(5)) throws(BusError) {
        try check(natsConnection_FlushTimeout(nc, timeout.milliseconds), "flush")
    }

    // MARK: Subscribe

    /// Subscribes to `subject` (wildcards allowed); with `queue`, messages are split among the group's members.
    ///
    /// With `streamHeaders` false, messages delivered by a JetStream consumer (those with a `$JS.ACK.` reply) come
    /// without their headers, which are then not copied out of cnats; other messages (status messages) keep theirs.
    public func subscribe(to subject: String, queue: String? = nil, limits: PendingLimits = .default, streamHeaders: Bool = true)
        throws(BusError) -> Subscription
    {
        let deliveryQueue = DeliveryQueue(capacity: limits.swiftBuffer)
        let handle = try makeSubscription(subject: subject, queue: queue, limits: limits, queue: deliveryQueue, streamHeaders: streamHeaders) {
            deliveryQueue.push($0)
        }
        return Subscription(handle: handle, subject: subject, queueGroup: queue)
    }

    /// Subscribes with a handler called on the cnats delivery thread, in order; it must not block for long.
    ///
    /// The returned subscription yields no messages; iterating it waits until the subscription is closed.
    func subscribeDirect(
        to subject: String,
        queue: String? = nil,
        limits: PendingLimits = .default,
        handler: @escaping @Sendable (BusMessage) -> Void
    ) throws(BusError) -> Subscription {
        let handle = try makeSubscription(subject: subject, queue: queue, limits: limits, queue: DeliveryQueue(capacity: 1), deliver: handler)
        return Subscription(handle: handle, subject: subject, queueGroup: queue)
    }

    /// Subscribes with a handler called on the cnats delivery thread with batches: each message together with those
    /// queued behind it (at most `batchLimit`), in order. The handler may block that thread (not a Swift task) while
    /// it works; messages queue up meanwhile and come as the next batch. It may pass messages on to `queue`, which the
    /// returned subscription yields. `streamHeaders`: see `subscribe`.
    func subscribeBatches(
        to subject: String,
        limits: PendingLimits = .default,
        queue: DeliveryQueue,
        batchLimit: Int,
        streamHeaders: Bool = true,
        handler: @escaping @Sendable ([BusMessage]) -> Void
    ) throws(BusError) -> Subscription {
        let batcher = DeliveryBatcher(limit: batchLimit, deliver: handler)
        let handle = try makeSubscription(subject: subject, queue: nil, limits: limits, queue: queue, batcher: batcher,
                                          streamHeaders: streamHeaders) { _ in }
        return Subscription(handle: handle, subject: subject, queueGroup: nil)
    }

    private func makeSubscription(
        subject: String,
        queue group: String?,
        limits: PendingLimits,
        queue: DeliveryQueue?,
        batcher: DeliveryBatcher? = nil,
        streamHeaders: Bool = true,
        deliver: @escaping @Sendable (BusMessage) -> Void
    ) throws(BusError) -> SubscriptionHandle {
        let id = subscriptionIDs.add(1, ordering: .relaxed).newValue
        let context = SubscriptionContext(subject: subject, id: id, queue: queue, batcher: batcher, streamHeaders: streamHeaders, deliver: deliver)
        events.register(context)
        let retained = Unmanaged.passRetained(context)
        var sub: OpaquePointer?
        let onMessage: natsMsgHandler = { _, sub, msg, closure in
            guard let msg else { return }
            let context = Unmanaged<SubscriptionContext>.fromOpaque(closure!).takeUnretainedValue()
            let message = BusMessage(copying: msg, streamHeaders: context.streamHeaders)
            freeMessage(msg)
            if let batcher = context.batcher {
                var queued: Int32 = 0
                natsSubscription_GetPending(sub, &queued, nil)
                batcher.add(message, queuedBehind: queued)
            } else {
                context.deliver(message)
            }
        }
        let status: natsStatus
        if let group {
            status = natsConnection_QueueSubscribe(&sub, nc, subject, group, onMessage, retained.toOpaque())
        } else {
            status = natsConnection_Subscribe(&sub, nc, subject, onMessage, retained.toOpaque())
        }
        guard status == NATS_OK, let sub else {
            events.unregister(context)
            retained.release()
            throw BusError.from(status, context: subject)
        }
        natsSubscription_SetPendingLimits(sub, Int32(clamping: limits.messages), Int32(clamping: limits.bytes))
        natsSubscription_SetOnCompleteCB(sub, { closure in
            let context = Unmanaged<SubscriptionContext>.fromOpaque(closure!).takeRetainedValue()
            context.completed()
        }, retained.toOpaque())
        return SubscriptionHandle(sub: sub, context: context)
    }

    // MARK: Request / reply

    func requestMux() throws(BusError) -> RequestMux {
        try mux.withLock { (state: inout (RequestMux, Subscription)?) throws(BusError) -> RequestMux in
            if let state { return state.0 }
            let mux = RequestMux(prefix: inboxRoot + ".r.")
            mux.startSweeper()
            let subscription = try subscribeDirect(to: inboxRoot + ".r.*") { mux.deliver($0) }
            events.requests = mux
            state = (mux, subscription)
            return mux
        }
    }

    /// Sends a request and waits for its reply; ADR-32 error headers become `BusError.serviceError`.
    public func request(
        _ payload: [UInt8],
        to subject: String,
        headers: Headers = Headers(),
        timeout: Duration = .seconds(5)
    ) async throws -> BusMessage {
        let reply = try await rawRequest(payload, to: subject, headers: headers, timeout: timeout)
        if let code = reply.headers[BusHeader.serviceErrorCode] {
            throw BusError.serviceError(code: Int(code) ?? 500, message: reply.headers[BusHeader.serviceError] ?? "", body: reply.payload)
        }
        return reply
    }

    /// Like `request` but returns error replies as messages (used by JetStream, whose errors are in the body).
    /// `msgId` and `expectedLastSubjectSequence` are set over `headers` as `publish` sets them (a JetStream publish).
    func rawRequest(
        _ payload: [UInt8], to subject: String, headers: Headers = Headers(), msgId: String? = nil,
        expectedLastSubjectSequence: UInt64? = nil, timeout: Duration
    ) async throws -> BusMessage {
        let mux = try requestMux()
        let (token, replySubject) = mux.nextToken()
        let reply = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<BusMessage, any Error>) in
                mux.register(token, subject: subject, timeout: timeout, waiter: .continuation(continuation))
                do {
                    try publish(payload, to: subject, reply: replySubject, headers: headers, msgId: msgId,
                                expectedLastSubjectSequence: expectedLastSubjectSequence)
                    sendBuffered()  // the caller waits for the reply: do not leave the request to the flusher
                } catch {
                    mux.resolve(token, with: .failure(error))
                }
            }
        } onCancel: {
            mux.resolve(token, with: .failure(CancellationError()))
        }
        if reply.status == 503 { throw BusError.noResponders(subject: subject) }
        return reply
    }

    /// `rawRequest` for a thread that may block and is not running a Swift task (a cnats delivery thread in a
    /// `subscribeBatches` handler): waits for the reply on the calling thread. Never call it from a task.
    func rawRequestBlocking(_ payload: [UInt8], to subject: String, timeout: Duration) throws -> BusMessage {
        let mux = try requestMux()
        let answer = BlockingAnswer<BusMessage>()
        let (token, replySubject) = mux.register(subject: subject, timeout: timeout, waiter: .callback { answer.give($0) })
        do {
            try publish(payload, to: subject, reply: replySubject)
            sendBuffered()
        } catch {
            mux.resolve(token, with: .failure(error))
        }
        let reply = try answer.wait().get()
        if reply.status == 503 { throw BusError.noResponders(subject: subject) }
        return reply
    }

    // MARK: Shutdown

    /// Drains every subscription (buffered messages are still delivered), flushes, then closes.
    public func drain(timeout: Duration = .seconds(5)) async {
        let status = natsConnection_DrainTimeout(nc, timeout.milliseconds)
        if status != NATS_OK {
            natsConnection_Close(nc)
        }
        await events.waitClosed()
    }

    /// Closes at once; pending requests fail with `connectionClosed`.
    public func close() {
        natsConnection_Close(nc)
    }

    /// Statistics of this connection (messages and bytes in/out, reconnects).
    public func statistics() -> (inMsgs: UInt64, outMsgs: UInt64, inBytes: UInt64, outBytes: UInt64, reconnects: UInt64) {
        var stats: OpaquePointer?
        guard natsStatistics_Create(&stats) == NATS_OK, let stats else { return (0, 0, 0, 0, 0) }
        defer { natsStatistics_Destroy(stats) }
        natsConnection_GetStats(nc, stats)
        var inMsgs: UInt64 = 0, inBytes: UInt64 = 0, outMsgs: UInt64 = 0, outBytes: UInt64 = 0, reconnects: UInt64 = 0
        natsStatistics_GetCounts(stats, &inMsgs, &inBytes, &outMsgs, &outBytes, &reconnects)
        return (inMsgs, outMsgs, inBytes, outBytes, reconnects)
    }
}

extension Duration {
    // Public for services that hand durations to JetStream configs (which count nanoseconds).
    /// Whole milliseconds, at least 1, as cnats takes them.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }

    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
