import Foundation
import Messages

/// Payment netting per client and value date (DOMAIN.md §3): which deals are in, and the net per currency and account.
///
/// Counter amounts arrive already rounded once per leg (DealRules); netting only adds them, so it never rounds.
enum NettingRules {
    /// The deal as the set for `valueDate` sees it; nil when none of its legs settles on that date. A cancelled deal
    /// stays listed, with its reason, but pays nothing.
    static func entry(for status: DealStatus, valueDate: String, excludedByClient: Bool) -> NettingDeal? {
        let legs = status.legs.filter { $0.valueDate == valueDate }
        guard !legs.isEmpty else { return nil }
        let nettingLegs = status.confirmation == .cancelled ? [] : legs.map { leg in
            NettingLeg(legId: leg.id, amount: leg.amount, direction: leg.direction,
                       account: status.terms.requisites.first { $0.currency == leg.amount.currency }?.account)
        }
        return NettingDeal(dealId: status.terms.dealId, dealVersion: status.version, excludedByClient: excludedByClient,
                           reason: ineligibility(status, legs: legs), legs: nettingLegs)
    }

    /// Why a deal cannot be netted (nil when it can): only CONFIRMED deals whose legs are not yet released.
    static func ineligibility(_ status: DealStatus, legs: [PaymentLeg]) -> String? {
        if status.confirmation == .cancelled { return "cancelled" }
        if status.confirmation != .confirmed { return "not confirmed (\(status.confirmation.rawValue))" }
        if let released = legs.first(where: { $0.status != .pending && $0.status != .instructed }) {
            return "leg \(released.id) is \(released.status.rawValue)"
        }
        return nil
    }

    /// The reason given to a deal outside the net of a closed set that has none of its own.
    static let outsideAgreedNet = "not in the net agreed at the close; settles gross"

    /// The set after a new status of one of its deals; nil when nothing the client sees changes.
    ///
    /// A deal that no longer pays on the set's date is kept as `movedAway` at that version, never removed: a status
    /// older than it (a redelivery, or one another replica is still applying) is then recognised as stale, rather than
    /// bringing the deal back with its old payments while it is netted on its new date too.
    static func apply(_ status: DealStatus, to set: NettingSet, at now: Date) -> NettingSet? {
        let dealId = status.terms.dealId
        let index = set.deals.firstIndex { $0.dealId == dealId }
        let old = index.map { set.deals[$0] }
        if let old, old.dealVersion >= status.version { return nil }  // a stale or repeated status
        let excluded = old?.excludedByClient ?? false
        let found = entry(for: status, valueDate: set.valueDate, excludedByClient: excluded)
        if old?.movedAway == true && found == nil { return nil }  // still on another date
        guard var entry = found ?? old.map({ _ in NettingDeal.movedAway(dealId, dealVersion: status.version, excludedByClient: excluded) })
        else { return nil }  // never on this date
        var next = set
        switch (set.state, old) {
        case (.open, _), (.closed, nil):
            if set.state == .closed {
                entry.reason = "booked after the set was closed; settles gross"
                entry.included = false
            }
            if let index { next.deals[index] = entry } else { insert(entry, into: &next) }
        case (.closed, let old?) where old.included:
            // The agreed net is not changed silently (DOMAIN.md §3): a netted deal that changes (amended, cancelled,
            // no longer confirmed, new settlement details) is taken out of the net, with the reason recorded, and
            // settles gross; `agreedNet` keeps what was agreed. Released legs of netted deals are the net payment going
            // out: once one of the deal's payments on this date has gone, the deal stays in the net (deal-status
            // refuses to amend or cancel it then), and only a payment of it whose details changed leaves, alone.
            let released = Set(status.legs.lazy.filter { $0.valueDate == set.valueDate && ($0.status == .sent || $0.status == .settled) }.map(\.id))
            if !released.isEmpty {
                guard let kept = paymentsLeaving(old, entry, released: released, now: now, into: &next) else { return nil }
                next.deals[index!] = kept
                break
            }
            guard let why = departure(from: old, to: entry, status) else { return nil }
            entry.included = false
            entry.reason = "left after close (\(why)); settles gross"
            next.deals[index!] = entry
            next.leftAfterClose = (next.leftAfterClose ?? []) + [NettingDeparture(dealId: dealId, reason: why, at: now)]
        case (.closed, let old?):
            // Outside the agreed net: it follows the deal (its gross payments are what the treasurer funds) and stays
            // out. A deal that left keeps why; one only the client's exclusion kept out needs none.
            let departed = (set.leftAfterClose ?? []).contains { $0.dealId == dealId }
            entry.included = false
            if departed {
                entry.reason = old.reason
            } else if entry.reason == nil && !entry.excludedByClient {
                entry.reason = old.reason?.hasSuffix("settles gross") == true ? old.reason : outsideAgreedNet
            }
            next.deals[index!] = entry
        }
        // A set closed before `agreedNet` existed kept its net unchanged after the close until a first departure: that is
        // what was agreed.
        if next.leftAfterClose != set.leftAfterClose, next.agreedNet == nil { next.agreedNet = set.net }
        recompute(&next)  // a closed set: a leaver is paid gross now, out of the net, or it would be paid twice
        if next.deals == set.deals && next.net == set.net { return nil }
        stamp(&next, after: set, at: now)
        return next
    }

