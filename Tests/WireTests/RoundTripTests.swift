import Foundation
import Testing
import Wire

struct Leg: Codable, Equatable {
    enum Status: String, Codable { case pending = "PENDING", settled = "SETTLED" }
    var currency: String
    var amountMinor: Int64
    var status: Status
    var settledAt: Date?
}

struct Sample: Codable, Equatable {
    var id: String
    var version: Int64
    var small: Int8
    var unsigned: UInt64
    var ratio: Double
    var single: Float
    var flag: Bool
    var note: String?
    var legs: [Leg]
    var tags: [String: String]
    var matrix: [[Int]]
    var blob: Data
    var at: Date
}

enum Event: Codable, Equatable {
    case booked(id: String, amount: Int64)
    case cancelled(reason: String?)
    case tick
}

func roundTrip<T: Codable & Equatable>(_ value: T) throws -> T {
    try MessagePackDecoder().decode(T.self, from: try MessagePackEncoder().encode(value))
}

func bytes(_ value: some Encodable) throws -> [UInt8] { try MessagePackEncoder().encode(value) }

@Suite("MessagePack round trips")
struct RoundTripTests {
    static let sample = Sample(
        id: "599164", version: 7, small: -5, unsigned: .max, ratio: 11.23456, single: 0.5, flag: true, note: nil,
        legs: [Leg(currency: "CNY", amountMinor: 819_600_000, status: .settled, settledAt: Date(timeIntervalSince1970: 1_732_871_528)),
               Leg(currency: "RUB", amountMinor: -10_341_712_800, status: .pending, settledAt: nil)],
        tags: ["ssi": "BKCHCNBJ", "город": "Москва"], matrix: [[1, 2], [], [3]], blob: Data([0, 1, 2, 255]),
        at: Date(timeIntervalSince1970: 1_732_871_528.25)
    )

    @Test("a nested struct with arrays, dictionaries, enums, Data and Date survives a round trip")
    func nested() throws {
        #expect(try roundTrip(Self.sample) == Self.sample)
    }

    @Test("a struct is a map keyed by field names and nil optionals are omitted")
    func shape() throws {
        let value = try MessagePackValue.parse(try bytes(Self.sample.legs[1]))
        #expect(value["currency"] == .string("RUB"))
        #expect(value["amountMinor"] == .int(-10_341_712_800))
        #expect(value["status"] == .string("PENDING"))
        guard case .map(let pairs) = value else { Issue.record("not a map"); return }
        #expect(pairs.map(\.key) == [.string("currency"), .string("amountMinor"), .string("status")])
    }

    @Test("enums with associated values round trip")
    func enums() throws {
        for event in [Event.booked(id: "D1", amount: 5), .cancelled(reason: nil), .cancelled(reason: "client"), .tick] {
            #expect(try roundTrip(event) == event)
        }
    }

    @Test("top-level single values, arrays, optionals and dictionaries round trip")
    func topLevel() throws {
        #expect(try roundTrip("Сделка подтверждена 👍") == "Сделка подтверждена 👍")
        #expect(try roundTrip([1, 2, 3]) == [1, 2, 3])
        #expect(try roundTrip([Int?.none, 4]) == [nil, 4])
        #expect(try roundTrip(["a": [1], "b": []]) == ["a": [1], "b": []])
        #expect(try roundTrip([5: "five", -1: "minus"]) == [5: "five", -1: "minus"])
        #expect(try roundTrip([String: Int]()) == [:])
        #expect(try roundTrip(Int64.min) == .min)
        #expect(try roundTrip(Int64.max) == .max)
        #expect(try roundTrip(UInt64.max) == .max)
        #expect(try roundTrip(Decimal(string: "2808645.61728")!) == Decimal(string: "2808645.61728")!)
        #expect(try roundTrip(URL(string: "https://sber.ru/x?y=1")!) == URL(string: "https://sber.ru/x?y=1")!)
        #expect(try roundTrip(Double.infinity) == .infinity)
        #expect(try roundTrip(-0.0 as Double).sign == .minus)
        #expect(try roundTrip(Double.nan).isNaN)
    }

