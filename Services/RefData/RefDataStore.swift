import GRDB
import Messages
import ServiceKit

/// The refdata service's own SQLite: the currency table it answers from.
struct RefDataStore: Sendable {
    let store: Store

    init(path: String) throws {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-currencies") { db in
            try db.create(table: "currency") { t in
                t.primaryKey("code", .text)
                t.column("minorUnits", .integer).notNull()
            }
            for (code, units) in CurrencyCode.minorUnitTable {
                try db.execute(sql: "INSERT INTO currency (code, minorUnits) VALUES (?, ?)", arguments: [code, units])
            }
        }
        store = try Store(path: path, migrator: migrator)
    }

    func minorUnits(of code: String) async throws -> Int? {
        try await store.read { db in
            try Int.fetchOne(db, sql: "SELECT minorUnits FROM currency WHERE code = ?", arguments: [code])
        }
    }
}
