import Foundation
import Messages

/// Payment netting per client and value date (DOMAIN.md §3): which deals are in, and the net per currency and account.
///
/// Counter amounts arrive already rounded once per leg (DealRules); netting only adds them, so it never rounds.
enum NettingRules {
    /// The deal as the set for `valueDate` sees it; nil when none of its legs settles on that date.
    static func entry(for status: DealStatus, valueDate: String, excludedByClient: Bool) -> NettingDeal? {
        let legs = status.legs.filter { $0.valueDate == valueDate }
        guard !legs.isEmpty else { return nil }
        let nettingLegs = legs.map { leg in
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

    /// The set after a new status of one of its deals; nil when nothing the client sees changes.
    static func apply(_ status: DealStatus, to set: NettingSet, at now: Date) -> NettingSet? {
        let dealId = status.terms.dealId
        let index = set.deals.firstIndex { $0.dealId == dealId }
        if let index, set.deals[index].dealVersion >= status.version { return nil }  // a stale or repeated status
        let excluded = index.map { set.deals[$0].excludedByClient } ?? false
        let entry = entry(for: status, valueDate: set.valueDate, excludedByClient: excluded)
        var next = set
        switch set.state {
        case .open:
            switch (index, entry) {
            case (let index?, let entry?): next.deals[index] = entry
            case (let index?, nil): next.deals.remove(at: index)  // amended to another value date
            case (nil, let entry?): next.deals.append(entry)
            case (nil, nil): return nil
            }
            next.deals.sort { $0.dealId < $1.dealId }
            recompute(&next)
        case .closed:
            // The agreed net is not changed silently (DOMAIN.md §3): a netted deal that changes (amended, cancelled,
            // no longer confirmed) is taken out of the net, with the reason recorded, and settles gross; `agreedNet`
            // keeps what was agreed. Released legs of netted deals are the net payment going out (deal-status refuses
            // to amend or cancel a deal once a leg is released, so no leaver has one).
            guard let index else {
                guard var entry else { return nil }
                entry.reason = "booked after the set was closed; settles gross"
                entry.included = false
                next.deals.append(entry)
                next.deals.sort { $0.dealId < $1.dealId }
                break
            }
            let old = set.deals[index]
            guard old.included else { return nil }
            let why: String?
            if let entry {
                let samePayments = entry.legs.count == old.legs.count && zip(entry.legs, old.legs).allSatisfy {
                    $0.legId == $1.legId && $0.amount == $1.amount && $0.direction == $1.direction
                }
                if !samePayments {
                    why = "amended after close"
                } else if entry.legs != old.legs {
                    why = "settlement details changed after close"
                } else if status.confirmation != .confirmed {
                    why = status.confirmation == .cancelled ? "cancelled after close" : "no longer confirmed (\(status.confirmation.rawValue))"
                } else {
                    why = nil
                }
            } else {
                why = "value date changed after close"
            }
            guard let why else { return nil }
            next.deals[index].included = false
            next.deals[index].dealVersion = status.version
            next.deals[index].reason = "left after close (\(why)); settles gross"
            next.leftAfterClose = (next.leftAfterClose ?? []) + [NettingDeparture(dealId: dealId, reason: why, at: now)]
            // A set closed before `agreedNet` existed kept its net unchanged after the close: that is what was agreed.
            if next.agreedNet == nil { next.agreedNet = set.net }
            recompute(&next)  // paid gross now: out of the net, or it would be paid twice
        }
        if next.deals == set.deals && next.net == set.net { return nil }
        stamp(&next, after: set, at: now)
        return next
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
        // Int128 so no sum of Int64 amounts can overflow; a net beyond Int64 cannot come from amounts deal-status accepts.
        var totals: [Key: (net: Int128, count: Int)] = [:]
        for deal in set.deals where deal.included {
            for leg in deal.legs {
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
        guard let index = set.deals.firstIndex(where: { $0.dealId == dealId }) else {
            throw ErrorBody(code: ErrorBody.notFound, message: "deal \(dealId) has no payment on \(set.valueDate)", field: "dealId")
        }
        return index
    }

    private static func requireOpen(_ set: NettingSet, expectedVersion: Int64?) throws {
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
