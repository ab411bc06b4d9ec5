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
}