    @Test("integers use the smallest MessagePack form", arguments: [
        (Int64(0), [0x00]), (127, [0x7F]), (128, [0xCC, 0x80]), (255, [0xCC, 0xFF]), (256, [0xCD, 0x01, 0x00]),
        (65_535, [0xCD, 0xFF, 0xFF]), (65_536, [0xCE, 0x00, 0x01, 0x00, 0x00]), (4_294_967_295, [0xCE, 0xFF, 0xFF, 0xFF, 0xFF]),
        (4_294_967_296, [0xCF, 0, 0, 0, 1, 0, 0, 0, 0]), (-1, [0xFF]), (-32, [0xE0]), (-33, [0xD0, 0xDF]),
        (-128, [0xD0, 0x80]), (-129, [0xD1, 0xFF, 0x7F]), (-32_768, [0xD1, 0x80, 0x00]), (-32_769, [0xD2, 0xFF, 0xFF, 0x7F, 0xFF]),
        (Int64.min, [0xD3, 0x80, 0, 0, 0, 0, 0, 0, 0]), (Int64.max, [0xCF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
    ] as [(Int64, [UInt8])])
    func integerWidths(value: Int64, expected: [UInt8]) throws {
        #expect(try bytes(value) == expected)
        #expect(try MessagePackDecoder().decode(Int64.self, from: expected) == value)
    }

    @Test("known vectors from the MessagePack spec")
    func knownVectors() throws {
        #expect(try bytes(["a": 1]) == [0x81, 0xA1, 0x61, 0x01])
        #expect(try bytes([true, false]) == [0x92, 0xC3, 0xC2])
        #expect(try bytes(Optional<Int>.none) == [0xC0])
        #expect(try bytes(1.5 as Double) == [0xCB, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0])
        #expect(try bytes(1.5 as Float) == [0xCA, 0x3F, 0xC0, 0, 0])
        #expect(try bytes(Data([1, 2])) == [0xC4, 0x02, 0x01, 0x02])
        #expect(try bytes(String(repeating: "x", count: 31)).prefix(1) == [0xBF])
        #expect(try bytes(String(repeating: "x", count: 32)).prefix(2) == [0xD9, 32])
        #expect(try bytes(String(repeating: "x", count: 256)).prefix(3) == [0xDA, 0x01, 0x00])
        #expect(try bytes(String(repeating: "x", count: 65_536)).prefix(5) == [0xDB, 0x00, 0x01, 0x00, 0x00])
        #expect(try bytes(Data(count: 256)).prefix(3) == [0xC5, 0x01, 0x00])
        #expect(try bytes(Data(count: 65_536)).prefix(5) == [0xC6, 0x00, 0x01, 0x00, 0x00])
        #expect(try bytes(Array(repeating: 0, count: 16)).prefix(3) == [0xDC, 0x00, 0x10])
        let wide = Dictionary(uniqueKeysWithValues: (0..<16).map { ("k\($0)", $0) })
        #expect(try bytes(wide).prefix(3) == [0xDE, 0x00, 0x10])
        #expect(try roundTrip(wide) == wide)
        let huge = Array(repeating: UInt8(7), count: 70_000)
        #expect(try bytes(huge).prefix(5) == [0xDD, 0x00, 0x01, 0x11, 0x70])
        #expect(try roundTrip(huge) == huge)
    }

    @Test("dates are timestamp extension −1 in all three widths", arguments: [
        (Date(timeIntervalSince1970: 1), [0xD6, 0xFF, 0, 0, 0, 1]),
        (Date(timeIntervalSince1970: 1.5), [0xD7, 0xFF, 0x77, 0x35, 0x94, 0x00, 0, 0, 0, 1]),
        (Date(timeIntervalSince1970: 17_179_869_184), [0xC7, 12, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0x04, 0, 0, 0, 0]),
        (Date(timeIntervalSince1970: -1), [0xC7, 12, 0xFF, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
        (Date(timeIntervalSince1970: -0.5), [0xC7, 12, 0xFF, 0x1D, 0xCD, 0x65, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
    ] as [(Date, [UInt8])])
    func timestamps(date: Date, expected: [UInt8]) throws {
        #expect(try bytes(date) == expected)
        #expect(try MessagePackDecoder().decode(Date.self, from: expected) == date)
    }

    @Test("MessagePackValue re-serializes what it parsed")
    func valueRoundTrip() throws {
        let encoded = try bytes(Self.sample)
        let value = try MessagePackValue.parse(encoded)
        #expect(value.serialize() == encoded)
    }
}
