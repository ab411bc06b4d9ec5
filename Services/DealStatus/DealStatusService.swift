import Bus
import Foundation
import Logging
import Messages
import Metrics
import ServiceKit
import ServiceLifecycle
import Synchronization
import Wire

/// DealStatus: applies deal events once, publishes versioned snapshots, answers queries and requisites changes.
///
/// Replicas share the durable consumer `deal-status` on DEAL_EVENTS (each event is processed by one of them);
/// every replica keeps its own SQLite projection from DEAL_STATUS for queries. A snapshot is published with
/// `Nats-Expected-Last-Subject-Sequence`, so two replicas racing on one deal cannot skip or repeat a version.
final class DealStatusService: Sendable {
    static let identity = MicroService.Identity(
        name: "deal-status", version: "0.1.0", description: "Live settlement and confirmation status of FX deals",
        metadata: ["contract": "docs/CONTRACT.md"]
    )
    static let consumerName = "deal-status"
    /// Events that trickle in are gathered this long into one batch (see `PullStream.gather`): at 5k events/s this
    /// halves the p99 of event → terminal (fewer wake-ups leave the CPU to the work). `SVYAZ_GATHER_US` tunes it, 0 = off.
    static let gather = Gather.fromEnvironment

    /// The shortest time between two projection transactions (see `writeProjection`).
    let projectionWriteInterval: Duration

    let connection: NatsConnection
    let jetStream: JetStream
    let store: DealStore
    let logger: Logger
    let micro: MicroService
    /// The newest snapshot this replica knows per deal (and its DEAL_STATUS sequence): the hot path never waits for SQLite.
    /// Complete (every deal) once the projection has loaded the snapshot: a deal not held then does not exist yet.
    private let latestKnown = LatestVersions<DealStatus>(limit: 200_000) { $0.version }
    /// Versions received from DEAL_STATUS, waiting to be written to SQLite in one transaction (write-behind).
    private let pendingWrites = Mutex(PendingWrites())
    private let writeSignal = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    /// Which projection subscription may mark memory complete: one being replaced may still be delivering.
    private let projectionGeneration = Mutex(0)
    /// The highest DEAL_STATUS sequence whose version (and every earlier one) is in SQLite: the projection receives
    /// versions in stream order, and writes them in that order. `list` waits on it.
    private let writtenUpTo = Watermark()
    /// Projection writes SQLite refused (each is kept and tried again): `deal_status_projection_write_failures_total`.
    let projectionWriteFailures = Atomic<Int>(0)
    private let projectionWriteFailureCounter = Counter(label: "deal_status_projection_write_failures_total")
    /// Tests only: runs just before a settlement-details change is appended (to put another event of the deal first).
    let beforeRequisitesAppend = Mutex<(@Sendable () async throws -> Void)?>(nil)
    /// Stored messages on DEAL_STATUS the projection could not read as a version and passed over.
    private let unreadableStatusCounter = Counter(label: "deal_status_unreadable_versions_total")
    /// The highest DEAL_STATUS sequence in memory: the requisites command waits on it for its outcome.
    private let projectedUpTo = Watermark()
    /// Which events the delivery thread leaves to the event task (see `inline`).
    private let routing = Mutex(Routing())
    /// Where `inline` takes its publish acks itself (made on first use); out while in use, so a second thread makes
    /// its own. Released when event processing ends.
    private let inlineReplies = Mutex<ReplyInbox?>(nil)

    init(connection: NatsConnection, store: DealStore, logger: Logger, projectionWriteInterval: Duration = .milliseconds(10)) throws {
        self.connection = connection
        self.projectionWriteInterval = projectionWriteInterval
        self.jetStream = JetStream(connection: connection)
        self.store = store
        self.logger = logger
        micro = try MicroService(connection: connection, identity: Self.identity, logger: logger)
        try registerEndpoints()
    }

    /// Creates the streams and the shared durable consumer (idempotent; every replica does it at start).
    static func ensureStreams(_ js: JetStream, ackWait: Duration = .seconds(10)) async throws {
        var events = StreamConfig(name: Subjects.Deal.eventsStream, subjects: [Subjects.Deal.allEvents])
        events.duplicateWindow = 10 * 60 * 1_000_000_000
        try await js.ensureStream(events)
        var status = StreamConfig(name: Subjects.Deal.statusStream, subjects: [Subjects.Deal.allStoredStatuses])
        // Core subscribers (terminals) get a version only once the stream accepted it: a replica's losing publish
        // would otherwise reach them too.
        status.republish = .init(src: Subjects.Deal.allStoredStatuses, dest: Subjects.Deal.allStatuses)
        status.maxMsgsPerSubject = 32  // the last value is the state; a short history shows every version was published once
        try await js.ensureStream(status)
        var consumer = ConsumerConfig(durableName: consumerName)
        consumer.ackWait = ackWait.nanoseconds
        consumer.maxAckPending = 10_000
        try await js.ensureConsumer(stream: Subjects.Deal.eventsStream, consumer)
    }

    // MARK: Event processing

    /// Pulls events until cancelled, and folds them in batches.
    ///
    /// The common case runs on the cnats delivery thread of the pull, as events arrive (`inline`): no task, no
    /// hand-off, and what arrives while a batch waits for its publish acks is the next batch. What `inline` leaves —
    /// events of deals the event task has work for, and what it cannot decide alone — comes to the task below, which
    /// folds what it can in rounds too and takes the rest deal by deal concurrently (`process`), the events of one deal
    /// in stream order. While a task batch waits for its acks, the next one is already folded, when it shares no deal
    /// with it and follows on from it.
    func processEvents() async {
        let consumer = jetStream.pullConsumer(stream: Subjects.Deal.eventsStream, durable: Self.consumerName)
        var chain = BatchChain()
        // Events keep arriving while a batch is processed; each batch is what came meanwhile.
        // Events are read from their payload and subject: their headers are not copied.
        await consumer.consume(gather: Self.gather, streamHeaders: false, inline: { self.inline($0) }, failed: { error in
            logger.warning("event processing paused", metadata: ["error": "\(error)"])
            routing.withLock { $0.restart() }  // what the dropped pull held goes back to the consumer
        }) { batch in
            guard let first = batch.map(\.streamSequence).min() else { return }
            let deals = Set(batch.map(\.subject))
            let floor = if let known = try await chain.prepare(first: first, deals: deals) {
                known
            } else {
                try await jetStream.consumerInfo(stream: Subjects.Deal.eventsStream, consumer: Self.consumerName).ackFloor.streamSeq
            }
            let horizon = Horizon(batch, ackFloor: floor)
            let generation = routing.withLock { $0.generation }
            try await chain.start(Task {
                defer { self.routing.withLock { $0.finished(batch.lazy.map(\.subject), generation: generation) } }
                return try await self.handle(batch, horizon: horizon)
            }, deals: deals, horizon: horizon)
        }
        _ = try? await chain.running?.task.value  // the last batch's acks, before the connection goes
        // The inline handler is done (`consume` waits for it). A synchronous subscription left open would hold up the
        // connection's drain until its timeout: nobody takes its messages to see the drain through.
        inlineReplies.withLock { $0 = nil }
    }

