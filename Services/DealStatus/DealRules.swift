import Foundation
import Messages

/// The outcome of applying one event to a deal.
enum DealTransition: Equatable {
    /// The deal changed: publish this snapshot (its version is one more than before).
    case applied(DealStatus)
    /// A duplicate or a late (out-of-order) event: absorbed, nothing changes.
    case ignored(String)
    /// Not a valid transition: recorded with its reason, nothing changes.
    case rejected(String)

    var isApplied: Bool {
        if case .applied = self { true } else { false }
    }
}

/// Why a deal's terms cannot be booked or amended, beside `MoneyError`.
enum DealTermsError: Error, Equatable, CustomStringConvertible {
    case invalidValueDate(String)
    case farLegNotAfterNear(near: String, far: String)
    case amountTooLarge(String)
    case sameCurrency(CurrencyCode)

    var description: String {
        switch self {
        case .sameCurrency(let code): "an FX deal exchanges two currencies, got \(code.rawValue) for \(code.rawValue)"
        case .amountTooLarge(let amount): "amount \(amount) is beyond any FX deal (at most \(DealRules.maximumMinorUnits) minor units a payment)"
        case .invalidValueDate(let text): "value date must be YYYY-MM-DD and exist, got \(text.debugDescription)"
        case .farLegNotAfterNear(let near, let far): "the far leg (\(far)) must settle after the near leg (\(near))"
        }
    }
}

/// The deal lifecycle: confirmation per deal, settlement per payment leg (see docs/DEALS.md).
enum DealRules {
    /// The largest payment a deal may have, in minor units (10 trillion in a currency with cents): larger is an
    /// impossible amount, refused. It also keeps a netting set's net within `Int64` for up to 9,223 such payments a
    /// currency.
    static let maximumMinorUnits: Int64 = 1_000_000_000_000_000

    /// The payment legs of a deal: base and quote flow per tenor, counter amounts rounded once, half-up.
    static func legs(for terms: DealTerms) throws -> [PaymentLeg] {
        guard terms.amount.currency == terms.baseCurrency else {
            throw MoneyError.currencyMismatch(terms.amount.currency, terms.baseCurrency)
        }
        guard terms.amount.minor > 0 else { throw MoneyError.invalidAmount(terms.amount.decimalString) }
        // Two payments in one currency would also share a leg id.
        guard terms.baseCurrency != terms.quoteCurrency else { throw DealTermsError.sameCurrency(terms.baseCurrency) }
        // A value date names a netting set and is a subject token: exactly YYYY-MM-DD, a day that exists.
        guard CalendarDay.isValid(terms.valueDate) else { throw DealTermsError.invalidValueDate(terms.valueDate) }
        if terms.product == .swap, let far = terms.farValueDate {
            guard CalendarDay.isValid(far) else { throw DealTermsError.invalidValueDate(far) }
            guard far > terms.valueDate else { throw DealTermsError.farLegNotAfterNear(near: terms.valueDate, far: far) }
        }
        var legs = try tenorLegs(.near, side: terms.side, rate: terms.rate.validated(), valueDate: terms.valueDate, terms: terms)
        if terms.product == .swap {
            guard let farRate = terms.farRate, let farValueDate = terms.farValueDate else {
                throw MoneyError.invalidRate("a swap needs farRate and farValueDate")
            }
            legs += try tenorLegs(.far, side: terms.side.opposite, rate: farRate.validated(), valueDate: farValueDate, terms: terms)
        }
        return legs
    }

