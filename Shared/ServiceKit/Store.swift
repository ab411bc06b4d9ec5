import Foundation
import GRDB

/// A service's own SQLite database: GRDB `DatabasePool` in WAL mode, schema by migrations.
public final class Store: Sendable {
    public let pool: DatabasePool
    public let path: String

    /// Opens (creating if needed) the database at `path` and applies `migrator`.
    public init(path: String, migrator: DatabaseMigrator) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")  // WAL + NORMAL: durable across crashes of the process
            try db.execute(sql: "PRAGMA foreign_keys = ON")
        }
        self.path = path
        pool = try DatabasePool(path: path, configuration: configuration)
        try migrator.migrate(pool)
    }

    public func read<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        try await pool.read(body)
    }

    public func write<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        try await pool.write(body)
    }

    /// `write` for a thread that may block and runs no Swift task (a cnats delivery thread, see `PullStream`):
    /// it waits for the writer there. Never call it from a task, which would hold a cooperative thread meanwhile.
    public func writeBlocking<T>(_ body: (Database) throws -> T) throws -> T {
        try pool.write(body)
    }

    /// Checkpoints the WAL and closes the pool (called on graceful shutdown).
    public func close() throws {
        _ = try pool.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
        try pool.close()
    }

    /// `PRAGMA journal_mode` as SQLite reports it ("wal").
    public func journalMode() throws -> String {
        try pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
    }
}