    /// Which events `inline` leaves to the event task, and up to where every event is known to be handled.
    struct Routing {
        /// Events handed to the task and not finished there, per deal subject: later events of those deals go there
        /// too, so that one deal is never folded in two places at once.
        private var handedOver: [String: Int] = [:]
        /// Every event up to here is handled (0: not known, ask the server).
        var handledUpTo: UInt64 = 0
        /// Counts from before a restart of the pull are not decremented by tasks that end after it.
        private(set) var generation = 0

        /// Events of these deals (one subject per event) went to the task.
        mutating func handOver(_ subjects: some Sequence<String>) {
            for subject in subjects { handedOver[subject, default: 0] += 1 }
        }

        /// Whether the task has work for the deal on `subject`.
        func isHandedOver(_ subject: String) -> Bool { handedOver[subject] != nil }

        /// Whether the task has work for no deal.
        var isIdle: Bool { handedOver.isEmpty }

        /// The pull was dropped: what it handed over went back to the consumer.
        mutating func restart() {
            handedOver.removeAll()
            generation += 1
        }

        /// The task is done with these events (one subject per event), handed over in `generation`.
        mutating func finished(_ subjects: some Sequence<String>, generation: Int) {
            guard generation == self.generation else { return }
            for subject in subjects {
                guard let count = handedOver[subject] else { continue }
                handedOver[subject] = count > 1 ? count - 1 : nil
            }
        }
    }

    /// On the delivery thread of the event pull (see `PullStream.inline`): the batch's events are folded and published
    /// here in rounds, waiting for their acks on this thread. Returns what it leaves to the event task: the events of
    /// deals the task has work for, and what `processInRounds` cannot decide.
    func inline(_ batch: [JetStreamMessage]) -> [JetStreamMessage] {
        let (mine, theirs, knownFloor) = routing.withLock { routing in
            var mine: [JetStreamMessage] = [], theirs: [JetStreamMessage] = []
            if routing.isIdle {
                mine = batch  // the common case: nothing handed over, no copy
            } else {
                for event in batch {
                    if routing.isHandedOver(event.subject) { theirs.append(event) } else { mine.append(event) }
                }
            }
            let first = mine.lazy.map(\.streamSequence).min()
            return (mine, theirs, routing.handledUpTo > 0 && first == routing.handledUpTo + 1 ? routing.handledUpTo : nil)
        }
        var left = theirs
        if !mine.isEmpty {
            do {
                let floor = try knownFloor
                    ?? jetStream.consumerInfoBlocking(stream: Subjects.Deal.eventsStream, consumer: Self.consumerName).ackFloor.streamSeq
                let horizon = Horizon(mine, ackFloor: floor)
                let replies = inlineReplies.withLock { $0.take() } ?? (try? connection.replyInbox())
                defer { if let replies { inlineReplies.withLock { $0 = replies } } }
                let rounds = processInRounds(mine, horizon: horizon, replies: replies)
                if let failure = rounds.failure {
                    logger.warning("events left to the event task", metadata: ["error": "\(failure)", "events": "\(rounds.slow.count)"])
                }
                left += rounds.slow
                if rounds.slow.isEmpty { routing.withLock { $0.handledUpTo = max($0.handledUpTo, horizon.contiguousEnd) } }
            } catch {
                logger.warning("events left to the event task", metadata: ["error": "\(error)", "events": "\(mine.count)"])
                left += mine
            }
            connection.sendBuffered()  // the acks free the consumer's ack-pending slots
        }
        if !left.isEmpty { routing.withLock { $0.handOver(left.lazy.map(\.subject)) } }
        return left
    }

    /// The headers every version carries, built once (a round publishes many).
    private static let versionHeaders = LatestVersions<DealStatus>.headers

    /// How long `inline` waits for a round's publish acks before leaving the rest to the event task.
    static let inlineAckWait: Duration = .seconds(3)

    /// Where the event task folds its batches: `processInRounds` blocks its thread while it waits for acks, which a
    /// task must not do.
    private static let blockingWork = DispatchQueue(label: "deal-status.rounds", attributes: .concurrent)

    /// One batch of the event task: folded and published in rounds, then what that leaves deal by deal. True when
    /// every event was handled (none handed back to be tried later).
    private func handle(_ batch: [JetStreamMessage], horizon: Horizon) async throws -> Bool {
        let rounds = await withCheckedContinuation { continuation in
            Self.blockingWork.async { continuation.resume(returning: self.processInRounds(batch, horizon: horizon)) }
        }
        if let failure = rounds.failure { throw failure }
        var slow: [String: [JetStreamMessage]] = [:]
        for message in rounds.slow { slow[message.subject, default: []].append(message) }
        let done = try await withThrowingTaskGroup(of: Bool.self) { group in
            for messages in slow.values {
                group.addTask {
                    var done = true
                    for message in messages { done = try await self.process(message, horizon: horizon) && done }
                    return done
                }
            }
            return try await group.reduce(true) { $0 && $1 }
        }
        connection.sendBuffered()  // the acks free the consumer's ack-pending slots; no need to wait for the flusher
        return done
    }

    /// An event of a run and what it says. (The hot path keeps no tuples of large values: copying those goes through
    /// the runtime's generic tuple witnesses, a call and a lookup per field.)
    private struct RunEvent {
        let message: JetStreamMessage
        let event: DealEvent
    }

    /// A version of a round, to be published.
    private struct RoundVersion {
        let run: Int
        let status: DealStatus
        let bytes: [UInt8]
    }

    /// One deal's events of a batch, folded from the version held in memory.
    private struct DealRun {
        let key: String
        let client: String
        let dealId: String
        /// In stream order.
        let events: [RunEvent]
        /// The newest version known, and its DEAL_STATUS sequence (0: none).
        var current: DealStatus?
        var currentSequence: UInt64
        /// The first event not handled yet.
        var next = 0
        /// Handed to `process` from `next` on: another replica moved the deal, or an event is missing from the batch.
        var slow = false
    }

    /// What `processInRounds` left: events not handled, in stream order per deal, and the error that stopped it.
    struct Rounds {
        var slow: [JetStreamMessage] = []
        var failure: (any Error)?
    }

