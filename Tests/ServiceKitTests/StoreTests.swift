import Foundation
import GRDB
import ServiceKit
import Testing
import TestSupport

@Suite("SQLite store helper")
struct StoreTests {
    func migrator() -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "note") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("text", .text).notNull()
            }
        }
        return migrator
    }

    @Test("the store runs in WAL mode, applies migrations once and keeps data across reopen")
    func walAndMigrations() async throws {
        let dir = try scratchDirectory("store")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("s.sqlite").path

        let store = try Store(path: path, migrator: migrator())
        #expect(try store.journalMode() == "wal")
        try await store.write { db in try db.execute(sql: "INSERT INTO note (text) VALUES ('kept')") }
        try store.close()

        var extended = migrator()
        extended.registerMigration("v2") { db in try db.alter(table: "note") { t in t.add(column: "author", .text) } }
        let reopened = try Store(path: path, migrator: extended)
        let texts = try await reopened.read { db in try String.fetchAll(db, sql: "SELECT text FROM note") }
        #expect(texts == ["kept"])
        let migrations = extended
        let applied = try await reopened.read { db in try migrations.appliedMigrations(db) }
        #expect(applied == ["v1", "v2"])
        try reopened.close()
    }
}
