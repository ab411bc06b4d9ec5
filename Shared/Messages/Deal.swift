import Foundation

/// How a deal was concluded (the dashboard's "Канал" column).
public enum DealChannel: String, Codable, Sendable, CaseIterable {
    case web = "WEB"
    case fixAPI = "FIX_API"
    case phone = "PHONE"
}

/// FX products the dashboard shows; a swap has a near and a far leg.
public enum DealProduct: String, Codable, Sendable, CaseIterable {
    case spot = "FX_SPOT"
    case forward = "FX_FORWARD"
    case swap = "FX_SWAP"
}

/// The client's side of the (near leg of the) deal, in the base currency: buy = the client receives base currency.
public enum DealSide: String, Codable, Sendable, CaseIterable {
    case buy = "BUY"
    case sell = "SELL"

    public var opposite: DealSide { self == .buy ? .sell : .buy }
}

/// Confirmation (matching) state of a deal; see docs/DEALS.md for the transitions.
public enum ConfirmationStatus: String, Codable, Sendable, CaseIterable {
    case new = "NEW"
    case awaiting = "AWAITING"
    case confirmed = "CONFIRMED"
    case mismatched = "MISMATCHED"
    case disputed = "DISPUTED"
    case cancelled = "CANCELLED"

    /// The dashboard's words: "Подтверждено" only for CONFIRMED, "Без подтверждения" for the rest.
    public var dashboardLabel: String { self == .confirmed ? "Подтверждено" : "Без подтверждения" }

    /// The dashboard's name of a deal field a confirmation can differ in (`mismatchedFields`); others as they are.
    public static func dashboardFieldName(_ field: String) -> String {
        switch field {
        case "rate": "курс"
        case "amount": "сумма"
        case "valueDate": "дата валютирования"
        case "farRate": "курс второй части"
        case "farValueDate": "дата второй части"
        case "side": "направление"
        case "requisites": "реквизиты"
        default: field
        }
    }

    /// Why a deal is "Без подтверждения", in the dashboard's language: from the status, as `confirmationReason` is
    /// free text from the back office (and English by default). Nil for CONFIRMED.
    public var dashboardDetail: String? {
        switch self {
        case .confirmed: nil
        case .new: "не отправлено"
        case .awaiting: "ожидает ответа"
        case .mismatched: "расхождение"
        case .disputed: "оспорена клиентом"
        case .cancelled: "сделка отменена"
        }
    }
}

/// Settlement state of one payment leg (one currency flow).
public enum SettlementStatus: String, Codable, Sendable, CaseIterable {
    case pending = "PENDING"
    case instructed = "INSTRUCTED"
    case sent = "SENT"
    case settled = "SETTLED"
    case failed = "FAILED"
    case cancelled = "CANCELLED"

    public var isTerminal: Bool { self == .settled || self == .cancelled }
}

/// Settlement state of a whole deal, derived from its legs.
public enum DealSettlementStatus: String, Codable, Sendable, CaseIterable {
    case pending = "PENDING"
    case inProgress = "IN_PROGRESS"
    case partiallySettled = "PARTIALLY_SETTLED"
    case settled = "SETTLED"
    case failed = "FAILED"
    case cancelled = "CANCELLED"

    /// The dashboard's words for the settlement column.
    public var dashboardLabel: String {
        switch self {
        case .pending: "Ожидает расчётов"
        case .inProgress: "В процессе расчётов"
        case .partiallySettled: "Частично зачислено"
        case .settled: "Зачислено на счёт Клиента"
        case .failed: "Ошибка расчётов"
        case .cancelled: "Отменено"
        }
    }
}

extension DealSettlementStatus {
    /// Where payments stand together: all cancelled, any failed (until re-instructed), all settled, some settled, any
    /// under way, else pending. A deal's status is that of its legs; the terminal shows a swap's near and far apart.
    public init(legs: [PaymentLeg]) {
        if legs.allSatisfy({ $0.status == .cancelled }) { self = .cancelled; return }
        if legs.contains(where: { $0.status == .failed }) { self = .failed; return }
        let settled = legs.filter { $0.status == .settled }.count
        if settled == legs.count { self = .settled; return }
        if settled > 0 { self = .partiallySettled; return }
        self = legs.contains(where: { $0.status == .sent || $0.status == .instructed }) ? .inProgress : .pending
    }
}

