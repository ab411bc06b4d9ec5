import Foundation
import Messages
import Testing

@testable import DealStatus

let t0 = Date(timeIntervalSince1970: 1_732_870_000)

func terms(_ deal: String = "D1", product: DealProduct = .spot, side: DealSide = .buy, amount: String = "1000000.00",
           base: CurrencyCode = "CNY", quote: CurrencyCode = "RUB", rate: String = "11.2345") -> DealTerms {
    DealTerms(client: "C1", dealId: deal, tradeTime: t0, channel: .web, product: product, side: side, baseCurrency: base, quoteCurrency: quote,
              amount: try! Money(parsing: amount, currency: base), rate: try! Rate(parsing: rate), valueDate: "2024-12-02",
              farRate: product == .swap ? try! Rate(parsing: "11.3000") : nil, farValueDate: product == .swap ? "2025-01-09" : nil,
              requisites: [SettlementRequisites(currency: base, account: "40807156700000001234", bic: "BKCHCNBJ"),
                           SettlementRequisites(currency: quote, account: "40702810938000012345", bic: "SABRRUMM")])
}

/// Applies events in order with sequences 1, 2, …; returns the final state and each outcome.
func run(_ events: [DealEvent], from start: DealStatus? = nil) -> (DealStatus?, [DealTransition]) {
    var state = start
    var outcomes: [DealTransition] = []
    for (i, event) in events.enumerated() {
        let outcome = DealRules.apply(event, sequence: UInt64(i + 1) + (start?.lastEventSequence ?? 0), to: state)
        if case .applied(let next) = outcome { state = next }
        outcomes.append(outcome)
    }
    return (state, outcomes)
}

func booked(_ t: DealTerms = terms()) -> DealEvent {
    DealEvent(eventId: "b-\(t.dealId)", client: "C1", dealId: t.dealId, kind: .booked, occurredAt: t0, terms: t)
}

func confirm(_ status: ConfirmationStatus, _ n: Int = 0, fields: [String]? = nil) -> DealEvent {
    DealEvent(eventId: "c\(n)-\(status)", client: "C1", dealId: "D1", kind: .confirmation, occurredAt: t0.addingTimeInterval(Double(n)),
              confirmation: status, mismatchedFields: fields)
}

func settle(_ leg: String, _ status: SettlementStatus, _ n: Int = 0) -> DealEvent {
    DealEvent(eventId: "s\(n)-\(leg)-\(status)", client: "C1", dealId: "D1", kind: .settlement, occurredAt: t0.addingTimeInterval(Double(60 * n)),
              legId: leg, settlement: status)
}

func isApplied(_ t: DealTransition) -> Bool { if case .applied = t { return true } else { return false } }
func isIgnored(_ t: DealTransition) -> Bool { if case .ignored = t { return true } else { return false } }
func rejection(_ t: DealTransition) -> String? { if case .rejected(let why) = t { return why } else { return nil } }

@Suite("Deal lifecycle rules")
struct DealRulesTests {
    @Test("booking makes one leg per currency and tenor, counter amount rounded once, client side as direction")
    func booking() throws {
        let (spot, _) = run([booked()])
        let legs = try #require(spot).legs
        #expect(legs.map(\.id) == ["NEAR-CNY", "NEAR-RUB"])
        #expect(legs[0].amount == Money(minor: 100_000_000, currency: "CNY") && legs[0].direction == .bankPays)
        #expect(legs[1].amount == Money(minor: 1_123_450_000, currency: "RUB") && legs[1].direction == .clientPays)
        #expect(spot?.version == 1 && spot?.confirmation == .new && spot?.settlement == .pending)
        let (swap, _) = run([booked(terms(product: .swap, side: .sell, amount: "819600.00", rate: "12.6180"))])
        #expect(swap?.legs.map(\.id) == ["NEAR-CNY", "NEAR-RUB", "FAR-CNY", "FAR-RUB"])
        #expect(swap?.legs.map(\.direction) == [.clientPays, .bankPays, .bankPays, .clientPays])
        #expect(swap?.legs[3].amount == Money(minor: 926_148_000, currency: "RUB"))  // 819,600.00 × 11.3000
    }

