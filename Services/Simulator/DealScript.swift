import Foundation
import Messages

/// A small deterministic generator (SplitMix64): the same seed gives the same deals, run after run.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The whole life of one simulated deal, as the back office would report it, in order.
struct DealScript {
    let client: String
    let dealId: String
    var events: [DealEvent]

    /// Pairs a corporate client trades, with a mid rate (mantissa, scale 4) and the two accounts used.
    static let pairs: [(base: CurrencyCode, quote: CurrencyCode, mid: Int64)] = [
        ("CNY", "RUB", 11_2345), ("USD", "RUB", 81_4567), ("EUR", "RUB", 88_1234), ("EUR", "USD", 1_0842), ("USD", "JPY", 151_2300),
    ]

    /// `varied`: lifecycles as a trading day brings them, beyond the plain ones: a dispute now and then, an amendment
    /// after confirmation, a cancellation before settlement, and forwards and swaps that stop at CONFIRMED, as until their
    /// value date (they stay in their netting sets). Without it every deal settles, and the same seed gives the same
    /// deals as before the option existed.
    static func make(client: String, number: Int, tradeTime: Date, random: inout SeededRandom, varied: Bool = false) -> DealScript {
        let dealId = "D\(number)"
        let pair = pairs[Int(random.next() % UInt64(pairs.count))]
        let product: DealProduct = [.spot, .spot, .spot, .forward, .swap][Int(random.next() % 5)]
        let side: DealSide = random.next() % 2 == 0 ? .buy : .sell
        let units = pair.base.minorUnits ?? 2
        var scale: Int64 = 1
        for _ in 0..<units { scale *= 10 }
        let amount = Money(minor: Int64(10_000 + random.next() % 990_000) * 100 * scale / 100, currency: pair.base)
        let spread = Int64(random.next() % 200) - 100
        let rate = Rate(mantissa: pair.mid * 10 + spread, scale: 5)
        let day: TimeInterval = 86_400
        // Varied: forwards and swaps spread over ten value dates, so that each netting set changes less often.
        let weeks = product == .spot ? 2 * day : (30 + (varied ? Double(number % 10) : 0)) * day
        let valueDate = Self.date(tradeTime.addingTimeInterval(weeks))
        let channel: DealChannel = [.web, .fixAPI, .phone][Int(random.next() % 3)]
        let requisites = [pair.base, pair.quote].map {
            SettlementRequisites(currency: $0, account: "40702\($0.rawValue)\(client)0001", bic: "SVYZRUMM")
        }
        let terms = DealTerms(client: client, dealId: dealId, tradeTime: tradeTime, channel: channel, product: product, side: side,
                              baseCurrency: pair.base, quoteCurrency: pair.quote, amount: amount, rate: rate, valueDate: valueDate,
                              farRate: product == .swap ? Rate(mantissa: rate.mantissa + 150, scale: 5) : nil,
                              farValueDate: product == .swap ? Self.date(tradeTime.addingTimeInterval(weeks + 30 * day)) : nil,
                              requisites: requisites)
        var events: [DealEvent] = []
        func add(_ kind: DealEventKind, _ fill: (inout DealEvent) -> Void) {
            var event = DealEvent(eventId: "\(client)-\(dealId)-\(events.count)", client: client, dealId: dealId, kind: kind,
                                  occurredAt: tradeTime.addingTimeInterval(Double(events.count)))
            fill(&event)
            events.append(event)
        }
        add(.booked) { $0.terms = terms }
        add(.confirmation) { $0.confirmation = .awaiting }
        if random.next() % 10 == 0 {  // one deal in ten: the counterparty's confirmation differs, then is corrected
            add(.confirmation) { $0.confirmation = .mismatched; $0.mismatchedFields = ["rate"] }
            add(.confirmation) { $0.confirmation = .awaiting; $0.reason = "corrected confirmation received" }
        }
        if varied && random.next() % 25 == 0 {  // the client disputes the deal; it is settled between the desks
            add(.confirmation) { $0.confirmation = .disputed; $0.reason = "client disputes the rate" }
            add(.confirmation) { $0.confirmation = .awaiting; $0.reason = "dispute resolved, confirmation sent again" }
        }
        add(.confirmation) { $0.confirmation = .confirmed }
        if varied {
            if random.next() % 20 == 0 {  // amended after confirmation (the rate corrected): confirmed again
                var amended = terms
                amended.rate = Rate(mantissa: rate.mantissa + 5, scale: rate.scale)
                add(.amended) { $0.terms = amended }
                add(.confirmation) { $0.confirmation = .confirmed }
            }
            if random.next() % 30 == 0 {  // cancelled before any payment is released
                add(.cancelled) { $0.reason = "cancelled at the client's request" }
                return DealScript(client: client, dealId: dealId, events: events.reversed())
            }
            if product != .spot {  // its payments go on its value date, weeks ahead: until then it is nettable
                return DealScript(client: client, dealId: dealId, events: events.reversed())
            }
        }
        let tenors: [LegTenor] = product == .swap ? [.near, .far] : [.near]
        for tenor in tenors {
            for currency in [pair.base, pair.quote] {
                let leg = "\(tenor.rawValue)-\(currency.rawValue)"
                add(.settlement) { $0.legId = leg; $0.settlement = .instructed }
                add(.settlement) { $0.legId = leg; $0.settlement = .sent }
                if random.next() % 20 == 0 {  // one payment in twenty fails and is re-instructed
                    add(.settlement) { $0.legId = leg; $0.settlement = .failed; $0.reason = "not received by cut-off" }
                    add(.settlement) { $0.legId = leg; $0.settlement = .instructed }
                    add(.settlement) { $0.legId = leg; $0.settlement = .sent }
                }
                add(.settlement) { $0.legId = leg; $0.settlement = .settled }
            }
        }
        return DealScript(client: client, dealId: dealId, events: events.reversed())  // popLast() gives the next one
    }

    static func date(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", c.year!, c.month!, c.day!)
    }
}
