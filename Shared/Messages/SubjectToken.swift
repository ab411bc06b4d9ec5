/// Why a subject or one of its tokens was refused.
public enum SubjectError: Error, Equatable, Sendable, CustomStringConvertible {
    /// An empty token ("", or "a..b" in a subject).
    case empty
    /// A `.`, `*`, `>`, whitespace or control character inside a token.
    case forbiddenCharacter(String, Character)
    /// A token over `SubjectToken.maxBytes` UTF-8 bytes.
    case tooLong(String)

    public var description: String {
        switch self {
        case .empty: "empty subject token"
        case .forbiddenCharacter(let token, let ch): "subject token \(token.debugDescription) contains \(ch.debugDescription)"
        case .tooLong(let token): "subject token longer than \(SubjectToken.maxBytes) bytes: \(token.prefix(20).debugDescription)…"
        }
    }
}

/// One token of a NATS subject taken from data (a client id, a deal number, a netting set id).
///
/// Non-empty, at most 128 UTF-8 bytes, and free of `.`, `*`, `>`, whitespace and control characters, so a value
/// can never add a level to a subject, widen a subscription into a wildcard, or escape the place the contract gives it.
public struct SubjectToken: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    /// Longest token in UTF-8 bytes; far above any id we issue, low enough to bound subject length.
    public static let maxBytes = 128

    /// The token text, valid by construction.
    public let rawValue: String

    /// Nil when `rawValue` is not a valid token.
    public init?(rawValue: String) {
        guard (try? Self.validate(rawValue)) != nil else { return nil }
        self.rawValue = rawValue
    }

    /// Validates `text`, throwing the precise `SubjectError`.
    public init(_ text: String) throws {
        try Self.validate(text)
        rawValue = text
    }

    /// Decodes a string and refuses an invalid token.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            try self.init(text)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "\(error)"))
        }
    }

    /// Encodes the bare string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }

    /// Byte-wise, as NATS compares subjects (Swift's `String ==` would equate "é" with "e\u{301}").
    public static func == (lhs: SubjectToken, rhs: SubjectToken) -> Bool { lhs.rawValue.utf8.elementsEqual(rhs.rawValue.utf8) }

    public func hash(into hasher: inout Hasher) {
        for byte in rawValue.utf8 { hasher.combine(byte) }
    }

    /// Checks scalars, not `Character`s: "." followed by a combining mark is one `Character` but still a separator byte.
    static func validate(_ text: String) throws(SubjectError) {
        guard !text.isEmpty else { throw SubjectError.empty }
        guard text.utf8.count <= maxBytes else { throw SubjectError.tooLong(text) }
        for scalar in text.unicodeScalars where isForbidden(scalar) {
            throw SubjectError.forbiddenCharacter(text, Character(scalar))
        }
    }

    /// Separators and wildcards, whitespace, and C0/DEL/C1 controls (Unicode general category Cc).
    private static func isForbidden(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "." || scalar == "*" || scalar == ">" || scalar.properties.isWhitespace || scalar.value < 0x20
            || (0x7F...0x9F).contains(scalar.value)
    }
}
