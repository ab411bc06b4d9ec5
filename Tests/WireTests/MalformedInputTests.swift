import Foundation
import Testing
import Wire

@Suite("Malformed MessagePack gives a typed error, never a crash")
struct MalformedInputTests {
    let encoder = MessagePackEncoder()
    let decoder = MessagePackDecoder()

    @Test("every truncation of a valid message is refused as truncated at its end")
    func truncations() throws {
        let messages: [[UInt8]] = [
            try encoder.encode(DealStatusSample.sample),
            try encoder.encode(DealEvent.amended(DealStatusSample.sample.legs[0], reason: "r")),
            try encoder.encode(Numbers()),
            try encoder.encode(String(repeating: "x", count: 300)),
        ]
        for message in messages {
            for cut in 0..<message.count {
                let prefix = Array(message.prefix(cut))
                #expect(throws: WireError.truncated(offset: cut)) { try decoder.decode(DealStatusSample.self, from: prefix) }
                #expect(throws: WireError.truncated(offset: cut)) { try MessagePackValue.parse(prefix) }
            }
        }
    }

    @Test("bytes that start no value, bad UTF-8 and trailing bytes")
    func invalidBytes() {
        #expect(throws: WireError.invalidByte(0xC1, offset: 0)) { try decoder.decode(Int.self, from: [0xC1]) }
        #expect(throws: WireError.invalidByte(0xC1, offset: 3)) { try decoder.decode([Int].self, from: [0x93, 0x01, 0x02, 0xC1]) }
        #expect(throws: WireError.invalidByte(0xC1, offset: 3)) { try MessagePackValue.parse([0x81, 0xA1, 0x61, 0xC1]) }
        #expect(throws: WireError.invalidUTF8(offset: 1)) { try decoder.decode(String.self, from: [0xA2, 0xFF, 0xFE]) }
        #expect(throws: WireError.invalidUTF8(offset: 1)) { try decoder.decode(String.self, from: [0xA2, 0xC0, 0x80]) }  // overlong
        #expect(throws: WireError.invalidUTF8(offset: 1)) { try decoder.decode(String.self, from: [0xA3, 0xED, 0xA0, 0x80]) }  // surrogate
        #expect(throws: WireError.invalidUTF8(offset: 1)) { try MessagePackValue.parse([0xA1, 0x80]) }
        #expect(throws: WireError.invalidUTF8(offset: 2)) { try decoder.decode([String].self, from: [0x91, 0xA1, 0x80]) }
        #expect(throws: WireError.invalidUTF8(offset: 2)) { try decoder.decode([String: Int].self, from: [0x81, 0xA1, 0xFF, 0x01]) }
        #expect(throws: WireError.trailingBytes(offset: 1)) { try decoder.decode(Int.self, from: [0x01, 0x02]) }
        #expect(throws: WireError.trailingBytes(offset: 1)) { try MessagePackValue.parse([0xC0, 0xC0]) }
        #expect(throws: WireError.truncated(offset: 0)) { try decoder.decode(Int.self, from: []) }
    }

