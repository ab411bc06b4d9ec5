import Testing

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
