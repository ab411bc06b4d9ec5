import Bus
import Foundation
import Logging
import Messages
import ServiceKit
import Testing
import TestSupport
import Wire

@testable import DealStatus
@testable import Netting

/// One in-process service instance with its own connection and SQLite file, which can be stopped or killed.
struct Instance {
    let connection: NatsConnection
    let workers: Task<Void, Never>
    let endpoints: Task<Void, any Error>
    let micro: MicroService
    let netting: NettingService?

    static func dealStatus(_ url: String, _ dir: URL, _ name: String) async throws -> Instance {
        let connection = try await connectFast(url, name)
        try await DealStatusService.ensureStreams(JetStream(connection: connection), ackWait: .seconds(2))
        let service = try DealStatusService(connection: connection, store: try DealStore(path: dir.appendingPathComponent("\(name).sqlite").path),
                                            logger: Logger(label: name))
        return Instance(connection: connection, workers: Task { await service.runWorkers() }, endpoints: Task { try await service.micro.run() },
                        micro: service.micro, netting: nil)
    }

    static func netting(_ url: String, _ dir: URL, _ name: String, ackWait: Duration = .seconds(2)) async throws -> Instance {
        let connection = try await connectFast(url, name)
        try await NettingService.ensureStreams(JetStream(connection: connection), logger: Logger(label: name), ackWait: ackWait)
        let service = try NettingService(connection: connection, store: try NettingStore(path: dir.appendingPathComponent("\(name).sqlite").path),
                                         logger: Logger(label: name))
        return Instance(connection: connection, workers: Task { await service.runWorkers() }, endpoints: Task { try await service.micro.run() },
                        micro: service.micro, netting: service)
    }

    static func connectFast(_ url: String, _ name: String) async throws -> NatsConnection {
        var options = ConnectionOptions(servers: [url], name: name)
        options.sendAsap = true
        return try await NatsConnection.connect(options, logger: Logger(label: name))
    }

    /// Dies without draining: what it fetched and did not acknowledge goes to the others after the ack wait.
    func kill() async {
        workers.cancel()
        connection.close()
        _ = await endpoints.result
        await workers.value
    }

    func stop() async {
        workers.cancel()
        await micro.stop()
        _ = await endpoints.result
        await workers.value
        await connection.drain()
    }
}

/// Deals of `clients` clients over three value dates: most confirmed (nettable), some paid out, some amended after
/// confirmation (some of them to another value date), some cancelled. About 3.7 events a deal.
func nettingLifecycle(deals: Int, clients: Int = 1) -> [DealEvent] {
    let dates = ["2024-12-02", "2024-12-03", "2024-12-04"]
    var perDeal: [[DealEvent]] = []
    for n in 1...deals {
        let id = "N\(n)"
        let client = "C\(n % clients + 1)"
        let base: CurrencyCode = ["CNY", "USD", "EUR"][n % 3]
        var terms = DealTerms(client: client, dealId: id, tradeTime: tradeTime, channel: .web, product: .spot, side: n % 2 == 0 ? .buy : .sell,
                              baseCurrency: base, quoteCurrency: "RUB", amount: Money(minor: Int64(100_000 + n * 137), currency: base),
                              rate: Rate(mantissa: Int64(112_345 + n), scale: 4), valueDate: dates[n % 3],
                              requisites: [SettlementRequisites(currency: base, account: "A-\(base)", bic: "B"),
                                           SettlementRequisites(currency: "RUB", account: "A-RUB", bic: "B")])
        func event(_ suffix: String, _ kind: DealEventKind, _ fill: (inout DealEvent) -> Void = { _ in }) -> DealEvent {
            var e = DealEvent(eventId: "\(id)-\(suffix)", client: client, dealId: id, kind: kind, occurredAt: tradeTime)
            fill(&e)
            return e
        }
        var events = [event("b", .booked) { $0.terms = terms }, event("a", .confirmation) { $0.confirmation = .awaiting },
                      event("c", .confirmation) { $0.confirmation = .confirmed }]
        if n % 5 == 0 {  // amended after confirmation: out of the set until confirmed again
            terms.rate = Rate(mantissa: terms.rate.mantissa + 10, scale: 4)
            let amended = terms
            events.append(event("m", .amended) { $0.terms = amended })
            if n % 10 == 0 { events.append(event("c2", .confirmation) { $0.confirmation = .confirmed }) }
        } else if n % 7 == 0 {  // paid out: released legs leave the set
            events.append(event("i", .settlement) { $0.legId = "NEAR-\(base.rawValue)"; $0.settlement = .instructed })
            events.append(event("s", .settlement) { $0.legId = "NEAR-\(base.rawValue)"; $0.settlement = .sent })
        } else if n % 11 == 0 {
            events.append(event("x", .cancelled))
        } else if n % 13 == 0 {  // moved to the next value date after confirmation, and confirmed there
            terms.valueDate = dates[(n + 1) % 3]
            let moved = terms
            events.append(event("v", .amended) { $0.terms = moved })
            events.append(event("c3", .confirmation) { $0.confirmation = .confirmed })
        }
        perDeal.append(events)
    }
    var interleaved: [DealEvent] = []
    for step in 0..<6 { for events in perDeal where step < events.count { interleaved.append(events[step]) } }
    return interleaved
}

