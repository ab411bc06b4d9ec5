import Foundation
import Wire

// Hand-written MessagePack for the snapshot deal-status publishes on every change (the hot path): the same bytes as
// the synthesized `Encodable` conformances, which tests check (`DealMessagePackTests`). A field added to one of these
// types must be added here too; the tests fail until it is.

extension DealStatus: MessagePackWritable {
    public func writeMessagePack(to out: MessagePackOutput) throws(WireError) {
        out.map(count: 7 + (confirmationReason == nil ? 0 : 1) + (mismatchedFields == nil ? 0 : 1) + (confirmationAt == nil ? 0 : 1)
            + (settledAt == nil ? 0 : 1))
        out.write("terms"); try out.write(terms)
        out.write("version"); out.write(version)
        out.write("confirmation"); out.write(confirmation)
        if let confirmationReason { out.write("confirmationReason"); out.write(confirmationReason) }
        if let mismatchedFields { out.write("mismatchedFields"); out.write(mismatchedFields) }
        if let confirmationAt { out.write("confirmationAt"); try out.write(confirmationAt) }
        out.write("legs"); try out.write(legs)
        out.write("settlement"); out.write(settlement)
        if let settledAt { out.write("settledAt"); try out.write(settledAt) }
        out.write("updatedAt"); try out.write(updatedAt)
        out.write("lastEventSequence"); out.write(lastEventSequence)
    }
}

extension DealTerms: MessagePackWritable {
    public func writeMessagePack(to out: MessagePackOutput) throws(WireError) {
        out.map(count: 12 + (farRate == nil ? 0 : 1) + (farValueDate == nil ? 0 : 1))
        out.write("client"); out.write(client)
        out.write("dealId"); out.write(dealId)
        out.write("tradeTime"); try out.write(tradeTime)
        out.write("channel"); out.write(channel)
        out.write("product"); out.write(product)
        out.write("side"); out.write(side)
        out.write("baseCurrency"); out.write(baseCurrency.rawValue)
        out.write("quoteCurrency"); out.write(quoteCurrency.rawValue)
        out.write("amount"); try out.write(amount)
        out.write("rate"); try out.write(rate)
        out.write("valueDate"); out.write(valueDate)
        if let farRate { out.write("farRate"); try out.write(farRate) }
        if let farValueDate { out.write("farValueDate"); out.write(farValueDate) }
        out.write("requisites"); try out.write(requisites)
    }
}

extension PaymentLeg: MessagePackWritable {
    public func writeMessagePack(to out: MessagePackOutput) throws(WireError) {
        out.map(count: 6 + (statusAt == nil ? 0 : 1) + (reason == nil ? 0 : 1))
        out.write("id"); out.write(id)
        out.write("tenor"); out.write(tenor)
        out.write("amount"); try out.write(amount)
        out.write("direction"); out.write(direction)
        out.write("valueDate"); out.write(valueDate)
        out.write("status"); out.write(status)
        if let statusAt { out.write("statusAt"); try out.write(statusAt) }
        if let reason { out.write("reason"); out.write(reason) }
    }
}

extension SettlementRequisites: MessagePackWritable {
    public func writeMessagePack(to out: MessagePackOutput) throws(WireError) {
        out.map(count: 3 + (bankName == nil ? 0 : 1))
        out.write("currency"); out.write(currency.rawValue)
        out.write("account"); out.write(account)
        out.write("bic"); out.write(bic)
        if let bankName { out.write("bankName"); out.write(bankName) }
    }
}

extension Money: MessagePackWritable {
    public func writeMessagePack(to out: MessagePackOutput) throws(WireError) {
        out.map(count: 2)
        out.write("minor"); out.write(minor)
        out.write("currency"); out.write(currency.rawValue)
    }
}

extension Rate: MessagePackWritable {
    public func writeMessagePack(to out: MessagePackOutput) throws(WireError) {
        out.map(count: 2)
        out.write("mantissa"); out.write(mantissa)
        out.write("scale"); out.write(scale)
    }
}

// Hand-written reading of the event deal-status decodes once per event. Anything unusual (unknown or repeated key,
// nil value, wrong type, missing field) declines, and `MessagePackDecoder` falls back to `Decodable` for the verdict.

