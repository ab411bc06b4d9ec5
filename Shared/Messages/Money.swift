/// An amount in integer minor units of a currency (kopecks, cents, fils); never floating point.
///
/// Travels as `{ "minor": Int64, "currency": "RUB" }`. `init(minor:currency:)` trusts its input (computed or just
/// decoded values); amounts from outside are built with `init(parsing:currency:)` or checked with `validated()`,
/// both of which refuse a currency whose minor units Svyaz does not know. Everything here that throws throws
/// `MoneyError` (declared untyped: typed throws make `catch let e as MoneyError` warn, and crash Swift 6.3.1's SILGen).
public struct Money: Codable, Hashable, Sendable, CustomStringConvertible {
    /// The amount in the currency's minor units: 250,000.50 CNY is 25000050, 151,237 JPY is 151237.
    public var minor: Int64
    /// The currency whose minor units `minor` counts.
    public var currency: CurrencyCode

    /// An amount of `minor` units of `currency`, unchecked (see `validated()`).
    public init(minor: Int64, currency: CurrencyCode) {
        self.minor = minor
        self.currency = currency
    }

    /// Parses "1000000.00", "-250000.5", "+7" or "151237" in `currency`.
    ///
    /// Refuses an unknown currency, more fraction digits than the currency has (SWIFT C03: "1.5" JPY, "1.001" USD,
    /// even "1.0" JPY), grouping, exponents, spaces and anything out of `Int64` range — each with its own `MoneyError`.
    public init(parsing text: String, currency: CurrencyCode) throws {
        guard let units = currency.minorUnits else { throw MoneyError.unknownCurrency(currency.rawValue) }
        let parts = try DecimalText.split(text)
        guard parts.fraction.count <= units else { throw MoneyError.tooManyFractionDigits(text, allowed: units) }
        let digits = parts.integer + parts.fraction + String(repeating: "0", count: units - parts.fraction.count)
        // Int64.min is refused with the rest of the range so every amount we build can be negated.
        guard let magnitude = DecimalText.magnitude(digits) else { throw MoneyError.overflow }
        self.init(minor: parts.negative ? -magnitude : magnitude, currency: currency)
    }

    /// No money in `currency`.
    public static func zero(_ currency: CurrencyCode) -> Money { Money(minor: 0, currency: currency) }

    /// This amount if it is usable: a known currency, and not `Int64.min` (which has no negation).
    public func validated() throws -> Money {
        guard currency.isKnown else { throw MoneyError.unknownCurrency(currency.rawValue) }
        guard minor != .min else { throw MoneyError.overflow }
        return self
    }

    /// Exactly nothing.
    public var isZero: Bool { minor == 0 }
    /// More than nothing (in netting: the bank pays).
    public var isPositive: Bool { minor > 0 }
    /// Less than nothing (in netting: the client pays).
    public var isNegative: Bool { minor < 0 }
    /// −1, 0 or +1: in netting, + means the bank pays the client.
    public var signum: Int { Int(minor.signum()) }

    /// The same amount with the opposite sign; `Int64.min` has none and is an overflow.
    public func negated() throws -> Money {
        let (negative, overflow) = Int64(0).subtractingReportingOverflow(minor)
        if overflow { throw MoneyError.overflow }
        return Money(minor: negative, currency: currency)
    }

    /// Sum of two amounts of one currency.
    public func adding(_ other: Money) throws -> Money {
        guard currency == other.currency else { throw MoneyError.currencyMismatch(currency, other.currency) }
        let (sum, overflow) = minor.addingReportingOverflow(other.minor)
        if overflow { throw MoneyError.overflow }
        return Money(minor: sum, currency: currency)
    }

    /// Difference of two amounts of one currency.
    public func subtracting(_ other: Money) throws -> Money {
        guard currency == other.currency else { throw MoneyError.currencyMismatch(currency, other.currency) }
        let (difference, overflow) = minor.subtractingReportingOverflow(other.minor)
        if overflow { throw MoneyError.overflow }
        return Money(minor: difference, currency: currency)
    }

    /// `try a + b`: `adding(_:)` as an operator.
    public static func + (lhs: Money, rhs: Money) throws -> Money { try lhs.adding(rhs) }

    /// `try a - b`: `subtracting(_:)` as an operator.
    public static func - (lhs: Money, rhs: Money) throws -> Money { try lhs.subtracting(rhs) }

    /// `try -a`: `negated()` as an operator.
    public static prefix func - (value: Money) throws -> Money { try value.negated() }

    /// The total of `amounts`, all in `currency` (zero when empty): what netting does per currency, without rounding.
    public static func sum(_ amounts: some Sequence<Money>, in currency: CurrencyCode) throws -> Money {
        var total = Money.zero(currency)
        for amount in amounts { total = try total.adding(amount) }
        return total
    }

    /// "1,000,000.00 CNY", "-0.005 KWD", "151,237 JPY": built from integers; an unknown currency shows 2 digits.
    public func formatted(groupSeparator: String = ",") -> String {
        DecimalText.format(Int128(minor), scale: currency.minorUnits ?? 2, groupSeparator: groupSeparator) + " " + currency.rawValue
    }

    /// "1000000.00": the exact amount without grouping or currency, as `init(parsing:currency:)` reads it back.
    public var decimalString: String { DecimalText.format(Int128(minor), scale: currency.minorUnits ?? 2) }

    public var description: String { formatted() }
}
