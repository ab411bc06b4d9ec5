import Foundation
import Testing
import TestSupport
import Wire

@Suite("Random and mutated input never crashes the decoder")
struct FuzzTests {
    /// Valid messages the mutations start from.
    static func corpus() throws -> [[UInt8]] {
        let encoder = MessagePackEncoder()
        var tree = Tree(name: "t", children: [])
        for i in 0..<5 { tree = Tree(name: "n\(i)", children: [tree, Tree(name: "x", children: [])]) }
        return [
            try encoder.encode(DealStatusSample.sample),
            try encoder.encode(DealStatusSample.sample.legs),
            try encoder.encode(["k": [1, 2, 3], "m": [-1, 300, 70_000]]),
            try encoder.encode(DealEvent.booked(id: "D1", amount: 99)),
            try encoder.encode(DealEvent.amended(DealStatusSample.sample.legs[0], reason: "Сделка")),
            try encoder.encode(Numbers()),
            try encoder.encode(tree),
            try encoder.encode([Data([1, 2, 3]), Data(count: 300)]),
            try encoder.encode([Date(timeIntervalSince1970: 1), Date(timeIntervalSince1970: 1.5), Date(timeIntervalSince1970: -1)]),
            MessagePackValue.map([
                MessagePackPair(key: .uint(1), value: .ext(type: 3, data: [1, 2, 3, 4])),
                MessagePackPair(key: .string("f"), value: .array([.float(1.5), .double(-2), .null, .bool(true)])),
                MessagePackPair(key: .string("s"), value: .string(String(repeating: "я", count: 40))),
            ]).serialize(),
        ]
    }

    /// One corrupted copy of `message`: bit flips, insertions, deletions, truncations, length-field changes or splices.
    static func mutate(_ message: [UInt8], with other: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = message
        let interesting: [UInt8] = [0x00, 0x01, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC4, 0xC7, 0xCA, 0xCF, 0xD3, 0xD4,
                                    0xD8, 0xD9, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF, 0xE0, 0xFF]
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            guard !bytes.isEmpty else { break }
            let at = Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<8, using: &rng) {
            case 0:
                bytes[at] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
            case 1:
                bytes.insert(UInt8.random(in: 0...255, using: &rng), at: at)
            case 2:
                bytes.remove(at: at)
            case 3:
                bytes.removeSubrange(at...)
            case 4:
                bytes[at] = interesting.randomElement(using: &rng)!
            case 5:
                // Corrupt a length or count: the bytes after a sized header, or the low bits of a fix header.
                switch bytes[at] {
                case 0xC4, 0xC7, 0xD9:
                    if at + 1 < bytes.count { bytes[at + 1] = UInt8.random(in: 0...255, using: &rng) }
                case 0xC5, 0xC8, 0xDA, 0xDC, 0xDE, 0xC6, 0xC9, 0xDB, 0xDD, 0xDF:
                    for k in 1...2 where at + k < bytes.count { bytes[at + k] = [0x00, 0xFF, 0x7F].randomElement(using: &rng)! }
                case 0x80...0xBF:
                    bytes[at] = (bytes[at] & 0xE0) | UInt8.random(in: 0...0x1F, using: &rng) & (bytes[at] < 0xA0 ? 0x0F : 0x1F)
                default:
                    bytes[at] = bytes[at] &+ 1
                }
            case 6:
                let length = Int.random(in: 1...8, using: &rng)
                bytes.insert(contentsOf: bytes[at..<min(bytes.count, at + length)], at: at)
            default:
                let cut = Int.random(in: 0...other.count, using: &rng)
                bytes = Array(bytes[..<at] + other[cut...])
            }
        }
        return bytes
    }

    @Test("100 000 random and mutated inputs: each decodes or throws WireError, and what parses re-serializes equal")
    func fuzz() throws {
        let seed = ProcessInfo.processInfo.environment["WIRE_FUZZ_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64.max)
        print("wire fuzz seed \(seed) (set WIRE_FUZZ_SEED=\(seed) to replay)")
        var rng = SplitMix64(seed: seed)
        let corpus = try Self.corpus()
        let decoder = MessagePackDecoder()
        let strict = MessagePackDecoder(limits: WireLimits(maxDepth: 8, maxLength: 4_096, maxContainerCount: 64), rejectUnknownKeys: true)
        let encoder = MessagePackEncoder()
        var parsedValues = 0
        var decodedSamples = 0
        var errors: [String: Int] = [:]
        for i in 0..<100_000 {
            let input: [UInt8]
            if i % 8 == 0 {
                input = (0..<Int.random(in: 0...48, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                input = Self.mutate(corpus.randomElement(using: &rng)!, with: corpus.randomElement(using: &rng)!, &rng)
            }
            do {
                let value = try MessagePackValue.parse(input)
                parsedValues += 1
                // What parsed re-serializes in smallest forms and parses back to an equal value.
                let again = try MessagePackValue.parse(value.serialize())
                #expect(again == value, "seed \(seed), input \(i): \(hex(input))")
            } catch {
                errors["\(error)".prefix(while: { $0 != " " }).description, default: 0] += 1
            }
            do {
                let sample = try decoder.decode(DealStatusSample.self, from: input)
                decodedSamples += 1
                #expect(try decoder.decode(DealStatusSample.self, from: try encoder.encode(sample)) == sample, "seed \(seed), input \(i)")
            } catch {
                // A typed WireError is the expected outcome for most mutations.
            }
            _ = try? strict.decode(DealEvent.self, from: input)
            _ = try? decoder.decode([String: [Int]].self, from: input)
            _ = try? decoder.decode(Tree.self, from: input)
        }
        print("wire fuzz: \(parsedValues) parsed, \(decodedSamples) decoded as the sample; errors by kind: \(errors.sorted { $0.key < $1.key })")
        #expect(parsedValues > 1_000)
        #expect(decodedSamples > 100)
        #expect(errors.count >= 3)
    }

    @Test("random byte strings of every length up to 6 never crash any decoder path")
    func shortInputs() {
        var rng = SplitMix64(seed: 42)
        let decoder = MessagePackDecoder()
        for length in 0...6 {
            for _ in 0..<2_000 {
                let input = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
                _ = try? MessagePackValue.parse(input)
                _ = try? decoder.decode(Date.self, from: input)
                _ = try? decoder.decode(Double.self, from: input)
                _ = try? decoder.decode([String: Int].self, from: input)
                _ = try? decoder.decode(Int8?.self, from: input)
            }
        }
        // Every single byte is either a complete value or a typed error.
        for byte in UInt8.min...UInt8.max {
            do {
                _ = try MessagePackValue.parse([byte])
                #expect(byte <= 0x7F || byte >= 0xE0 || [0x80, 0x90, 0xA0, 0xC0, 0xC2, 0xC3].contains(byte))
            } catch {
                #expect(error == .invalidByte(0xC1, offset: 0) || error == .truncated(offset: 1))
            }
        }
    }
}
