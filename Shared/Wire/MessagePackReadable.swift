import Foundation

/// A type on a hot path that reads its own MessagePack without the Codable containers.
///
/// `MessagePackDecoder` (with default limits, unknown keys allowed) tries `init(messagePack:)` first. It returns nil at
/// anything out of the ordinary — an unknown, repeated or nil-valued key, a wrong type, a missing field, bytes left
/// over — and the decoder then decodes through `Decodable`, which accepts or refuses with the precise `WireError`. So a
/// conformance only has to agree with `Decodable` on what it accepts; tests compare both (`MessagePackDecoder.readable`).
/// Its nesting must be bounded (far below the default depth of 64): the fast path runs only on inputs small enough
/// (≤ `maxContainerCount` bytes) that no other default limit can be reached.
public protocol MessagePackReadable: Decodable {
    init?(messagePack input: inout MessagePackInput)
}

/// A cursor over MessagePack input for `MessagePackReadable`: each read returns nil, without moving, when the next
/// value is not of the kind asked for (or is malformed).
///
/// Its reads are `@inlinable`: a conformance in another module gets them specialised for its field types.
public struct MessagePackInput {
    @usableFromInline let reader: Reader
    @usableFromInline var offset = 0

    init(reader: Reader) { self.reader = reader }

    @inlinable
    public var isAtEnd: Bool { offset == reader.count }

    /// The entry count of a map.
    @inlinable
    public mutating func map() -> Int? { container(fix: 0x80, wide: 0xDE) }

    /// The element count of an array.
    @inlinable
    public mutating func array() -> Int? { container(fix: 0x90, wide: 0xDC) }

    /// A container header: `fix` (0x80 map, 0x90 array) holds up to 15, `wide` and `wide + 1` a 16- or 32-bit count.
    @usableFromInline
    mutating func container(fix: UInt8, wide: UInt8) -> Int? {
        guard let b = try? reader.byte(offset) else { return nil }
        let (count, size): (Int, Int)
        switch b {
        case fix...(fix + 0x0F): (count, size) = (Int(b & 0x0F), 1)
        case wide: guard let n = try? reader.load(offset + 1, as: UInt16.self) else { return nil }; (count, size) = (Int(n), 3)
        case wide + 1: guard let n = try? reader.load(offset + 1, as: UInt32.self) else { return nil }; (count, size) = (Int(n), 5)
        default: return nil
        }
        // Every element takes a byte at least: a count beyond the input is malformed (and must not reserve memory).
        guard count <= reader.count - offset - size else { return nil }
        offset += size
        return count
    }

    @inlinable
    public mutating func string() -> String? {
        guard let b = try? reader.byte(offset), let header = try? reader.stringHeader(b, at: offset),
              let text = try? reader.string(header.start, header.length)
        else { return nil }
        offset = header.start + header.length
        return text
    }

    @inlinable
    public mutating func int64() -> Int64? { integer(Int64.self) }
    @inlinable
    public mutating func uint64() -> UInt64? { integer(UInt64.self) }
    @inlinable
    public mutating func int() -> Int? { integer(Int.self) }

    /// An integer of any MessagePack width that fits `T`.
    @inlinable
    public mutating func integer<T: FixedWidthInteger>(_ type: T.Type) -> T? {
        guard let b = try? reader.byte(offset), let wide = try? reader.integer(b, at: offset), let value = T(exactly: wide),
              let end = try? reader.scalarEnd(offset)
        else { return nil }
        offset = end
        return value
    }

    /// A timestamp (extension −1).
    @inlinable
    public mutating func date() -> Date? {
        guard let b = try? reader.byte(offset), let stamp = try? reader.timestamp(b, at: offset), let end = try? reader.scalarEnd(offset)
        else { return nil }
        offset = end
        return Timestamp.date(seconds: stamp.seconds, nanoseconds: stamp.nanoseconds)
    }

    /// A string-valued enum by its raw value.
    @inlinable
    public mutating func value<E: RawRepresentable>(_ type: E.Type) -> E? where E.RawValue == String {
        let start = offset
        guard let raw = string(), let value = E(rawValue: raw) else {
            offset = start
            return nil
        }
        return value
    }

    @inlinable
    public mutating func value<V: MessagePackReadable>(_ type: V.Type) -> V? {
        let start = offset
        guard let value = V(messagePack: &self) else {
            offset = start
            return nil
        }
        return value
    }

    @inlinable
    public mutating func array<V: MessagePackReadable>(of type: V.Type) -> [V]? {
        let start = offset
        guard let count = array() else { return nil }
        var values: [V] = []
        values.reserveCapacity(count)
        for _ in 0..<count {
            guard let value = V(messagePack: &self) else {
                offset = start
                return nil
            }
            values.append(value)
        }
        return values
    }

    @inlinable
    public mutating func strings() -> [String]? {
        let start = offset
        guard let count = array() else { return nil }
        var values: [String] = []
        values.reserveCapacity(count)
        for _ in 0..<count {
            guard let value = string() else {
                offset = start
                return nil
            }
            values.append(value)
        }
        return values
    }
}

extension MessagePackDecoder {
    /// `T` read by its `MessagePackReadable` conformance alone, or nil where that declines (tests compare it with `decode`).
    public func readable<T: MessagePackReadable>(_ type: T.Type, from bytes: [UInt8]) -> T? {
        bytes.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress, buffer.count > 0 else { return nil }
            return Self.read(T.self, from: Reader(base: base.assumingMemoryBound(to: UInt8.self), count: buffer.count))
        }
    }

    /// The whole of `reader` as `type`, or nil.
    static func read<T: MessagePackReadable>(_ type: T.Type, from reader: Reader) -> T? {
        var input = MessagePackInput(reader: reader)
        guard let value = T(messagePack: &input), input.isAtEnd else { return nil }
        return value
    }

    /// The same for a type known only at run time to be readable.
    static func read(any type: any MessagePackReadable.Type, from reader: Reader) -> Any? {
        func open<R: MessagePackReadable>(_: R.Type) -> Any? { read(R.self, from: reader) }
        return open(type)
    }
}