extension DealEvent: MessagePackReadable {
    public init?(messagePack input: inout MessagePackInput) {
        guard let count = input.map() else { return nil }
        var eventId: String?, client: String?, dealId: String?, kind: DealEventKind?, occurredAt: Date?
        var terms: DealTerms?, confirmation: ConfirmationStatus?, mismatchedFields: [String]?, legId: String?
        var settlement: SettlementStatus?, requisites: [SettlementRequisites]?, reason: String?
        for _ in 0..<count {
            guard let key = input.string() else { return nil }
            switch key {
            case "eventId": guard eventId == nil, let v = input.string() else { return nil }; eventId = v
            case "client": guard client == nil, let v = input.string() else { return nil }; client = v
            case "dealId": guard dealId == nil, let v = input.string() else { return nil }; dealId = v
            case "kind": guard kind == nil, let v = input.value(DealEventKind.self) else { return nil }; kind = v
            case "occurredAt": guard occurredAt == nil, let v = input.date() else { return nil }; occurredAt = v
            case "terms": guard terms == nil, let v = input.value(DealTerms.self) else { return nil }; terms = v
            case "confirmation": guard confirmation == nil, let v = input.value(ConfirmationStatus.self) else { return nil }; confirmation = v
            case "mismatchedFields": guard mismatchedFields == nil, let v = input.strings() else { return nil }; mismatchedFields = v
            case "legId": guard legId == nil, let v = input.string() else { return nil }; legId = v
            case "settlement": guard settlement == nil, let v = input.value(SettlementStatus.self) else { return nil }; settlement = v
            case "requisites": guard requisites == nil, let v = input.array(of: SettlementRequisites.self) else { return nil }; requisites = v
            case "reason": guard reason == nil, let v = input.string() else { return nil }; reason = v
            default: return nil
            }
        }
        guard let eventId, let client, let dealId, let kind, let occurredAt else { return nil }
        self.init(eventId: eventId, client: client, dealId: dealId, kind: kind, occurredAt: occurredAt, terms: terms,
                  confirmation: confirmation, mismatchedFields: mismatchedFields, legId: legId, settlement: settlement,
                  requisites: requisites, reason: reason)
    }
}

extension DealTerms: MessagePackReadable {
    public init?(messagePack input: inout MessagePackInput) {
        guard let count = input.map() else { return nil }
        var client: String?, dealId: String?, tradeTime: Date?, channel: DealChannel?, product: DealProduct?, side: DealSide?
        var baseCurrency: CurrencyCode?, quoteCurrency: CurrencyCode?, amount: Money?, rate: Rate?, valueDate: String?
        var farRate: Rate?, farValueDate: String?, requisites: [SettlementRequisites]?
        for _ in 0..<count {
            guard let key = input.string() else { return nil }
            switch key {
            case "client": guard client == nil, let v = input.string() else { return nil }; client = v
            case "dealId": guard dealId == nil, let v = input.string() else { return nil }; dealId = v
            case "tradeTime": guard tradeTime == nil, let v = input.date() else { return nil }; tradeTime = v
            case "channel": guard channel == nil, let v = input.value(DealChannel.self) else { return nil }; channel = v
            case "product": guard product == nil, let v = input.value(DealProduct.self) else { return nil }; product = v
            case "side": guard side == nil, let v = input.value(DealSide.self) else { return nil }; side = v
            case "baseCurrency": guard baseCurrency == nil, let v = input.value(CurrencyCode.self) else { return nil }; baseCurrency = v
            case "quoteCurrency": guard quoteCurrency == nil, let v = input.value(CurrencyCode.self) else { return nil }; quoteCurrency = v
            case "amount": guard amount == nil, let v = input.value(Money.self) else { return nil }; amount = v
            case "rate": guard rate == nil, let v = input.value(Rate.self) else { return nil }; rate = v
            case "valueDate": guard valueDate == nil, let v = input.string() else { return nil }; valueDate = v
            case "farRate": guard farRate == nil, let v = input.value(Rate.self) else { return nil }; farRate = v
            case "farValueDate": guard farValueDate == nil, let v = input.string() else { return nil }; farValueDate = v
            case "requisites": guard requisites == nil, let v = input.array(of: SettlementRequisites.self) else { return nil }; requisites = v
            default: return nil
            }
        }
        guard let client, let dealId, let tradeTime, let channel, let product, let side, let baseCurrency, let quoteCurrency,
              let amount, let rate, let valueDate, let requisites
        else { return nil }
        self.init(client: client, dealId: dealId, tradeTime: tradeTime, channel: channel, product: product, side: side,
                  baseCurrency: baseCurrency, quoteCurrency: quoteCurrency, amount: amount, rate: rate, valueDate: valueDate,
                  farRate: farRate, farValueDate: farValueDate, requisites: requisites)
    }
}

extension SettlementRequisites: MessagePackReadable {
    public init?(messagePack input: inout MessagePackInput) {
        guard let count = input.map() else { return nil }
        var currency: CurrencyCode?, account: String?, bic: String?, bankName: String?
        for _ in 0..<count {
            guard let key = input.string() else { return nil }
            switch key {
            case "currency": guard currency == nil, let v = input.value(CurrencyCode.self) else { return nil }; currency = v
            case "account": guard account == nil, let v = input.string() else { return nil }; account = v
            case "bic": guard bic == nil, let v = input.string() else { return nil }; bic = v
            case "bankName": guard bankName == nil, let v = input.string() else { return nil }; bankName = v
            default: return nil
            }
        }
        guard let currency, let account, let bic else { return nil }
        self.init(currency: currency, account: account, bic: bic, bankName: bankName)
    }
}

