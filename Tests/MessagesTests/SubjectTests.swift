import Messages
import Testing

@Suite("Subject tokens")
struct SubjectTokenTests {
    @Test("every forbidden character is refused with the character named", arguments: [
        ".", "*", ">", " ", "\t", "\n", "\r", "\r\n", "\u{0}", "\u{1B}", "\u{7F}", "\u{85}", "\u{9F}", "\u{A0}", "\u{2028}", "\u{3000}",
    ] as [Character])
    func forbidden(character: Character) {
        let text = "C\(character)1"
        #expect(throws: SubjectError.forbiddenCharacter(text, Character(character.unicodeScalars.first!))) { try SubjectToken(text) }
        #expect(SubjectToken(rawValue: text) == nil)
    }

    @Test("a dot hidden in a grapheme by a combining mark is still a separator")
    func combiningDot() {
        #expect(throws: SubjectError.forbiddenCharacter("C.\u{301}1", ".")) { try SubjectToken("C.\u{301}1") }
    }

    @Test("empty and oversize tokens are refused")
    func emptyAndLong() throws {
        #expect(throws: SubjectError.empty) { try SubjectToken("") }
        #expect(throws: SubjectError.tooLong(String(repeating: "x", count: 129))) { try SubjectToken(String(repeating: "x", count: 129)) }
        #expect(throws: SubjectError.tooLong(String(repeating: "ж", count: 65))) { try SubjectToken(String(repeating: "ж", count: 65)) }
        #expect(try SubjectToken(String(repeating: "x", count: 128)).rawValue.utf8.count == 128)
    }

    @Test("ordinary ids are tokens", arguments: ["C1", "599164", "2024-12-02", "client_42", "Клиент", "a$b", "ACME-RU:7"])
    func valid(text: String) throws {
        #expect(try SubjectToken(text).rawValue == text)
    }

    @Test("tokens compare byte-wise, as NATS does")
    func byteEquality() throws {
        #expect(try SubjectToken("\u{E9}") != SubjectToken("e\u{301}"))
        #expect(Set([try SubjectToken("\u{E9}"), try SubjectToken("e\u{301}")]).count == 2)
    }
}

@Suite("Subjects")
struct SubjectTests {
    static let client = try! SubjectToken("C1")
    static let deal = try! SubjectToken("D1")
    static let set = try! SubjectToken("2024-12-02")

    @Test("builders place client, deal and set tokens where the contract says", arguments: [
        (Subjects.Deal.event(client: client, deal: deal), "deal.event.C1.D1"),
        (Subjects.Deal.eventWildcard(client: client), "deal.event.C1.>"),
        (Subjects.Deal.status(client: client, deal: deal), "deal.status.C1.D1"),
        (Subjects.Deal.statusWildcard(client: client), "deal.status.C1.>"),
        (Subjects.Deal.queryList(client: client), "deal.query.C1.list"),
        (Subjects.Deal.queryGet(client: client), "deal.query.C1.get"),
        (Subjects.Deal.requisites(client: client), "deal.cmd.C1.requisites"),
        (Subjects.Netting.preview(client: client), "netting.cmd.C1.preview"),
        (Subjects.Netting.include(client: client), "netting.cmd.C1.include"),
        (Subjects.Netting.exclude(client: client), "netting.cmd.C1.exclude"),
        (Subjects.Netting.close(client: client), "netting.cmd.C1.close"),
        (Subjects.Netting.status(client: client, set: set), "netting.status.C1.2024-12-02"),
        (Subjects.Netting.statusWildcard(client: client), "netting.status.C1.>"),
        (Subjects.RefData.currencyGet, "ref.currency.get"),
        (Subjects.RefData.fxCounter, "ref.fx.counter"),
    ])
    func builders(built: String, expected: String) {
        #expect(built == expected)
    }

    @Test("each builder's subject is matched by its service's pattern, which captures the client", arguments: [
        (Subjects.Deal.queryList(client: client), Subjects.Deal.queryListPattern),
        (Subjects.Deal.queryGet(client: client), Subjects.Deal.queryGetPattern),
        (Subjects.Deal.requisites(client: client), Subjects.Deal.requisitesPattern),
    ] + Subjects.Netting.Command.allCases.map { (Subjects.Netting.command($0, client: client), Subjects.Netting.commandPattern($0)) })
    func servicePatterns(subject: String, pattern: String) {
        #expect(Subject(subject).captures(pattern) == [Self.client])
    }

    @Test("stream-wide wildcards cover every per-client subject")
    func streamWildcards() {
        #expect(Subject(Subjects.Deal.event(client: Self.client, deal: Self.deal)).matches(Subjects.Deal.allEvents))
        #expect(Subject(Subjects.Deal.status(client: Self.client, deal: Self.deal)).matches(Subjects.Deal.allStatuses))
        #expect(Subject(Subjects.Netting.status(client: Self.client, set: Self.set)).matches(Subjects.Netting.allStatuses))
        #expect(!Subject(Subjects.Deal.status(client: Self.client, deal: Self.deal)).matches(Subjects.Deal.allEvents))
    }