    @Test("declared lengths beyond the input or the limits are refused before allocating")
    func lengths() throws {
        let small = MessagePackDecoder(limits: WireLimits(maxDepth: 64, maxLength: 1_000))
        #expect(throws: WireError.tooLarge(length: 4_294_967_295, limit: 16 * 1024 * 1024)) {
            try decoder.decode([Int].self, from: [0xDD, 0xFF, 0xFF, 0xFF, 0xFF])
        }
        #expect(throws: WireError.tooLarge(length: 4_294_967_295, limit: 16 * 1024 * 1024)) {
            try decoder.decode(String.self, from: [0xDB, 0xFF, 0xFF, 0xFF, 0xFF])
        }
        #expect(throws: WireError.truncated(offset: 5)) { try decoder.decode([Int].self, from: [0xDD, 0x00, 0x10, 0x00, 0x00]) }
        #expect(throws: WireError.truncated(offset: 3)) { try decoder.decode([String: Int].self, from: [0xDE, 0xFF, 0xFF]) }
        #expect(throws: WireError.truncated(offset: 3)) { try decoder.decode(Data.self, from: [0xC4, 0x05, 0x00]) }
        #expect(throws: WireError.truncated(offset: 4)) { try decoder.decode(Date.self, from: [0xC7, 0x0C, 0xFF, 0x00]) }
        #expect(throws: WireError.tooLarge(length: 4_294_967_295, limit: 1_000)) { try small.decode(Data.self, from: [0xC6, 0xFF, 0xFF, 0xFF, 0xFF]) }
        #expect(throws: WireError.tooLarge(length: 1_001, limit: 1_000)) { try small.decode(String.self, from: [0xDA, 0x03, 0xE9, 0x61]) }
        #expect(throws: WireError.tooLarge(length: 1_004, limit: 1_000)) {
            try small.decode(String.self, from: [0xDA, 0x03, 0xE9] + [UInt8](repeating: 0x61, count: 1_001))
        }
        let long = [UInt8](repeating: 0x90, count: 2_000)
        #expect(throws: WireError.tooLarge(length: 2_000, limit: 1_000)) { try small.decode([UInt8].self, from: long) }
        #expect(throws: WireError.tooLarge(length: 2_000, limit: 1_000)) { try MessagePackValue.parse(long, limits: small.limits) }
        let fewContainers = MessagePackDecoder(limits: WireLimits(maxContainerCount: 3))
        #expect(throws: WireError.tooLarge(length: 4, limit: 3)) { try fewContainers.decode([[Int]].self, from: [0x93, 0x90, 0x90, 0x90]) }
        #expect(try fewContainers.decode([[Int]].self, from: [0x92, 0x90, 0x90]) == [[], []])
    }

    @Test("a depth bomb is refused as too deep, without exhausting the stack")
    func depthBomb() {
        let bomb = [UInt8](repeating: 0x91, count: 100_000) + [0x01]
        #expect(throws: WireError.tooDeep(limit: 64)) { try MessagePackValue.parse(bomb) }
        #expect(throws: WireError.tooDeep(limit: 64)) { try decoder.decode([[[Int]]].self, from: bomb) }
        #expect(throws: WireError.tooDeep(limit: 64)) { try decoder.decode(Tree.self, from: bomb) }
        var mapBomb: [UInt8] = []
        for _ in 0..<10_000 { mapBomb += [0x81, 0xA1, 0x61] }
        mapBomb.append(0x01)
        #expect(throws: WireError.tooDeep(limit: 64)) { try MessagePackValue.parse(mapBomb) }
        #expect(throws: WireError.tooDeep(limit: 64)) { try decoder.decode(Tree.self, from: mapBomb) }
        // The limit itself is allowed, one more level is not.
        #expect(throws: Never.self) { try MessagePackValue.parse([UInt8](repeating: 0x91, count: 63) + [0x90]) }
        #expect(throws: WireError.tooDeep(limit: 64)) { try MessagePackValue.parse([UInt8](repeating: 0x91, count: 64) + [0x90]) }
        #expect(throws: WireError.tooDeep(limit: 3)) {
            try MessagePackDecoder(limits: WireLimits(maxDepth: 3)).decode([[[[Int]]]].self, from: [0x91, 0x91, 0x91, 0x90])
        }
    }

    @Test("the encoder refuses values nested deeper than its limit instead of recursing on")
    func encoderDepth() throws {
        var tree = Tree(name: "leaf", children: [])
        for i in 0..<40 { tree = Tree(name: "n\(i)", children: [tree]) }
        #expect(throws: WireError.tooDeep(limit: 64)) { try encoder.encode(tree) }
        var roomy = MessagePackEncoder()
        roomy.maxDepth = 100
        let packed = try roomy.encode(tree)
        #expect(throws: WireError.tooDeep(limit: 64)) { try decoder.decode(Tree.self, from: packed) }
        #expect(try MessagePackDecoder(limits: WireLimits(maxDepth: 100)).decode(Tree.self, from: packed) == tree)
    }

    @Test("wrong types, nil and missing fields name the field")
    func typeErrors() throws {
        #expect(throws: WireError.typeMismatch(expected: "string", found: "integer", path: "")) { try decoder.decode(String.self, from: [0x01]) }
        #expect(throws: WireError.typeMismatch(expected: "integer", found: "float", path: "")) {
            try decoder.decode(Int.self, from: try encoder.encode(1.0))
        }
        #expect(throws: WireError.typeMismatch(expected: "map", found: "array", path: "")) { try decoder.decode(Money.self, from: [0x90]) }
        #expect(throws: WireError.typeMismatch(expected: "array", found: "map", path: "")) { try decoder.decode([Money].self, from: [0x80]) }
        #expect(throws: WireError.typeMismatch(expected: "timestamp", found: "float", path: "")) {
            try decoder.decode(Date.self, from: try encoder.encode(1.5))
        }
        #expect(throws: WireError.typeMismatch(expected: "binary", found: "array", path: "")) {
            try decoder.decode(Data.self, from: try encoder.encode([UInt8]([1])))
        }
        #expect(throws: WireError.keyNotFound("currency", path: "")) { try decoder.decode(Money.self, from: try encoder.encode(["minor": 1])) }
        #expect(throws: WireError.valueNotFound(expected: "string", path: "currency")) {
            try decoder.decode(Money.self, from: MessagePackValue.map([
                MessagePackPair(key: .string("minor"), value: .uint(1)), MessagePackPair(key: .string("currency"), value: .null),
            ]).serialize())
        }
        #expect(throws: WireError.typeMismatch(expected: "integer", found: "string", path: "minor")) {
            try decoder.decode(Money.self, from: try encoder.encode(["minor": "1", "currency": "RUB"]))
        }
        #expect(throws: WireError.typeMismatch(expected: "string or integer key", found: "nil", path: "")) {
            try decoder.decode(Money.self, from: [0x81, 0xC0, 0x01])
        }
        // Nested paths: a field of an array element of a field.
        var sample = DealStatusSample.sample
        sample.legs[1].currency = "USD"
        let packed = try encoder.encode(sample)
        var broken = packed
        let status = Array("SENT".utf8)
        let at = try #require(broken.indices.first { Array(broken[$0..<min($0 + 4, broken.count)]) == status })
        broken.replaceSubrange(at..<(at + 4), with: Array("LOST".utf8))
        #expect(throws: WireError.invalidValue("Cannot initialize LegStatus from invalid String value LOST", path: "legs[1].status")) {
            try decoder.decode(DealStatusSample.self, from: broken)
        }
        var wrongType = try MessagePackValue.parse(packed)
        if case .map(var pairs) = wrongType, let i = pairs.firstIndex(where: { $0.key == .string("legs") }), case .array(var legs) = pairs[i].value,
           case .map(var leg) = legs[0], let j = leg.firstIndex(where: { $0.key == .string("amountMinor") }) {
            leg[j].value = .string("1")
            legs[0] = .map(leg)
            pairs[i].value = .array(legs)
            wrongType = .map(pairs)
        }
        #expect(throws: WireError.typeMismatch(expected: "integer", found: "string", path: "legs[0].amountMinor")) {
            try decoder.decode(DealStatusSample.self, from: wrongType.serialize())
        }
        #expect(throws: WireError.typeMismatch(expected: "string", found: "integer", path: "requisites.CNY")) {
            try decoder.decode([String: [String: String]].self, from: try encoder.encode(["requisites": ["CNY": 1]]))
        }
        #expect(throws: WireError.typeMismatch(expected: "integer", found: "string", path: "[2]")) {
            try decoder.decode([Int].self, from: MessagePackValue.array([.uint(1), .uint(2), .string("x")]).serialize())
        }
    }

    @Test("numbers that do not fit their field overflow")
    func overflow() throws {
        #expect(throws: WireError.numberOverflow(path: "")) { try decoder.decode(Int8.self, from: [0xCC, 0xFF]) }
        #expect(throws: WireError.numberOverflow(path: "")) { try decoder.decode(UInt.self, from: [0xFF]) }
        #expect(throws: WireError.numberOverflow(path: "")) { try decoder.decode(Int64.self, from: try encoder.encode(UInt64.max)) }
        #expect(throws: WireError.numberOverflow(path: "")) { try decoder.decode(UInt32.self, from: try encoder.encode(Int64(1) << 32)) }
        #expect(throws: WireError.numberOverflow(path: "")) { try decoder.decode(Double.self, from: try encoder.encode(Int64(1) << 53 + 1)) }
        #expect(throws: WireError.numberOverflow(path: "")) { try decoder.decode(Float.self, from: try encoder.encode(1e300)) }
        struct Small: Decodable { var u8: UInt8 }
        #expect(throws: WireError.numberOverflow(path: "u8")) { try decoder.decode(Small.self, from: try encoder.encode(["u8": 256])) }
    }

    @Test("timestamps with nanoseconds of a second or more, or of a wrong length, are invalid")
    func badTimestamps() {
        #expect(throws: WireError.invalidTimestamp(offset: 0)) { try decoder.decode(Date.self, from: bytes("d7ffffffffff00000000")) }
        #expect(throws: WireError.invalidTimestamp(offset: 0)) { try decoder.decode(Date.self, from: bytes("c70cff3b9aca000000000000000000")) }
        #expect(throws: WireError.invalidTimestamp(offset: 0)) { try decoder.decode(Date.self, from: bytes("d5ff0000")) }
        #expect(throws: WireError.invalidTimestamp(offset: 0)) { try MessagePackValue.parse(bytes("c703ff000000")) }
        #expect(throws: WireError.typeMismatch(expected: "timestamp", found: "extension", path: "")) {
            try decoder.decode(Date.self, from: bytes("d60100000001"))
        }
    }

    @Test("values the encoder cannot write and misuse of the Codable API are typed errors")
    func encoderErrors() {
        #expect(throws: WireError.self) { try encoder.encode(Date(timeIntervalSinceReferenceDate: .infinity)) }
        #expect(throws: WireError.self) { try encoder.encode(Date(timeIntervalSinceReferenceDate: .nan)) }
        struct TwoValues: Encodable {
            func encode(to encoder: any Encoder) throws {
                var container = encoder.singleValueContainer()
                try container.encode(1)
                try container.encode(2)
            }
        }
        #expect(throws: WireError.unsupported("a single-value container was written twice")) { try encoder.encode(TwoValues()) }
        struct Mixed: Encodable {
            func encode(to encoder: any Encoder) throws {
                var keyed = encoder.container(keyedBy: IndexKeyForTest.self)
                try keyed.encode(1, forKey: IndexKeyForTest(stringValue: "a"))
                var unkeyed = encoder.unkeyedContainer()
                try unkeyed.encode(2)
            }
        }
        #expect(throws: WireError.unsupported("one value asked for both a keyed and an unkeyed container")) { try encoder.encode(Mixed()) }
        // After a failure the encoder keeps working.
        #expect(throws: Never.self) { try encoder.encode(DealStatusSample.sample) }
    }
}

struct IndexKeyForTest: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
