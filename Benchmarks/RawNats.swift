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
        var jsOpts = jsOptions()
        jsOptions_Init(&jsOpts)
        jsOpts.PublishAsync.MaxPending = 4_096
        var js: OpaquePointer?
        precondition(natsConnection_JetStream(&js, nc, &jsOpts) == NATS_OK)
        defer { jsCtx_Destroy(js) }
        let clock = ContinuousClock()
        let start = clock.now
        payload.withUnsafeBytes { buffer in
            for _ in 0..<count {
                let status = js_PublishAsync(js, subject, buffer.baseAddress, Int32(buffer.count), nil)
                precondition(status == NATS_OK, "js_PublishAsync failed: \(status)")
            }
        }
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
