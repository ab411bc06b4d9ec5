import Foundation
import Testing
import Wire

@Suite("Malformed MessagePack gives typed errors")
struct MalformedInputTests {
    let valid = try! MessagePackEncoder().encode(RoundTripTests.sample)

    @Test("every truncation of a valid message is rejected as truncated")
    func truncations() {
        for cut in 0..<valid.count {
            #expect(throws: WireError.self) { try MessagePackDecoder().decode(Sample.self, from: Array(valid.prefix(cut))) }
            #expect(throws: WireError.self) { try MessagePackValue.parse(Array(valid.prefix(cut))) }
        }
    }

    @Test("specific bad inputs map to specific errors")
    func specific() throws {
        let decoder = MessagePackDecoder()
        #expect(throws: WireError.invalidByte(0xC1, offset: 0)) { try decoder.decode(Int.self, from: [0xC1]) }
        #expect(throws: WireError.invalidUTF8(offset: 1)) { try decoder.decode(String.self, from: [0xA2, 0xFF, 0xFE]) }
        #expect(throws: WireError.trailingBytes(offset: 1)) { try decoder.decode(Int.self, from: [0x01, 0x02]) }
        #expect(throws: WireError.truncated(offset: 3)) { try decoder.decode(String.self, from: [0xD9, 0x05, 0x61]) }
        #expect(throws: WireError.numberOverflow(path: "")) { try decoder.decode(Int8.self, from: [0xCC, 0xFF]) }
        #expect(throws: WireError.numberOverflow(path: "")) { try decoder.decode(Int64.self, from: [0xCF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]) }
        #expect(throws: WireError.typeMismatch(expected: "string", found: "integer", path: "")) { try decoder.decode(String.self, from: [0x01]) }
        #expect(throws: WireError.invalidTimestamp(offset: 2)) {
            try decoder.decode(Date.self, from: [0xD7, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0])
        }
        struct Needs: Decodable { var amount: Int64 }
        #expect(throws: WireError.keyNotFound("amount", path: "")) { try decoder.decode(Needs.self, from: [0x80]) }
        #expect(throws: WireError.valueNotFound(expected: "integer", path: "amount")) {
            try decoder.decode(Needs.self, from: [0x81, 0xA6] + Array("amount".utf8) + [0xC0])
        }
        #expect(throws: WireError.typeMismatch(expected: "integer", found: "string", path: "amount")) {
            try decoder.decode(Needs.self, from: [0x81, 0xA6] + Array("amount".utf8) + [0xA1, 0x31])
        }
        let unknownCase: [UInt8] = try MessagePackEncoder().encode(["currency": "X", "amountMinor": "1", "status": "LOST"])
        #expect(throws: WireError.self) { try decoder.decode(Leg.self, from: unknownCase) }
    }

    @Test("declared lengths beyond the input or the limits are refused before allocating")
    func lengths() {
        let decoder = MessagePackDecoder(limits: WireLimits(maxDepth: 64, maxLength: 1_000))
        #expect(throws: WireError.tooLarge(length: 4_294_967_295, limit: 16 * 1024 * 1024)) {
            try MessagePackDecoder().decode([Int].self, from: [0xDD, 0xFF, 0xFF, 0xFF, 0xFF])
        }
        #expect(throws: WireError.truncated(offset: 5)) { try MessagePackDecoder().decode([Int].self, from: [0xDD, 0x00, 0x10, 0x00, 0x00]) }
        #expect(throws: WireError.tooLarge(length: 4_294_967_295, limit: 1_000)) {
            try decoder.decode(Data.self, from: [0xC6, 0xFF, 0xFF, 0xFF, 0xFF])
        }
        #expect(throws: WireError.tooLarge(length: 2_000, limit: 1_000)) { try decoder.decode([UInt8].self, from: [UInt8](repeating: 0x90, count: 2_000)) }
        #expect(throws: WireError.truncated(offset: 3)) { try MessagePackDecoder().decode([String: Int].self, from: [0xDE, 0xFF, 0xFF]) }
    }

    @Test("a depth bomb is refused as too deep, without exhausting the stack")
    func depthBomb() {
        let bomb = [UInt8](repeating: 0x91, count: 100_000) + [0x01]
        #expect(throws: WireError.tooDeep(limit: 64)) { try MessagePackValue.parse(bomb) }
        #expect(throws: WireError.tooDeep(limit: 64)) { try MessagePackDecoder().decode([[[Int]]].self, from: bomb) }
        var mapBomb: [UInt8] = []
        for _ in 0..<10_000 { mapBomb += [0x81, 0xA1, 0x61] }
        mapBomb.append(0x01)
        #expect(throws: WireError.tooDeep(limit: 64)) { try MessagePackValue.parse(mapBomb) }
    }

    @Test("100 000 random and mutated inputs never crash: each decodes or throws WireError")
    func fuzz() throws {
        let seed = ProcessInfo.processInfo.environment["WIRE_FUZZ_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
        print("wire fuzz seed \(seed) (set WIRE_FUZZ_SEED to replay)")
        var rng = SplitMix64(seed: seed)
        let seeds: [[UInt8]] = [
            valid,
            try MessagePackEncoder().encode(RoundTripTests.sample.legs),
            try MessagePackEncoder().encode(["k": [1, 2, 3]]),
            try MessagePackEncoder().encode(Event.booked(id: "D1", amount: 99)),
        ]
        var decodedValues = 0
        var decodedSamples = 0
        for i in 0..<100_000 {
            var input: [UInt8]
            if i % 4 == 0 {
                input = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            } else {
                input = seeds[Int(rng.next() % UInt64(seeds.count))]
                for _ in 0..<(1 + Int(rng.next() % 4)) { mutate(&input, &rng) }
            }
            if let value = try? MessagePackValue.parse(input) {
                decodedValues += 1
                #expect(try MessagePackValue.parse(value.serialize()) == value || value.containsNaN)
            }
            do {
                _ = try MessagePackDecoder().decode(Sample.self, from: input)
                decodedSamples += 1
            } catch is WireError {
            } catch {
                Issue.record("non-Wire error \(error) for input \(input) (seed \(seed))")
            }
        }
        #expect(decodedValues > 1_000)
        #expect(decodedSamples > 0)
    }

    func mutate(_ input: inout [UInt8], _ rng: inout SplitMix64) {
        guard !input.isEmpty else {
            input = [UInt8(truncatingIfNeeded: rng.next())]
            return
        }
        let at = Int(rng.next() % UInt64(input.count))
        switch rng.next() % 5 {
        case 0: input[at] ^= 1 << UInt8(rng.next() % 8)
        case 1: input.insert(UInt8(truncatingIfNeeded: rng.next()), at: at)
        case 2: input.remove(at: at)
        case 3: input = Array(input.prefix(at))
        default:
            // Corrupt a length field: a random large byte where headers live.
            input[at] = [0xDC, 0xDD, 0xDE, 0xDF, 0xC6, 0xDB, 0xFF][Int(rng.next() % 7)]
        }
    }
}

/// Deterministic PRNG so a failing fuzz run can be replayed from its seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension MessagePackValue {
    /// NaN never equals itself, so such values cannot be compared after a round trip.
    var containsNaN: Bool {
        switch self {
        case .float(let f): f.isNaN
        case .double(let d): d.isNaN
        case .array(let items): items.contains { $0.containsNaN }
        case .map(let pairs): pairs.contains { $0.key.containsNaN || $0.value.containsNaN }
        default: false
        }
    }
}