    @Test("impossible bookings are rejected: zero amount, zero rate, swap without far leg, events before booking, amounts beyond any FX deal, one currency for itself")
    func badBookings() {
        #expect(rejection(run([booked(terms(amount: "0.00"))]).1[0]) != nil)
        #expect(rejection(run([booked(terms(rate: "0"))]).1[0]) != nil)
        var swap = terms(product: .swap)
        swap.farRate = nil
        #expect(rejection(run([booked(swap)]).1[0]) != nil)
        #expect(rejection(run([confirm(.awaiting)]).1[0]) == "deal D1 is not booked")
        // Beyond any FX deal: 10 trillion CNY and a cent, or a counter amount that large (1 trillion CNY at 11.2345).
        #expect(rejection(run([booked(terms(amount: "10000000000000.01"))]).1[0])
            == "invalid terms: amount 10,000,000,000,000.01 CNY is beyond any FX deal (at most 1000000000000000 minor units a payment)")
        #expect(rejection(run([booked(terms(amount: "1000000000000.00"))]).1[0])?.contains("11,234,500,000,000.00 RUB is beyond any FX deal") == true)
        #expect(rejection(run([booked(terms(amount: "10000000000000.00", rate: "1"))]).1[0]) == nil)  // exactly the limit
        // One currency for another of the same: two payments that would cancel out, under one leg id.
        var same = terms()
        same.quoteCurrency = same.baseCurrency
        #expect(rejection(run([booked(same)]).1[0]) == "invalid terms: an FX deal exchanges two currencies, got CNY for CNY")
    }

    @Test("a value date must be a real day as YYYY-MM-DD (it names a netting set and is a subject token); a swap's far leg settles after its near leg",
          arguments: ["2024-02-30", "2024.12.02", "2024-12-2", "2024-12-02 ", "2024-12-*", ""])
    func badValueDates(valueDate: String) {
        var spot = terms()
        spot.valueDate = valueDate
        #expect(rejection(run([booked(spot)]).1[0]) == "invalid terms: value date must be YYYY-MM-DD and exist, got \(valueDate.debugDescription)")
        var swap = terms(product: .swap)
        swap.farValueDate = valueDate
        #expect(rejection(run([booked(swap)]).1[0])?.contains("value date must be YYYY-MM-DD") == true)
        swap.farValueDate = swap.valueDate
        #expect(rejection(run([booked(swap)]).1[0]) == "invalid terms: the far leg (2024-12-02) must settle after the near leg (2024-12-02)")
        // An amendment is held to the same.
        let amended = DealEvent(eventId: "a", client: "C1", dealId: "D1", kind: .amended, occurredAt: t0, terms: spot)
        let (state, outcomes) = run([booked(), amended])
        #expect(rejection(outcomes[1])?.hasPrefix("invalid amended terms: value date") == true && state?.terms.valueDate == "2024-12-02")
    }

    @Test("confirmation moves", arguments: [
        ([ConfirmationStatus.awaiting, .confirmed], ConfirmationStatus.confirmed, "Подтверждено"),
        ([.awaiting, .mismatched], .mismatched, "Без подтверждения"),
        ([.awaiting, .mismatched, .awaiting, .confirmed], .confirmed, "Подтверждено"),
        ([.awaiting, .disputed], .disputed, "Без подтверждения"),
        ([.awaiting, .disputed, .awaiting], .awaiting, "Без подтверждения"),
        // The counterparty's confirmation before the back office's "sent for confirmation" (a phone deal confirmed at once).
        ([.confirmed], .confirmed, "Подтверждено"),
    ])
    func confirmationMoves(steps: [ConfirmationStatus], final: ConfirmationStatus, label: String) {
        let (state, outcomes) = run([booked()] + steps.enumerated().map { confirm($1, $0 + 1) })
        #expect(outcomes.allSatisfy(isApplied))
        #expect(state?.confirmation == final && state?.confirmation.dashboardLabel == label)
        #expect(state?.version == Int64(steps.count + 1))
    }

    @Test("invalid confirmation moves are rejected with the reason and change nothing", arguments: [
        [ConfirmationStatus.awaiting, .confirmed, .mismatched], [.awaiting, .confirmed, .disputed], [.awaiting, .cancelled],
        [.awaiting, .disputed, .confirmed], [.mismatched, .cancelled],
    ])
    func invalidConfirmation(steps: [ConfirmationStatus]) {
        let (state, outcomes) = run([booked()] + steps.enumerated().map { confirm($1, $0 + 1) })
        #expect(rejection(outcomes[outcomes.count - 1])?.hasPrefix("confirmation cannot move") == true)
        #expect(state?.version == Int64(outcomes.filter(isApplied).count))
    }

    @Test("a confirmation that arrives before the AWAITING it follows still ends CONFIRMED: the late AWAITING is absorbed")
    func confirmationOutOfOrder() {
        let (state, outcomes) = run([booked(), confirm(.confirmed, 2), confirm(.awaiting, 1), confirm(.new, 3)])
        #expect(outcomes.map(isApplied) == [true, true, false, false])
        #expect(outcomes[2...].allSatisfy(isIgnored))
        #expect(state?.confirmation == .confirmed && state?.confirmation.dashboardLabel == "Подтверждено" && state?.version == 2)
    }

    @Test("a mismatch or dispute that arrives before the AWAITING it follows is kept: the late AWAITING is absorbed, a later one resolves it",
          arguments: [ConfirmationStatus.mismatched, .disputed])
    func earlyMismatch(status: ConfirmationStatus) {
        let (state, outcomes) = run([booked(), confirm(status, 2, fields: status == .mismatched ? ["rate"] : nil), confirm(.awaiting, 1)])
        #expect(outcomes.map(isApplied) == [true, true, false] && isIgnored(outcomes[2]))
        #expect(state?.confirmation == status && state?.confirmationAt == t0.addingTimeInterval(2))
        #expect(state?.mismatchedFields == (status == .mismatched ? ["rate"] : nil))
        // Sent again for confirmation after the mismatch or dispute was reported: that resolves it.
        let (resolved, after) = run([confirm(.awaiting, 3), confirm(.confirmed, 4)], from: state)
        #expect(after.allSatisfy(isApplied) && resolved?.confirmation == .confirmed && resolved?.mismatchedFields == nil)
        // A snapshot from before `confirmationAt` existed keeps the old reading: AWAITING resolves.
        var old = state
        old?.confirmationAt = nil
        #expect(run([confirm(.awaiting, 1)], from: old).0?.confirmation == .awaiting)
    }

    @Test("a mismatch keeps the differing fields and a reason for the dashboard")
    func mismatch() {
        let (state, _) = run([booked(), confirm(.awaiting, 1), confirm(.mismatched, 2, fields: ["rate", "valueDate"])])
        #expect(state?.mismatchedFields == ["rate", "valueDate"])
        #expect(state?.confirmationReason == "confirmation details differ")
        // The dashboard's words for it (the terminal's Confirmation column).
        #expect(state?.confirmation.dashboardDetail == "расхождение")
        #expect(state?.mismatchedFields?.map(ConfirmationStatus.dashboardFieldName) == ["курс", "дата валютирования"])
    }

    @Test("settlement moves forward only; late and duplicate updates are absorbed")
    func settlementForward() {
        let events = [booked(), settle("NEAR-CNY", .instructed, 1), settle("NEAR-CNY", .sent, 2), settle("NEAR-CNY", .settled, 3),
                      settle("NEAR-CNY", .sent, 4), settle("NEAR-CNY", .settled, 5), settle("NEAR-CNY", .instructed, 6)]
        let (state, outcomes) = run(events)
        #expect(outcomes.map(isApplied) == [true, true, true, true, false, false, false])
        #expect(outcomes[4...].allSatisfy(isIgnored))
        #expect(state?.legs[0].status == .settled)
        #expect(state?.legs[0].statusAt == t0.addingTimeInterval(180))
        #expect(state?.settlement == .partiallySettled && state?.settlement.dashboardLabel == "Частично зачислено")
        #expect(state?.version == 4)
    }

    @Test("out-of-order arrival still converges: settled before sent")
    func outOfOrder() {
        let (state, outcomes) = run([booked(), settle("NEAR-RUB", .settled, 3), settle("NEAR-RUB", .sent, 2), settle("NEAR-RUB", .instructed, 1)])
        #expect(outcomes.map(isApplied) == [true, true, false, false])
        #expect(state?.legs[1].status == .settled)
    }

    @Test("a failed payment is re-instructed and can still settle; the deal shows the failure meanwhile")
    func failure() {
        let (failed, _) = run([booked(), settle("NEAR-CNY", .instructed, 1), settle("NEAR-CNY", .sent, 2), settle("NEAR-CNY", .failed, 3)])
        #expect(failed?.settlement == .failed && failed?.legs[0].reason == "payment not received")
        let (state, outcomes) = run([settle("NEAR-CNY", .instructed, 4), settle("NEAR-CNY", .sent, 5), settle("NEAR-CNY", .settled, 6),
                                     settle("NEAR-RUB", .sent, 7), settle("NEAR-RUB", .settled, 8)], from: failed)
        #expect(outcomes.allSatisfy(isApplied))
        #expect(state?.settlement == .settled && state?.settlement.dashboardLabel == "Зачислено на счёт Клиента")
        #expect(state?.settledAt == t0.addingTimeInterval(480))
    }

    @Test("a SENT arriving after the FAILED of that payment changes nothing: the deal still shows the failure")
    func lateSentAfterFailure() {
        let (state, outcomes) = run([booked(), settle("NEAR-CNY", .instructed, 1), settle("NEAR-CNY", .failed, 3), settle("NEAR-CNY", .sent, 2)])
        #expect(outcomes.map(isApplied) == [true, true, true, false] && isIgnored(outcomes[3]))
        #expect(state?.legs[0].status == .failed && state?.settlement == .failed)
        #expect(state?.settlement.dashboardLabel == DealSettlementStatus.failed.dashboardLabel)
    }

    @Test("invalid settlement moves are rejected", arguments: [
        ("NEAR-CNY", SettlementStatus.failed, "a payment not yet instructed cannot fail"),
        ("FAR-CNY", .sent, "unknown leg FAR-CNY"),
    ])
    func invalidSettlement(leg: String, status: SettlementStatus, reason: String) {
        let (_, outcomes) = run([booked(), settle(leg, status, 1)])
        #expect(rejection(outcomes[1]) == reason)
    }

    @Test("a leg without settlement requisites cannot be instructed")
    func requisitesNeeded() {
        var t = terms()
        t.requisites = []
        let (_, outcomes) = run([booked(t), settle("NEAR-CNY", .instructed, 1)])
        #expect(rejection(outcomes[1]) == "no settlement requisites for CNY")
    }

    @Test("cancellation before release cancels every leg; after release it is refused")
    func cancellation() {
        let cancel = DealEvent(eventId: "x", client: "C1", dealId: "D1", kind: .cancelled, occurredAt: t0, reason: "client request")
        let (cancelled, outcomes) = run([booked(), settle("NEAR-CNY", .instructed, 1), cancel, confirm(.awaiting, 2)])
        #expect(outcomes.map(isApplied) == [true, true, true, false])
        #expect(cancelled?.confirmation == .cancelled && cancelled?.settlement == .cancelled)
        #expect(cancelled?.confirmationReason == "client request")
        let (sent, late) = run([booked(), settle("NEAR-CNY", .sent, 1), cancel])
        #expect(rejection(late[2])?.contains("too late to cancel") == true)
        #expect(sent?.confirmation == .new)
    }

    @Test("an amendment sends a confirmed deal back to AWAITING and recomputes legs; refused after release")
    func amendment() {
        let amended = DealEvent(eventId: "a", client: "C1", dealId: "D1", kind: .amended, occurredAt: t0, terms: terms(amount: "2000000.00"))
        let (state, outcomes) = run([booked(), confirm(.awaiting, 1), confirm(.confirmed, 2), amended])
        #expect(outcomes.allSatisfy(isApplied))
        #expect(state?.confirmation == .awaiting && state?.confirmationReason == "re-confirmation after amendment")
        #expect(state?.legs[1].amount == Money(minor: 2_246_900_000, currency: "RUB"))
        let (_, late) = run([booked(), settle("NEAR-RUB", .sent, 1), amended])
        #expect(rejection(late[2])?.contains("amounts are fixed after release") == true)
        // The same amendment again (a retry under a new event id) is absorbed: the deal stays as re-confirmed since.
        let (again, repeated) = run([amended, confirm(.confirmed, 3), amended], from: state)
        #expect(repeated.map(isApplied) == [false, true, false] && isIgnored(repeated[0]) && isIgnored(repeated[2]))
        #expect(again?.confirmation == .confirmed && again?.version == (state?.version ?? 0) + 1)
        // …also after the client changed a currency's settlement details: the retry does not put the old ones back.
        let cny = SettlementRequisites(currency: "CNY", account: "40807156700000009999", bic: "ICBKCNBJ")
        let change = DealEvent(eventId: "r", client: "C1", dealId: "D1", kind: .requisitesChanged, occurredAt: t0, requisites: [cny])
        let (changed, retried) = run([change, amended], from: again)
        #expect(isApplied(retried[0]) && isIgnored(retried[1]))
        #expect(changed?.terms.requisites.contains(cny) == true && changed?.confirmation == .confirmed)
    }

    @Test("requisites change before release re-instructs; after release it is refused")
    func requisitesChange() {
        let new = SettlementRequisites(currency: "CNY", account: "40807156700000009999", bic: "ICBKCNBJ")
        let change = DealEvent(eventId: "r", client: "C1", dealId: "D1", kind: .requisitesChanged, occurredAt: t0.addingTimeInterval(30),
                               requisites: [new])
        let (state, outcomes) = run([booked(), settle("NEAR-CNY", .instructed, 0), change, change])
        #expect(outcomes.map(isApplied) == [true, true, true, false])
        #expect(state?.terms.requisites.first { $0.currency == "CNY" } == new)
        #expect(state?.legs[0].reason == "re-instructed after requisites change")
        let (_, late) = run([booked(), settle("NEAR-CNY", .sent, 1), change])
        #expect(rejection(late[2])?.contains("requisites are fixed after release") == true)
        let (_, done) = run([booked(), settle("NEAR-CNY", .instructed, 0), settle("NEAR-CNY", .sent, 1), settle("NEAR-CNY", .settled, 2), change])
        #expect(rejection(done[4]) == "leg NEAR-CNY is already SETTLED; requisites are fixed after release")
    }

    @Test("a payment that failed (returned for a wrong account) gets new details and is instructed again")
    func requisitesAfterFailure() {
        let new = SettlementRequisites(currency: "CNY", account: "40807156700000009999", bic: "ICBKCNBJ")
        let change = DealEvent(eventId: "r", client: "C1", dealId: "D1", kind: .requisitesChanged, occurredAt: t0.addingTimeInterval(600),
                               requisites: [new])
        let (state, outcomes) = run([booked(), settle("NEAR-CNY", .instructed, 0), settle("NEAR-CNY", .sent, 1), settle("NEAR-CNY", .failed, 2), change])
        #expect(outcomes.allSatisfy(isApplied))
        #expect(state?.legs[0].status == .instructed && state?.legs[0].reason == "re-instructed after requisites change")
        #expect(state?.legs[0].statusAt == t0.addingTimeInterval(600) && state?.settlement == .inProgress)
        #expect(state?.terms.requisites.first { $0.currency == "CNY" } == new)
    }

    @Test("a swap's far leg gets new details after its near leg settled; not while a payment in that currency is on its way")
    func swapFarLegRequisites() {
        let rub = SettlementRequisites(currency: "RUB", account: "40702810938000099999", bic: "SABRRUMM")
        let change = DealEvent(eventId: "r", client: "C1", dealId: "D1", kind: .requisitesChanged, occurredAt: t0, requisites: [rub])
        let near = [settle("NEAR-RUB", .instructed, 0), settle("NEAR-RUB", .sent, 1)]
        let (_, inFlight) = run([booked(terms(product: .swap))] + near + [change])
        #expect(rejection(inFlight[3]) == "leg NEAR-RUB is already SENT; requisites are fixed after release")
        let (state, outcomes) = run([booked(terms(product: .swap))] + near + [settle("NEAR-RUB", .settled, 2), change])
        #expect(outcomes.allSatisfy(isApplied) && state?.terms.requisites.contains(rub) == true)
        #expect(state?.legs.first { $0.id == "FAR-RUB" }?.status == .pending)
    }

    @Test("an amendment (which repeats the booked settlement details) keeps the details the client changed since")
    func amendmentKeepsChangedRequisites() throws {
        let cny = SettlementRequisites(currency: "CNY", account: "40807156700000009999", bic: "ICBKCNBJ")
        let change = DealEvent(eventId: "r", client: "C1", dealId: "D1", kind: .requisitesChanged, occurredAt: t0, requisites: [cny])
        let amended = DealEvent(eventId: "a", client: "C1", dealId: "D1", kind: .amended, occurredAt: t0, terms: terms(rate: "11.3000"))
        let (state, outcomes) = run([booked(), change, amended])
        #expect(outcomes.allSatisfy(isApplied))
        #expect(state?.terms.rate == (try Rate(parsing: "11.3000")) && state?.terms.requisites.first { $0.currency == "CNY" } == cny)
        // An amendment to another pair brings the details of the currency new to the deal, keeps the client's for the
        // currency it still has, and drops those of the currency it no longer has.
        let rub = SettlementRequisites(currency: "RUB", account: "40702810938000099999", bic: "SABRRUMM")
        let rubChange = DealEvent(eventId: "r2", client: "C1", dealId: "D1", kind: .requisitesChanged, occurredAt: t0, requisites: [rub])
        var usd = terms(base: "USD", rate: "81.4567")
        usd.amount = try Money(parsing: "1000.00", currency: "USD")
        let (repaired, _) = run([booked(), change, rubChange,
                                 DealEvent(eventId: "a2", client: "C1", dealId: "D1", kind: .amended, occurredAt: t0, terms: usd)])
        #expect(repaired?.terms.requisites.map(\.currency.rawValue).sorted() == ["RUB", "USD"])
        #expect(repaired?.terms.requisites.first { $0.currency == "RUB" } == rub)
        #expect(repaired?.terms.requisites.first { $0.currency == "USD" } == usd.requisites.first { $0.currency == "USD" })
        // The same details again, in another order than booked, change nothing (and re-instruct nothing).
        let again = DealEvent(eventId: "r3", client: "C1", dealId: "D1", kind: .requisitesChanged, occurredAt: t0,
                              requisites: repaired?.terms.requisites.reversed() ?? [])
        #expect(isIgnored(run([again], from: repaired).1[0]))
        // A change for CNY asked before the amendment to USDRUB and applied after it: the deal has no CNY leg any more.
        #expect(rejection(run([change], from: repaired).1[0]) == "deal has no CNY leg")
    }

    @Test("a redelivered event (same or lower sequence) is absorbed")
    func redelivery() throws {
        let (state, _) = run([booked(), confirm(.awaiting, 1)])
        let again = DealRules.apply(confirm(.confirmed, 2), sequence: 2, to: state)
        #expect(isIgnored(again))
    }
}
