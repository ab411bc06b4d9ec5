import Foundation

/// Whether a netting set still follows its deals or has fixed its net obligations.
public enum NettingState: String, Codable, Sendable, CaseIterable {
    /// Deals come and go with their status; the net amounts are a proposal.
    case open = "OPEN"
    /// Closed by the client: the net obligations are agreed and fixed.
    case closed = "CLOSED"
}

/// One payment leg of a deal as a netting set sees it.
public struct NettingLeg: Codable, Sendable, Hashable {
    public var legId: String
    /// Always positive; `direction` says who pays.
    public var amount: Money
    public var direction: PaymentDirection
    /// The settlement account for the leg's currency, when the deal has requisites for it.
    public var account: String?

    public init(legId: String, amount: Money, direction: PaymentDirection, account: String? = nil) {
        self.legId = legId
        self.amount = amount
        self.direction = direction
        self.account = account
    }

    /// The leg as a signed amount: + the bank pays the client, − the client pays the bank.
    public var signed: Money {
        direction == .bankPays ? amount : Money(minor: -amount.minor, currency: amount.currency)
    }
}

/// A deal with at least one leg on the set's value date: in the net, or out with the reason.
public struct NettingDeal: Codable, Sendable, Hashable {
    public var dealId: String
    /// The `DealStatus.version` this entry was built from (older versions are ignored).
    public var dealVersion: Int64
    /// In the net: eligible (`reason == nil`) and not excluded by the client (nor gone after a close).
    public var included: Bool
    public var excludedByClient: Bool
    /// Why the deal cannot be netted: "not confirmed (AWAITING)", "leg NEAR-USD is SENT", "left after close: …".
    public var reason: String?
    /// Only the legs on the set's value date (a swap's far leg may be in another set); none for a cancelled deal,
    /// which pays nothing.
    public var legs: [NettingLeg]
    /// The deal has no payment on this date any more (amended to another value date). It is kept, out of the net and
    /// without legs, so that an older status of it arriving late is known to be stale and cannot bring it back, and so
    /// that the client's exclusion holds if it comes back. Summaries leave it out unless it left a closed set.
    public var movedAway: Bool?
    /// Payments (leg ids) of a netted deal taken out of a closed set's net and paid gross: their settlement details
    /// changed after another payment of the deal had gone out in the net, so the deal stays in it and these leave.
    public var grossLegs: [String]?

    public init(dealId: String, dealVersion: Int64, excludedByClient: Bool = false, reason: String? = nil, legs: [NettingLeg]) {
        self.dealId = dealId
        self.dealVersion = dealVersion
        self.included = reason == nil && !excludedByClient
        self.excludedByClient = excludedByClient
        self.reason = reason
        self.legs = legs
    }

    /// A deal at `dealVersion` that no longer pays on the set's date.
    public static func movedAway(_ dealId: String, dealVersion: Int64, excludedByClient: Bool) -> NettingDeal {
        var deal = NettingDeal(dealId: dealId, dealVersion: dealVersion, excludedByClient: excludedByClient,
                               reason: "no payment on this date any more (value date changed)", legs: [])
        deal.movedAway = true
        return deal
    }
}

/// The net obligation in one currency (and settlement account): + the bank pays the client, − the client pays.
public struct NetLine: Codable, Sendable, Hashable {
    public var currency: CurrencyCode
    public var account: String?
    public var net: Money
    /// nil when the payments cancel out exactly (nothing to pay).
    public var direction: PaymentDirection?
    /// The gross payments this line replaces.
    public var grossPayments: Int

    public init(currency: CurrencyCode, account: String?, net: Money, grossPayments: Int) {
        self.currency = currency
        self.account = account
        self.net = net
        self.direction = net.isZero ? nil : (net.isPositive ? .bankPays : .clientPays)
        self.grossPayments = grossPayments
    }
}

/// A deal that left a closed set because it changed after the close; it settles gross.
public struct NettingDeparture: Codable, Sendable, Hashable {
    public var dealId: String
    public var reason: String
    public var at: Date