/// What happens to the plain confirmed deals of `nettingLifecycle` after their sets are closed: some get new RUB
/// details (they leave the net), some get new RUB details and then the old ones again (they leave too), some pay their
/// base currency in the net and then get new RUB details (that payment alone leaves), some are cancelled.
func afterClose(deals: Int, clients: Int = 1) -> [DealEvent] {
    var perDeal: [[DealEvent]] = []
    for n in 1...deals where n % 5 != 0 && n % 7 != 0 && n % 11 != 0 && n % 13 != 0 {
        let (id, client) = ("N\(n)", "C\(n % clients + 1)")
        let base = ["CNY", "USD", "EUR"][n % 3]
        func event(_ suffix: String, _ kind: DealEventKind, _ fill: (inout DealEvent) -> Void = { _ in }) -> DealEvent {
            var e = DealEvent(eventId: "\(id)-after-\(suffix)", client: client, dealId: id, kind: kind, occurredAt: tradeTime.addingTimeInterval(3_600))
            fill(&e)
            return e
        }
        let newRub = event("rub", .requisitesChanged) { $0.requisites = [SettlementRequisites(currency: "RUB", account: "A-RUB-2", bic: "B")] }
        if n % 4 == 0 {
            perDeal.append([event("i", .settlement) { $0.legId = "NEAR-\(base)"; $0.settlement = .instructed },
                            event("s", .settlement) { $0.legId = "NEAR-\(base)"; $0.settlement = .sent }, newRub])
        } else if n % 4 == 1 {
            perDeal.append([newRub])
        } else if n % 4 == 3 {  // and back: the deal still leaves the net (a replica handed the last version reads the one between)
            perDeal.append([newRub, event("rub-back", .requisitesChanged) { $0.requisites = [SettlementRequisites(currency: "RUB", account: "A-RUB", bic: "B")] }])
        } else if n % 17 == 2 {
            perDeal.append([event("x", .cancelled)])
        }
    }
    var interleaved: [DealEvent] = []
    for step in 0..<3 { for events in perDeal where step < events.count { interleaved.append(events[step]) } }
    return interleaved
}

/// What a client sees of a set, without its version (replicas may number a set's intermediate states differently).
struct SetContent: Equatable {
    var state: NettingState
    var deals: [NettingDeal]
    var net: [NetLine]
    var agreedNet: [NetLine]?
    var gross: Int
    var netPayments: Int
    /// Who left after the close, and why (not when).
    var departures: [String]

    init(_ set: NettingSet) {
        state = set.state
        deals = set.deals.map { var d = $0; d.dealVersion = 0; return d }
        net = set.net
        agreedNet = set.agreedNet
        gross = set.grossPayments
        netPayments = set.netPayments
        departures = (set.leftAfterClose ?? []).map { "\($0.dealId): \($0.reason)" }.sorted()
    }
}

