import Bus
import Foundation
import Logging
import Messages
import ServiceKit
import ServiceLifecycle
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

    let connection: NatsConnection
    let jetStream: JetStream
    let store: DealStore
    let logger: Logger
    let micro: MicroService

    init(connection: NatsConnection, store: DealStore, logger: Logger) throws {
        self.connection = connection
        self.jetStream = JetStream(connection: connection)
        self.store = store
        self.logger = logger
        micro = try MicroService(connection: connection, identity: Self.identity, logger: logger)
        try registerEndpoints()
    }

    /// Creates the streams and the shared durable consumer (idempotent; every replica does it at start).
    static func ensureStreams(_ js: JetStream) async throws {
        var events = StreamConfig(name: Subjects.Deal.eventsStream, subjects: [Subjects.Deal.allEvents])
        events.duplicateWindow = 10 * 60 * 1_000_000_000
        try await js.ensureStream(events)
        var status = StreamConfig(name: Subjects.Deal.statusStream, subjects: [Subjects.Deal.allStatuses])
        status.maxMsgsPerSubject = 1  // the last value per deal is the state; history lives in DEAL_EVENTS
        try await js.ensureStream(status)
        var consumer = ConsumerConfig(durableName: consumerName)
        consumer.ackWait = 10_000_000_000
        consumer.maxAckPending = 10_000
        try await js.ensureConsumer(stream: Subjects.Deal.eventsStream, consumer)
    }

    // MARK: Event processing

    /// Pulls events until cancelled: what is there at once in batches, otherwise waits for the next one.
    func processEvents() async {
        let consumer = jetStream.pullConsumer(stream: Subjects.Deal.eventsStream, durable: Self.consumerName)
        while !Task.isCancelled {
            do {
                var batch = try await consumer.fetch(batch: 256, noWait: true)
                if batch.isEmpty { batch = try await consumer.fetch(batch: 1, expires: .seconds(1)) }
                for message in batch { try await process(message) }
            } catch {
                if Task.isCancelled { return }
                logger.warning("event processing paused", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    func process(_ message: JetStreamMessage) async throws {
        let subject = Subject(message.subject)
        let client = subject[2] ?? "?"
        let dealId = subject[3] ?? "?"
        let event: DealEvent
        do {
            event = try MessagePackDecoder().decode(DealEvent.self, from: message.payload)
        } catch {
            try await reject(message, client: client, dealId: dealId, reason: "malformed event: \(error)")
            return
        }
        guard event.client == client, event.dealId == dealId, subject.tokens.count == 4 else {
            try await reject(message, client: client, dealId: dealId, reason: "event for \(event.client)/\(event.dealId) on \(message.subject)")
            return
        }
        for _ in 0..<8 {
            let current = try await store.current(client: client, dealId: dealId)
            if try await earlierEventPending(message, appliedUpTo: current?.0.lastEventSequence ?? 0) {
                try message.nak(delay: .milliseconds(20))  // another replica still holds an earlier event of this deal
                return
            }
            switch DealRules.apply(event, sequence: message.streamSequence, to: current?.0) {
            case .ignored(let reason):
                try await store.recordHandled(sequence: message.streamSequence, client: client, dealId: dealId, outcome: .ignored,
                                              reason: reason, at: Date())
                try message.ack()
                return
            case .rejected(let reason):
                try await reject(message, client: client, dealId: dealId, reason: reason)
                return
            case .applied(let next):
                do {
                    let ack = try await jetStream.publish(
                        try MessagePackEncoder().encode(next),
                        to: "deal.status.\(client).\(dealId)",
                        headers: [Header.contentType: ContentType.msgpack, Header.schema: DealStatus.schema],
                        msgId: "\(client).\(dealId).v\(next.version)",
                        expectedLastSubjectSequence: current?.1 ?? 0
                    )
                    if !ack.duplicate { try await store.upsert(next, statusSequence: ack.sequence) }
                    try message.ack()
                    return
                } catch BusError.wrongLastSequence {
                    try await refresh(client: client, dealId: dealId)  // another replica moved this deal: re-read, re-apply
                }
            }
        }
        try message.nak(delay: .milliseconds(200))
    }

    /// Whether an earlier event of the same deal may still be unprocessed (per-deal order across replicas).
    ///
    /// Events up to the snapshot's `lastEventSequence` are applied; one between that and this event counts as done
    /// only once the shared consumer's ack floor has passed it (it was rejected or absorbed without a new version).
    private func earlierEventPending(_ message: JetStreamMessage, appliedUpTo applied: UInt64) async throws -> Bool {
        guard message.streamSequence > applied + 1 else { return false }
        guard let earlier = try await jetStream.nextMessage(stream: Subjects.Deal.eventsStream, subject: message.subject, from: applied + 1),
              earlier.seq < message.streamSequence
        else { return false }
        let info = try await jetStream.consumerInfo(stream: Subjects.Deal.eventsStream, consumer: Self.consumerName)
        if info.ackFloor.streamSeq >= earlier.seq { return false }
        return try await !laterEventsOnlyAbsorbed(message, from: earlier.seq)
    }

    /// True when every event of this deal from `first` up to (not including) `message` was absorbed or rejected here.
    private func laterEventsOnlyAbsorbed(_ message: JetStreamMessage, from first: UInt64) async throws -> Bool {
        let subject = Subject(message.subject)
        let handled = try await store.handledSequences(client: subject[2] ?? "", dealId: subject[3] ?? "")
        var next = first
        while next < message.streamSequence {
            guard handled.contains(next) else { return false }
            guard let after = try await jetStream.nextMessage(stream: Subjects.Deal.eventsStream, subject: message.subject, from: next + 1)
            else { return true }
            next = after.seq
        }
        return true
    }

    private func reject(_ message: JetStreamMessage, client: String, dealId: String, reason: String) async throws {
        logger.notice("deal event rejected", metadata: ["seq": "\(message.streamSequence)", "deal": "\(client)/\(dealId)", "reason": "\(reason)"])
        try await store.recordHandled(sequence: message.streamSequence, client: client, dealId: dealId, outcome: .rejected, reason: reason,
                                      at: Date())
        try message.ack()
    }

    /// Loads the newest snapshot of one deal straight from DEAL_STATUS.
    private func refresh(client: String, dealId: String) async throws {
        guard let stored = try await jetStream.lastMessage(stream: Subjects.Deal.statusStream, subject: "deal.status.\(client).\(dealId)")
        else { return }
        try await store.upsert(try MessagePackDecoder().decode(DealStatus.self, from: stored.payload), statusSequence: stored.seq)
    }

    // MARK: Projection

    /// Keeps this replica's SQLite in step with DEAL_STATUS: last snapshot per deal, then live; rebuilds an empty store.
    func followStatuses() async {
        while !Task.isCancelled {
            do {
                let updates = try await jetStream.snapshotAndUpdates(stream: Subjects.Deal.statusStream, filter: Subjects.Deal.allStatuses)
                defer { Task { await updates.stop() } }
                for try await event in updates {
                    guard case .message(let message) = event else { continue }
                    let status = try MessagePackDecoder().decode(DealStatus.self, from: message.payload)
                    try await store.upsert(status, statusSequence: message.streamSequence)
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("status projection restarting", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
    }

    // MARK: Requests

    private func registerEndpoints() throws {
        let store = self.store
        try micro.addEndpoint("list", subject: "deal.query.*.list", request: DealListQuery.self, maxConcurrency: 8) { query, request in
            try await store.list(client: try Self.client(of: request), query)
        }
        try micro.addEndpoint("get", subject: "deal.query.*.get", request: DealGet.self, maxConcurrency: 8) { get, request in
            guard let (status, _) = try await store.current(client: try Self.client(of: request), dealId: get.dealId) else {
                throw ErrorBody(code: ErrorBody.notFound, message: "no deal \(get.dealId)", field: "dealId")
            }
            return status
        }
        try micro.addEndpoint("requisites", subject: "deal.cmd.*.requisites", request: ChangeRequisites.self) { [self] command, request in
            try await changeRequisites(command, client: try Self.client(of: request))
        }
    }

    static func client(of request: ServiceRequest) throws -> String {
        guard let token = Subject(request.subject)[2], SubjectToken(rawValue: token) != nil else {
            throw ErrorBody(code: ErrorBody.badRequest, message: "no client in subject \(request.subject)")
        }
        return token
    }

    /// Validates against the deal as this replica knows it, then records the change as a deal event (the audit trail).
    func changeRequisites(_ command: ChangeRequisites, client: String) async throws -> CommandAccepted {
        guard SubjectToken(rawValue: command.dealId) != nil else {
            throw ErrorBody(code: ErrorBody.badRequest, message: "invalid deal id", field: "dealId")
        }
        guard !command.requestId.isEmpty else { throw ErrorBody(code: ErrorBody.badRequest, message: "requestId is required", field: "requestId") }
        let details = command.requisites
        guard !details.account.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ErrorBody(code: ErrorBody.unprocessable, message: "account is required", field: "requisites.account")
        }
        guard !details.bic.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ErrorBody(code: ErrorBody.unprocessable, message: "BIC is required", field: "requisites.bic")
        }
        guard let (status, _) = try await store.current(client: client, dealId: command.dealId) else {
            throw ErrorBody(code: ErrorBody.notFound, message: "no deal \(command.dealId)", field: "dealId")
        }
        let legs = status.legs.filter { $0.amount.currency == details.currency }
        guard !legs.isEmpty else {
            throw ErrorBody(code: ErrorBody.unprocessable, message: "deal \(command.dealId) has no \(details.currency) leg",
                            field: "requisites.currency")
        }
        if let released = legs.first(where: { DealRules.rank($0.status) >= 2 }) {
            throw ErrorBody(code: ErrorBody.conflict, message: "leg \(released.id) is \(released.status.rawValue); requisites are fixed")
        }
        let event = DealEvent(eventId: "requisites-\(command.requestId)", client: client, dealId: command.dealId, kind: .requisitesChanged,
                              occurredAt: Date(), requisites: [details], reason: command.requestedBy.map { "requested by \($0)" })
        let ack = try await jetStream.publish(try MessagePackEncoder().encode(event), to: "deal.event.\(client).\(command.dealId)",
                                              headers: [Header.contentType: ContentType.msgpack, Header.schema: DealEvent.schema],
                                              msgId: event.eventId)
        return CommandAccepted(eventSequence: ack.sequence, duplicate: ack.duplicate)
    }
}

/// Runs the event processor and the projection beside the endpoints until graceful shutdown.
struct DealWorkers: Service {
    let service: DealStatusService

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await service.processEvents() }
                group.addTask { await service.followStatuses() }
            }
        }
    }
}