    /// A netted deal of a closed set, part of which went out in the net (`released` legs): those of its other payments
    /// whose settlement details changed leave the net and are paid gross, recorded as a departure; the deal stays.
    /// Nil when none did (nothing else about it can change once a payment is released).
    private static func paymentsLeaving(_ old: NettingDeal, _ entry: NettingDeal, released: Set<String>, now: Date,
                                        into next: inout NettingSet) -> NettingDeal? {
        let leaving = entry.legs.filter { leg in
            !released.contains(leg.legId) && old.legs.first { $0.legId == leg.legId }.map { $0.account != leg.account } == true
        }
        guard !leaving.isEmpty else { return nil }
        var kept = old
        kept.dealVersion = entry.dealVersion
        // Released payments keep the details they went with; the others take the new ones.
        kept.legs = old.legs.map { leg in leaving.first { $0.legId == leg.legId } ?? leg }
        let newlyGross = leaving.map(\.legId).filter { !(old.grossLegs ?? []).contains($0) }
        kept.grossLegs = ((old.grossLegs ?? []) + newlyGross).sorted()
        if !newlyGross.isEmpty {
            let why = "\(newlyGross.joined(separator: ", ")): settlement details changed after close"
            next.leftAfterClose = (next.leftAfterClose ?? []) + [NettingDeparture(dealId: old.dealId, reason: why, at: now)]
        }
        return kept
    }

    /// Why a deal in the agreed net leaves it, given its new entry; nil when nothing that matters to the net changed.
    private static func departure(from old: NettingDeal, to entry: NettingDeal, _ status: DealStatus) -> String? {
        if entry.movedAway == true { return "value date changed after close" }
        if status.confirmation == .cancelled { return "cancelled after close" }
        let samePayments = entry.legs.count == old.legs.count && zip(entry.legs, old.legs).allSatisfy {
            $0.legId == $1.legId && $0.amount == $1.amount && $0.direction == $1.direction
        }
        if !samePayments { return "amended after close" }
        if entry.legs != old.legs { return "settlement details changed after close" }
        if status.confirmation != .confirmed { return "no longer confirmed (\(status.confirmation.rawValue))" }
        return nil
    }

    /// Adds a deal to the set, keeping the deals sorted by id.
    private static func insert(_ deal: NettingDeal, into set: inout NettingSet) {
        let at = set.deals.firstIndex { $0.dealId > deal.dealId } ?? set.deals.endIndex
        set.deals.insert(deal, at: at)
    }

    /// Makes `next` the version after `set`. `netVersion` moves only when what a client agrees to moved: which deals
    /// are in the net, or the net (any change of a closed set's state too).
    static func stamp(_ next: inout NettingSet, after set: NettingSet, at now: Date) {
        next.version = set.version + 1
        next.updatedAt = now
        let (before, after) = (set.deals.filter(\.included), next.deals.filter(\.included))
        let same = next.state == set.state && next.net == set.net
            && after.map(\.dealId) == before.map(\.dealId) && after.map(\.legs) == before.map(\.legs)
        next.netVersion = same ? set.netVersion ?? set.version : next.version
    }

    /// The set after several statuses, applied in order, as one new version; nil when none changes what the client sees.
    ///
    /// A busy set takes a batch of deal changes in one version instead of one version (and one publish of the whole
    /// set) per change.
    static func apply(_ statuses: [DealStatus], to set: NettingSet, at now: Date) -> NettingSet? {
        var next = set
        var changed = false
        for status in statuses {
            if let applied = apply(status, to: next, at: now) {
                next = applied
                changed = true
            }
        }
        guard changed else { return nil }
        stamp(&next, after: set, at: now)
        return next
    }

    /// Takes a deal out of an open set (it settles gross). Unchanged when it is already out.
    static func exclude(_ dealId: String, from set: NettingSet, expectedVersion: Int64?, at now: Date) throws -> NettingSet? {
        let index = try dealIndex(dealId, in: set, expectedVersion: expectedVersion)
        if set.deals[index].excludedByClient { return nil }
        var next = set
        next.deals[index].excludedByClient = true
        next.deals[index].included = false
        recompute(&next)
        stamp(&next, after: set, at: now)
        return next
    }