func sets(_ service: NettingService, clients: Int = 1) async -> [String: SetContent] {
    var result: [String: SetContent] = [:]
    for client in (1...clients).map({ "C\($0)" }) {
        for date in ["2024-12-02", "2024-12-03", "2024-12-04"] {
            if let set = try? await service.known(client: client, valueDate: date)?.0 { result["\(client).\(date)"] = SetContent(set) }
        }
    }
    return result
}

/// The versions of every set stored in NETTING_STATUS, in order.
func storedSetVersions(_ js: JetStream) async throws -> [String: [Int64]] {
    var versions: [String: [Int64]] = [:]
    for message in try await js.readAll(stream: Subjects.Netting.statusStream, subject: Subjects.Netting.allStoredStatuses) {
        versions[message.subject, default: []].append(try MessagePackDecoder().decode(NettingSet.self, from: message.payload).version)
    }
    return versions
}

func consumerDrained(_ js: JetStream, stream: String, consumer: String) async -> Bool {
    await eventually(within: .seconds(60)) {
        guard let info = try? await js.consumerInfo(stream: stream, consumer: consumer) else { return false }
        return info.numPending == 0 && info.numAckPending == 0
    }
}

@Suite("netting and deal-status replicas")
struct NettingReplicaTests {
    @Test("3 deal-status and 2 netting instances, one of each killed while 10,000 events flow, then the sets closed and deals changed after: the sets equal a single-instance run")
    func replicas() async throws {
        let deals = Int(ProcessInfo.processInfo.environment["NETTING_REPLICA_DEALS"] ?? "") ?? 2_800
        let clients = 8
        let events = nettingLifecycle(deals: deals, clients: clients)
        #expect(deals != 2_800 || events.count >= 10_000)
        let dir = try scratchDirectory("netting-replicas")
        defer { try? FileManager.default.removeItem(at: dir) }

        func run(dealStatus: Int, netting: Int, kill: Bool, expecting reference: [String: SetContent]?) async throws
            -> ([String: SetContent], [String: [Int64]])
        {
            let server = try NatsServer()
            let tag = "\(dealStatus)x\(netting)"
            var dealInstances: [Instance] = []
            var nettingInstances: [Instance] = []
            for i in 1...dealStatus { dealInstances.append(try await Instance.dealStatus(server.url, dir, "ds-\(tag)-\(i)")) }
            for i in 1...netting { nettingInstances.append(try await Instance.netting(server.url, dir, "nt-\(tag)-\(i)")) }
            let feed = JetStream(connection: try await Instance.connectFast(server.url, "feed-\(tag)"))
            let cut = kill ? events.count / 3 : events.count
            try await publishBatch(feed, Array(events[..<cut]))
            if kill {
                await dealInstances.removeLast().kill()
                await nettingInstances.removeLast().kill()
                try await publishBatch(feed, Array(events[cut...]))
            }
            #expect(await consumerDrained(feed, stream: Subjects.Deal.eventsStream, consumer: DealStatusService.consumerName))
            #expect(await consumerDrained(feed, stream: Subjects.Deal.statusStream, consumer: NettingService.consumerName))
            // Every set is closed at the version it stands at, a fresh netting instance joins (rebuilding its copy),
            // and deals change after the close.
            if kill { nettingInstances.append(try await Instance.netting(server.url, dir, "nt-\(tag)-3")) }
            for client in (1...clients).map({ "C\($0)" }) {
                for date in ["2024-12-02", "2024-12-03", "2024-12-04"] {
                    let preview = try await feed.connection.request(NettingPreview(valueDate: date), to: "netting.cmd.\(client).preview",
                                                                    expecting: NettingSummary.self)
                    _ = try await feed.connection.request(NettingClose(valueDate: date, expectedVersion: preview.version, closedBy: "treasurer"),
                                                           to: "netting.cmd.\(client).close", expecting: NettingSummary.self)
                }
            }
            try await publishBatch(feed, afterClose(deals: deals, clients: clients))
            #expect(await consumerDrained(feed, stream: Subjects.Deal.eventsStream, consumer: DealStatusService.consumerName))
            #expect(await consumerDrained(feed, stream: Subjects.Deal.statusStream, consumer: NettingService.consumerName))
            let survivor = try #require(nettingInstances.first?.netting)
            if let reference {
                // The other replica's last versions reach this one's copy through the projection.
                #expect(await eventually(within: .seconds(20)) { await sets(survivor, clients: clients) == reference })
                // So does the instance that joined after the kill, its copy rebuilt from NETTING_STATUS.
                if kill, let joined = nettingInstances.last?.netting {
                    #expect(await eventually(within: .seconds(20)) { await sets(joined, clients: clients) == reference })
                }
            }
            let final = await sets(survivor, clients: clients)
            let versions = try await storedSetVersions(feed)
            for instance in dealInstances + nettingInstances { await instance.stop() }
            await feed.connection.drain()
            return (final, versions)
        }

        let (reference, _) = try await run(dealStatus: 1, netting: 1, kill: false, expecting: nil)
        #expect(reference.count == 3 * clients)
        #expect(reference.values.allSatisfy { $0.netPayments > 0 && $0.deals.contains { !$0.included } })
        // Deals moved to another date are out of their old set and netted on the new one.
        #expect(reference.values.contains { $0.deals.contains { $0.movedAway == true } })
        // After the close: sets closed, deals left the net (new details, cancelled), and single payments left it.
        #expect(reference.values.allSatisfy { $0.state == .closed && $0.agreedNet != nil })
        #expect(reference.values.contains { set in set.departures.contains { $0.hasSuffix("settlement details changed after close") } })
        #expect(reference.values.contains { set in set.departures.contains { $0.hasSuffix("cancelled after close") } })
        #expect(reference.values.contains { set in set.deals.contains { $0.grossLegs == ["NEAR-RUB"] && $0.included } })
        let (replicated, versions) = try await run(dealStatus: 3, netting: 2, kill: true, expecting: reference)
        #expect(replicated == reference)
        #expect(versions.count == 3 * clients)
        // NETTING_STATUS keeps the last 16 versions per set: they follow one another with no gap or repeat.
        #expect(versions.allSatisfy { _, seen in zip(seen, seen.dropFirst()).allSatisfy { $1 == $0 + 1 } }, "set versions skipped or repeated")
    }
}

