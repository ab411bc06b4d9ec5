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

/// deal-status and netting instances in this process, each with its own connection and SQLite file.
final class Platform: Sendable {
    let server: NatsServer
    let directory: URL
    let tasks: [Task<Void, Never>]
    let dealStatus: DealStatusService
    let netting: [NettingService]

    init(nettingReplicas: Int = 2, config: String? = nil, user: String? = nil, password: String? = nil) async throws {
        let server = try NatsServer(config: config)
        self.server = server
        let directory = try scratchDirectory("netting")
        self.directory = directory
        func connect(_ name: String) async throws -> NatsConnection {
            var options = ConnectionOptions(servers: [server.url], name: name)
            options.sendAsap = true
            options.user = user
            options.password = password
            return try await NatsConnection.connect(options, logger: Logger(label: name))
        }
        let dealConnection = try await connect("deal-status")
        try await DealStatusService.ensureStreams(JetStream(connection: dealConnection))
        let dealStatus = try DealStatusService(connection: dealConnection, store: try DealStore(path: directory.appendingPathComponent("deals.sqlite").path),
                                               logger: Logger(label: "deal-status"))
        var tasks: [Task<Void, Never>] = [
            Task { await dealStatus.runWorkers() },
            Task { try? await dealStatus.micro.run() },
        ]
        var netting: [NettingService] = []
        for n in 1...nettingReplicas {
            let connection = try await connect("netting-\(n)")
            try await NettingService.ensureStreams(JetStream(connection: connection), logger: Logger(label: "netting"))
            let service = try NettingService(connection: connection, store: try NettingStore(path: directory.appendingPathComponent("netting-\(n).sqlite").path),
                                             logger: Logger(label: "netting-\(n)"))
            tasks += [Task { await service.processStatuses() }, Task { await service.followSets() }, Task { try? await service.micro.run() }]
            try connection.flush()
            netting.append(service)
        }
        self.dealStatus = dealStatus
        self.netting = netting
        self.tasks = tasks
    }

    func stop() async {
        for task in tasks { task.cancel() }
        await dealStatus.micro.stop()
        for service in netting { await service.micro.stop() }
        for task in tasks { await task.value }
        await dealStatus.connection.drain()
        for service in netting { await service.connection.drain() }
        try? FileManager.default.removeItem(at: directory)
    }
}

func send(_ js: JetStream, _ event: DealEvent) async throws {
    _ = try await js.publish(try MessagePackEncoder().encode(event), to: "deal.event.\(event.client).\(event.dealId)", msgId: event.eventId)
}

func bookAndConfirm(_ js: JetStream, _ terms: DealTerms) async throws {
    try await send(js, DealEvent(eventId: "\(terms.dealId)-b", client: "C1", dealId: terms.dealId, kind: .booked, occurredAt: tradeTime, terms: terms))
    try await send(js, DealEvent(eventId: "\(terms.dealId)-a", client: "C1", dealId: terms.dealId, kind: .confirmation, occurredAt: tradeTime,
                                 confirmation: .awaiting))
    try await send(js, DealEvent(eventId: "\(terms.dealId)-c", client: "C1", dealId: terms.dealId, kind: .confirmation, occurredAt: tradeTime,
                                 confirmation: .confirmed))
}

@Suite("netting over a real nats-server, deal-status and SQLite")
struct NettingServiceTests {
    @Test("a treasurer previews, excludes D3, closes once; a second close of the same version is refused; an amendment after close leaves the net as agreed")
    func workflow() async throws {
        let platform = try await Platform()
        let client = try await NatsConnection.connect(ConnectionOptions(servers: [platform.server.url], name: "terminal"), logger: Logger(label: "t"))
        let js = JetStream(connection: client)
        let live = try client.subscribe(to: "netting.status.C1.\(valueDate)")
        try client.flush()
        for terms in example { try await bookAndConfirm(js, terms) }

        // Both replicas see all five deals netted.
        let ready = await eventually(within: .seconds(20)) {
            for n in 0..<2 {
                let stored = try? await platform.netting[n].store.current(client: "C1", valueDate: valueDate)?.0
                guard stored?.deals.filter(\.included).count == 5 else { return false }
            }
            return true
        }
        #expect(ready)
        let preview = try await client.request(NettingPreview(valueDate: valueDate), to: "netting.cmd.C1.preview", expecting: NettingSummary.self)
        #expect(amount(preview, "CNY") == "850000.50" && amount(preview, "USD") == "-70000.00" && amount(preview, "RUB") == "-3787836.62")
        #expect(preview.grossPayments == 10 && preview.netPayments == 3)

        let excluded = try await client.request(NettingDealChange(valueDate: valueDate, dealId: "D3", expectedVersion: preview.version),
                                                to: "netting.cmd.C1.exclude", expecting: NettingSummary.self)
        #expect(amount(excluded, "USD") == "-120000.00" && amount(excluded, "RUB") == "284998.38")
        // D3 settles gross beside the net: USD 50,000.00 to the client, RUB 4,072,835.00 from the client.
        let d3 = try #require(excluded.dealsOut.first { $0.dealId == "D3" })
        #expect(d3.grossPayments?.map(\.signed.decimalString) == ["50000.00", "-4072835.00"])
        #expect(excluded.net(in: "RUB")?.direction == .bankPays)
        #expect(excluded.version == preview.version + 1)

        // A stale version is refused with a clear conflict; nothing changes.
        await #expect(throws: ErrorBody.self) {
            _ = try await client.request(NettingDealChange(valueDate: valueDate, dealId: "D1", expectedVersion: preview.version),
                                         to: "netting.cmd.C1.exclude", expecting: NettingSummary.self)
        }