    public init(dealId: String, reason: String, at: Date) {
        self.dealId = dealId
        self.reason = reason
        self.at = at
    }
}

/// A client's netting set for one value date: published on `netting.status.<client>.<valueDate>` on every change.
public struct NettingSet: WireMessage, Equatable {
    public static let schema = "NettingSet/1"
    public var client: String
    /// The set id: its value date, "2024-12-02".
    public var valueDate: String
    /// One more on every change; `close` names the version it agrees to.
    public var version: Int64
    /// The version at which the deals in the net or the net itself last changed (nil: `version`). A command naming a
    /// version from this one on is taken: since then only deals outside the net changed (a busy set moves on with every
    /// status of its deals). One naming an earlier version is refused.
    public var netVersion: Int64?
    public var state: NettingState
    /// Every deal with a leg on this value date (and those that had one, `movedAway`), sorted by deal id.
    public var deals: [NettingDeal]
    /// Net per currency and account over the deals in the set: what is to be paid. Once the set is closed, only a deal
    /// leaving it (amended, cancelled, no longer confirmed or given new settlement details after the close; it settles
    /// gross) changes it.
    public var net: [NetLine]
    /// The net as agreed at the close, kept unchanged for the audit when deals leave afterwards.
    public var agreedNet: [NetLine]?
    /// Payments without netting (every included leg) and with it (every non-zero net line).
    public var grossPayments: Int
    public var netPayments: Int
    public var updatedAt: Date
    public var closedAt: Date?
    public var closedBy: String?
    /// Deals that changed after the close: taken out of the net and settled gross (`agreedNet` keeps what was agreed).
    public var leftAfterClose: [NettingDeparture]?

    public init(client: String, valueDate: String, version: Int64 = 0, state: NettingState = .open, deals: [NettingDeal] = [],
                net: [NetLine] = [], grossPayments: Int = 0, netPayments: Int = 0, updatedAt: Date,
                closedAt: Date? = nil, closedBy: String? = nil, agreedNet: [NetLine]? = nil, leftAfterClose: [NettingDeparture]? = nil) {
        self.client = client
        self.valueDate = valueDate
        self.version = version
        self.state = state
        self.deals = deals
        self.net = net
        self.grossPayments = grossPayments
        self.netPayments = netPayments
        self.updatedAt = updatedAt
        self.closedAt = closedAt
        self.closedBy = closedBy
        self.agreedNet = agreedNet
        self.leftAfterClose = leftAfterClose
    }

    /// The net line for `currency` (the first, when several accounts are used).
    public func net(in currency: CurrencyCode) -> NetLine? { net.first { $0.currency == currency } }
}

/// A deal of the set that is outside the net, and why.
public struct NettingDealOut: Codable, Sendable, Hashable {
    public var dealId: String
    public var excludedByClient: Bool
    /// Why it cannot be netted (nil when only the client's exclusion keeps it out).
    public var reason: String?
    /// Its payments on this value date, paid gross: for a deal the client excluded, and for every deal outside the net
    /// of a closed set (the ones a treasurer must fund beside the net). Empty for a cancelled deal or one that moved to
    /// another date. Nil for deals of an open set that are out for other reasons. A netted deal some of whose payments
    /// left a closed net (`NettingDeal.grossLegs`) is listed here too, with just those payments, and stays in `dealsIn`.
    public var grossPayments: [NettingLeg]?

    public init(dealId: String, excludedByClient: Bool, reason: String?, grossPayments: [NettingLeg]? = nil) {
        self.dealId = dealId
        self.excludedByClient = excludedByClient
        self.reason = reason
        self.grossPayments = grossPayments
    }
}

