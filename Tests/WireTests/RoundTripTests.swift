import Foundation
import Testing
import Wire

@Suite("Codable values round-trip through MessagePack")
struct RoundTripTests {
    let encoder = MessagePackEncoder()
    let decoder = MessagePackDecoder()

    func roundTrip<T: Codable & Equatable>(_ value: T, as type: T.Type = T.self) throws -> T {
        try decoder.decode(T.self, from: try encoder.encode(value))
    }

    @Test("the deal-status sample comes back equal, as [UInt8], Data and raw buffer")
    func sample() throws {
        let value = DealStatusSample.sample
        let packed = try encoder.encode(value)
        #expect(try decoder.decode(DealStatusSample.self, from: packed) == value)
        #expect(try decoder.decode(DealStatusSample.self, from: try encoder.encodeData(value)) == value)
        #expect(try packed.withUnsafeBytes { try decoder.decode(DealStatusSample.self, from: $0) } == value)
        #expect(try encoder.encodeData(value) == Data(packed))
    }

    @Test("a struct is a map keyed by field names; nil optionals are omitted, set ones present")
    func structShape() throws {
        let parsed = try MessagePackValue.parse(try encoder.encode(DealStatusSample.sample))
        let keys = parsed.keys.compactMap { if case .string(let key) = $0 { key } else { nil } }
        #expect(keys.count == 18)
        #expect(keys.first == "client" && keys.contains("reason"))
        #expect(!keys.contains("nettingSet"))
        #expect(parsed["reason"] == .string("Сделка подтверждена 👍"))
        #expect(parsed["legs"]?[1]?.keys.contains(.string("settledAt")) == false)
        #expect(parsed["legs"]?[0]?["status"] == .string("SETTLED"))
        #expect(parsed["legs"]?[1]?["amountMinor"] == .int(-10_341_712_800))
        #expect(try decoder.decode(DealStatusSample.self, from: try encoder.encode(DealStatusSample.sample)).nettingSet == nil)
    }

    @Test("enums: raw values encode as the raw value, associated values as nested maps", arguments: [
        DealEvent.booked(id: "D1", amount: -99), .confirmed("ok"), .cancelled,
        .amended(Leg(currency: "USD", amountMinor: 1, direction: "PAY", status: .pending, settledAt: nil), reason: nil),
        .amended(Leg(currency: "USD", amountMinor: 1, direction: "PAY", status: .pending, settledAt: Date(timeIntervalSince1970: 3)), reason: "x"),
    ])
    func enums(event: DealEvent) throws {
        #expect(try roundTrip(event) == event)
        for status in LegStatus.allCases {
            #expect(try MessagePackValue.parse(try encoder.encode(status)) == .string(status.rawValue))
            #expect(try roundTrip(status) == status)
        }
    }

