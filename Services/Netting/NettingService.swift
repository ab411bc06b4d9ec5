import Bus
import Foundation
import Logging
import Messages
import ServiceKit
import ServiceLifecycle
import Synchronization
import Wire

/// Netting: keeps each client's netting set per value date in step with the deals, and runs the client's commands.
///
/// The state of a set is its last snapshot on NETTING_STATUS (stored on `netting.snapshot.<client>.<valueDate>`, republished live on `netting.status.…`). Every change —
/// a deal status arriving, include, exclude, close — reads that snapshot, applies `NettingRules` and publishes the next
/// version with `Nats-Expected-Last-Subject-Sequence`; a replica that loses the race re-reads and re-applies, so two
/// closes of one set cannot both win. Replicas share the durable consumer `netting` on DEAL_STATUS and each keeps a
/// SQLite copy of the sets for previews.
final class NettingService: Sendable {
    static let identity = MicroService.Identity(
        name: "netting", version: "0.1.0", description: "Payment netting per client and value date: preview, include, exclude, close",
        metadata: ["contract": "docs/CONTRACT.md"]
    )
    static let consumerName = "netting"

    let connection: NatsConnection
    let jetStream: JetStream
    let store: NettingStore
    let logger: Logger
    let micro: MicroService
    /// The newest version of each set this replica knows, with its NETTING_STATUS sequence (spares SQLite reads and decodes).
    private let latestKnown = LatestVersions<NettingSet>(limit: 10_000) { $0.version }
    /// The highest NETTING_STATUS sequence in this replica's copy (memory and SQLite), every earlier one with it.
    private let projectedUpTo = Watermark()
    /// The encoded preview of each set's newest version asked for here.
    private let previews = Mutex<[String: (version: Int64, reply: EncodedReply<NettingSummary>)]>([:])

    init(connection: NatsConnection, store: NettingStore, logger: Logger) throws {
        self.connection = connection
        self.jetStream = JetStream(connection: connection)
        self.store = store
        self.logger = logger
        micro = try MicroService(connection: connection, identity: Self.identity, logger: logger)
        try registerEndpoints()
    }

    /// NETTING_STATUS (owned here) and the durable consumer on DEAL_STATUS (owned by deal-status: waits for it).
    static func ensureStreams(_ js: JetStream, logger: Logger, ackWait: Duration = .seconds(10)) async throws {
        var sets = StreamConfig(name: Subjects.Netting.statusStream, subjects: [Subjects.Netting.allStoredStatuses])
        sets.republish = .init(src: Subjects.Netting.allStoredStatuses, dest: Subjects.Netting.allStatuses)  // only accepted versions go live
        sets.maxMsgsPerSubject = 16  // the last value is the state; a short history for the audit
        sets.duplicateWindow = 10 * 60 * 1_000_000_000
        try await js.ensureStream(sets)
        var consumer = ConsumerConfig(durableName: consumerName)
        consumer.ackWait = ackWait.nanoseconds
        consumer.maxAckPending = 10_000
        var warned = false
        while true {
            do {
                try await js.ensureConsumer(stream: Subjects.Deal.statusStream, consumer)
                return
            } catch BusError.jetStream(_, let code, _) where code == 10059 {  // stream not found: deal-status not started yet
                if !warned { logger.notice("waiting for deal-status to create \(Subjects.Deal.statusStream)") }
                warned = true
                try await Task.sleep(for: .milliseconds(250))
            }
        }
    }

    // MARK: Deal statuses

