import CNats
import Foundation
import Synchronization

/// Plain cnats handles for the baselines: what a C programmer would write, no Swift bridge.
final class RawConnection: @unchecked Sendable {  // owns a C handle; cnats calls are thread-safe
    let nc: OpaquePointer

    init(url: String, sendAsap: Bool) {
        var opts: OpaquePointer?
        natsOptions_Create(&opts)
        natsOptions_SetURL(opts, url)
        natsOptions_SetSendAsap(opts, sendAsap)
        var nc: OpaquePointer?
        let status = natsConnection_Connect(&nc, opts)
        natsOptions_Destroy(opts)
        precondition(status == NATS_OK, "raw connect failed: \(status)")
        self.nc = nc!
    }

    deinit {
        natsConnection_Close(nc)
        natsConnection_Destroy(nc)
    }

    /// A responder that echoes every request straight from the C callback.
    func echoResponder(subject: String) -> OpaquePointer {
        var sub: OpaquePointer?
        natsConnection_QueueSubscribe(&sub, nc, subject, "q", { nc, _, msg, _ in
            guard let msg else { return }
            if let reply = natsMsg_GetReply(msg) {
                natsConnection_Publish(nc, reply, natsMsg_GetData(msg), natsMsg_GetDataLength(msg))
            }
            natsMsg_Destroy(msg)
        }, nil)
        natsConnection_Flush(nc)
        return sub!
    }

    /// A subscriber that only counts, in the C callback.
    func countingSubscriber(subject: String, counter: UnsafeMutablePointer<Int>) -> OpaquePointer {
        var sub: OpaquePointer?
        natsConnection_Subscribe(&sub, nc, subject, { _, _, msg, closure in
            closure!.assumingMemoryBound(to: Int.self).pointee += 1  // one delivery thread per subscription: no race
            natsMsg_Destroy(msg)
        }, counter)
        natsSubscription_SetPendingLimits(sub, -1, -1)
        natsConnection_Flush(nc)
        return sub!
    }

    /// Sequential blocking request loop, timed per request.
    func requestLoop(subject: String, payload: [UInt8], count: Int) -> (Latencies, Duration) {
        var latencies = Latencies()
        let clock = ContinuousClock()
        let start = clock.now
        payload.withUnsafeBytes { buffer in
            for _ in 0..<count {
                let t0 = clock.now
                var reply: OpaquePointer?
                let status = natsConnection_Request(&reply, nc, subject, buffer.baseAddress, Int32(buffer.count), 2_000)
                precondition(status == NATS_OK, "raw request failed: \(status)")
                natsMsg_Destroy(reply)
                latencies.record(clock.now - t0)
            }
        }
        return (latencies, clock.now - start)
    }

    /// js_PublishAsync of `count` messages, then PublishAsyncComplete.
    func jetStreamAsyncPublish(subject: String, payload: [UInt8], count: Int) -> Duration {
        timedAsyncPublish { js in
            payload.withUnsafeBytes { buffer in
                for _ in 0..<count {
                    let status = js_PublishAsync(js, subject, buffer.baseAddress, Int32(buffer.count), nil)
                    precondition(status == NATS_OK, "js_PublishAsync failed: \(status)")
                }
            }
        }
    }

    /// `jetStreamAsyncPublish` of versions as deal-status publishes them: each on a subject of its own, with a content
    /// type, a schema, a message id and an expected last subject sequence (cnats' `natsMsgHeader_Set`; the per-message
    /// strings lent to C without copies, the fixed ones static, as a C program would).
    func jetStreamAsyncPublishWithHeaders(prefix: String, payload: [UInt8], count: Int) -> Duration {
        func c(_ text: StaticString) -> UnsafePointer<CChar> { UnsafeRawPointer(text.utf8Start).assumingMemoryBound(to: CChar.self) }
        return timedAsyncPublish { js in
            payload.withUnsafeBytes { buffer in
                for n in 0..<count {
                    let subject = "\(prefix).\(n)", msgId = "\(prefix).\(n).v1"
                    var msg: OpaquePointer?
                    subject.withCString { subjectText in
                        precondition(natsMsg_Create(&msg, subjectText, nil, buffer.baseAddress?.assumingMemoryBound(to: CChar.self),
                                                    Int32(buffer.count)) == NATS_OK)
                    }
                    let set = (natsMsgHeader_Set(msg, c("Content-Type"), c("application/msgpack")),
                               natsMsgHeader_Set(msg, c("Svyaz-Schema"), c("DealStatus/1")),
                               msgId.withCString { natsMsgHeader_Set(msg, c("Nats-Msg-Id"), $0) },
                               natsMsgHeader_Set(msg, c("Nats-Expected-Last-Subject-Sequence"), c("0")))
                    precondition(set == (NATS_OK, NATS_OK, NATS_OK, NATS_OK), "natsMsgHeader_Set failed: \(set)")
                    let status = js_PublishMsgAsync(js, &msg, nil)
                    precondition(status == NATS_OK, "js_PublishMsgAsync failed: \(status)")
                }
            }
        }
    }

