import Foundation

/// Encodes `Encodable` values as MessagePack (structs as maps keyed by field name, nil optionals omitted,
/// `Date` as timestamp extension −1, `Data` as bin).
public struct MessagePackEncoder: Sendable {
    public var userInfo: [CodingUserInfoKey: any Sendable] = [:]

    public init() {}

    /// The MessagePack bytes of `value`.
    public func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let sink = EncodingSink()
        try sink.encodeValue(value, codingPath: [], userInfo: userInfo)
        return sink.writer.bytes
    }

    /// The MessagePack bytes of `value` as `Data`.
    public func encodeData<T: Encodable>(_ value: T) throws -> Data {
        Data(try encode(value))
    }
}

/// One output buffer; nested containers that cannot be written in place get a sink of their own.
final class EncodingSink {
    let writer = MessagePackWriter()

    /// Writes `value`, taking the fast path for primitives and the Foundation types the contract fixes.
    @inline(__always)
    func encodeValue<T: Encodable>(_ value: T, codingPath: [any CodingKey], userInfo: [CodingUserInfoKey: any Sendable]) throws {
        if T.self == String.self { return writer.write(unsafeBitCast(value, to: String.self)) }
        if T.self == Int.self { return writer.write(Int64(unsafeBitCast(value, to: Int.self))) }
        if T.self == Int64.self { return writer.write(unsafeBitCast(value, to: Int64.self)) }
        if T.self == Bool.self { return writer.write(unsafeBitCast(value, to: Bool.self)) }
        if T.self == Double.self { return writer.write(unsafeBitCast(value, to: Double.self)) }
        if T.self == Date.self { return writer.write(date: value as! Date) }
        if T.self == Data.self { return writer.write(binary: value as! Data) }
        if T.self == UInt64.self { return writer.write(unsafeBitCast(value, to: UInt64.self)) }
        if T.self == Int32.self { return writer.write(Int64(unsafeBitCast(value, to: Int32.self))) }
        if T.self == UInt32.self { return writer.write(UInt64(unsafeBitCast(value, to: UInt32.self))) }
        if T.self == Float.self { return writer.write(unsafeBitCast(value, to: Float.self)) }
        if T.self == URL.self { return writer.write((value as! URL).absoluteString) }
        if T.self == Decimal.self { return writer.write((value as! Decimal).description) }
        let encoder = ValueEncoder(sink: self, codingPath: codingPath, userInfo: userInfo)
        try value.encode(to: encoder)
        encoder.finish()
    }
}

/// The `Encoder` for one value: writes into its sink, patches the container header when the value is done.
final class ValueEncoder: Encoder {
    let sink: EncodingSink
    let codingPath: [any CodingKey]
    let userInfoStorage: [CodingUserInfoKey: any Sendable]
    var userInfo: [CodingUserInfoKey: Any] { userInfoStorage }

    var headerOffset: Int?
    var isMap = true
    var count = 0
    var wroteSingleValue = false
    /// Containers that write to their own sink, spliced in at `offset` when this value finishes.
    var deferred: [(offset: Int, encoder: ValueEncoder)] = []

    init(sink: EncodingSink, codingPath: [any CodingKey], userInfo: [CodingUserInfoKey: any Sendable]) {
        self.sink = sink
        self.codingPath = codingPath
        self.userInfoStorage = userInfo
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if headerOffset == nil {
            headerOffset = sink.writer.reserveHeader()
            isMap = true
        }
        return KeyedEncodingContainer(KeyedContainer<Key>(encoder: self))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if headerOffset == nil {
            headerOffset = sink.writer.reserveHeader()
            isMap = false
        }
        return UnkeyedContainer(encoder: self)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleContainer(encoder: self)
    }

    /// A child encoder with its own sink, spliced in at the current position of this one when it finishes.
    func deferredChild(codingPath: [any CodingKey]) -> ValueEncoder {
        let child = ValueEncoder(sink: EncodingSink(), codingPath: codingPath, userInfo: userInfoStorage)
        deferred.append((sink.writer.count, child))
        return child
    }

