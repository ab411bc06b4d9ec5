import Foundation
import Wire

/// A deal-status snapshot shaped like what the dashboard receives.
struct BenchLeg: Codable {
    enum Status: String, Codable { case pending = "PENDING", instructed = "INSTRUCTED", sent = "SENT", settled = "SETTLED" }
    var currency: String
    var amountMinor: Int64
    var direction: String
    var status: Status
    var settledAt: Date?
}

struct BenchDealStatus: Codable {
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
    var legs: [BenchLeg]
    var requisites: [String: String]
    var updatedAt: Date
    var nettingSet: String?

    static let sample = BenchDealStatus(
        client: "C00042", dealId: "599164", version: 7, tradeDate: Date(timeIntervalSince1970: 1_732_870_000), channel: "WEB",
        product: "FX_SWAP", side: "SELL", pair: "CNYRUB", rateMantissa: 126_180, rateScale: 4, amountMinor: 819_600_000,
        amountCurrency: "CNY", valueDate: "2024-12-02", confirmation: "AWAITING", reason: "counterparty confirmation pending",
        legs: [
            BenchLeg(currency: "CNY", amountMinor: 819_600_000, direction: "PAY", status: .settled,
                     settledAt: Date(timeIntervalSince1970: 1_732_871_528)),
            BenchLeg(currency: "RUB", amountMinor: 10_341_712_800, direction: "RECEIVE", status: .sent, settledAt: nil),
        ],
        requisites: ["CNY": "BKCHCNBJ/40807156700000001234", "RUB": "SABRRUMM/40702810938000012345"],
        updatedAt: Date(timeIntervalSince1970: 1_732_871_528.25), nettingSet: "C00042-2024-12-02"
    )
}

func runWireBench(iterations: Int) throws -> [CaseResult] {
    let value = BenchDealStatus.sample
    let json = JSONEncoder()
    let jsonDecoder = JSONDecoder()
    let packer = MessagePackEncoder()
    let unpacker = MessagePackDecoder()
    let packed = try packer.encode(value)
    let jsonBytes = try json.encode(value)

    func rate(_ body: () throws -> Void) rethrows -> Double {
        for _ in 0..<(iterations / 10) { try body() }  // warm-up
        let start = ContinuousClock.now
        for _ in 0..<iterations { try body() }
        return Double(iterations) / seconds(ContinuousClock.now - start)
    }
    var sink = 0
    let ourEncode = try rate { sink &+= try packer.encode(value).count }
    let jsonEncode = try rate { sink &+= try json.encode(value).count }
    let ourDecode = try rate { sink &+= Int(try unpacker.decode(BenchDealStatus.self, from: packed).version) }
    let jsonDecode = try rate { sink &+= Int(try jsonDecoder.decode(BenchDealStatus.self, from: jsonBytes).version) }
    precondition(sink != 0)
    let sizeRatio = Double(packed.count) / Double(jsonBytes.count)
    return [
        CaseResult(name: "wire encode DealStatus", baseline: "Foundation JSONEncoder",
                   ours: Measurement(opsPerSecond: ourEncode, bytes: packed.count),
                   base: Measurement(opsPerSecond: jsonEncode, bytes: jsonBytes.count),
                   ratioName: "faster", ratio: ourEncode / jsonEncode, target: "≥ 3×", met: ourEncode / jsonEncode >= 3),
        CaseResult(name: "wire decode DealStatus", baseline: "Foundation JSONDecoder",
                   ours: Measurement(opsPerSecond: ourDecode, bytes: packed.count),
                   base: Measurement(opsPerSecond: jsonDecode, bytes: jsonBytes.count),
                   ratioName: "faster", ratio: ourDecode / jsonDecode, target: "≥ 3×", met: ourDecode / jsonDecode >= 3),
        CaseResult(name: "wire size DealStatus", baseline: "JSON bytes",
                   ours: Measurement(opsPerSecond: 0, bytes: packed.count), base: Measurement(opsPerSecond: 0, bytes: jsonBytes.count),
                   ratioName: "of JSON size", ratio: sizeRatio, target: "≤ 0.60×", met: sizeRatio <= 0.6),
    ]
}
