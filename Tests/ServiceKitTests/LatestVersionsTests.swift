import Bus
import Foundation
import Logging
import Messages
import ServiceKit
import Testing
import TestSupport
import Wire

@Suite("Latest versions held in memory")
struct LatestVersionsTests {
    struct Note: WireMessage, Equatable {
        static let schema = "Note/1"
        var text: String
        var version: Int64
    }

    @Test("a stored copy is known as the version held by its stream sequence, or by its bytes while in flight; another writer's version is not")
    func heldAsStored() async throws {
        let server = try NatsServer()
        let connection = try await NatsConnection.connect(ConnectionOptions(servers: [server.url], name: "versions"),
                                                          logger: Logger(label: "versions"))
        defer { connection.close() }
        let js = JetStream(connection: connection)
        try await js.ensureStream(StreamConfig(name: "V", subjects: ["v.>"]))
        try await js.ensureConsumer(stream: "V", ConsumerConfig(durableName: "projection"))
        // Two replicas writing versions of one value.
        let mine = LatestVersions<Note>(limit: 10) { $0.version }
        let theirs = LatestVersions<Note>(limit: 10) { $0.version }
        let first = Note(text: "one", version: 1), second = Note(text: "two", version: 2), third = Note(text: "three", version: 3)
        let firstSequence = try #require(try await mine.publishNext(first, key: "C1.D1", to: "v.C1.D1", expected: 0, on: js))
        let secondSequence = try #require(try await theirs.publishNext(second, key: "C1.D1", to: "v.C1.D1", expected: firstSequence, on: js))
        // The stored copy of a version still in flight here (its ack not back yet).
        let thirdBytes = try MessagePackEncoder().encode(third)
        mine.beginPublishing(third, bytes: thirdBytes, key: "C1.D1")
        _ = try await js.publish(thirdBytes, to: "v.C1.D1", expectedLastSubjectSequence: secondSequence)

        let stored = try await js.pullConsumer(stream: "V", durable: "projection").fetch(batch: 3)
        #expect(stored.count == 3)
        #expect(stored.map { mine.held(as: $0, key: "C1.D1") } == [first, nil, third])
        #expect(stored.map { theirs.held(as: $0, key: "C1.D1") } == [nil, second, nil])
        #expect(stored.map { mine.held(as: $0, key: "C1.D2") } == [nil, nil, nil])
        mine.endPublishing(key: "C1.D1")
        #expect(mine.held(as: stored[2], key: "C1.D1") == nil)
    }

    @Test("entries dropped for room are known to exist (their values are in the store); a key never seen is still known absent")
    func overflowKeepsKnowingWhatExists() {
        let held = LatestVersions<Note>(limit: 3) { $0.version }
        for n in 1...5 { held.remember(Note(text: "n\(n)", version: 1), key: "k\(n)", sequence: UInt64(n)) }
        held.markComplete(true)  // the snapshot has been read through
        #expect(held.get("k1") == nil && held.get("k5") != nil)
        #expect(!held.isKnownAbsent("k1") && !held.isKnownAbsent("k3") && !held.isKnownAbsent("k5"))
        #expect(held.isKnownAbsent("k9"))  // a new key keeps the fast path
        held.remember(Note(text: "again", version: 2), key: "k1", sequence: 6)
        #expect(held.get("k1")?.value.text == "again" && !held.isKnownAbsent("k1"))
        held.markComplete(false)
        #expect(!held.isKnownAbsent("k9"))
        // Many tables later (their dropped keys merged), every key remembered is still known to exist, and a new one
        // is still known absent.
        held.markComplete(true)
        let many = 10..<(10 + 3 * (3 * LatestVersions<Note>.evictedGenerations + 1))
        for n in many { held.remember(Note(text: "n\(n)", version: 1), key: "k\(n)", sequence: UInt64(n)) }
        #expect(([1, 2, 3, 4, 5] + Array(many)).allSatisfy { !held.isKnownAbsent("k\($0)") })
        #expect(held.isKnownAbsent("k999"))
    }
}
