import Foundation

/// Any MessagePack value, for inspection, tests and tools that do not know the schema.
public indirect enum MessagePackValue: Hashable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case float(Float)
    case double(Double)
    case string(String)
    case binary([UInt8])
    case array([MessagePackValue])
    /// Entries in wire order (keys may be any value).
    case map([MessagePackPair])
    case timestamp(seconds: Int64, nanoseconds: UInt32)
    case ext(type: Int8, data: [UInt8])

    /// Parses exactly one value filling `bytes`.
    public static func parse(_ bytes: [UInt8], limits: WireLimits = .default) throws -> MessagePackValue {
        if bytes.count > limits.maxLength { throw WireError.tooLarge(length: bytes.count, limit: limits.maxLength) }
        if bytes.isEmpty { throw WireError.truncated(offset: 0) }
        return try bytes.withUnsafeBufferPointer { buffer in
            let reader = MessagePackReader(base: buffer.baseAddress!, count: buffer.count, limits: limits)
            let end = try reader.skip(0)
            if end != buffer.count { throw WireError.trailingBytes(offset: end) }
            return try value(reader, at: 0).0
        }
    }

    private static func value(_ reader: MessagePackReader, at o: Int) throws -> (MessagePackValue, Int) {
        let end = try reader.skip(o)
        switch try reader.header(o) {
        case .null: return (.null, end)
        case .bool(let v): return (.bool(v), end)
        case .int(let v): return (v >= 0 ? .uint(UInt64(v)) : .int(v), end)
        case .uint(let v): return (.uint(v), end)
        case .float(let v): return (.float(v), end)
        case .double(let v): return (.double(v), end)
        case .string(let offset, let length): return (.string(try reader.string(offset: offset, length: length)), end)
        case .binary(let offset, let length): return (.binary(Array(UnsafeBufferPointer(start: reader.base + offset, count: length))), end)
        case .array(let count, var next):
            var items: [MessagePackValue] = []
            items.reserveCapacity(count)
            for _ in 0..<count {
                let (item, after) = try value(reader, at: next)
                items.append(item)
                next = after
            }
            return (.array(items), end)
        case .map(let count, var next):
            var pairs: [MessagePackPair] = []
            pairs.reserveCapacity(count)
            for _ in 0..<count {
                let (key, afterKey) = try value(reader, at: next)
                let (item, afterValue) = try value(reader, at: afterKey)
                pairs.append(MessagePackPair(key: key, value: item))
                next = afterValue
            }
            return (.map(pairs), end)
        case .ext(let type, let offset, let length):
            if type == -1 {
                let (seconds, nanos) = try reader.timestamp(offset: offset, length: length)
                return (.timestamp(seconds: seconds, nanoseconds: nanos), end)
            }
            return (.ext(type: type, data: Array(UnsafeBufferPointer(start: reader.base + offset, count: length))), end)
        }
    }

    /// The value in MessagePack, smallest forms.
    public func serialize() -> [UInt8] {
        let writer = MessagePackWriter()
        write(into: writer)
        return writer.bytes
    }

    private func write(into writer: MessagePackWriter) {
        switch self {
        case .null: writer.writeNil()
        case .bool(let v): writer.write(v)
        case .int(let v): writer.write(v)
        case .uint(let v): writer.write(v)
        case .float(let v): writer.write(v)
        case .double(let v): writer.write(v)
        case .string(let v): writer.write(v)
        case .binary(let v): writer.write(binary: v)
        case .array(let items):
            writer.arrayHeader(items.count)
            for item in items { item.write(into: writer) }
        case .map(let pairs):
            writer.mapHeader(pairs.count)
            for pair in pairs {
                pair.key.write(into: writer)
                pair.value.write(into: writer)
            }
        case .timestamp(let seconds, let nanoseconds): writer.writeTimestamp(seconds: seconds, nanoseconds: nanoseconds)
        case .ext(let type, let data):
            switch data.count {
            case 1, 2, 4, 8, 16:
                writer.byte(0xD4 + UInt8(data.count.trailingZeroBitCount))
            case 0...0xFF:
                writer.byte(0xC7)
                writer.byte(UInt8(data.count))
            case 0...0xFFFF:
                writer.byte(0xC8)
                writer.be16(UInt16(data.count))
            default:
                writer.byte(0xC9)
                writer.be32(UInt32(data.count))
            }
            writer.byte(UInt8(bitPattern: type))
            writer.append(contentsOf: data)
        }
    }

    /// The value of `key` when this is a map with string keys.
    public subscript(key: String) -> MessagePackValue? {
        guard case .map(let pairs) = self else { return nil }
        return pairs.first { $0.key == .string(key) }?.value
    }
}

public struct MessagePackPair: Hashable, Sendable {
    public var key: MessagePackValue
    public var value: MessagePackValue

    public init(key: MessagePackValue, value: MessagePackValue) {
        self.key = key
        self.value = value
    }
}
