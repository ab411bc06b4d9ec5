import Bus
import Foundation
import Synchronization
import Testing
import TestSupport

@Suite("NATS micro services (ADR-32)")
struct MicroServiceTests {
    func startEcho(_ nc: NatsConnection) throws -> (MicroService, Task<Void, any Error>) {
        let service = try MicroService(
            connection: nc,
            identity: .init(name: "echo", version: "1.2.3", description: "echoes", metadata: ["team": "svyaz"])
        )
        try service.addEndpoint("echo", subject: "svc.echo") { request in
            if request.payload.isEmpty { throw ServiceError(code: 400, message: "empty request", body: Array("why".utf8)) }
            if request.payload == Array("lines".utf8) { throw ServiceError(code: 422, message: "first line\r\nNats-Service-Error-Code: 200") }
            if request.payload == Array("blank".utf8) { throw ServiceError(code: 422, message: " ") }
            return ServiceReply(payload: request.payload)
        }
        let task = Task { try await service.run() }
        return (service, task)
    }

    @Test("an endpoint answers and its errors carry the ADR-32 headers")
    func endpointAndErrors() async throws {
        let server = try NatsServer()
        let nc = try await connect(server, sendAsap: true)
        let (service, task) = try startEcho(nc)
        try nc.flush()
        let reply = try await nc.request(Array("hi".utf8), to: "svc.echo")
        #expect(reply.payload == Array("hi".utf8))
        await #expect(throws: BusError.serviceError(code: 400, message: "empty request", body: Array("why".utf8))) {
            try await nc.request([], to: "svc.echo")
        }
        // An error text that could not go in a header line as it is still reaches the caller, on one line.
        await #expect(throws: BusError.serviceError(code: 422, message: "first line  Nats-Service-Error-Code: 200", body: [])) {
            try await nc.request(Array("lines".utf8), to: "svc.echo")
        }
        await #expect(throws: BusError.serviceError(code: 422, message: "error", body: [])) {
            try await nc.request(Array("blank".utf8), to: "svc.echo")
        }
        await service.stop()
        try await task.value
    }

    @Test("an inline endpoint answers on the delivery thread, errors and stats included, and stops on drain")
    func inlineEndpoint() async throws {
        let server = try NatsServer()
        let nc = try await connect(server, sendAsap: true)
        let service = try MicroService(connection: nc, identity: .init(name: "calc", version: "0.1.0"))
        try service.addInlineEndpoint("double", subject: "calc.double") { request in
            guard let n = Int(String(decoding: request.payload, as: UTF8.self)) else {
                throw ServiceError(code: 400, message: "not a number")
            }
            return ServiceReply(payload: Array(String(n * 2).utf8))
        }
        let task = Task { try await service.run() }
        try nc.flush()
        #expect(try await nc.request(Array("21".utf8), to: "calc.double").payload == Array("42".utf8))
        await #expect(throws: BusError.serviceError(code: 400, message: "not a number", body: [])) {
            try await nc.request(Array("x".utf8), to: "calc.double")
        }
        let stats = try json(try await nc.request([], to: "$SRV.STATS.calc"))
        let endpoint = try #require((stats["endpoints"] as? [[String: Any]])?.first)
        #expect(endpoint["num_requests"] as? Int == 2)
        #expect(endpoint["num_errors"] as? Int == 1)
        await service.stop()
        try await task.value
        await #expect(throws: BusError.noResponders(subject: "calc.double")) {
            try await nc.request(Array("1".utf8), to: "calc.double", timeout: .seconds(1))
        }
    }

    @Test("a request whose reply subject is not an inbox is not handled: a client cannot have a service publish into a stream or call the JetStream API")
    func repliesOnlyToInboxes() async throws {
        let server = try NatsServer()
        let nc = try await connect(server, sendAsap: true)
        let js = JetStream(connection: nc)
        _ = try await js.ensureStream(StreamConfig(name: "KEEP", subjects: ["keep.>"]))
        let handled = Counter()
        let service = try MicroService(connection: nc, identity: .init(name: "guarded", version: "1.0.0"))
        try service.addEndpoint("echo", subject: "svc.echo") { request in
            handled.add()
            return ServiceReply(payload: request.payload)
        }
        let task = Task { try await service.run() }
        try nc.flush()
        try nc.publish(Array("forged".utf8), to: "svc.echo", reply: "keep.forged")
        try nc.publish(Array("{}".utf8), to: "svc.echo", reply: "$JS.API.STREAM.DELETE.KEEP")
        try nc.publish(Array("x".utf8), to: "svc.echo", reply: "_INBOXED")  // an inbox prefix needs its separator
        // Requests are handled in order: once this one is answered, the three before it were dealt with.
        #expect(try await nc.request(Array("hi".utf8), to: "svc.echo").payload == Array("hi".utf8))
        #expect(handled.value == 1)
        let kept = try await js.streamInfo("KEEP")
        #expect(kept.state.messages == 0)
        // The answer goes out before the request is counted: wait for the count.
        let counted = await eventually {
            guard let reply = try? await nc.request([], to: "$SRV.STATS.guarded"), let stats = try? json(reply),
                  let endpoint = (stats["endpoints"] as? [[String: Any]])?.first else { return false }
            return endpoint["num_requests"] as? Int == 4 && endpoint["num_errors"] as? Int == 3
                && (endpoint["last_error"] as? String)?.contains("is not an inbox") == true
        }
        #expect(counted)
        // A client's own inbox prefix (the terminal's `_INBOX_<client>`) is an inbox.
        var own = ConnectionOptions(servers: [server.url], name: "own-inbox")
        own.inboxPrefix = "_INBOX_C1"
        let client = try await NatsConnection.connect(own, logger: nc.logger)
        #expect(try await client.request(Array("mine".utf8), to: "svc.echo").payload == Array("mine".utf8))
        await client.drain()
        await service.stop()
        try await task.value
    }

    @Test("PING, INFO and STATS answer for all, by name and by id, with per-endpoint counts")
    func discovery() async throws {
        let server = try NatsServer()
        let nc = try await connect(server, sendAsap: true)
        let (service, task) = try startEcho(nc)
        try nc.flush()
        _ = try await nc.request(Array("a".utf8), to: "svc.echo")
        _ = try? await nc.request([], to: "svc.echo")

        for subject in ["$SRV.PING", "$SRV.PING.echo", "$SRV.PING.echo.\(service.id)"] {
            let ping = try json(try await nc.request([], to: subject))
            #expect(ping["type"] as? String == "io.nats.micro.v1.ping_response")
            #expect(ping["name"] as? String == "echo")
            #expect(ping["id"] as? String == service.id)
            #expect(ping["version"] as? String == "1.2.3")
        }
        let info = try json(try await nc.request([], to: "$SRV.INFO.echo"))
        #expect(info["type"] as? String == "io.nats.micro.v1.info_response")
        #expect(info["description"] as? String == "echoes")
        #expect((info["metadata"] as? [String: String]) == ["team": "svyaz"])
        let endpoints = try #require(info["endpoints"] as? [[String: Any]])
        #expect(endpoints.first?["subject"] as? String == "svc.echo")
        #expect(endpoints.first?["queue_group"] as? String == "q")

        let stats = try json(try await nc.request([], to: "$SRV.STATS.echo.\(service.id)"))
        #expect(stats["type"] as? String == "io.nats.micro.v1.stats_response")
        let endpoint = try #require((stats["endpoints"] as? [[String: Any]])?.first)
        #expect(endpoint["num_requests"] as? Int == 2)
        #expect(endpoint["num_errors"] as? Int == 1)
        #expect(endpoint["last_error"] as? String == "400:empty request")
        #expect((endpoint["processing_time"] as? Int ?? 0) > 0)
        #expect(stats["started"] is String)

        await #expect(throws: BusError.noResponders(subject: "$SRV.PING.other")) {
            try await nc.request([], to: "$SRV.PING.other", timeout: .seconds(1))
        }
        await service.stop()
        try await task.value
    }

    @Test("two instances of a service split requests through queue group q")
    func scaleOut() async throws {
        let server = try NatsServer()
        let nc1 = try await connect(server, sendAsap: true)
        let nc2 = try await connect(server, sendAsap: true)
        let (s1, t1) = try startEcho(nc1)
        let (s2, t2) = try startEcho(nc2)
        try nc1.flush()
        try nc2.flush()
        let client = try await connect(server)
        for i in 0..<200 { _ = try await client.request(Array("\(i)".utf8), to: "svc.echo") }
        let counts = try await [s1, s2].asyncMap { service in
            let stats = try json(try await client.request([], to: "$SRV.STATS.echo.\(service.id)"))
            return ((stats["endpoints"] as? [[String: Any]])?.first?["num_requests"] as? Int) ?? 0
        }
        #expect(counts.reduce(0, +) == 200)
        #expect(counts.allSatisfy { $0 > 0 })
        await s1.stop()
        await s2.stop()
        try await t1.value
        try await t2.value
    }

    func json(_ message: BusMessage) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(message.payload)) as? [String: Any])
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for element in self { out.append(try await transform(element)) }
        return out
    }
}

/// A count that handlers running on other threads add to.
final class Counter: Sendable {
    private let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
