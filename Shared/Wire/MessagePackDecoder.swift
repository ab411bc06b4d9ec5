import Foundation

/// Decodes `Decodable` values from MessagePack; every failure is a `WireError`, never a crash.
///
/// Unknown map keys are ignored (forward compatibility); missing non-optional fields are `keyNotFound`.
public struct MessagePackDecoder: Sendable {
    public var limits: WireLimits
    public var userInfo: [CodingUserInfoKey: any Sendable] = [:]

    public init(limits: WireLimits = .default) { self.limits = limits }

    /// Inputs up to this size get an end-offset index (4 bytes per input byte).
    static let indexLimit = 256 * 1024

    public func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try bytes.withUnsafeBufferPointer { try decode(type, from: UnsafeRawBufferPointer($0)) }
    }

    public func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try data.withUnsafeBytes { try decode(type, from: $0) }
    }

    public func decode<T: Decodable>(_ type: T.Type, from buffer: UnsafeRawBufferPointer) throws -> T {
        if buffer.count > limits.maxLength { throw WireError.tooLarge(length: buffer.count, limit: limits.maxLength) }
        if buffer.isEmpty { throw WireError.truncated(offset: 0) }
        var reader = MessagePackReader(base: buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), count: buffer.count, limits: limits)
        // The validating pass records where each container ends, so containers never re-scan their children.
        let indexed = buffer.count <= Self.indexLimit
        if indexed { reader.ends = .allocate(capacity: buffer.count) }
        defer { reader.ends?.deallocate() }
        reader.ends?.initialize(repeating: 0, count: buffer.count)
        let end = try reader.skip(0)
        if end != buffer.count { throw WireError.trailingBytes(offset: end) }
        let context = DecodingContext(reader: reader, userInfo: userInfo)
        do {
            return try context.decodeValue(T.self, at: 0, codingPath: [])
        } catch let error as WireError {
            throw error
        } catch let error as DecodingError {
            throw WireError(error)
        }
    }
}

extension WireError {
    /// Maps errors thrown by `init(from:)` implementations (e.g. a raw-value enum with an unknown case).
    init(_ error: DecodingError) {
        switch error {
        case .typeMismatch(let type, let context):
            self = .typeMismatch(expected: "\(type)", found: context.debugDescription, path: pathString(context.codingPath))
        case .valueNotFound(let type, let context):
            self = .valueNotFound(expected: "\(type)", path: pathString(context.codingPath))
        case .keyNotFound(let key, let context):
            self = .keyNotFound(key.stringValue, path: pathString(context.codingPath))
        case .dataCorrupted(let context):
            self = .invalidValue(context.debugDescription, path: pathString(context.codingPath))
        @unknown default:
            self = .unsupported("\(error)")
        }
    }
}

final class DecodingContext {
    let reader: MessagePackReader
    let userInfo: [CodingUserInfoKey: Any]

    init(reader: MessagePackReader, userInfo: [CodingUserInfoKey: any Sendable]) {
        self.reader = reader
        self.userInfo = userInfo
    }

    func mismatch(_ expected: String, _ header: Header, _ path: [any CodingKey]) -> WireError {
        if case .null = header { return .valueNotFound(expected: expected, path: pathString(path)) }
        return .typeMismatch(expected: expected, found: header.kindName, path: pathString(path))
    }

    func decodeBool(at o: Int, _ path: @autoclosure () -> [any CodingKey]) throws -> Bool {
        let header = try reader.header(o)
        guard case .bool(let value) = header else { throw mismatch("bool", header, path()) }
        return value
    }

    func decodeString(at o: Int, _ path: @autoclosure () -> [any CodingKey]) throws -> String {
        let header = try reader.header(o)
        guard case .string(let offset, let length) = header else { throw mismatch("string", header, path()) }
        return try reader.string(offset: offset, length: length)
    }

    func decodeInteger<T: FixedWidthInteger>(_ type: T.Type, at o: Int, _ path: @autoclosure () -> [any CodingKey]) throws -> T {
        let header = try reader.header(o)
        switch header {
        case .int(let v):
            guard let value = T(exactly: v) else { throw WireError.numberOverflow(path: pathString(path())) }
            return value
        case .uint(let v):
            guard let value = T(exactly: v) else { throw WireError.numberOverflow(path: pathString(path())) }
            return value
        default:
            throw mismatch("integer", header, path())
        }
    }

