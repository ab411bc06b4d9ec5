import Bus
import Foundation
import Logging
import Messages
import ServiceKit
import Testing
import TestSupport
import Wire

@testable import DealStatus
@testable import Netting

let valueDate = "2024-12-02"
let tradeTime = Date(timeIntervalSince1970: 1_732_870_000)

/// A deal of the public example: `amount` of `base` against RUB at `rate`, settling on `valueDate`.
func deal(_ id: String, _ side: DealSide, _ amount: String, _ base: CurrencyCode, at rate: String, quote: CurrencyCode = "RUB",
          swapNear: String? = nil) -> DealTerms {
    let requisites = [SettlementRequisites(currency: base, account: "ACC-\(base)", bic: "BANKBIC1"),
                      SettlementRequisites(currency: quote, account: "ACC-\(quote)", bic: "BANKBIC1")]
    if let swapNear {
        // A swap whose far leg is on the set's value date: the client does the opposite near, on an earlier date.
        return DealTerms(client: "C1", dealId: id, tradeTime: tradeTime, channel: .fixAPI, product: .swap, side: side.opposite,
                         baseCurrency: base, quoteCurrency: quote, amount: try! Money(parsing: amount, currency: base),
                         rate: try! Rate(parsing: swapNear), valueDate: "2024-11-28", farRate: try! Rate(parsing: rate),
                         farValueDate: valueDate, requisites: requisites)
    }
    return DealTerms(client: "C1", dealId: id, tradeTime: tradeTime, channel: .web, product: .spot, side: side, baseCurrency: base,
                     quoteCurrency: quote, amount: try! Money(parsing: amount, currency: base), rate: try! Rate(parsing: rate),
                     valueDate: valueDate, requisites: requisites)
}

/// D1–D5 of the issue and DOMAIN.md §3.
let example = [
    deal("D1", .buy, "1000000.00", "CNY", at: "11.2345"),
    deal("D2", .sell, "400000.00", "CNY", at: "11.2500"),
    deal("D3", .buy, "50000.00", "USD", at: "81.4567"),
    deal("D4", .sell, "120000.00", "USD", at: "81.9012", swapNear: "81.5000"),
    deal("D5", .buy, "250000.50", "CNY", at: "11.23456"),
]

/// The confirmed status DealRules gives a booked and confirmed deal.
func confirmed(_ terms: DealTerms) -> DealStatus {
    guard case .applied(let booked) = DealRules.apply(DealEvent(eventId: "b", client: "C1", dealId: terms.dealId, kind: .booked,
                                                                occurredAt: tradeTime, terms: terms), sequence: 1, to: nil),
          case .applied(let awaiting) = DealRules.apply(DealEvent(eventId: "a", client: "C1", dealId: terms.dealId, kind: .confirmation,
                                                                  occurredAt: tradeTime, confirmation: .awaiting), sequence: 2, to: booked),
          case .applied(let done) = DealRules.apply(DealEvent(eventId: "c", client: "C1", dealId: terms.dealId, kind: .confirmation,
                                                              occurredAt: tradeTime, confirmation: .confirmed), sequence: 3, to: awaiting)
    else { fatalError("example deal did not confirm") }
    return done
}

func amount(_ set: NettingSet, _ currency: CurrencyCode) -> String? { set.net(in: currency).map { $0.net.decimalString } }
func amount(_ summary: NettingSummary, _ currency: CurrencyCode) -> String? { summary.net(in: currency).map { $0.net.decimalString } }

@Suite("Netting rules")
struct NettingRulesTests {
    func build(_ terms: [DealTerms]) -> NettingSet {
        var set = NettingSet(client: "C1", valueDate: valueDate, updatedAt: tradeTime)
        for t in terms { set = NettingRules.apply(confirmed(t), to: set, at: tradeTime) ?? set }
        return set
    }

    @Test("the public example: CNY +850,000.50, USD −70,000.00, RUB −3,787,836.62; 10 gross payments become 3")
    func publicExample() throws {
        let set = build(example)
        #expect(amount(set, "CNY") == "850000.50")
        #expect(amount(set, "USD") == "-70000.00")
        #expect(amount(set, "RUB") == "-3787836.62")
        #expect(set.net(in: "CNY")?.direction == .bankPays && set.net(in: "RUB")?.direction == .clientPays)
        #expect(set.grossPayments == 10 && set.netPayments == 3)
        #expect(set.deals.map(\.dealId) == ["D1", "D2", "D3", "D4", "D5"] && set.deals.allSatisfy(\.included))
        // D5's counter amount was rounded once, half-up: 2,808,645.61728 → 2,808,645.62.
        #expect(set.deals[4].legs.first { $0.amount.currency == "RUB" }?.amount.decimalString == "2808645.62")
        // D4 is a swap: only its far leg settles on this date.
        #expect(set.deals[3].legs.map(\.legId) == ["FAR-USD", "FAR-RUB"])
    }

