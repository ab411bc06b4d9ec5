/// Why an amount, a rate or a calculation was refused; each case is something a caller can report precisely.
public enum MoneyError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Not three uppercase ASCII letters.
    case invalidCurrencyCode(String)
    /// A well-formed code whose minor units Svyaz does not know, so no amount can be built in it.
    case unknownCurrency(String)
    /// Arithmetic across two currencies.
    case currencyMismatch(CurrencyCode, CurrencyCode)
    /// The result does not fit `Int64` minor units.
    case overflow
    /// Text that is not a plain decimal number ("1,5", "1e5", "").
    case invalidAmount(String)
    /// More digits after the point than the currency has (SWIFT rule C03).
    case tooManyFractionDigits(String, allowed: Int)
    /// A rate that is not a decimal number, or not usable for a deal (zero, negative, scale outside 0…18).
    case invalidRate(String)

    public var description: String {
        switch self {
        case .invalidCurrencyCode(let text): "not a currency code: \(text.debugDescription)"
        case .unknownCurrency(let code): "unknown currency \(code)"
        case .currencyMismatch(let a, let b): "currency mismatch: \(a) and \(b)"
        case .overflow: "amount out of range"
        case .invalidAmount(let text): "not an amount: \(text.debugDescription)"
        case .tooManyFractionDigits(let text, let allowed): "\(text) has more than \(allowed) digits after the point"
        case .invalidRate(let text): "not a valid rate: \(text)"
        }
    }
}