    /// Concrete fast path for the most common integer fields (the generic one goes through witness tables).
    func decodeInt64(at o: Int, _ path: @autoclosure () -> [any CodingKey]) throws -> Int64 {
        let b = try reader.u8(o)
        if b <= 0x7F { return Int64(b) }
        if b >= 0xE0 { return Int64(Int8(bitPattern: b)) }
        switch try reader.header(o) {
        case .int(let v): return v
        case .uint(let v):
            guard v <= UInt64(Int64.max) else { throw WireError.numberOverflow(path: pathString(path())) }
            return Int64(v)
        case let header: throw mismatch("integer", header, path())
        }
    }

    func decodeDouble(at o: Int, _ path: @autoclosure () -> [any CodingKey]) throws -> Double {
        let header = try reader.header(o)
        switch header {
        case .double(let v): return v
        case .float(let v): return Double(v)
        case .int(let v):
            guard let d = Double(exactly: v) else { throw WireError.numberOverflow(path: pathString(path())) }
            return d
        case .uint(let v):
            guard let d = Double(exactly: v) else { throw WireError.numberOverflow(path: pathString(path())) }
            return d
        default: throw mismatch("float", header, path())
        }
    }

    func decodeFloat(at o: Int, _ path: @autoclosure () -> [any CodingKey]) throws -> Float {
        let header = try reader.header(o)
        switch header {
        case .float(let v): return v
        case .double(let v):
            let f = Float(v)
            if v.isFinite && !f.isFinite { throw WireError.numberOverflow(path: pathString(path())) }
            return f
        case .int(let v):
            guard let f = Float(exactly: v) else { throw WireError.numberOverflow(path: pathString(path())) }
            return f
        case .uint(let v):
            guard let f = Float(exactly: v) else { throw WireError.numberOverflow(path: pathString(path())) }
            return f
        default: throw mismatch("float", header, path())
        }
    }

    func decodeDate(at o: Int, _ path: @autoclosure () -> [any CodingKey]) throws -> Date {
        let header = try reader.header(o)
        guard case .ext(-1, let offset, let length) = header else { throw mismatch("timestamp", header, path()) }
        let (seconds, nanos) = try reader.timestamp(offset: offset, length: length)
        return Date(timeIntervalSince1970: Double(seconds) + Double(nanos) / 1_000_000_000)
    }

    func decodeData(at o: Int, _ path: @autoclosure () -> [any CodingKey]) throws -> Data {
        let header = try reader.header(o)
        guard case .binary(let offset, let length) = header else { throw mismatch("binary", header, path()) }
        return Data(bytes: reader.base + offset, count: length)
    }

    func isNil(at o: Int) throws -> Bool { try reader.u8(o) == 0xC0 }

    @inline(__always)
    func decodeValue<T: Decodable>(_ type: T.Type, at o: Int, codingPath: @autoclosure () -> [any CodingKey]) throws -> T {
        if T.self == String.self { return unsafeBitCast(try decodeString(at: o, codingPath()), to: T.self) }
        if T.self == Int.self { return unsafeBitCast(Int(try decodeInt64(at: o, codingPath())), to: T.self) }
        if T.self == Int64.self { return unsafeBitCast(try decodeInt64(at: o, codingPath()), to: T.self) }
        if T.self == Bool.self { return unsafeBitCast(try decodeBool(at: o, codingPath()), to: T.self) }
        if T.self == Double.self { return unsafeBitCast(try decodeDouble(at: o, codingPath()), to: T.self) }
        if T.self == Date.self { return try decodeDate(at: o, codingPath()) as! T }
        if T.self == Data.self { return try decodeData(at: o, codingPath()) as! T }
        if T.self == UInt64.self { return unsafeBitCast(try decodeInteger(UInt64.self, at: o, codingPath()), to: T.self) }
        if T.self == Float.self { return unsafeBitCast(try decodeFloat(at: o, codingPath()), to: T.self) }
        if T.self == URL.self {
            let s = try decodeString(at: o, codingPath())
            guard let url = URL(string: s) else { throw WireError.invalidValue("not a URL: \(s)", path: pathString(codingPath())) }
            return url as! T
        }
        if T.self == Decimal.self {
            let s = try decodeString(at: o, codingPath())
            guard let decimal = Decimal(string: s, locale: Locale(identifier: "en_US_POSIX")) else {
                throw WireError.invalidValue("not a decimal: \(s)", path: pathString(codingPath()))
            }
            return decimal as! T
        }
        return try T(from: ValueDecoder(context: self, offset: o, codingPath: codingPath()))
    }
}