    func finish() {
        for (offset, child) in deferred.reversed() {
            child.finish()
            sink.writer.insert(child.sink.writer, at: offset)
        }
        deferred = []
        if let headerOffset {
            sink.writer.finishHeader(at: headerOffset, count: count, isMap: isMap)
        } else if !wroteSingleValue {
            sink.writer.mapHeader(0)  // a value that encoded nothing is an empty map, as JSONEncoder gives {}
        }
    }

    struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let encoder: ValueEncoder
        var codingPath: [any CodingKey] { encoder.codingPath }

        @inline(__always) private func key(_ key: Key) {
            encoder.count += 1
            encoder.sink.writer.write(key.stringValue)
        }

        mutating func encodeNil(forKey k: Key) throws { key(k); encoder.sink.writer.writeNil() }
        mutating func encode(_ value: Bool, forKey k: Key) throws { key(k); encoder.sink.writer.write(value) }
        mutating func encode(_ value: String, forKey k: Key) throws { key(k); encoder.sink.writer.write(value) }
        mutating func encode(_ value: Double, forKey k: Key) throws { key(k); encoder.sink.writer.write(value) }
        mutating func encode(_ value: Float, forKey k: Key) throws { key(k); encoder.sink.writer.write(value) }
        mutating func encode(_ value: Int, forKey k: Key) throws { key(k); encoder.sink.writer.write(Int64(value)) }
        mutating func encode(_ value: Int8, forKey k: Key) throws { key(k); encoder.sink.writer.write(Int64(value)) }
        mutating func encode(_ value: Int16, forKey k: Key) throws { key(k); encoder.sink.writer.write(Int64(value)) }
        mutating func encode(_ value: Int32, forKey k: Key) throws { key(k); encoder.sink.writer.write(Int64(value)) }
        mutating func encode(_ value: Int64, forKey k: Key) throws { key(k); encoder.sink.writer.write(value) }
        mutating func encode(_ value: UInt, forKey k: Key) throws { key(k); encoder.sink.writer.write(UInt64(value)) }
        mutating func encode(_ value: UInt8, forKey k: Key) throws { key(k); encoder.sink.writer.write(UInt64(value)) }
        mutating func encode(_ value: UInt16, forKey k: Key) throws { key(k); encoder.sink.writer.write(UInt64(value)) }
        mutating func encode(_ value: UInt32, forKey k: Key) throws { key(k); encoder.sink.writer.write(UInt64(value)) }
        mutating func encode(_ value: UInt64, forKey k: Key) throws { key(k); encoder.sink.writer.write(value) }

        mutating func encode<T: Encodable>(_ value: T, forKey k: Key) throws {
            key(k)
            try encoder.sink.encodeValue(value, codingPath: encoder.codingPath + [k], userInfo: encoder.userInfoStorage)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey k: Key)
            -> KeyedEncodingContainer<NestedKey> {
            key(k)
            return encoder.deferredChild(codingPath: encoder.codingPath + [k]).container(keyedBy: keyType)
        }

        mutating func nestedUnkeyedContainer(forKey k: Key) -> any UnkeyedEncodingContainer {
            key(k)
            return encoder.deferredChild(codingPath: encoder.codingPath + [k]).unkeyedContainer()
        }

        mutating func superEncoder() -> any Encoder {
            encoder.count += 1
            encoder.sink.writer.write("super")
            return encoder.deferredChild(codingPath: encoder.codingPath + [IndexKey(stringValue: "super")])
        }

