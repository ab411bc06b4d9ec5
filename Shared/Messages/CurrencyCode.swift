/// An ISO 4217 currency code: three uppercase ASCII letters ("RUB").
///
/// The shape is checked here; whether Svyaz knows the currency (and its minor units) is `minorUnits`, so a
/// well-formed but unknown code can be answered with a precise error instead of failing to decode.
public struct CurrencyCode: RawRepresentable, Codable, Hashable, Comparable, Sendable, ExpressibleByStringLiteral,
    CustomStringConvertible
{
    /// The three letters.
    public let rawValue: String

    /// Nil unless `rawValue` is three uppercase ASCII letters.
    public init?(rawValue: String) {
        guard rawValue.utf8.count == 3, rawValue.utf8.allSatisfy({ $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) else {
            return nil
        }
        self.rawValue = rawValue
    }

    /// A code as people type it, in any case ("usd"); nil unless three ASCII letters.
    public init?(anyCase text: some StringProtocol) { self.init(rawValue: text.uppercased()) }

    /// A currency pair as people type it, six letters in any case ("cnyrub"): its two codes; nil otherwise.
    public static func pair(anyCase text: String) -> (base: CurrencyCode, quote: CurrencyCode)? {
        guard text.utf8.count == 6, let base = CurrencyCode(anyCase: text.prefix(3)), let quote = CurrencyCode(anyCase: text.suffix(3)) else {
            return nil
        }
        return (base, quote)
    }

    /// Validates text from outside (a query, a form), throwing `MoneyError.invalidCurrencyCode`.
    public init(validating text: String) throws {
        guard let code = CurrencyCode(rawValue: text) else { throw MoneyError.invalidCurrencyCode(text) }
        self = code
    }

    /// For literals in code; an invalid literal is a programming error, so it traps.
    public init(stringLiteral value: String) {
        guard let code = CurrencyCode(rawValue: value) else { preconditionFailure("invalid currency literal \(value)") }
        self = code
    }

    /// Decodes a string and refuses anything that is not three uppercase ASCII letters.
    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        guard let code = CurrencyCode(rawValue: raw) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "invalid currency code \(raw)"))
        }
        self = code
    }

    /// Encodes the bare code string ("RUB").
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public static func < (lhs: CurrencyCode, rhs: CurrencyCode) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { rawValue }

    /// Digits after the decimal point (ISO 4217), or nil for a currency Svyaz does not know.
    public var minorUnits: Int? { Self.minorUnitTable[rawValue] }

    /// Whether Svyaz knows this currency's minor units, i.e. may build money in it.
    public var isKnown: Bool { minorUnits != nil }

    /// ISO 4217 minor units of the currencies Svyaz settles or may meet (checked against the ISO list and
    /// `java.util.Currency`); codes whose ISO minor unit is "N.A." (XAU, XDR…) are deliberately absent.
    public static let minorUnitTable: [String: Int] = [
        // 2 digits: the common case
        "RUB": 2, "USD": 2, "EUR": 2, "CNY": 2, "GBP": 2, "CHF": 2, "HKD": 2, "AED": 2, "TRY": 2, "KZT": 2, "BYN": 2,
        "INR": 2, "CAD": 2, "AUD": 2, "NZD": 2, "SGD": 2, "SEK": 2, "NOK": 2, "DKK": 2, "PLN": 2, "CZK": 2, "HUF": 2,
        "AMD": 2, "AZN": 2, "GEL": 2, "UZS": 2, "KGS": 2, "TJS": 2, "TMT": 2, "MDL": 2, "MNT": 2, "THB": 2, "ZAR": 2,
        "BRL": 2, "MXN": 2, "SAR": 2, "QAR": 2, "EGP": 2, "ILS": 2, "RSD": 2, "IDR": 2, "MYR": 2, "PHP": 2, "TWD": 2,
        // 0 digits
        "JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "UGX": 0, "XOF": 0, "XAF": 0, "XPF": 0, "PYG": 0, "BIF": 0,
        "DJF": 0, "GNF": 0, "KMF": 0, "RWF": 0, "VUV": 0,
        // 3 digits (1 dinar = 1000 fils)
        "KWD": 3, "BHD": 3, "OMR": 3, "JOD": 3, "TND": 3, "IQD": 3, "LYD": 3,
        // 4 digits (units of account)
        "CLF": 4, "UYW": 4,
    ]
}

/// ISO 4217 reference data, as a namespace.
public enum Currency {
    /// Digits after the decimal point of `code`, or nil for a currency Svyaz does not know.
    public static func minorUnits(of code: CurrencyCode) -> Int? { code.minorUnits }

    /// Every currency Svyaz knows, sorted by code.
    public static let known: [CurrencyCode] = CurrencyCode.minorUnitTable.keys.compactMap(CurrencyCode.init(rawValue:)).sorted()
}
