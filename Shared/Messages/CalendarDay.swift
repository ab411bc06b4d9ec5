import Foundation

/// A calendar day as the wire carries it ("2024-12-02"): value dates, which are also netting set ids and subject
/// tokens, and the days of date filters. Pure integer arithmetic (proleptic Gregorian): deal-status checks the value
/// dates of every booking, on its hot path.
public enum CalendarDay {
    /// Year, month and day of `text` when it is exactly YYYY-MM-DD and the day exists (no 2024-02-30); nil otherwise.
    public static func parse(_ text: String) -> (year: Int, month: Int, day: Int)? {
        var fields = (0, 0, 0)
        var count = 0
        for byte in text.utf8 {
            defer { count += 1 }
            switch count {
            case 4, 7:
                guard byte == UInt8(ascii: "-") else { return nil }
            case 0..<10:
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                let digit = Int(byte - UInt8(ascii: "0"))
                switch count {
                case 0..<4: fields.0 = fields.0 * 10 + digit
                case 5..<7: fields.1 = fields.1 * 10 + digit
                default: fields.2 = fields.2 * 10 + digit
                }
            default:
                return nil
            }
        }
        let (year, month, day) = fields
        guard count == 10, (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year) else { return nil }
        return (year, month, day)
    }

    /// Whether `text` is exactly YYYY-MM-DD and the day exists.
    public static func isValid(_ text: String) -> Bool { parse(text) != nil }

    /// The start of the day in UTC; nil when `text` is not a day (see `parse`).
    public static func utcStart(_ text: String) -> Date? {
        guard let (year, month, day) = parse(text) else { return nil }
        // Days from 1970-01-01 (H. Hinnant's days_from_civil).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        return Date(timeIntervalSince1970: TimeInterval(days) * 86_400)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