    private static func tenorLegs(_ tenor: LegTenor, side: DealSide, rate: Rate, valueDate: String, terms: DealTerms) throws -> [PaymentLeg] {
        let counter = try Money.counterAmount(base: terms.amount, rate: rate, counterCurrency: terms.quoteCurrency)
        // The client buys base: the bank pays base currency and the client pays the counter amount.
        let baseDirection: PaymentDirection = side == .buy ? .bankPays : .clientPays
        let quoteDirection: PaymentDirection = side == .buy ? .clientPays : .bankPays
        for amount in [terms.amount, counter] where amount.minor > maximumMinorUnits {
            throw DealTermsError.amountTooLarge(amount.formatted())
        }
        return [
            PaymentLeg(id: "\(tenor.rawValue)-\(terms.baseCurrency)", tenor: tenor, amount: terms.amount, direction: baseDirection,
                       valueDate: valueDate),
            PaymentLeg(id: "\(tenor.rawValue)-\(terms.quoteCurrency)", tenor: tenor, amount: counter, direction: quoteDirection,
                       valueDate: valueDate),
        ]
    }

    /// Confirmation moves the issue allows: NEW → AWAITING → CONFIRMED | MISMATCHED | DISPUTED, back to AWAITING
    /// after a mismatch or dispute is resolved. CONFIRMED → AWAITING only by amendment; CANCELLED only by cancellation.
    /// The counterparty's answer may arrive before the back office's "sent for confirmation": NEW moves to CONFIRMED,
    /// MISMATCHED or DISPUTED directly, and the late AWAITING is absorbed (`lateConfirmation`). From a mismatch or
    /// dispute AWAITING is also the way back; the two are told apart by time: an AWAITING reported before the mismatch
    /// or dispute is late, one reported after it resolves it.
    static let confirmationMoves: [ConfirmationStatus: Set<ConfirmationStatus>] = [
        .new: [.awaiting, .confirmed, .mismatched, .disputed],
        .awaiting: [.confirmed, .mismatched, .disputed],
        .mismatched: [.awaiting, .disputed, .confirmed],
        .disputed: [.awaiting],
        .confirmed: [],
        .cancelled: [],
    ]

    /// An earlier step arriving after a later one: NEW after anything, AWAITING after CONFIRMED (a confirmed deal goes
    /// back to AWAITING only by amendment, which is its own event), and AWAITING reported before the mismatch or
    /// dispute the deal is in (`since`: when that was reported).
    static func lateConfirmation(_ status: ConfirmationStatus, at time: Date, after current: ConfirmationStatus, since: Date?) -> Bool {
        switch (status, current) {
        case (.new, _), (.awaiting, .confirmed): true
        // Reported at the same moment is taken as late: the mismatch stays until a clearly later resolution.
        case (.awaiting, .mismatched), (.awaiting, .disputed): since.map { time <= $0 } ?? false
        default: false
        }
    }

    /// Settlement progress order; FAILED sits beside SENT (a sent payment that did not arrive).
    static func rank(_ status: SettlementStatus) -> Int {
        switch status {
        case .pending: 0
        case .instructed: 1
        case .sent, .failed: 2
        case .settled: 3
        case .cancelled: 4
        }
    }

    /// The leg that keeps the settlement details of `currency` from changing now, nil when they may: a payment in it is
    /// on its way (SENT), or none is left to make (all settled or cancelled). A FAILED payment came back, and new
    /// details are how it is put right; a swap's far leg may get new details after its near leg settled.
    static func requisitesFixed(in currency: CurrencyCode, of legs: [PaymentLeg]) -> PaymentLeg? {
        let inCurrency = legs.filter { $0.amount.currency == currency }
        if let sent = inCurrency.first(where: { $0.status == .sent }) { return sent }
        return inCurrency.allSatisfy { $0.status == .settled || $0.status == .cancelled } ? inCurrency.last : nil
    }