        // Two closes of the same version race (through both replicas): exactly one wins.
        let close = NettingClose(valueDate: valueDate, expectedVersion: excluded.version, closedBy: "treasurer")
        let outcomes = await withTaskGroup(of: Result<NettingSummary, any Error>.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    do { return .success(try await client.request(close, to: "netting.cmd.C1.close", expecting: NettingSummary.self)) }
                    catch { return .failure(error) }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let wins = outcomes.compactMap { try? $0.get() }
        #expect(wins.count == 1)
        let refusals = outcomes.compactMap { if case .failure(let e) = $0 { e as? ErrorBody } else { nil } }
        #expect(refusals.count == 3 && refusals.allSatisfy { $0.code == 409 })
        let closed = try #require(wins.first)
        #expect(closed.state == .closed && closed.version == excluded.version + 1 && closed.net == excluded.net)

        // D1 amended after the close: it leaves the net and settles gross; the agreed net stays on record.
        var amended = example[0]
        amended.rate = try Rate(parsing: "11.3000")
        try await send(js, DealEvent(eventId: "D1-amend", client: "C1", dealId: "D1", kind: .amended, occurredAt: tradeTime, terms: amended))
        let departed = await eventually(within: .seconds(10)) {
            (try? await client.request(NettingPreview(valueDate: valueDate), to: "netting.cmd.C1.preview", expecting: NettingSummary.self))?
                .leftAfterClose != nil
        }
        #expect(departed)
        let after = try await client.request(NettingPreview(valueDate: valueDate), to: "netting.cmd.C1.preview", expecting: NettingSummary.self)
        // Every version reached subscribers live, in order.
        var seen: [Int64] = []
        for try await message in live {
            seen.append(try MessagePackDecoder().decode(NettingSet.self, from: message.payload).version)
            if seen.last == after.version { break }
        }
        #expect(seen == Array(1...after.version))
        #expect(after.leftAfterClose?.map(\.dealId) == ["D1"] && after.state == .closed)
        #expect(after.agreedNet == closed.net && closed.agreedNet == closed.net)
        // D3 was excluded before the close; without D1 too: CNY −149,999.50, USD −120,000.00, RUB +11,519,498.38.
        #expect(amount(after, "CNY") == "-149999.50" && amount(after, "USD") == "-120000.00" && amount(after, "RUB") == "11519498.38")
        #expect(after.dealsIn == ["D2", "D4", "D5"])
        #expect(after.version == closed.version + 1)

        // Bad input: a misspelt field is refused, naming it, rather than ignored (ignored, it would switch off the
        // version check it asks for) — and nothing changes.
        struct Misspelt: Encodable { var valueDate: String; var dealId = "D2"; var expectdVersion: Int64 }
        await #expect(throws: ErrorBody(code: 400, message: "malformed request: unknown field expectdVersion", field: "expectdVersion")) {
            _ = try await client.request(Misspelt(valueDate: valueDate, expectdVersion: 1), to: "netting.cmd.C1.exclude",
                                         expecting: NettingSummary.self)
        }
        let unchanged = try await client.request(NettingPreview(valueDate: valueDate), to: "netting.cmd.C1.preview", expecting: NettingSummary.self)
        #expect(unchanged.version == after.version)
        // A malformed value date is a 400; an unknown deal a 404.
        await #expect(throws: ErrorBody(code: 400, message: "value date must be YYYY-MM-DD, got \"2024.12.02\"", field: "valueDate")) {
            _ = try await client.request(NettingPreview(valueDate: "2024.12.02"), to: "netting.cmd.C1.preview", expecting: NettingSummary.self)
        }
        await #expect(throws: ErrorBody(code: 400, message: "value date must be YYYY-MM-DD, got \"2024-02-30\"", field: "valueDate")) {
            _ = try await client.request(NettingPreview(valueDate: "2024-02-30"), to: "netting.cmd.C1.preview", expecting: NettingSummary.self)
        }
        let other = try await client.request(NettingPreview(valueDate: valueDate), to: "netting.cmd.C2.preview", expecting: NettingSummary.self)
        #expect(other.version == 0 && other.dealsIn.isEmpty && other.dealsOut.isEmpty)
        await client.drain()
        await platform.stop()
    }
}