extension Money: MessagePackReadable {
    public init?(messagePack input: inout MessagePackInput) {
        guard input.map() == 2 else { return nil }
        var minor: Int64?, currency: CurrencyCode?
        for _ in 0..<2 {
            switch input.string() {
            case "minor": guard minor == nil, let v = input.int64() else { return nil }; minor = v
            case "currency": guard currency == nil, let v = input.value(CurrencyCode.self) else { return nil }; currency = v
            default: return nil
            }
        }
        guard let minor, let currency else { return nil }
        self.init(minor: minor, currency: currency)
    }
}

extension Rate: MessagePackReadable {
    public init?(messagePack input: inout MessagePackInput) {
        guard input.map() == 2 else { return nil }
        var mantissa: Int64?, scale: Int?
        for _ in 0..<2 {
            switch input.string() {
            case "mantissa": guard mantissa == nil, let v = input.int64() else { return nil }; mantissa = v
            case "scale": guard scale == nil, let v = input.int() else { return nil }; scale = v
            default: return nil
            }
        }
        guard let mantissa, let scale else { return nil }
        self.init(mantissa: mantissa, scale: scale)
    }
}

// The snapshot is read by every other replica's projection and by netting, once per version.

extension DealStatus: MessagePackReadable {
    public init?(messagePack input: inout MessagePackInput) {
        guard let count = input.map() else { return nil }
        var terms: DealTerms?, version: Int64?, confirmation: ConfirmationStatus?, confirmationReason: String?
        var mismatchedFields: [String]?, confirmationAt: Date?, legs: [PaymentLeg]?, settlement: DealSettlementStatus?, settledAt: Date?
        var updatedAt: Date?, lastEventSequence: UInt64?
        for _ in 0..<count {
            guard let key = input.string() else { return nil }
            switch key {
            case "terms": guard terms == nil, let v = input.value(DealTerms.self) else { return nil }; terms = v
            case "version": guard version == nil, let v = input.int64() else { return nil }; version = v
            case "confirmation": guard confirmation == nil, let v = input.value(ConfirmationStatus.self) else { return nil }; confirmation = v
            case "confirmationReason": guard confirmationReason == nil, let v = input.string() else { return nil }; confirmationReason = v
            case "mismatchedFields": guard mismatchedFields == nil, let v = input.strings() else { return nil }; mismatchedFields = v
            case "confirmationAt": guard confirmationAt == nil, let v = input.date() else { return nil }; confirmationAt = v
            case "legs": guard legs == nil, let v = input.array(of: PaymentLeg.self) else { return nil }; legs = v
            case "settlement": guard settlement == nil, let v = input.value(DealSettlementStatus.self) else { return nil }; settlement = v
            case "settledAt": guard settledAt == nil, let v = input.date() else { return nil }; settledAt = v
            case "updatedAt": guard updatedAt == nil, let v = input.date() else { return nil }; updatedAt = v
            case "lastEventSequence": guard lastEventSequence == nil, let v = input.uint64() else { return nil }; lastEventSequence = v
            default: return nil
            }
        }
        guard let terms, let version, let confirmation, let legs, let settlement, let updatedAt, let lastEventSequence else { return nil }
        self.init(terms: terms, version: version, confirmation: confirmation, confirmationReason: confirmationReason,
                  mismatchedFields: mismatchedFields, confirmationAt: confirmationAt, legs: legs, settlement: settlement, settledAt: settledAt,
                  updatedAt: updatedAt, lastEventSequence: lastEventSequence)
    }
}

extension PaymentLeg: MessagePackReadable {
    public init?(messagePack input: inout MessagePackInput) {
        guard let count = input.map() else { return nil }
        var id: String?, tenor: LegTenor?, amount: Money?, direction: PaymentDirection?, valueDate: String?
        var status: SettlementStatus?, statusAt: Date?, reason: String?
        for _ in 0..<count {
            guard let key = input.string() else { return nil }
            switch key {
            case "id": guard id == nil, let v = input.string() else { return nil }; id = v
            case "tenor": guard tenor == nil, let v = input.value(LegTenor.self) else { return nil }; tenor = v
            case "amount": guard amount == nil, let v = input.value(Money.self) else { return nil }; amount = v
            case "direction": guard direction == nil, let v = input.value(PaymentDirection.self) else { return nil }; direction = v
            case "valueDate": guard valueDate == nil, let v = input.string() else { return nil }; valueDate = v
            case "status": guard status == nil, let v = input.value(SettlementStatus.self) else { return nil }; status = v
            case "statusAt": guard statusAt == nil, let v = input.date() else { return nil }; statusAt = v
            case "reason": guard reason == nil, let v = input.string() else { return nil }; reason = v
            default: return nil
            }
        }
        guard let id, let tenor, let amount, let direction, let valueDate, let status else { return nil }
        self.init(id: id, tenor: tenor, amount: amount, direction: direction, valueDate: valueDate, status: status, statusAt: statusAt,
                  reason: reason)
    }
}
