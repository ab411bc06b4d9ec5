import Foundation
import Messages
import Testing

@testable import DealStatus
@testable import Simulator

/// The simulator's deals, run through deal-status's rules: what the demo shows is what a back office would report.
@Suite("simulated lifecycles")
struct SimulatedLifecycleTests {
    struct Run {
        var finals: [DealStatus] = []
        /// Events deal-status refused or found redundant: the simulator should send neither.
        var problems: [String] = []
        var kinds: [DealEventKind: Int] = [:]
        var disputes = 0
    }

    /// `count` scripts, each deal's events applied in order, as deal-status folds them.
    func run(varied: Bool, count: Int = 400) -> Run {
        var random = SeededRandom(state: 7)
        var result = Run()
        for n in 1...count {
            let script = DealScript.make(client: "C1", number: n, tradeTime: Date(timeIntervalSince1970: 1_732_000_000), random: &random,
                                         varied: varied)
            var state: DealStatus?
            for (i, event) in script.events.reversed().enumerated() {  // a script keeps its next event last
                result.kinds[event.kind, default: 0] += 1
                if event.confirmation == .disputed { result.disputes += 1 }
                switch DealRules.apply(event, sequence: UInt64(i + 1), to: state) {
                case .applied(let next): state = next
                case .ignored(let why): result.problems.append("\(script.dealId) \(event.kind): ignored, \(why)")
                case .rejected(let why): result.problems.append("\(script.dealId) \(event.kind): rejected, \(why)")
                }
            }
            if let state { result.finals.append(state) }
        }
        return result
    }

    @Test("plain lifecycles: every deal is confirmed and settled, and deal-status takes every event")
    func plain() {
        let run = run(varied: false)
        #expect(run.problems.isEmpty, "\(run.problems.prefix(5))")
        #expect(run.finals.count == 400 && run.finals.allSatisfy { $0.confirmation == .confirmed && $0.settlement == .settled })
        #expect(run.kinds[.amended] == nil && run.kinds[.cancelled] == nil && run.disputes == 0)
    }

    @Test("varied lifecycles: disputes, amendments and cancellations happen, forwards and swaps wait confirmed and unreleased (nettable), spots settle, and deal-status takes every event")
    func varied() {
        let run = run(varied: true)
        #expect(run.problems.isEmpty, "\(run.problems.prefix(5))")
        #expect(run.finals.count == 400)
        #expect(run.disputes > 0 && (run.kinds[.amended] ?? 0) > 0)
        let cancelled = run.finals.filter { $0.confirmation == .cancelled }
        #expect(!cancelled.isEmpty && cancelled.allSatisfy { $0.settlement == .cancelled })
        let live = run.finals.filter { $0.confirmation != .cancelled }
        let forwards = live.filter { $0.terms.product != .spot }
        #expect(!forwards.isEmpty)
        #expect(forwards.allSatisfy { $0.confirmation == .confirmed && $0.legs.allSatisfy { $0.status == .pending } })
        #expect(live.filter { $0.terms.product == .spot }.allSatisfy { $0.confirmation == .confirmed && $0.settlement == .settled })
    }

    @Test("simulated deals look like a bank's: value dates on weekdays, spot two business days on, forward points that follow the interest differential, usable settlement details")
    func realisticTerms() throws {
        var random = SeededRandom(state: 11)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        // Seven trade days, Monday 2024-11-25 to Sunday 2024-12-01, at noon UTC.
        for dayOffset in 0..<7 {
            let tradeTime = Date(timeIntervalSince1970: 1_732_536_000 + Double(dayOffset) * 86_400)
            for n in 1...60 {
                let script = DealScript.make(client: "C\(n % 3 + 1)", number: n, tradeTime: tradeTime, random: &random, varied: n % 2 == 0)
                let terms = try #require(script.events.last?.terms)  // the booking: a script keeps its next event last
                for day in [terms.valueDate] + (terms.farValueDate.map { [$0] } ?? []) {
                    let start = try #require(CalendarDay.utcStart(day))
                    #expect(![1, 7].contains(calendar.component(.weekday, from: start)), "\(terms.dealId) settles on a weekend: \(day)")
                }
                if terms.product == .spot {
                    // T+2 business days: Thursday's and Friday's spot settle on Monday and Tuesday.
                    let expected = [0: "2024-11-27", 1: "2024-11-28", 2: "2024-11-29", 3: "2024-12-02", 4: "2024-12-03", 5: "2024-12-03", 6: "2024-12-03"]
                    #expect(terms.valueDate == expected[dayOffset], "trade day \(dayOffset)")
                }
                if terms.product == .swap, let farRate = terms.farRate {
                    // Rubles earn more than CNY, USD and EUR, USD more than JPY and EUR: the far leg is dearer or cheaper.
                    let higherQuoteRate = DealScript.interestBasisPoints[terms.quoteCurrency]! > DealScript.interestBasisPoints[terms.baseCurrency]!
                    #expect(higherQuoteRate ? farRate.mantissa > terms.rate.mantissa : farRate.mantissa < terms.rate.mantissa, "\(terms.pair)")
                }
                for details in terms.requisites { #expect(throws: Never.self) { try details.validated() } }
            }
        }
    }
}
