/// Why a subject or token was refused.
public enum SubjectError: Error, Equatable, Sendable, CustomStringConvertible {
    case empty
    case forbiddenCharacter(String, Character)
    case tooLong(String)

    public var description: String {
        switch self {
        case .empty: "empty subject token"
        case .forbiddenCharacter(let token, let ch): "subject token \(token.debugDescription) contains \(ch.debugDescription)"
        case .tooLong(let token): "subject token longer than 128 bytes: \(token.prefix(20))…"
        }
    }
}

/// One token of a NATS subject taken from user data (a client id, a deal number): no `.`, `*`, `>`,
/// whitespace or control characters, so it can never widen a subscription or escape its place.
public struct SubjectToken: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String

    public init?(rawValue: String) {
        guard (try? Self.validate(rawValue)) != nil else { return nil }
        self.rawValue = rawValue
    }

    /// Validates `text`, throwing the precise reason.
    public init(_ text: String) throws {
        try Self.validate(text)
        rawValue = text
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            try self.init(text)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "\(error)"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }

    static func validate(_ text: String) throws {
        guard !text.isEmpty else { throw SubjectError.empty }
        guard text.utf8.count <= 128 else { throw SubjectError.tooLong(text) }
        for ch in text where ch == "." || ch == "*" || ch == ">" || ch.isWhitespace || ch.unicodeScalars.contains(where: isControl) {
            throw SubjectError.forbiddenCharacter(text, ch)
        }
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }
}

/// A concrete subject split into tokens, with NATS wildcard matching.
public struct Subject: Hashable, Sendable, CustomStringConvertible {
    public let tokens: [Substring]

    public init(_ subject: String) {
        tokens = subject.split(separator: ".", omittingEmptySubsequences: false)
    }

    public var description: String { tokens.joined(separator: ".") }

    public subscript(index: Int) -> String? { tokens.indices.contains(index) ? String(tokens[index]) : nil }

    /// Whether this subject matches `pattern` (`*` one token, `>` one or more trailing tokens).
    public func matches(_ pattern: String) -> Bool {
        let parts = pattern.split(separator: ".", omittingEmptySubsequences: false)
        for (i, part) in parts.enumerated() {
            if part == ">" { return tokens.count > i }
            guard i < tokens.count else { return false }
            if part != "*" && part != tokens[i] { return false }
        }
        return parts.count == tokens.count
    }
}

/// Builders for every subject of the contract, one extension per service domain.
public enum Subjects {}
