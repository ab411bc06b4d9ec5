import Foundation
import Messages
import Testing

/// JSON with sorted keys, so a test can state the exact shape a message takes (the MessagePack map has the same keys).
enum JSONCoding {
    static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ json: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(json.utf8))
    }

    /// Encodes, checks the shape, decodes and checks the value survived.
    static func roundTrip<T: Codable & Equatable>(_ value: T, _ json: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(try encode(value) == json, sourceLocation: sourceLocation)
        #expect(try decode(T.self, json) == value, sourceLocation: sourceLocation)
    }
}

@Suite("Contract shapes through Codable")
struct ContractCodingTests {
    @Test("Money travels as { minor, currency } and Rate as { mantissa, scale }")
    func moneyAndRate() throws {
        try JSONCoding.roundTrip(Money(minor: 25_000_050, currency: "CNY"), #"{"currency":"CNY","minor":25000050}"#)
        try JSONCoding.roundTrip(Money(minor: -7_000_000, currency: "USD"), #"{"currency":"USD","minor":-7000000}"#)
        try JSONCoding.roundTrip(Rate(mantissa: 1_123_456, scale: 5), #"{"mantissa":1123456,"scale":5}"#)
        try JSONCoding.roundTrip(CurrencyCode("KWD"), #""KWD""#)
        try JSONCoding.roundTrip([RoundingMode.halfUp, .halfEven], #"["halfUp","halfEven"]"#)
    }

    @Test("a malformed currency fails to decode; a well-formed unknown one decodes and is refused by validated()")
    func currencyOnTheWire() throws {
        #expect(throws: DecodingError.self) { try JSONCoding.decode(Money.self, #"{"minor":1,"currency":"usd"}"#) }
        #expect(throws: DecodingError.self) { try JSONCoding.decode(Money.self, #"{"minor":1.5,"currency":"USD"}"#) }
        #expect(throws: DecodingError.self) { try JSONCoding.decode(Money.self, #"{"minor":9223372036854775808,"currency":"USD"}"#) }
        let unknown = try JSONCoding.decode(Money.self, #"{"minor":1,"currency":"XYZ"}"#)
        #expect(throws: MoneyError.unknownCurrency("XYZ")) { try unknown.validated() }
    }

    @Test("an error body omits a nil field and carries its code")
    func errorBody() throws {
        try JSONCoding.roundTrip(ErrorBody(code: ErrorBody.notFound, message: "unknown currency XYZ"),
                                 #"{"code":404,"message":"unknown currency XYZ"}"#)
        try JSONCoding.roundTrip(ErrorBody(code: ErrorBody.unprocessable, message: "rate must be positive", field: "rate.mantissa"),
                                 #"{"code":422,"field":"rate.mantissa","message":"rate must be positive"}"#)
        let refused = ErrorBody(MoneyError.tooManyFractionDigits("1.5", allowed: 0), field: "base")
        #expect(refused == ErrorBody(code: 422, message: "1.5 has more than 0 digits after the point", field: "base"))
    }

    @Test("well-known error codes keep their HTTP meaning", arguments: [
        (ErrorBody.badRequest, 400), (ErrorBody.unauthorized, 401), (ErrorBody.forbidden, 403), (ErrorBody.notFound, 404),
        (ErrorBody.conflict, 409), (ErrorBody.payloadTooLarge, 413), (ErrorBody.unprocessable, 422), (ErrorBody.internalError, 500),
        (ErrorBody.unavailable, 503),
    ])
    func errorCodes(constant: Int, http: Int) {
        #expect(constant == http)
    }

    @Test("refdata messages: optional rounding omitted when nil, unknown keys ignored")
    func refData() throws {
        try JSONCoding.roundTrip(CurrencyQuery(code: "JPY"), #"{"code":"JPY"}"#)
        try JSONCoding.roundTrip(CurrencyInfo(code: "KWD", minorUnits: 3), #"{"code":"KWD","minorUnits":3}"#)
        let request = CounterAmountRequest(base: Money(minor: 25_000_050, currency: "CNY"), rate: Rate(mantissa: 1_123_456, scale: 5),
                                           counterCurrency: "RUB")
        let json = #"{"base":{"currency":"CNY","minor":25000050},"counterCurrency":"RUB","rate":{"mantissa":1123456,"scale":5}}"#
        try JSONCoding.roundTrip(request, json)
        var halfEven = request
        halfEven.rounding = .halfEven
        try JSONCoding.roundTrip(halfEven, String(json.dropLast()) + #","rounding":"halfEven"}"#)
        #expect(try JSONCoding.decode(CounterAmountRequest.self, String(json.dropLast()) + #","newerField":[1,2]}"#) == request)
        try JSONCoding.roundTrip(CounterAmountReply(counter: Money(minor: 280_864_562, currency: "RUB"), exact: "2808645.61728"),
                                 #"{"counter":{"currency":"RUB","minor":280864562},"exact":"2808645.61728"}"#)
        #expect(throws: DecodingError.self) {
            try JSONCoding.decode(CounterAmountRequest.self, json.replacingOccurrences(of: #""RUB""#, with: #""rub""#))
        }
        #expect(throws: DecodingError.self) {
            try JSONCoding.decode(CounterAmountRequest.self, String(json.dropLast()) + #","rounding":"up"}"#)
        }
    }

    @Test("every contract message names its schema <Type>/<version> after its own type", arguments: [
        (CurrencyQuery.schema, "\(CurrencyQuery.self)"), (CurrencyInfo.schema, "\(CurrencyInfo.self)"),
        (CounterAmountRequest.schema, "\(CounterAmountRequest.self)"), (CounterAmountReply.schema, "\(CounterAmountReply.self)"),
        (ErrorBody.schema, "\(ErrorBody.self)"),
    ])
    func schemas(schema: String, typeName: String) throws {
        let parts = schema.split(separator: "/")
        #expect(parts.count == 2)
        #expect(parts.first.map(String.init) == typeName)
        #expect(try #require(Int(parts.last ?? "")) >= 1)
    }

    @Test("header names are the spellings NATS, JetStream and ADR-32 use")
    func headers() {
        #expect([Header.contentType, Header.msgId, Header.schema, Header.serviceError, Header.serviceErrorCode,
                 Header.expectedLastSubjectSequence, Header.expectedStream] == [
            "Content-Type", "Nats-Msg-Id", "Svyaz-Schema", "Nats-Service-Error", "Nats-Service-Error-Code",
            "Nats-Expected-Last-Subject-Sequence", "Nats-Expected-Stream",
        ])
        #expect(ContentType.msgpack == "application/msgpack")
    }
}
