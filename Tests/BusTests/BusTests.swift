import Bus
import Foundation
import Logging
import Synchronization
import Testing
import TestSupport

func connect(_ server: NatsServer, name: String = "test", sendAsap: Bool = false, user: String? = nil, password: String? = nil,
             logger: Logger = Logger(label: "test")) async throws -> NatsConnection {
    var options = ConnectionOptions(servers: [server.url], name: name)
    options.sendAsap = sendAsap
    options.user = user
    options.password = password
    return try await NatsConnection.connect(options, logger: logger)
}

/// Keeps what is logged through it, as operators would read it: level and message.
struct CapturedLog: LogHandler {
    let box: Box
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    final class Box: Sendable {
        let lines = Mutex<[String]>([])
    }

    init(_ box: Box) { self.box = box }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        box.lines.withLock { $0.append("\(event.level) \(event.message)") }
    }
}

@Suite("Core NATS through the bus")
struct CoreTests {
    @Test("a subscriber receives every message in publish order")
    func order() async throws {
        let server = try NatsServer()
        let nc = try await connect(server)
        let subscription = try nc.subscribe(to: "orders.>")
        try nc.flush()
        for i in 0..<5_000 { try nc.publish(Array("\(i)".utf8), to: "orders.\(i % 7)") }
        var received: [Int] = []
        for try await message in subscription {
            received.append(Int(String(decoding: message.payload, as: UTF8.self))!)
            if received.count == 5_000 { break }
        }
        #expect(received == Array(0..<5_000))
    }

    @Test("a queue group splits messages between members, each delivered once")
    func queueGroup() async throws {
        let server = try NatsServer()
        let nc = try await connect(server)
        let a = try nc.subscribe(to: "work", queue: "q")
        let b = try nc.subscribe(to: "work", queue: "q")
        try nc.flush()
        for i in 0..<1_000 { try nc.publish(Array("\(i)".utf8), to: "work") }
        try nc.flush()
        async let fromA = collect(a, until: { $0 == 1_000 })
        async let fromB = collect(b, until: { $0 == 1_000 })
        try await Task.sleep(for: .milliseconds(300))
        a.unsubscribe()
        b.unsubscribe()
        let (left, right) = try await (fromA, fromB)
        #expect(left.count > 0 && right.count > 0)
        #expect(Set(left + right) == Set((0..<1_000).map { "\($0)" }))
        #expect(left.count + right.count == 1_000)
    }

    @Test("headers survive a round trip, multi-valued ones too")
    func headersRoundTrip() async throws {
        let server = try NatsServer()
        let nc = try await connect(server)
        let subscription = try nc.subscribe(to: "h")
        try nc.flush()
        var headers: Headers = ["Svyaz-Schema": "DealStatus/1", "Nats-Msg-Id": "abc"]
        headers.append("X-Multi", "one")
        headers.append("X-Multi", "two")
        try nc.publish(Array("body".utf8), to: "h", headers: headers)
        var iterator = subscription.makeAsyncIterator()
        let message = try #require(try await iterator.next())
        #expect(message.headers["Svyaz-Schema"] == "DealStatus/1")
        #expect(message.headers["nats-msg-id"] == "abc")
        #expect(message.headers.values("X-Multi") == ["one", "two"])
        #expect(message.payload == Array("body".utf8))
    }

    @Test("a header that would forge another, or break the block, is refused and nothing is sent", arguments: [
        ("X-Note", "ok\r\nNats-Msg-Id: forged"), ("X-Note", "line\nbreak"), ("X-Note: forged", "v"), ("X Note", "v"), ("", "v"),
        ("X-Note\u{7F}", "v"), ("X-Note", ""), ("X-Note", " \t "), ("X-Note", "nul\u{0}byte"),
    ])
    func forgedHeader(name: String, value: String) async throws {
        let server = try NatsServer()
        let nc = try await connect(server)
        let subscription = try nc.subscribe(to: "h")
        try nc.flush()
        #expect(throws: BusError.self) { try nc.publish(Array("bad".utf8), to: "h", headers: [name: value]) }
        try nc.publish(Array("good".utf8), to: "h", headers: ["X-Note": "fine: with a colon"])
        var iterator = subscription.makeAsyncIterator()
        let message = try #require(try await iterator.next())
        #expect(message.payload == Array("good".utf8) && message.headers["X-Note"] == "fine: with a colon")
        #expect(message.headers["Nats-Msg-Id"] == nil)
    }

