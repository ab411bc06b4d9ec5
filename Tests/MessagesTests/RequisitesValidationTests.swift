import Messages
import Testing

@Suite("Settlement details a client sends")
struct RequisitesValidationTests {
    @Test("usable details come back compacted and in upper case", arguments: [
        ("RUB", "4070 2810 9380 0001 2345", "sabr ru mm", "40702810938000012345", "SABRRUMM"),
        ("EUR", "de89 3704 0044 0532 0130 00", "COBADEFFXXX", "DE89370400440532013000", "COBADEFFXXX"),
        ("CNY", "40807156700000001234", "BKCHCNBJ", "40807156700000001234", "BKCHCNBJ"),
        ("USD", "12345", "CHASUS33", "12345", "CHASUS33"),
        ("RUB", "40702810938000012345", "044525225", "40702810938000012345", "044525225"),  // a Russian BIK, for rubles
    ])
    func usable(currency: String, account: String, bic: String, expectedAccount: String, expectedBIC: String) throws {
        let code = try CurrencyCode(validating: currency)
        let checked = try SettlementRequisites(currency: code, account: account, bic: bic, bankName: "Bank").validated()
        #expect(checked == SettlementRequisites(currency: code, account: expectedAccount, bic: expectedBIC, bankName: "Bank"))
    }

    @Test("a BIC must be ISO 9362, an account 5–34 letters and digits, a ruble account 20 digits", arguments: [
        ("RUB", "40702810938000012345", "SABRRU", "requisites.bic"),
        ("RUB", "40702810938000012345", "SABR1UMM", "requisites.bic"),
        ("RUB", "40702810938000012345", "SABRRUMM1", "requisites.bic"),
        ("RUB", "40702810938000012345", "SABRRUMM-01", "requisites.bic"),
        ("RUB", "4070281093800001234", "SABRRUMM", "requisites.account"),
        ("RUB", "4070281093800001234X", "SABRRUMM", "requisites.account"),
        ("USD", "1234", "CHASUS33", "requisites.account"),
        ("USD", String(repeating: "1", count: 35), "CHASUS33", "requisites.account"),
        ("USD", "1234-5678", "CHASUS33", "requisites.account"),
        ("USD", "12345678", "", "requisites.bic"),
        ("USD", "12345678", "044525225", "requisites.bic"),  // a BIK is for rubles only
        ("RUB", "40702810938000012345", "144525225", "requisites.bic"),
    ])
    func unusable(currency: String, account: String, bic: String, field: String) throws {
        let details = SettlementRequisites(currency: try CurrencyCode(validating: currency), account: account, bic: bic)
        #expect(throws: RequisitesError.self) {
            do {
                _ = try details.validated()
            } catch let error as RequisitesError {
                #expect(error.field == field)
                throw error
            }
        }
    }
}