    /// Status processing and the projection, until cancelled.
    func runWorkers() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.processStatuses() }
            group.addTask { await self.followSets() }
        }
    }

    /// Applies deal statuses to their sets until cancelled; a batch is split by client, the clients concurrently.
    func processStatuses() async {
        let consumer = jetStream.pullConsumer(stream: Subjects.Deal.statusStream, durable: Self.consumerName)
        await consumer.consume(gather: Gather.fromEnvironment, failed: { error in
            logger.warning("deal status processing paused", metadata: ["error": "\(error)"])
        }) { batch in
            // Which sets a deal is in is read from this replica's copy of them: it first catches up with the stream.
            try await self.awaitSets()
            var byClient: [String: [JetStreamMessage]] = [:]
            for message in batch { byClient[Subject(message.subject)[2] ?? "", default: []].append(message) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (client, messages) in byClient {
                    group.addTask { try await self.process(client: client, messages) }
                }
                try await group.waitForAll()
            }
        }
    }

    /// Applies one client's statuses from a batch: each set they touch moves by one version (not one per status).
    ///
    /// Replicas share the consumer, so two versions of one deal can be applied at once by two replicas. Which sets a
    /// deal is in is read from this replica's copy, which has caught up with NETTING_STATUS (`processStatuses`); and
    /// after the batch, a deal of which DEAL_STATUS already holds a newer version than the one applied here gets that one applied
    /// too. Between them, a deal amended to another date while another replica applies its older status leaves no set
    /// with its old payments (`NettingRules.apply` keeps it there as `movedAway`).
    func process(client: String, _ messages: [JetStreamMessage]) async throws {
        var statuses: [DealStatus] = []
        var applied: [JetStreamMessage] = []
        for message in messages {
            do {
                statuses.append(try MessagePackDecoder().decode(DealStatus.self, from: message.payload))
                applied.append(message)
            } catch {
                logger.error("undecodable deal status skipped", metadata: ["subject": "\(message.subject)", "error": "\(error)"])
                try message.term()
            }
        }
        var touched = Set<String>()
        for _ in 0..<4 where !statuses.isEmpty {
            var dates = Set<String>()
            for status in statuses {
                dates.formUnion(status.legs.map(\.valueDate))
                // A deal amended to another date leaves the sets it was in.
                dates.formUnion(try await store.valueDates(client: client, dealId: status.terms.dealId))
            }
            let now = Date()
            for valueDate in dates.union(touched).sorted() {
                _ = try await update(client: client, valueDate: valueDate) { set in NettingRules.apply(statuses, to: set, at: now) }
            }
            touched.formUnion(dates)
            statuses = try await newerStatuses(than: statuses, client: client)
        }
        for message in applied { try message.ack() }
    }

    /// Waits until this replica's copy holds every set version NETTING_STATUS had stored when called. Statuses
    /// applied to a copy behind the stream could leave a deal in a set it has left, so they wait (unacknowledged: past
    /// the ack wait another replica gets them) rather than go ahead; a warning every 5 s says so.
    private func awaitSets() async throws {
        let target = try await jetStream.streamInfo(Subjects.Netting.statusStream).state.lastSeq
        while await !projectedUpTo.wait(for: target, until: .now + .seconds(5)) {
            try Task.checkCancellation()
            logger.warning("deal statuses wait for this replica's copy of the sets to catch up",
                           metadata: ["copy": "\(projectedUpTo.value)", "stream": "\(target)"])
        }
    }

    /// The newest stored version of each deal in `statuses`, where it is newer than the newest of them here.
    private func newerStatuses(than statuses: [DealStatus], client: String) async throws -> [DealStatus] {
        var newest: [String: Int64] = [:]
        for status in statuses { newest[status.terms.dealId] = max(newest[status.terms.dealId] ?? 0, status.version) }
        return try await withThrowingTaskGroup(of: DealStatus?.self) { group in
            for (dealId, version) in newest {
                group.addTask {
                    guard let stored = try await self.jetStream.lastMessage(stream: Subjects.Deal.statusStream,
                                                                            subject: Subjects.Deal.storedStatus(client: client, deal: dealId)),
                          let status = try? MessagePackDecoder().decode(DealStatus.self, from: stored.payload), status.version > version
                    else { return nil }
                    return status
                }
            }
            return try await group.reduce(into: []) { found, status in if let status { found.append(status) } }
        }
    }

    // MARK: Set updates

    /// Reads the set, applies `change` and publishes the result as the next version; retries when another replica
    /// published first. Returns the set as it stands afterwards. `change` returns nil for "nothing to change".
    @discardableResult
    func update(client: String, valueDate: String, _ change: (NettingSet) throws -> NettingSet?) async throws -> NettingSet {
        var current = try await known(client: client, valueDate: valueDate)
        var reread = false
        for _ in 0..<16 {
            let set = current?.0 ?? NettingSet(client: client, valueDate: valueDate, updatedAt: Date())
            let changed: NettingSet?
            do {
                changed = try change(set)
            } catch let refusal as ErrorBody where refusal.code == ErrorBody.conflict && !reread {
                // This replica's copy may lag the version the client previewed through the other replica: refuse only
                // what the stream's latest version refuses.
                reread = true
                current = try await latest(client: client, valueDate: valueDate)
                continue
            }
            guard let next = changed else { return set }
            guard let sequence = try await latestKnown.publishNext(next, key: Self.key(client: client, valueDate: valueDate),
                                                                   to: Subjects.Netting.storedStatus(client: client, set: valueDate),
                                                                   expected: current?.1 ?? 0, on: jetStream)
            else {
                current = try await latest(client: client, valueDate: valueDate)  // another replica moved the set
                continue
            }
            try await store.upsert(next, statusSequence: sequence)
            return next
        }
        throw ErrorBody(code: ErrorBody.conflict, message: "the netting set for \(valueDate) is changing too fast; try again")
    }

    private func latest(client: String, valueDate: String) async throws -> (NettingSet, UInt64)? {
        guard let stored = try await jetStream.lastMessage(stream: Subjects.Netting.statusStream,
                                                                subject: Subjects.Netting.storedStatus(client: client, set: valueDate))
        else { return nil }
        let set = try MessagePackDecoder().decode(NettingSet.self, from: stored.payload)
        try await store.upsert(set, statusSequence: stored.seq)
        latestKnown.remember(set, key: Self.key(client: client, valueDate: valueDate), sequence: stored.seq)
        return (set, stored.seq)
    }

    /// `<client>.<valueDate>`: the key of a set in memory and in its versions' message ids.
    static func key(client: String, valueDate: String) -> String { "\(client).\(valueDate)" }

    /// The newest version of a set known here: from memory, else from SQLite.
    func known(client: String, valueDate: String) async throws -> (NettingSet, UInt64)? {
        if let held = latestKnown.get(Self.key(client: client, valueDate: valueDate)) { return held }
        return try await store.current(client: client, valueDate: valueDate)
    }

    /// Keeps this replica's copy of every set current (including changes made by the other replicas).
    func followSets() async {
        while !Task.isCancelled {
            do {
                let updates = try await jetStream.snapshotAndUpdates(stream: Subjects.Netting.statusStream,
                                                                   filter: Subjects.Netting.allStoredStatuses)
                defer { Task { await updates.stop() } }
                for try await event in updates {
                    guard case .message(let message) = event else { continue }
                    // A version this replica published (or is publishing) is in memory already: a set can be large, so
                    // it is not decoded again. It is still remembered and stored here, in case its publisher never
                    // learns it was stored (an ack lost with the connection).
                    let key = Subject.tokens(of: message.subject, count: 4, at: 2, 3).map { Self.key(client: $0.0, valueDate: $0.1) }
                    let set = try key.flatMap { latestKnown.held(as: message, key: $0) }
                        ?? MessagePackDecoder().decode(NettingSet.self, from: message.payload)
                    if latestKnown.remember(set, key: key ?? Self.key(client: set.client, valueDate: set.valueDate),
                                            sequence: message.streamSequence) {
                        try await store.upsert(set, statusSequence: message.streamSequence)
                    }
                    projectedUpTo.advance(to: message.streamSequence)
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("netting projection restarting", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
    }

    // MARK: Commands

    /// The summary of the set as it stands, encoded once per version: previews of an unchanged set send the same bytes.
    func preview(client: String, valueDate: String) async throws -> EncodedReply<NettingSummary> {
        // A set this replica has not seen (yet: it may be rebuilding its copy) is looked up in the stream.
        var found = try await known(client: client, valueDate: valueDate)
        if found == nil { found = try await latest(client: client, valueDate: valueDate) }
        guard let set = found?.0 else {
            return try EncodedReply(NettingSummary(NettingSet(client: client, valueDate: valueDate, updatedAt: Date())))
        }
        let key = Self.key(client: client, valueDate: valueDate)
        if let cached = previews.withLock({ $0[key] }), cached.version == set.version { return cached.reply }
        let reply = try EncodedReply(NettingSummary(set))
        previews.withLock { cache in
            if cache.count >= 10_000 { cache.removeAll() }  // bounded like the sets held in memory
            cache[key] = (set.version, reply)
        }
        return reply
    }

    private func registerEndpoints() throws {
        try micro.addEndpoint("preview", subject: Subjects.Netting.commandPattern(.preview), request: NettingPreview.self,
                              maxConcurrency: 8) { [self] preview, request in
            try await self.preview(client: try request.clientToken(), valueDate: try Self.valueDate(preview.valueDate))
        }
        try micro.addEndpoint("include", subject: Subjects.Netting.commandPattern(.include), request: NettingDealChange.self) { [self] change, request in
            let valueDate = try Self.valueDate(change.valueDate)
            return NettingSummary(try await update(client: try request.clientToken(), valueDate: valueDate) { set in
                try NettingRules.include(change.dealId, in: set, expectedVersion: change.expectedVersion, at: Date())
            })
        }
        try micro.addEndpoint("exclude", subject: Subjects.Netting.commandPattern(.exclude), request: NettingDealChange.self) { [self] change, request in
            let valueDate = try Self.valueDate(change.valueDate)
            return NettingSummary(try await update(client: try request.clientToken(), valueDate: valueDate) { set in
                try NettingRules.exclude(change.dealId, from: set, expectedVersion: change.expectedVersion, at: Date())
            })
        }
        try micro.addEndpoint("close", subject: Subjects.Netting.commandPattern(.close), request: NettingClose.self) { [self] close, request in
            let valueDate = try Self.valueDate(close.valueDate)
            return NettingSummary(try await update(client: try request.clientToken(), valueDate: valueDate) { set in
                try NettingRules.close(set, expectedVersion: close.expectedVersion, by: close.closedBy, at: Date())
            })
        }
    }

    /// A value date is the set id and a subject token: exactly YYYY-MM-DD, a real date.
    static func valueDate(_ text: String) throws -> String {
        guard CalendarDay.isValid(text) else {
            throw ErrorBody(code: ErrorBody.badRequest, message: "value date must be YYYY-MM-DD, got \"\(text)\"", field: "valueDate")
        }
        return text
    }
}

/// Runs the status processor and the projection beside the endpoints until graceful shutdown.
struct NettingWorkers: Service {
    let service: NettingService

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await service.runWorkers()
        }
    }
}
