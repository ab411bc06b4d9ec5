import Bus
import Messages
import ServiceKit

/// Endpoints of the refdata micro service.
enum RefDataService {
    static let identity = MicroService.Identity(
        name: "refdata",
        version: "1.0.0",
        description: "ISO 4217 minor units and exact FX counter amounts",
        metadata: ["contract": "docs/CONTRACT.md"]
    )

    static func make(connection: NatsConnection, store: RefDataStore) throws -> MicroService {
        let service = try MicroService(connection: connection, identity: identity)
        try service.addEndpoint("currency-get", subject: Subjects.RefData.currencyGet, request: CurrencyQuery.self) { query, _ in
            guard let units = try await store.minorUnits(of: query.code) else {
                throw ErrorBody(code: ErrorBody.notFound, message: "unknown currency \(query.code)", field: "code")
            }
            return CurrencyInfo(code: query.code, minorUnits: units)
        }
        try service.addEndpoint("fx-counter", subject: Subjects.RefData.fxCounter, request: CounterAmountRequest.self) { request, _ in
            try counterAmount(request)
        }
        return service
    }

    /// Computes the counter amount, rounded once; impossible inputs are 422 with the offending field.
    static func counterAmount(_ request: CounterAmountRequest) throws -> CounterAmountReply {
        guard request.base.minor > 0 else {
            throw ErrorBody(code: ErrorBody.unprocessable, message: "base amount must be positive", field: "base.minor")
        }
        guard request.rate.mantissa > 0 else {
            throw ErrorBody(code: ErrorBody.unprocessable, message: "rate must be positive", field: "rate.mantissa")
        }
        do {
            let counter = try Money.counterAmount(base: request.base, rate: request.rate, counterCurrency: request.counterCurrency,
                                                  rounding: request.rounding ?? .halfUp)
            let exact = try Money.exactCounterAmount(base: request.base, rate: request.rate, counterCurrency: request.counterCurrency)
            return CounterAmountReply(counter: counter, exact: exact)
        } catch let error as MoneyError {
            throw ErrorBody(code: ErrorBody.unprocessable, message: "\(error)", field: nil)
        }
    }
}