    /// The common case of a batch, without a task or a wait per event: every deal whose newest version is in memory
    /// and whose events all decoded is folded here, and the versions of all deals are published together (round 1:
    /// each deal's first change, round 2: the second…), one wait for all their acks per round. What this cannot
    /// decide alone — a malformed event, a deal not in memory, an event whose predecessors are not in this batch, a
    /// version another replica published first — is returned, per deal in stream order, for `process`; so is the
    /// rest of a deal whose publish failed, with the error.
    ///
    /// Blocks its thread while it waits for acks (and records events that changed nothing in SQLite): call it on a
    /// delivery thread or `blockingWork`, never in a task. With `replies`, it takes the acks from there itself.
    private func processInRounds(_ batch: [JetStreamMessage], horizon: Horizon, replies: ReplyInbox? = nil) -> Rounds {
        var byDeal: [String: [JetStreamMessage]] = [:]
        for message in batch { byDeal[message.subject, default: []].append(message) }
        var result = Rounds()
        var runs: [DealRun] = []
        for (subjectText, messages) in byDeal {
            let sorted = messages.count > 1 ? messages.sorted { $0.streamSequence < $1.streamSequence } : messages
            guard let (client, dealId) = Subject.tokens(of: subjectText, count: 4, at: 2, 3) else {
                result.slow += sorted
                continue
            }
            let key = Self.key(client: client, dealId: dealId)
            let held = latestKnown.get(key)
            guard held != nil || latestKnown.isKnownAbsent(key),
                  let events = try? sorted.map({ message in
                      RunEvent(message: message,
                               event: try Self.decodeEvent(message.payload, subject: message.subject, client: client, dealId: dealId).get())
                  })
            else {
                result.slow += sorted
                continue
            }
            runs.append(DealRun(key: key, client: client, dealId: dealId, events: events, current: held?.value, currentSequence: held?.sequence ?? 0))
        }
        while result.failure == nil {
            var round: [RoundVersion] = []
            for i in runs.indices where !runs[i].slow {
                do {
                    if let version = try advance(&runs[i], horizon: horizon, index: i) { round.append(version) }
                } catch {
                    runs[i].slow = true
                    result.failure = error
                }
            }
            if round.isEmpty { break }
            // Acks not back within the inline wait go to the event task, well before the consumer's ack wait.
            let publishes = replies.map { jetStream.batch(maxPending: round.count, ackTimeout: Self.inlineAckWait, replies: $0) }
                ?? jetStream.batch(maxPending: round.count)
            defer { for version in round { latestKnown.endPublishing(key: runs[version.run].key) } }
            var sent = 0
            for version in round where result.failure == nil {
                let key = runs[version.run].key
                latestKnown.beginPublishing(version.status, bytes: version.bytes, key: key)
                do {
                    // The window is the round: there is always room.
                    _ = try publishes.publishNow(version.bytes,
                                                 to: Subjects.Deal.storedStatus(client: runs[version.run].client, deal: runs[version.run].dealId),
                                                 headers: Self.versionHeaders,
                                                 msgId: LatestVersions<DealStatus>.messageID(key: key, version: version.status.version),
                                                 expectedLastSubjectSequence: runs[version.run].currentSequence)
                    sent += 1
                } catch {
                    result.failure = error
                }
            }
            let outcome = publishes.completeBlocking()
            for (n, version) in round.enumerated() {
                let i = version.run
                guard n < sent else {
                    runs[i].slow = true
                    continue
                }
                switch outcome.results[n] {
                case .success(let ack) where !ack.duplicate:
                    runs[i].current = version.status
                    runs[i].currentSequence = ack.sequence
                    latestKnown.remember(version.status, key: runs[i].key, sequence: ack.sequence)
                    do {
                        try runs[i].events[runs[i].next].message.ack()
                        runs[i].next += 1
                    } catch {
                        runs[i].slow = true  // its version is stored: `process` finds the event covered and acks it
                        result.failure = result.failure ?? error
                    }
                case .success, .failure(.wrongLastSequence):
                    runs[i].slow = true  // another replica published this version first
                case .failure(let error):
                    runs[i].slow = true
                    result.failure = result.failure ?? error
                }
            }
        }
        for run in runs where run.next < run.events.count && (run.slow || result.failure != nil) {
            result.slow += run.events[run.next...].map(\.message)
        }
        return result
    }

    /// Folds the run's events from `next` until one changes the deal, and returns that version with its bytes (for
    /// the run at `index`); nil when the run is done (or turned slow). Events covered already are acknowledged,
    /// ignored and rejected ones recorded (blocking, see `processInRounds`).
    private func advance(_ run: inout DealRun, horizon: Horizon, index: Int) throws -> RoundVersion? {
        while run.next < run.events.count {
            let message = run.events[run.next].message
            let covered = run.current?.lastEventSequence ?? 0
            if message.streamSequence <= covered {
                try message.ack()
                run.next += 1
                continue
            }
            // As in `nextVersion`: every earlier event of the deal is folded, or in this batch (and handled before).
            guard message.streamSequence == max(covered, horizon.ackFloor) + 1 || message.streamSequence <= horizon.contiguousEnd else {
                run.slow = true
                return nil
            }
            let outcome = DealRules.apply(run.events[run.next].event, sequence: message.streamSequence, to: run.current)
            if !outcome.isApplied && covered < horizon.ackFloor {
                // Ignored or rejected against a state that may miss another replica's version: `process` checks.
                run.slow = true
                return nil
            }
            if case .applied(let next) = outcome { return RoundVersion(run: index, status: next, bytes: try MessagePackEncoder().encode(next)) }
            if let entry = handledEntry(outcome, sequence: message.streamSequence, client: run.client, dealId: run.dealId, delivered: message) {
                try store.recordHandledBlocking(entry)
            }
            try message.ack()
            run.next += 1
        }
        return nil
    }

    /// Brings the deal up to this event and publishes the next version if anything changed.
    ///
    /// Replicas share one consumer, so the events of a deal may be handled by different replicas in any order.
    /// Order is restored here: the newest snapshot says which event it covers (`lastEventSequence`), and every
    /// event of the deal after that one, up to this message, is folded in stream order. The result is published as
    /// the next version with `Nats-Expected-Last-Subject-Sequence`; if another replica got there first, re-read
    /// and try again. An event already covered by a snapshot is simply acknowledged.
    ///
    /// Returns false when the event was handed back (nak) to be tried again later.
    func process(_ message: JetStreamMessage, horizon: Horizon) async throws -> Bool {
        let subject = Subject(message.subject)
        let client = subject[2] ?? "?"
        let dealId = subject[3] ?? "?"
        guard subject.tokens.count == 4 else {
            try await reject(message, client: client, dealId: dealId, reason: "event on malformed subject \(message.subject)")
            return true
        }
        let own: DealEvent
        switch Self.decodeEvent(message.payload, subject: message.subject, client: client, dealId: dealId) {
        case .success(let event): own = event
        case .failure(let reason):
            try await reject(message, client: client, dealId: dealId, reason: reason.message)
            return true
        }
        var current = try await known(client: client, dealId: dealId)
        var conflicts = 0
        while conflicts < 8 {
            let covered = current?.0.lastEventSequence ?? 0
            if message.streamSequence <= covered {
                try message.ack()  // folded into a snapshot already (by this or another replica)
                return true
            }
            let next: DealStatus
            switch try await nextVersion(after: current?.0, upTo: message, own: own, horizon: horizon) {
            case .unchanged:
                try message.ack()  // nothing up to this event changes the deal
                return true
            case .stale(let fresher):
                conflicts += 1
                current = fresher  // another replica moved the deal past what this one held: decide again from there
                continue
            case .version(let version):
                next = version
            }
            // SQLite gets the version from the projection, with its neighbours.
            if let sequence = try await latestKnown.publishNext(next, key: Self.key(client: client, dealId: dealId),
                                                                to: Subjects.Deal.storedStatus(client: client, deal: dealId),
                                                                expected: current?.1 ?? 0, on: jetStream) {
                current = (next, sequence)
            } else {
                // Another replica published this version first: take its snapshot and go on from there.
                conflicts += 1
                current = try await latest(client: client, dealId: dealId)
            }
        }
        try message.nak(delay: .milliseconds(200))
        return false
    }

