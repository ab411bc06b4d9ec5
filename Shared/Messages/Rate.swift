/// An exchange rate as an integer mantissa and a decimal scale: 11.23456 is `{ "mantissa": 1123456, "scale": 5 }`.
///
/// Equality is structural: 11.25 `{1125, 2}` and 11.2500 `{112500, 4}` are different values of the same number,
/// so a rate keeps the precision it was quoted with.
public struct Rate: Codable, Hashable, Sendable, CustomStringConvertible {
    /// Digits after the point a rate may have.
    public static let scaleRange = 0...18

    /// The rate's digits without the point: 1123456 for 11.23456.
    public var mantissa: Int64
    /// Digits after the point: 5 for 11.23456.
    public var scale: Int

    /// `mantissa` × 10^−`scale`, unchecked (see `validated()`).
    public init(mantissa: Int64, scale: Int) {
        self.mantissa = mantissa
        self.scale = scale
    }

    /// Parses "11.23456" (scale = digits after the point, trailing zeros kept); a sign is read, `validated()` refuses it.
    public init(parsing text: String) throws {
        let parts: (negative: Bool, integer: Substring, fraction: Substring)
        do {
            parts = try DecimalText.split(text)
        } catch {
            throw MoneyError.invalidRate(text)
        }
        guard Self.scaleRange.contains(parts.fraction.count), let magnitude = DecimalText.magnitude(parts.integer + parts.fraction) else {
            throw MoneyError.invalidRate(text)
        }
        self.init(mantissa: parts.negative ? -magnitude : magnitude, scale: parts.fraction.count)
    }

    /// This rate if a deal may use it: positive, scale 0…18.
    public func validated() throws -> Rate {
        guard mantissa > 0, Self.scaleRange.contains(scale) else { throw MoneyError.invalidRate(description) }
        return self
    }

    /// A text that sorts as the rate does numerically, whatever scale each rate was quoted with: 11.25 and 11.2500
    /// have the same key, and 9.5 sorts before 11.25. Nineteen integer digits, a point, eighteen fraction digits
    /// ("0000000000000000011.250000000000000000"). Exact, with no floating point; for positive rates of a valid scale
    /// (`validated()`), nil otherwise. The deal list stores it to filter on rate ranges.
    public var orderKey: String? {
        guard mantissa > 0, Self.scaleRange.contains(scale) else { return nil }
        var unit: Int64 = 1
        for _ in 0..<scale { unit *= 10 }
        let integer = String(mantissa / unit)
        let fraction = scale == 0 ? "" : String(mantissa % unit)
        return String(repeating: "0", count: 19 - integer.count) + integer + "."
            + String(repeating: "0", count: scale - fraction.count) + fraction + String(repeating: "0", count: 18 - scale)
    }

    /// "11.23456"; an out-of-range scale (only ever decoded, never valid) is shown raw rather than expanded.
    public var description: String {
        Self.scaleRange.contains(scale) ? DecimalText.format(Int128(mantissa), scale: scale) : "{mantissa \(mantissa), scale \(scale)}"
    }
}