/// The reply to every `netting.cmd.<client>.*` command: what a treasurer decides on — the net per currency with its
/// direction, gross against net payments, which deals are in and which are out and why, and the version to close.
///
/// The legs of each deal stay in the full `NettingSet` on `netting.status.<client>.<valueDate>`; a reply without them
/// stays small (about 7 bytes per deal) however large the set grows.
public struct NettingSummary: WireMessage, Equatable {
    public static let schema = "NettingSummary/1"
    public var client: String
    public var valueDate: String
    public var version: Int64
    /// See `NettingSet.netVersion`.
    public var netVersion: Int64?
    public var state: NettingState
    public var net: [NetLine]
    public var grossPayments: Int
    public var netPayments: Int
    /// The deals in the net, by deal id.
    public var dealsIn: [String]
    public var dealsOut: [NettingDealOut]
    public var updatedAt: Date
    public var closedAt: Date?
    public var closedBy: String?
    /// The net as agreed at the close (see `NettingSet.agreedNet`); `net` is what remains to be paid.
    public var agreedNet: [NetLine]?
    public var leftAfterClose: [NettingDeparture]?

    public init(_ set: NettingSet) {
        client = set.client
        valueDate = set.valueDate
        version = set.version
        netVersion = set.netVersion
        state = set.state
        net = set.net
        grossPayments = set.grossPayments
        netPayments = set.netPayments
        dealsIn = set.deals.lazy.filter(\.included).map(\.dealId)
        let departed = Set((set.leftAfterClose ?? []).map(\.dealId))
        let closed = set.state == .closed
        dealsOut = set.deals.compactMap { deal in
            if deal.included {  // in the net, but for payments that left it (listed here as well)
                guard let gross = deal.grossLegs, !gross.isEmpty else { return nil }
                return NettingDealOut(dealId: deal.dealId, excludedByClient: false,
                                      reason: "\(gross.joined(separator: ", ")) left after close (settlement details changed); settles gross",
                                      grossPayments: deal.legs.filter { gross.contains($0.legId) })
            }
            guard deal.movedAway != true || departed.contains(deal.dealId) else { return nil }
            return NettingDealOut(dealId: deal.dealId, excludedByClient: deal.excludedByClient, reason: deal.reason,
                                  grossPayments: deal.excludedByClient || closed ? deal.legs : nil)
        }
        updatedAt = set.updatedAt
        closedAt = set.closedAt
        closedBy = set.closedBy
        agreedNet = set.agreedNet
        leftAfterClose = set.leftAfterClose
    }

    /// The net line for `currency` (the first, when several accounts are used).
    public func net(in currency: CurrencyCode) -> NetLine? { net.first { $0.currency == currency } }
}

/// `netting.cmd.<client>.preview`: the set for a value date as it stands (an empty set at version 0 when no deal has a leg then).
public struct NettingPreview: WireMessage, Equatable {
    public static let schema = "NettingPreview/1"
    public var valueDate: String

    public init(valueDate: String) { self.valueDate = valueDate }
}

/// `netting.cmd.<client>.include` / `.exclude`: put a deal back into the set or take it out (it settles gross).
public struct NettingDealChange: WireMessage, Equatable {
    public static let schema = "NettingDealChange/1"
    public var valueDate: String
    public var dealId: String
    /// When given, the version the client saw: the change applies only if the deals in the net and the net are as then
    /// (else 409; see `NettingSet.netVersion`).
    public var expectedVersion: Int64?

    public init(valueDate: String, dealId: String, expectedVersion: Int64? = nil) {
        self.valueDate = valueDate
        self.dealId = dealId
        self.expectedVersion = expectedVersion
    }
}

/// `netting.cmd.<client>.close`: agree the net the client saw at `expectedVersion` (409 if the deals in the net or the net
/// changed since; see `NettingSet.netVersion`).
public struct NettingClose: WireMessage, Equatable {
    public static let schema = "NettingClose/1"
    public var valueDate: String
    public var expectedVersion: Int64
    public var closedBy: String?

    public init(valueDate: String, expectedVersion: Int64, closedBy: String? = nil) {
        self.valueDate = valueDate
        self.expectedVersion = expectedVersion
        self.closedBy = closedBy
    }
}
