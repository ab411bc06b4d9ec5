import Foundation
import Messages
import Testing
import TestSupport

@Suite("Counter amounts: base × rate, rounded once")
struct CounterAmountTests {
    @Test("the public examples and both rounding modes, negatives symmetric", arguments: [
        // DOMAIN.md §3 and the deal examples
        ("250000.50", "CNY", "11.23456", "RUB", RoundingMode.halfUp, "2808645.62", "2808645.61728"),
        ("250000.50", "CNY", "11.23456", "RUB", .halfEven, "2808645.62", "2808645.61728"),
        ("1000.10", "USD", "11.25", "RUB", .halfUp, "11251.13", "11251.125"),
        ("1000.10", "USD", "11.25", "RUB", .halfEven, "11251.12", "11251.125"),
        ("1000000.00", "CNY", "11.2345", "RUB", .halfUp, "11234500.00", "11234500"),
        ("1000.00", "USD", "151.237", "JPY", .halfUp, "151237", "151237"),
        ("1000.00", "USD", "0.30712", "KWD", .halfUp, "307.120", "307.12"),
        // negatives: ties go away from zero (half-up) or to even (half-even), mirroring the positives
        ("-1000.10", "USD", "11.25", "RUB", .halfUp, "-11251.13", "-11251.125"),
        ("-1000.10", "USD", "11.25", "RUB", .halfEven, "-11251.12", "-11251.125"),
        ("0.01", "USD", "0.5", "RUB", .halfUp, "0.01", "0.005"),
        ("0.01", "USD", "0.5", "RUB", .halfEven, "0.00", "0.005"),
        ("-0.01", "USD", "0.5", "RUB", .halfUp, "-0.01", "-0.005"),
        ("-0.01", "USD", "0.5", "RUB", .halfEven, "0.00", "-0.005"),
        ("-0.03", "USD", "0.5", "RUB", .halfEven, "-0.02", "-0.015"),
        ("-0.05", "USD", "0.5", "RUB", .halfEven, "-0.02", "-0.025"),
        ("-0.05", "USD", "0.5", "RUB", .halfUp, "-0.03", "-0.025"),
        // not ties: both modes agree
        ("-0.01", "USD", "0.4", "RUB", .halfUp, "0.00", "-0.004"),
        ("-0.01", "USD", "0.6", "RUB", .halfEven, "-0.01", "-0.006"),
        // currencies with 0, 3 and 4 minor units on either side
        ("1.00", "USD", "150.5", "JPY", .halfUp, "151", "150.5"),
        ("1.00", "USD", "150.5", "JPY", .halfEven, "150", "150.5"),
        ("3.00", "USD", "150.5", "JPY", .halfEven, "452", "451.5"),
        ("151237", "JPY", "0.0066", "RUB", .halfUp, "998.16", "998.1642"),
        ("307.120", "KWD", "3.2561", "USD", .halfUp, "1000.01", "1000.013432"),
        ("5", "JPY", "2", "KWD", .halfUp, "10.000", "10"),
        ("1", "JPY", "0.00005", "CLF", .halfUp, "0.0001", "0.00005"),
        ("1", "JPY", "0.00005", "CLF", .halfEven, "0.0000", "0.00005"),
        ("92233720368547758.07", "USD", "1", "RUB", .halfUp, "92233720368547758.07", "92233720368547758.07"),
    ] as [(String, CurrencyCode, String, CurrencyCode, RoundingMode, String, String)])
    func examples(
        base: String, baseCurrency: CurrencyCode, rate: String, counter: CurrencyCode, mode: RoundingMode, expected: String, exact: String
    ) throws {
        let baseMoney = try Money(parsing: base, currency: baseCurrency)
        let rate = try Rate(parsing: rate)
        let result = try Money.counterAmount(base: baseMoney, rate: rate, counterCurrency: counter, rounding: mode)
        #expect(result == (try Money(parsing: expected, currency: counter)))
        #expect(try Money.exactCounterAmount(base: baseMoney, rate: rate, counterCurrency: counter) == exact)
    }

    @Test("half-up is the default")
    func defaultMode() throws {
        let result = try Money.counterAmount(base: Money(minor: 100_010, currency: "USD"), rate: Rate(mantissa: 1_125, scale: 2),
                                             counterCurrency: "RUB")
        #expect(result == Money(minor: 1_125_113, currency: "RUB"))
    }