    /// Applies `event` (stored at stream `sequence`) to `current` (nil before booking).
    static func apply(_ event: DealEvent, sequence: UInt64, to current: DealStatus?) -> DealTransition {
        if let current, sequence <= current.lastEventSequence { return .ignored("event \(sequence) already applied") }
        guard let current else {
            guard event.kind == .booked else { return .rejected("deal \(event.dealId) is not booked") }
            return book(event, sequence: sequence)
        }
        var next = current
        next.lastEventSequence = sequence
        switch event.kind {
        case .booked:
            return .ignored("deal \(event.dealId) is already booked")
        case .confirmation:
            guard let status = event.confirmation else { return .rejected("confirmation event without status") }
            if status == current.confirmation { return .ignored("confirmation already \(status.rawValue)") }
            if current.confirmation == .cancelled { return .ignored("deal is cancelled") }
            if lateConfirmation(status, at: event.occurredAt, after: current.confirmation, since: current.confirmationAt) {
                return .ignored("late \(status.rawValue) after \(current.confirmation.rawValue)")
            }
            guard status != .cancelled, confirmationMoves[current.confirmation, default: []].contains(status) else {
                return .rejected("confirmation cannot move from \(current.confirmation.rawValue) to \(status.rawValue)")
            }
            next.confirmation = status
            next.mismatchedFields = status == .mismatched ? (event.mismatchedFields ?? []) : nil
            next.confirmationReason = status == .confirmed ? nil : (event.reason ?? defaultReason(status))
            next.confirmationAt = event.occurredAt
        case .settlement:
            guard let legId = event.legId, let status = event.settlement else { return .rejected("settlement event without leg or status") }
            guard let index = current.legs.firstIndex(where: { $0.id == legId }) else { return .rejected("unknown leg \(legId)") }
            let leg = current.legs[index]
            switch settlementMove(from: leg.status, to: status, requisites: current.terms.requisites, currency: leg.amount.currency) {
            case .some(.ignored(let why)): return .ignored(why)
            case .some(.rejected(let why)): return .rejected(why)
            default: break
            }
            next.legs[index].status = status
            next.legs[index].statusAt = event.occurredAt
            next.legs[index].reason = status == .failed ? (event.reason ?? "payment not received") : nil
        case .amended:
            guard let terms = event.terms else { return .rejected("amendment without terms") }
            if current.confirmation == .cancelled { return .rejected("deal is cancelled") }
            // Sent again (a retry under a new event id, or after the dedupe window): nothing to re-confirm. Settlement
            // details change by their own event (audited); a retried amendment must not put the old ones back.
            var sameDetails = terms
            sameDetails.requisites = current.terms.requisites
            if sameDetails == current.terms {
                return .ignored(terms == current.terms ? "amendment changes nothing" : "amendment changes nothing but settlement details, which change by their own event")
            }
            if let released = current.legs.first(where: { rank($0.status) >= 2 && $0.status != .cancelled }) {
                return .rejected("leg \(released.id) is already \(released.status.rawValue); amounts are fixed after release")
            }
            guard terms.client == current.terms.client, terms.dealId == current.terms.dealId else {
                return .rejected("amendment names another deal")
            }
            do {
                next.legs = try legs(for: terms)
            } catch {
                return .rejected("invalid amended terms: \(error)")
            }
            // Settlement details change by their own, audited event. The back office's amendment repeats the details the
            // deal was booked with: the deal keeps its own for the currencies it has, and takes the amendment's only
            // for a currency new to it.
            let held = Set(current.terms.requisites.map(\.currency))
            next.terms = terms
            let inPair = { (details: SettlementRequisites) in details.currency == terms.baseCurrency || details.currency == terms.quoteCurrency }
            next.terms.requisites = current.terms.requisites.filter(inPair) + terms.requisites.filter { inPair($0) && !held.contains($0.currency) }
            next.confirmation = .awaiting  // re-confirmation required after an amendment
            next.confirmationReason = "re-confirmation after amendment"
            next.confirmationAt = event.occurredAt
            next.mismatchedFields = nil
        case .cancelled:
            if current.confirmation == .cancelled { return .ignored("deal already cancelled") }
            if let released = current.legs.first(where: { [.sent, .settled].contains($0.status) }) {
                return .rejected("leg \(released.id) is already \(released.status.rawValue); too late to cancel")
            }
            next.confirmation = .cancelled
            next.confirmationReason = event.reason ?? "cancelled"
            next.confirmationAt = event.occurredAt
            for i in next.legs.indices {
                next.legs[i].status = .cancelled
                next.legs[i].statusAt = event.occurredAt
            }
        case .requisitesChanged:
            guard let requisites = event.requisites, !requisites.isEmpty else { return .rejected("requisites change without requisites") }
            let currencies = Set(requisites.map(\.currency))
            // The deal may have been amended to another pair since the change was asked for.
            if let foreign = currencies.sorted().first(where: { currency in !current.legs.contains { $0.amount.currency == currency } }) {
                return .rejected("deal has no \(foreign) leg")
            }
            if let fixed = currencies.sorted().lazy.compactMap({ requisitesFixed(in: $0, of: current.legs) }).first {
                return .rejected("leg \(fixed.id) is already \(fixed.status.rawValue); requisites are fixed after release")
            }
            var merged = current.terms.requisites.filter { !currencies.contains($0.currency) }
            merged += requisites
            merged.sort { $0.currency.rawValue < $1.currency.rawValue }
            if Set(merged) == Set(current.terms.requisites) { return .ignored("requisites unchanged") }
            next.terms.requisites = merged
            // Instructed and failed payments are instructed again, with the new details.
            for i in next.legs.indices where currencies.contains(next.legs[i].amount.currency)
                && (next.legs[i].status == .instructed || next.legs[i].status == .failed) {
                next.legs[i].status = .instructed
                next.legs[i].statusAt = event.occurredAt
                next.legs[i].reason = "re-instructed after requisites change"
            }
        }
        next.version = current.version + 1
        next.updatedAt = event.occurredAt
        next.settlement = DealSettlementStatus(legs: next.legs)
        next.settledAt = next.settlement == .settled ? next.legs.compactMap(\.statusAt).max() : nil
        return .applied(next)
    }