final class ValueDecoder: Decoder {
    let context: DecodingContext
    let offset: Int
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { context.userInfo }

    init(context: DecodingContext, offset: Int, codingPath: [any CodingKey]) {
        self.context = context
        self.offset = offset
        self.codingPath = codingPath
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(try KeyedContainer<Key>(decoder: self))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try UnkeyedContainer(decoder: self)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleContainer(decoder: self)
    }

    final class Cursor {
        var index = 0
    }

    struct Entry {
        var keyOffset: Int
        var keyLength: Int
        /// Set when the key was not a string (e.g. an integer key written by another client).
        var keyText: String?
        var value: Int
    }

    struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let decoder: ValueDecoder
        let entries: [Entry]
        var codingPath: [any CodingKey] { decoder.codingPath }
        /// Synthesized decoders ask in field order, so the entry after the last hit is tried first.
        private let cursor = Cursor()

        init(decoder: ValueDecoder) throws {
            self.decoder = decoder
            let reader = decoder.context.reader
            let header = try reader.header(decoder.offset)
            guard case .map(let count, var next) = header else { throw decoder.context.mismatch("map", header, decoder.codingPath) }
            var entries: [Entry] = []
            entries.reserveCapacity(count)
            for _ in 0..<count {
                let keyHeader = try reader.header(next)
                var entry: Entry
                switch keyHeader {
                case .string(let offset, let length): entry = Entry(keyOffset: offset, keyLength: length, keyText: nil, value: 0)
                case .int(let v): entry = Entry(keyOffset: 0, keyLength: 0, keyText: String(v), value: 0)
                case .uint(let v): entry = Entry(keyOffset: 0, keyLength: 0, keyText: String(v), value: 0)
                default: throw WireError.typeMismatch(expected: "string key", found: keyHeader.kindName, path: pathString(decoder.codingPath))
                }
                entry.value = try reader.skip(next)
                next = try reader.skip(entry.value)
                entries.append(entry)
            }
            self.entries = entries
        }

        private func matches(_ entry: Entry, _ key: inout String) -> Bool {
            if let text = entry.keyText { return text == key }
            return key.withUTF8 { utf8 in
                utf8.count == entry.keyLength && memcmp(utf8.baseAddress!, decoder.context.reader.base + entry.keyOffset, entry.keyLength) == 0
            }
        }

        /// Value offset for `key`.
        private func find(_ key: Key) -> Int? {
            var name = key.stringValue
            let next = cursor.index
            if next < entries.count, matches(entries[next], &name) {
                cursor.index = next + 1
                return entries[next].value
            }
            for (index, entry) in entries.enumerated() where matches(entry, &name) {
                cursor.index = index + 1
                return entry.value
            }
            return nil
        }

        private func peek(_ key: Key) -> Int? { find(key) }

        var allKeys: [Key] {
            entries.compactMap { entry in
                let text = entry.keyText
                    ?? String(decoding: UnsafeBufferPointer(start: decoder.context.reader.base + entry.keyOffset, count: entry.keyLength), as: UTF8.self)
                return Key(stringValue: text)
            }
        }

        func contains(_ key: Key) -> Bool { peek(key) != nil }

        private func require(_ key: Key) throws -> Int {
            guard let offset = find(key) else { throw WireError.keyNotFound(key.stringValue, path: pathString(codingPath)) }
            return offset
        }

        private func path(_ key: Key) -> [any CodingKey] { codingPath + [key] }

        func decodeNil(forKey key: Key) throws -> Bool {
            guard let o = peek(key) else { throw WireError.keyNotFound(key.stringValue, path: pathString(codingPath)) }
            return try decoder.context.isNil(at: o)
        }