func publishBatch(_ js: JetStream, _ events: [DealEvent]) async throws {
    let batch = js.batch(maxPending: 512)
    for event in events {
        try await batch.publish(try MessagePackEncoder().encode(event), to: "deal.event.\(event.client).\(event.dealId)", msgId: event.eventId)
    }
    #expect(await batch.complete().failures.isEmpty)
}

@Suite("netting rebuild")
struct NettingRebuildTests {
    @Test("a netting instance restarted with its SQLite file deleted serves the same sets, taken from NETTING_STATUS; it previews them before its copy is rebuilt, and a deal moved to another date meanwhile leaves its old set")
    func rebuild() async throws {
        let server = try NatsServer()
        let dir = try scratchDirectory("netting-rebuild")
        defer { try? FileManager.default.removeItem(at: dir) }
        let dealStatus = try await Instance.dealStatus(server.url, dir, "ds")
        let first = try await Instance.netting(server.url, dir, "nt")
        let feed = JetStream(connection: try await Instance.connectFast(server.url, "feed"))
        try await publishBatch(feed, nettingLifecycle(deals: 60))
        // Every event made its statuses, then every status reached the sets.
        #expect(await consumerDrained(feed, stream: Subjects.Deal.eventsStream, consumer: DealStatusService.consumerName))
        #expect(await consumerDrained(feed, stream: Subjects.Deal.statusStream, consumer: NettingService.consumerName))
        let before = await sets(try #require(first.netting))
        #expect(before.count == 3)
        let (oldDate, newDate) = ("2024-12-02", "2024-12-03")
        let previewed = try #require(try await first.netting?.known(client: "C1", valueDate: oldDate)?.0)
        await first.stop()
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: dir.appendingPathComponent("nt.sqlite\(suffix)").path) }

