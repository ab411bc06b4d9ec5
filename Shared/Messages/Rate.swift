/// An exchange rate as an integer mantissa and a decimal scale: 11.23456 is `{ mantissa: 1123456, scale: 5 }`.
public struct Rate: Codable, Hashable, Sendable, CustomStringConvertible {
    public var mantissa: Int64
    public var scale: Int

    public init(mantissa: Int64, scale: Int) {
        self.mantissa = mantissa
        self.scale = scale
    }

    /// Parses "11.23456"; at most 18 digits after the point.
    public init(parsing text: String) throws {
        let (negative, integer, fraction) = try DecimalText.split(text)
        guard fraction.count <= 18 else { throw MoneyError.invalidRate(text) }
        guard let magnitude = Int64(integer + fraction) else { throw MoneyError.invalidRate(text) }
        self.init(mantissa: negative ? -magnitude : magnitude, scale: fraction.count)
    }

    /// The rate if it is usable for a deal: positive, scale 0…18.
    public func validated() throws -> Rate {
        guard mantissa > 0, (0...18).contains(scale) else { throw MoneyError.invalidRate(description) }
        return self
    }

    public var description: String { DecimalText.format(Int128(mantissa), scale: max(0, min(scale, 38)), groupSeparator: "") }
}

/// How a counter amount is rounded to the counter currency's minor units.
public enum RoundingMode: String, Codable, Sendable, CaseIterable {
    /// Ties away from zero (2.5 → 3, −2.5 → −3): the default for deals.
    case halfUp
    /// Ties to the even neighbour (banker's rounding).
    case halfEven
}

extension Money {
    /// `base × rate` in `counterCurrency` minor units, rounded once with `rounding`.
    ///
    /// Exact: 128-bit integer arithmetic, no floating point. 250,000.50 CNY × 11.23456 = 2,808,645.61728 → 2,808,645.62 RUB.
    public static func counterAmount(base: Money, rate: Rate, counterCurrency: CurrencyCode, rounding: RoundingMode = .halfUp) throws -> Money {
        let (numerator, denominator) = try exactRatio(base: base, rate: rate, counterCurrency: counterCurrency)
        let rounded = divide(numerator, by: denominator, rounding: rounding)
        guard let minor = Int64(exactly: rounded) else { throw MoneyError.overflow }
        return Money(minor: minor, currency: counterCurrency)
    }

    /// The unrounded counter amount as a decimal string ("2808645.61728"), trailing zeros trimmed.
    public static func exactCounterAmount(base: Money, rate: Rate, counterCurrency: CurrencyCode) throws -> String {
        guard let baseUnits = base.currency.minorUnits else { throw MoneyError.unknownCurrency(base.currency.rawValue) }
        guard (0...18).contains(rate.scale) else { throw MoneyError.invalidRate(rate.description) }
        let (product, overflow) = Int128(base.minor).multipliedReportingOverflow(by: Int128(rate.mantissa))
        if overflow { throw MoneyError.overflow }
        var text = DecimalText.format(product, scale: baseUnits + rate.scale, groupSeparator: "")
        if text.contains(".") {
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
        }
        return text
    }

    /// counter minor = base.minor × mantissa × 10^counterUnits / 10^(baseUnits + scale), as numerator / denominator.
    static func exactRatio(base: Money, rate: Rate, counterCurrency: CurrencyCode) throws -> (Int128, Int128) {
        guard let baseUnits = base.currency.minorUnits else { throw MoneyError.unknownCurrency(base.currency.rawValue) }
        guard let counterUnits = counterCurrency.minorUnits else { throw MoneyError.unknownCurrency(counterCurrency.rawValue) }
        guard (0...18).contains(rate.scale) else { throw MoneyError.invalidRate(rate.description) }
        var numerator = Int128(base.minor)
        var overflow = false
        (numerator, overflow) = numerator.multipliedReportingOverflow(by: Int128(rate.mantissa))
        if overflow { throw MoneyError.overflow }
        (numerator, overflow) = numerator.multipliedReportingOverflow(by: power10(counterUnits))
        if overflow { throw MoneyError.overflow }
        return (numerator, power10(baseUnits + rate.scale))
    }

    static func power10(_ n: Int) -> Int128 {
        var value: Int128 = 1
        for _ in 0..<n { value *= 10 }
        return value
    }

    /// Integer division rounded once by `mode` (denominator > 0).
    static func divide(_ numerator: Int128, by denominator: Int128, rounding mode: RoundingMode) -> Int128 {
        let quotient = numerator / denominator
        let remainder = numerator % denominator
        if remainder == 0 { return quotient }
        let twice = remainder.magnitude * 2
        let away: Bool
        if twice > denominator.magnitude {
            away = true
        } else if twice < denominator.magnitude {
            away = false
        } else {
            away = mode == .halfUp || quotient.magnitude % 2 == 1
        }
        guard away else { return quotient }
        return numerator < 0 ? quotient - 1 : quotient + 1
    }
}
