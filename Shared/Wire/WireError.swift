import Foundation

/// Why MessagePack input could not be decoded (or a value could not be encoded); never a crash.
///
/// Offsets count bytes from the start of the input; paths name the field at fault as `legs[1].status`.
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The input ends inside a value; `offset` is where the missing bytes should have been.
    case truncated(offset: Int)
    /// A byte that starts no MessagePack value (0xC1 is never used).
    case invalidByte(UInt8, offset: Int)
    /// Arrays/maps nested deeper than the limit.
    case tooDeep(limit: Int)
    /// A string, binary, array or map count, the whole input or the number of containers above the limit.
    case tooLarge(length: Int, limit: Int)
    /// The value has another MessagePack type than the field needs.
    case typeMismatch(expected: String, found: String, path: String)
    /// A required field is absent from its map.
    case keyNotFound(String, path: String)
    /// A required value is nil (or an array has fewer elements than read).
    case valueNotFound(expected: String, path: String)
    /// A string is not valid UTF-8.
    case invalidUTF8(offset: Int)
    /// An integer or float does not fit the field's type.
    case numberOverflow(path: String)
    /// Bytes follow the top-level value.
    case trailingBytes(offset: Int)
    /// A timestamp extension (type −1) of a wrong length or with nanoseconds ≥ 10⁹.
    case invalidTimestamp(offset: Int)
    /// A map has a key its type never asked for (only with `MessagePackDecoder.rejectUnknownKeys`).
    case unknownKey(String, path: String)
    /// A well-formed value the type refused (an unknown enum case, a bad URL or Decimal, a non-finite Date).
    case invalidValue(String, path: String)
    /// A use of the Codable API this coder does not support (e.g. a container used after its value finished).
    case unsupported(String)

    public var description: String {
        switch self {
        case .truncated(let offset): "input ends early at byte \(offset)"
        case .invalidByte(let byte, let offset): "invalid MessagePack byte 0x\(String(byte, radix: 16)) at \(offset)"
        case .tooDeep(let limit): "nesting deeper than \(limit)"
        case .tooLarge(let length, let limit): "length \(length) exceeds the limit \(limit)"
        case .typeMismatch(let expected, let found, let path): "\(Self.name(path)): expected \(expected), found \(found)"
        case .keyNotFound(let key, let path): "missing field \(path.isEmpty ? key : path + "." + key)"
        case .valueNotFound(let expected, let path): "\(Self.name(path)): expected \(expected), found nil"
        case .invalidUTF8(let offset): "invalid UTF-8 in string at \(offset)"
        case .numberOverflow(let path): "\(Self.name(path)): number does not fit"
        case .trailingBytes(let offset): "unexpected bytes after the value at \(offset)"
        case .invalidTimestamp(let offset): "invalid timestamp at \(offset)"
        case .unknownKey(let key, let path): "unknown field \(path.isEmpty ? key : path + "." + key)"
        case .invalidValue(let what, let path): "\(Self.name(path)): \(what)"
        case .unsupported(let what): "unsupported: \(what)"
        }
    }

    private static func name(_ path: String) -> String { path.isEmpty ? "value" : path }
}

/// Runs `body`, whose only errors are `WireError`s thrown through an untyped `rethrows` API (`withUnsafeBytes`).
@inline(__always)
func wireErrors<R>(_ body: () throws -> R) throws(WireError) -> R {
    do {
        return try body()
    } catch {
        throw error as? WireError ?? WireError.unsupported(String(describing: error))
    }
}

/// Bounds the decoder enforces before allocating anything.
///
/// Codable decoding recurses once per nesting level, so a `maxDepth` far above the default can exhaust a small
/// thread stack on hostile input; the default keeps any thread safe.
public struct WireLimits: Sendable, Equatable {
    /// Deepest nesting of arrays/maps accepted (a top-level map is depth 1).
    public var maxDepth: Int
    /// Largest input, string, binary, array or map count accepted.
    public var maxLength: Int
    /// Most arrays and maps one input may hold in total (bounds the decoder's index of containers).
    public var maxContainerCount: Int

    /// Limits; the defaults suit any message of the contract.
    public init(maxDepth: Int = 64, maxLength: Int = 16 * 1024 * 1024, maxContainerCount: Int = 1 << 20) {
        self.maxDepth = maxDepth
        self.maxLength = maxLength
        self.maxContainerCount = maxContainerCount
    }

    /// Depth 64, 16 MiB, 2²⁰ containers.
    public static let `default` = WireLimits()
}

/// How deep Codable calls may nest for a wire depth limit: single-value wrappers add levels the wire does not have,
/// but an endless chain of them (a type that re-decodes itself) must still stop.
func codableDepthLimit(_ maxDepth: Int) -> Int {
    maxDepth >= (Int.max - 16) / 4 ? Int.max : Swift.max(0, maxDepth) * 4 + 16
}

/// One step of a coding path, stored without building `[any CodingKey]` until someone asks for it.
enum PathStep {
    case none
    case key(any CodingKey)
    case index(Int)
    /// A decoded map entry, by its index among the decode's entries: no existential to copy on the hot path.
    case entry(Int)
}

/// `legs[1].status` from coding keys.
func pathString(_ codingPath: [any CodingKey]) -> String {
    var text = ""
    for key in codingPath {
        if let index = key as? IndexKey, let value = index.intValue, index.isIndex {
            text += "[\(value)]"
        } else {
            if !text.isEmpty { text += "." }
            text += key.stringValue
        }
    }
    return text
}

/// Coding key for array positions and synthetic keys (`super`).
struct IndexKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    /// An array position rather than a map key (printed as `[n]`).
    var isIndex = false

    init(index: Int) {
        stringValue = "Index \(index)"
        intValue = index
        isIndex = true
    }

    init(stringValue: String) {
        self.stringValue = stringValue
        intValue = nil
    }

    init?(intValue: Int) {
        stringValue = String(intValue)
        self.intValue = intValue
    }

    static let superKey = IndexKey(stringValue: "super")
}

extension PathStep {
    var codingKey: (any CodingKey)? {
        switch self {
        case .none: nil
        case .key(let key): key
        case .index(let index): IndexKey(index: index)
        case .entry: nil
        }
    }
}

extension WireError {
    /// Maps an error thrown by an `init(from:)` (e.g. a raw-value enum with an unknown case) at `path`.
    static func from(_ error: any Error, path: [any CodingKey]) -> WireError {
        if let error = error as? WireError { return error }
        guard let error = error as? DecodingError else { return .invalidValue(String(describing: error), path: pathString(path)) }
        switch error {
        case .typeMismatch(let type, let context):
            return .typeMismatch(expected: "\(type)", found: context.debugDescription, path: pathString(context.codingPath))
        case .valueNotFound(let type, let context):
            return .valueNotFound(expected: "\(type)", path: pathString(context.codingPath))
        case .keyNotFound(let key, let context):
            return .keyNotFound(key.stringValue, path: pathString(context.codingPath))
        case .dataCorrupted(let context):
            return .invalidValue(context.debugDescription, path: pathString(context.codingPath))
        @unknown default:
            return .invalidValue(String(describing: error), path: pathString(path))
        }
    }

    /// Maps an error thrown by an `encode(to:)`.
    static func from(encoding error: any Error) -> WireError {
        if let error = error as? WireError { return error }
        if let error = error as? EncodingError, case .invalidValue(_, let context) = error {
            return .invalidValue(context.debugDescription, path: pathString(context.codingPath))
        }
        return .invalidValue(String(describing: error), path: "")
    }
}