        func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decoder.context.decodeBool(at: try require(key), path(key)) }
        func decode(_ type: String.Type, forKey key: Key) throws -> String {
            try decoder.context.decodeString(at: try require(key), path(key))
        }
        func decode(_ type: Double.Type, forKey key: Key) throws -> Double {
            try decoder.context.decodeDouble(at: try require(key), path(key))
        }
        func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try decoder.context.decodeFloat(at: try require(key), path(key)) }
        func decode(_ type: Int.Type, forKey key: Key) throws -> Int { Int(try decoder.context.decodeInt64(at: try require(key), path(key))) }
        func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try integer(key) }
        func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try integer(key) }
        func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try integer(key) }
        func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decoder.context.decodeInt64(at: try require(key), path(key)) }
        func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try integer(key) }
        func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try integer(key) }
        func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try integer(key) }
        func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try integer(key) }
        func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try integer(key) }

        private func integer<T: FixedWidthInteger>(_ key: Key) throws -> T {
            try decoder.context.decodeInteger(T.self, at: try require(key), path(key))
        }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            try decoder.context.decodeValue(T.self, at: try require(key), codingPath: path(key))
        }

        /// One lookup instead of `contains` + `decodeNil` + `decode`.
        func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
            guard let o = find(key), try !decoder.context.isNil(at: o) else { return nil }
            return try decoder.context.decodeValue(T.self, at: o, codingPath: path(key))
        }

        func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? {
            guard let o = find(key), try !decoder.context.isNil(at: o) else { return nil }
            return try decoder.context.decodeString(at: o, path(key))
        }

        func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? {
            guard let o = find(key), try !decoder.context.isNil(at: o) else { return nil }
            return Int(try decoder.context.decodeInt64(at: o, path(key)))
        }

        func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? {
            guard let o = find(key), try !decoder.context.isNil(at: o) else { return nil }
            return try decoder.context.decodeInt64(at: o, path(key))
        }

        func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? {
            guard let o = find(key), try !decoder.context.isNil(at: o) else { return nil }
            return try decoder.context.decodeBool(at: o, path(key))
        }

        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
            -> KeyedDecodingContainer<NestedKey> {
            let child = ValueDecoder(context: decoder.context, offset: try require(key), codingPath: path(key))
            return try child.container(keyedBy: type)
        }

        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            try ValueDecoder(context: decoder.context, offset: try require(key), codingPath: path(key)).unkeyedContainer()
        }

        func superDecoder() throws -> any Decoder {
            guard let key = Key(stringValue: "super"), let o = find(key) else {
                throw WireError.keyNotFound("super", path: pathString(codingPath))
            }
            return ValueDecoder(context: decoder.context, offset: o, codingPath: path(key))
        }

        func superDecoder(forKey key: Key) throws -> any Decoder {
            ValueDecoder(context: decoder.context, offset: try require(key), codingPath: path(key))
        }
    }

    struct UnkeyedContainer: UnkeyedDecodingContainer {
        let decoder: ValueDecoder
        let count: Int?
        var currentIndex = 0
        var next: Int
        var codingPath: [any CodingKey] { decoder.codingPath }
        var isAtEnd: Bool { currentIndex >= (count ?? 0) }

        init(decoder: ValueDecoder) throws {
            self.decoder = decoder
            let header = try decoder.context.reader.header(decoder.offset)
            guard case .array(let count, let first) = header else { throw decoder.context.mismatch("array", header, decoder.codingPath) }
            self.count = count
            self.next = first
        }

        private mutating func advance() throws -> (Int, Int) {
            guard !isAtEnd else {
                throw WireError.valueNotFound(expected: "array element \(currentIndex)", path: pathString(codingPath))
            }
            let o = next
            next = try decoder.context.reader.skip(o)
            currentIndex += 1
            return (o, currentIndex - 1)
        }

        private func path(_ index: Int) -> [any CodingKey] { codingPath + [IndexKey(index)] }

        mutating func decodeNil() throws -> Bool {
            guard !isAtEnd, try decoder.context.isNil(at: next) else { return false }
            _ = try advance()
            return true
        }

        mutating func decode(_ type: Bool.Type) throws -> Bool { let (o, i) = try advance(); return try decoder.context.decodeBool(at: o, path(i)) }
        mutating func decode(_ type: String.Type) throws -> String { let (o, i) = try advance(); return try decoder.context.decodeString(at: o, path(i)) }
        mutating func decode(_ type: Double.Type) throws -> Double { let (o, i) = try advance(); return try decoder.context.decodeDouble(at: o, path(i)) }
        mutating func decode(_ type: Float.Type) throws -> Float { let (o, i) = try advance(); return try decoder.context.decodeFloat(at: o, path(i)) }
        mutating func decode(_ type: Int.Type) throws -> Int { try integer() }
        mutating func decode(_ type: Int8.Type) throws -> Int8 { try integer() }
        mutating func decode(_ type: Int16.Type) throws -> Int16 { try integer() }
        mutating func decode(_ type: Int32.Type) throws -> Int32 { try integer() }
        mutating func decode(_ type: Int64.Type) throws -> Int64 { try integer() }
        mutating func decode(_ type: UInt.Type) throws -> UInt { try integer() }
        mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try integer() }
        mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try integer() }
        mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try integer() }
        mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try integer() }

        private mutating func integer<T: FixedWidthInteger>() throws -> T {
            let (o, i) = try advance()
            return try decoder.context.decodeInteger(T.self, at: o, path(i))
        }

        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
            let (o, i) = try advance()
            return try decoder.context.decodeValue(T.self, at: o, codingPath: path(i))
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
            let (o, i) = try advance()
            return try ValueDecoder(context: decoder.context, offset: o, codingPath: path(i)).container(keyedBy: type)
        }

        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
            let (o, i) = try advance()
            return try ValueDecoder(context: decoder.context, offset: o, codingPath: path(i)).unkeyedContainer()
        }

        mutating func superDecoder() throws -> any Decoder {
            let (o, i) = try advance()
            return ValueDecoder(context: decoder.context, offset: o, codingPath: path(i))
        }
    }

    struct SingleContainer: SingleValueDecodingContainer {
        let decoder: ValueDecoder
        var codingPath: [any CodingKey] { decoder.codingPath }
        private var context: DecodingContext { decoder.context }
        private var o: Int { decoder.offset }

        func decodeNil() -> Bool { (try? context.isNil(at: o)) ?? false }
        func decode(_ type: Bool.Type) throws -> Bool { try context.decodeBool(at: o, codingPath) }
        func decode(_ type: String.Type) throws -> String { try context.decodeString(at: o, codingPath) }
        func decode(_ type: Double.Type) throws -> Double { try context.decodeDouble(at: o, codingPath) }
        func decode(_ type: Float.Type) throws -> Float { try context.decodeFloat(at: o, codingPath) }
        func decode(_ type: Int.Type) throws -> Int { try context.decodeInteger(Int.self, at: o, codingPath) }
        func decode(_ type: Int8.Type) throws -> Int8 { try context.decodeInteger(Int8.self, at: o, codingPath) }
        func decode(_ type: Int16.Type) throws -> Int16 { try context.decodeInteger(Int16.self, at: o, codingPath) }
        func decode(_ type: Int32.Type) throws -> Int32 { try context.decodeInteger(Int32.self, at: o, codingPath) }
        func decode(_ type: Int64.Type) throws -> Int64 { try context.decodeInteger(Int64.self, at: o, codingPath) }
        func decode(_ type: UInt.Type) throws -> UInt { try context.decodeInteger(UInt.self, at: o, codingPath) }
        func decode(_ type: UInt8.Type) throws -> UInt8 { try context.decodeInteger(UInt8.self, at: o, codingPath) }
        func decode(_ type: UInt16.Type) throws -> UInt16 { try context.decodeInteger(UInt16.self, at: o, codingPath) }
        func decode(_ type: UInt32.Type) throws -> UInt32 { try context.decodeInteger(UInt32.self, at: o, codingPath) }
        func decode(_ type: UInt64.Type) throws -> UInt64 { try context.decodeInteger(UInt64.self, at: o, codingPath) }
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try context.decodeValue(T.self, at: o, codingPath: codingPath) }
    }
}