    /// The first event of the deal after `state`, up to `message`, that changes it, applied: one version per change,
    /// so every replica numbers the versions of a deal the same way. Ignored and rejected events on the way are recorded.
    enum NextVersion {
        case version(DealStatus)
        case unchanged
        /// The held state was older than the stream's: here is the newer one.
        case stale((DealStatus, UInt64))
    }

    private func nextVersion(after state: DealStatus?, upTo message: JetStreamMessage, own: DealEvent, horizon: Horizon) async throws
        -> NextVersion
    {
        let subject = Subject(message.subject)
        let (client, dealId) = (subject[2] ?? "?", subject[3] ?? "?")
        // Events at or below the ack floor are handled: applied ones are in the newest snapshot (if `state` is older,
        // the publish fails its expected sequence and we start again from the newer one), absorbed ones change nothing.
        var sequence = max(state?.lastEventSequence ?? 0, horizon.ackFloor)
        while sequence < message.streamSequence {
            var event: DealEvent? = own
            // Every event between the floor and this one is in this batch, so earlier ones of this deal went first.
            if message.streamSequence == sequence + 1 || message.streamSequence <= horizon.contiguousEnd {
                sequence = message.streamSequence
            } else {
                guard let stored = try await jetStream.nextMessage(stream: Subjects.Deal.eventsStream, subject: message.subject,
                                                                   from: sequence + 1)
                else { return .unchanged }
                sequence = min(stored.seq, message.streamSequence)
                if sequence < message.streamSequence {
                    // A malformed earlier event is rejected when its own delivery is handled.
                    event = try? Self.decodeEvent(stored.payload, subject: stored.subject, client: client, dealId: dealId).get()
                }
            }
            guard let event else { continue }
            let outcome = DealRules.apply(event, sequence: sequence, to: state)
            // A publish from a stale state fails its expected sequence, but an ignored or rejected event is just acked:
            // when events of this deal up to the ack floor were handled elsewhere, make sure their version is here.
            if sequence == message.streamSequence, !outcome.isApplied, (state?.lastEventSequence ?? 0) < horizon.ackFloor,
               let fresher = try await latest(client: client, dealId: dealId), fresher.0.version > (state?.version ?? 0) {
                return .stale(fresher)
            }
            if case .applied(let next) = outcome { return .version(next) }
            if let entry = handledEntry(outcome, sequence: sequence, client: client, dealId: dealId,
                                        delivered: sequence == message.streamSequence ? message : nil) {
                try await store.recordHandled(entry)
            }
        }
        return .unchanged
    }

    /// What to record of an event that changed nothing: a rejected one always (the audit), an ignored one when it is
    /// the delivered event itself (an earlier one is recorded when its own delivery is handled). A rejection is logged.
    private func handledEntry(_ outcome: DealTransition, sequence: UInt64, client: String, dealId: String, delivered: JetStreamMessage?)
        -> DealStore.Handled?
    {
        switch outcome {
        case .applied:
            return nil
        case .ignored(let reason):
            guard delivered != nil else { return nil }
            return DealStore.Handled(sequence: sequence, client: client, dealId: dealId, outcome: .ignored, reason: reason, at: Date())
        case .rejected(let reason):
            if let delivered { logRejection(delivered, client: client, dealId: dealId, reason: reason) }
            return DealStore.Handled(sequence: sequence, client: client, dealId: dealId, outcome: .rejected, reason: reason, at: Date())
        }
    }

    struct EventProblem: Error { let message: String }

    static func decodeEvent(_ payload: [UInt8], subject: String, client: String, dealId: String) -> Result<DealEvent, EventProblem> {
        do {
            let event = try MessagePackDecoder().decode(DealEvent.self, from: payload)
            guard event.client == client, event.dealId == dealId else {
                return .failure(EventProblem(message: "event for \(event.client)/\(event.dealId) on \(subject)"))
            }
            return .success(event)
        } catch {
            return .failure(EventProblem(message: "malformed event: \(error)"))
        }
    }

    private func logRejection(_ message: JetStreamMessage, client: String, dealId: String, reason: String) {
        logger.notice("deal event rejected", metadata: ["seq": "\(message.streamSequence)", "deal": "\(client)/\(dealId)", "reason": "\(reason)"])
    }

    private func reject(_ message: JetStreamMessage, client: String, dealId: String, reason: String) async throws {
        logRejection(message, client: client, dealId: dealId, reason: reason)
        try await store.recordHandled(DealStore.Handled(sequence: message.streamSequence, client: client, dealId: dealId, outcome: .rejected,
                                                        reason: reason, at: Date()))
        try message.ack()
    }

    /// `<client>.<deal>`: the key of a deal in memory and in its versions' message ids.
    static func key(client: String, dealId: String) -> String { Subject.joined("", client, dealId) }

    /// The newest snapshot of one deal straight from DEAL_STATUS (the projection stores it when it arrives there).
    private func latest(client: String, dealId: String) async throws -> (DealStatus, UInt64)? {
        guard let stored = try await jetStream.lastMessage(stream: Subjects.Deal.statusStream, subject: Subjects.Deal.storedStatus(client: client, deal: dealId))
        else { return nil }
        let status = try MessagePackDecoder().decode(DealStatus.self, from: stored.payload)
        latestKnown.remember(status, key: Self.key(client: client, dealId: dealId), sequence: stored.seq)
        return (status, stored.seq)
    }

    /// The newest snapshot known here: from memory, else from SQLite.
    func known(client: String, dealId: String) async throws -> (DealStatus, UInt64)? {
        let key = Self.key(client: client, dealId: dealId)
        if let held = latestKnown.get(key) { return held }
        if latestKnown.isKnownAbsent(key) { return nil }
        return try await store.current(client: client, dealId: dealId)
    }

