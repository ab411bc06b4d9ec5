import Foundation
import Messages
import Wire

/// The contract's own `DealStatus` as a terminal receives it: an FX swap, four payment legs, two settled.
let benchDealStatus: DealStatus = {
    let t0 = Date(timeIntervalSince1970: 1_732_870_000)
    let terms = DealTerms(
        client: "C00042", dealId: "FX-599164", tradeTime: t0, channel: .web, product: .swap, side: .sell, baseCurrency: "CNY",
        quoteCurrency: "RUB", amount: Money(minor: 819_600_000, currency: "CNY"), rate: Rate(mantissa: 126_180, scale: 4),
        valueDate: "2024-12-02", farRate: Rate(mantissa: 126_550, scale: 4), farValueDate: "2025-01-09",
        requisites: [SettlementRequisites(currency: "CNY", account: "40807156700000001234", bic: "BKCHCNBJ"),
                     SettlementRequisites(currency: "RUB", account: "40702810938000012345", bic: "SABRRUMM")])
    let settled = t0.addingTimeInterval(1_528.5)
    let legs = [
        PaymentLeg(id: "NEAR-CNY", tenor: .near, amount: Money(minor: 819_600_000, currency: "CNY"), direction: .clientPays,
                   valueDate: "2024-12-02", status: .settled, statusAt: settled),
        PaymentLeg(id: "NEAR-RUB", tenor: .near, amount: Money(minor: 10_341_712_800, currency: "RUB"), direction: .bankPays,
                   valueDate: "2024-12-02", status: .settled, statusAt: settled),
        PaymentLeg(id: "FAR-CNY", tenor: .far, amount: Money(minor: 819_600_000, currency: "CNY"), direction: .bankPays,
                   valueDate: "2025-01-09", status: .instructed, statusAt: settled),
        PaymentLeg(id: "FAR-RUB", tenor: .far, amount: Money(minor: 10_372_038_000, currency: "RUB"), direction: .clientPays,
                   valueDate: "2025-01-09"),
    ]
    return DealStatus(terms: terms, version: 7, confirmation: .confirmed, legs: legs, settlement: .partiallySettled,
                      updatedAt: settled, lastEventSequence: 123_456)
}()

func runWireBench(iterations: Int) throws -> [CaseResult] {
    let value = benchDealStatus
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
    let codableEncode = try rate { sink &+= try packer.codable(value).count }
    let jsonEncode = try rate { sink &+= try json.encode(value).count }
    let ourDecode = try rate { sink &+= Int(try unpacker.decode(DealStatus.self, from: packed).version) }
    let codableDecode = try rate { sink &+= Int(try unpacker.codable(DealStatus.self, from: packed).version) }
    let jsonDecode = try rate { sink &+= Int(try jsonDecoder.decode(DealStatus.self, from: jsonBytes).version) }
    // The event deal-status reads once per event: hand-read (`MessagePackReadable`), through Decodable, and JSON.
    let event = DealEvent(eventId: "E-1", client: value.terms.client, dealId: value.terms.dealId, kind: .booked,
                          occurredAt: value.updatedAt, terms: value.terms)
    let packedEvent = try packer.encode(event)
    let jsonEvent = try json.encode(event)
    let eventRead = try rate { sink &+= try unpacker.decode(DealEvent.self, from: packedEvent).eventId.utf8.count }
    let eventCodable = try rate { sink &+= try unpacker.codable(DealEvent.self, from: packedEvent).eventId.utf8.count }
    let eventJSON = try rate { sink &+= try jsonDecoder.decode(DealEvent.self, from: jsonEvent).eventId.utf8.count }
    precondition(sink != 0)
    let sizeRatio = Double(packed.count) / Double(jsonBytes.count)
    func faster(_ name: String, _ baseline: String, _ ours: Double, _ base: Double, bytes: Int, baseBytes: Int) -> CaseResult {
        CaseResult(name: name, baseline: baseline, ours: Measurement(opsPerSecond: ours, bytes: bytes),
                   base: Measurement(opsPerSecond: base, bytes: baseBytes), ratioName: "faster", ratio: ours / base, target: "≥ 3×",
                   met: ours / base >= 3)
    }
    return [
        faster("wire encode DealStatus (hand-written)", "Foundation JSONEncoder", ourEncode, jsonEncode, bytes: packed.count,
               baseBytes: jsonBytes.count),
        faster("wire encode DealStatus (Codable)", "Foundation JSONEncoder", codableEncode, jsonEncode, bytes: packed.count,
               baseBytes: jsonBytes.count),
        faster("wire decode DealStatus (hand-read)", "Foundation JSONDecoder", ourDecode, jsonDecode, bytes: packed.count,
               baseBytes: jsonBytes.count),
        faster("wire decode DealStatus (Codable)", "Foundation JSONDecoder", codableDecode, jsonDecode, bytes: packed.count,
               baseBytes: jsonBytes.count),
        faster("wire decode DealEvent (hand-read)", "Foundation JSONDecoder", eventRead, eventJSON, bytes: packedEvent.count,
               baseBytes: jsonEvent.count),
        faster("wire decode DealEvent (Codable)", "Foundation JSONDecoder", eventCodable, eventJSON, bytes: packedEvent.count,
               baseBytes: jsonEvent.count),
        CaseResult(name: "wire size DealStatus", baseline: "JSON bytes",
                   ours: Measurement(opsPerSecond: 0, bytes: packed.count), base: Measurement(opsPerSecond: 0, bytes: jsonBytes.count),
                   ratioName: "of JSON size", ratio: sizeRatio, target: "≤ 0.60×", met: sizeRatio <= 0.6),
    ]
}
