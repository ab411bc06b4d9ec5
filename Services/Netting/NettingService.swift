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
            // A client's failure holds back that client's statuses only (`process`); the others are applied.
            await withDiscardingTaskGroup { group in
                for (client, messages) in byClient {
                    group.addTask {
                        do {
                            try await self.process(client: client, messages)
                        } catch {
                            // Stopping, or a message that could not be acknowledged: it comes back after the ack wait.
                            if !Task.isCancelled { self.logger.warning("deal statuses left to come back", metadata: ["client": "\(client)", "error": "\(error)"]) }
                        }
                    }
                }
            }
        }
    }

    /// Applies one client's statuses from a batch: each set they touch moves by one version (not one per status).
    ///
    /// Replicas share the consumer, so the versions of one deal are split between them and applied at once. What a
    /// closed set makes of a deal depends on every version (new settlement details and back again take it out of the
    /// net), so for a deal a closed set follows, a replica also applies the versions before those in hand that no
    /// replica has finished with yet (above the consumer's ack floor), read from DEAL_STATUS: a version another
    /// replica is still applying is then applied here first, as a single instance would. An open set is what the
    /// newest version of each deal makes it, so there one may be skipped. Which sets a deal is in is read from this
    /// replica's copy, which has caught up with NETTING_STATUS (`processStatuses`); and after the batch, a version
    /// DEAL_STATUS holds beyond those applied here is applied too. Between them, a deal amended to another date while
    /// another replica applies its older status leaves no set with its old payments (`NettingRules.apply` keeps it
    /// there as `movedAway`), and a replica that applies older versions after a newer one finds them stale.
    ///
    /// A set that cannot be published (its stream refuses, or its newest version cannot be read) holds back only the
    /// statuses of deals on its date: the other dates take theirs, and those statuses are handed back to be tried
    /// again later (1 s, then twice as long each time, up to 30 s). Applying them again changes nothing where they
    /// were applied already.
    func process(client: String, _ messages: [JetStreamMessage]) async throws {
        var inHand: [StoredStatus] = []
        var applied: [(message: JetStreamMessage, dealId: String)] = []
        for message in messages {
            do {
                let status = try MessagePackDecoder().decode(DealStatus.self, from: message.payload)
                inHand.append(StoredStatus(sequence: message.streamSequence, status: status))
                applied.append((message, status.terms.dealId))
            } catch {
                logger.error("undecodable deal status skipped", metadata: ["subject": "\(message.subject)", "error": "\(error)"])
                try message.term()
            }
        }
        let dealIds = Set(inHand.map(\.status.terms.dealId))
        var seen: [String: Int64] = [:]  // the newest version of each deal handled in this call
        var handledUpTo: [String: UInt64] = [:]  // and its DEAL_STATUS sequence
        var datesOf: [String: Set<String>] = [:]  // the dates each deal's statuses touched
        var ackFloor: UInt64?
        var touched = Set<String>()
        var failed: [String: any Error] = [:]  // dates whose set could not be published, and why
        do {
            for round in 0..<4 where !dealIds.isEmpty {
                let (found, memberOf) = try await versionsToApply(client: client, dealIds: dealIds, inHand: inHand, seen: seen,
                                                                  handledUpTo: handledUpTo, upToStored: round > 0, ackFloor: &ackFloor)
                if found.isEmpty && round > 0 { break }
                let statuses = found.map(\.status)
                for stored in found {
                    let dealId = stored.status.terms.dealId
                    seen[dealId] = max(seen[dealId] ?? 0, stored.status.version)
                    handledUpTo[dealId] = max(handledUpTo[dealId] ?? 0, stored.sequence)
                    // A deal amended to another date leaves the sets it was in.
                    datesOf[dealId, default: []].formUnion(stored.status.legs.map(\.valueDate))
                }
                for (dealId, dates) in memberOf { datesOf[dealId, default: []].formUnion(dates) }
                let dates = Set(datesOf.values.joined())
                let now = Date()
                for valueDate in dates.union(touched).sorted() {
                    do {
                        _ = try await update(client: client, valueDate: valueDate) { set in NettingRules.apply(statuses, to: set, at: now) }
                    } catch where !(error is CancellationError) {
                        // Held back even if a later round gets through: that round applies only its own statuses.
                        failed[valueDate] = error
                    }
                }
                touched.formUnion(dates)
                inHand = []
            }
        } catch where !(error is CancellationError) {
            failed[""] = error  // which sets the statuses touch is not known: all are held back
        }
        for (valueDate, error) in failed {
            logger.warning("deal statuses held back", metadata: ["client": "\(client)", "valueDate": "\(valueDate)", "error": "\(error)"])
        }
        for (message, dealId) in applied {
            if failed[""] != nil || !(datesOf[dealId] ?? []).isDisjoint(with: failed.keys) {
                try message.nak(delay: .seconds(min(30, 1 << min(5, max(0, Int(message.deliveryCount) - 1)))))
            } else {
                try message.ack()
            }
        }
    }

    /// A deal status with its DEAL_STATUS sequence.
    struct StoredStatus: Sendable {
        let sequence: UInt64
        let status: DealStatus
    }

    /// At most this many deals of one batch are looked up in DEAL_STATUS at once.
    static let lookupsAtOnce = 16

    /// The statuses of `dealIds` to apply next, in stream order, and the value dates of the sets the deals are in:
    /// those in hand or, with `upToStored`, the newest DEAL_STATUS holds of each deal if it is newer than what this
    /// call has `seen`; and for a deal a closed set follows, the versions before them that no replica has finished with.
    /// `ackFloor` is read once a call, when first needed (an older floor only means looking at a few more versions);
    /// `handledUpTo` says where the versions this call applied end, so that they are not read again.
    private func versionsToApply(client: String, dealIds: Set<String>, inHand: [StoredStatus], seen: [String: Int64],
                                 handledUpTo: [String: UInt64], upToStored: Bool, ackFloor: inout UInt64?) async throws
        -> ([StoredStatus], [String: Set<String>])
    {
        var memberOfByDeal: [String: Set<String>] = [:]
        for dealId in dealIds { memberOfByDeal[dealId] = Set(try await store.valueDates(client: client, dealId: dealId)) }
        let memberOf = Set(memberOfByDeal.values.joined())
        var closing = Set<String>()  // deals in a closed set, or with a payment on a closed set's date
        let paying = inHand.reduce(into: [String: Set<String>]()) { $0[$1.status.terms.dealId, default: []].formUnion($1.status.legs.map(\.valueDate)) }
        for valueDate in memberOf.union(paying.values.joined()) {
            guard let set = try await known(client: client, valueDate: valueDate)?.0, set.state == .closed else { continue }
            closing.formUnion(set.deals.lazy.map(\.dealId).filter(dealIds.contains))
            closing.formUnion(paying.filter { $0.value.contains(valueDate) }.keys)
        }
        // Versions at or below the ack floor were applied (statuses are acknowledged once their sets are published).
        if ackFloor == nil && !closing.isEmpty {
            ackFloor = try await jetStream.consumerInfo(stream: Subjects.Deal.statusStream, consumer: Self.consumerName).ackFloor.streamSeq
        }
        let floor = ackFloor ?? 0
        let inHandByDeal = Dictionary(grouping: inHand) { $0.status.terms.dealId }
        var found: [StoredStatus] = []
        var waiting = dealIds.makeIterator()
        try await withThrowingTaskGroup(of: [StoredStatus].self) { group in
            func lookUpNext() {
                guard let dealId = waiting.next() else { return }
                let (mine, after) = (inHandByDeal[dealId] ?? [], seen[dealId] ?? 0)
                let from = closing.contains(dealId) ? max(floor, handledUpTo[dealId] ?? 0) + 1 : nil
                group.addTask {
                    try await self.versionsToApply(client: client, dealId: dealId, inHand: mine, after: after, upToStored: upToStored,
                                                   unfinishedFrom: from)
                }
            }
            for _ in 0..<Self.lookupsAtOnce { lookUpNext() }
            while let statuses = try await group.next() {
                found += statuses
                lookUpNext()
            }
        }
        return (found.sorted { $0.sequence < $1.sequence }, memberOfByDeal)
    }

    /// `versionsToApply` for one deal: its statuses in hand, else (`upToStored`) the newest stored if newer than
    /// `after`; then, with `unfinishedFrom`, every version stored on the deal's subject from that sequence up to the
    /// newest of those (the ones replicas are still applying), in order. Nothing when there is nothing newer.
    private func versionsToApply(client: String, dealId: String, inHand: [StoredStatus], after: Int64, upToStored: Bool,
                                 unfinishedFrom: UInt64?) async throws -> [StoredStatus]
    {
        let subject = Subjects.Deal.storedStatus(client: client, deal: dealId)
        var statuses = inHand
        if upToStored, let newest = try await jetStream.lastMessage(stream: Subjects.Deal.statusStream, subject: subject),
           let status = try? MessagePackDecoder().decode(DealStatus.self, from: newest.payload), status.version > after {
            statuses.append(StoredStatus(sequence: newest.seq, status: status))
        }
        guard let last = statuses.map(\.sequence).max(), var next = unfinishedFrom, next < last else { return statuses }
        var have = Set(statuses.map(\.sequence))
        while next < last, let stored = try await jetStream.nextMessage(stream: Subjects.Deal.statusStream, subject: subject, from: next),
              stored.seq < last {
            if have.insert(stored.seq).inserted, let status = try? MessagePackDecoder().decode(DealStatus.self, from: stored.payload) {
                statuses.append(StoredStatus(sequence: stored.seq, status: status))
            }
            next = stored.seq + 1
        }
        return statuses
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
            guard try await latestKnown.publishNext(next, key: Self.key(client: client, valueDate: valueDate),
                                                    to: Subjects.Netting.storedStatus(client: client, set: valueDate),
                                                    expected: current?.1 ?? 0, on: jetStream) != nil
            else {
                current = try await latest(client: client, valueDate: valueDate)  // another replica moved the set
                continue
            }
            return next  // SQLite gets it from the copy of the sets (`followSets`), which stores every version
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
                    // it is not decoded again. It is remembered and stored here whoever published it: this is where
                    // SQLite gets every version (its publisher may never learn it was stored: an ack lost with the
                    // connection). Which sets a deal is in must be in SQLite before deal statuses go on (`awaitSets`);
                    // a version stored already is left as it is.
                    let key = Subject.tokens(of: message.subject, count: 4, at: 2, 3).map { Self.key(client: $0.0, valueDate: $0.1) }
                    let set: NettingSet
                    do {
                        set = try latestKnown.value(in: message, key: key)
                    } catch {
                        // Passed over: stopping at it would stop the copy, and with it every status waiting for it, for good.
                        logger.error("unreadable netting set skipped", metadata: ["seq": "\(message.streamSequence)", "subject": "\(message.subject)",
                                                                              "error": "\(error)"])
                        projectedUpTo.advance(to: message.streamSequence)
                        continue
                    }
                    latestKnown.remember(set, key: key ?? Self.key(client: set.client, valueDate: set.valueDate), sequence: message.streamSequence)
                    try await store.upsert(set, statusSequence: message.streamSequence, encoded: message.payload)
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