    @Test("a batch of statuses moves the set by one version, to what applying them one by one gives; a batch that changes nothing makes none")
    func batch() throws {
        let one = build(example)
        let empty = NettingSet(client: "C1", valueDate: valueDate, updatedAt: tradeTime)
        let batched = try #require(NettingRules.apply(example.map(confirmed), to: empty, at: tradeTime))
        #expect(batched.version == 1 && one.version == 5)
        #expect(batched.deals == one.deals && batched.net == one.net && batched.netPayments == 3)
        #expect(NettingRules.apply(example.map(confirmed), to: batched, at: tradeTime) == nil)  // repeats change nothing
    }

    @Test("excluding D3 flips RUB to +284,998.38 (the bank pays) and D3 settles gross")
    func excludeD3() throws {
        let set = build(example)
        let out = try #require(try NettingRules.exclude("D3", from: set, expectedVersion: set.version, at: tradeTime))
        #expect(amount(out, "USD") == "-120000.00")
        #expect(amount(out, "RUB") == "284998.38")
        #expect(out.net(in: "RUB")?.direction == .bankPays)
        #expect(amount(out, "CNY") == "850000.50")
        #expect(out.grossPayments == 8 && out.version == set.version + 1)
        let d3 = try #require(out.deals.first { $0.dealId == "D3" })
        #expect(!d3.included && d3.excludedByClient)
        #expect(try NettingRules.exclude("D3", from: out, expectedVersion: nil, at: tradeTime) == nil)  // already out: no new version
        let back = try #require(try NettingRules.include("D3", in: out, expectedVersion: out.version, at: tradeTime))
        #expect(back.net == set.net)
    }

    @Test("JPY and KWD net in their own minor units")
    func otherMinorUnits() throws {
        let set = build([
            deal("J1", .buy, "1000000", "JPY", at: "0.5123", quote: "RUB"),
            deal("J2", .sell, "250000", "JPY", at: "0.5130", quote: "RUB"),
            deal("K1", .buy, "1000.125", "KWD", at: "3.2501", quote: "USD"),
        ])
        #expect(amount(set, "JPY") == "750000")
        #expect(amount(set, "KWD") == "1000.125")
        // 1,000,000 × 0.5123 = 512,300.00; 250,000 × 0.5130 = 128,250.00; the client pays the difference.
        #expect(amount(set, "RUB") == "-384050.00")
        // 1,000.125 × 3.2501 = 3,250.5062625 → 3,250.51 USD, half-up, once.
        #expect(amount(set, "USD") == "-3250.51")
    }