@Suite("netting through a nats-server restart")
struct NettingRestartTests {
    @Test("a stored message that is not a readable version, on DEAL_STATUS or NETTING_STATUS, is passed over: the projections and the sets go on")
    func unreadableStoredMessages() async throws {
        let platform = try await Platform(nettingReplicas: 1)
        let client = try await NatsConnection.connect(ConnectionOptions(servers: [platform.server.url], name: "ops"), logger: Logger(label: "ops"))
        let js = JetStream(connection: client)
        _ = try await js.publish([0xC1, 0x00], to: Subjects.Deal.storedStatus(client: "C1", deal: "JUNK"), msgId: "junk-status")
        _ = try await js.publish([0xC1, 0x00], to: Subjects.Netting.storedStatus(client: "C1", set: "2030-01-02"), msgId: "junk-set")
        try await bookAndConfirm(js, example[0])
        let netted = await eventually(within: .seconds(20)) {
            (try? await client.request(NettingPreview(valueDate: valueDate), to: "netting.cmd.C1.preview", expecting: NettingSummary.self))?
                .dealsIn == [example[0].dealId]
        }
        #expect(netted)
        let listed = try await client.request(DealListQuery(), to: "deal.query.C1.list", expecting: DealPage.self)
        #expect(listed.deals.map(\.terms.dealId) == [example[0].dealId] && listed.deals.first?.confirmation == .confirmed)
        await client.drain()
        await platform.stop()
    }

    @Test("after nats-server stops and comes back, new deals still reach the set and the preview")
    func serverRestart() async throws {
        let platform = try await Platform(nettingReplicas: 1)
        var options = ConnectionOptions(servers: [platform.server.url], name: "terminal")
        options.sendAsap = true
        let client = try await NatsConnection.connect(options, logger: Logger(label: "t"))
        let js = JetStream(connection: client)
        func netted() async -> Int {
            (try? await client.request(NettingPreview(valueDate: valueDate), to: "netting.cmd.C1.preview", expecting: NettingSummary.self))?
                .dealsIn.count ?? -1
        }
        try await bookAndConfirm(js, example[0])
        #expect(await eventually(within: .seconds(20)) { await netted() == 1 })
        try platform.server.restart()
        // Reconnected, and JetStream has loaded its streams again.
        #expect(await eventually(within: .seconds(15)) { (try? await js.streamInfo(Subjects.Deal.eventsStream)) != nil })
        try await bookAndConfirm(js, example[1])
        #expect(await eventually(within: .seconds(30)) { await netted() == 2 })
        await client.drain()
        await platform.stop()
    }
}

@Suite("per-client permissions from compose/nats/accounts.conf")
struct ClientPermissionTests {
    static let natsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("compose/nats")

    /// The users and permissions that compose/nats/auth.conf and compose.conf include, as they are (the fixture adds a
    /// free port and a temp store).
    static func composeAuthConfig() throws -> String {
        try String(contentsOf: natsDirectory.appendingPathComponent("accounts.conf"), encoding: .utf8)
    }

    @Test("the configurations compose and the host run are valid and include those users", arguments: ["auth.conf", "compose.conf"])
    func configurationsValid(file: String) throws {
        let text = try String(contentsOf: Self.natsDirectory.appendingPathComponent(file), encoding: .utf8)
        #expect(text.contains("include ./accounts.conf"))
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = ["nats-server", "-t", "-c", file]
        check.currentDirectoryURL = Self.natsDirectory
        let output = Pipe()
        check.standardOutput = output
        check.standardError = output
        try check.run()
        let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        check.waitUntilExit()
        #expect(check.terminationStatus == 0, "\(said)")
    }

    func terminal(_ platform: Platform, _ client: String, _ password: String) async throws -> NatsConnection {
        var options = ConnectionOptions(servers: [platform.server.url], name: "terminal-\(client)")
        options.user = "client-\(client)"
        options.password = password
        options.inboxPrefix = "_INBOX_\(client)"
        return try await NatsConnection.connect(options, logger: Logger(label: "terminal"))
    }

