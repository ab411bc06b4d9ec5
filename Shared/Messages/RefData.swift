/// `ref.currency.get` request.
public struct CurrencyQuery: WireMessage, Equatable {
    public static let schema = "CurrencyQuery/1"
    public var code: String

    public init(code: String) { self.code = code }
}

/// `ref.currency.get` reply.
public struct CurrencyInfo: WireMessage, Equatable {
    public static let schema = "CurrencyInfo/1"
    public var code: String
    public var minorUnits: Int

    public init(code: String, minorUnits: Int) {
        self.code = code
        self.minorUnits = minorUnits
    }
}

/// `ref.fx.counter` request: the counter amount of `base` at `rate`.
public struct CounterAmountRequest: WireMessage, Equatable {
    public static let schema = "CounterAmountRequest/1"
    public var base: Money
    public var rate: Rate
    public var counterCurrency: CurrencyCode
    /// Half-up when absent.
    public var rounding: RoundingMode?

    public init(base: Money, rate: Rate, counterCurrency: CurrencyCode, rounding: RoundingMode? = nil) {
        self.base = base
        self.rate = rate
        self.counterCurrency = counterCurrency
        self.rounding = rounding
    }
}

/// `ref.fx.counter` reply.
public struct CounterAmountReply: WireMessage, Equatable {
    public static let schema = "CounterAmountReply/1"
    /// Rounded once to the counter currency's minor units.
    public var counter: Money
    /// The unrounded amount, e.g. "2808645.61728".
    public var exact: String

    public init(counter: Money, exact: String) {
        self.counter = counter
        self.exact = exact
    }
}
