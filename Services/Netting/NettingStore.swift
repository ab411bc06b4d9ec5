import Foundation
import GRDB
import Messages
import ServiceKit
import Wire

/// This instance's SQLite copy of NETTING_STATUS (the last snapshot per set) and which sets each deal is in.
///
/// Rebuildable: a replica started with an empty file refills it from the stream.
struct NettingStore: Sendable {
    let store: Store

    init(path: String) throws {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-netting") { db in
            try db.create(table: "nettingSet") { t in
                t.column("client", .text).notNull()
                t.column("valueDate", .text).notNull()
                t.column("version", .integer).notNull()
                t.column("statusSequence", .integer).notNull()
                t.column("state", .text).notNull()
                t.column("snapshot", .blob).notNull()
                t.primaryKey(["client", "valueDate"])
            }
            try db.create(table: "membership") { t in
                t.column("client", .text).notNull()
                t.column("dealId", .text).notNull()
                t.column("valueDate", .text).notNull()
                t.primaryKey(["client", "dealId", "valueDate"])
            }
        }
        store = try Store(path: path, migrator: migrator)
    }

    /// The stored set and its NETTING_STATUS sequence.
    func current(client: String, valueDate: String) async throws -> (NettingSet, UInt64)? {
        let found = try await store.read { db -> (Data, Int64)? in
            guard let row = try Row.fetchOne(db, sql: "SELECT snapshot, statusSequence FROM nettingSet WHERE client = ? AND valueDate = ?",
                                             arguments: [client, valueDate]) else { return nil }
            return (row["snapshot"], row["statusSequence"])
        }
        guard let (blob, sequence) = found else { return nil }
        return (try MessagePackDecoder().decode(NettingSet.self, from: blob), UInt64(sequence))
    }

    /// Value dates of the sets a deal is in (to find the old set when an amendment moves its value date).
    func valueDates(client: String, dealId: String) async throws -> [String] {
        try await store.read { db in
            try String.fetchAll(db, sql: "SELECT valueDate FROM membership WHERE client = ? AND dealId = ?", arguments: [client, dealId])
        }
    }

    /// Stores `set` unless this version or a newer one is already there; `encoded`: its bytes, when at hand.
    func upsert(_ set: NettingSet, statusSequence: UInt64, encoded: [UInt8]? = nil) async throws {
        let blob = try encoded.map { Data($0) } ?? MessagePackEncoder().encodeData(set)
        try await store.write { db in
            let stored = try Int64.fetchOne(db, sql: "SELECT version FROM nettingSet WHERE client = ? AND valueDate = ?",
                                            arguments: [set.client, set.valueDate])
            if let stored, stored >= set.version { return }
            try db.execute(sql: """
                INSERT INTO nettingSet (client, valueDate, version, statusSequence, state, snapshot) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (client, valueDate) DO UPDATE SET version = excluded.version, statusSequence = excluded.statusSequence,
                    state = excluded.state, snapshot = excluded.snapshot
                """, arguments: [set.client, set.valueDate, set.version, Int64(statusSequence), set.state.rawValue, blob])
            // Only the difference: a set of 1,000 deals changes one deal at a time.
            let before = Set(try String.fetchAll(db, sql: "SELECT dealId FROM membership WHERE client = ? AND valueDate = ?",
                                                 arguments: [set.client, set.valueDate]))
            let after = Set(set.deals.map(\.dealId))
            for gone in before.subtracting(after) {
                try db.execute(sql: "DELETE FROM membership WHERE client = ? AND dealId = ? AND valueDate = ?",
                               arguments: [set.client, gone, set.valueDate])
            }
            for added in after.subtracting(before) {
                try db.execute(sql: "INSERT INTO membership (client, dealId, valueDate) VALUES (?, ?, ?)",
                               arguments: [set.client, added, set.valueDate])
            }
        }
    }
}