    /// The time `publish` takes to send its async publishes on a fresh JetStream context (up to 4,096 pending) and
    /// PublishAsyncComplete to see them all acknowledged.
    private func timedAsyncPublish(_ publish: (OpaquePointer?) -> Void) -> Duration {
        var jsOpts = jsOptions()
        jsOptions_Init(&jsOpts)
        jsOpts.PublishAsync.MaxPending = 4_096
        var js: OpaquePointer?
        precondition(natsConnection_JetStream(&js, nc, &jsOpts) == NATS_OK)
        defer { jsCtx_Destroy(js) }
        let clock = ContinuousClock()
        let start = clock.now
        publish(js)
        var pubOpts = jsPubOptions()
        jsPubOptions_Init(&pubOpts)
        pubOpts.MaxWait = 60_000
        precondition(js_PublishAsyncComplete(js, &pubOpts) == NATS_OK)
        return clock.now - start
    }
}

/// Runs blocking work on its own thread so the cooperative pool is never blocked.
func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: body()) }.start()
    }
}

/// deal-status's NATS calls with nothing between them, in plain cnats: the floor of its event path on this machine.
///
/// Keeps pull requests for 512–768 events outstanding on a durable consumer (another 512 once half is used) and
/// takes them in one subscription callback: what has queued up meanwhile is one batch. Each event's bytes are
/// published as its next "version" with a message id and `Nats-Expected-Last-Subject-Sequence` (into a stream that
/// keeps the last 32 per subject and republishes, like DEAL_STATUS), the batch waits for those publish acks, then
/// acknowledges its events. A push consumer follows the status stream, as each deal-status replica's projection does.
/// No decoding, rules, memory or SQLite. Runs in a process of its own (`svyaz-bench --relay raw <url>`), so its CPU is
/// counted apart. Like deal-status (`NatsConnection.sendBuffered`), it writes what it buffered when it then waits
/// (publishes, acks, pull requests), not after cnats' 1 ms flusher wait. It ends when its standard input closes (the
/// bench stopped or died).
enum RawRelay {
    static let shape = RelayShape(kind: "raw")
    static let pullBatch = 512

    /// What the event callback works with (only ever touched on that subscription's delivery thread).
    final class State {
        let nc: OpaquePointer
        let js: OpaquePointer
        let inbox: String
        var outstanding = 0
        var batch: [OpaquePointer?] = []

        init(nc: OpaquePointer, js: OpaquePointer, inbox: String) {
            self.nc = nc
            self.js = js
            self.inbox = inbox
        }

        func pull() {
            outstanding += RawRelay.pullBatch
            let request = #"{"batch":\#(RawRelay.pullBatch)}"#
            natsConnection_PublishRequestString(nc, "$JS.API.CONSUMER.MSG.NEXT.\(RawRelay.shape.eventsStream).\(RawRelay.shape.consumer)", inbox, request)
            sendBuffered()
        }

        func take(_ event: OpaquePointer, from sub: OpaquePointer?) {
            guard natsMsg_GetDataLength(event) > 0 else {  // a status message (the requests never expire)
                natsMsg_Destroy(event)
                return
            }
            outstanding -= 1
            if outstanding <= RawRelay.pullBatch / 2 { pull() }
            batch.append(event)
            var queued: Int32 = 0
            natsSubscription_GetPending(sub, &queued, nil)
            if queued == 0 { relay() }
        }

        private func relay() {
            for event in batch {
                let subject = String(cString: natsMsg_GetSubject(event))
                let stored = RawRelay.shape.stored(for: subject)
                var version: OpaquePointer?
                natsMsg_Create(&version, stored, nil, natsMsg_GetData(event), natsMsg_GetDataLength(event))
                natsMsgHeader_Set(version, "Nats-Msg-Id", "\(stored).1")
                natsMsgHeader_Set(version, "Nats-Expected-Last-Subject-Sequence", "0")
                let published = js_PublishMsgAsync(js, &version, nil)
                precondition(published == NATS_OK, "relay: publish failed: \(published)")
            }
            sendBuffered()
            var wait = jsPubOptions()
            jsPubOptions_Init(&wait)
            wait.MaxWait = 30_000
            let completed = js_PublishAsyncComplete(js, &wait)
            precondition(completed == NATS_OK, "relay: publish acks missing: \(completed)")
            for event in batch {
                natsConnection_Publish(nc, natsMsg_GetReply(event), nil, 0)  // the ack (natsMsg_Ack wants a js_ subscription)
                natsMsg_Destroy(event)
            }
            sendBuffered()
            batch.removeAll(keepingCapacity: true)
        }