    @Test("results beyond Int64 minor units are an overflow, never a trap", arguments: [
        (Int64.max, "USD", Int64.max, 0, "RUB"),
        (Int64.max, "USD", 100_000_001, 8, "RUB"),
        (Int64.min, "USD", 1, 0, "RUB"),
        (Int64.max, "JPY", Int64.max, 0, "KWD"),
        (Int64.min, "JPY", Int64.max, 0, "CLF"),
        (1, "JPY", Int64.max, 0, "CLF"),
    ] as [(Int64, CurrencyCode, Int64, Int, CurrencyCode)])
    func overflow(minor: Int64, base: CurrencyCode, mantissa: Int64, scale: Int, counter: CurrencyCode) {
        #expect(throws: MoneyError.overflow) {
            try Money.counterAmount(base: Money(minor: minor, currency: base), rate: Rate(mantissa: mantissa, scale: scale),
                                    counterCurrency: counter)
        }
    }

    @Test("the exact product never overflows, even at the extremes")
    func exactExtremes() throws {
        let exact = try Money.exactCounterAmount(base: Money(minor: .min, currency: "JPY"), rate: Rate(mantissa: .max, scale: 0),
                                                 counterCurrency: "RUB")
        #expect(exact == "-85070591730234615856620279821087277056")
    }

    @Test("unknown currencies and unusable rates are refused before computing")
    func refused() {
        let usd = Money(minor: 100, currency: "USD")
        let rate = Rate(mantissa: 1_125, scale: 2)
        #expect(throws: MoneyError.unknownCurrency("XYZ")) { try Money.counterAmount(base: usd, rate: rate, counterCurrency: "XYZ") }
        #expect(throws: MoneyError.unknownCurrency("XYZ")) {
            try Money.counterAmount(base: Money(minor: 1, currency: "XYZ"), rate: rate, counterCurrency: "RUB")
        }
        #expect(throws: MoneyError.unknownCurrency("XYZ")) { try Money.exactCounterAmount(base: usd, rate: rate, counterCurrency: "XYZ") }
        for bad in [Rate(mantissa: 0, scale: 0), Rate(mantissa: -1_125, scale: 2), Rate(mantissa: 1, scale: 19)] {
            #expect(throws: MoneyError.invalidRate(bad.description)) { try Money.counterAmount(base: usd, rate: bad, counterCurrency: "RUB") }
            #expect(throws: MoneyError.invalidRate(bad.description)) {
                try Money.exactCounterAmount(base: usd, rate: bad, counterCurrency: "RUB")
            }
        }
    }

    @Test("10,000 seeded random cases agree with Foundation Decimal built from integers and NSDecimalRound", arguments: RoundingMode.allCases)
    func agreesWithDecimal(mode: RoundingMode) throws {
        var random = SplitMix64(seed: mode == .halfUp ? 0x5EED : 0xB0B)
        let currencies: [CurrencyCode] = ["RUB", "JPY", "KWD", "CLF", "USD"]
        for _ in 0..<10_000 {
            let base = currencies[Int(random.next() % 5)]
            let counter = currencies[Int(random.next() % 5)]
            let minor = Int64(random.next() % 2_000_000_000_001) - 1_000_000_000_000
            // Mantissas ending in 5 make ties common, which is where the modes differ.
            let mantissa = random.next() % 2 == 0 ? Int64(random.next() % 1_000_000_000 + 1) : Int64(random.next() % 200 * 10 + 5)
            let scale = Int(random.next() % 10)
            let rate = Rate(mantissa: mantissa, scale: scale)
            let baseUnits = try #require(base.minorUnits)
            let counterUnits = try #require(counter.minorUnits)
            var exact = Decimal(sign: minor < 0 ? .minus : .plus, exponent: -(baseUnits + scale),
                                significand: Decimal(minor.magnitude) * Decimal(UInt64(mantissa)))
            var rounded = Decimal()
            NSDecimalRound(&rounded, &exact, counterUnits, mode == .halfUp ? .plain : .bankers)
            do {
                let result = try Money.counterAmount(base: Money(minor: minor, currency: base), rate: rate, counterCurrency: counter,
                                                     rounding: mode)
                let ours = Decimal(sign: result.minor < 0 ? .minus : .plus, exponent: -counterUnits,
                                   significand: Decimal(result.minor.magnitude))
                #expect(ours == rounded, "\(minor) \(base) × \(rate) → \(counter)")
            } catch MoneyError.overflow {
                // Refused only when the true result does not fit Int64 minor units.
                let minorUnits = Decimal(sign: .plus, exponent: counterUnits, significand: rounded.magnitude)
                #expect(minorUnits > Decimal(Int64.max), "\(minor) \(base) × \(rate) → \(counter)")
            }
            let exactText = try Money.exactCounterAmount(base: Money(minor: minor, currency: base), rate: rate, counterCurrency: counter)
            #expect(Decimal(string: exactText) == exact, "\(minor) \(base) × \(rate)")
        }
    }
}

