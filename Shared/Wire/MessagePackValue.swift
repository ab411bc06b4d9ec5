import Foundation

/// Any MessagePack value, for inspection, tests and tools that do not know the schema.
///
/// Equality is by wire meaning: `.int(5) == .uint(5)` (parsing gives `.uint` for every non-negative integer), and
/// floats compare by bit pattern, so a NaN equals itself and a parsed value equals its re-serialized parse.
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
    /// Entries in wire order (keys may be any value, and may repeat).
    case map([MessagePackPair])
    case timestamp(seconds: Int64, nanoseconds: UInt32)
    case ext(type: Int8, data: [UInt8])

    /// Parses exactly one value filling `bytes`.
    public static func parse(_ bytes: [UInt8], limits: WireLimits = .default) throws(WireError) -> MessagePackValue {
        try wireErrors { try bytes.withUnsafeBytes { try parse($0, limits: limits) } }
    }

    /// Parses exactly one value filling `data`.
    public static func parse(_ data: Data, limits: WireLimits = .default) throws(WireError) -> MessagePackValue {
        try wireErrors { try data.withUnsafeBytes { try parse($0, limits: limits) } }
    }

    /// Parses exactly one value filling `buffer`, with the decoder's checks (lengths, limits, depth, UTF-8, timestamps).
    public static func parse(_ buffer: UnsafeRawBufferPointer, limits: WireLimits = .default) throws(WireError) -> MessagePackValue {
        guard buffer.count <= limits.maxLength else { throw WireError.tooLarge(length: buffer.count, limit: limits.maxLength) }
        guard let base = buffer.baseAddress, buffer.count > 0 else { throw WireError.truncated(offset: 0) }
        let reader = Reader(base: base.assumingMemoryBound(to: UInt8.self), count: buffer.count)
        var index = ContainerIndex()
        // The scan bounds depth before the recursive build below can go deep.
        let end = try reader.scan(limits: limits, into: &index)
        guard end == buffer.count else { throw WireError.trailingBytes(offset: end) }
        var offset = 0
        return try value(reader, at: &offset)
    }

    private static func value(_ reader: Reader, at o: inout Int) throws(WireError) -> MessagePackValue {
        let start = o
        let b = try reader.byte(o)
        if let (textStart, length) = try reader.stringHeader(b, at: o) {
            o = try reader.span(textStart, length)
            return .string(try reader.string(textStart, length))
        }
        if let int = try reader.integer(b, at: o) {
            o = try reader.scalarEnd(o)
            return int >= 0 ? .uint(UInt64(truncatingIfNeeded: int)) : .int(Int64(truncatingIfNeeded: int))
        }
        switch b {
        case 0xC0: o += 1; return .null
        case 0xC2: o += 1; return .bool(false)
        case 0xC3: o += 1; return .bool(true)
        case 0xCA: o += 5; return .float(Float(bitPattern: try reader.load(start + 1, as: UInt32.self)))
        case 0xCB: o += 9; return .double(Double(bitPattern: try reader.load(start + 1, as: UInt64.self)))
        case 0xC4...0xC6:
            o = try reader.scalarEnd(start)
            let header = b == 0xC4 ? 2 : b == 0xC5 ? 3 : 5
            return .binary(Array(try reader.bytes(start + header, o - start - header)))
        case 0xC7...0xC9, 0xD4...0xD8:
            o = try reader.scalarEnd(start)
            if let (seconds, nanoseconds) = try reader.timestamp(b, at: start) {
                return .timestamp(seconds: seconds, nanoseconds: nanoseconds)
            }
            let header = switch b { case 0xC7: 3; case 0xC8: 4; case 0xC9: 6; default: 2 }
            let type = Int8(bitPattern: try reader.byte(start + header - 1))
            return .ext(type: type, data: Array(try reader.bytes(start + header, o - start - header)))
        case 0x90...0x9F, 0xDC, 0xDD:
            let (count, first) = try containerHeader(reader, b, at: start)
            o = first
            var items: [MessagePackValue] = []
            items.reserveCapacity(count)
            for _ in 0..<count { items.append(try value(reader, at: &o)) }
            return .array(items)
        case 0x80...0x8F, 0xDE, 0xDF:
            let (count, first) = try containerHeader(reader, b, at: start)
            o = first
            var pairs: [MessagePackPair] = []
            pairs.reserveCapacity(count)
            for _ in 0..<count {
                let key = try value(reader, at: &o)
                pairs.append(MessagePackPair(key: key, value: try value(reader, at: &o)))
            }
            return .map(pairs)
        default:
            throw WireError.invalidByte(b, offset: start)
        }
    }

    private static func containerHeader(_ reader: Reader, _ b: UInt8, at o: Int) throws(WireError) -> (count: Int, first: Int) {
        switch b {
        case 0xDC, 0xDE: (Int(try reader.load(o + 1, as: UInt16.self)), o + 3)
        case 0xDD, 0xDF: (Int(try reader.load(o + 1, as: UInt32.self)), o + 5)
        default: (Int(b & 0x0F), o + 1)
        }
    }

    /// The value in MessagePack, integers and containers in their smallest forms.
    public func serialize() -> [UInt8] {
        let writer = MessagePackWriter(capacity: 64)
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
        case .binary(let v): v.withUnsafeBytes { writer.write(binary: $0) }
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
            writer.extHeader(type: type, length: data.count)
            data.withUnsafeBytes { writer.append($0) }
        }
    }

    /// The value of `key` when this is a map with that string key.
    public subscript(key: String) -> MessagePackValue? {
        guard case .map(let pairs) = self else { return nil }
        return pairs.first { $0.key == .string(key) }?.value
    }

    /// The element at `index` when this is an array that long.
    public subscript(index: Int) -> MessagePackValue? {
        guard case .array(let items) = self, items.indices.contains(index) else { return nil }
        return items[index]
    }

    /// The keys of a map in wire order (empty for anything else).
    public var keys: [MessagePackValue] {
        guard case .map(let pairs) = self else { return [] }
        return pairs.map(\.key)
    }

    public static func == (lhs: MessagePackValue, rhs: MessagePackValue) -> Bool {
        switch (lhs.normalized, rhs.normalized) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.int(let a), .int(let b)): a == b
        case (.uint(let a), .uint(let b)): a == b
        case (.float(let a), .float(let b)): a.bitPattern == b.bitPattern
        case (.double(let a), .double(let b)): a.bitPattern == b.bitPattern
        case (.string(let a), .string(let b)): a == b
        case (.binary(let a), .binary(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.map(let a), .map(let b)): a == b
        case (.timestamp(let s1, let n1), .timestamp(let s2, let n2)): s1 == s2 && n1 == n2
        case (.ext(let t1, let d1), .ext(let t2, let d2)): t1 == t2 && d1 == d2
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch normalized {
        case .null: hasher.combine(0)
        case .bool(let v): hasher.combine(1); hasher.combine(v)
        case .int(let v): hasher.combine(2); hasher.combine(v)
        case .uint(let v): hasher.combine(3); hasher.combine(v)
        case .float(let v): hasher.combine(4); hasher.combine(v.bitPattern)
        case .double(let v): hasher.combine(5); hasher.combine(v.bitPattern)
        case .string(let v): hasher.combine(6); hasher.combine(v)
        case .binary(let v): hasher.combine(7); hasher.combine(v)
        case .array(let v): hasher.combine(8); hasher.combine(v)
        case .map(let v): hasher.combine(9); hasher.combine(v)
        case .timestamp(let s, let n): hasher.combine(10); hasher.combine(s); hasher.combine(n)
        case .ext(let t, let d): hasher.combine(11); hasher.combine(t); hasher.combine(d)
        }
    }

    /// Non-negative `.int` as `.uint`, the form `parse` gives.
    private var normalized: MessagePackValue {
        if case .int(let v) = self, v >= 0 { return .uint(UInt64(v)) }
        return self
    }
}

/// One map entry of a `MessagePackValue`.
public struct MessagePackPair: Hashable, Sendable {
    public var key: MessagePackValue
    public var value: MessagePackValue

    /// An entry `key: value`.
    public init(key: MessagePackValue, value: MessagePackValue) {
        self.key = key
        self.value = value
    }
}
