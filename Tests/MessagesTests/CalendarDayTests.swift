import Foundation
import Messages
import Testing

@Suite("calendar days")
struct CalendarDayTests {
    @Test("every day from 1899 to 2101 reads back as Foundation's Gregorian calendar has it, in UTC")
    func agreesWithFoundation() throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = try #require(TimeZone(identifier: "UTC"))
        var date = try #require(calendar.date(from: DateComponents(year: 1899, month: 1, day: 1)))
        let end = try #require(calendar.date(from: DateComponents(year: 2101, month: 12, day: 31)))
        var days = 0
        while date <= end {
            let c = calendar.dateComponents([.year, .month, .day], from: date)
            let text = String(format: "%04d-%02d-%02d", c.year!, c.month!, c.day!)
            #expect(CalendarDay.utcStart(text) == date, "\(text)")
            days += 1
            date = try #require(calendar.date(byAdding: .day, value: 1, to: date))
        }
        #expect(days == 203 * 365 + 49)  // 49 leap days: 1904…2096 but not 1900 or 2100
    }

    @Test("anything but an existing day as YYYY-MM-DD is refused",
          arguments: ["2024-02-30", "2023-02-29", "1900-02-29", "2024-13-01", "2024-00-10", "2024-04-31", "2024-12-00", "2024.12.02",
                      "2024-12-2", "24-12-02", "+024-12-02", "-024-12-02", "2024-12-02 ", " 2024-12-02", "2024-12-0x", "２０２４-12-02", "", "2024-12-02T00"])
    func refused(text: String) {
        #expect(CalendarDay.parse(text) == nil && CalendarDay.utcStart(text) == nil && !CalendarDay.isValid(text))
    }

    @Test("leap days exist where the Gregorian calendar has them")
    func leapDays() {
        #expect(CalendarDay.isValid("2024-02-29") && CalendarDay.isValid("2000-02-29") && !CalendarDay.isValid("2100-02-29"))
    }
}
