/// How a counter amount is rounded to the counter currency's minor units.
public enum RoundingMode: String, Codable, Sendable, CaseIterable {
    /// Ties away from zero, for negative amounts too (2.5 → 3, −2.5 → −3): the default for deals.
    case halfUp
    /// Ties to the even neighbour (banker's rounding: 2.5 → 2, 3.5 → 4, −2.5 → −2).
    case halfEven
}

extension Money {
    /// `base × rate` in `counterCurrency` minor units, rounded once with `rounding`.
    ///
    /// Exact: 128-bit integer arithmetic, no floating point, one rounding step at the end.
    /// 250,000.50 CNY × 11.23456 = 2,808,645.61728 → 2,808,645.62 RUB; 1,000.00 USD × 151.237 → 151,237 JPY.
    /// A negative base (a flow the client pays) gives a negative counter amount rounded symmetrically.
    /// Throws `unknownCurrency` for either currency, `invalidRate` unless `rate.validated()` passes, and `overflow`
    /// when the result does not fit `Int64` minor units.
    public static func counterAmount(
        base: Money,
        rate: Rate,
        counterCurrency: CurrencyCode,
        rounding: RoundingMode = .halfUp
    ) throws -> Money {
        let (product, productScale) = try exactProduct(base: base, rate: rate)
        guard let counterUnits = counterCurrency.minorUnits else { throw MoneyError.unknownCurrency(counterCurrency.rawValue) }
        // product × 10^(counterUnits − productScale), without inflating the numerator when the shift is a division.
        let shift = productScale - counterUnits
        let counterMinor: Int128
        if shift <= 0 {
            let (scaled, overflow) = product.multipliedReportingOverflow(by: DecimalText.power10(-shift))
            if overflow { throw MoneyError.overflow }
            counterMinor = scaled
        } else {
            counterMinor = divide(product, by: DecimalText.power10(shift), rounding: rounding)
        }
        guard let minor = Int64(exactly: counterMinor), minor != .min else { throw MoneyError.overflow }
        return Money(minor: minor, currency: counterCurrency)
    }

    /// The unrounded counter amount as a decimal string ("2808645.61728"), trailing fraction zeros trimmed ("307.12").
    ///
    /// Same checks as `counterAmount`; the string is in the counter currency's major units.
    public static func exactCounterAmount(base: Money, rate: Rate, counterCurrency: CurrencyCode) throws -> String {
        guard counterCurrency.isKnown else { throw MoneyError.unknownCurrency(counterCurrency.rawValue) }
        let (product, productScale) = try exactProduct(base: base, rate: rate)
        return DecimalText.formatTrimmed(product, scale: productScale)
    }

    /// base.minor × mantissa and its decimal scale (base minor units + rate scale); never overflows Int128 (|x| ≤ 2¹²⁶).
    static func exactProduct(base: Money, rate: Rate) throws -> (Int128, Int) {
        guard let baseUnits = base.currency.minorUnits else { throw MoneyError.unknownCurrency(base.currency.rawValue) }
        let rate = try rate.validated()
        return (Int128(base.minor) * Int128(rate.mantissa), baseUnits + rate.scale)
    }

    /// `numerator / denominator` (denominator > 0) rounded once by `mode`, symmetrically around zero.
    static func divide(_ numerator: Int128, by denominator: Int128, rounding mode: RoundingMode) -> Int128 {
        let quotient = numerator / denominator  // truncates toward zero
        let remainder = numerator % denominator  // has the numerator's sign
        if remainder == 0 { return quotient }
        let twice = remainder.magnitude * 2
        let awayFromZero: Bool
        if twice != denominator.magnitude {
            awayFromZero = twice > denominator.magnitude
        } else {
            awayFromZero = mode == .halfUp || quotient.magnitude % 2 == 1
        }
        guard awayFromZero else { return quotient }
        return numerator < 0 ? quotient - 1 : quotient + 1
    }
}