/// Which leg of a deal a payment belongs to (spot/forward deals have only `near`).
public enum LegTenor: String, Codable, Sendable {
    case near = "NEAR"
    case far = "FAR"
}

/// Who pays a payment leg, seen from the bank's dashboard: `bankPays` credits the client.
public enum PaymentDirection: String, Codable, Sendable {
    case bankPays = "BANK_PAYS"
    case clientPays = "CLIENT_PAYS"
}

/// Where one currency of a deal settles (SSI).
public struct SettlementRequisites: Codable, Sendable, Hashable {
    public var currency: CurrencyCode
    public var account: String
    public var bic: String
    public var bankName: String?

    public init(currency: CurrencyCode, account: String, bic: String, bankName: String? = nil) {
        self.currency = currency
        self.account = account
        self.bic = bic
        self.bankName = bankName
    }
}

/// The economics of a deal as booked (or amended) by the front office.
public struct DealTerms: Codable, Sendable, Hashable {
    public var client: String
    public var dealId: String
    public var tradeTime: Date
    public var channel: DealChannel
    public var product: DealProduct
    public var side: DealSide
    public var baseCurrency: CurrencyCode
    public var quoteCurrency: CurrencyCode
    /// Amount in the base currency (the "Сумма" column).
    public var amount: Money
    public var rate: Rate
    public var valueDate: String
    /// Far leg of a swap: rate and value date; the far leg reverses the near side.
    public var farRate: Rate?
    public var farValueDate: String?
    public var requisites: [SettlementRequisites]

    public init(client: String, dealId: String, tradeTime: Date, channel: DealChannel, product: DealProduct, side: DealSide,
                baseCurrency: CurrencyCode, quoteCurrency: CurrencyCode, amount: Money, rate: Rate, valueDate: String,
                farRate: Rate? = nil, farValueDate: String? = nil, requisites: [SettlementRequisites] = []) {
        self.client = client
        self.dealId = dealId
        self.tradeTime = tradeTime
        self.channel = channel
        self.product = product
        self.side = side
        self.baseCurrency = baseCurrency
        self.quoteCurrency = quoteCurrency
        self.amount = amount
        self.rate = rate
        self.valueDate = valueDate
        self.farRate = farRate
        self.farValueDate = farValueDate
        self.requisites = requisites
    }

    /// "CNYRUB"
    public var pair: String { baseCurrency.rawValue + quoteCurrency.rawValue }
}

/// One payment of a deal: a currency flow on a value date, with its own settlement status.
public struct PaymentLeg: Codable, Sendable, Hashable {
    /// "NEAR-CNY", "FAR-RUB": stable within a deal.
    public var id: String
    public var tenor: LegTenor
    public var amount: Money
    public var direction: PaymentDirection
    public var valueDate: String
    public var status: SettlementStatus
    public var statusAt: Date?
    public var reason: String?

    public init(id: String, tenor: LegTenor, amount: Money, direction: PaymentDirection, valueDate: String,
                status: SettlementStatus = .pending, statusAt: Date? = nil, reason: String? = nil) {
        self.id = id
        self.tenor = tenor
        self.amount = amount
        self.direction = direction
        self.valueDate = valueDate
        self.status = status
        self.statusAt = statusAt
        self.reason = reason
    }
}

/// What happened to a deal, as the back office (or the simulator) reports it on `deal.event.<client>.<deal>`.
public enum DealEventKind: String, Codable, Sendable, CaseIterable {
    case booked = "BOOKED"
    case confirmation = "CONFIRMATION"
    case settlement = "SETTLEMENT"
    case amended = "AMENDED"
    case cancelled = "CANCELLED"
    case requisitesChanged = "REQUISITES_CHANGED"
}

/// A fact about a deal; `eventId` is its `Nats-Msg-Id`, so a repeated publish is stored once.
public struct DealEvent: WireMessage, Equatable {
    public static let schema = "DealEvent/1"
    public var eventId: String
    public var client: String
    public var dealId: String
    public var kind: DealEventKind
    public var occurredAt: Date
    /// `booked` and `amended`: the full economics.
    public var terms: DealTerms?
    /// `confirmation`: the new matching state.
    public var confirmation: ConfirmationStatus?
    /// `confirmation` to MISMATCHED: the fields that differ.
    public var mismatchedFields: [String]?
    /// `settlement`: which leg and its new state.
    public var legId: String?
    public var settlement: SettlementStatus?
    /// `requisitesChanged`: the new settlement details (per currency).
    public var requisites: [SettlementRequisites]?
    public var reason: String?

