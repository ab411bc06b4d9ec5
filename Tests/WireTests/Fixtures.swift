import Foundation
import Wire

/// Settlement state of one leg (raw-value enum: encodes as its string).
enum LegStatus: String, Codable, Equatable, CaseIterable {
    case pending = "PENDING", instructed = "INSTRUCTED", sent = "SENT", settled = "SETTLED"
}

struct Leg: Codable, Equatable {
    var currency: String
    var amountMinor: Int64
    var direction: String
    var status: LegStatus
    var settledAt: Date?
}

/// Shaped like the deal-status snapshot the dashboard receives (the benchmark's struct).
struct DealStatusSample: Codable, Equatable {
    var client: String
    var dealId: String
    var version: Int64
    var tradeDate: Date
    var channel: String
    var product: String
    var side: String
    var pair: String
    var rateMantissa: Int64
    var rateScale: Int
    var amountMinor: Int64
    var amountCurrency: String
    var valueDate: String
    var confirmation: String
    var reason: String?
    var legs: [Leg]
    var requisites: [String: String]
    var updatedAt: Date
    var nettingSet: String?

    static let sample = DealStatusSample(
        client: "C00042", dealId: "599164", version: 7, tradeDate: Date(timeIntervalSince1970: 1_732_870_000), channel: "WEB",
        product: "FX_SWAP", side: "SELL", pair: "CNYRUB", rateMantissa: 126_180, rateScale: 4, amountMinor: 819_600_000,
        amountCurrency: "CNY", valueDate: "2024-12-02", confirmation: "AWAITING", reason: "Сделка подтверждена 👍",
        legs: [
            Leg(currency: "CNY", amountMinor: 819_600_000, direction: "PAY", status: .settled,
                settledAt: Date(timeIntervalSince1970: 1_732_871_528.5)),
            Leg(currency: "RUB", amountMinor: -10_341_712_800, direction: "RECEIVE", status: .sent, settledAt: nil),
        ],
        requisites: ["CNY": "BKCHCNBJ/40807156700000001234", "RUB": "SABRRUMM/40702810938000012345"],
        updatedAt: Date(timeIntervalSince1970: 1_732_871_528.25), nettingSet: nil
    )
}

/// An enum with associated values (synthesized Codable: nested keyed containers).
enum DealEvent: Codable, Equatable {
    case booked(id: String, amount: Int64)
    case confirmed(String)
    case amended(Leg, reason: String?)
    case cancelled
}

struct Money: Codable, Equatable {
    var minor: Int64
    var currency: String
}

/// Every integer and float width in one struct.
struct Numbers: Codable, Equatable {
    var i8: Int8 = .min
    var i16: Int16 = .min
    var i32: Int32 = .min
    var i64: Int64 = .min
    var int: Int = .max
    var u8: UInt8 = .max
    var u16: UInt16 = .max
    var u32: UInt32 = .max
    var u64: UInt64 = .max
    var uint: UInt = .max
    var float: Float = 1.5
    var double: Double = -0.1
    var bool = true
}

struct Tree: Codable, Equatable {
    var name: String
    var children: [Tree]
}

/// A class hierarchy coded through `superEncoder()`/`superDecoder()`.
class Base: Codable {
    var id: Int
    init(id: Int) { self.id = id }
}

final class Derived: Base {
    var label: String

    init(id: Int, label: String) {
        self.label = label
        super.init(id: id)
    }

    enum CodingKeys: String, CodingKey { case label }

    required init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        label = try container.decode(String.self, forKey: .label)
        try super.init(from: container.superDecoder())
    }

    override func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try super.encode(to: container.superEncoder())
        try container.encode(label, forKey: .label)
    }
}

/// Fills a nested container after writing a sibling field, an order Codable allows.
struct Interleaved: Codable, Equatable {
    var items: [Int]
    var name: String

    enum CodingKeys: String, CodingKey { case items, name }

    init(items: [Int], name: String) {
        self.items = items
        self.name = name
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        var nested = container.nestedUnkeyedContainer(forKey: .items)
        try container.encode(name, forKey: .name)
        for item in items { try nested.encode(item) }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        var nested = try container.nestedUnkeyedContainer(forKey: .items)
        var items: [Int] = []
        while !nested.isAtEnd { items.append(try nested.decode(Int.self)) }
        self.items = items
        name = try container.decode(String.self, forKey: .name)
    }
}

/// Decodes its payload with a second, nested MessagePack decode on the same thread.
struct Envelope: Codable, Equatable {
    var inner: Money

    enum CodingKeys: String, CodingKey { case payload }

    init(inner: Money) { self.inner = inner }

    init(from decoder: any Decoder) throws {
        let bytes = try decoder.container(keyedBy: CodingKeys.self).decode(Data.self, forKey: .payload)
        inner = try MessagePackDecoder().decode(Money.self, from: bytes)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(try MessagePackEncoder().encodeData(inner), forKey: .payload)
    }
}

func hex(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
}

func bytes(_ hex: String) -> [UInt8] {
    let digits = Array(hex.filter { !$0.isWhitespace })
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
}