    /// nil when the move is valid.
    private static func settlementMove(from current: SettlementStatus, to status: SettlementStatus,
                                       requisites: [SettlementRequisites], currency: CurrencyCode) -> DealTransition? {
        if current == status { return .ignored("leg already \(status.rawValue)") }
        if current.isTerminal { return .ignored("leg already \(current.rawValue)") }
        switch status {
        case .cancelled:
            if current == .sent { return .rejected("payment already released; cannot cancel") }
            return nil
        case .failed:
            if current == .pending { return .rejected("a payment not yet instructed cannot fail") }
            return nil
        case .pending:
            return .ignored("leg already \(current.rawValue)")
        case .instructed:
            if current == .failed { break }  // re-instruction after a failure
            if rank(status) <= rank(current) { return .ignored("late \(status.rawValue) after \(current.rawValue)") }
        case .sent, .settled:
            // After FAILED comes re-instruction; a SENT then is the one that failed, arriving late. A SETTLED is the
            // payment arriving after all.
            if current == .failed && status == .sent { return .ignored("late SENT after FAILED; re-instruct the payment") }
            if rank(status) <= rank(current) && current != .failed { return .ignored("late \(status.rawValue) after \(current.rawValue)") }
        }
        if !requisites.contains(where: { $0.currency == currency }) {
            return .rejected("no settlement requisites for \(currency)")
        }
        return nil
    }

    private static func book(_ event: DealEvent, sequence: UInt64) -> DealTransition {
        guard let terms = event.terms else { return .rejected("booking without terms") }
        guard terms.client == event.client, terms.dealId == event.dealId else { return .rejected("terms name another deal") }
        do {
            let legs = try legs(for: terms)
            return .applied(DealStatus(terms: terms, version: 1, confirmation: .new, confirmationReason: "confirmation not yet sent",
                                       confirmationAt: event.occurredAt, legs: legs, settlement: .pending, updatedAt: event.occurredAt, lastEventSequence: sequence))
        } catch {
            return .rejected("invalid terms: \(error)")
        }
    }

    private static func defaultReason(_ status: ConfirmationStatus) -> String {
        switch status {
        case .new: "confirmation not yet sent"
        case .awaiting: "awaiting counterparty confirmation"
        case .mismatched: "confirmation details differ"
        case .disputed: "disputed by the client"
        case .cancelled: "cancelled"
        case .confirmed: ""
        }
    }
}
