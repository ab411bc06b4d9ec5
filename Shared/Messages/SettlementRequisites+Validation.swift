/// Why settlement details a client sends cannot be used; `field` names the offending one for the error reply.
public enum RequisitesError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidBIC(String)
    case invalidAccount(String, currency: CurrencyCode)

    public var field: String {
        switch self {
        case .invalidBIC: "requisites.bic"
        case .invalidAccount: "requisites.account"
        }
    }

    public var description: String {
        switch self {
        case .invalidBIC(let text):
            "BIC must be 8 or 11 characters (bank 4 letters, country 2 letters, location 2, branch 3 optional), or for rubles "
                + "a 9-digit Russian BIK, got \(text.debugDescription)"
        case .invalidAccount(let text, let currency) where currency == "RUB":
            "a ruble account has 20 digits, got \(text.debugDescription)"
        case .invalidAccount(let text, _):
            "account must be 5 to 34 letters and digits (an IBAN at most), got \(text.debugDescription)"
        }
    }
}

extension SettlementRequisites {
    /// An account or BIC as it is compared and stored: upper case, without spaces or tabs.
    public static func compact(_ text: String) -> String {
        String(text.uppercased().unicodeScalars.filter { $0 != " " && $0 != "\t" })
    }

    /// These details as a payment can use them, spaces around and inside the account and BIC dropped and letters made
    /// upper case ("de89 3704 0044 0532 0130 00" is the IBAN DE89370400440532013000):
    /// - the BIC as ISO 9362 has it: 4 letters of the bank, 2 of the country, 2 letters or digits of the location and
    ///   optionally 3 of the branch; for rubles also the Russian bank's БИК, 9 digits starting 04 (domestic payments);
    /// - the account 5 to 34 letters and digits (an IBAN has at most 34); an account in rubles, 20 digits, as Russian
    ///   banks number them.
    public func validated() throws -> SettlementRequisites {
        let bic = Self.compact(self.bic)
        let account = Self.compact(self.account)
        func all(_ text: Substring, _ allowed: (UInt8) -> Bool) -> Bool { text.utf8.allSatisfy(allowed) }
        let letter = { (c: UInt8) in c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") }
        let digit = { (c: UInt8) in c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
        let alphanumeric = { (c: UInt8) in letter(c) || digit(c) }
        let bicText = Substring(bic)
        let swift = (bic.utf8.count == 8 || bic.utf8.count == 11) && all(bicText.prefix(6), letter) && all(bicText.dropFirst(6), alphanumeric)
        let bik = currency == "RUB" && bic.utf8.count == 9 && bic.hasPrefix("04") && all(bicText, digit)
        guard swift || bik else { throw RequisitesError.invalidBIC(self.bic) }
        let valid = currency == "RUB"
            ? account.utf8.count == 20 && all(Substring(account), digit)
            : (5...34).contains(account.utf8.count) && all(Substring(account), alphanumeric)
        guard valid else { throw RequisitesError.invalidAccount(self.account, currency: currency) }
        return SettlementRequisites(currency: currency, account: account, bic: bic, bankName: bankName)
    }
}
