/// A concrete subject split into tokens, with NATS wildcard matching.
///
/// Services subscribe with a pattern (`netting.cmd.*.close`) and read the client id back from the subject of each
/// request: `try Subject(message.subject).captures(Subjects.Netting.commandPattern(.close))?.first`.
public struct Subject: Hashable, Sendable, CustomStringConvertible {
    /// The tokens between the dots, each a valid `SubjectToken`.
    public let tokens: [SubjectToken]

    /// Parses a concrete subject (no wildcards); every token must be a valid `SubjectToken`, else `SubjectError`.
    public init(_ text: String) throws {
        // Split on the byte, as NATS does; "." is ASCII, so every part is valid UTF-8 again.
        tokens = try text.utf8.split(separator: Self.dot, omittingEmptySubsequences: false).map { part in
            try SubjectToken(String(decoding: part, as: UTF8.self))
        }
    }

    /// The subject of `tokens` joined by dots.
    public init(tokens: [SubjectToken]) {
        self.tokens = tokens
    }

    public var description: String { tokens.map(\.rawValue).joined(separator: ".") }

    /// The token at `index`, or nil past the end.
    public subscript(index: Int) -> SubjectToken? { tokens.indices.contains(index) ? tokens[index] : nil }

    /// Whether this subject matches `pattern` (`*` is one token, `>` one or more trailing tokens).
    public func matches(_ pattern: String) -> Bool { captures(pattern) != nil }

    /// The tokens that `pattern`'s wildcards stand for, in order (every token under `>`), or nil if it does not match.
    ///
    /// A malformed pattern (empty token, `>` not last) matches nothing.
    public func captures(_ pattern: String) -> [SubjectToken]? {
        let parts = pattern.utf8.split(separator: Self.dot, omittingEmptySubsequences: false)
        var captured: [SubjectToken] = []
        for (i, part) in parts.enumerated() {
            if part.elementsEqual(">".utf8) {
                guard i == parts.count - 1, tokens.count > i else { return nil }
                return captured + tokens[i...]
            }
            guard i < tokens.count, !part.isEmpty else { return nil }
            if part.elementsEqual("*".utf8) {
                captured.append(tokens[i])
            } else if !part.elementsEqual(tokens[i].rawValue.utf8) {
                return nil
            }
        }
        return parts.count == tokens.count ? captured : nil
    }

    private static let dot = UInt8(ascii: ".")
}

/// Builders for every subject of the contract, one extension per service domain (`Subjects+Deal.swift`, …).
///
/// Grammar: `<domain>.<kind>[.<client>][.<rest>]`. Tokens that come from data are `SubjectToken`s, so a builder cannot
/// produce a wildcard or an extra level; client-scoped subjects put the client at token 3 so nats-server permissions
/// (`deal.status.C1.>`) can confine a client's terminal to its own subjects.
public enum Subjects {}