    @Test("only confirmed deals with unreleased legs are netted; each out-of-set deal says why")
    func eligibility() throws {
        var set = build(example)
        var awaiting = confirmed(deal("D6", .buy, "10.00", "CNY", at: "11.0000"))
        awaiting.confirmation = .awaiting
        set = try #require(NettingRules.apply(awaiting, to: set, at: tradeTime))
        var sent = confirmed(deal("D7", .buy, "10.00", "CNY", at: "11.0000"))
        sent.legs[0].status = .sent
        set = try #require(NettingRules.apply(sent, to: set, at: tradeTime))
        #expect(set.deals.first { $0.dealId == "D6" }?.reason == "not confirmed (AWAITING)")
        #expect(set.deals.first { $0.dealId == "D7" }?.reason == "leg NEAR-CNY is SENT")
        #expect(amount(set, "CNY") == "850000.50")
        #expect(throws: ErrorBody(code: 422, message: "deal D6 cannot be netted: not confirmed (AWAITING)", field: "dealId")) {
            try NettingRules.include("D6", in: set, expectedVersion: nil, at: tradeTime)
        }
        // A stale status (older version) changes nothing.
        #expect(NettingRules.apply(confirmed(example[0]), to: set, at: tradeTime) == nil)
    }

    @Test("a busy set can be closed at the version the client saw while only deals outside the net changed; a change to the net or the deals in it refuses it")
    func closeWhileBusy() throws {
        let seen = build(example)
        // Since then: a deal awaiting confirmation joins the set, outside the net.
        var awaiting = confirmed(deal("D6", .buy, "10.00", "CNY", at: "11.0000"))
        awaiting.confirmation = .awaiting
        let busier = try #require(NettingRules.apply(awaiting, to: seen, at: tradeTime))
        #expect(busier.version == seen.version + 1 && busier.netVersion == seen.netVersion)
        let closed = try NettingRules.close(busier, expectedVersion: seen.version, by: "treasurer", at: tradeTime)
        #expect(closed.state == .closed && closed.agreedNet == seen.net)
        // Since then: that deal is confirmed and joins the net. The version seen no longer describes what is agreed.
        var confirmedNow = confirmed(deal("D6", .buy, "10.00", "CNY", at: "11.0000"))
        confirmedNow.version = awaiting.version + 1
        let joined = try #require(NettingRules.apply(confirmedNow, to: busier, at: tradeTime))
        #expect(joined.netVersion == joined.version && amount(joined, "CNY") == "850010.50")
        #expect(throws: ErrorBody(code: 400, message: "expectedVersion must be a version of the set (0 or more), got -1", field: "expectedVersion")) {
            try NettingRules.close(joined, expectedVersion: -1, by: "treasurer", at: tradeTime)
        }
        #expect(throws: ErrorBody(code: 409, message: "the netting set for \(valueDate) changed since version \(seen.version): its net or the deals in it changed at version \(joined.version); preview again")) {
            try NettingRules.close(joined, expectedVersion: seen.version, by: "treasurer", at: tradeTime)
        }
        #expect(throws: ErrorBody(code: 409, message: "the netting set for \(valueDate) is at version \(joined.version), not \(joined.version + 1); preview again")) {
            try NettingRules.close(joined, expectedVersion: joined.version + 1, by: "treasurer", at: tradeTime)
        }
        #expect(try NettingRules.close(joined, expectedVersion: joined.version, by: "treasurer", at: tradeTime).state == .closed)
    }

    @Test("a closed set keeps its agreed net; a deal amended after the close leaves the net, with the reason, and settles gross")
    func closedSet() throws {
        let set = build(example)
        #expect(throws: ErrorBody.self) { try NettingRules.close(set, expectedVersion: set.version - 1, by: "treasurer", at: tradeTime) }
        let closed = try NettingRules.close(set, expectedVersion: set.version, by: "treasurer", at: tradeTime)
        #expect(closed.state == .closed && closed.closedBy == "treasurer" && closed.net == set.net && closed.agreedNet == set.net)
        #expect(throws: ErrorBody.self) { try NettingRules.exclude("D1", from: closed, expectedVersion: nil, at: tradeTime) }
        var amended = confirmed(example[0])
        amended.version += 1
        amended.confirmation = .awaiting
        let after = try #require(NettingRules.apply(amended, to: closed, at: tradeTime))
        #expect(after.leftAfterClose?.map(\.dealId) == ["D1"] && after.leftAfterClose?.first?.reason == "no longer confirmed (AWAITING)")
        #expect(after.deals.first { $0.dealId == "D1" }?.included == false)
        // D1 (the bank pays 1,000,000.00 CNY, the client 11,234,500.00 RUB) now settles gross, so it is out of the net,
        // or it would be paid twice; the agreed net stays on record.
        #expect(amount(after, "CNY") == "-149999.50" && amount(after, "USD") == "-70000.00" && amount(after, "RUB") == "7446663.38")
        #expect(after.grossPayments == 8 && after.netPayments == 3)
        #expect(after.agreedNet == set.net)
        // A set closed before the agreed net was recorded apart: its net then was the agreed one, and stays on record.
        var older = closed
        older.agreedNet = nil
        #expect(try #require(NettingRules.apply(amended, to: older, at: tradeTime)).agreedNet == set.net)
        var released = confirmed(example[1])
        released.version += 1
        released.legs[0].status = .sent  // the net payment going out is not a departure
        #expect(NettingRules.apply(released, to: after, at: tradeTime) == nil)
        // New settlement details for D5's RUB: its payment no longer goes to the agreed line's account.
        var moved = confirmed(example[4])
        moved.version += 1
        moved.terms.requisites = moved.terms.requisites.map { $0.currency == "RUB" ? SettlementRequisites(currency: "RUB", account: "ACC-NEW", bic: "BANKBIC1") : $0 }
        let left = try #require(NettingRules.apply(moved, to: after, at: tradeTime))
        #expect(left.leftAfterClose?.last?.dealId == "D5" && left.leftAfterClose?.last?.reason == "settlement details changed after close")
    }

    /// `status` one version on, amended to settle on `date` (rebuilt by deal-status's rules, so its legs move too).
    func amended(_ status: DealStatus, to date: String, rate: String? = nil) throws -> DealStatus {
        var terms = status.terms
        terms.valueDate = date
        if let rate { terms.rate = try Rate(parsing: rate) }
        guard case .applied(let next) = DealRules.apply(DealEvent(eventId: "amend-\(date)-\(rate ?? "")", client: "C1", dealId: terms.dealId,
                                                                  kind: .amended, occurredAt: tradeTime, terms: terms),
                                                        sequence: status.lastEventSequence + 1, to: status)
        else { throw ErrorBody(code: 500, message: "amendment refused") }
        return next
    }

    @Test("a deal whose payment went out in a closed set's net stays in it when it gets new settlement details: a swap's far leg, or its other currency")
    func releasedLegsKeepTheDealInTheNet() throws {
        // D4's far leg is on the set's date; here it is the near leg that matters: a swap whose near leg is on the date.
        let swap = deal("S1", .buy, "100000.00", "USD", at: "81.5000")
        var terms = swap
        terms.product = .swap
        terms.farRate = try Rate(parsing: "82.0000")
        terms.farValueDate = "2025-01-09"
        let status = confirmed(terms)
        let set = try #require(NettingRules.apply(status, to: NettingSet(client: "C1", valueDate: valueDate, updatedAt: tradeTime), at: tradeTime))
        let closed = try NettingRules.close(set, expectedVersion: set.version, by: "treasurer", at: tradeTime)
        // The near payments go out as part of the net and settle; then the client gives new USD details for the far leg.
        var paid = status
        for i in paid.legs.indices where paid.legs[i].tenor == .near { paid.legs[i].status = .settled }
        paid.version += 1
        let settled = NettingRules.apply(paid, to: closed, at: tradeTime) ?? closed
        var moved = paid
        moved.version += 1
        moved.terms.requisites = moved.terms.requisites.map { $0.currency == "USD" ? SettlementRequisites(currency: "USD", account: "ACC-USD-2", bic: "BANKBIC1") : $0 }
        #expect(NettingRules.apply(moved, to: settled, at: tradeTime) == nil)  // every payment in this set went out already
        #expect(settled.leftAfterClose == nil && settled.net == closed.net)
        // D1 of the example: its CNY payment goes out with the net; then the client gives new RUB details (its RUB
        // leg still instructed). Paying the deal gross now would pay its CNY twice.
        let public5 = build(example)
        let agreed = try NettingRules.close(public5, expectedVersion: public5.version, by: "treasurer", at: tradeTime)
        var sent = confirmed(example[0])
        sent.version += 1
        sent.legs[0].status = .sent
        let going = NettingRules.apply(sent, to: agreed, at: tradeTime) ?? agreed
        var newRub = sent
        newRub.version += 1
        newRub.terms.requisites = newRub.terms.requisites.map { $0.currency == "RUB" ? SettlementRequisites(currency: "RUB", account: "ACC-NEW", bic: "BANKBIC1") : $0 }
        let after = try #require(NettingRules.apply(newRub, to: going, at: tradeTime))
        // D1 stays in the net with its CNY; its RUB payment (the client pays 11,234,500.00) leaves it and goes gross to
        // the new account: RUB −3,787,836.62 + 11,234,500.00 = +7,446,663.38, CNY unchanged.
        let summary = NettingSummary(after)
        #expect(summary.dealsIn.contains("D1") && amount(after, "CNY") == "850000.50" && amount(after, "RUB") == "7446663.38")
        #expect(after.grossPayments == 9 && after.agreedNet == agreed.net)
        #expect(after.leftAfterClose?.map(\.reason) == ["NEAR-RUB: settlement details changed after close"])
        let gross = try #require(summary.dealsOut.first { $0.dealId == "D1" })
        #expect(gross.grossPayments?.map(\.legId) == ["NEAR-RUB"] && gross.grossPayments?.first?.account == "ACC-NEW")
        #expect(gross.grossPayments?.first?.amount.decimalString == "11234500.00")
        // The same details again change nothing.
        var again = newRub
        again.version += 1
        #expect(NettingRules.apply(again, to: after, at: tradeTime) == nil)
    }

    @Test("a deal amended to another date leaves the set, and an older status of it arriving late does not bring it back")
    func movedDealStaysOut() throws {
        let set = build(example)
        let d3 = confirmed(example[2])
        let moved = try amended(d3, to: "2024-12-05")
        let after = try #require(NettingRules.apply(moved, to: set, at: tradeTime))
        #expect(!NettingSummary(after).dealsIn.contains("D3") && !NettingSummary(after).dealsOut.map(\.dealId).contains("D3"))
        #expect(amount(after, "USD") == "-120000.00" && amount(after, "RUB") == "284998.38")  // the exclusion's figures: D3 is gone
        // The confirmed version from before the move, redelivered (or applied late by another replica), changes nothing.
        #expect(NettingRules.apply(d3, to: after, at: tradeTime) == nil)
        // Include and exclude do not see it either.
        #expect(throws: ErrorBody(code: ErrorBody.notFound, message: "deal D3 has no payment on \(valueDate)", field: "dealId")) {
            try NettingRules.exclude("D3", from: after, expectedVersion: nil, at: tradeTime)
        }
        // Statuses of it on its new date do not touch this set.
        var settledElsewhere = moved
        settledElsewhere.version += 1
        #expect(NettingRules.apply(settledElsewhere, to: after, at: tradeTime) == nil)
    }

    @Test("the client's exclusion holds when a deal moves to another date and comes back")
    func exclusionSurvivesMove() throws {
        let set = build(example)
        let excluded = try #require(try NettingRules.exclude("D3", from: set, expectedVersion: nil, at: tradeTime))
        let away = try amended(confirmed(example[2]), to: "2024-12-05")
        let gone = try #require(NettingRules.apply(away, to: excluded, at: tradeTime))
        var back = try amended(away, to: valueDate)
        back.confirmation = .confirmed  // reconfirmed on its old date
        back.version += 1
        let returned = try #require(NettingRules.apply(back, to: gone, at: tradeTime))
        let d3 = try #require(returned.deals.first { $0.dealId == "D3" })
        #expect(d3.excludedByClient && !d3.included && d3.movedAway != true)
        #expect(amount(returned, "USD") == "-120000.00")
    }

    @Test("after the close, deals outside the net follow their deal: an excluded deal amended shows its new gross payments, one confirmed late or booked late shows its payments, a cancelled one none")
    func closedSetFollowsDealsOutside() throws {
        // D3 excluded by the client; D2 still awaiting at the close.
        var awaitingD2 = confirmed(example[1])
        awaitingD2.confirmation = .awaiting
        var set = NettingSet(client: "C1", valueDate: valueDate, updatedAt: tradeTime)
        for status in [confirmed(example[0]), awaitingD2, confirmed(example[2]), confirmed(example[3]), confirmed(example[4])] {
            set = NettingRules.apply(status, to: set, at: tradeTime) ?? set
        }
        set = try #require(try NettingRules.exclude("D3", from: set, expectedVersion: nil, at: tradeTime))
        let closed = try NettingRules.close(set, expectedVersion: set.version, by: "treasurer", at: tradeTime)
        // D3 amended to 82.0000 after the close: its gross RUB payment is 50,000.00 × 82 = 4,100,000.00 (was 4,072,835.00).
        let d3 = try amended(confirmed(example[2]), to: valueDate, rate: "82.0000")
        var after = try #require(NettingRules.apply(d3, to: closed, at: tradeTime))
        let out = { (id: String) in NettingSummary(after).dealsOut.first { $0.dealId == id } }
        #expect(out("D3")?.grossPayments?.map(\.amount.decimalString).sorted() == ["4100000.00", "50000.00"])
        #expect(out("D3")?.excludedByClient == true && out("D3")?.reason == "not confirmed (AWAITING)")  // an amendment awaits confirmation
        #expect(after.net == closed.net && after.leftAfterClose == nil)  // the agreed net is untouched
        // D2 confirmed after the close: not netted, its payments listed as gross, with why.
        var lateD2 = confirmed(example[1])
        lateD2.version = awaitingD2.version + 1
        after = try #require(NettingRules.apply(lateD2, to: after, at: tradeTime))
        #expect(out("D2")?.reason == NettingRules.outsideAgreedNet && out("D2")?.grossPayments?.count == 2)
        #expect(after.net == closed.net && !NettingSummary(after).dealsIn.contains("D2"))
        // D6 booked after the close.
        let d6 = confirmed(deal("D6", .buy, "1000.00", "USD", at: "81.0000"))
        after = try #require(NettingRules.apply(d6, to: after, at: tradeTime))
        #expect(out("D6")?.reason == "booked after the set was closed; settles gross" && out("D6")?.grossPayments?.count == 2)
        // D2 cancelled: it pays nothing.
        var cancelledD2 = lateD2
        cancelledD2.version += 1
        cancelledD2.confirmation = .cancelled
        after = try #require(NettingRules.apply(cancelledD2, to: after, at: tradeTime))
        #expect(out("D2")?.reason == "cancelled" && out("D2")?.grossPayments == [])
        #expect(after.net == closed.net)
    }
}