    @Test("an enum case with associated values is a one-entry map holding a map of its values")
    func associatedShape() throws {
        let parsed = try MessagePackValue.parse(try encoder.encode(DealEvent.booked(id: "D1", amount: 5)))
        #expect(parsed == .map([MessagePackPair(key: .string("booked"), value: .map([
            MessagePackPair(key: .string("id"), value: .string("D1")), MessagePackPair(key: .string("amount"), value: .uint(5)),
        ]))]))
    }

    @Test("every integer width and float type at its extremes")
    func numbers() throws {
        #expect(try roundTrip(Numbers()) == Numbers())
        let high = Numbers(i8: .max, i16: .max, i32: .max, i64: .max, int: .min, u8: 0, u16: 0, u32: 0, u64: 0, uint: 0,
                           float: -.greatestFiniteMagnitude, double: .leastNonzeroMagnitude, bool: false)
        #expect(try roundTrip(high) == high)
        for value: Int64 in [0, 1, -1, 127, 128, -32, -33, 255, 256, -128, -129, 65_535, 65_536, -32_768, -32_769,
                             4_294_967_295, 4_294_967_296, -2_147_483_648, -2_147_483_649, .max, .min] {
            #expect(try roundTrip(value) == value)
        }
        #expect(try roundTrip(UInt64.max) == .max)
    }

    @Test("floats: NaN stays NaN, infinities and signed zero survive")
    func floats() throws {
        #expect(try roundTrip(Double.nan, as: Double.self).isNaN)
        #expect(try roundTrip(Float.nan, as: Float.self).isNaN)
        #expect(try roundTrip(Double.infinity) == .infinity)
        #expect(try roundTrip(-Float.infinity) == -.infinity)
        #expect(try roundTrip(-0.0 as Double).sign == .minus)
        #expect(try roundTrip([1.5, -2.25, .pi] as [Double]) == [1.5, -2.25, .pi])
    }

    @Test("numbers convert between widths when the value fits")
    func conversions() throws {
        #expect(try decoder.decode(Double.self, from: try encoder.encode(Float(0.25))) == 0.25)
        #expect(try decoder.decode(Float.self, from: try encoder.encode(0.5 as Double)) == 0.5)
        #expect(try decoder.decode(Double.self, from: try encoder.encode(Int64(-42))) == -42)
        #expect(try decoder.decode(Float.self, from: try encoder.encode(UInt8(200))) == 200)
        #expect(try decoder.decode(Int8.self, from: try encoder.encode(Int64(-128))) == -128)
        #expect(try decoder.decode(UInt8.self, from: try encoder.encode(Int64(255))) == 255)
        #expect(try decoder.decode(Int.self, from: try encoder.encode(UInt32.max)) == 4_294_967_295)
        #expect(try decoder.decode(UInt64.self, from: try encoder.encode(Int64.max)) == UInt64(Int64.max))
        #expect(try decoder.decode(Int16.self, from: try encoder.encode(Int8.min)) == -128)
    }

    @Test("collections at the top level and nested: arrays, dictionaries, optionals, empties")
    func collections() throws {
        #expect(try roundTrip([1, 2, 3]) == [1, 2, 3])
        #expect(try roundTrip([Int]()) == [])
        #expect(try roundTrip([String: Int]()) == [:])
        #expect(try roundTrip(["a": 1, "b": -2]) == ["a": 1, "b": -2])
        #expect(try roundTrip(["x": ["y": [1, 2]], "z": [:]]) == ["x": ["y": [1, 2]], "z": [:]])
        #expect(try roundTrip([["k": 2], [:]] as [[String: Int]]) == [["k": 2], [:]])
        #expect(try roundTrip([1, nil, 3] as [Int?]) == [1, nil, 3])
        #expect(try roundTrip(Int?.none) == nil)
        #expect(try roundTrip(Optional(5)) == 5)
        #expect(try roundTrip(["a", "b"]) == ["a", "b"])
        #expect(try roundTrip([true, false]) == [true, false])
        #expect(try roundTrip([UInt8]([0, 255])) == [0, 255])
        #expect(try roundTrip(["x": true]) == ["x": true])
        #expect(try roundTrip(["x": 1.5]) == ["x": 1.5])
        #expect(try roundTrip(["x": Int64.min]) == ["x": .min])
        #expect(try roundTrip([Int64.max]) == [.max])
        #expect(try roundTrip([Money(minor: 1, currency: "RUB"), Money(minor: -2, currency: "JPY")]).count == 2)
        let big = Dictionary(uniqueKeysWithValues: (0..<70_000).map { ("k\($0)", $0) })
        #expect(try roundTrip(big) == big)
        let tree = Tree(name: "root", children: [Tree(name: "a", children: []), Tree(name: "b", children: [Tree(name: "c", children: [])])])
        #expect(try roundTrip(tree) == tree)
    }

    @Test("[UInt8] stays an array of integers; only Data is bin")
    func bytesVersusData() throws {
        #expect(try MessagePackValue.parse(try encoder.encode([UInt8]([1, 2]))) == .array([.uint(1), .uint(2)]))
        #expect(try MessagePackValue.parse(try encoder.encode(Data([1, 2]))) == .binary([1, 2]))
        for size in [0, 3, 255, 256, 65_535, 65_536, 100_000] {
            let data = Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7) })
            #expect(try roundTrip(data) == data)
        }
    }

    @Test("strings: empty, ASCII, Cyrillic, emoji, and every header width")
    func strings() throws {
        let long = [String(repeating: "я", count: 20), String(repeating: "x", count: 31), String(repeating: "x", count: 32),
                    String(repeating: "y", count: 300), String(repeating: "z", count: 70_000)]
        for text in ["", "a", "Сделка подтверждена", "👍🏽 ok", "日本語"] + long {
            #expect(try roundTrip(text) == text)
        }
    }

    @Test("Int-keyed dictionaries use integer keys; a String key that looks like a number stays a string")
    func intKeys() throws {
        let intKeyed: [Int: String] = [1: "a", -7: "b", 1_000_000: "c"]
        let parsed = try MessagePackValue.parse(try encoder.encode(intKeyed))
        #expect(Set(parsed.keys) == [.uint(1), .int(-7), .uint(1_000_000)])
        #expect(try roundTrip(intKeyed) == intKeyed)
        #expect(try MessagePackValue.parse(try encoder.encode(["5": 1])).keys == [.string("5")])
        #expect(try roundTrip(["5": 1]) == ["5": 1])
        // Another client's integer keys decode into String- and Int-keyed dictionaries alike.
        let foreign = MessagePackValue.map([MessagePackPair(key: .uint(3), value: .uint(4))]).serialize()
        #expect(try decoder.decode([String: Int].self, from: foreign) == ["3": 4])
        #expect(try decoder.decode([Int: Int].self, from: foreign) == [3: 4])
        let textual = MessagePackValue.map([MessagePackPair(key: .string("8"), value: .uint(9))]).serialize()
        #expect(try decoder.decode([Int: Int].self, from: textual) == [8: 9])
        let huge = MessagePackValue.map([MessagePackPair(key: .uint(.max), value: .uint(1)), MessagePackPair(key: .int(.min), value: .uint(2))])
        #expect(try decoder.decode([String: Int].self, from: huge.serialize()) == ["18446744073709551615": 1, "-9223372036854775808": 2])
        #expect(try decoder.decode([String: Money].self, from: MessagePackValue.map([MessagePackPair(
            key: .uint(.max), value: .map([MessagePackPair(key: .string("minor"), value: .uint(1)),
                                           MessagePackPair(key: .string("currency"), value: .string("X"))]))]).serialize())
            == ["18446744073709551615": Money(minor: 1, currency: "X")])
    }

    @Test("URL and Decimal are plain strings")
    func foundationTypes() throws {
        let url = try #require(URL(string: "https://example.com/a?b=c"))
        #expect(try MessagePackValue.parse(try encoder.encode(url)) == .string("https://example.com/a?b=c"))
        #expect(try roundTrip(url) == url)
        for text in ["12.345", "-0.001", "100", "79228162514264337593543950335"] {
            let decimal = try #require(Decimal(string: text))
            #expect(try MessagePackValue.parse(try encoder.encode(decimal)) == .string(decimal.description))
            #expect(try roundTrip(decimal) == decimal)
        }
        #expect(throws: WireError.invalidValue("not a decimal number: 1.5abc", path: "")) {
            try decoder.decode(Decimal.self, from: try encoder.encode("1.5abc"))
        }
    }

    @Test("dates round-trip exactly, before 1970 and far ahead too")
    func dates() throws {
        let dates = [
            Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: 1_732_871_528.25), Date(timeIntervalSince1970: -0.5),
            Date(timeIntervalSince1970: -315_619_200), Date(timeIntervalSince1970: 17_179_869_184.75), Date(timeIntervalSinceReferenceDate: 0),
            Date(timeIntervalSinceReferenceDate: 754_563_123.123_456), .distantPast, .distantFuture,
        ]
        for date in dates { #expect(try roundTrip(date) == date) }
        let now = Date()
        #expect(abs(try roundTrip(now).timeIntervalSince(now)) < 1e-6)
    }

    @Test("superEncoder/superDecoder carry a class's base fields as a nested map")
    func inheritance() throws {
        let value = Derived(id: 7, label: "x")
        let packed = try encoder.encode(value)
        #expect(try MessagePackValue.parse(packed)["super"] == .map([MessagePackPair(key: .string("id"), value: .uint(7))]))
        let back = try decoder.decode(Derived.self, from: packed)
        #expect(back.id == 7 && back.label == "x")
    }

    @Test("a nested container filled after a later sibling still lands in place")
    func interleavedContainers() throws {
        let value = Interleaved(items: Array(0..<20), name: "n")
        #expect(try roundTrip(value) == value)
        #expect(try MessagePackValue.parse(try encoder.encode(value)).keys == [.string("items"), .string("name")])
    }

    @Test("a decode inside init(from:) on the same thread gets its own state")
    func nestedDecode() throws {
        let value = Envelope(inner: Money(minor: 12, currency: "KWD"))
        #expect(try roundTrip(value) == value)
        #expect(try roundTrip([value, value]) == [value, value])
    }

    @Test("unknown keys are ignored by default and refused with rejectUnknownKeys, with the path")
    func unknownKeys() throws {
        let extra = try encoder.encode(["minor": MessagePackValueBox(.uint(1)), "currency": MessagePackValueBox(.string("RUB")),
                                        "note": MessagePackValueBox(.array([.null]))])
        #expect(try decoder.decode(Money.self, from: extra) == Money(minor: 1, currency: "RUB"))
        let strict = MessagePackDecoder(rejectUnknownKeys: true)
        #expect(throws: WireError.unknownKey("note", path: "")) { try strict.decode(Money.self, from: extra) }
        #expect(try strict.decode(DealStatusSample.self, from: try encoder.encode(DealStatusSample.sample)) == .sample)

        var sample = try MessagePackValue.parse(try encoder.encode(DealStatusSample.sample))
        guard case .map(var pairs) = sample, let legsIndex = pairs.firstIndex(where: { $0.key == .string("legs") }),
              case .array(var legs) = pairs[legsIndex].value, case .map(var leg) = legs[1] else {
            Issue.record("unexpected shape")
            return
        }
        leg.append(MessagePackPair(key: .string("colour"), value: .string("red")))
        legs[1] = .map(leg)
        pairs[legsIndex].value = .array(legs)
        sample = .map(pairs)
        #expect(try decoder.decode(DealStatusSample.self, from: sample.serialize()) == .sample)
        #expect(throws: WireError.unknownKey("colour", path: "legs[1]")) { try strict.decode(DealStatusSample.self, from: sample.serialize()) }
    }

    @Test("many threads encode and decode at once without sharing state")
    func concurrent() async throws {
        let packed = try encoder.encode(DealStatusSample.sample)
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    for _ in 0..<500 {
                        let bytes = try MessagePackEncoder().encode(DealStatusSample.sample)
                        guard try MessagePackDecoder().decode(DealStatusSample.self, from: bytes) == .sample else { return false }
                    }
                    return true
                }
            }
            for try await ok in group { #expect(ok) }
        }
        #expect(try decoder.decode(DealStatusSample.self, from: packed) == .sample)
    }

    @Test("MessagePackValue parses, re-serializes to the same bytes, and compares by wire meaning")
    func values() throws {
        let value = MessagePackValue.map([
            MessagePackPair(key: .string("n"), value: .array([.null, .bool(true), .int(-5), .uint(7), .float(1.5), .double(.nan)])),
            MessagePackPair(key: .uint(1), value: .binary([1, 2, 3])),
            MessagePackPair(key: .string("t"), value: .timestamp(seconds: -1, nanoseconds: 5)),
            MessagePackPair(key: .string("e"), value: .ext(type: 5, data: [9, 9, 9])),
        ])
        let bytes = value.serialize()
        let parsed = try MessagePackValue.parse(bytes)
        #expect(parsed == value)
        #expect(parsed.serialize() == bytes)
        #expect(MessagePackValue.int(5) == .uint(5))
        #expect(MessagePackValue.int(5).hashValue == MessagePackValue.uint(5).hashValue)
        #expect(MessagePackValue.double(.nan) == .double(.nan))
        #expect(MessagePackValue.float(1) != .double(1))
    }
}

/// Encodes a `MessagePackValue` (test helper for building maps with mixed value types).
struct MessagePackValueBox: Encodable {
    let value: MessagePackValue

    init(_ value: MessagePackValue) { self.value = value }

    func encode(to encoder: any Encoder) throws {
        switch value {
        case .null:
            var container = encoder.singleValueContainer()
            try container.encodeNil()
        case .uint(let v):
            var container = encoder.singleValueContainer()
            try container.encode(v)
        case .string(let v):
            var container = encoder.singleValueContainer()
            try container.encode(v)
        case .array(let items):
            var container = encoder.unkeyedContainer()
            for item in items { try container.encode(MessagePackValueBox(item)) }
        default:
            throw EncodingError.invalidValue(value, EncodingError.Context(codingPath: encoder.codingPath, debugDescription: "unsupported"))
        }
    }
}
