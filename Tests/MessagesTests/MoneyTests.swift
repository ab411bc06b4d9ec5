import Foundation
import Messages
import Testing
import Wire

@Suite("Money, rates and rounding")
struct MoneyTests {
    @Test("minor units follow ISO 4217", arguments: [("RUB", 2), ("USD", 2), ("CNY", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3), ("BHD", 3), ("CLF", 4)])
    func minorUnits(code: String, units: Int) throws {
        #expect(try #require(CurrencyCode(rawValue: code)).minorUnits == units)
    }

    @Test("currency codes must be three uppercase letters", arguments: ["rub", "RU", "RUBL", "R1B", "", "РУБ"])
    func invalidCodes(code: String) {
        #expect(CurrencyCode(rawValue: code) == nil)
        #expect(throws: WireError.self) { try MessagePackDecoder().decode(CurrencyCode.self, from: try MessagePackEncoder().encode(code)) }
    }

    @Test("amounts parse exactly and refuse more fraction digits than the currency has", arguments: [
        ("1000000.00", "CNY", Int64(100_000_000)), ("250000.5", "CNY", 25_000_050), ("-70000", "USD", -7_000_000),
        ("151237", "JPY", 151_237), ("307.120", "KWD", 307_120), ("0.001", "KWD", 1),
    ] as [(String, CurrencyCode, Int64)])
    func parsing(text: String, currency: CurrencyCode, minor: Int64) throws {
        #expect(try Money(parsing: text, currency: currency) == Money(minor: minor, currency: currency))
    }

    @Test("bad amounts are typed errors", arguments: [
        ("1.5", "JPY"), ("1.001", "USD"), ("1,5", "USD"), ("abc", "RUB"), ("", "RUB"), ("1.", "RUB"), (".5", "RUB"),
        ("99999999999999999999", "RUB"), ("1e5", "RUB"),
    ] as [(String, CurrencyCode)])
    func badAmounts(text: String, currency: CurrencyCode) {
        #expect(throws: MoneyError.self) { try Money(parsing: text, currency: currency) }
    }

    @Test("an unknown currency cannot make money")
    func unknownCurrency() {
        #expect(throws: MoneyError.unknownCurrency("XYZ")) { try Money(parsing: "1", currency: "XYZ") }
    }

    @Test("addition checks the currency and overflow")
    func arithmetic() throws {
        let a = Money(minor: 5, currency: "USD")
        #expect(try a.adding(Money(minor: -7, currency: "USD")) == Money(minor: -2, currency: "USD"))
        #expect(throws: MoneyError.currencyMismatch("USD", "RUB")) { try a.adding(Money(minor: 1, currency: "RUB")) }
        #expect(throws: MoneyError.overflow) { try Money(minor: .max, currency: "USD").adding(a) }
    }

    @Test("formatting groups thousands and keeps minor units, without floating point")
    func formatting() {
        #expect(Money(minor: 100_000_000, currency: "CNY").formatted() == "1,000,000.00 CNY")
        #expect(Money(minor: -378_783_662, currency: "RUB").formatted() == "-3,787,836.62 RUB")
        #expect(Money(minor: 151_237, currency: "JPY").formatted() == "151,237 JPY")
        #expect(Money(minor: 5, currency: "KWD").formatted() == "0.005 KWD")
        #expect(Money(minor: -5, currency: "USD").decimalString == "-0.05")
    }

    @Test("counter amounts are rounded once per leg", arguments: [
        ("1000000.00", "CNY", "11.2345", "RUB", RoundingMode.halfUp, "11234500.00"),
        ("250000.50", "CNY", "11.23456", "RUB", .halfUp, "2808645.62"),
        ("1000.10", "USD", "11.25", "RUB", .halfUp, "11251.13"),
        ("1000.10", "USD", "11.25", "RUB", .halfEven, "11251.12"),
        ("1000.30", "USD", "11.25", "RUB", .halfEven, "11253.38"),
        ("1000.00", "USD", "151.237", "JPY", .halfUp, "151237"),
        ("1000.00", "USD", "0.30712", "KWD", .halfUp, "307.120"),
        ("0.01", "USD", "0.5", "RUB", .halfUp, "0.01"),
        ("0.01", "USD", "0.5", "RUB", .halfEven, "0.00"),
    ] as [(String, CurrencyCode, String, CurrencyCode, RoundingMode, String)])
    func counterAmounts(base: String, baseCurrency: CurrencyCode, rate: String, counter: CurrencyCode, mode: RoundingMode, expected: String) throws {
        let result = try Money.counterAmount(base: try Money(parsing: base, currency: baseCurrency), rate: try Rate(parsing: rate),
                                             counterCurrency: counter, rounding: mode)
        #expect(result == (try Money(parsing: expected, currency: counter)))
    }