    /// A deal as a request (`get`, `requisites`) sees it: from memory once memory holds every deal. Until then — a
    /// replica still loading its projection (SQLite may be behind, or empty), or one whose memory overflowed — a deal
    /// not in memory is read from DEAL_STATUS itself, so that no replica answers "no deal" for one that exists.
    func current(client: String, dealId: String) async throws -> DealStatus? {
        let key = Self.key(client: client, dealId: dealId)
        if let held = latestKnown.get(key) { return held.value }
        if latestKnown.isKnownAbsent(key) { return nil }
        return try await latest(client: client, dealId: dealId)?.0
    }

    // MARK: Projection

    /// Keeps this replica's SQLite in step with DEAL_STATUS: last snapshot per deal, then live; rebuilds an empty store.
    ///
    /// Versions are taken on the delivery thread as they arrive (`project`), go to memory at once and to SQLite in
    /// batches (`writeProjection`), one transaction per batch.
    func followStatuses() async {
        while !Task.isCancelled {
            do {
                let generation = projectionGeneration.withLock { $0 }
                let updates = try await jetStream.snapshotAndUpdates(stream: Subjects.Deal.statusStream, filter: Subjects.Deal.allStoredStatuses,
                                                                     streamHeaders: false,
                                                                     inline: { try self.project($0, generation: generation) })
                defer { Task { await updates.stop() } }
                for try await _ in updates {}  // ends when the consumer is lost or a version cannot be read
            } catch {
                if Task.isCancelled { return }
                logger.warning("status projection restarting", metadata: ["error": "\(error)"])
            }
            projectionGeneration.withLock { generation in
                generation += 1
                latestKnown.markComplete(false)
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
    }

    /// What the projection has received and SQLite not yet taken.
    struct PendingWrites {
        var versions: [DealStore.Version] = []
        /// The last stored message that is not a readable version (skipped): written once what came before it is.
        var skippedUpTo: UInt64 = 0
    }

    /// Versions from DEAL_STATUS, on the projection's delivery thread: into memory, and queued for SQLite. A stored
    /// message that is not a readable version is logged, counted and passed over; stopping at it would stop the
    /// projection for good (it would be read again on every restart).
    private func project(_ events: [SnapshotEvent], generation: Int) throws {
        var received: [DealStore.Version] = []
        received.reserveCapacity(events.count)
        var skipped: UInt64 = 0
        for event in events {
            switch event {
            case .message(let message):
                // A version this replica published is in memory already: no need to decode it again.
                let key = Subject.tokens(of: message.subject, count: 4, at: 2, 3).map { Self.key(client: $0.0, dealId: $0.1) }
                let status: DealStatus
                do {
                    status = try latestKnown.value(in: message, key: key)
                } catch {
                    logger.error("unreadable deal status skipped", metadata: ["seq": "\(message.streamSequence)", "subject": "\(message.subject)",
                                                                         "error": "\(error)"])
                    unreadableStatusCounter.increment()
                    skipped = message.streamSequence
                    continue
                }
                latestKnown.remember(status, key: key ?? Self.key(client: status.terms.client, dealId: status.terms.dealId),
                                     sequence: message.streamSequence)
                received.append(DealStore.Version(status, sequence: message.streamSequence, encoded: message.payload))
            case .caughtUp:
                projectionGeneration.withLock { current in
                    if current == generation { latestKnown.markComplete(true) }
                }
            }
        }
        let last = max(received.last?.sequence ?? 0, skipped)
        guard last > 0 else { return }
        pendingWrites.withLock { pending in
            pending.versions += received
            pending.skippedUpTo = max(pending.skippedUpTo, skipped)
        }
        writeSignal.continuation.yield()
        projectedUpTo.advance(to: last)
    }

    /// Writes what `followStatuses` received, all that has gathered since the last write in one transaction, at most
    /// once per `projectionWriteInterval`; ends (after writing what is left) when cancelled.
    ///
    /// Queries of one deal (`get`) and event processing read memory; only `list` reads SQLite, and it waits for the
    /// projection (`awaitProjection`). In exchange a trickle of versions costs one transaction per interval, not per
    /// arrival (at 5k events/s: ~400 commits/s before, ≤ 100 now).
    func writeProjection() async {
        for await _ in writeSignal.stream {
            guard await writePending() else {
                // Kept for the next attempt (the disk full, the file locked…): a second later, not at once.
                writeSignal.continuation.yield()
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            try? await Task.sleep(for: projectionWriteInterval)
        }
        await Task { _ = await writePending() }.value  // the last write runs outside the cancelled task, so it is not refused
    }

    /// Writes what has gathered; false when SQLite refused it, which is then kept, ahead of what came since, so that
    /// `writtenUpTo` never passes a version that is not written.
    func writePending() async -> Bool {
        let (batch, skippedUpTo) = pendingWrites.withLock { pending in
            defer { pending = PendingWrites(versions: []) }
            return (pending.versions, pending.skippedUpTo)
        }
        guard !batch.isEmpty else {
            writtenUpTo.advance(to: skippedUpTo)
            return true
        }
        do {
            try await store.upsertAll(batch)
            writtenUpTo.advance(to: max(batch.map(\.sequence).max() ?? 0, skippedUpTo))
            return true
        } catch is CancellationError {
            // Stopping: the projection is rebuilt from DEAL_STATUS on the next start.
            logger.debug("projection write skipped at stop", metadata: ["versions": "\(batch.count)"])
            return true
        } catch {
            logger.error("projection write failed; retrying", metadata: ["error": "\(error)", "versions": "\(batch.count)"])
            // Only the newest version of each deal is written anyway: while SQLite refuses, the queue stays as long as
            // there are deals, not versions.
            pendingWrites.withLock { pending in
                pending.versions = DealStore.Version.newestPerDeal(batch + pending.versions)
                pending.skippedUpTo = max(pending.skippedUpTo, skippedUpTo)
            }
            projectionWriteFailures.add(1, ordering: .relaxed)
            projectionWriteFailureCounter.increment()
            return false
        }
    }

    /// Waits until SQLite holds every version DEAL_STATUS had stored when this was called (at most `limit`), so that
    /// a terminal that subscribes to `deal.status` and then lists (CONTRACT.md) misses no version: what was stored
    /// before the list is in it, what is stored after reaches the subscription.
    func awaitProjection(limit: Duration = .seconds(2)) async {
        guard let target = try? await jetStream.streamInfo(Subjects.Deal.statusStream).state.lastSeq, target > 0 else { return }
        // The projection takes versions in stream order (the last of each deal, then live), and writes them in that
        // order: once it has written `target`, SQLite holds every version stored before the call.
        if await writtenUpTo.wait(for: target, until: ContinuousClock.now + limit) { return }
        logger.warning("list answered from a projection behind the stream", metadata: ["written": "\(writtenUpTo.value)", "stored": "\(target)"])
    }

    /// Event processing, the projection and its writer, until cancelled.
    func runWorkers() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.processEvents() }
            group.addTask { await self.followStatuses() }
            group.addTask { await self.writeProjection() }
        }
    }