    @Test("a client's terminal sees and queries its own deals; another client's subjects are refused")
    func ownDealsOnly() async throws {
        let platform = try await Platform(nettingReplicas: 1, config: try Self.composeAuthConfig(), user: "svc", password: "svc-demo-password")
        let feed = JetStream(connection: platform.dealStatus.connection)
        let c1 = try await terminal(platform, "C1", "c1-demo-password")
        let c2 = try await terminal(platform, "C2", "c2-demo-password")
        let live = try c1.subscribe(to: "deal.status.C1.>")
        try c1.flush()
        try await bookAndConfirm(feed, example[0])
        var seen = 0
        for try await message in live {
            let status = try MessagePackDecoder().decode(DealStatus.self, from: message.payload)
            #expect(status.terms.client == "C1")
            seen += 1
            if status.confirmation == .confirmed { break }
        }
        #expect(seen == 3)
        let own = try await c1.request(DealListQuery(), to: "deal.query.C1.list", expecting: DealPage.self)
        #expect(own.total == 1)
        let set = try await c1.request(NettingPreview(valueDate: valueDate), to: "netting.cmd.C1.preview", expecting: NettingSummary.self)
        #expect(set.client == "C1")

        // C2 cannot query C1's deals, nor command its netting, nor listen to its statuses.
        await #expect(throws: BusError.self) {
            _ = try await c2.request(DealListQuery(), to: "deal.query.C1.list", expecting: DealPage.self)
        }
        await #expect(throws: BusError.self) {
            _ = try await c2.request(NettingPreview(valueDate: valueDate), to: "netting.cmd.C1.preview", expecting: NettingSummary.self)
        }
        await #expect(throws: BusError.self) {
            _ = try await c2.request(ChangeRequisites(requestId: "r", dealId: "D1", requisites: example[0].requisites[0]),
                                     to: "deal.cmd.C1.requisites", expecting: CommandAccepted.self)
        }
        for subject in ["deal.status.C1.>", "netting.status.C1.>", "_INBOX_C1.>"] {
            let snooping = try c2.subscribe(to: subject)
            await #expect(throws: BusError.self, "subscribing to \(subject)") { for try await _ in snooping {} }
        }
        // Nor can it have a service answer into a stream or into the JetStream API: a request naming a reply subject
        // that is not an inbox is not handled (nats-server does not check reply subjects against permissions).
        let events = try await feed.streamInfo(Subjects.Deal.eventsStream).state.messages
        let change = ChangeRequisites(requestId: "forged-reply", dealId: "D1", requisites: example[0].requisites[0])
        try c1.publish(try MessagePackEncoder().encode(change), to: "deal.cmd.C1.requisites", reply: "deal.event.C1.D1")
        try c1.publish(try MessagePackEncoder().encode(DealGet(dealId: "D1")), to: "deal.query.C1.get",
                       reply: "$JS.API.STREAM.DELETE.\(Subjects.Deal.eventsStream)")
        try c1.flush()
        let ignored = await eventually {
            guard let reply = try? await platform.dealStatus.connection.request([], to: "$SRV.STATS.deal-status"),
                  let stats = try? JSONSerialization.jsonObject(with: Data(reply.payload)) as? [String: Any],
                  let endpoints = stats["endpoints"] as? [[String: Any]] else { return false }
            return endpoints.filter { ["requisites", "get"].contains($0["name"] as? String) }
                .allSatisfy { ($0["last_error"] as? String)?.contains("is not an inbox") == true }
        }
        #expect(ignored)
        #expect(try await feed.streamInfo(Subjects.Deal.eventsStream).state.messages == events)
        // A client cannot forge a deal event either (only services publish them): the stream stores nothing.
        let stored = try await feed.streamInfo(Subjects.Deal.eventsStream).state.messages
        try c1.publish(try MessagePackEncoder().encode(DealEvent(eventId: "forged", client: "C1", dealId: "D1", kind: .cancelled,
                                                                  occurredAt: Date())), to: "deal.event.C1.D1")
        _ = try? c1.flush()
        #expect(try await feed.streamInfo(Subjects.Deal.eventsStream).state.messages == stored)
        // …and its own queries still work on a fresh connection.
        let c2again = try await terminal(platform, "C2", "c2-demo-password")
        let theirs = try await c2again.request(DealListQuery(), to: "deal.query.C2.list", expecting: DealPage.self)
        #expect(theirs.total == 0)
        for connection in [c1, c2, c2again] { await connection.drain() }
        await platform.stop()
    }
}
