/// Decimal strings ⇄ integers, without floating point (a `Double` or a `Decimal` literal would round).
enum DecimalText {
    /// Sign, integer digits and fraction digits of "-123.45"; anything but `[+-]digits[.digits]` is `invalidAmount`.
    static func split(_ text: String) throws(MoneyError) -> (negative: Bool, integer: Substring, fraction: Substring) {
        var body = Substring(text)
        var negative = false
        if let sign = body.first, sign == "-" || sign == "+" {
            negative = sign == "-"
            body = body.dropFirst()
        }
        let integer: Substring
        let fraction: Substring
        if let point = body.firstIndex(of: ".") {
            integer = body[..<point]
            fraction = body[body.index(after: point)...]
            guard !fraction.isEmpty else { throw MoneyError.invalidAmount(text) }
        } else {
            integer = body
            fraction = ""
        }
        guard !integer.isEmpty, isDigits(integer), isDigits(fraction) else { throw MoneyError.invalidAmount(text) }
        return (negative, integer, fraction)
    }

    /// `digits` as a magnitude no larger than `Int64.max`, or nil when it does not fit.
    static func magnitude(_ digits: Substring) -> Int64? {
        var value: Int64 = 0
        for byte in digits.utf8 {
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
            if overflow1 || overflow2 { return nil }
            value = sum
        }
        return value
    }

    /// "-1,234.50" for (-123450, scale 2); `groupSeparator` between thousands of the integer part.
    static func format(_ value: Int128, scale: Int, groupSeparator: String = "") -> String {
        let digits = String(value.magnitude)
        let padded = String(repeating: "0", count: max(0, scale + 1 - digits.count)) + digits
        let integer = padded.dropLast(scale)
        var text = value < 0 ? "-" : ""
        for (i, digit) in integer.enumerated() {
            if i > 0 && (integer.count - i) % 3 == 0 { text += groupSeparator }
            text.append(digit)
        }
        if scale > 0 { text += "." + padded.suffix(scale) }
        return text
    }

    /// `format` without trailing fraction zeros: "307.12" rather than "307.12000".
    static func formatTrimmed(_ value: Int128, scale: Int) -> String {
        var text = format(value, scale: scale)
        guard scale > 0 else { return text }
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    /// 10ⁿ for the small exponents money needs (n ≤ 38).
    static func power10(_ n: Int) -> Int128 {
        var value: Int128 = 1
        for _ in 0..<n { value &*= 10 }
        return value
    }

    private static func isDigits(_ text: Substring) -> Bool {
        text.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }
}
