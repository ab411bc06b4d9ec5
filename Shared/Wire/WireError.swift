import Foundation

/// Why MessagePack input could not be decoded (or a value encoded); never a crash.
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated(offset: Int)
    case invalidByte(UInt8, offset: Int)
    case tooDeep(limit: Int)
    case tooLarge(length: Int, limit: Int)
    case typeMismatch(expected: String, found: String, path: String)
    case keyNotFound(String, path: String)
    case valueNotFound(expected: String, path: String)
    case invalidUTF8(offset: Int)
    case numberOverflow(path: String)
    case trailingBytes(offset: Int)
    case invalidTimestamp(offset: Int)
    case invalidValue(String, path: String)
    case unsupported(String)

    public var description: String {
        switch self {
        case .truncated(let offset): "input ends early at byte \(offset)"
        case .invalidByte(let byte, let offset): "invalid MessagePack byte 0x\(String(byte, radix: 16)) at \(offset)"
        case .tooDeep(let limit): "nesting deeper than \(limit)"
        case .tooLarge(let length, let limit): "length \(length) exceeds the limit \(limit)"
        case .typeMismatch(let expected, let found, let path): "\(path.isEmpty ? "value" : path): expected \(expected), found \(found)"
        case .keyNotFound(let key, let path): "missing field \(path.isEmpty ? key : path + "." + key)"
        case .valueNotFound(let expected, let path): "\(path.isEmpty ? "value" : path): expected \(expected), found nil"
        case .invalidUTF8(let offset): "invalid UTF-8 in string at \(offset)"
        case .numberOverflow(let path): "\(path.isEmpty ? "value" : path): number does not fit"
        case .trailingBytes(let offset): "unexpected bytes after the value at \(offset)"
        case .invalidTimestamp(let offset): "invalid timestamp at \(offset)"
        case .invalidValue(let what, let path): "\(path.isEmpty ? "value" : path): \(what)"
        case .unsupported(let what): "unsupported: \(what)"
        }
    }
}

/// Bounds the decoder enforces before allocating anything.
public struct WireLimits: Sendable, Equatable {
    /// Deepest nesting of arrays/maps accepted.
    public var maxDepth: Int
    /// Largest input, string, binary or container element count accepted.
    public var maxLength: Int

    public init(maxDepth: Int = 64, maxLength: Int = 16 * 1024 * 1024) {
        self.maxDepth = maxDepth
        self.maxLength = maxLength
    }

    public static let `default` = WireLimits()
}

func pathString(_ codingPath: [any CodingKey]) -> String {
    codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
}