    public init(eventId: String, client: String, dealId: String, kind: DealEventKind, occurredAt: Date, terms: DealTerms? = nil,
                confirmation: ConfirmationStatus? = nil, mismatchedFields: [String]? = nil, legId: String? = nil,
                settlement: SettlementStatus? = nil, requisites: [SettlementRequisites]? = nil, reason: String? = nil) {
        self.eventId = eventId
        self.client = client
        self.dealId = dealId
        self.kind = kind
        self.occurredAt = occurredAt
        self.terms = terms
        self.confirmation = confirmation
        self.mismatchedFields = mismatchedFields
        self.legId = legId
        self.settlement = settlement
        self.requisites = requisites
        self.reason = reason
    }
}

/// The state of a deal as the dashboard and terminals show it; one per `deal.status.<client>.<deal>`, `version` +1 per change.
public struct DealStatus: WireMessage, Equatable {
    public static let schema = "DealStatus/1"
    public var terms: DealTerms
    public var version: Int64
    public var confirmation: ConfirmationStatus
    /// Why the deal is not confirmed (mismatch, dispute, cancellation), for the "Без подтверждения" column.
    public var confirmationReason: String?
    public var mismatchedFields: [String]?
    /// When the confirmation status last changed, as the back office reported it (the event's time). Tells a late
    /// "sent for confirmation" from one that resolves a mismatch or dispute. Nil in snapshots made before it existed.
    public var confirmationAt: Date?
    public var legs: [PaymentLeg]
    public var settlement: DealSettlementStatus
    /// When the last leg was credited ("Зачислено на счёт Клиента", with time).
    public var settledAt: Date?
    public var updatedAt: Date
    /// Stream sequence of the last event applied (events at or below it are duplicates).
    public var lastEventSequence: UInt64

    public init(terms: DealTerms, version: Int64, confirmation: ConfirmationStatus, confirmationReason: String? = nil,
                mismatchedFields: [String]? = nil, confirmationAt: Date? = nil, legs: [PaymentLeg], settlement: DealSettlementStatus,
                settledAt: Date? = nil, updatedAt: Date, lastEventSequence: UInt64) {
        self.terms = terms
        self.version = version
        self.confirmation = confirmation
        self.confirmationReason = confirmationReason
        self.mismatchedFields = mismatchedFields
        self.confirmationAt = confirmationAt
        self.legs = legs
        self.settlement = settlement
        self.settledAt = settledAt
        self.updatedAt = updatedAt
        self.lastEventSequence = lastEventSequence
    }
}

/// `deal.query.<client>.list`: every filter optional; dates are "yyyy-MM-dd", times inclusive.
public struct DealListQuery: WireMessage, Equatable {
    public static let schema = "DealListQuery/1"
    public enum SortField: String, Codable, Sendable { case tradeTime, dealId, valueDate, amount, updatedAt, settledAt }

    public var tradeFrom: Date?
    public var tradeTo: Date?
    public var valueDateFrom: String?
    public var valueDateTo: String?
    public var products: [DealProduct]?
    public var channels: [DealChannel]?
    public var side: DealSide?
    public var pair: String?
    /// Deals with this currency on either side ("USD": USDRUB, EURUSD…).
    public var currency: String?
    public var confirmations: [ConfirmationStatus]?
    public var settlements: [DealSettlementStatus]?
    /// Deals whose money arrived (`settledAt`) in this window, inclusive.
    public var settledFrom: Date?
    public var settledTo: Date?
    /// The "Сумма" column: deals whose amount, in its base currency, lies in this range, inclusive. The bounds name
    /// that currency (both the same one), so only deals in it match: amounts compare within a currency.
    public var amountFrom: Money?
    public var amountTo: Money?
    /// Deals with a rate in this range, inclusive, compared as numbers (11.25 = 11.2500). A swap matches by either
    /// leg's rate, as by either value date.
    public var rateFrom: Rate?
    public var rateTo: Rate?
    /// The requisites column: deals settling to or from this account (any currency; spaces and case do not matter).
    public var account: String?
    public var dealId: String?
    public var sort: SortField?
    public var descending: Bool?
    public var offset: Int?
    /// At most 500; 50 when absent.
    public var limit: Int?

