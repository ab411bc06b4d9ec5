/// An ISO 4217 currency code: three uppercase ASCII letters.
public struct CurrencyCode: RawRepresentable, Codable, Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let rawValue: String

    /// Nil unless `rawValue` is three uppercase ASCII letters.
    public init?(rawValue: String) {
        guard rawValue.utf8.count == 3, rawValue.utf8.allSatisfy({ $0 >= 65 && $0 <= 90 }) else { return nil }
        self.rawValue = rawValue
    }

    /// For literals in code; an invalid literal is a programming error.
    public init(stringLiteral value: String) {
        guard let code = CurrencyCode(rawValue: value) else { preconditionFailure("invalid currency literal \(value)") }
        self = code
    }

    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        guard let code = CurrencyCode(rawValue: raw) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "invalid currency code \(raw)"))
        }
        self = code
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }

    /// Digits after the decimal point (ISO 4217), or nil for a currency we do not know.
    public var minorUnits: Int? { Self.minorUnitTable[rawValue] }

    /// ISO 4217 minor units of the currencies Svyaz settles or may meet.
    public static let minorUnitTable: [String: Int] = [
        "RUB": 2, "USD": 2, "EUR": 2, "CNY": 2, "GBP": 2, "CHF": 2, "HKD": 2, "AED": 2, "TRY": 2, "KZT": 2, "BYN": 2,
        "INR": 2, "CAD": 2, "AUD": 2, "NZD": 2, "SGD": 2, "SEK": 2, "NOK": 2, "DKK": 2, "PLN": 2, "CZK": 2, "HUF": 2,
        "AMD": 2, "AZN": 2, "GEL": 2, "UZS": 2, "KGS": 2, "TJS": 2, "MDL": 2, "THB": 2, "ZAR": 2, "BRL": 2, "MXN": 2,
        "SAR": 2, "QAR": 2, "EGP": 2, "ILS": 2, "RSD": 2, "XAU": 0,
        "JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "UGX": 0, "XOF": 0, "XAF": 0, "PYG": 0,
        "KWD": 3, "BHD": 3, "OMR": 3, "JOD": 3, "TND": 3, "IQD": 3, "LYD": 3,
        "CLF": 4, "UYW": 4,
    ]
}

/// Why an amount or a calculation was refused.
public enum MoneyError: Error, Equatable, Sendable, CustomStringConvertible {
    case unknownCurrency(String)
    case currencyMismatch(CurrencyCode, CurrencyCode)
    case overflow
    case invalidAmount(String)
    /// More digits after the point than the currency has (SWIFT rule C03).
    case tooManyFractionDigits(String, allowed: Int)
    case invalidRate(String)

    public var description: String {
        switch self {
        case .unknownCurrency(let code): "unknown currency \(code)"
        case .currencyMismatch(let a, let b): "currency mismatch: \(a) and \(b)"
        case .overflow: "amount out of range"
        case .invalidAmount(let text): "not an amount: \(text)"
        case .tooManyFractionDigits(let text, let allowed): "\(text) has more than \(allowed) digits after the point"
        case .invalidRate(let text): "not a valid rate: \(text)"
        }
    }
}

/// An amount in integer minor units of a currency (kopecks, cents, fils); never floating point.
public struct Money: Codable, Hashable, Sendable, CustomStringConvertible {
    public var minor: Int64
    public var currency: CurrencyCode

    public init(minor: Int64, currency: CurrencyCode) {
        self.minor = minor
        self.currency = currency
    }

    /// Parses "1000000.00", "-250000.5" or "151237" for `currency`, refusing more fraction digits than it has.
    public init(parsing text: String, currency: CurrencyCode) throws {
        guard let units = currency.minorUnits else { throw MoneyError.unknownCurrency(currency.rawValue) }
        let (negative, integer, fraction) = try DecimalText.split(text)
        guard fraction.count <= units else { throw MoneyError.tooManyFractionDigits(text, allowed: units) }
        let digits = integer + fraction + String(repeating: "0", count: units - fraction.count)
        guard let magnitude = Int64(digits) else { throw MoneyError.overflow }
        self.init(minor: negative ? -magnitude : magnitude, currency: currency)
    }

    public static func zero(_ currency: CurrencyCode) -> Money { Money(minor: 0, currency: currency) }

    public var isZero: Bool { minor == 0 }
    public var isNegative: Bool { minor < 0 }
    public var negated: Money { Money(minor: -minor, currency: currency) }

    /// Sum of two amounts of one currency.
    public func adding(_ other: Money) throws -> Money {
        guard currency == other.currency else { throw MoneyError.currencyMismatch(currency, other.currency) }
        let (sum, overflow) = minor.addingReportingOverflow(other.minor)
        if overflow { throw MoneyError.overflow }
        return Money(minor: sum, currency: currency)
    }

    public func subtracting(_ other: Money) throws -> Money { try adding(other.negated) }

    /// "1,000,000.00 CNY", built from integers.
    public func formatted(groupSeparator: String = ",") -> String {
        let units = currency.minorUnits ?? 2
        return DecimalText.format(Int128(minor), scale: units, groupSeparator: groupSeparator) + " " + currency.rawValue
    }

    /// "1000000.00" (no grouping, no currency): the exact decimal amount.
    public var decimalString: String { DecimalText.format(Int128(minor), scale: currency.minorUnits ?? 2, groupSeparator: "") }

    public var description: String { formatted() }
}

/// Decimal strings ⇄ integers, without floating point.
enum DecimalText {
    /// Sign, integer digits and fraction digits of "-123.45"; rejects anything else.
    static func split(_ text: String) throws -> (Bool, String, String) {
        var body = Substring(text)
        var negative = false
        if body.first == "-" || body.first == "+" {
            negative = body.first == "-"
            body = body.dropFirst()
        }
        let parts = body.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let integer = parts.first, !integer.isEmpty,
              integer.allSatisfy({ $0.isASCII && $0.isNumber }),
              parts.count == 1 || (!parts[1].isEmpty && parts[1].allSatisfy({ $0.isASCII && $0.isNumber }))
        else { throw MoneyError.invalidAmount(text) }
        return (negative, String(integer), parts.count == 2 ? String(parts[1]) : "")
    }

    static func format(_ value: Int128, scale: Int, groupSeparator: String) -> String {
        let negative = value < 0
        let digits = String(value.magnitude)
        let padded = String(repeating: "0", count: max(0, scale + 1 - digits.count)) + digits
        let integer = String(padded.dropLast(scale))
        let fraction = String(padded.suffix(scale))
        var grouped = ""
        for (i, ch) in integer.enumerated() {
            if i > 0 && (integer.count - i) % 3 == 0 { grouped += groupSeparator }
            grouped.append(ch)
        }
        return (negative ? "-" : "") + grouped + (scale > 0 ? "." + fraction : "")
    }
}
