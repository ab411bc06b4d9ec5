import Messages
import Testing

@Suite("Currencies and their minor units")
struct CurrencyTests {
    @Test("minor units follow ISO 4217", arguments: [
        ("RUB", 2), ("USD", 2), ("EUR", 2), ("CNY", 2), ("GBP", 2), ("CHF", 2), ("HKD", 2), ("AED", 2), ("TRY", 2), ("KZT", 2),
        ("BYN", 2), ("INR", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3), ("BHD", 3), ("OMR", 3), ("JOD", 3), ("TND", 3), ("CLF", 4),
    ] as [(CurrencyCode, Int)])
    func minorUnits(code: CurrencyCode, units: Int) {
        #expect(code.minorUnits == units)
        #expect(Currency.minorUnits(of: code) == units)
    }

    @Test("a well-formed but unknown code has no minor units, including ISO's N.A. ones", arguments: ["XYZ", "XAU", "XDR", "AAA"])
    func unknown(code: String) throws {
        let currency = try CurrencyCode(validating: code)
        #expect(currency.minorUnits == nil)
        #expect(!currency.isKnown)
        #expect(!Currency.known.contains(currency))
    }

    @Test("currency codes must be three uppercase ASCII letters", arguments: ["rub", "RU", "RUBL", "R1B", "", "РУБ", "RU ", "ＲＵＢ"])
    func invalidCodes(code: String) {
        #expect(CurrencyCode(rawValue: code) == nil)
        #expect(throws: MoneyError.invalidCurrencyCode(code)) { try CurrencyCode(validating: code) }
    }

    @Test("decoding an invalid currency code throws", arguments: ["\"rub\"", "\"RUBL\"", "\"\"", "12"])
    func decodingInvalid(json: String) {
        #expect(throws: DecodingError.self) { try JSONCoding.decode(CurrencyCode.self, json) }
    }

    @Test("the known list is sorted, complete and usable for money")
    func known() throws {
        #expect(Currency.known.count == CurrencyCode.minorUnitTable.count)
        #expect(Currency.known == Currency.known.sorted())
        for code in Currency.known {
            #expect(try Money(parsing: "1", currency: code).currency == code)
        }
    }
}

@Suite("Money: parsing, arithmetic, formatting")
struct MoneyTests {
    @Test("amounts parse exactly into minor units", arguments: [
        ("1000000.00", "CNY", Int64(100_000_000)), ("250000.50", "CNY", 25_000_050), ("250000.5", "CNY", 25_000_050),
        ("-70000", "USD", -7_000_000), ("+7", "USD", 700), ("-0.00", "RUB", 0), ("0.01", "RUB", 1), ("007.10", "RUB", 710),
        ("151237", "JPY", 151_237), ("-151237", "JPY", -151_237), ("307.120", "KWD", 307_120), ("0.001", "KWD", 1),
        ("1.2345", "CLF", 12_345), ("92233720368547758.07", "USD", .max), ("-92233720368547758.07", "USD", -.max),
    ] as [(String, CurrencyCode, Int64)])
    func parsing(text: String, currency: CurrencyCode, minor: Int64) throws {
        #expect(try Money(parsing: text, currency: currency) == Money(minor: minor, currency: currency))
    }

    @Test("more fraction digits than the currency has is refused (SWIFT C03)", arguments: [
        ("1.5", "JPY", 0), ("1.0", "JPY", 0), ("1.001", "USD", 2), ("-0.125", "RUB", 2), ("1.0001", "KWD", 3), ("1.00001", "CLF", 4),
    ] as [(String, CurrencyCode, Int)])
    func tooManyFractionDigits(text: String, currency: CurrencyCode, allowed: Int) {
        #expect(throws: MoneyError.tooManyFractionDigits(text, allowed: allowed)) { try Money(parsing: text, currency: currency) }
    }

    @Test("text that is not a plain decimal number is refused", arguments: [
        "", "-", "+", "abc", "1,5", "1,000.00", "1.", ".5", "1e5", " 1", "1 ", "1.2.3", "--1", "+-1", "0x10", "１", "1_000", "١",
    ])
    func garbage(text: String) {
        #expect(throws: MoneyError.invalidAmount(text)) { try Money(parsing: text, currency: "RUB") }
    }