    @Test("half-up rounds ties away from zero for negative amounts too")
    func negativeTies() throws {
        let result = try Money.counterAmount(base: Money(minor: -1, currency: "USD"), rate: try Rate(parsing: "0.5"), counterCurrency: "RUB")
        #expect(result.minor == -1)
        #expect(try Money.exactCounterAmount(base: Money(minor: -1, currency: "USD"), rate: try Rate(parsing: "0.5"), counterCurrency: "RUB")
            == "-0.005")
    }

    @Test("rates parse into mantissa and scale")
    func rates() throws {
        #expect(try Rate(parsing: "11.23456") == Rate(mantissa: 1_123_456, scale: 5))
        #expect(try Rate(parsing: "81.9012").description == "81.9012")
        #expect(throws: MoneyError.self) { try Rate(mantissa: 0, scale: 2).validated() }
        #expect(throws: MoneyError.self) { try Rate(mantissa: 5, scale: 30).validated() }
        #expect(throws: MoneyError.overflow) {
            try Money.counterAmount(base: Money(minor: .max, currency: "USD"), rate: Rate(mantissa: .max, scale: 0), counterCurrency: "RUB")
        }
    }

    @Test("Money travels as { minor, currency } and Rate as { mantissa, scale }")
    func wireShape() throws {
        let value = try MessagePackValue.parse(try MessagePackEncoder().encode(Money(minor: 25_000_050, currency: "CNY")))
        #expect(value["minor"] == .uint(25_000_050))
        #expect(value["currency"] == .string("CNY"))
        let rate = try MessagePackValue.parse(try MessagePackEncoder().encode(Rate(mantissa: 1_123_456, scale: 5)))
        #expect(rate["mantissa"] == .uint(1_123_456) && rate["scale"] == .uint(5))
    }
}

@Suite("The public netting check, with Money only")
struct NettingArithmeticTests {
    /// + means the bank pays the client. Client buys base: bank pays base, client pays counter.
    func flows(_ side: DealSide, _ amount: String, _ base: CurrencyCode, _ rate: String, _ counter: CurrencyCode) throws -> [Money] {
        let baseMoney = try Money(parsing: amount, currency: base)
        let counterMoney = try Money.counterAmount(base: baseMoney, rate: try Rate(parsing: rate), counterCurrency: counter)
        return side == .buy ? [baseMoney, counterMoney.negated] : [baseMoney.negated, counterMoney]
    }

    func net(_ flows: [Money]) throws -> [CurrencyCode: Money] {
        var totals: [CurrencyCode: Money] = [:]
        for flow in flows { totals[flow.currency] = try (totals[flow.currency] ?? .zero(flow.currency)).adding(flow) }
        return totals
    }

    @Test("D1–D5 net to CNY +850,000.50, USD −70,000.00, RUB −3,787,836.62; excluding D3 flips RUB to +284,998.38")
    func example() throws {
        let d1 = try flows(.buy, "1000000.00", "CNY", "11.2345", "RUB")
        let d2 = try flows(.sell, "400000.00", "CNY", "11.2500", "RUB")
        let d3 = try flows(.buy, "50000.00", "USD", "81.4567", "RUB")
        let d4 = try flows(.sell, "120000.00", "USD", "81.9012", "RUB")
        let d5 = try flows(.buy, "250000.50", "CNY", "11.23456", "RUB")
        #expect(d5[1] == (try Money(parsing: "-2808645.62", currency: "RUB")))
        let all = try net(d1 + d2 + d3 + d4 + d5)
        #expect(all["CNY"] == (try Money(parsing: "850000.50", currency: "CNY")))
        #expect(all["USD"] == (try Money(parsing: "-70000.00", currency: "USD")))
        #expect(all["RUB"] == (try Money(parsing: "-3787836.62", currency: "RUB")))
        #expect((d1 + d2 + d3 + d4 + d5).count == 10 && all.count == 3)
        let withoutD3 = try net(d1 + d2 + d4 + d5)
        #expect(withoutD3["USD"] == (try Money(parsing: "-120000.00", currency: "USD")))
        #expect(withoutD3["RUB"] == (try Money(parsing: "284998.38", currency: "RUB")))
    }
}