@Suite("The public netting check (DOMAIN.md §3), with Money only")
struct NettingArithmeticTests {
    struct Deal {
        let name: String
        let clientBuys: Bool
        let amount: String
        let base: CurrencyCode
        let rate: String
        let counter: CurrencyCode
    }

    static let deals = [
        Deal(name: "D1", clientBuys: true, amount: "1000000.00", base: "CNY", rate: "11.2345", counter: "RUB"),
        Deal(name: "D2", clientBuys: false, amount: "400000.00", base: "CNY", rate: "11.2500", counter: "RUB"),
        Deal(name: "D3", clientBuys: true, amount: "50000.00", base: "USD", rate: "81.4567", counter: "RUB"),
        Deal(name: "D4", clientBuys: false, amount: "120000.00", base: "USD", rate: "81.9012", counter: "RUB"),
        Deal(name: "D5", clientBuys: true, amount: "250000.50", base: "CNY", rate: "11.23456", counter: "RUB"),
    ]

    /// Both payments of a deal, + when the bank pays the client: a client who buys base receives base and pays counter.
    func flows(_ deal: Deal) throws -> [Money] {
        let base = try Money(parsing: deal.amount, currency: deal.base)
        let counter = try Money.counterAmount(base: base, rate: try Rate(parsing: deal.rate), counterCurrency: deal.counter)
        return deal.clientBuys ? [base, try counter.negated()] : [try base.negated(), counter]
    }

    func net(_ deals: [Deal]) throws -> [CurrencyCode: Money] {
        let flows = try deals.flatMap(flows)
        var totals: [CurrencyCode: Money] = [:]
        for currency in Set(flows.map(\.currency)) {
            totals[currency] = try Money.sum(flows.filter { $0.currency == currency }, in: currency)
        }
        return totals
    }

    @Test("each deal's counter amount is rounded once, to 2 dp", arguments: zip(deals.map(\.name), [
        "11234500.00", "4500000.00", "4072835.00", "9828144.00", "2808645.62",
    ]))
    func counterAmounts(name: String, expected: String) throws {
        let deal = try #require(Self.deals.first { $0.name == name })
        let counter = try Money.counterAmount(base: try Money(parsing: deal.amount, currency: deal.base), rate: try Rate(parsing: deal.rate),
                                              counterCurrency: deal.counter)
        #expect(counter == (try Money(parsing: expected, currency: "RUB")))
    }

    @Test("D1–D5: 10 gross payments net to CNY +850,000.50, USD −70,000.00, RUB −3,787,836.62")
    func allDeals() throws {
        #expect(try Self.deals.flatMap(flows).count == 10)
        let totals = try net(Self.deals)
        #expect(totals.count == 3)
        #expect(totals["CNY"]?.formatted() == "850,000.50 CNY")
        #expect(totals["USD"]?.formatted() == "-70,000.00 USD")
        #expect(totals["RUB"]?.formatted() == "-3,787,836.62 RUB")
    }

    @Test("excluding D3 leaves USD −120,000.00 and flips RUB to +284,998.38; D3 settles gross")
    func withoutD3() throws {
        let totals = try net(Self.deals.filter { $0.name != "D3" })
        #expect(totals["CNY"]?.formatted() == "850,000.50 CNY")
        #expect(totals["USD"]?.formatted() == "-120,000.00 USD")
        #expect(totals["RUB"]?.formatted() == "284,998.38 RUB")
        let d3 = try flows(try #require(Self.deals.first { $0.name == "D3" }))
        #expect(d3.map { $0.formatted() } == ["50,000.00 USD", "-4,072,835.00 RUB"])
    }
}
