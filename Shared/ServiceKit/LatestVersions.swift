import Foundation
import Bus
import Messages
import Wire
import Synchronization

/// The newest version of each snapshot a replica knows (a deal's status, a netting set), with its stream sequence.
///
/// Kept in memory so the hot path does not wait for SQLite; the values are bounded (past `limit` entries it starts
/// again), the keys it dropped are remembered (they exist; callers find their values in their store), so these grow
/// with the keys there are, a few dozen bytes each. Versions are published with `Nats-Msg-Id` = `messageID(key:version:)` (the stream drops a
/// repeated one). A stored message can be matched to the version held here without decoding it (`held(as:key:)`).
///
/// Its hot methods are `@inlinable`, so that a service's hot path gets them specialised for its value type (generic
/// code across modules otherwise looks up the metadata of its tuples and copies them through value witnesses).
public final class LatestVersions<Value: Sendable>: Sendable {
    /// A held value. Entries are boxed, so that looking one up, or growing the table, moves a reference rather than
    /// copying the value (every string and array of a deal's status retained anew).
    @usableFromInline
    final class Entry: Sendable {
        @usableFromInline let value: Value
        /// Where the stream stored it (an entry of `entries`).
        @usableFromInline let sequence: UInt64
        /// Its bytes as being published (an entry of `inFlight`).
        @usableFromInline let bytes: [UInt8]

        @usableFromInline init(_ value: Value, sequence: UInt64 = 0, bytes: [UInt8] = []) {
            self.value = value
            self.sequence = sequence
            self.bytes = bytes
        }
    }

    @usableFromInline
    struct State: Sendable {
        @usableFromInline var entries: [String: Entry] = [:]
        /// Versions being published, with their bytes: the stored copy may reach the projection before the ack.
        @usableFromInline var inFlight: [String: Entry] = [:]
        @usableFromInline var complete = false
        /// The keys of the tables dropped for room (past `limit`): they exist, though not held, so a key in none of
        /// them and not held is still known not to exist (a new deal keeps its fast path). A few sets, merged into one
        /// outside the lock when there are more than `evictedGenerations`.
        @usableFromInline var evicted: [Set<String>] = []
        /// Tables being dropped (or their keys merged), not in `evicted` yet: meanwhile no key is known absent.
        @usableFromInline var evicting = 0

        /// Room for `capacity` entries from the start: the table never grows under the lock on the hot path (doubling
        /// a table of 100k entries rehashes every key, milliseconds during which no event is folded).
        @usableFromInline init(capacity: Int) {
            entries.reserveCapacity(Self.reserved(for: capacity))
        }

        /// The table's room for `capacity` entries: a limit meant as "unbounded" reserves no absurd table.
        @usableFromInline static func reserved(for capacity: Int) -> Int { min(capacity, 1 << 20) }
    }

    @usableFromInline let state: Mutex<State>
    @usableFromInline let limit: Int
    @usableFromInline let version: @Sendable (Value) -> Int64

    public init(limit: Int, version: @escaping @Sendable (Value) -> Int64) {
        state = Mutex(State(capacity: limit))
        self.limit = limit
        self.version = version
    }

    /// `<key>.v<version>`: the message id of one version.
    public static func messageID(key: String, version: Int64) -> String { "\(key).v\(version)" }

    @inlinable
    public func get(_ key: String) -> (value: Value, sequence: UInt64)? {
        guard let entry = state.withLock({ $0.entries[key] }) else { return nil }
        return (entry.value, entry.sequence)
    }

    /// Keeps `value` if it is newer than the one held; false when this one (or a newer one) is held already.
    @discardableResult @inlinable
    public func remember(_ value: Value, key: String, sequence: UInt64) -> Bool {
        var dropped: [String: Entry]?
        let stored = state.withLock { state -> Bool in
            if let held = state.entries[key], version(held.value) >= version(value) { return false }
            if state.entries.count >= limit { dropped = evict(&state) }
            state.entries[key] = Entry(value, sequence: sequence)
            return true
        }
        if let dropped { keep(keysOf: dropped) }
        return stored
    }

    /// Takes the full table out (its keys are recorded by `keep(keysOf:)`, outside the lock: hashing 200k keys takes
    /// milliseconds in which no event could be folded) and starts an empty one of the same size.
    @usableFromInline
    func evict(_ state: inout State) -> [String: Entry] {
        let dropped = state.entries
        state.entries = [:]
        state.entries.reserveCapacity(State.reserved(for: limit))
        state.evicting += 1
        return dropped
    }

