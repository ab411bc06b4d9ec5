import Testing
import TestSupport

@testable import Bus

@Suite("JetStream ack subjects")
struct AckSubjectTests {
    @Test("the v1 and v2 forms give stream, consumer and counters; anything else is not a JetStream delivery")
    func forms() throws {
        let v1 = try #require(JetStreamMessage.parseAckSubject(Array("$JS.ACK.DEAL_EVENTS.deal-status.2.1234.1200.1732870000000000000.17".utf8)))
        #expect(v1.stream == "DEAL_EVENTS" && v1.consumer == "deal-status")
        #expect(v1.delivered == 2 && v1.sseq == 1234 && v1.cseq == 1200 && v1.pending == 17)
        let v2 = try #require(JetStreamMessage.parseAckSubject(Array("$JS.ACK.hub.ACCHASH.S.c.1.18446744073.5.1732870000000000000.0.rnd".utf8)))
        #expect(v2.stream == "S" && v2.consumer == "c" && v2.delivered == 1 && v2.sseq == 18_446_744_073 && v2.cseq == 5 && v2.pending == 0)
        for bad in ["$JS.ACK.S.c.1.2.3.4", "$JS.ACK.S.c.x.2.3.4.5", "$JS.ACK.S.c.1..3.4.5", "$JS.ACK.S.c.1.2.3.4.99999999999999999999",
                    String(repeating: "a.", count: 20)] {
            #expect(JetStreamMessage.parseAckSubject(Array(bad.utf8)) == nil, "\(bad)")
        }
    }
}

@Suite("push consumer deliveries counted")
struct ConsumerSequenceTests {
    @Test("consecutive deliveries pass; a skipped one, or a heartbeat naming a later last delivery, is a gap")
    func gaps() async throws {
        let server = try NatsServer(jetStream: false)
        let connection = try await connect(server)
        defer { connection.close() }
        func delivery(_ cseq: UInt64) -> BusMessage {
            BusMessage(subject: "st.D\(cseq)", reply: "$JS.ACK.STATUS.snap.1.\(cseq + 100).\(cseq).1732870000000000000.0")
        }
        func heartbeat(last: UInt64) -> BusMessage {
            BusMessage(subject: "_INBOX.x", headers: [BusHeader.status: "100", "Description": "Idle Heartbeat", "Nats-Last-Consumer": "\(last)"])
        }
        var sequence = ConsumerSequence()
        #expect(try sequence.check(delivery(1), connection: connection)?.streamSequence == 101)
        #expect(try sequence.check(heartbeat(last: 1), connection: connection) == nil)  // nothing missed
        #expect(try sequence.check(delivery(2), connection: connection) != nil)
        #expect(throws: BusError.consumerGap(consumer: "snap", expected: 3, received: 5)) { try sequence.check(delivery(5), connection: connection) }
        var idle = ConsumerSequence()
        _ = try idle.check(delivery(1), connection: connection)
        #expect(throws: BusError.consumerGap(consumer: "", expected: 2, received: 3)) { try idle.check(heartbeat(last: 3), connection: connection) }
    }
}

@Suite("reply tokens")
struct ReplyTokenTests {
    @Test("a reply subject's token reads back as written, for any token", arguments: [UInt64(1), 35, 36, 1_295, 1_000_000_007, .max])
    func roundTrip(token: UInt64) {
        let prefix = "_INBOX.abc123.Ω."
        #expect(ReplyToken.parse(ReplyToken.subject(prefix: prefix, token), prefix: prefix) == token)
        // Read as the former parser read it (`UInt64(_:radix:)` on what follows the prefix).
        #expect(UInt64(ReplyToken.subject(prefix: prefix, token).dropFirst(prefix.count), radix: 36) == token)
    }

    @Test("a subject of another inbox, with no token, an upper-case or foreign digit, or past 64 bits is no reply of ours")
    func refused() {
        let prefix = "_INBOX.abc."
        for subject in ["_INBOX.abd.1", "_INBOX.abc.", "_INBOX.abc.1A", "_INBOX.abc.1.2", "_INBOX.abc.-1", "_INBOX.abc",
                        "_INBOX.abc." + String(repeating: "z", count: 13), "_INBOX.abc.3w5e11264sgsg", "_INBOX.abc.ǃ"] {
            #expect(ReplyToken.parse(subject, prefix: prefix) == nil, "\(subject)")
        }
        #expect(ReplyToken.parse("_INBOX.abc.3w5e11264sgsf", prefix: prefix) == .max)
    }
}