    @Test("an empty reply subject is refused, with headers or without")
    func emptyReply() async throws {
        let server = try NatsServer()
        let nc = try await connect(server)
        #expect(throws: BusError.self) { try nc.publish([], to: "h", reply: "", headers: ["X-Note": "v"]) }
        #expect(throws: BusError.self) { try nc.publish([], to: "h", reply: "") }
    }

    @Test("without stream headers only messages of a JetStream consumer lose theirs; status messages and others keep them")
    func streamHeadersRule() async throws {
        let server = try NatsServer()
        let nc = try await connect(server)
        let subscription = try nc.subscribe(to: "h", streamHeaders: false)
        let deadline = subscription.unsubscribe(after: .seconds(10))
        defer { deadline.cancel() }
        try nc.flush()
        let headers: Headers = ["Status": "408", "Description": "Request Timeout"]
        // A consumer's delivery (reply `$JS.ACK.…`, which a client may not publish itself) and two plain messages.
        let js = JetStream(connection: nc)
        try await js.ensureStream(StreamConfig(name: "S", subjects: ["s.>"]))
        _ = try await js.publish(Array("stream".utf8), to: "s.1", headers: headers)
        var push = ConsumerConfig(durableName: "push")
        push.deliverSubject = "h"
        try await js.ensureConsumer(stream: "S", push)
        try nc.publish(Array("status".utf8), to: "h", headers: headers)
        try nc.publish(Array("other".utf8), to: "h", reply: "$JS.ACKNOWLEDGED", headers: headers)
        var seen: [String: BusMessage] = [:]
        for try await message in subscription {
            seen[String(decoding: message.payload, as: UTF8.self)] = message
            if seen.count == 3 { break }
        }
        #expect(seen["stream"]?.reply?.hasPrefix("$JS.ACK.") == true && seen["stream"]?.headers.isEmpty == true)
        #expect(seen["status"]?.headers["Status"] == "408" && seen["status"]?.headers["Description"] == "Request Timeout")
        #expect(seen["other"]?.headers["Status"] == "408")
    }

    @Test("the cnats in use is the one whose internal functions the bus declares (see Shared/CNats/shim.h)")
    func cnatsVersion() {
        #expect(NatsConnection.clientVersion.hasPrefix("3.4."), "shim.h declares functions of cnats 3.4.1; check them against this version")
    }