    @Test("wildcard matching follows NATS", arguments: [
        ("deal.status.C1.D1", "deal.status.C1.>", true), ("deal.status.C1.D1", "deal.status.*.D1", true),
        ("deal.status.C1.D1", "deal.status.C2.>", false), ("deal.status.C1", "deal.status.C1.>", false),
        ("deal.status.C1.D1", "deal.status.*", false), ("deal.status.C1.D1", ">", true), ("deal.status.C1.D1", "*.*.*.*", true),
        ("deal.status.C1.D1", "deal.status.C1.D1", true), ("deal.status.C1.D1", "deal.status.C1.D1.x", false),
        ("deal.status.C1.D1", "deal.>.D1", false), ("deal.status.C1.D1", "deal..C1.D1", false), ("deal.status.C1.D1", "", false),
        ("deal.status.C1.D1", "deal.stat*.C1.D1", false), ("deal.status.e\u{301}.D1", "deal.status.\u{E9}.D1", false),
        ("deal..C1.D1", "deal.*.C1.D1", false), ("deal.status.C1.", "deal.status.C1.>", false), ("deal.status.C1.", "deal.status.C1.*", false),
    ])
    func matching(subject: String, pattern: String, matches: Bool) {
        #expect(Subject(subject).matches(pattern) == matches)
    }

    @Test("captures are the wildcard tokens in order, every token under >")
    func captures() {
        let subject = Subject("netting.status.C42.2024-12-02")
        #expect(subject.captures("netting.status.*.*")?.map(\.rawValue) == ["C42", "2024-12-02"])
        #expect(subject.captures("netting.*.C42.>")?.map(\.rawValue) == ["status", "2024-12-02"])
        #expect(subject.captures("netting.status.C42.2024-12-02") == [])
        #expect(subject.captures("netting.cmd.*.*") == nil)
        #expect(subject[2] == "C42")
        #expect(subject.token(at: 2)?.rawValue == "C42")
        #expect(subject[4] == nil && subject.token(at: 4) == nil)
        #expect(subject.tokens.count == 4)
        #expect(subject.description == "netting.status.C42.2024-12-02")
        #expect(Subject(tokens: subject.tokens.compactMap(SubjectToken.init(rawValue:))) == subject)
    }

    @Test("two tokens read in place agree with the split subject, and only at the expected depth", arguments: [
        "deal.event.C1.D1", "deal.snapshot.Клиент.2024-12-02", "a.b.c.d", "deal.event..D1", "deal.event.C1.",
        "deal.event.C1", "deal.event.C1.D1.x", "", "....",
    ])
    func tokensInPlace(text: String) {
        let split = Subject(text)
        let read = Subject.tokens(of: text, count: 4, at: 2, 3)
        if split.tokens.count == 4 {
            #expect(read?.0 == split[2] && read?.1 == split[3])
        } else {
            #expect(read == nil)
        }
        #expect(Subject.tokens(of: text, count: split.tokens.count, at: 0, split.tokens.count - 1).map { [$0.0, $0.1] }
            == [split.tokens.first!, split.tokens.last!])
    }

    @Test("stored-version subjects and keys are joined in one piece, long ids and all", arguments: [
        ("C1", "D1"), ("Клиент-7", "2024-12-02"), (String(repeating: "c", count: 40), String(repeating: "d", count: 60)), ("", ""),
    ])
    func joined(first: String, second: String) {
        #expect(Subject.joined("deal.snapshot.", first, second) == "deal.snapshot.\(first).\(second)")
        #expect(Subjects.Deal.storedStatus(client: first, deal: second) == "deal.snapshot.\(first).\(second)")
        #expect(Subject.joined("", first, second) == "\(first).\(second)")
    }

    @Test("a captured token that could not be a subject token is no match")
    func invalidCapture() {
        let subject = Subject("deal.query.C 1.list")
        #expect(subject.matches(Subjects.Deal.queryListPattern))
        #expect(subject.captures(Subjects.Deal.queryListPattern) == nil)
        #expect(subject.token(at: 2) == nil)
    }

    @Test("subjects compare byte-wise")
    func byteEquality() {
        #expect(Subject("deal.status.\u{E9}") != Subject("deal.status.e\u{301}"))
        #expect(Set([Subject("a.\u{E9}"), Subject("a.e\u{301}"), Subject("a.\u{E9}")]).count == 2)
    }

    @Test("a subject from outside must be concrete", arguments: [
        ("", SubjectError.empty), ("deal..C1", .empty), ("deal.status.", .empty), (".deal", .empty),
        ("deal.status.*", .forbiddenCharacter("*", "*")), ("deal.>", .forbiddenCharacter(">", ">")),
        ("deal.st atus", .forbiddenCharacter("st atus", " ")),
    ])
    func concrete(text: String, error: SubjectError) {
        #expect(throws: error) { try Subject(validating: text) }
    }

    @Test("a concrete subject validates")
    func validSubject() throws {
        #expect(try Subject(validating: "deal.status.C1.D1").tokens == ["deal", "status", "C1", "D1"])
    }
}
