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