    // MARK: Requests

    private func registerEndpoints() throws {
        let store = self.store
        try micro.addEndpoint("list", subject: "deal.query.*.list", request: DealListQuery.self, maxConcurrency: 8) { [self] query, request in
            let client = try request.clientToken()
            try Self.check(query)
            await awaitProjection()
            return try await store.list(client: client, query)
        }
        try micro.addEndpoint("get", subject: "deal.query.*.get", request: DealGet.self, maxConcurrency: 8) { [self] get, request in
            try Self.checkDealId(get.dealId)
            guard let status = try await self.current(client: try request.clientToken(), dealId: get.dealId) else {
                throw ErrorBody(code: ErrorBody.notFound, message: "no deal \(get.dealId)", field: "dealId")
            }
            return status
        }
        try micro.addEndpoint("history", subject: Subjects.Deal.queryHistoryPattern, request: DealHistoryQuery.self, maxConcurrency: 4) {
            [self] query, request in
            try await history(client: try request.clientToken(), dealId: query.dealId)
        }
        // Several at once: each waits for its outcome (up to about 2 s), which must not hold up the next.
        try micro.addEndpoint("requisites", subject: "deal.cmd.*.requisites", request: ChangeRequisites.self, maxConcurrency: 8) { [self] command, request in
            try await changeRequisites(command, client: try request.clientToken())
        }
    }

    /// The list's filters that decoding cannot check: value dates that exist (else 400); amounts in a known currency
    /// (else 422, as for any money), both in the same one (amounts compare only within a currency; else 400); a page
    /// of 1–500 deals from offset 0 or more, a currency and a pair shaped as codes, an account with some letter or
    /// digit; rates positive, with at most 18 decimals (else 400).
    static func check(_ query: DealListQuery) throws {
        for (field, day) in [("valueDateFrom", query.valueDateFrom), ("valueDateTo", query.valueDateTo)] {
            guard let day, !CalendarDay.isValid(day) else { continue }
            throw ErrorBody(code: ErrorBody.badRequest, message: "\(field) must be YYYY-MM-DD and exist, got \"\(day)\"", field: field)
        }
        for (field, amount) in [("amountFrom", query.amountFrom), ("amountTo", query.amountTo)] {
            guard let amount, !amount.currency.isKnown else { continue }
            throw ErrorBody(code: ErrorBody.unprocessable, message: "\(field) names an unknown currency \"\(amount.currency.rawValue)\"",
                            field: "\(field).currency")
        }
        if let from = query.amountFrom, let to = query.amountTo, from.currency != to.currency {
            throw ErrorBody(code: ErrorBody.badRequest, message: """
                amountFrom and amountTo must name one currency, got \(from.currency.rawValue) and \(to.currency.rawValue)
                """, field: "amountTo.currency")
        }
        if let limit = query.limit, !(1...DealStore.pageLimit).contains(limit) {
            throw ErrorBody(code: ErrorBody.badRequest, message: "limit must be 1 to \(DealStore.pageLimit), got \(limit)", field: "limit")
        }
        if let offset = query.offset, offset < 0 {
            throw ErrorBody(code: ErrorBody.badRequest, message: "offset must be 0 or more, got \(offset)", field: "offset")
        }
        // Codes in any case, as the terminal takes them; the shape only (a code no deal has finds none).
        if let currency = query.currency, CurrencyCode(anyCase: currency) == nil {
            throw ErrorBody(code: ErrorBody.badRequest, message: "currency must be an ISO 4217 code such as USD, got \(currency.debugDescription)",
                            field: "currency")
        }
        if let pair = query.pair, CurrencyCode.pair(anyCase: pair) == nil {
            throw ErrorBody(code: ErrorBody.badRequest, message: "pair must be two ISO 4217 codes such as USDRUB, got \(pair.debugDescription)",
                            field: "pair")
        }
        if let account = query.account, !account.contains(where: { $0.isLetter || $0.isNumber }) {
            throw ErrorBody(code: ErrorBody.badRequest, message: "account must name an account, got \"\(account)\"", field: "account")
        }
        for (field, rate) in [("rateFrom", query.rateFrom), ("rateTo", query.rateTo)] {
            guard let rate, rate.orderKey == nil else { continue }
            throw ErrorBody(code: ErrorBody.badRequest, message: "\(field) must be a positive rate with at most 18 decimals, got \(rate)",
                            field: field)
        }
    }

    /// A deal id a request names must be one subject token (a wildcard or a dot would name other deals' subjects).
    static func checkDealId(_ dealId: String) throws {
        guard SubjectToken(rawValue: dealId) == nil else { return }
        throw ErrorBody(code: ErrorBody.badRequest, message: "invalid deal id", field: "dealId")
    }

    /// At most this many events in one history answer: the newest.
    static let historyLimit = 500

