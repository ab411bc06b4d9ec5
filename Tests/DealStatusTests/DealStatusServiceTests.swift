import Bus
import Foundation
import Logging
import Messages
import ServiceKit
import Testing
import TestSupport
import Wire

@testable import DealStatus

/// One in-process deal-status replica against a real nats-server, with its own SQLite file.
struct Replica {
    let service: DealStatusService
    let workers: Task<Void, Never>
    let endpoints: Task<Void, any Error>
    let path: String

    static func start(_ server: NatsServer, directory: URL, name: String = "r1") async throws -> Replica {
        var options = ConnectionOptions(servers: [server.url], name: name)
        options.sendAsap = true
        let connection = try await NatsConnection.connect(options, logger: Logger(label: name))
        try await DealStatusService.ensureStreams(JetStream(connection: connection))
        let path = directory.appendingPathComponent("\(name).sqlite").path
        let service = try DealStatusService(connection: connection, store: try DealStore(path: path), logger: Logger(label: name))
        let workers = Task {
            await withDiscardingTaskGroup { group in
                group.addTask { await service.processEvents() }
                group.addTask { await service.followStatuses() }
            }
        }
        let endpoints = Task { try await service.micro.run() }
        try connection.flush()
        return Replica(service: service, workers: workers, endpoints: endpoints, path: path)
    }

    func stop() async {
        workers.cancel()
        await service.micro.stop()
        _ = await endpoints.result
        await workers.value
        await service.connection.drain()
    }
}

func publish(_ js: JetStream, _ event: DealEvent) async throws {
    _ = try await js.publish(try MessagePackEncoder().encode(event), to: "deal.event.\(event.client).\(event.dealId)", msgId: event.eventId)
}