    public init() {}
}

/// A page of deals and how many match in all.
public struct DealPage: WireMessage, Equatable {
    public static let schema = "DealPage/1"
    public var total: Int
    public var deals: [DealStatus]

    public init(total: Int, deals: [DealStatus]) {
        self.total = total
        self.deals = deals
    }
}

/// `deal.query.<client>.get`
public struct DealGet: WireMessage, Equatable {
    public static let schema = "DealGet/1"
    public var dealId: String

    public init(dealId: String) { self.dealId = dealId }
}

/// `deal.query.<client>.history`: a deal's audit trail.
public struct DealHistoryQuery: WireMessage, Equatable {
    public static let schema = "DealHistoryQuery/1"
    public var dealId: String

    public init(dealId: String) { self.dealId = dealId }
}

/// Every event of a deal as DEAL_EVENTS holds it, oldest first, with what came of each: the audit trail of its
/// confirmations, payments, amendments and settlement-details changes (who asked is in the event's `reason`).
public struct DealHistory: WireMessage, Equatable {
    public static let schema = "DealHistory/1"

    public enum Outcome: String, Codable, Sendable {
        /// It changed the deal: `version` is the version it made.
        case applied = "APPLIED"
        /// It changed nothing: refused (an invalid move) or absorbed (a duplicate, a late report); `reason` says which
        /// and why ("rejected: …", "ignored: …"), on whichever replica answers.
        case notApplied = "NOT_APPLIED"
        /// Not handled yet, or older than the oldest version DEAL_STATUS keeps (its last 32), or one the rules would
        /// apply that no kept version shows (a kept version unreadable); `reason` then is what the answering replica
        /// recorded, if anything ("recorded here: …"), else "no kept version shows what it made" for the last case.
        case unknown = "UNKNOWN"
    }

    public struct Entry: Codable, Sendable, Equatable {
        public var eventSequence: UInt64
        /// Nil when the stored bytes are not a readable deal event (refused as such).
        public var event: DealEvent?
        public var outcome: Outcome
        public var version: Int64?
        public var reason: String?

        public init(eventSequence: UInt64, event: DealEvent?, outcome: Outcome, version: Int64? = nil, reason: String? = nil) {
            self.eventSequence = eventSequence
            self.event = event
            self.outcome = outcome
            self.version = version
            self.reason = reason
        }
    }

    public var dealId: String
    public var entries: [Entry]
    /// More events than one answer holds (500): the newest are listed.
    public var truncated: Bool

    public init(dealId: String, entries: [Entry], truncated: Bool = false) {
        self.dealId = dealId
        self.entries = entries
        self.truncated = truncated
    }
}

/// `deal.cmd.<client>.requisites`: new settlement details for one currency of a deal.
public struct ChangeRequisites: WireMessage, Equatable {
    public static let schema = "ChangeRequisites/1"
    /// Idempotency key: a retried command is applied once.
    public var requestId: String
    public var dealId: String
    public var requisites: SettlementRequisites
    public var requestedBy: String?

    public init(requestId: String, dealId: String, requisites: SettlementRequisites, requestedBy: String? = nil) {
        self.requestId = requestId
        self.dealId = dealId
        self.requisites = requisites
        self.requestedBy = requestedBy
    }
}

/// The command was accepted and recorded as a deal event at `eventSequence`.
public struct CommandAccepted: WireMessage, Equatable {
    public static let schema = "CommandAccepted/1"
    public var eventSequence: UInt64
    public var duplicate: Bool
    /// The deal's version that carries the change, when it was applied before the answer (within about 2 s); nil:
    /// recorded and applied in order later (or refused then, if a payment was released meanwhile).
    public var appliedInVersion: Int64?

    public init(eventSequence: UInt64, duplicate: Bool, appliedInVersion: Int64? = nil) {
        self.eventSequence = eventSequence
        self.duplicate = duplicate
        self.appliedInVersion = appliedInVersion
    }
}