        /// What `NatsConnection.sendBuffered` does: cnats' flusher step, now.
        private func sendBuffered() {
            natsConn_lockAndRetain(nc)
            _ = natsConn_bufferFlush(nc)
            natsConn_unlockAndRelease(nc)
        }
    }

    static func run(url: String) -> Never {
        let connection = RawConnection(url: url, sendAsap: false)
        var jsOpts = jsOptions()
        jsOptions_Init(&jsOpts)
        jsOpts.PublishAsync.MaxPending = 10_000
        // A version refused (wrong expected sequence) or deduplicated would go unnoticed and the bench would wait for
        // it forever: stop loudly instead.
        jsOpts.PublishAsync.AckHandler = { _, _, ack, error, _ in
            precondition(error == nil && ack?.pointee.Duplicate == false, "relay: a version was refused or deduplicated")
        }
        var js: OpaquePointer?
        precondition(natsConnection_JetStream(&js, connection.nc, &jsOpts) == NATS_OK, "relay: no JetStream context")

        // The projection: every stored version delivered here too (dropped).
        var follow = jsSubOptions()
        jsSubOptions_Init(&follow)
        follow.Config.DeliverPolicy = js_DeliverLastPerSubject
        follow.Config.AckPolicy = js_AckNone
        var projection: OpaquePointer?
        let followed = js_Subscribe(&projection, js, shape.storedPrefix + ">", { _, _, msg, _ in natsMsg_Destroy(msg) }, nil, &jsOpts, &follow, nil)
        precondition(followed == NATS_OK, "relay: projection subscribe failed: \(followed)")
        natsSubscription_SetPendingLimits(projection, -1, -1)

        let inbox = "_INBOX.relay.\(getpid())"
        let state = State(nc: connection.nc, js: js!, inbox: inbox)
        var events: OpaquePointer?
        natsConnection_Subscribe(&events, connection.nc, inbox, { _, sub, msg, closure in
            Unmanaged<State>.fromOpaque(closure!).takeUnretainedValue().take(msg!, from: sub)
        }, Unmanaged.passRetained(state).toOpaque())
        natsSubscription_SetPendingLimits(events, -1, -1)
        state.pull()
        natsConnection_Flush(connection.nc)
        FileHandle.standardOutput.write(Data("ready\n".utf8))
        exitWhenInputCloses()
    }
}

/// The streams and subjects of one relay (`raw`, `bus`): events on `bench.<kind>.ev.>` in BENCH_<KIND>_EVENTS, versions
/// on `bench.<kind>.st.>` in BENCH_<KIND>_STATUS (last 32 per subject, republished to `bench.<kind>.out.>`).
struct RelayShape: Sendable {
    let kind: String
    var eventsStream: String { "BENCH_\(kind.uppercased())_EVENTS" }
    var statusStream: String { "BENCH_\(kind.uppercased())_STATUS" }
    var consumer: String { "\(kind)-relay" }
    var eventPrefix: String { "bench.\(kind).ev." }
    var storedPrefix: String { "bench.\(kind).st." }
    var statusPrefix: String { "bench.\(kind).out." }

    /// The subject a version of the event on `subject` is stored on.
    func stored(for subject: String) -> String { storedPrefix + subject.dropFirst(eventPrefix.count) }
}

/// A relay process may inherit its parent's signal mask with SIGTERM blocked (Foundation's `Process`): unblock it
/// first, so that `DealBench.stop` ends the process (threads started later inherit the mask).
func unblockTermination() {
    var terminate = sigset_t()
    sigemptyset(&terminate)
    sigaddset(&terminate, SIGTERM)
    pthread_sigmask(SIG_UNBLOCK, &terminate, nil)
}

/// Blocks until standard input reaches its end (the bench holds the other end of the pipe), then ends the process.
func exitWhenInputCloses() -> Never {
    while (try? FileHandle.standardInput.read(upToCount: 64))?.isEmpty == false {}
    exit(0)
}