    /// A deal's audit trail: its events from DEAL_EVENTS, oldest first (the newest `historyLimit`), each with the version
    /// it made (from the versions DEAL_STATUS keeps) or, when it made none, why. One version is made per change, so an
    /// event between two kept versions, or handled (at or below the event consumer's ack floor) after the newest,
    /// without a version of its own changed nothing. Why is what the rules say of it against the kept version before
    /// it: the rules are a function of the event and that state, so every replica, and one rebuilt from the streams,
    /// gives the reason the handling replica recorded. Both streams are read through short-lived consumers: a few
    /// requests however long the deal's life.
    func history(client: String, dealId: String) async throws -> DealHistory {
        try Self.checkDealId(dealId)
        // Read first: what is at or below it and has no version changed nothing.
        let ackFloor = try await jetStream.consumerInfo(stream: Subjects.Deal.eventsStream, consumer: Self.consumerName).ackFloor.streamSeq
        let decoder = MessagePackDecoder()
        var kept: [DealStatus] = []  // by the last event each folded
        for stored in try await jetStream.readAll(stream: Subjects.Deal.statusStream, subject: Subjects.Deal.storedStatus(client: client, deal: dealId)) {
            guard let status = try? decoder.decode(DealStatus.self, from: stored.payload) else { continue }
            kept.append(status)
        }
        kept.sort { $0.lastEventSequence < $1.lastEventSequence }
        let versionOf = Dictionary(kept.map { ($0.lastEventSequence, $0.version) }, uniquingKeysWith: max)
        let oldest = kept.min { $0.version < $1.version }
        let newest = kept.last?.lastEventSequence ?? 0
        let events = try await jetStream.readAll(stream: Subjects.Deal.eventsStream, subject: "deal.event.\(client).\(dealId)")
        guard !events.isEmpty else { throw ErrorBody(code: ErrorBody.notFound, message: "no deal \(dealId)", field: "dealId") }
        let handled = try await store.handled(client: client, dealId: dealId)
        let entries = events.suffix(Self.historyLimit).map { stored -> DealHistory.Entry in
            let seq = stored.streamSequence
            let event: DealEvent
            switch Self.decodeEvent(stored.payload, subject: stored.subject, client: client, dealId: dealId) {
            case .success(let decoded): event = decoded
            case .failure(let problem):
                return DealHistory.Entry(eventSequence: seq, event: nil, outcome: .notApplied, reason: "rejected: \(problem.message)")
            }
            if let version = versionOf[seq] { return DealHistory.Entry(eventSequence: seq, event: event, outcome: .applied, version: version) }
            // Certain: between kept versions (all of them kept when the oldest is the booking), or handled after the newest.
            let withinKept = oldest.map { seq < newest && ($0.version == 1 || seq > $0.lastEventSequence) } ?? false
            if withinKept || (seq > newest && seq <= ackFloor) {
                // Judged against the stream's versions, not what this replica recorded: it may have judged the event
                // against a state another replica had moved on from.
                if let why = Self.whyUnchanged(event, sequence: seq, state: kept.last { $0.lastEventSequence < seq }) {
                    return DealHistory.Entry(eventSequence: seq, event: event, outcome: .notApplied, reason: why)
                }
                // The rules would apply it, yet no kept version has it: a kept version unreadable, or rules changed since.
                return DealHistory.Entry(eventSequence: seq, event: event, outcome: .unknown,
                                         reason: handled[seq].map { "recorded here: \($0)" } ?? "no kept version shows what it made")
            }
            // Before the kept versions: what this replica recorded is a hint only (it may have seen the deal late).
            return DealHistory.Entry(eventSequence: seq, event: event, outcome: .unknown, reason: handled[seq].map { "recorded here: \($0)" })
        }
        return DealHistory(dealId: dealId, entries: entries, truncated: events.count > Self.historyLimit)
    }

    /// Why an event that made no version changed nothing, as the rules judge it against the deal's state before it and
    /// as `DealStore.handled` words it; nil if the rules would apply it.
    static func whyUnchanged(_ event: DealEvent, sequence: UInt64, state: DealStatus?) -> String? {
        switch DealRules.apply(event, sequence: sequence, to: state) {
        case .applied: nil
        case .ignored(let reason): "\(DealStore.Outcome.ignored.rawValue): \(reason)"
        case .rejected(let reason): "\(DealStore.Outcome.rejected.rawValue): \(reason)"
        }
    }

    /// Validates against the deal as this replica knows it, then records the change as a deal event (the audit trail).
    func changeRequisites(_ command: ChangeRequisites, client: String) async throws -> CommandAccepted {
        try Self.checkDealId(command.dealId)
        guard !command.requestId.isEmpty else { throw ErrorBody(code: ErrorBody.badRequest, message: "requestId is required", field: "requestId") }
        // It goes into the event's id (a message id header): one token, so that ids of different clients and deals
        // cannot run into each other.
        guard SubjectToken(rawValue: command.requestId) != nil else {
            throw ErrorBody(code: ErrorBody.badRequest, message: """
                requestId must be at most \(SubjectToken.maxBytes) bytes without dots, wildcards, spaces or control characters
                """, field: "requestId")
        }
        let details: SettlementRequisites
        do {
            details = try command.requisites.validated()
        } catch let error as RequisitesError {
            throw ErrorBody(code: ErrorBody.unprocessable, message: error.description, field: error.field)
        }
        let subject = "deal.event.\(client).\(command.dealId)"
        // The request id is the caller's: it makes a retry idempotent for this client and deal only, so that another
        // client (or deal) using the same id is not taken for a retry. Dots part the three tokens, which have none.
        let event = DealEvent(eventId: "requisites.\(client).\(command.dealId).\(command.requestId)", client: client, dealId: command.dealId,
                              kind: .requisitesChanged,
                              occurredAt: Date(), requisites: [details], reason: command.requestedBy.map { "requested by \($0)" })
        let payload = try MessagePackEncoder().encode(event)
        var status: DealStatus
        var stored: PubAck?
        var tries = 0
        repeat {
            tries += 1
            guard tries <= 8 else {
                throw ErrorBody(code: ErrorBody.conflict, message: "deal \(command.dealId) is changing too fast; try again")
            }
            // Appended only if no event of the deal came after the last one read here: a change whose answer was lost
            // (its publish held in the client library while the connection was down) cannot land later, after a
            // newer change, and undo it. Another event in between: check again and retry.
            let last = try await jetStream.lastMessage(stream: Subjects.Deal.eventsStream, subject: subject)?.seq ?? 0
            guard let current = try await current(client: client, dealId: command.dealId) else {
                throw ErrorBody(code: ErrorBody.notFound, message: "no deal \(command.dealId)", field: "dealId")
            }
            status = current
            let legs = status.legs.filter { $0.amount.currency == details.currency }
            guard !legs.isEmpty else {
                throw ErrorBody(code: ErrorBody.unprocessable, message: "deal \(command.dealId) has no \(details.currency) leg",
                                field: "requisites.currency")
            }
            if let fixed = DealRules.requisitesFixed(in: details.currency, of: legs) {
                throw ErrorBody(code: ErrorBody.conflict, message: "leg \(fixed.id) is \(fixed.status.rawValue); requisites are fixed")
            }
            if let hook = beforeRequisitesAppend.withLock({ $0 }) { try await hook() }
            do {
                stored = try await jetStream.publish(payload, to: subject,
                                                     headers: [Header.contentType: ContentType.msgpack, Header.schema: DealEvent.schema],
                                                     msgId: event.eventId, expectedLastSubjectSequence: last)
            } catch BusError.wrongLastSequence {
                try Task.checkCancellation()
                // Another event came first. If it changes this currency's details for another request, this change
                // (checked against the details before it, perhaps held while the connection was down) must not land
                // after it and undo it: the caller decides again.
                var next = last + 1
                while let later = try await jetStream.nextMessage(stream: Subjects.Deal.eventsStream, subject: subject, from: next) {
                    next = later.seq + 1
                    // (The same details for another request, e.g. an earlier try of this one, are in effect: checked again.)
                    guard let other = try? MessagePackDecoder().decode(DealEvent.self, from: later.payload), other.kind == .requisitesChanged,
                          other.eventId != event.eventId, other.requisites?.contains(where: { $0.currency == details.currency }) == true,
                          other.requisites?.contains(details) != true
                    else { continue }
                    throw ErrorBody(code: ErrorBody.conflict, message: """
                        the \(details.currency.rawValue) settlement details of deal \(command.dealId) were changed meanwhile (event \(later.seq)); \
                        check them and send again
                        """)
                }
            }
        } while stored == nil
        let ack = stored!
        // The request id was used before (within the stream's dedupe window) for other details: not a retry of this
        // request, and it would not be applied.
        if ack.duplicate, let first = try await jetStream.nextMessage(stream: Subjects.Deal.eventsStream, subject: subject, from: ack.sequence),
           first.seq == ack.sequence, let earlier = try? MessagePackDecoder().decode(DealEvent.self, from: first.payload),
           earlier.requisites != event.requisites {
            throw ErrorBody(code: ErrorBody.conflict, message: """
                request id \(command.requestId) was used for other settlement details (event \(ack.sequence)); send a new request id
                """, field: "requestId")
        }
        // The details were in effect already (a retry of an applied request, or the same details again): that version.
        if status.terms.requisites.contains(details) {
            return CommandAccepted(eventSequence: ack.sequence, duplicate: ack.duplicate, appliedInVersion: status.version)
        }
        // Else answer with the outcome when it comes soon (any replica may fold the event; every replica's memory
        // follows DEAL_STATUS): the version that carries the new details, or a 409 when the event was handled without
        // one, refused because a payment was released between the check above and the event. Looked at again whenever
        // memory takes a newer version of any deal, and every 100 ms (a refusal makes no version).
        let deadline = ContinuousClock.now + .seconds(2)
        var floorCheckedAt: ContinuousClock.Instant?
        while ContinuousClock.now < deadline {
            let seen = projectedUpTo.value
            let now = try await current(client: client, dealId: command.dealId)
            if let now, now.lastEventSequence >= ack.sequence, now.terms.requisites.contains(details) {
                return CommandAccepted(eventSequence: ack.sequence, duplicate: ack.duplicate, appliedInVersion: now.version)
            }
            // Handled (the consumer's ack floor passed it) and not in effect, with a payment in that currency released.
            // The floor is asked for at most every 100 ms (memory wakes this loop at every version of any deal).
            if let now, let fixed = DealRules.requisitesFixed(in: details.currency, of: now.legs),
               floorCheckedAt.map({ ContinuousClock.now - $0 >= .milliseconds(100) }) ?? true {
                floorCheckedAt = ContinuousClock.now
                let floor = try await jetStream.consumerInfo(stream: Subjects.Deal.eventsStream, consumer: Self.consumerName).ackFloor.streamSeq
                if floor >= ack.sequence, try await current(client: client, dealId: command.dealId)?.terms.requisites.contains(details) != true {
                    throw ErrorBody(code: ErrorBody.conflict, message: """
                        the new details did not take effect: leg \(fixed.id) is \(fixed.status.rawValue) (event \(ack.sequence) refused)
                        """)
                }
            }
            _ = await projectedUpTo.wait(for: seen + 1, until: min(deadline, ContinuousClock.now + .milliseconds(100)))
        }
        return CommandAccepted(eventSequence: ack.sequence, duplicate: ack.duplicate)
    }
}

