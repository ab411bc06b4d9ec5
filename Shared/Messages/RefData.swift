extension Subjects {
    /// Reference data: ISO 4217 minor units and exact counter amounts (service `refdata`).
    public enum RefData {
        /// `CurrencyQuery` → `CurrencyInfo`; 404 for a currency Svyaz does not know.
        public static let currencyGet = "ref.currency.get"
        /// `CounterAmountRequest` → `CounterAmountReply`; 422 for an impossible amount, rate or currency.
        public static let fxCounter = "ref.fx.counter"
    }
}

/// `ref.currency.get` request: the minor units of one currency.
public struct CurrencyQuery: WireMessage, Equatable {
    public static let schema = "CurrencyQuery/1"
    /// ISO 4217 code as the client typed it; a String so that a wrong code is a 404 answer, not a decoding failure.
    public var code: String

    /// A query for `code`.
    public init(code: String) { self.code = code }
}

/// `ref.currency.get` reply.
public struct CurrencyInfo: WireMessage, Equatable {
    public static let schema = "CurrencyInfo/1"
    /// The code as asked.
    public var code: String
    /// Digits after the decimal point (ISO 4217): RUB 2, JPY 0, KWD 3, CLF 4.
    public var minorUnits: Int

    /// The answer for `code`.
    public init(code: String, minorUnits: Int) {
        self.code = code
        self.minorUnits = minorUnits
    }
}

/// `ref.fx.counter` request: the counter amount of `base` at `rate`.
public struct CounterAmountRequest: WireMessage, Equatable {
    public static let schema = "CounterAmountRequest/1"
    /// Amount in the base currency; refdata requires it positive.
    public var base: Money
    /// Counter currency per one unit of base currency; positive, scale 0…18.
    public var rate: Rate
    /// The currency to convert into.
    public var counterCurrency: CurrencyCode
    /// Half-up when absent.
    public var rounding: RoundingMode?

    /// A request for `base × rate` in `counterCurrency`.
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
    /// The unrounded amount in major units, trailing zeros trimmed, e.g. "2808645.61728".
    public var exact: String

    /// A reply with the rounded and the exact amount.
    public init(counter: Money, exact: String) {
        self.counter = counter
        self.exact = exact
    }
}
