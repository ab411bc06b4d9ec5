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

    /// Pairs a corporate client trades, with a mid rate (mantissa, scale 4).
    static let pairs: [(base: CurrencyCode, quote: CurrencyCode, mid: Int64)] = [
        ("CNY", "RUB", 11_2345), ("USD", "RUB", 81_4567), ("EUR", "RUB", 88_1234), ("EUR", "USD", 1_0842), ("USD", "JPY", 151_2300),
    ]

    /// Money-market rates in basis points a year: a forward's points follow their difference (covered interest
    /// parity), so a ruble pair's forward is above spot and USDJPY's below.
    static let interestBasisPoints: [CurrencyCode: Int64] = ["RUB": 1_800, "CNY": 200, "USD": 500, "EUR": 300, "JPY": 50]

    /// ISO 4217 numeric codes, as a Russian account number carries them (rubles as 810).
    static let accountCurrencyCodes: [CurrencyCode: String] = ["RUB": "810", "CNY": "156", "USD": "840", "EUR": "978", "JPY": "392"]

    /// `rate` (scale 5) carried forward `days`: spot × (quote rate − base rate) × days / 365, in integers.
    static func forward(_ rate: Rate, base: CurrencyCode, quote: CurrencyCode, days: Int) -> Rate {
        let differential = (interestBasisPoints[quote] ?? 0) - (interestBasisPoints[base] ?? 0)
        let points = rate.mantissa * differential * Int64(days) / (10_000 * 365)
        return Rate(mantissa: rate.mantissa + points, scale: rate.scale)
    }

    /// A client's settlement account in `currency` at a Russian bank: 20 digits — balance account 40702 (a company),
    /// the currency's numeric code, a check digit (0 here) and 11 digits of the client.
    static func account(client: String, currency: CurrencyCode) -> String {
        var hash: UInt64 = 14_695_981_039_346_656_037  // FNV-1a: the same client gets the same account in every run
        for byte in client.utf8 { hash = (hash ^ UInt64(byte)) &* 1_099_511_628_211 }
        return "40702" + (accountCurrencyCodes[currency] ?? "000") + "0" + String(format: "%011llu", hash % 100_000_000_000)
    }

    /// The first business day at or after `date` (Saturdays and Sundays roll to Monday; no holiday calendar).
    static func businessDay(_ date: Date) -> Date {
        switch utcCalendar.component(.weekday, from: date) {
        case 7: date.addingTimeInterval(2 * 86_400)  // Saturday
        case 1: date.addingTimeInterval(86_400)  // Sunday
        default: date
        }
    }

    /// Two business days after `date`: the spot value date.
    static func spot(after date: Date) -> Date {
        var day = date
        for _ in 0..<2 { day = businessDay(day.addingTimeInterval(86_400)) }
        return day
    }

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
        let spotRate = Rate(mantissa: pair.mid * 10 + spread, scale: 5)
        let day: TimeInterval = 86_400
        // Spot settles two business days on; forwards and swaps (varied: over ten value dates, so that each netting set
        // changes less often) about a month on, and a swap's far leg a month after its near one; all on weekdays.
        let near = product == .spot
            ? Self.spot(after: tradeTime)
            : Self.businessDay(tradeTime.addingTimeInterval((30 + (varied ? Double(number % 10) : 0)) * day))
        let far = Self.businessDay(near.addingTimeInterval(30 * day))
        func days(to date: Date) -> Int { Int(date.timeIntervalSince(tradeTime) / day) }
        let rate = product == .spot ? spotRate : Self.forward(spotRate, base: pair.base, quote: pair.quote, days: days(to: near))
        let channel: DealChannel = [.web, .fixAPI, .phone][Int(random.next() % 3)]
        let requisites = [pair.base, pair.quote].map {
            SettlementRequisites(currency: $0, account: Self.account(client: client, currency: $0), bic: "SVYZRUMM")
        }
        let terms = DealTerms(client: client, dealId: dealId, tradeTime: tradeTime, channel: channel, product: product, side: side,
                              baseCurrency: pair.base, quoteCurrency: pair.quote, amount: amount, rate: rate, valueDate: Self.date(near),
                              farRate: product == .swap ? Self.forward(spotRate, base: pair.base, quote: pair.quote, days: days(to: far)) : nil,
                              farValueDate: product == .swap ? Self.date(far) : nil,
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

    static let utcCalendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    static func date(_ date: Date) -> String {
        let c = utcCalendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", c.year!, c.month!, c.day!)
    }
}