        // A replica whose copy is empty (its projection not run at all) previews the set as the stream holds it.
        let cold = try NettingService(connection: try await Instance.connectFast(server.url, "cold"),
                                      store: try NettingStore(path: dir.appendingPathComponent("cold.sqlite").path), logger: Logger(label: "cold"))
        let summary = try MessagePackDecoder().decode(NettingSummary.self, from: try await cold.preview(client: "C1", valueDate: oldDate).bytes)
        #expect(summary == NettingSummary(previewed) && summary.version > 0)
        await cold.connection.drain()

        // While no netting instance runs, a deal netted on the old date is amended to the next one and confirmed there.
        let movedId = try #require(previewed.deals.first { $0.included }?.dealId)
        let booked = try #require(nettingLifecycle(deals: 60).first { $0.dealId == movedId && $0.kind == .booked }?.terms)
        var moved = booked
        moved.valueDate = newDate
        try await publishBatch(feed, [DealEvent(eventId: "\(movedId)-moved", client: "C1", dealId: movedId, kind: .amended, occurredAt: tradeTime, terms: moved),
                                      DealEvent(eventId: "\(movedId)-reconfirmed", client: "C1", dealId: movedId, kind: .confirmation, occurredAt: tradeTime,
                                                confirmation: .confirmed)])
        let second = try await Instance.netting(server.url, dir, "nt")
        let service = try #require(second.netting)
        #expect(await consumerDrained(feed, stream: Subjects.Deal.statusStream, consumer: NettingService.consumerName))
        // Which sets the deal was in is read from the rebuilt copy: the old set lets it go, the new one nets it.
        #expect(await eventually {
            let old = try? await service.known(client: "C1", valueDate: oldDate)?.0.deals.first { $0.dealId == movedId }
            let new = try? await service.known(client: "C1", valueDate: newDate)?.0.deals.first { $0.dealId == movedId }
            return old?.movedAway == true && old?.included == false && new?.included == true
        })
        var expected = before
        expected.removeValue(forKey: "C1.\(oldDate)")
        expected.removeValue(forKey: "C1.\(newDate)")
        #expect(await eventually { await sets(service).filter { expected[$0.key] != nil } == expected })
        // The rebuilt copy is in SQLite too, not only in memory.
        let stored = try await service.store.current(client: "C1", valueDate: "2024-12-02")
        #expect(stored.map { SetContent($0.0) } == (await sets(service))["C1.2024-12-02"])
        await second.stop()
        await dealStatus.stop()
        await feed.connection.drain()
    }

    @Test("deal statuses wait for a rebuilding replica's copy of the sets: a deal moved to another date while it was down leaves its old set")
    func statusesWaitForTheCopy() async throws {
        let server = try NatsServer()
        let dir = try scratchDirectory("netting-wait")
        defer { try? FileManager.default.removeItem(at: dir) }
        let dealStatus = try await Instance.dealStatus(server.url, dir, "ds")
        let first = try await Instance.netting(server.url, dir, "nt")
        let feed = JetStream(connection: try await Instance.connectFast(server.url, "feed"))
        let events = nettingLifecycle(deals: 30)
        try await publishBatch(feed, events)
        #expect(await consumerDrained(feed, stream: Subjects.Deal.eventsStream, consumer: DealStatusService.consumerName))
        #expect(await consumerDrained(feed, stream: Subjects.Deal.statusStream, consumer: NettingService.consumerName))
        let oldDate = "2024-12-02"
        let movedId = try #require(try await first.netting?.known(client: "C1", valueDate: oldDate)?.0.deals.first { $0.included }?.dealId)
        await first.stop()
        var moved = try #require(events.first { $0.dealId == movedId && $0.kind == .booked }?.terms)
        moved.valueDate = "2024-12-03"
        try await publishBatch(feed, [DealEvent(eventId: "moved", client: "C1", dealId: movedId, kind: .amended, occurredAt: tradeTime, terms: moved)])
        #expect(await consumerDrained(feed, stream: Subjects.Deal.eventsStream, consumer: DealStatusService.consumerName))

        // A new replica with an empty file whose copy of the sets is not loaded yet: its status processing runs first
        // and takes the deal's new status from the consumer…
        let connection = try await Instance.connectFast(server.url, "nt2")
        let service = try NettingService(connection: connection, store: try NettingStore(path: dir.appendingPathComponent("nt2.sqlite").path),
                                         logger: Logger(label: "nt2"))
        let processing = Task { await service.processStatuses() }
        #expect(await eventually {
            (try? await feed.consumerInfo(stream: Subjects.Deal.statusStream, consumer: NettingService.consumerName))?.numPending == 0
        })
        // …and only then does the copy load. Applied at once, the status would have found the deal in no set.
        let projection = Task { await service.followSets() }
        #expect(await eventually {
            let old = try? await service.known(client: "C1", valueDate: oldDate)?.0.deals.first { $0.dealId == movedId }
            return old?.movedAway == true && old?.included == false
        })
        processing.cancel()
        projection.cancel()
        _ = await (processing.value, projection.value)
        await connection.drain()
        await dealStatus.stop()
        await feed.connection.drain()
    }
}

