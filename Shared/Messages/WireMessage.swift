/// A message of the public contract; `schema` ("CounterAmountRequest/1") goes in the `Svyaz-Schema` header.
///
/// The version changes only on an incompatible change (a field removed, retyped or made required); adding an
/// optional field keeps it, because readers of streams and replies ignore unknown keys. Services refuse unknown keys in
/// requests (400, naming the field), so a client may send a new request field only once every replica knows it.
public protocol WireMessage: Codable, Sendable {
    /// `<Type>/<version>`, e.g. "CounterAmountRequest/1".
    static var schema: String { get }
}
