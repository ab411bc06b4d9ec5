/// NATS message headers: ordered, multi-valued, names compared case-insensitively on lookup.
public struct Headers: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
    public private(set) var fields: [(name: String, value: String)]

    public init() { fields = [] }

    /// Room for `capacity` fields, so copying a message's headers in grows the array once.
    init(capacity: Int) {
        fields = []
        fields.reserveCapacity(capacity)
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        fields = elements.map { (name: $0.0, value: $0.1) }
    }

    public var isEmpty: Bool { fields.isEmpty }

    /// The first value of `name`, if any.
    public subscript(name: String) -> String? {
        get {
            if let hit = fields.first(where: { $0.name == name }) { return hit.value }
            return fields.first(where: { Self.sameName($0.name, name) })?.value
        }
        set {
            fields.removeAll { Self.sameName($0.name, name) }
            if let newValue { fields.append((name: name, value: newValue)) }
        }
    }

    /// All values of `name`, in arrival order.
    public func values(_ name: String) -> [String] {
        fields.filter { Self.sameName($0.name, name) }.map(\.value)
    }

    /// Header names are ASCII and compared without regard to case (looked up on every delivered message, so
    /// compared byte by byte rather than through `lowercased()` copies).
    static func sameName(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        return zip(a.utf8, b.utf8).allSatisfy { x, y in
            x == y || (x | 0x20 == y | 0x20 && (x | 0x20) >= UInt8(ascii: "a") && (x | 0x20) <= UInt8(ascii: "z"))
        }
    }

    /// `text` made fit for a header value (one line, not blank): control characters become spaces, and blank text
    /// becomes `fallback`. For values that come from elsewhere, such as an error's description.
    public static func lineSafe(_ text: String, fallback: String = "-") -> String {
        let line = String(String.UnicodeScalarView(text.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }))
        return line.allSatisfy { $0 == " " || $0 == "\t" } ? fallback : line
    }

    /// Adds a value without replacing earlier ones.
    public mutating func append(_ name: String, _ value: String) {
        fields.append((name: name, value: value))
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }

    public static func == (lhs: Headers, rhs: Headers) -> Bool {
        lhs.fields.count == rhs.fields.count && zip(lhs.fields, rhs.fields).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        for field in fields {
            hasher.combine(field.name)
            hasher.combine(field.value)
        }
    }
}

/// Header names the bus itself relies on.
public enum BusHeader {
    public static let msgId = "Nats-Msg-Id"
    public static let expectedLastSubjectSequence = "Nats-Expected-Last-Subject-Sequence"
    public static let expectedStream = "Nats-Expected-Stream"
    public static let serviceError = "Nats-Service-Error"
    public static let serviceErrorCode = "Nats-Service-Error-Code"
    /// cnats exposes the status line of a status message ("503", "404", …) under this pseudo-header.
    public static let status = "Status"
    public static let description = "Description"
}