    @Test("amounts beyond Int64 minor units are an overflow, Int64.min included", arguments: [
        "92233720368547758.08", "-92233720368547758.08", "99999999999999999999", "9223372036854775808",
    ])
    func parseOverflow(text: String) {
        let currency: CurrencyCode = text.contains(".") ? "USD" : "JPY"
        #expect(throws: MoneyError.overflow) { try Money(parsing: text, currency: currency) }
    }

    @Test("an unknown currency cannot make money")
    func unknownCurrency() throws {
        #expect(throws: MoneyError.unknownCurrency("XYZ")) { try Money(parsing: "1", currency: "XYZ") }
        #expect(throws: MoneyError.unknownCurrency("XYZ")) { try Money(minor: 1, currency: "XYZ").validated() }
        #expect(throws: MoneyError.overflow) { try Money(minor: .min, currency: "USD").validated() }
        #expect(try Money(minor: -5, currency: "KWD").validated() == Money(minor: -5, currency: "KWD"))
    }

    @Test("addition and subtraction stay in one currency")
    func arithmetic() throws {
        let a = Money(minor: 5, currency: "USD")
        let b = Money(minor: -7, currency: "USD")
        #expect(try a.adding(b) == Money(minor: -2, currency: "USD"))
        #expect(try a + b == Money(minor: -2, currency: "USD"))
        #expect(try a.subtracting(b) == Money(minor: 12, currency: "USD"))
        #expect(try a - b == Money(minor: 12, currency: "USD"))
        #expect(try -a == Money(minor: -5, currency: "USD"))
        #expect(try Money.sum([a, b, a], in: "USD") == Money(minor: 3, currency: "USD"))
        #expect(try Money.sum([], in: "JPY") == .zero("JPY"))
    }

    @Test("mixing currencies is a typed error naming both")
    func mismatch() {
        let usd = Money(minor: 5, currency: "USD")
        let rub = Money(minor: 1, currency: "RUB")
        #expect(throws: MoneyError.currencyMismatch("USD", "RUB")) { try usd.adding(rub) }
        #expect(throws: MoneyError.currencyMismatch("USD", "RUB")) { try usd - rub }
        #expect(throws: MoneyError.currencyMismatch("USD", "RUB")) { try Money.sum([usd, rub], in: "USD") }
        #expect(throws: MoneyError.currencyMismatch("RUB", "USD")) { try Money.sum([usd], in: "RUB") }
    }

    @Test("overflow is a typed error, never a trap", arguments: [
        (Int64.max, Int64(1), "+"), (Int64.min, 1, "-"), (Int64.min, 0, "neg"), (-2, Int64.max, "-"), (Int64.min, -1, "+"),
    ])
    func overflow(lhs: Int64, rhs: Int64, op: String) {
        let a = Money(minor: lhs, currency: "USD")
        let b = Money(minor: rhs, currency: "USD")
        #expect(throws: MoneyError.overflow) {
            switch op {
            case "+": _ = try a + b
            case "-": _ = try a - b
            default: _ = try a.negated()
            }
        }
    }

    @Test("sign, zero and negation")
    func sign() throws {
        let owed = Money(minor: -378_783_662, currency: "RUB")
        #expect(owed.isNegative && !owed.isPositive && !owed.isZero && owed.signum == -1)
        #expect(try owed.negated().signum == 1)
        #expect(Money.zero("RUB").isZero && Money.zero("RUB").signum == 0)
        #expect(try Money(minor: .max, currency: "USD").negated().minor == -.max)
    }

    @Test("formatting groups thousands and keeps the currency's minor units, without floating point", arguments: [
        (Int64(100_000_000), "CNY", "1,000,000.00 CNY"), (-378_783_662, "RUB", "-3,787,836.62 RUB"), (151_237, "JPY", "151,237 JPY"),
        (5, "KWD", "0.005 KWD"), (-5, "USD", "-0.05 USD"), (0, "RUB", "0.00 RUB"), (100, "RUB", "1.00 RUB"), (999, "JPY", "999 JPY"),
        (1000, "JPY", "1,000 JPY"), (12_345, "CLF", "1.2345 CLF"), (.max, "USD", "92,233,720,368,547,758.07 USD"),
        (.min, "USD", "-92,233,720,368,547,758.08 USD"), (150, "XYZ", "1.50 XYZ"),
    ] as [(Int64, CurrencyCode, String)])
    func formatting(minor: Int64, currency: CurrencyCode, text: String) {
        #expect(Money(minor: minor, currency: currency).formatted() == text)
    }

    @Test("the decimal string reads back to the same amount", arguments: [
        (Int64(25_000_050), "CNY"), (-7, "USD"), (151_237, "JPY"), (-1, "KWD"), (0, "CLF"), (.max, "RUB"),
    ] as [(Int64, CurrencyCode)])
    func decimalRoundTrip(minor: Int64, currency: CurrencyCode) throws {
        let money = Money(minor: minor, currency: currency)
        #expect(try Money(parsing: money.decimalString, currency: currency) == money)
        #expect(money.formatted(groupSeparator: " ").filter { $0 != " " } == money.decimalString + currency.rawValue)
    }
}

