import Messages
import Testing

@Suite("Subjects and tokens")
struct SubjectTests {
    @Test("tokens refuse what could widen or break a subject", arguments: ["", "a.b", "*", "C1>", "a b", "tab\t", "new\nline", "\u{7F}",
                                                                          String(repeating: "x", count: 129)])
    func badTokens(text: String) {
        #expect(throws: SubjectError.self) { try SubjectToken(text) }
        #expect(SubjectToken(rawValue: text) == nil)
    }

    @Test("builders place client and deal tokens where the contract says")
    func builders() throws {
        let client = try SubjectToken("C1")
        let deal = try SubjectToken("599164")
        #expect(Subjects.Deal.event(client: client, deal: deal) == "deal.event.C1.599164")
        #expect(Subjects.Deal.status(client: client, deal: deal) == "deal.status.C1.599164")
        #expect(Subjects.Deal.statusWildcard(client: client) == "deal.status.C1.>")
        #expect(Subjects.Deal.queryList(client: client) == "deal.query.C1.list")
        #expect(Subjects.Deal.requisites(client: client) == "deal.cmd.C1.requisites")
        #expect(Subjects.Netting.close(client: client) == "netting.cmd.C1.close")
        #expect(Subjects.Netting.status(client: client, set: try SubjectToken("2024-12-02")) == "netting.status.C1.2024-12-02")
    }

    @Test("wildcard matching and token extraction", arguments: [
        ("deal.status.C1.D1", "deal.status.C1.>", true), ("deal.status.C1.D1", "deal.status.*.D1", true),
        ("deal.status.C1.D1", "deal.status.C2.>", false), ("deal.status.C1", "deal.status.C1.>", false),
        ("deal.status.C1.D1", "deal.status.*", false), ("deal.query.C1.list", "deal.query.*.list", true),
    ])
    func matching(subject: String, pattern: String, matches: Bool) {
        #expect(Subject(subject).matches(pattern) == matches)
    }

    @Test("the client token is read back from a request subject")
    func extraction() {
        #expect(Subject("netting.cmd.C42.close")[2] == "C42")
        #expect(Subject("netting.cmd")[5] == nil)
    }
}