    /// Records the keys of a dropped table as existing; past `evictedGenerations` sets, merges them all into one,
    /// outside the lock (no key is known absent meanwhile).
    @usableFromInline
    func keep(keysOf dropped: [String: Entry]) {
        var keys = Set(dropped.keys)
        let merging = state.withLock { state -> [Set<String>]? in
            guard state.evicted.count >= Self.evictedGenerations else {
                state.evicted.append(keys)
                state.evicting -= 1
                return nil
            }
            defer { state.evicted = [] }
            return state.evicted
        }
        guard var merging else { return }
        // Into the largest set, in place: the others (each at most `limit` keys) are what is hashed.
        let largest = merging.indices.max { merging[$0].count < merging[$1].count }!
        var merged = merging.remove(at: largest)
        if keys.count > merged.count { swap(&keys, &merged) }
        merged.formUnion(keys)
        for set in merging { merged.formUnion(set) }
        state.withLock { state in
            state.evicted.append(merged)
            state.evicting -= 1
        }
    }

    /// How many sets of dropped keys are kept apart before they are merged.
    public static var evictedGenerations: Int { 4 }

    /// Whether `key` is known not to exist: every key has been loaded, and this one is neither held nor one dropped for
    /// room (whose value callers find in their store).
    @inlinable
    public func isKnownAbsent(_ key: String) -> Bool {
        state.withLock { state in
            state.complete && state.evicting == 0 && state.entries[key] == nil
                && !state.evicted.contains { $0.contains(key) }
        }
    }

    /// Marks the held entries (and those dropped for room) as all there are (after a full snapshot), or not (`false`,
    /// e.g. while resubscribing).
    @inlinable
    public func markComplete(_ complete: Bool) {
        state.withLock { $0.complete = complete }
    }

    /// The value held under `key` when `message` is the stored copy of it: the version held, stored at that stream
    /// sequence, or the version being published under `key` (by its bytes, as another writer may have stored a
    /// different one). Needs neither the message's headers nor a decode.
    @inlinable
    public func held(as message: JetStreamMessage, key: String) -> Value? {
        let entry = state.withLock { state -> Entry? in
            if let held = state.entries[key], held.sequence == message.streamSequence { return held }
            if let sent = state.inFlight[key], sent.bytes == message.payload { return sent }
            return nil
        }
        return entry?.value
    }

    /// Marks `value` as in flight under `key` until `endPublishing` (for publishes sent together).
    @inlinable
    public func beginPublishing(_ value: Value, bytes: [UInt8], key: String) {
        let entry = Entry(value, bytes: bytes)
        state.withLock { $0.inFlight[key] = entry }
    }

    @inlinable
    public func endPublishing(key: String) {
        _ = state.withLock { $0.inFlight.removeValue(forKey: key) }
    }
}

extension LatestVersions where Value: WireMessage {
    /// Publishes `value` as the next version under `key` on `subject` (stored only if the subject's last message is
    /// still the one at `expected`, 0: none), marked in flight meanwhile, and remembers it once stored. Returns its
    /// stream sequence, or nil when another writer published first.
    public func publishNext(_ value: Value, key: String, to subject: String, expected: UInt64, on jetStream: JetStream) async throws
        -> UInt64?
    {
        let bytes = try MessagePackEncoder().encode(value)
        beginPublishing(value, bytes: bytes, key: key)
        defer { endPublishing(key: key) }
        guard let sequence = try await jetStream.publishIfLast(
            bytes, to: subject, headers: Self.headers, msgId: Self.messageID(key: key, version: version(value)),
            expectedLastSubjectSequence: expected
        ) else { return nil }
        remember(value, key: key, sequence: sequence)
        return sequence
    }

    /// The headers every version carries.
    public static var headers: Headers { [Header.contentType: ContentType.msgpack, Header.schema: Value.schema] }
}

extension LatestVersions where Value: Decodable {
    /// The value `message` stores under `key` (nil when its subject names none): the one held here when the message
    /// is its stored copy (`held(as:key:)`, no decode), else decoded from it.
    @inlinable
    public func value(in message: JetStreamMessage, key: String?) throws -> Value {
        if let key, let held = held(as: message, key: key) { return held }
        return try MessagePackDecoder().decode(Value.self, from: message.payload)
    }
}

extension LatestVersions where Value: MessagePackReadable {
    /// The same, read by the value's own reader (`MessagePackReadable`) without a run-time conformance check.
    @inlinable
    public func value(in message: JetStreamMessage, key: String?) throws -> Value {
        if let key, let held = held(as: message, key: key) { return held }
        return try MessagePackDecoder().decode(Value.self, from: message.payload)
    }
}