@Suite("netting replicas share a deal's versions")
struct NettingVersionGapTests {
    @Test("a replica handed only the last of a deal's versions after the close applies those between, as one instance would: new settlement details and back still take the deal out of the agreed net")
    func versionsBetweenAreApplied() async throws {
        let server = try NatsServer()
        let dir = try scratchDirectory("netting-gap")
        defer { try? FileManager.default.removeItem(at: dir) }
        let dealStatus = try await Instance.dealStatus(server.url, dir, "ds")
        // Statuses taken from the consumer stay with whoever took them for the test's length: none is handed on early.
        let first = try await Instance.netting(server.url, dir, "nt", ackWait: .seconds(120))
        let feed = try await Instance.connectFast(server.url, "feed")
        let js = JetStream(connection: feed)
        try await publishBatch(js, nettingLifecycle(deals: 6))
        #expect(await consumerDrained(js, stream: Subjects.Deal.eventsStream, consumer: DealStatusService.consumerName))
        #expect(await consumerDrained(js, stream: Subjects.Deal.statusStream, consumer: NettingService.consumerName))
        let date = "2024-12-03"  // N1 and N4, both netted
        let open = try await feed.request(NettingPreview(valueDate: date), to: "netting.cmd.C1.preview", expecting: NettingSummary.self)
        #expect(open.dealsIn == ["N1", "N4"])
        let closed = try await feed.request(NettingClose(valueDate: date, expectedVersion: open.version, closedBy: "treasurer"),
                                            to: "netting.cmd.C1.close", expecting: NettingSummary.self)
        #expect(closed.state == .closed)
        await first.stop()

        // N1's ruble details change and change back: two versions. Another replica holds the first (still busy with
        // it); the second goes to a new replica.
        func details(_ account: String, _ suffix: String) -> DealEvent {
            var event = DealEvent(eventId: "N1-rub-\(suffix)", client: "C1", dealId: "N1", kind: .requisitesChanged, occurredAt: tradeTime.addingTimeInterval(60))
            event.requisites = [SettlementRequisites(currency: "RUB", account: account, bic: "B")]
            return event
        }
        try await publishBatch(js, [details("A-RUB-2", "changed"), details("A-RUB", "back")])
        #expect(await consumerDrained(js, stream: Subjects.Deal.eventsStream, consumer: DealStatusService.consumerName))
        let held = try await js.pullConsumer(stream: Subjects.Deal.statusStream, durable: NettingService.consumerName).fetch(batch: 10)
        let versions = try held.map { try MessagePackDecoder().decode(DealStatus.self, from: $0.payload) }
        try #require(versions.map(\.version) == [4, 5] && versions.map(\.terms.dealId) == ["N1", "N1"])
        #expect(versions[0].terms.requisites.contains { $0.account == "A-RUB-2" } && versions[1].terms.requisites.contains { $0.account == "A-RUB" })
        let second = try await Instance.netting(server.url, dir, "nt2", ackWait: .seconds(120))
        try held[1].nak()

        let left = await eventually {
            let set = try? await second.netting?.known(client: "C1", valueDate: date)?.0
            return set?.leftAfterClose?.map(\.dealId) == ["N1"]
        }
        #expect(left)
        #expect(await eventually {  // the second acknowledged; the first still held here, never handed to the new replica
            (try? await js.consumerInfo(stream: Subjects.Deal.statusStream, consumer: NettingService.consumerName))?.numAckPending == 1
        })
        try held[0].ack()  // the other replica, done: N1 is already past that version
        #expect(await consumerDrained(js, stream: Subjects.Deal.statusStream, consumer: NettingService.consumerName))
        let after = try await feed.request(NettingPreview(valueDate: date), to: "netting.cmd.C1.preview", expecting: NettingSummary.self)
        #expect(after.dealsIn == ["N4"])
        #expect(after.dealsOut.first { $0.dealId == "N1" }?.reason == "left after close (settlement details changed after close); settles gross")
        #expect(after.leftAfterClose?.map(\.reason) == ["settlement details changed after close"])
        await second.stop()
        await dealStatus.stop()
        await feed.drain()
    }
}

