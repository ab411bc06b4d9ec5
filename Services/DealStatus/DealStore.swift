import Foundation
import GRDB
import GRDBSQLite
import Messages
import ServiceKit
import Wire

/// This instance's SQLite projection of DEAL_STATUS (rebuildable from the stream) plus its audit of rejected events.
struct DealStore: Sendable {
    let store: Store

    init(path: String) throws {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-deals") { db in
            try db.create(table: "deal") { t in
                t.column("client", .text).notNull()
                t.column("dealId", .text).notNull()
                t.column("version", .integer).notNull()
                t.column("statusSequence", .integer).notNull()
                t.column("tradeTime", .double).notNull()
                t.column("valueDate", .text).notNull()
                t.column("product", .text).notNull()
                t.column("channel", .text).notNull()
                t.column("side", .text).notNull()
                t.column("pair", .text).notNull()
                t.column("confirmation", .text).notNull()
                t.column("settlement", .text).notNull()
                t.column("amountMinor", .integer).notNull()
                t.column("updatedAt", .double).notNull()
                t.column("snapshot", .blob).notNull()
                t.primaryKey(["client", "dealId"])
            }
            try db.create(index: "deal_client_trade", on: "deal", columns: ["client", "tradeTime"])
            // Events that changed nothing: rejected (invalid, the audit) or ignored (duplicate, late).
            try db.create(table: "handledEvent") { t in
                t.primaryKey("eventSequence", .integer)
                t.column("client", .text).notNull()
                t.column("dealId", .text).notNull()
                t.column("outcome", .text).notNull()
                t.column("reason", .text).notNull()
                t.column("at", .double).notNull()
            }
            try db.create(index: "handled_deal", on: "handledEvent", columns: ["client", "dealId"])
        }
        // A swap's far value date, so that a value-date filter finds the swap by either leg (as the terminal does).
        migrator.registerMigration("v2-far-value-date") { db in
            try Self.addColumn("farValueDate", .text, in: db, filling: "product = ?", [DealProduct.swap.rawValue]) { $0.terms.farValueDate }
        }
        // When the money arrived, for the list's settlement-time filter and sort.
        migrator.registerMigration("v3-settled-at") { db in
            try Self.addColumn("settledAt", .double, in: db, filling: "settlement = ?", [DealSettlementStatus.settled.rawValue]) {
                $0.settledAt?.timeIntervalSince1970
            }
        }
        // Each leg's rate as a text that sorts numerically (`Rate.orderKey`), for the list's rate-range filter.
        migrator.registerMigration("v4-rate-keys") { db in
            try Self.addColumn("rateKey", .text, in: db) { $0.terms.rate.orderKey }
            try Self.addColumn("farRateKey", .text, in: db, filling: "product = ?", [DealProduct.swap.rawValue]) { $0.terms.farRate?.orderKey }
        }
        // The accounts of a deal's settlement details, for the list's account filter: " A1 A2 ", so that one is found
        // whole by `instr`.
        migrator.registerMigration("v5-accounts") { db in
            try Self.addColumn("accounts", .text, in: db) { Self.accounts(of: $0.terms) }
        }
        store = try Store(path: path, migrator: migrator)
    }

    /// Adds a column to `deal` and fills it, for the rows matching `filter` (every row by default), from each row's
    /// snapshot. A snapshot that cannot be read leaves it NULL rather than keeping the service from starting.
    private static func addColumn(_ name: String, _ type: Database.ColumnType, in db: Database, filling filter: String = "1",
                                  _ arguments: StatementArguments = [], value: (DealStatus) -> (any DatabaseValueConvertible)?) throws {
        try db.alter(table: "deal") { t in t.add(column: name, type) }
        let decoder = MessagePackDecoder()
        for row in try Row.fetchAll(db, sql: "SELECT client, dealId, snapshot FROM deal WHERE \(filter)", arguments: arguments) {
            guard let status = try? decoder.decode(DealStatus.self, from: row["snapshot"] as Data) else { continue }
            try db.execute(sql: "UPDATE deal SET \(name) = ? WHERE client = ? AND dealId = ?",
                           arguments: [value(status), row["client"] as String, row["dealId"] as String])
        }
    }

    /// The `accounts` column of a deal: each account of its settlement details, compacted (as booked, an account may
    /// have spaces or small letters), between spaces.
    static func accounts(of terms: DealTerms) -> String {
        terms.requisites.reduce(into: " ") { text, details in text += SettlementRequisites.compact(details.account) + " " }
    }

    /// The stored snapshot and its DEAL_STATUS sequence.
    func current(client: String, dealId: String) async throws -> (DealStatus, UInt64)? {
        let found = try await store.read { db -> (Data, Int64)? in
            guard let row = try Row.fetchOne(db, sql: "SELECT snapshot, statusSequence FROM deal WHERE client = ? AND dealId = ?",
                                             arguments: [client, dealId]) else { return nil }
            return (row["snapshot"], row["statusSequence"])
        }
        guard let (blob, sequence) = found else { return nil }
        return (try MessagePackDecoder().decode(DealStatus.self, from: blob), UInt64(sequence))
    }

    /// A version on its way to SQLite: a class, so that the projection's queue and its write pass it on by reference
    /// (a `DealStatus` copy retains each of its strings and arrays).
    final class Version: Sendable {
        let status: DealStatus
        /// Its DEAL_STATUS sequence.
        let sequence: UInt64
        /// The status as MessagePack, when the caller has it already (as received from the stream).
        let encoded: [UInt8]?

        init(_ status: DealStatus, sequence: UInt64, encoded: [UInt8]? = nil) {
            self.status = status
            self.sequence = sequence
            self.encoded = encoded
        }

        /// The newest of `versions` for each deal, in stream order: all that writing them needs to store.
        static func newestPerDeal(_ versions: [Version]) -> [Version] {
            var newest: [DealKey: Version] = [:]
            newest.reserveCapacity(versions.count)
            for version in versions {
                let key = DealKey(client: version.status.terms.client, dealId: version.status.terms.dealId)
                if let seen = newest[key], seen.status.version >= version.status.version { continue }
                newest[key] = version
            }
            return newest.values.sorted { $0.sequence < $1.sequence }
        }
    }

    /// Stores `status` unless a newer version is already there (replays and redeliveries are harmless).
    @discardableResult
    func upsert(_ status: DealStatus, statusSequence: UInt64) async throws -> Bool {
        try await upsertAll([Version(status, sequence: statusSequence)]) == 1
    }

    /// Stores each version that is newer than the stored one, in one transaction; returns how many were stored.
    @discardableResult
    func upsertAll(_ versions: [Version]) async throws -> Int {
        let rows = Version.newestPerDeal(versions)
        return try await store.write { db in
            var stored = 0
            let encoder = MessagePackEncoder()
            // Compiled once per connection and reused for every row; an older version than the stored one changes nothing.
            let upsert = try db.cachedStatement(sql: Self.upsertSQL)
            for version in rows {
                try Self.execute(upsert.sqliteStatement, version.status, statusSequence: version.sequence,
                                 snapshot: try version.encoded ?? encoder.encode(version.status), in: db)
                stored += db.changesCount
            }
            return stored
        }
    }

    /// A deal's identity, as a dictionary key that needs no joined string.
    private struct DealKey: Hashable {
        let client: String
        let dealId: String
    }

    private static let upsertSQL = """
        INSERT INTO deal (client, dealId, version, statusSequence, tradeTime, valueDate, product, channel, side, pair,
                          confirmation, settlement, amountMinor, updatedAt, snapshot, farValueDate, settledAt, rateKey, farRateKey, accounts)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (client, dealId) DO UPDATE SET version = excluded.version, statusSequence = excluded.statusSequence,
            tradeTime = excluded.tradeTime, valueDate = excluded.valueDate, product = excluded.product,
            channel = excluded.channel, side = excluded.side, pair = excluded.pair, confirmation = excluded.confirmation,
            settlement = excluded.settlement, amountMinor = excluded.amountMinor, updatedAt = excluded.updatedAt,
            snapshot = excluded.snapshot, farValueDate = excluded.farValueDate, settledAt = excluded.settledAt,
            rateKey = excluded.rateKey, farRateKey = excluded.farRateKey, accounts = excluded.accounts
        WHERE excluded.version > deal.version
        """

    /// Runs `upsertSQL` for one status, its values bound straight to SQLite. This runs for every version the
    /// projection receives; GRDB's `StatementArguments` would box each of the 20 values and copy the snapshot into
    /// `Data` first.
    ///
    /// The statement is GRDB's cached one, stepped past GRDB: no transaction observer hears of the change (this store
    /// has none), and an interrupted step is a `DatabaseError`, not a cancellation. It is reset after use, so GRDB
    /// finds it as it left it.
    private static func execute(_ statement: OpaquePointer, _ status: DealStatus, statusSequence: UInt64, snapshot: [UInt8],
                                in db: Database) throws {
        sqlite3_reset(statement)
        let terms = status.terms
        var code = SQLITE_OK
        func check(_ result: Int32) { if code == SQLITE_OK { code = result } }
        func text(_ index: Int32, _ value: String) {
            var value = value
            check(value.withUTF8 { sqlite3_bind_text(statement, index, $0.baseAddress, Int32($0.count), sqliteTransient) })
        }
        func optionalText(_ index: Int32, _ value: String?) {
            if let value { text(index, value) } else { check(sqlite3_bind_null(statement, index)) }
        }
        text(1, terms.client)
        text(2, terms.dealId)
        check(sqlite3_bind_int64(statement, 3, status.version))
        check(sqlite3_bind_int64(statement, 4, Int64(statusSequence)))
        check(sqlite3_bind_double(statement, 5, terms.tradeTime.timeIntervalSince1970))
        text(6, terms.valueDate)
        text(7, terms.product.rawValue)
        text(8, terms.channel.rawValue)
        text(9, terms.side.rawValue)
        text(10, terms.pair)
        text(11, status.confirmation.rawValue)
        text(12, status.settlement.rawValue)
        check(sqlite3_bind_int64(statement, 13, terms.amount.minor))
        check(sqlite3_bind_double(statement, 14, status.updatedAt.timeIntervalSince1970))
        check(snapshot.withUnsafeBytes { sqlite3_bind_blob(statement, 15, $0.baseAddress, Int32($0.count), sqliteTransient) })
        optionalText(16, terms.product == .swap ? terms.farValueDate : nil)
        if let settledAt = status.settledAt {
            check(sqlite3_bind_double(statement, 17, settledAt.timeIntervalSince1970))
        } else {
            check(sqlite3_bind_null(statement, 17))
        }
        optionalText(18, terms.rate.orderKey)
        optionalText(19, terms.product == .swap ? terms.farRate?.orderKey : nil)
        text(20, accounts(of: terms))
        if code == SQLITE_OK { code = sqlite3_step(statement) }
        sqlite3_reset(statement)
        guard code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)),
                                sql: upsertSQL)
        }
    }

    /// `SQLITE_TRANSIENT`: SQLite copies a bound value before the call returns (the C macro is not imported).
    private static let sqliteTransient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

    enum Outcome: String, Sendable { case rejected, ignored }

    /// An event that changed nothing, for the audit.
    struct Handled: Sendable {
        let sequence: UInt64
        let client: String
        let dealId: String
        let outcome: Outcome
        let reason: String
        let at: Date

        func insert(_ db: Database) throws {
            try db.execute(sql: """
                INSERT OR IGNORE INTO handledEvent (eventSequence, client, dealId, outcome, reason, at) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [Int64(sequence), client, dealId, outcome.rawValue, reason, at.timeIntervalSince1970])
        }
    }

    func recordHandled(_ handled: Handled) async throws {
        try await store.write { db in try handled.insert(db) }
    }

    /// `recordHandled` on a thread that may block and is not running a Swift task (the event pull's delivery thread).
    func recordHandledBlocking(_ handled: Handled) throws {
        try store.writeBlocking { db in try handled.insert(db) }
    }

    /// Reasons of the rejected events of one deal, oldest first (the audit a support lead reads).
    func rejections(client: String, dealId: String) async throws -> [String] {
        try await store.read { db in
            try String.fetchAll(db, sql: """
                SELECT reason FROM handledEvent WHERE client = ? AND dealId = ? AND outcome = 'rejected' ORDER BY eventSequence
                """, arguments: [client, dealId])
        }
    }

    /// What this instance recorded of the events of one deal that changed nothing, by stream sequence: "rejected: …" or
    /// "ignored: …".
    func handled(client: String, dealId: String) async throws -> [UInt64: String] {
        try await store.read { db in
            var found: [UInt64: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT eventSequence, outcome, reason FROM handledEvent WHERE client = ? AND dealId = ?",
                                        arguments: [client, dealId]) {
                found[UInt64(row["eventSequence"] as Int64)] = "\(row["outcome"] as String): \(row["reason"] as String)"
            }
            return found
        }
    }

    /// The most deals one page holds.
    static let pageLimit = 500

    /// One page of a client's deals matching `query`, and the total count.
    func list(client: String, _ query: DealListQuery) async throws -> DealPage {
        var clauses = ["client = ?"]
        var arguments: [any DatabaseValueConvertible] = [client]
        func any<T: RawRepresentable>(_ column: String, _ values: [T]?) where T.RawValue == String {
            guard let values, !values.isEmpty else { return }
            clauses.append("\(column) IN (\(values.map { _ in "?" }.joined(separator: ",")))")
            arguments += values.map(\.rawValue)
        }
        if let from = query.tradeFrom { clauses.append("tradeTime >= ?"); arguments.append(from.timeIntervalSince1970) }
        if let to = query.tradeTo { clauses.append("tradeTime <= ?"); arguments.append(to.timeIntervalSince1970) }
        /// A range on a column a swap has for each leg: the deal matches by either (the far one is NULL for others).
        func eitherLeg(_ near: String, _ far: String, from: String?, to: String?) {
            let bounds = [(">=", from), ("<=", to)].compactMap { bound, value in value.map { (bound, $0) } }
            guard !bounds.isEmpty else { return }
            func within(_ column: String) -> String { bounds.map { "\(column) \($0.0) ?" }.joined(separator: " AND ") }
            clauses.append("((\(within(near))) OR (\(within(far))))")
            arguments += bounds.map(\.1) + bounds.map(\.1)
        }
        eitherLeg("valueDate", "farValueDate", from: query.valueDateFrom, to: query.valueDateTo)
        // Rate keys compare as the rates do (the endpoint refuses a rate that has none).
        eitherLeg("rateKey", "farRateKey", from: query.rateFrom?.orderKey, to: query.rateTo?.orderKey)
        any("product", query.products)
        any("channel", query.channels)
        any("confirmation", query.confirmations)
        any("settlement", query.settlements)
        if let side = query.side { clauses.append("side = ?"); arguments.append(side.rawValue) }
        if let pair = query.pair { clauses.append("pair = ?"); arguments.append(pair.uppercased()) }
        if let currency = query.currency {  // either side of the pair
            clauses.append("(substr(pair, 1, 3) = ? OR substr(pair, 4) = ?)")
            arguments += [currency.uppercased(), currency.uppercased()]
        }
        // An amount in the base currency, within the bounds' currency (the endpoint checks they name the same one).
        if let currency = (query.amountFrom ?? query.amountTo)?.currency {
            clauses.append("substr(pair, 1, 3) = ?")
            arguments.append(currency.rawValue)
        }
        if let from = query.amountFrom { clauses.append("amountMinor >= ?"); arguments.append(from.minor) }
        if let to = query.amountTo { clauses.append("amountMinor <= ?"); arguments.append(to.minor) }
        if let account = query.account {  // whole, as the settlement details are stored (compacted, upper case)
            clauses.append("instr(accounts, ?) > 0")
            arguments.append(" " + SettlementRequisites.compact(account) + " ")
        }
        if let from = query.settledFrom { clauses.append("settledAt >= ?"); arguments.append(from.timeIntervalSince1970) }
        if let to = query.settledTo { clauses.append("settledAt <= ?"); arguments.append(to.timeIntervalSince1970) }
        if let dealId = query.dealId {  // a prefix: LIKE's wildcards in it are taken literally
            let escaped = dealId.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
                .replacingOccurrences(of: "_", with: "\\_")
            clauses.append("dealId LIKE ? ESCAPE '\\'")
            arguments.append(escaped + "%")
        }
        let order = (query.descending ?? true) ? "DESC" : "ASC"
        let column: String
        switch query.sort ?? .tradeTime {
        case .tradeTime: column = "tradeTime"
        case .dealId: column = "dealId"
        case .valueDate: column = "valueDate"
        case .amount: column = "substr(pair, 1, 3) \(order), amountMinor"  // amounts compare within their currency
        case .updatedAt: column = "updatedAt"
        case .settledAt: column = "settledAt"
        }
        let limit = min(max(query.limit ?? 50, 1), Self.pageLimit)  // the endpoint refuses others
        let offset = max(query.offset ?? 0, 0)
        let whereSQL = clauses.joined(separator: " AND ")
        let statement = StatementArguments(arguments.map { $0.databaseValue })
        let (total, blobs) = try await store.read { db in
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM deal WHERE \(whereSQL)", arguments: statement) ?? 0
            let blobs = try Data.fetchAll(db, sql: """
                SELECT snapshot FROM deal WHERE \(whereSQL) ORDER BY \(column) \(order), dealId \(order) LIMIT \(limit) OFFSET \(offset)
                """, arguments: statement)
            return (total, blobs)
        }
        let decoder = MessagePackDecoder()
        return DealPage(total: total, deals: try blobs.map { try decoder.decode(DealStatus.self, from: $0) })
    }
}