        mutating func superEncoder(forKey k: Key) -> any Encoder {
            key(k)
            return encoder.deferredChild(codingPath: encoder.codingPath + [k])
        }
    }

    struct UnkeyedContainer: UnkeyedEncodingContainer {
        let encoder: ValueEncoder
        var codingPath: [any CodingKey] { encoder.codingPath }
        var count: Int { encoder.count }

        mutating func encodeNil() throws { encoder.count += 1; encoder.sink.writer.writeNil() }
        mutating func encode(_ value: Bool) throws { encoder.count += 1; encoder.sink.writer.write(value) }
        mutating func encode(_ value: String) throws { encoder.count += 1; encoder.sink.writer.write(value) }
        mutating func encode(_ value: Double) throws { encoder.count += 1; encoder.sink.writer.write(value) }
        mutating func encode(_ value: Float) throws { encoder.count += 1; encoder.sink.writer.write(value) }
        mutating func encode(_ value: Int) throws { encoder.count += 1; encoder.sink.writer.write(Int64(value)) }
        mutating func encode(_ value: Int64) throws { encoder.count += 1; encoder.sink.writer.write(value) }
        mutating func encode(_ value: UInt64) throws { encoder.count += 1; encoder.sink.writer.write(value) }

        mutating func encode<T: Encodable>(_ value: T) throws {
            let index = encoder.count
            encoder.count += 1
            try encoder.sink.encodeValue(value, codingPath: encoder.codingPath + [IndexKey(index)], userInfo: encoder.userInfoStorage)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            let index = encoder.count
            encoder.count += 1
            return encoder.deferredChild(codingPath: encoder.codingPath + [IndexKey(index)]).container(keyedBy: keyType)
        }

        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            let index = encoder.count
            encoder.count += 1
            return encoder.deferredChild(codingPath: encoder.codingPath + [IndexKey(index)]).unkeyedContainer()
        }

        mutating func superEncoder() -> any Encoder {
            let index = encoder.count
            encoder.count += 1
            return encoder.deferredChild(codingPath: encoder.codingPath + [IndexKey(index)])
        }
    }

    struct SingleContainer: SingleValueEncodingContainer {
        let encoder: ValueEncoder
        var codingPath: [any CodingKey] { encoder.codingPath }

        private func mark() { encoder.wroteSingleValue = true }
        mutating func encodeNil() throws { mark(); encoder.sink.writer.writeNil() }
        mutating func encode(_ value: Bool) throws { mark(); encoder.sink.writer.write(value) }
        mutating func encode(_ value: String) throws { mark(); encoder.sink.writer.write(value) }
        mutating func encode(_ value: Double) throws { mark(); encoder.sink.writer.write(value) }
        mutating func encode(_ value: Float) throws { mark(); encoder.sink.writer.write(value) }
        mutating func encode(_ value: Int) throws { mark(); encoder.sink.writer.write(Int64(value)) }
        mutating func encode(_ value: Int8) throws { mark(); encoder.sink.writer.write(Int64(value)) }
        mutating func encode(_ value: Int16) throws { mark(); encoder.sink.writer.write(Int64(value)) }
        mutating func encode(_ value: Int32) throws { mark(); encoder.sink.writer.write(Int64(value)) }
        mutating func encode(_ value: Int64) throws { mark(); encoder.sink.writer.write(value) }
        mutating func encode(_ value: UInt) throws { mark(); encoder.sink.writer.write(UInt64(value)) }
        mutating func encode(_ value: UInt8) throws { mark(); encoder.sink.writer.write(UInt64(value)) }
        mutating func encode(_ value: UInt16) throws { mark(); encoder.sink.writer.write(UInt64(value)) }
        mutating func encode(_ value: UInt32) throws { mark(); encoder.sink.writer.write(UInt64(value)) }
        mutating func encode(_ value: UInt64) throws { mark(); encoder.sink.writer.write(value) }

        mutating func encode<T: Encodable>(_ value: T) throws {
            mark()
            try encoder.sink.encodeValue(value, codingPath: encoder.codingPath, userInfo: encoder.userInfoStorage)
        }
    }
}

/// Coding key for array positions and synthetic keys.
struct IndexKey: CodingKey {
    var stringValue: String
    var intValue: Int?

    init(_ index: Int) {
        stringValue = "[\(index)]"
        intValue = index
    }

    init(stringValue: String) {
        self.stringValue = stringValue
        intValue = nil
    }

    init?(intValue: Int) { self.init(intValue) }
}
