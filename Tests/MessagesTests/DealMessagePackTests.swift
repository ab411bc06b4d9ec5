import Foundation
import Messages
import Testing
import TestSupport
import Wire

/// The hand-written MessagePack of the deal snapshot (`Deal+MessagePack.swift`) against the synthesized Codable form.
@Suite("deal snapshot MessagePack")
struct DealMessagePackTests {
    struct Values {
        var rng: SplitMix64

        mutating func chance() -> Bool { Bool.random(using: &rng) }
        mutating func int(_ range: ClosedRange<Int64>) -> Int64 { Int64.random(in: range, using: &rng) }

        /// Empty, short, exactly 31/32 bytes (fixstr/str8 edge), long, Cyrillic.
        mutating func text() -> String {
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: ""
            case 1: "D-\(int(0...999_999))"
            case 2: String(repeating: "x", count: 31)
            case 3: String(repeating: "y", count: 32 + Int(int(0...300)))
            case 4: "Зачислено на счёт Клиента \(int(0...99))"
            default: "reason \(int(-5...5))"
            }
        }

        mutating func optional<T>(_ make: (inout Values) -> T) -> T? { chance() ? make(&self) : nil }

        /// Dates before 1970, with nanoseconds, and far ahead: every timestamp width.
        mutating func date() -> Date {
            Date(timeIntervalSince1970: TimeInterval(int(-3_000_000_000...20_000_000_000)) + (chance() ? 0.25 : 0))
        }

        mutating func currency() -> CurrencyCode { ["RUB", "CNY", "USD", "JPY", "KWD"][Int(int(0...4))] }

        mutating func money() -> Money {
            Money(minor: [int(-128...127), int(Int64.min...Int64.max), int(0...4_294_967_296)][Int(int(0...2))], currency: currency())
        }

        mutating func rate() -> Rate { Rate(mantissa: int(0...Int64.max), scale: Int(int(0...18))) }

        mutating func requisites() -> SettlementRequisites {
            SettlementRequisites(currency: currency(), account: text(), bic: text(), bankName: optional { $0.text() })
        }

        mutating func leg() -> PaymentLeg {
            PaymentLeg(id: text(), tenor: chance() ? .near : .far, amount: money(), direction: chance() ? .bankPays : .clientPays,
                       valueDate: text(), status: SettlementStatus.allCases[Int(int(0...5))], statusAt: optional { $0.date() },
                       reason: optional { $0.text() })
        }

        mutating func event() -> DealEvent {
            let terms = status().terms
            return DealEvent(
                eventId: text(), client: text(), dealId: text(), kind: DealEventKind.allCases[Int(int(0...5))], occurredAt: date(),
                terms: chance() ? terms : nil, confirmation: optional { ConfirmationStatus.allCases[Int($0.int(0...5))] },
                mismatchedFields: optional { v in (0..<v.int(0...3)).map { _ in v.text() } }, legId: optional { $0.text() },
                settlement: optional { SettlementStatus.allCases[Int($0.int(0...5))] },
                requisites: optional { v in (0..<v.int(0...2)).map { _ in v.requisites() } }, reason: optional { $0.text() })
        }

        /// A valid encoding broken in one of the ways input goes wrong: a flipped byte, a cut, a stray byte, a renamed key.
        mutating func mutate(_ bytes: [UInt8]) -> [UInt8] {
            var out = bytes
            let at = Int(int(0...Int64(bytes.count - 1)))
            switch int(0...4) {
            case 0: out[at] = UInt8(truncatingIfNeeded: int(0...255))
            case 1: out.removeSubrange(at...)
            case 2: out.insert(UInt8(truncatingIfNeeded: int(0...255)), at: at)
            case 3: out[at] ^= 0x01  // a near miss: keys one letter off, counts one off, types one off
            default:
                // Two valid encodings spliced: a value where another kind is expected.
                out.replaceSubrange(at..<min(out.count, at + Int(int(1...8))), with: bytes[0..<min(bytes.count, Int(int(1...16)))])
            }
            return out
        }

        mutating func status() -> DealStatus {
            let terms = DealTerms(
                client: text(), dealId: text(), tradeTime: date(), channel: DealChannel.allCases[Int(int(0...2))],
                product: DealProduct.allCases[Int(int(0...2))], side: chance() ? .buy : .sell, baseCurrency: currency(),
                quoteCurrency: currency(), amount: money(), rate: rate(), valueDate: text(), farRate: optional { $0.rate() },
                farValueDate: optional { $0.text() }, requisites: (0..<int(0...3)).map { _ in requisites() })
            return DealStatus(
                terms: terms, version: int(0...Int64.max), confirmation: ConfirmationStatus.allCases[Int(int(0...5))],
                confirmationReason: optional { $0.text() }, mismatchedFields: optional { v in (0..<v.int(0...3)).map { _ in v.text() } },
                confirmationAt: optional { $0.date() }, legs: (0..<int(0...20)).map { _ in leg() }, settlement: DealSettlementStatus.allCases[Int(int(0...5))],
                settledAt: optional { $0.date() }, updatedAt: date(), lastEventSequence: UInt64(bitPattern: int(Int64.min...Int64.max)))
        }
    }

    @Test("2,000 random events and 1,000 snapshots, 20 mutations of each: the hand-written readers accept only what Decodable accepts, with the same value")
    func sameValues() throws {
        var values = Values(rng: SplitMix64(seed: 0xE7E4))
        let events = (0..<2_000).map { _ in values.event() }
        let statuses = (0..<1_000).map { _ in values.status() }
        try checkReader(events, &values)
        try checkReader(statuses, &values)
    }

    /// Each value reads back by hand as encoded; of its mutations, whatever the reader accepts Decodable accepts as the
    /// same value, and `decode` (reader first) always gives Decodable's verdict.
    func checkReader<T: MessagePackReadable & Encodable & Equatable>(_ samples: [T], _ values: inout Values) throws {
        let decoder = MessagePackDecoder()
        let encoder = MessagePackEncoder()
        var fast = 0
        var declined = 0
        for (round, sample) in samples.enumerated() {
            let bytes = try encoder.encode(sample)
            #expect(decoder.readable(T.self, from: bytes) == sample)
            #expect(try decoder.decode(T.self, from: bytes) == sample)
            for _ in 0..<20 {
                let mutated = values.mutate(bytes)
                let codable = try? decoder.codable(T.self, from: mutated)
                if let read = decoder.readable(T.self, from: mutated) {
                    fast += 1
                    #expect(read == codable, "\(T.self) round \(round): \(mutated)")
                } else {
                    declined += 1
                }
                #expect((try? decoder.decode(T.self, from: mutated)) == codable)
            }
        }
        #expect(fast > 1_000 && declined > 1_000, "\(T.self): both sides of the reader exercised")
    }

    @Test("2,000 random snapshots: the hand-written bytes equal the Codable bytes, alone and inside a DealPage, and decode back")
    func sameBytes() throws {
        var values = Values(rng: SplitMix64(seed: 0xDEA1))
        let encoder = MessagePackEncoder()
        for _ in 0..<2_000 {
            let status = values.status()
            let fast = try encoder.encode(status)
            #expect(fast == (try encoder.codable(status)))
            #expect(try MessagePackDecoder().codable(DealStatus.self, from: fast) == status)
            let page = DealPage(total: 1, deals: [status])
            #expect(try encoder.encode(page) == (try encoder.codable(page)))
        }
    }
}
