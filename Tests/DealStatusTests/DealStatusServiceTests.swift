import Bus
import Foundation
import GRDB
import Logging
import Messages
import ServiceKit
import Synchronization
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

    /// `ackWait`: of the shared event consumer (every replica sets it at start).
    static func start(_ server: NatsServer, directory: URL, name: String = "r1", projectionWriteInterval: Duration = .milliseconds(10),
                      ackWait: Duration = .seconds(10)) async throws -> Replica
    {
        var options = ConnectionOptions(servers: [server.url], name: name)
        options.sendAsap = true
        let connection = try await NatsConnection.connect(options, logger: Logger(label: name))
        try await DealStatusService.ensureStreams(JetStream(connection: connection), ackWait: ackWait)
        let path = directory.appendingPathComponent("\(name).sqlite").path
        let service = try DealStatusService(connection: connection, store: try DealStore(path: path), logger: Logger(label: name),
                                            projectionWriteInterval: projectionWriteInterval)
        let workers = Task { await service.runWorkers() }
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

/// One replica against a fresh server, and a terminal's connection beside it: what most tests start from.
struct OneReplica {
    let server: NatsServer
    let directory: URL
    let replica: Replica
    let client: NatsConnection
    let js: JetStream

    static func start() async throws -> OneReplica {
        let server = try NatsServer()
        let directory = try scratchDirectory("deals")
        let replica = try await Replica.start(server, directory: directory)
        let client = try await NatsConnection.connect(ConnectionOptions(servers: [server.url], name: "terminal"), logger: Logger(label: "t"))
        return OneReplica(server: server, directory: directory, replica: replica, client: client, js: JetStream(connection: client))
    }

    func removeFiles() { try? FileManager.default.removeItem(at: directory) }
}

func publish(_ js: JetStream, _ event: DealEvent) async throws {
    _ = try await js.publish(try MessagePackEncoder().encode(event), to: "deal.event.\(event.client).\(event.dealId)", msgId: event.eventId)
}

@Suite("deal-status over a real nats-server and SQLite")
struct DealStatusServiceTests {
    @Test("events become versioned snapshots on deal.status.<client>.<deal>, queries see them, rejects are audited")
    func eventsToSnapshots() async throws {
        let running = try await OneReplica.start()
        defer { running.removeFiles() }
        let (replica, client, js) = (running.replica, running.client, running.js)
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
        // A misspelt filter is refused, naming it: ignored, it would list every deal as if it had matched.
        struct Misspelt: Encodable { var confirmation = ["CONFIRMED"] }
        await #expect(throws: ErrorBody(code: 400, message: "malformed request: unknown field confirmation", field: "confirmation")) {
            _ = try await client.request(Misspelt(), to: "deal.query.C1.list", expecting: DealPage.self)
        }
        let rejected = await eventually { (try? await replica.service.store.rejections(client: "C1", dealId: "D1"))?.count == 1 }
        #expect(rejected)
        #expect(try await replica.service.store.rejections(client: "C1", dealId: "D1") == ["unknown leg FAR-XXX"])
        await #expect(throws: ErrorBody.self) {
            _ = try await client.request(DealGet(dealId: "NOPE"), to: "deal.query.C1.get", expecting: DealStatus.self)
        }
        await replica.stop()
    }

    @Test("after nats-server stops or crashes and comes back, events are applied again and the list shows them")
    func serverRestarts() async throws {
        let server = try NatsServer()
        let dir = try scratchDirectory("deals")
        defer { try? FileManager.default.removeItem(at: dir) }
        let replica = try await Replica.start(server, directory: dir)
        var options = ConnectionOptions(servers: [server.url], name: "terminal")
        options.sendAsap = true
        let client = try await NatsConnection.connect(options, logger: Logger(label: "t"))
        let js = JetStream(connection: client)
        func listed() async -> Int { (try? await client.request(DealListQuery(), to: "deal.query.C1.list", expecting: DealPage.self))?.total ?? -1 }
        func reconnected() async -> Bool {
            // Both connections are back, and JetStream has loaded its streams again.
            await eventually(within: .seconds(15)) {
                guard (try? replica.service.connection.flush(timeout: .milliseconds(200))) != nil else { return false }
                return (try? await js.streamInfo(Subjects.Deal.eventsStream)) != nil
            }
        }

        try await publish(js, booked(terms("D1")))
        #expect(await eventually { await listed() == 1 })
        try server.restart()  // SIGTERM: the server tells waiting pulls it is shutting down
        #expect(await reconnected())
        try await publish(js, booked(terms("D2")))
        #expect(await eventually(within: .seconds(30)) { await listed() == 2 })
        server.crash()  // SIGKILL: nothing is told
        try server.restart()
        #expect(await reconnected())
        try await publish(js, booked(terms("D3")))
        #expect(await eventually(within: .seconds(30)) { await listed() == 3 })
        let got = try await client.request(DealGet(dealId: "D3"), to: "deal.query.C1.get", expecting: DealStatus.self)
        #expect(got.version == 1)
        await client.drain()
        await replica.stop()
    }

    @Test("a replica that has not yet seen another replica's version does not reject the next event against its stale state, nor answer requests as if the deal did not exist")
    func staleReplica() async throws {
        let server = try NatsServer()
        let dir = try scratchDirectory("deals")
        defer { try? FileManager.default.removeItem(at: dir) }
        // Replica A books the deal (version 1) and stops; the booking is acknowledged, so the ack floor covers it.
        let a = try await Replica.start(server, directory: dir, name: "a")
        let client = try await NatsConnection.connect(ConnectionOptions(servers: [server.url], name: "feed"), logger: Logger(label: "f"))
        let js = JetStream(connection: client)
        try await publish(js, booked())
        #expect(await eventually {
            guard (try? await a.service.known(client: "C1", dealId: "D1"))??.0.version == 1 else { return false }
            let info = try? await js.consumerInfo(stream: Subjects.Deal.eventsStream, consumer: DealStatusService.consumerName)
            return info?.ackFloor.streamSeq == 1
        })
        await a.stop()
        // Replica B has an empty projection (it never ran) and handles the confirmation that follows.
        let connection = try await NatsConnection.connect(ConnectionOptions(servers: [server.url], name: "b"), logger: Logger(label: "b"))
        let b = try DealStatusService(connection: connection, store: try DealStore(path: dir.appendingPathComponent("b.sqlite").path),
                                      logger: Logger(label: "b"))
        try await publish(js, confirm(.awaiting, 1))
        let batch = try await b.jetStream.pullConsumer(stream: Subjects.Deal.eventsStream, durable: DealStatusService.consumerName)
            .fetch(batch: 1, expires: .seconds(5))
        let message = try #require(batch.first)
        let floor = try await js.consumerInfo(stream: Subjects.Deal.eventsStream, consumer: DealStatusService.consumerName).ackFloor.streamSeq
        #expect(floor == 1 && message.streamSequence == 2)
        #expect(try await b.process(message, horizon: Horizon(batch, ackFloor: floor)))
        // B found version 1 in the stream and built version 2 on it, instead of rejecting "not booked" and losing the event.
        let stored = try #require(try await js.lastMessage(stream: Subjects.Deal.statusStream, subject: Subjects.Deal.storedStatus(client: "C1", deal: "D1")))
        let status = try MessagePackDecoder().decode(DealStatus.self, from: stored.payload)
        #expect(status.version == 2 && status.confirmation == .awaiting)
        #expect(try await b.store.rejections(client: "C1", dealId: "D1").isEmpty)
        // A replica that has loaded nothing yet (scaled out, or restarted with its file gone) answers requests about the
        // deal from the stream, not "no deal".
        let c = try DealStatusService(connection: connection, store: try DealStore(path: dir.appendingPathComponent("c.sqlite").path),
                                      logger: Logger(label: "c"))
        #expect(try await c.known(client: "C1", dealId: "D1") == nil)
        #expect(try await c.current(client: "C1", dealId: "D1")?.version == 2)
        #expect(try await c.current(client: "C1", dealId: "D9") == nil)
        await c.micro.stop()
        await b.micro.stop()
        await connection.drain()
        await client.drain()
    }

    @Test("the list: a swap is found by its far leg's value date, by currency on either side, by when the money arrived; by amount and rate ranges (amounts within their currency, rates as numbers), by account; a deal-number prefix is literal, amounts sort within their currency, malformed days and mixed-currency bounds are refused")
    func listFilters() async throws {
        let running = try await OneReplica.start()
        defer { running.removeFiles() }
        let (replica, client, js) = (running.replica, running.client, running.js)
        // Spot CNY 1,000,000.00; a swap CNY 2,000.00 settling 2024-12-02 and 2025-01-09; spot JPY 5,000,000 (minor 5000000).
        // Rates: A-1 11.2345; A_2 near 11.20, far 11.3000; B%3 0.0650.
        // A-1 settles its CNY to another account than the others.
        var a1 = terms("A-1")
        a1.requisites[0].account = "4080 7156 7000 0000 5555"  // as the back office booked it
        let deals = [a1, terms("A_2", product: .swap, amount: "2000.00", rate: "11.20"), terms("B%3", amount: "5000000", base: "JPY", rate: "0.0650")]
        for t in deals { try await publish(js, booked(t)) }
        // A-1's money arrives at t0 + 1 h (both legs).
        let arrival = t0.addingTimeInterval(3_600)
        for leg in ["NEAR-CNY", "NEAR-RUB"] {
            try await publish(js, DealEvent(eventId: "A-1-\(leg)", client: "C1", dealId: "A-1", kind: .settlement, occurredAt: arrival, legId: leg,
                                            settlement: .settled))
        }
        #expect(await eventually {
            (try? await client.request(DealListQuery(), to: "deal.query.C1.list", expecting: DealPage.self))?.deals.map(\.version).sorted() == [1, 1, 3]
        })
        func ids(_ configure: (inout DealListQuery) throws -> Void) async throws -> [String] {
            var query = DealListQuery()
            try configure(&query)
            return try await client.request(query, to: "deal.query.C1.list", expecting: DealPage.self).deals.map(\.terms.dealId)
        }
        #expect(try await ids { $0.valueDateFrom = "2025-01-09"; $0.valueDateTo = "2025-01-09" } == ["A_2"])
        #expect(try await ids { $0.valueDateFrom = "2025-01-01" } == ["A_2"])
        #expect(try await ids { $0.valueDateTo = "2024-12-02"; $0.sort = .dealId; $0.descending = false } == ["A-1", "A_2", "B%3"])
        // By currency, either side; by when the money arrived.
        #expect(try await ids { $0.currency = "jpy" } == ["B%3"])
        #expect(try await ids { $0.currency = "CNY"; $0.sort = .dealId; $0.descending = false } == ["A-1", "A_2"])
        #expect(try await ids { $0.currency = "RUB" }.count == 3)
        #expect(try await ids { $0.settledFrom = arrival; $0.settledTo = arrival } == ["A-1"])
        #expect(try await ids { $0.settledTo = arrival.addingTimeInterval(-1) } == [])
        // "A_" is the deal number's beginning, not "A and any one character"; "%" is no wildcard.
        #expect(try await ids { $0.dealId = "A_" } == ["A_2"])
        #expect(try await ids { $0.dealId = "%" } == [])
        // By amount: CNY 2,000.00 < CNY 1,000,000.00, each in its currency, not JPY's 5,000,000 units beside CNY's cents.
        #expect(try await ids { $0.sort = .amount; $0.descending = false } == ["A_2", "A-1", "B%3"])
        // By amount range: in the bounds' currency only. JPY 5,000,000 is 5,000,000 minor units, inside CNY 0–60,000.00
        // as a bare number, and must not match.
        let cny = { (text: String) in try Money(parsing: text, currency: "CNY") }
        #expect(try await ids { $0.amountFrom = try cny("0"); $0.amountTo = try cny("60000.00") } == ["A_2"])
        #expect(try await ids { $0.amountFrom = try cny("2000.01") } == ["A-1"])
        #expect(try await ids { $0.amountTo = try Money(parsing: "5000000", currency: "JPY") } == ["B%3"])
        // By rate range, as numbers (11.3 finds the far leg quoted 11.3000), a swap by either leg.
        let rate = { (text: String) in try Rate(parsing: text) }
        #expect(try await ids { $0.rateFrom = try rate("11.3"); $0.rateTo = try rate("11.3") } == ["A_2"])
        #expect(try await ids { $0.rateFrom = try rate("11.21"); $0.rateTo = try rate("11.25") } == ["A-1"])
        #expect(try await ids { $0.rateFrom = try rate("11.2"); $0.rateTo = try rate("11.2") } == ["A_2"])
        #expect(try await ids { $0.rateTo = try rate("1") } == ["B%3"])
        // By account (the requisites column), whole, spaces aside; either currency's.
        #expect(try await ids { $0.account = "40807156700000005555" } == ["A-1"])
        #expect(try await ids { $0.account = "4080\t7156 7000 0000 5555" } == ["A-1"])
        #expect(try await ids { $0.account = "7156" } == [])
        #expect(try await ids { $0.account = "40807156700000001234"; $0.sort = .dealId; $0.descending = false } == ["A_2", "B%3"])
        #expect(try await ids { $0.account = "40702810938000012345" }.count == 3)
        #expect(try await ids { $0.account = "4080715670" } == [])
        await #expect(throws: ErrorBody(code: 400, message: "account must name an account, got \" \"", field: "account")) {
            _ = try await ids { $0.account = " " }
        }
        await #expect(throws: ErrorBody(code: 400, message: "amountFrom and amountTo must name one currency, got CNY and USD", field: "amountTo.currency")) {
            _ = try await ids { $0.amountFrom = try cny("1"); $0.amountTo = try Money(parsing: "5", currency: "USD") }
        }
        await #expect(throws: ErrorBody(code: 422, message: "amountTo names an unknown currency \"QQQ\"", field: "amountTo.currency")) {
            _ = try await ids { $0.amountTo = Money(minor: 5, currency: CurrencyCode(stringLiteral: "QQQ")) }
        }
        await #expect(throws: ErrorBody(code: 400, message: "rateFrom must be a positive rate with at most 18 decimals, got 0.00", field: "rateFrom")) {
            _ = try await ids { $0.rateFrom = Rate(mantissa: 0, scale: 2) }
        }
        await #expect(throws: ErrorBody(code: 400, message: "valueDateFrom must be YYYY-MM-DD and exist, got \"2024-02-30\"", field: "valueDateFrom")) {
            _ = try await ids { $0.valueDateFrom = "2024-02-30" }
        }
        // Paging and codes out of shape are refused, not bent into something else.
        for (limit, offset) in [(0, 0), (501, 0), (-5, 0), (10, -1)] {
            let field = offset < 0 ? "offset" : "limit"
            await #expect(throws: ErrorBody(code: 400, message: offset < 0 ? "offset must be 0 or more, got \(offset)" : "limit must be 1 to 500, got \(limit)",
                                            field: field)) {
                _ = try await ids { $0.limit = limit; $0.offset = offset }
            }
        }
        #expect(try await ids { $0.pair = "cnyrub"; $0.currency = "cny"; $0.limit = 500; $0.sort = .dealId; $0.descending = false } == ["A-1", "A_2"])
        await #expect(throws: ErrorBody(code: 400, message: "currency must be an ISO 4217 code such as USD, got \"US\"", field: "currency")) {
            _ = try await ids { $0.currency = "US" }
        }
        await #expect(throws: ErrorBody(code: 400, message: "pair must be two ISO 4217 codes such as USDRUB, got \"usd/rub\"", field: "pair")) {
            _ = try await ids { $0.pair = "usd/rub" }
        }
        // A value the field does not take is a 400 naming it.
        do {
            _ = try await client.request([0x81, 0xA4] + Array("sort".utf8) + [0xA4] + Array("nope".utf8), to: "deal.query.C1.list")
            Issue.record("an unknown sort was answered")
        } catch BusError.serviceError(let code, _, let body) {
            #expect(code == 400 && (try? MessagePackDecoder().decode(ErrorBody.self, from: body))?.field == "sort")
        }
        // A deal id that is not one token (a wildcard would name other deals' subjects) is refused by get.
        for dealId in [">", "A-1.x", "", "A 1"] {
            await #expect(throws: ErrorBody(code: 400, message: "invalid deal id", field: "dealId")) {
                _ = try await client.request(DealGet(dealId: dealId), to: "deal.query.C1.get", expecting: DealStatus.self)
            }
        }
        await client.drain()
        await replica.stop()
    }

    @Test("a deal's history lists every event with the version it made, or why it changed nothing; who changed the requisites is in it")
    func history() async throws {
        let running = try await OneReplica.start()
        defer { running.removeFiles() }
        let (replica, client, js) = (running.replica, running.client, running.js)
        for event in [booked(), confirm(.awaiting, 1), confirm(.confirmed, 2), confirm(.confirmed, 3), settle("NEAR-RUB", .sent, 4),
                      DealEvent(eventId: "x", client: "C1", dealId: "D1", kind: .cancelled, occurredAt: t0.addingTimeInterval(600))] {
            try await publish(js, event)
        }
        #expect(await eventually { (try? await replica.service.known(client: "C1", dealId: "D1"))??.0.version == 4 })
        let cny = SettlementRequisites(currency: "CNY", account: "40807156700000009999", bic: "ICBKCNBJ")
        let accepted = try await client.request(ChangeRequisites(requestId: "h1", dealId: "D1", requisites: cny, requestedBy: "treasurer"),
                                                to: "deal.cmd.C1.requisites", expecting: CommandAccepted.self)
        #expect(accepted.appliedInVersion == 5)
        #expect(await eventually { (try? await replica.service.store.rejections(client: "C1", dealId: "D1"))?.count == 1 })
        let history = try await client.request(DealHistoryQuery(dealId: "D1"), to: "deal.query.C1.history", expecting: DealHistory.self)
        #expect(history.entries.map(\.event?.kind) == [.booked, .confirmation, .confirmation, .confirmation, .settlement, .cancelled, .requisitesChanged])
        #expect(history.entries.map(\.outcome) == [.applied, .applied, .applied, .notApplied, .applied, .notApplied, .applied])
        #expect(history.entries.map(\.version) == [1, 2, 3, nil, 4, nil, 5])
        #expect(history.entries[3].reason == "ignored: confirmation already CONFIRMED")
        #expect(history.entries[5].reason?.hasPrefix("rejected: leg NEAR-RUB is already SENT") == true)
        #expect(history.entries[6].event?.requisites == [cny] && history.entries[6].event?.reason == "requested by treasurer")
        #expect(history.entries.map(\.eventSequence) == history.entries.map(\.eventSequence).sorted() && !history.truncated)
        await #expect(throws: ErrorBody(code: 404, message: "no deal D9", field: "dealId")) {
            _ = try await client.request(DealHistoryQuery(dealId: "D9"), to: "deal.query.C1.history", expecting: DealHistory.self)
        }
        // A deal with refused events only (never booked), one of them unreadable: its trail says so.
        var early = confirm(.awaiting, 1)
        (early.dealId, early.eventId) = ("D7", "D7-early")
        try await publish(js, early)
        _ = try await js.publish([0xC1], to: "deal.event.C1.D7", msgId: "garbage-D7")
        #expect(await eventually {
            (try? await js.consumerInfo(stream: Subjects.Deal.eventsStream, consumer: DealStatusService.consumerName))?.numAckPending == 0
        })
        let refused = try await client.request(DealHistoryQuery(dealId: "D7"), to: "deal.query.C1.history", expecting: DealHistory.self)
        #expect(refused.entries.map(\.outcome) == [.notApplied, .notApplied])
        #expect(refused.entries[0].reason == "rejected: deal D7 is not booked" && refused.entries[1].event == nil)
        #expect(refused.entries[1].reason?.hasPrefix("rejected: malformed event") == true)

        // Another replica, which handled none of these events (a fresh SQLite file), tells the same trail and reasons.
        await replica.stop()
        let other = try await Replica.start(running.server, directory: running.directory, name: "r2")
        let answered = await eventually {
            (try? await client.request(DealHistoryQuery(dealId: "D1"), to: "deal.query.C1.history", expecting: DealHistory.self)) != nil
        }
        #expect(answered)
        #expect(try await other.service.store.handled(client: "C1", dealId: "D1").isEmpty)
        #expect(try await client.request(DealHistoryQuery(dealId: "D1"), to: "deal.query.C1.history", expecting: DealHistory.self) == history)
        #expect(try await client.request(DealHistoryQuery(dealId: "D7"), to: "deal.query.C1.history", expecting: DealHistory.self) == refused)
        await client.drain()
        await other.stop()
    }

    @Test("a settlement-details change overtaken by another event is checked again: by an unrelated event it goes ahead, by another change of those details it is refused")
    func requisitesOvertaken() async throws {
        let running = try await OneReplica.start()
        defer { running.removeFiles() }
        let (replica, client, js) = (running.replica, running.client, running.js)
        try await publish(js, booked())
        #expect(await eventually { (try? await replica.service.known(client: "C1", dealId: "D1"))??.0.version == 1 })
        // Just before the change is appended, another event of the deal lands first (once).
        func first(_ event: DealEvent) {
            let pending = Mutex<DealEvent?>(event)
            replica.service.beforeRequisitesAppend.withLock { hook in
                hook = { if let event = pending.withLock({ taken in defer { taken = nil }; return taken }) { try await publish(js, event) } }
            }
        }
        first(confirm(.awaiting, 1))
        let cny = SettlementRequisites(currency: "CNY", account: "40807156700000009999", bic: "ICBKCNBJ")
        let accepted = try await client.request(ChangeRequisites(requestId: "after-confirmation", dealId: "D1", requisites: cny),
                                                to: "deal.cmd.C1.requisites", expecting: CommandAccepted.self)
        #expect(accepted.appliedInVersion ?? 3 == 3)  // booked, AWAITING, then the new details (nil: not folded within the answer's wait)
        #expect(await eventually { (try? await replica.service.known(client: "C1", dealId: "D1"))??.0.terms.requisites.contains(cny) == true })
        var other = DealEvent(eventId: "treasury-desk", client: "C1", dealId: "D1", kind: .requisitesChanged, occurredAt: t0)
        other.requisites = [SettlementRequisites(currency: "CNY", account: "40807156700000007777", bic: "ICBKCNBJ")]
        // The same details again for another request, the earlier try landing first: in effect, so accepted.
        var earlierTry = DealEvent(eventId: "earlier-try", client: "C1", dealId: "D1", kind: .requisitesChanged, occurredAt: t0)
        earlierTry.requisites = [cny]
        first(earlierTry)
        let same = try await client.request(ChangeRequisites(requestId: "same-again", dealId: "D1", requisites: cny), to: "deal.cmd.C1.requisites",
                                            expecting: CommandAccepted.self)
        #expect(same.appliedInVersion ?? 3 == 3)
        first(other)
        let again = SettlementRequisites(currency: "CNY", account: "40807156700000008888", bic: "ICBKCNBJ")
        await #expect(throws: ErrorBody.self) {
            do {
                _ = try await client.request(ChangeRequisites(requestId: "overtaken", dealId: "D1", requisites: again), to: "deal.cmd.C1.requisites",
                                             expecting: CommandAccepted.self)
            } catch let error as ErrorBody {
                #expect(error.code == 409 && error.message.hasPrefix("the CNY settlement details of deal D1 were changed meanwhile"))
                throw error
            }
        }
        // The other change stands, not this one.
        #expect(await eventually {
            (try? await replica.service.known(client: "C1", dealId: "D1"))??.0.terms.requisites.contains { $0.account == "40807156700000007777" } == true
        })
        await client.drain()
        await replica.stop()
    }

    @Test("a requisites change that a payment released in the meantime refuses is answered 409, not 'accepted'")
    func requisitesRefusedMeanwhile() async throws {
        let server = try NatsServer()
        let dir = try scratchDirectory("deals")
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try await Replica.start(server, directory: dir, name: "a")
        let feed = try await NatsConnection.connect(ConnectionOptions(servers: [server.url], name: "feed"), logger: Logger(label: "f"))
        let js = JetStream(connection: feed)
        try await publish(js, booked())
        #expect(await eventually { (try? await first.service.known(client: "C1", dealId: "D1"))??.0.version == 1 })
        await first.stop()
        // The CNY payment is sent while no replica processes events: the stream has it, no version shows it yet…
        try await publish(js, settle("NEAR-CNY", .instructed, 1))
        try await publish(js, settle("NEAR-CNY", .sent, 2))
        // …so a replica that answers requests (following DEAL_STATUS, not processing events) takes the change.
        let connection = try await NatsConnection.connect(ConnectionOptions(servers: [server.url], name: "b"), logger: Logger(label: "b"))
        let answering = try DealStatusService(connection: connection, store: try DealStore(path: dir.appendingPathComponent("b.sqlite").path),
                                              logger: Logger(label: "b"))
        let projection = Task { await answering.followStatuses() }
        defer { projection.cancel() }
        #expect(await eventually { (try? await answering.known(client: "C1", dealId: "D1"))??.0.version == 1 })
        let cny = SettlementRequisites(currency: "CNY", account: "40807156700000009999", bic: "ICBKCNBJ")
        let answer = Task { try await answering.changeRequisites(ChangeRequisites(requestId: "late", dealId: "D1", requisites: cny), client: "C1") }
        // Its event lands after the SENT; a replica then processes both, and refuses the change.
        #expect(await eventually { (try? await js.streamInfo(Subjects.Deal.eventsStream))?.state.messages == 4 })
        let second = try await Replica.start(server, directory: dir, name: "a")
        await #expect(throws: ErrorBody(code: 409, message: "the new details did not take effect: leg NEAR-CNY is SENT (event 4 refused)")) {
            _ = try await answer.value
        }
        #expect(await eventually { (try? await second.service.store.rejections(client: "C1", dealId: "D1"))?.count == 1 })
        await answering.micro.stop()
        await connection.drain()
        await second.stop()
        await feed.drain()
    }

    @Test("a projection write SQLite refuses is kept and written once it can be: the list then shows the newest version")
    func refusedWriteIsRetried() async throws {
        let running = try await OneReplica.start()
        defer { running.removeFiles() }
        let (replica, client, js) = (running.replica, running.client, running.js)
        func listed() async -> [Int64] {
            (try? await client.request(DealListQuery(), to: "deal.query.C1.list", expecting: DealPage.self))?.deals.map(\.version) ?? []
        }
        try await publish(js, booked())
        #expect(await eventually { await listed() == [1] })
        // The table goes away (as a full disk or a locked file would refuse writes)…
        try await replica.service.store.store.write { db in try db.execute(sql: "ALTER TABLE deal RENAME TO dealAway") }
        try await publish(js, confirm(.awaiting, 1))
        #expect(await eventually { replica.service.projectionWriteFailures.load(ordering: .relaxed) > 0 })
        #expect((try? await replica.service.known(client: "C1", dealId: "D1"))??.0.version == 2)
        // …and comes back: the version it refused is written, not lost until a restart.
        try await replica.service.store.store.write { db in try db.execute(sql: "ALTER TABLE dealAway RENAME TO deal") }
        #expect(await eventually { await listed() == [2] })
        await client.drain()
        await replica.stop()
    }

    @Test("bad requests get a typed error and change nothing: malformed bytes (400), oversize (413), an unknown field (400), a subject outside the contract (no responders)")
    func badRequests() async throws {
        let running = try await OneReplica.start()
        defer { running.removeFiles() }
        let (replica, client, js) = (running.replica, running.client, running.js)
        try await publish(js, booked())
        #expect(await eventually { (try? await replica.service.store.current(client: "C1", dealId: "D1"))??.0.version == 1 })
        let events = try await js.streamInfo(Subjects.Deal.eventsStream).state.messages
        func code(_ payload: [UInt8], to subject: String) async -> Int? {
            do {
                _ = try await client.request(payload, to: subject, timeout: .seconds(2))
                return nil
            } catch BusError.serviceError(let code, _, let body) {
                #expect((try? MessagePackDecoder().decode(ErrorBody.self, from: body))?.code == code)
                return code
            } catch {
                return -1
            }
        }
        for subject in ["deal.query.C1.list", "deal.query.C1.get", "deal.cmd.C1.requisites"] {
            #expect(await code([0xC1, 0x00], to: subject) == 400, "\(subject): malformed")
            #expect(await code([UInt8](repeating: 0x90, count: 70 * 1024), to: subject) == 413, "\(subject): oversize")
        }
        let typo = try MessagePackEncoder().encode(["requestId": "r1", "dealId": "D1", "requisite": "x"])
        #expect(await code(typo, to: "deal.cmd.C1.requisites") == 400)
        // A request naming another version of its schema is refused, not misread; naming its own is fine.
        let query = try MessagePackEncoder().encode(DealListQuery())
        await #expect(throws: BusError.self) {
            do {
                _ = try await client.request(query, to: "deal.query.C1.list", headers: [Header.schema: "DealListQuery/2"], timeout: .seconds(2))
            } catch BusError.serviceError(let code, let message, _) {
                #expect(code == 400 && message.contains("this endpoint takes DealListQuery/1, not DealListQuery/2"))
                throw BusError.serviceError(code: code, message: message, body: [])
            }
        }
        _ = try await client.request(query, to: "deal.query.C1.list", headers: [Header.schema: DealListQuery.schema], timeout: .seconds(2))
        await #expect(throws: BusError.noResponders(subject: "deal.query.C1.list.all")) {
            _ = try await client.request(try MessagePackEncoder().encode(DealListQuery()), to: "deal.query.C1.list.all", timeout: .seconds(2))
        }
        // Nothing was appended to the deals' log, and the deal is as it was.
        #expect(try await js.streamInfo(Subjects.Deal.eventsStream).state.messages == events)
        #expect(try await replica.service.store.current(client: "C1", dealId: "D1")?.0.version == 1)
        await client.drain()
        await replica.stop()
    }

    @Test("changing requisites is validated (BIC, account), recorded as an event and applied; released legs refuse it; a request id reused for other details is refused")
    func requisites() async throws {
        let running = try await OneReplica.start()
        defer { running.removeFiles() }
        let (replica, client, js) = (running.replica, running.client, running.js)
        try await publish(js, booked())
        try await publish(js, settle("NEAR-RUB", .sent, 1))
        let ready = await eventually { (try? await replica.service.store.current(client: "C1", dealId: "D1"))??.0.version == 2 }
        #expect(ready)

        let cny = SettlementRequisites(currency: "CNY", account: "40807156700000009999", bic: "ICBKCNBJ")
        let command = ChangeRequisites(requestId: "req-1", dealId: "D1", requisites: cny, requestedBy: "treasurer")
        let accepted = try await client.request(command, to: "deal.cmd.C1.requisites", expecting: CommandAccepted.self)
        #expect(!accepted.duplicate)
        // Answered once applied: the version that carries the new details (booked, SENT, then this).
        #expect(accepted.appliedInVersion == 3)
        let again = try await client.request(command, to: "deal.cmd.C1.requisites", expecting: CommandAccepted.self)
        #expect(again.duplicate && again.eventSequence == accepted.eventSequence && again.appliedInVersion == 3)
        let applied = await eventually {
            (try? await replica.service.store.current(client: "C1", dealId: "D1"))??.0.terms.requisites.contains(cny) == true
        }
        #expect(applied)
        // The same request id for another deal is another request, not a retry.
        try await publish(js, booked(terms("D2")))
        #expect(await eventually { (try? await replica.service.store.current(client: "C1", dealId: "D2"))??.0.version == 1 })
        let other = try await client.request(ChangeRequisites(requestId: "req-1", dealId: "D2", requisites: cny), to: "deal.cmd.C1.requisites",
                                             expecting: CommandAccepted.self)
        #expect(!other.duplicate && other.eventSequence > accepted.eventSequence)
        #expect(await eventually {
            (try? await replica.service.store.current(client: "C1", dealId: "D2"))??.0.terms.requisites.contains(cny) == true
        })

        let rub = SettlementRequisites(currency: "RUB", account: "40702810900000000001", bic: "SABRRUMM")
        await #expect(throws: ErrorBody(code: 409, message: "leg NEAR-RUB is SENT; requisites are fixed")) {
            _ = try await client.request(ChangeRequisites(requestId: "req-2", dealId: "D1", requisites: rub), to: "deal.cmd.C1.requisites",
                                         expecting: CommandAccepted.self)
        }
        let usd = SettlementRequisites(currency: "USD", account: "40702840900000000001", bic: "CHASUS33")
        await #expect(throws: ErrorBody(code: 422, message: "deal D1 has no USD leg", field: "requisites.currency")) {
            _ = try await client.request(ChangeRequisites(requestId: "req-3", dealId: "D1", requisites: usd), to: "deal.cmd.C1.requisites",
                                         expecting: CommandAccepted.self)
        }
        // Details a payment cannot use are refused, each naming its field; spaces and case do not matter.
        for (account, bic, field) in [("40807156700000009999", "X", "requisites.bic"), ("40807156700000009999", "ICBK1NBJ", "requisites.bic"),
                                      ("40807156700000009999", "ICBKCNBJ00", "requisites.bic"), ("1", "ICBKCNBJ", "requisites.account"),
                                      ("4080-7156", "ICBKCNBJ", "requisites.account")] {
            let bad = SettlementRequisites(currency: "CNY", account: account, bic: bic)
            await #expect(throws: ErrorBody.self) {
                do {
                    _ = try await client.request(ChangeRequisites(requestId: "bad-\(account)-\(bic)", dealId: "D2", requisites: bad),
                                                 to: "deal.cmd.C1.requisites", expecting: CommandAccepted.self)
                } catch let error as ErrorBody {
                    #expect(error.code == 422 && error.field == field, "\(account) \(bic): \(error)")
                    throw error
                }
            }
        }
        // A request id goes into the event's message id: one token, or 400 (a dot would let ids of two deals meet).
        for requestId in ["a.b", "line\r\nNats-Msg-Id: x", String(repeating: "r", count: 129)] {
            await #expect(throws: ErrorBody.self) {
                do {
                    _ = try await client.request(ChangeRequisites(requestId: requestId, dealId: "D2", requisites: cny), to: "deal.cmd.C1.requisites",
                                                 expecting: CommandAccepted.self)
                } catch let error as ErrorBody {
                    #expect(error.code == 400 && error.field == "requestId")
                    throw error
                }
            }
        }
        let sent = try client.subscribe(to: "deal.event.C1.D2")
        try client.flush()
        let spaced = SettlementRequisites(currency: "CNY", account: "4080 7156 7000 0000 8888", bic: "icbk cnbj")
        let tidy = try await client.request(ChangeRequisites(requestId: "req-4", dealId: "D2", requisites: spaced), to: "deal.cmd.C1.requisites",
                                            expecting: CommandAccepted.self)
        // The change is appended only after the deal's last event as read when it was checked: the same bytes landing
        // later (held while the connection was down, past the dedupe window) are refused, not applied over newer ones.
        var change: BusMessage?
        for try await message in sent { change = message; break }
        let fence = try #require(change?.headers[Header.expectedLastSubjectSequence].flatMap(UInt64.init))
        #expect(fence < tidy.eventSequence)
        do {
            _ = try await js.publish(try #require(change?.payload), to: "deal.event.C1.D2", msgId: "landing-late", expectedLastSubjectSequence: fence)
            Issue.record("a change held back was stored after a newer event")
        } catch BusError.wrongLastSequence {}
        let appliedIn = try #require(tidy.appliedInVersion)
        #expect(await eventually { (try? await replica.service.store.current(client: "C1", dealId: "D2"))??.0.version == appliedIn })
        let d2 = try #require(try await replica.service.store.current(client: "C1", dealId: "D2")?.0)
        #expect(d2.terms.requisites.contains(SettlementRequisites(currency: "CNY", account: "40807156700000008888", bic: "ICBKCNBJ")))
        // A request id used again for other details is not a retry: refused, and nothing changes.
        let reused = SettlementRequisites(currency: "CNY", account: "40807156700000007777", bic: "ICBKCNBJ")
        await #expect(throws: ErrorBody(code: 409, message: "request id req-4 was used for other settlement details (event \(tidy.eventSequence)); send a new request id",
                                        field: "requestId")) {
            _ = try await client.request(ChangeRequisites(requestId: "req-4", dealId: "D2", requisites: reused), to: "deal.cmd.C1.requisites",
                                         expecting: CommandAccepted.self)
        }
        #expect(try await replica.service.store.current(client: "C1", dealId: "D2")?.0.version == d2.version)
        await replica.stop()
    }

    @Test("a terminal that subscribes and then lists, while versions are being stored, sees every deal's newest version")
    func listAfterSubscribe() async throws {
        let server = try NatsServer()
        let dir = try scratchDirectory("deals")
        defer { try? FileManager.default.removeItem(at: dir) }
        // A slow SQLite writer (as under load): the list must still include what the stream stored before it.
        let replica = try await Replica.start(server, directory: dir, projectionWriteInterval: .milliseconds(300))
        let feed = try await NatsConnection.connect(ConnectionOptions(servers: [server.url], name: "feed"), logger: Logger(label: "f"))
        let js = JetStream(connection: feed)
        let terminal = try await NatsConnection.connect(ConnectionOptions(servers: [server.url], name: "terminal"), logger: Logger(label: "t"))
        let live = try terminal.subscribe(to: "deal.status.C1.>")
        try terminal.flush()
        let deals = 100
        for n in 1...deals {
            try await publish(js, booked(terms("D\(n)")))
            try await publish(js, DealEvent(eventId: "c-\(n)", client: "C1", dealId: "D\(n)", kind: .confirmation, occurredAt: t0,
                                            confirmation: .awaiting))
        }
        // The moment the last second version reaches the terminal, it lists — as a terminal starting just then would.
        let deadline = live.unsubscribe(after: .seconds(20))
        var seen: Set<String> = []
        for try await message in live {
            let status = try MessagePackDecoder().decode(DealStatus.self, from: message.payload)
            if status.version == 2 { seen.insert(status.terms.dealId) }
            if seen.count == deals { break }
        }
        deadline.cancel()
        #expect(seen.count == deals)
        var query = DealListQuery()
        query.limit = 500
        let page = try await terminal.request(query, to: "deal.query.C1.list", expecting: DealPage.self)
        #expect(page.total == deals)
        #expect(page.deals.filter { $0.version < 2 }.map(\.terms.dealId) == [])
        await terminal.drain()
        await feed.drain()
        await replica.stop()
    }

    @Test("a replica restarted with its SQLite file deleted rebuilds the same state from JetStream")
    func rebuild() async throws {
        let server = try NatsServer()
        let dir = try scratchDirectory("deals")
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try await Replica.start(server, directory: dir)
        let client = try await NatsConnection.connect(ConnectionOptions(servers: [server.url], name: "feed"), logger: Logger(label: "f"))
        let js = JetStream(connection: client)
        for n in 1...20 {
            try await publish(js, booked(terms("D\(n)")))
            try await publish(js, DealEvent(eventId: "c-\(n)", client: "C1", dealId: "D\(n)", kind: .confirmation, occurredAt: t0,
                                            confirmation: .awaiting))
        }
        #expect(await drained(js))
        var all = DealListQuery()
        all.limit = 100
        let stored = await eventually {
            (try? await first.service.store.list(client: "C1", all))?.deals.filter { $0.version == 2 }.count == 20
        }
        #expect(stored)
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

extension Replica {
    /// Dies without draining: fetched but unacknowledged events go back to the others after the ack wait.
    func kill() async {
        workers.cancel()
        service.connection.close()
        _ = await endpoints.result
        await workers.value
    }
}

/// A realistic lifecycle per deal, interleaved across deals the way a back office emits them.
func lifecycleEvents(deals: Int) -> [DealEvent] {
    var perDeal: [[DealEvent]] = []
    for n in 1...deals {
        let id = "D\(n)"
        let t = terms(id, product: n % 3 == 0 ? .swap : .spot, side: n % 2 == 0 ? .buy : .sell)
        func at(_ s: Int) -> Date { t0.addingTimeInterval(Double(n * 10 + s)) }
        var events = [DealEvent(eventId: "\(id)-b", client: "C1", dealId: id, kind: .booked, occurredAt: at(0), terms: t),
                      DealEvent(eventId: "\(id)-c1", client: "C1", dealId: id, kind: .confirmation, occurredAt: at(1), confirmation: .awaiting)]
        if n % 7 == 0 {
            events.append(DealEvent(eventId: "\(id)-c2", client: "C1", dealId: id, kind: .confirmation, occurredAt: at(2),
                                    confirmation: .mismatched, mismatchedFields: ["rate"]))
        } else {
            events.append(DealEvent(eventId: "\(id)-c2", client: "C1", dealId: id, kind: .confirmation, occurredAt: at(2), confirmation: .confirmed))
        }
        for (i, leg) in ["NEAR-CNY", "NEAR-RUB"].enumerated() {
            for (j, status) in [SettlementStatus.instructed, .sent, n % 11 == 0 && i == 1 ? .failed : .settled].enumerated() {
                events.append(DealEvent(eventId: "\(id)-\(leg)-\(j)", client: "C1", dealId: id, kind: .settlement, occurredAt: at(3 + i * 3 + j),
                                        legId: leg, settlement: status))
            }
        }
        events.append(DealEvent(eventId: "\(id)-late", client: "C1", dealId: id, kind: .settlement, occurredAt: at(9), legId: "NEAR-CNY",
                                settlement: .sent))  // a late duplicate report: absorbed
        perDeal.append(events)
    }
    var interleaved: [DealEvent] = []
    for step in 0..<perDeal[0].count {
        for events in perDeal where step < events.count { interleaved.append(events[step]) }
    }
    return interleaved
}

func publishAll(_ js: JetStream, _ events: [DealEvent]) async throws {
    let batch = js.batch(maxPending: 512)
    for event in events {
        try await batch.publish(try MessagePackEncoder().encode(event), to: "deal.event.\(event.client).\(event.dealId)", msgId: event.eventId)
    }
    let outcome = await batch.complete()
    #expect(outcome.failures.isEmpty)
}

/// Waits until the shared consumer has every event of DEAL_EVENTS acknowledged (all events handled).
func drained(_ js: JetStream, within limit: Duration = .seconds(20)) async -> Bool {
    await eventually(within: limit) {
        guard let info = try? await js.consumerInfo(stream: Subjects.Deal.eventsStream, consumer: DealStatusService.consumerName)
        else { return false }
        return info.numPending == 0 && info.numAckPending == 0
    }
}

/// Every version of every deal stored in DEAL_STATUS, in stream order.
func storedVersions(_ js: JetStream) async throws -> [String: [Int64]] {
    var config = ConsumerConfig()
    config.ackPolicy = .none
    config.ackWait = nil
    config.maxAckPending = nil
    config.maxDeliver = nil
    config.inactiveThreshold = 10_000_000_000
    let info = try await js.ensureConsumer(stream: "DEAL_STATUS", config)
    var versions: [String: [Int64]] = [:]
    let consumer = js.pullConsumer(stream: "DEAL_STATUS", durable: info.name)
    while true {
        let batch = try await consumer.fetch(batch: 500, noWait: true)
        if batch.isEmpty { break }
        for message in batch {
            let status = try MessagePackDecoder().decode(DealStatus.self, from: message.payload)
            versions[message.subject, default: []].append(status.version)
        }
    }
    return versions
}

@Suite("deal-status replicas")
struct DealStatusReplicaTests {
    /// How the second replica goes away a third of the way through.
    enum Leaving: String, CustomTestStringConvertible, CaseIterable {
        /// Its connection is closed under it: what it held comes back after the ack wait (2 s here).
        case killed
        /// Stopped for a deploy: what it held or had on its way goes back to the others long before the ack wait (10
        /// minutes here, far beyond the test's deadline).
        case stopped
        var testDescription: String { rawValue }
    }

    @Test("3 replicas, one leaving mid-stream: same final states as one instance, every version published exactly once",
          arguments: Leaving.allCases)
    func replicas(leaving: Leaving) async throws {
        let deals = Int(ProcessInfo.processInfo.environment["DEAL_REPLICA_DEALS"] ?? "") ?? 1_000
        let events = lifecycleEvents(deals: deals)  // 10 events per deal: 10,000 events
        #expect(events.count == deals * 10)
        var all = DealListQuery()
        all.limit = 500
        all.sort = .dealId

        // Reference: one instance.
        let single = try NatsServer()
        let singleDir = try scratchDirectory("deals")
        defer { try? FileManager.default.removeItem(at: singleDir) }
        let only = try await Replica.start(single, directory: singleDir, name: "only")
        let singleFeed = JetStream(connection: try await NatsConnection.connect(ConnectionOptions(servers: [single.url]), logger: Logger(label: "f")))
        try await publishAll(singleFeed, events)
        #expect(await drained(singleFeed, within: .seconds(120)))
        let reference = try #require(await projected(only.service, deals: deals, events: events))
        await only.stop()

        // Three replicas; the second leaves a third of the way through.
        let server = try NatsServer()
        let dir = try scratchDirectory("deals")
        defer { try? FileManager.default.removeItem(at: dir) }
        var replicas: [Replica] = []
        let ackWait: Duration = leaving == .killed ? .seconds(2) : .seconds(600)
        for name in ["r1", "r2", "r3"] {
            replicas.append(try await Replica.start(server, directory: dir, name: name, ackWait: ackWait))
        }
        let feed = JetStream(connection: try await NatsConnection.connect(ConnectionOptions(servers: [server.url]), logger: Logger(label: "f")))
        try await publishAll(feed, Array(events[..<(events.count * 3 / 10)]))
        // It leaves while the rest are published, so that events are on their way to it.
        let rest = Task { try await publishAll(feed, Array(events[(events.count * 3 / 10)...])) }
        #expect(await eventually { (try? await feed.streamInfo(Subjects.Deal.eventsStream).state.messages) ?? 0 >= UInt64(events.count * 4 / 10) })
        switch leaving {
        case .killed: await replicas[1].kill()
        case .stopped: await replicas[1].stop()
        }
        try await rest.value
        let survivors = [replicas[0], replicas[2]]
        for replica in survivors {
            let caughtUp = await eventually(within: .seconds(120)) {
                (try? await fullState(replica.service.store, settled: events)) == reference
            }
            #expect(caughtUp)
            if !caughtUp {
                let state = try await fullState(replica.service.store, settled: events)
                let differing = zip(state, reference).filter { $0 != $1 }
                    .map { "\($0.terms.dealId) v\($0.version)@\($0.lastEventSequence) vs v\($1.version)@\($1.lastEventSequence)" }
                Issue.record("\(state.count) deals vs \(reference.count); \(differing.count) differ: \(differing.prefix(5))")
            }
        }
        let versions = try await storedVersions(feed)
        #expect(versions.count == deals)
        let gapsOrRepeats = versions.filter { _, seen in seen != Array(1...Int64(seen.count)) }
        #expect(gapsOrRepeats.isEmpty, "versions not 1…n: \(gapsOrRepeats.prefix(3))")
        for replica in survivors { await replica.stop() }
    }
}

/// The replica's SQLite state once it has caught up with what the replica knows (its projection is written behind).
func projected(_ service: DealStatusService, deals: Int, events: [DealEvent]) async -> [DealStatus]? {
    let caughtUp = await eventually(within: .seconds(60)) {
        guard let state = try? await fullState(service.store, settled: events), state.count == deals else { return false }
        for deal in state {
            guard let known = try? await service.known(client: "C1", dealId: deal.terms.dealId), known.0.version == deal.version
            else { return false }
        }
        return true
    }
    return caughtUp ? try? await fullState(service.store, settled: events) : nil
}

/// All deals of C1 in deal-id order, page by page.
func fullState(_ store: DealStore, settled events: [DealEvent]) async throws -> [DealStatus] {
    var query = DealListQuery()
    query.limit = 500
    query.sort = .dealId
    query.descending = false
    var deals: [DealStatus] = []
    while true {
        query.offset = deals.count
        let page = try await store.list(client: "C1", query)
        deals += page.deals
        if page.deals.isEmpty || deals.count >= page.total { return deals }
    }
}

@Suite("deal-status's SQLite store")
struct DealStoreMigrationTests {
    @Test("a store made before the far value date, settlement time and rate columns gets them filled from its snapshots")
    func backfill() async throws {
        let dir = try scratchDirectory("deals")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("old.sqlite").path
        // A swap, and a spot whose money arrived at t0 + 1 h, stored by today's code…
        var swap = try #require(run([booked(terms("S1", product: .swap))]).0)
        swap.version = 1
        var spot = try #require(run([booked(terms("P1")), settle("NEAR-CNY", .settled, 60), settle("NEAR-RUB", .settled, 60)]).0)
        spot.terms.dealId = "P1"
        #expect(spot.settledAt == t0.addingTimeInterval(3_600))
        do {
            let store = try DealStore(path: path)
            #expect(try await store.upsert(swap, statusSequence: 1))
            #expect(try await store.upsert(spot, statusSequence: 2))
            // …then taken back to the layout before those columns (as a file from an older release would be).
            try await store.store.write { db in
                for column in ["farValueDate", "settledAt", "rateKey", "farRateKey", "accounts"] {
                    try db.execute(sql: "ALTER TABLE deal DROP COLUMN \(column)")
                }
                try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier IN ('v2-far-value-date', 'v3-settled-at', 'v4-rate-keys', 'v5-accounts')")
            }
        }
        let reopened = try DealStore(path: path)
        let filled = try await reopened.store.read { db in
            try Row.fetchAll(db, sql: "SELECT dealId, farValueDate, settledAt FROM deal ORDER BY dealId").map {
                [$0["dealId"] as String, ($0["farValueDate"] as String?) ?? "-", ($0["settledAt"] as Double?).map { "\($0)" } ?? "-"]
            }
        }
        #expect(filled == [["P1", "-", "\(t0.addingTimeInterval(3_600).timeIntervalSince1970)"], ["S1", "2025-01-09", "-"]])
        var settled = DealListQuery()
        settled.settledFrom = t0
        #expect(try await reopened.list(client: "C1", settled).deals.map(\.terms.dealId) == ["P1"])
        // Both are booked at 11.2345; the swap's far leg is at 11.3000, so a range around it finds the swap alone.
        var far = DealListQuery()
        far.rateFrom = try Rate(parsing: "11.3")
        far.rateTo = try Rate(parsing: "11.3")
        #expect(try await reopened.list(client: "C1", far).deals.map(\.terms.dealId) == ["S1"])
        var near = DealListQuery()
        near.rateTo = try Rate(parsing: "11.2345")
        near.sort = .dealId
        #expect(try await reopened.list(client: "C1", near).deals.map(\.terms.dealId) == ["S1", "P1"])
        var account = DealListQuery()
        account.account = "40702810938000012345"
        #expect(try await reopened.list(client: "C1", account).total == 2)
    }
}