func tempDirectory() throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("svyaz-deals-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

@Suite("deal-status over a real nats-server and SQLite")
struct DealStatusServiceTests {
    @Test("events become versioned snapshots on deal.status.<client>.<deal>, queries see them, rejects are audited")
    func eventsToSnapshots() async throws {
        let server = try NatsServer()
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let replica = try await Replica.start(server, directory: dir)
        let client = try await NatsConnection.connect(ConnectionOptions(servers: [server.url], name: "terminal"), logger: Logger(label: "t"))
        let js = JetStream(connection: client)
        let live = try client.subscribe(to: "deal.status.C1.>")
        try client.flush()

        try await publish(js, booked())
        try await publish(js, confirm(.awaiting, 1))
        try await publish(js, confirm(.awaiting, 1))  // same event id: dropped by JetStream dedupe
        try await publish(js, confirm(.confirmed, 2))
        try await publish(js, settle("NEAR-CNY", .sent, 3))  // from PENDING straight to SENT (instruction report lost)
        try await publish(js, settle("NEAR-CNY", .failed, 1))  // invalid? no: SENT → FAILED is allowed
        try await publish(js, settle("FAR-XXX", .sent, 4))  // unknown leg: rejected and audited

        var versions: [Int64] = []
        var last: DealStatus?
        for try await message in live {
            let status = try MessagePackDecoder().decode(DealStatus.self, from: message.payload)
            versions.append(status.version)
            last = status
            if status.version == 5 { break }
        }
        #expect(versions == [1, 2, 3, 4, 5])
        #expect(last?.confirmation == .confirmed && last?.settlement == .failed)

        let got = try await client.request(DealGet(dealId: "D1"), to: "deal.query.C1.get", expecting: DealStatus.self)
        #expect(got.version == 5)
        var query = DealListQuery()
        query.confirmations = [.confirmed]
        query.pair = "cnyrub"
        let page = try await client.request(query, to: "deal.query.C1.list", expecting: DealPage.self)
        #expect(page.total == 1 && page.deals.first?.terms.dealId == "D1")
        let other = try await client.request(DealListQuery(), to: "deal.query.C2.list", expecting: DealPage.self)
        #expect(other.total == 0)
        let rejected = await eventually { (try? await replica.service.store.rejections(client: "C1", dealId: "D1"))?.count == 1 }
        #expect(rejected)
        #expect(try await replica.service.store.rejections(client: "C1", dealId: "D1") == ["unknown leg FAR-XXX"])
        await #expect(throws: ErrorBody.self) {
            _ = try await client.request(DealGet(dealId: "NOPE"), to: "deal.query.C1.get", expecting: DealStatus.self)
        }
        await replica.stop()
    }

    @Test("changing requisites is validated, recorded as an event and applied; released legs refuse it")
    func requisites() async throws {
        let server = try NatsServer()
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let replica = try await Replica.start(server, directory: dir)
        let client = try await NatsConnection.connect(ConnectionOptions(servers: [server.url], name: "terminal"), logger: Logger(label: "t"))
        let js = JetStream(connection: client)
        try await publish(js, booked())
        try await publish(js, settle("NEAR-RUB", .sent, 1))
        let ready = await eventually { (try? await replica.service.store.current(client: "C1", dealId: "D1"))??.0.version == 2 }
        #expect(ready)

        let cny = SettlementRequisites(currency: "CNY", account: "40807156700000009999", bic: "ICBKCNBJ")
        let command = ChangeRequisites(requestId: "req-1", dealId: "D1", requisites: cny, requestedBy: "treasurer")
        let accepted = try await client.request(command, to: "deal.cmd.C1.requisites", expecting: CommandAccepted.self)
        #expect(!accepted.duplicate)
        let again = try await client.request(command, to: "deal.cmd.C1.requisites", expecting: CommandAccepted.self)
        #expect(again.duplicate && again.eventSequence == accepted.eventSequence)
        let applied = await eventually {
            (try? await replica.service.store.current(client: "C1", dealId: "D1"))??.0.terms.requisites.contains(cny) == true
        }
        #expect(applied)

        let rub = SettlementRequisites(currency: "RUB", account: "40702810900000000001", bic: "SABRRUMM")
        await #expect(throws: ErrorBody(code: 409, message: "leg NEAR-RUB is SENT; requisites are fixed")) {
            _ = try await client.request(ChangeRequisites(requestId: "req-2", dealId: "D1", requisites: rub), to: "deal.cmd.C1.requisites",
                                         expecting: CommandAccepted.self)
        }
        let usd = SettlementRequisites(currency: "USD", account: "1", bic: "X")
        await #expect(throws: ErrorBody(code: 422, message: "deal D1 has no USD leg", field: "requisites.currency")) {
            _ = try await client.request(ChangeRequisites(requestId: "req-3", dealId: "D1", requisites: usd), to: "deal.cmd.C1.requisites",
                                         expecting: CommandAccepted.self)
        }
        await replica.stop()
    }

    @Test("a replica restarted with its SQLite file deleted rebuilds the same state from JetStream")
    func rebuild() async throws {
        let server = try NatsServer()
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try await Replica.start(server, directory: dir)
        let client = try await NatsConnection.connect(ConnectionOptions(servers: [server.url], name: "feed"), logger: Logger(label: "f"))
        let js = JetStream(connection: client)
        for n in 1...20 {
            try await publish(js, booked(terms("D\(n)")))
            try await publish(js, DealEvent(eventId: "c-\(n)", client: "C1", dealId: "D\(n)", kind: .confirmation, occurredAt: t0,
                                            confirmation: .awaiting))
        }
        let done = await eventually(within: .seconds(20)) { (try? await first.service.store.list(client: "C1", DealListQuery()))?.total == 20 }
        #expect(done)
        var all = DealListQuery()
        all.limit = 100
        let before = try await first.service.store.list(client: "C1", all)
        await first.stop()
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: first.path + suffix) }

        let second = try await Replica.start(server, directory: dir)
        let rebuilt = await eventually(within: .seconds(20)) { (try? await second.service.store.list(client: "C1", all))?.total == 20 }
        #expect(rebuilt)
        let after = try await second.service.store.list(client: "C1", all)
        #expect(after == before)
        #expect(after.deals.allSatisfy { $0.version == 2 && $0.confirmation == .awaiting })
        await second.stop()
    }
}