@Suite("netting holds back only what a failing set touches")
struct NettingClientIsolationTests {
    @Test("a set that cannot be published holds back only the statuses of its deals: a deal moving from it to another date is netted there, other clients go on")
    func oneSetFailing() async throws {
        let server = try NatsServer()
        let dir = try scratchDirectory("netting-isolation")
        defer { try? FileManager.default.removeItem(at: dir) }
        let dealStatus = try await Instance.dealStatus(server.url, dir, "ds")
        let netting = try await Instance.netting(server.url, dir, "nt")
        let feed = try await Instance.connectFast(server.url, "feed")
        let js = JetStream(connection: feed)
        let events = nettingLifecycle(deals: 4, clients: 2)  // N1 C2 12-03, N2 C1 12-04, N3 C2 12-02, N4 C1 12-03
        try await publishBatch(js, events)
        func netted(_ client: String, _ date: String) async -> [String]? {
            try? await feed.request(NettingPreview(valueDate: date), to: "netting.cmd.\(client).preview", expecting: NettingSummary.self).dealsIn
        }
        #expect(await eventually(within: .seconds(20)) { await netted("C2", "2024-12-03") == ["N1"] })
        // C2's set for 2024-12-03 now ends in a message no replica can read: every change to it fails. N1 moves to
        // 2024-12-04 and is confirmed there; its statuses touch both dates.
        _ = try await js.publish([0xC1], to: Subjects.Netting.storedStatus(client: "C2", set: "2024-12-03"), msgId: "junk")
        var moved = try #require(events.first { $0.dealId == "N1" && $0.kind == .booked }?.terms)
        moved.valueDate = "2024-12-04"
        try await publishBatch(js, [
            DealEvent(eventId: "N1-moved", client: "C2", dealId: "N1", kind: .amended, occurredAt: tradeTime, terms: moved),
            DealEvent(eventId: "N1-c-again", client: "C2", dealId: "N1", kind: .confirmation, occurredAt: tradeTime, confirmation: .confirmed),
        ])
        let others = await eventually(within: .seconds(20)) {
            let (a, b, c, d) = (await netted("C2", "2024-12-04"), await netted("C1", "2024-12-03"), await netted("C1", "2024-12-04"),
                                await netted("C2", "2024-12-02"))
            return a == ["N1"] && b == ["N4"] && c == ["N2"] && d == ["N3"]
        }
        #expect(others)
        await netting.stop()
        await dealStatus.stop()
        await feed.drain()
    }
}
