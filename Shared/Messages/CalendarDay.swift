import Foundation

/// A calendar day as the wire carries it ("2024-12-02"): value dates, which are also netting set ids and subject
/// tokens, and the days of date filters.
public enum CalendarDay {
    /// The start of `day` in UTC when it is exactly YYYY-MM-DD and exists (no 2024-02-30); nil for anything else.
    public static func utcStart(_ day: String) -> Date? {
        let bytes = Array(day.utf8)
        let digits = UInt8(ascii: "0")...UInt8(ascii: "9")
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
              bytes.indices.allSatisfy({ $0 == 4 || $0 == 7 || digits.contains(bytes[$0]) })
        else { return nil }
        func number(_ range: Range<Int>) -> Int { range.reduce(0) { $0 * 10 + Int(bytes[$1] - UInt8(ascii: "0")) } }
        let components = DateComponents(year: number(0..<4), month: number(5..<7), day: number(8..<10))
        guard components.isValidDate(in: utc) else { return nil }
        return utc.date(from: components)
    }

    /// Whether `day` is exactly YYYY-MM-DD and exists.
    public static func isValid(_ day: String) -> Bool { utcStart(day) != nil }

    private static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()
}
