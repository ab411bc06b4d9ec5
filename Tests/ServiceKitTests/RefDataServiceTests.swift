import Bus
import Foundation
import Logging
import Messages
@testable import RefData
import ServiceKit
import ServiceLifecycle
import Testing
import TestSupport
import Wire

@Suite("refdata service over a real nats-server")
struct RefDataServiceTests {
    struct Running {
        let server: NatsServer
        let client: NatsConnection
        let service: MicroService
        let task: Task<Void, any Error>
        let dir: URL
    }

    func start() async throws -> Running {
        let server = try NatsServer()
        let dir = try scratchDirectory("refdata")
        let store = try RefDataStore(path: dir.appendingPathComponent("refdata.sqlite").path)
        var options = ConnectionOptions(servers: [server.url], name: "refdata")
        options.sendAsap = true
        let connection = try await NatsConnection.connect(options, logger: Logger(label: "refdata"))
        let service = try RefDataService.make(connection: connection, store: store)
        let task = Task { try await service.run() }
        let client = try await NatsConnection.connect(ConnectionOptions(servers: [server.url], name: "client"), logger: Logger(label: "c"))
        try connection.flush()
        return Running(server: server, client: client, service: service, task: task, dir: dir)
    }

    func stop(_ running: Running) async throws {
        await running.service.stop()
        try await running.task.value
        try? FileManager.default.removeItem(at: running.dir)
    }

    @Test("counter amounts are exact and rounded once, per the currency's minor units")
    func counterAmounts() async throws {
        let running = try await start()
        let cases: [(CounterAmountRequest, Money, String)] = [
            (CounterAmountRequest(base: try Money(parsing: "250000.50", currency: "CNY"), rate: try Rate(parsing: "11.23456"),
                                  counterCurrency: "RUB", rounding: nil), try Money(parsing: "2808645.62", currency: "RUB"), "2808645.61728"),
            (CounterAmountRequest(base: try Money(parsing: "1000.10", currency: "USD"), rate: try Rate(parsing: "11.25"),
                                  counterCurrency: "RUB", rounding: .halfEven), try Money(parsing: "11251.12", currency: "RUB"), "11251.125"),
            (CounterAmountRequest(base: try Money(parsing: "1000.00", currency: "USD"), rate: try Rate(parsing: "0.30712"),
                                  counterCurrency: "KWD", rounding: nil), try Money(parsing: "307.120", currency: "KWD"), "307.12"),
        ]
        for (request, counter, exact) in cases {
            let reply = try await running.client.request(request, to: Subjects.RefData.fxCounter, expecting: CounterAmountReply.self)
            #expect(reply.counter == counter)
            #expect(reply.exact == exact)
        }
        try await stop(running)
    }

    @Test("bad input gets a typed error reply and the service keeps serving")
    func badInput() async throws {
        let running = try await start()
        await #expect(throws: ErrorBody.self) {
            do {
                _ = try await running.client.request(CurrencyQuery(code: "XYZ"), to: Subjects.RefData.currencyGet, expecting: CurrencyInfo.self)
            } catch let error as ErrorBody {
                #expect(error.code == ErrorBody.notFound)
                throw error
            }
        }
        // Malformed MessagePack is a 400 with the ADR-32 headers.
        await #expect(throws: BusError.self) {
            do {
                _ = try await running.client.request([0xC1, 0x00], to: Subjects.RefData.fxCounter)
            } catch let error as BusError {
                guard case .serviceError(let code, _, let body) = error else { throw BusError.invalidArgument("wrong error \(error)") }
                #expect(code == 400)
                #expect(try MessagePackDecoder().decode(ErrorBody.self, from: body).code == 400)
                throw error
            }
        }
        let info = try await running.client.request(CurrencyQuery(code: "JPY"), to: Subjects.RefData.currencyGet, expecting: CurrencyInfo.self)
        #expect(info.minorUnits == 0)
        try await stop(running)
    }

    @Test("graceful shutdown answers the request in flight before stopping")
    func gracefulShutdown() async throws {
        let server = try NatsServer()
        var options = ConnectionOptions(servers: [server.url], name: "slow")
        options.sendAsap = true
        let connection = try await NatsConnection.connect(options, logger: Logger(label: "slow"))
        let service = try MicroService(connection: connection, identity: .init(name: "slow", version: "0.1.0"))
        let started = AsyncStream<Void>.makeStream()
        try service.addEndpoint("slow", subject: "slow.op") { request in
            started.continuation.yield()
            try await Task.sleep(for: .milliseconds(300))
            return ServiceReply(payload: request.payload)
        }
        let group = ServiceGroup(configuration: .init(services: [MicroServiceRunner(service)], logger: Logger(label: "group")))
        let running = Task { try await group.run() }
        try connection.flush()
        let client = try await NatsConnection.connect(ConnectionOptions(servers: [server.url]), logger: Logger(label: "c"))
        async let reply = client.request(Array("in-flight".utf8), to: "slow.op", timeout: .seconds(5))
        var iterator = started.stream.makeAsyncIterator()
        await iterator.next()
        await group.triggerGracefulShutdown()
        #expect(try await reply.payload == Array("in-flight".utf8))
        try await running.value
        #expect(connection.isClosed)
    }

    @Test("graceful shutdown still completes when the NATS server is gone")
    func shutdownWithoutServer() async throws {
        let server = try NatsServer()
        let connection = try await NatsConnection.connect(ConnectionOptions(servers: [server.url], name: "orphan"), logger: Logger(label: "o"))
        let service = try MicroService(connection: connection, identity: .init(name: "orphan", version: "0.1.0"))
        try service.addEndpoint("noop", subject: "orphan.noop") { ServiceReply(payload: $0.payload) }
        let group = ServiceGroup(configuration: .init(services: [MicroServiceRunner(service)], logger: Logger(label: "group")))
        let ended = Flag()
        let running = Task {
            try await group.run()
            await ended.set()
        }
        try connection.flush()
        server.crash()
        await group.triggerGracefulShutdown()
        let finished = await eventually(within: .seconds(20)) { await ended.isSet }  // cnats alone would wait 30 s per drain
        #expect(finished)
        try await running.value
        #expect(connection.isClosed)
    }
}

/// Set once by a task when it ends, polled by the test.
actor Flag {
    private(set) var isSet = false
    func set() { isSet = true }
}