    @Test("request gets the reply; nobody listening is noResponders; a silent responder is a timeout")
    func requestErrors() async throws {
        let server = try NatsServer()
        let nc = try await connect(server, sendAsap: true)
        let responder = try nc.subscribe(to: "echo")
        let silent = try nc.subscribe(to: "silent")
        try nc.flush()
        let echo = Task {
            for try await message in responder {
                try nc.publish(message.payload.reversed(), to: message.reply!)
            }
        }
        defer { echo.cancel() }
        let reply = try await nc.request(Array("abc".utf8), to: "echo", timeout: .seconds(2))
        #expect(reply.payload == Array("cba".utf8))
        await #expect(throws: BusError.noResponders(subject: "nobody.here")) {
            try await nc.request([], to: "nobody.here", timeout: .seconds(2))
        }
        await #expect(throws: BusError.timeout(subject: "silent")) {
            try await nc.request([], to: "silent", timeout: .milliseconds(200))
        }
        _ = silent
    }

    @Test("publishing or requesting outside one's permissions is permissionDenied")
    func permissionDenied() async throws {
        let config = """
        authorization {
          users = [
            { user: "client1", password: "pw1",
              permissions: { publish: { allow: ["deal.query.C1.>"] }, subscribe: { allow: ["_INBOX.>", "deal.status.C1.>"] } } }
          ]
        }
        """
        let server = try NatsServer(config: config, jetStream: false)
        let nc = try await connect(server, user: "client1", password: "pw1")
        await #expect(throws: BusError.self) {
            do {
                _ = try await nc.request([], to: "deal.query.C2.list", timeout: .seconds(3))
            } catch let error as BusError {
                guard case .permissionDenied(let subject, _) = error else { throw BusError.invalidArgument("wrong error \(error)") }
                #expect(subject == "deal.query.C2.list")
                throw error
            }
        }
        let forbidden = try nc.subscribe(to: "deal.status.C2.>")
        await #expect(throws: BusError.self) {
            for try await _ in forbidden {}
        }
    }

    @Test("a wrong password is refused at connect")
    func wrongPassword() async throws {
        let server = try NatsServer(config: #"authorization { users = [ { user: "u", password: "right" } ] }"#, jetStream: false)
        await #expect(throws: BusError.self) { _ = try await connect(server, user: "u", password: "wrong") }
    }

    @Test("the connection reconnects after the server restarts, says so, and subscriptions resume")
    func reconnect() async throws {
        let server = try NatsServer()
        let log = CapturedLog.Box()
        let nc = try await connect(server, logger: Logger(label: "test") { _ in CapturedLog(log) })
        let subscription = try nc.subscribe(to: "live")
        try nc.flush()
        let heard = Mutex((changes: [ConnectionChange](), ended: false))
        let changes = nc.connectionChanges()
        let listener = Task {
            for await change in changes { heard.withLock { $0.changes.append(change) } }
            heard.withLock { $0.ended = true }
        }
        #expect(heard.withLock { $0.changes }.isEmpty)
        try server.restart()
        #expect(await eventually(within: .seconds(15)) { heard.withLock { $0.changes } == [.disconnected, .reconnected] })
        let flushed = await eventually(within: .seconds(15)) { (try? nc.flush(timeout: .milliseconds(200))) != nil }
        #expect(flushed)
        try nc.publish(Array("after".utf8), to: "live")
        var iterator = subscription.makeAsyncIterator()
        let message = try #require(try await iterator.next())
        #expect(message.payload == Array("after".utf8))
        #expect(nc.statistics().reconnects >= 1)
        let lifeline = ["info nats connected", "warning nats disconnected", "notice nats reconnected"]
        #expect(log.lines.withLock { $0 }.filter { $0.contains("connected") } == lifeline)
        await nc.drain()
        #expect(await eventually { heard.withLock { $0.ended } })  // the stream ends with the connection
        // Closing on purpose is no outage: observers are not told, and operators see no warning.
        #expect(heard.withLock { $0.changes } == [.disconnected, .reconnected])
        #expect(log.lines.withLock { $0 }.filter { $0.contains("connected") && !$0.hasPrefix("debug") } == lifeline)
        listener.cancel()
        await listener.value
    }

    @Test("a slow consumer's dropped messages are counted, not silently lost")
    func slowConsumer() async throws {
        let server = try NatsServer()
        let nc = try await connect(server)
        let subscription = try nc.subscribe(to: "flood", limits: PendingLimits(messages: 10, bytes: 1 << 20, swiftBuffer: 1))
        try nc.flush()
        for _ in 0..<5_000 { try nc.publish([UInt8](repeating: 1, count: 64), to: "flood") }
        try nc.flush()
        let dropped = await eventually { subscription.droppedCount > 0 }
        #expect(dropped)
    }
}

func collect(_ subscription: Subscription, until done: (Int) -> Bool) async throws -> [String] {
    var out: [String] = []
    for try await message in subscription {
        out.append(String(decoding: message.payload, as: UTF8.self))
        if done(out.count) { break }
    }
    return out
}