/// What a fetched batch knows about the rest of the stream: every event up to `ackFloor` is handled, and every event
/// from there to `contiguousEnd` is in this batch.
struct Horizon: Sendable {
    let ackFloor: UInt64
    let contiguousEnd: UInt64

    init(_ batch: [JetStreamMessage], ackFloor: UInt64) {
        self.init(sequences: batch.map(\.streamSequence), ackFloor: ackFloor)
    }

    init(sequences: [UInt64], ackFloor: UInt64) {
        self.ackFloor = ackFloor
        var end = ackFloor
        for sequence in sequences.sorted() where sequence > end {  // a redelivered copy in the batch is no gap
            guard sequence == end + 1 else { break }
            end = sequence
        }
        contiguousEnd = end
    }
}

/// The bookkeeping behind overlapping batches (see `DealStatusService.processEvents`): the batch in flight, and up to
/// which stream sequence every event is known to be handled, so that a batch's floor need not be asked of the server.
///
/// A batch may start while the one before waits for its acks only if it follows on from it (its first event is the
/// one after the running batch's contiguous end) and shares none of its deals: then every event of its deals up to
/// that end is handled or in the batch itself. A batch not all handled breaks the chain; the next one waits for
/// everything in flight and asks the server for the ack floor.
struct BatchChain {
    struct Running {
        let task: Task<Bool, any Error>
        let deals: Set<String>
        let horizon: Horizon
        /// False when a batch before it was not all handled: then its end is no floor for the next.
        var chained = true
    }

    /// Every event up to here is handled: below the ack floor, or in batches that followed one another without a gap
    /// and were all handled. 0 = not known.
    private(set) var handledUpTo: UInt64 = 0
    /// The batch whose acks may still be awaited.
    private(set) var running: Running?

    /// Readies the chain for a batch starting at `first` with events of `deals`: waits for the running batch unless
    /// the new one may overlap it, and returns the floor known here (nil: ask the server).
    mutating func prepare(first: UInt64, deals: Set<String>) async throws -> UInt64? {
        if !mayOverlap(first: first, deals: deals) { try await finishRunning() }
        return floor(first: first)
    }

    /// Whether a batch starting at `first`, with events of `deals`, may start before the running one ends.
    func mayOverlap(first: UInt64, deals: Set<String>) -> Bool {
        guard let running else { return false }
        return running.chained && first == running.horizon.contiguousEnd + 1 && running.deals.isDisjoint(with: deals)
    }

    /// The floor for a batch starting at `first` that is known here (nil: ask the server). With a batch running,
    /// that batch's contiguous end when the new one follows on from it.
    private func floor(first: UInt64) -> UInt64? {
        if let running { return first == running.horizon.contiguousEnd + 1 ? running.horizon.contiguousEnd : nil }
        return handledUpTo > 0 && first == handledUpTo + 1 ? handledUpTo : nil
    }

    /// Waits for the running batch; its end becomes `handledUpTo` if it and the chain before it were all handled.
    mutating func finishRunning() async throws {
        guard let previous = running else { return }
        running = nil
        handledUpTo = 0
        if try await previous.task.value, previous.chained { handledUpTo = previous.horizon.contiguousEnd }
    }

    /// Makes `task` the running batch, then waits for the one before it (if any), which awaited its acks meanwhile.
    /// If that one fails or throws, the new batch is no floor for the next.
    mutating func start(_ task: Task<Bool, any Error>, deals: Set<String>, horizon: Horizon) async throws {
        handledUpTo = 0
        var current = Running(task: task, deals: deals, horizon: horizon)
        guard let previous = running else {
            running = current
            return
        }
        current.chained = false
        running = current
        let done = try await previous.task.value
        current.chained = done && previous.chained
        running = current
    }
}

/// Runs the event processor and the projection beside the endpoints until graceful shutdown.
struct DealWorkers: Service {
    let service: DealStatusService

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await service.runWorkers()
        }
    }
}
