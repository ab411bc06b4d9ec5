/// A concrete subject split into tokens, with NATS wildcard matching.
///
/// Services subscribe with a pattern (`netting.cmd.*.close`) and read the client id back from the subject of each
/// request: `Subject(message.subject).captures(Subjects.Netting.commandPattern(.close))?.first`. Tokens compare
/// byte-wise, as NATS compares them.
public struct Subject: Hashable, Sendable, CustomStringConvertible {
    /// The tokens between the dots, as received.
    public let tokens: [String]

    /// Splits a subject as received, never failing: NATS only delivers valid subjects, and a wrong shape simply
    /// matches no pattern. Use `init(validating:)` for text from anywhere else.
    public init(_ text: String) {
        // Split on the byte, as NATS does; "." is ASCII, so every part is valid UTF-8 again.
        tokens = text.utf8.split(separator: Self.dot, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Parses a concrete subject (no wildcards) whose every token is a valid `SubjectToken`, else throws `SubjectError`.
    public init(validating text: String) throws {
        self.init(text)
        for token in tokens { try SubjectToken.validate(token) }
    }

    /// The subject of `tokens` joined by dots.
    public init(tokens: [SubjectToken]) {
        self.tokens = tokens.map(\.rawValue)
    }

    public var description: String { tokens.joined(separator: ".") }

    /// The tokens of `text` at `first` and `second` when it has exactly `count` tokens, else nil: what a hot path reads from a
    /// subject (a client and a deal id) without splitting it into an array of every token.
    public static func tokens(of text: String, count: Int, at first: Int, _ second: Int) -> (String, String)? {
        var text = text
        return text.withUTF8 { bytes -> (String, String)? in
            var starts = (0, 0), ends = (0, 0)
            var index = 0, start = 0
            for position in 0...bytes.count where position == bytes.count || bytes[position] == dot {
                if index == first { (starts.0, ends.0) = (start, position) }
                if index == second { (starts.1, ends.1) = (start, position) }
                index += 1
                start = position + 1
            }
            guard index == count, (0..<count).contains(first), (0..<count).contains(second) else { return nil }
            return (String(decoding: UnsafeBufferPointer(rebasing: bytes[starts.0..<ends.0]), as: UTF8.self),
                    String(decoding: UnsafeBufferPointer(rebasing: bytes[starts.1..<ends.1]), as: UTF8.self))
        }
    }

    /// `prefix` + `first` + "." + `second` in one allocation (string interpolation grows its buffer as it goes); for
    /// subjects built per message.
    public static func joined(_ prefix: StaticString, _ first: String, _ second: String) -> String {
        var first = first, second = second
        return first.withUTF8 { a in
            second.withUTF8 { b in
                String(unsafeUninitializedCapacity: prefix.utf8CodeUnitCount + a.count + 1 + b.count) { buffer in
                    var end = 0
                    func append(_ part: UnsafeBufferPointer<UInt8>) {
                        for byte in part { buffer[end] = byte; end += 1 }
                    }
                    append(UnsafeBufferPointer(start: prefix.utf8Start, count: prefix.utf8CodeUnitCount))
                    append(a)
                    buffer[end] = dot
                    end += 1
                    append(b)
                    return end
                }
            }
        }
    }

    /// The token at `index`, or nil past the end.
    public subscript(index: Int) -> String? { tokens.indices.contains(index) ? tokens[index] : nil }

    /// The token at `index` if it is a valid `SubjectToken` (a client or deal id to use in other subjects).
    public func token(at index: Int) -> SubjectToken? { self[index].flatMap(SubjectToken.init(rawValue:)) }

    /// Whether this subject matches `pattern` (`*` is one token, `>` one or more trailing tokens).
    public func matches(_ pattern: String) -> Bool { wildcardTokens(pattern) != nil }

    /// The tokens that `pattern`'s wildcards stand for, in order (every token under `>`); nil if it does not match
    /// or a captured token is not a valid `SubjectToken`.
    ///
    /// A malformed pattern (empty token, `>` not last) matches nothing.
    public func captures(_ pattern: String) -> [SubjectToken]? {
        guard let captured = wildcardTokens(pattern) else { return nil }
        let valid = captured.compactMap(SubjectToken.init(rawValue:))
        return valid.count == captured.count ? valid : nil
    }

    public static func == (lhs: Subject, rhs: Subject) -> Bool { lhs.description.utf8.elementsEqual(rhs.description.utf8) }

    public func hash(into hasher: inout Hasher) {
        for byte in description.utf8 { hasher.combine(byte) }
    }

    private func wildcardTokens(_ pattern: String) -> [String]? {
        let parts = pattern.utf8.split(separator: Self.dot, omittingEmptySubsequences: false)
        var captured: [String] = []
        for (i, part) in parts.enumerated() {
            if part.elementsEqual(">".utf8) {
                guard i == parts.count - 1, tokens.count > i, !tokens[i...].contains(where: \.isEmpty) else { return nil }
                return captured + tokens[i...]
            }
            guard i < tokens.count, !part.isEmpty, !tokens[i].isEmpty else { return nil }
            if part.elementsEqual("*".utf8) {
                captured.append(tokens[i])
            } else if !part.elementsEqual(tokens[i].utf8) {
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
