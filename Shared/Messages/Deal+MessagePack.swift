import Foundation
import Wire

// Hand-written MessagePack for the snapshot deal-status publishes on every change (the hot path): the same bytes as
// the synthesized `Encodable` conformances, which tests check (`DealMessagePackTests`). A field added to one of these
// types must be added here too; the tests fail until it is.

extension DealStatus: MessagePackWritable {
    public func writeMessagePack(to out: MessagePackOutput) throws(WireError) {
        out.map(count: 7 + (confirmationReason == nil ? 0 : 1) + (mismatchedFields == nil ? 0 : 1) + (settledAt == nil ? 0 : 1))
        out.write("terms"); try out.write(terms)
        out.write("version"); out.write(version)
        out.write("confirmation"); out.write(confirmation)
        if let confirmationReason { out.write("confirmationReason"); out.write(confirmationReason) }
        if let mismatchedFields { out.write("mismatchedFields"); out.write(mismatchedFields) }
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