@Suite("Rates")
struct RateTests {
    @Test("rates parse into mantissa and scale, keeping the quoted precision", arguments: [
        ("11.23456", Int64(1_123_456), 5), ("11.2500", 112_500, 4), ("81", 81, 0), ("0.30712", 30_712, 5), ("151.237", 151_237, 3),
        ("0.000000000000000001", 1, 18), ("-1.5", -15, 1),
    ])
    func parsing(text: String, mantissa: Int64, scale: Int) throws {
        let rate = try Rate(parsing: text)
        #expect(rate == Rate(mantissa: mantissa, scale: scale))
        #expect(rate.description == text)
    }

    @Test("text that is not a usable decimal is an invalid rate", arguments: [
        "", "abc", "1,5", "1.", ".5", "1e5", "0.0000000000000000001", "99999999999999999999",
    ])
    func badText(text: String) {
        #expect(throws: MoneyError.invalidRate(text)) { try Rate(parsing: text) }
    }

    @Test("a deal may only use a positive rate with scale 0…18", arguments: [
        (Int64(0), 2, false), (-1_125, 2, false), (1_125, -1, false), (1_125, 19, false), (1_125, Int.min, false),
        (1, 0, true), (1_123_456, 5, true), (.max, 18, true),
    ])
    func validation(mantissa: Int64, scale: Int, valid: Bool) {
        let rate = Rate(mantissa: mantissa, scale: scale)
        if valid {
            #expect(throws: Never.self) { try rate.validated() }
        } else {
            #expect(throws: MoneyError.invalidRate(rate.description)) { try rate.validated() }
        }
    }

    @Test("a rate's order key sorts as the rate does, whatever its scale; equal numbers get equal keys")
    func orderKey() throws {
        let texts = ["0.000000000000000001", "0.0650", "0.30712", "9.5", "11.2345", "11.23450001", "11.25", "81", "81.4567",
                     "151.237", "9223372036854775807", "9.223372036854775807"]
        let rates = try texts.map { try Rate(parsing: $0) }
        // Exact order, worked out apart from the keys: mantissa × 10^(18 − scale) in 128 bits.
        func exact(_ rate: Rate) -> Int128 {
            var value = Int128(rate.mantissa)
            for _ in rate.scale..<18 { value *= 10 }
            return value
        }
        let byKey = rates.sorted { $0.orderKey! < $1.orderKey! }
        #expect(byKey.map(exact) == rates.map(exact).sorted())
        #expect(try Rate(parsing: "11.25").orderKey == Rate(parsing: "11.2500").orderKey)
        #expect(try Rate(parsing: "11.25").orderKey == "0000000000000000011.250000000000000000")
        #expect(Set(rates.map(\.orderKey)).count == rates.count)
        #expect(Rate(mantissa: 0, scale: 2).orderKey == nil && Rate(mantissa: 5, scale: 19).orderKey == nil)
    }
}