    /// Puts an excluded deal back into an open set; refused when the deal is not eligible.
    static func include(_ dealId: String, in set: NettingSet, expectedVersion: Int64?, at now: Date) throws -> NettingSet? {
        let index = try dealIndex(dealId, in: set, expectedVersion: expectedVersion)
        let deal = set.deals[index]
        if let reason = deal.reason {
            throw ErrorBody(code: ErrorBody.unprocessable, message: "deal \(dealId) cannot be netted: \(reason)", field: "dealId")
        }
        if !deal.excludedByClient { return nil }
        var next = set
        next.deals[index].excludedByClient = false
        next.deals[index].included = true
        recompute(&next)
        stamp(&next, after: set, at: now)
        return next
    }

    /// Fixes the net of exactly the version the client saw.
    static func close(_ set: NettingSet, expectedVersion: Int64, by user: String?, at now: Date) throws -> NettingSet {
        try requireOpen(set, expectedVersion: expectedVersion)
        guard set.deals.contains(where: \.included) else {
            throw ErrorBody(code: ErrorBody.unprocessable, message: "no deal in the set for \(set.valueDate) can be netted")
        }
        var next = set
        next.state = .closed
        next.agreedNet = set.net
        next.closedAt = now
        next.closedBy = user
        stamp(&next, after: set, at: now)
        return next
    }

    /// Net per currency and settlement account over the included deals, and the payment counts.
    static func recompute(_ set: inout NettingSet) {
        struct Key: Hashable, Comparable {
            var currency: CurrencyCode
            var account: String
            static func < (a: Key, b: Key) -> Bool { (a.currency.rawValue, a.account) < (b.currency.rawValue, b.account) }
        }
        // Int128 so no sum of Int64 amounts can overflow. deal-status refuses a payment above 10^15 minor units
        // (`DealRules.maximumMinorUnits`), so a net leaves Int64 only past 9,223 such payments in one currency.
        var totals: [Key: (net: Int128, count: Int)] = [:]
        for deal in set.deals where deal.included {
            for leg in deal.legs where !(deal.grossLegs?.contains(leg.legId) ?? false) {
                let key = Key(currency: leg.amount.currency, account: leg.account ?? "")
                totals[key, default: (0, 0)].net += Int128(leg.signed.minor)
                totals[key, default: (0, 0)].count += 1
            }
        }
        set.net = totals.keys.sorted().map { key in
            let total = totals[key]!
            return NetLine(currency: key.currency, account: key.account.isEmpty ? nil : key.account,
                           net: Money(minor: Int64(clamping: total.net), currency: key.currency), grossPayments: total.count)
        }
        set.grossPayments = set.net.reduce(0) { $0 + $1.grossPayments }
        set.netPayments = set.net.filter { !$0.net.isZero }.count
    }

    private static func dealIndex(_ dealId: String, in set: NettingSet, expectedVersion: Int64?) throws -> Int {
        try requireOpen(set, expectedVersion: expectedVersion)
        guard let index = set.deals.firstIndex(where: { $0.dealId == dealId && $0.movedAway != true }) else {
            throw ErrorBody(code: ErrorBody.notFound, message: "deal \(dealId) has no payment on \(set.valueDate)", field: "dealId")
        }
        return index
    }

    private static func requireOpen(_ set: NettingSet, expectedVersion: Int64?) throws {
        if let expectedVersion, expectedVersion < 0 {
            throw ErrorBody(code: ErrorBody.badRequest, message: "expectedVersion must be a version of the set (0 or more), got \(expectedVersion)",
                            field: "expectedVersion")
        }
        guard set.state == .open else {
            throw ErrorBody(code: ErrorBody.conflict, message: "the netting set for \(set.valueDate) is closed (version \(set.version))")
        }
        // A busy set moves on with every status of its deals, most of them outside the net; what the client agreed to
        // is the net and the deals in it, so only a change of those since the version it saw refuses the command.
        guard let expectedVersion else { return }
        if expectedVersion > set.version {
            throw ErrorBody(code: ErrorBody.conflict,
                            message: "the netting set for \(set.valueDate) is at version \(set.version), not \(expectedVersion); preview again")
        }
        let netVersion = set.netVersion ?? set.version
        if expectedVersion < netVersion {
            throw ErrorBody(code: ErrorBody.conflict,
                            message: "the netting set for \(set.valueDate) changed since version \(expectedVersion): its net or the deals in it "
                                + "changed at version \(netVersion); preview again")
        }
    }
}
