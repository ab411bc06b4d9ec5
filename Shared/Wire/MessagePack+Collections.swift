import Foundation

// Arrays and string-keyed dictionaries of fixed-form values (`[String]`, `[String: String]`, `[Int64]`, …) are read
// and written directly. Through Codable they cost a container, a box and a dynamic key per element: decoding a
// two-entry `[String: String]` that way took ~2 µs, directly ~0.2 µs. The bytes are the same either way.

/// The collection types with a direct form, looked up once: on Linux, naming a stdlib-prespecialized type such as
/// `[String: String].self` in generic code costs a runtime metadata lookup every time (measured ~20 ns each).
struct CollectionType {
    let stringToString = ObjectIdentifier([String: String].self)
    let strings = ObjectIdentifier([String].self)
    let int64s = ObjectIdentifier([Int64].self)
    let ints = ObjectIdentifier([Int].self)
    let stringToInt64 = ObjectIdentifier([String: Int64].self)
    let stringToInt = ObjectIdentifier([String: Int].self)
    let stringToBool = ObjectIdentifier([String: Bool].self)
    let stringToDouble = ObjectIdentifier([String: Double].self)
    let doubles = ObjectIdentifier([Double].self)
    let bools = ObjectIdentifier([Bool].self)
    let uint8s = ObjectIdentifier([UInt8].self)

    /// One lazy global for all of them: each global costs an accessor call per use.
    static let ids = CollectionType()

    /// Whether `id` is one of the types above.
    @inline(__always)
    func contains(_ id: ObjectIdentifier) -> Bool {
        id == stringToString || id == strings || id == int64s || id == ints || id == stringToInt64 || id == stringToInt
            || id == stringToBool || id == stringToDouble || id == doubles || id == bools || id == uint8s
    }
}

extension EncodingState {
    /// Writes `value` when it is one of the collections with a direct form; false otherwise.
    @inline(__always)
    func encodeCollection<T: Encodable>(_ value: T, into w: MessagePackWriter) throws(WireError) -> Bool {
        let id = ObjectIdentifier(T.self)
        let ids = CollectionType.ids
        if id == ids.stringToString { writeMap(unsafeBitCast(value, to: [String: String].self), w) { w.write($0) } }
        else if id == ids.strings { writeArray(unsafeBitCast(value, to: [String].self), w) { w.write($0) } }
        else if id == ids.int64s { writeArray(unsafeBitCast(value, to: [Int64].self), w) { w.write($0) } }
        else if id == ids.ints { writeArray(unsafeBitCast(value, to: [Int].self), w) { w.write(Int64($0)) } }
        else if id == ids.stringToInt64 { writeMap(unsafeBitCast(value, to: [String: Int64].self), w) { w.write($0) } }
        else if id == ids.stringToInt { writeMap(unsafeBitCast(value, to: [String: Int].self), w) { w.write(Int64($0)) } }
        else if id == ids.stringToBool { writeMap(unsafeBitCast(value, to: [String: Bool].self), w) { w.write($0) } }
        else if id == ids.stringToDouble { writeMap(unsafeBitCast(value, to: [String: Double].self), w) { w.write($0) } }
        else if id == ids.doubles { writeArray(unsafeBitCast(value, to: [Double].self), w) { w.write($0) } }
        else if id == ids.bools { writeArray(unsafeBitCast(value, to: [Bool].self), w) { w.write($0) } }
        else if id == ids.uint8s { writeArray(unsafeBitCast(value, to: [UInt8].self), w) { w.write(UInt64($0)) } }
        else { return false }
        return true
    }

    @inline(__always)
    private func writeArray<V>(_ items: [V], _ w: MessagePackWriter, _ element: (V) -> Void) {
        w.arrayHeader(items.count)
        for item in items { element(item) }
    }

    @inline(__always)
    private func writeMap<V>(_ map: [String: V], _ w: MessagePackWriter, _ value: (V) -> Void) {
        w.mapHeader(map.count)
        for (key, item) in map {
            w.write(key)
            value(item)
        }
    }
}

extension DecodingState {
    /// Reads a `T` that `CollectionType.ids.contains` has a direct form for.
    ///
    /// Not `T?`: in unspecialized generic code `Optional<T>` costs a runtime metadata lookup per call.
    @inline(__always)
    func decodeCollection<T>(_ type: T.Type, at o: Int, parent: ValueDecoder?, step: PathStep) throws(WireError) -> T {
        let id = ObjectIdentifier(T.self)
        let ids = CollectionType.ids
        if id == ids.stringToString {
            return unsafeBitCast(try readMap(at: o, parent, step) { (o, path) throws(WireError) in try readString(at: o, path()) }, to: T.self)
        }
        if id == ids.strings {
            return unsafeBitCast(try readArray(at: o, parent, step) { (o, path) throws(WireError) in try readString(at: o, path()) }, to: T.self)
        }
        if id == ids.int64s {
            return unsafeBitCast(try readArray(at: o, parent, step) { (o, path) throws(WireError) in try readInt64(at: o, path()) }, to: T.self)
        }
        if id == ids.ints {
            return unsafeBitCast(try readArray(at: o, parent, step) { (o, path) throws(WireError) in
                try readInteger(Int.self, at: o, path())
            }, to: T.self)
        }
        if id == ids.stringToInt64 {
            return unsafeBitCast(try readMap(at: o, parent, step) { (o, path) throws(WireError) in try readInt64(at: o, path()) }, to: T.self)
        }
        if id == ids.stringToInt {
            return unsafeBitCast(try readMap(at: o, parent, step) { (o, path) throws(WireError) in
                try readInteger(Int.self, at: o, path())
            }, to: T.self)
        }
        if id == ids.stringToBool {
            return unsafeBitCast(try readMap(at: o, parent, step) { (o, path) throws(WireError) in try readBool(at: o, path()) }, to: T.self)
        }
        if id == ids.stringToDouble {
            return unsafeBitCast(try readMap(at: o, parent, step) { (o, path) throws(WireError) in try readDouble(at: o, path()) }, to: T.self)
        }
        if id == ids.doubles {
            return unsafeBitCast(try readArray(at: o, parent, step) { (o, path) throws(WireError) in try readDouble(at: o, path()) }, to: T.self)
        }
        if id == ids.bools {
            return unsafeBitCast(try readArray(at: o, parent, step) { (o, path) throws(WireError) in try readBool(at: o, path()) }, to: T.self)
        }
        if id == ids.uint8s {
            return unsafeBitCast(try readArray(at: o, parent, step) { (o, path) throws(WireError) in
                try readInteger(UInt8.self, at: o, path())
            }, to: T.self)
        }
        throw WireError.unsupported("no direct form for \(T.self)")
    }

    /// An array of scalars; `element` reads one at an offset (a container element fails there as a type mismatch).
    private func readArray<V>(
        at o: Int, _ parent: ValueDecoder?, _ step: PathStep, _ element: (Int, () -> String) throws(WireError) -> V
    ) throws(WireError) -> [V] {
        let b = try reader.byte(o)
        let count: Int
        var p: Int
        switch b {
        case 0x90...0x9F: (count, p) = (Int(b & 0x0F), o + 1)
        case 0xDC: (count, p) = (Int(try reader.load(o + 1, as: UInt16.self)), o + 3)
        case 0xDD: (count, p) = (Int(try reader.load(o + 1, as: UInt32.self)), o + 5)
        default: throw mismatch("array", b, ValueDecoder.path(parent, step))
        }
        var items: [V] = []
        // The scan bounded the count by the input length.
        items.reserveCapacity(count)
        for i in 0..<count {
            items.append(try element(p) { ValueDecoder.path(parent, step, then: .index(i)) })
            p = try reader.scalarEnd(p)
        }
        return items
    }

    /// A map with string keys (integer keys become their decimal text, as `Dictionary<String, _>` does through
    /// Codable); a repeated key keeps its last value.
    private func readMap<V>(
        at o: Int, _ parent: ValueDecoder?, _ step: PathStep, _ value: (Int, () -> String) throws(WireError) -> V
    ) throws(WireError) -> [String: V] {
        let b = try reader.byte(o)
        let count: Int
        var p: Int
        switch b {
        case 0x80...0x8F: (count, p) = (Int(b & 0x0F), o + 1)
        case 0xDE: (count, p) = (Int(try reader.load(o + 1, as: UInt16.self)), o + 3)
        case 0xDF: (count, p) = (Int(try reader.load(o + 1, as: UInt32.self)), o + 5)
        default: throw mismatch("map", b, ValueDecoder.path(parent, step))
        }
        var map = [String: V](minimumCapacity: count)
        for _ in 0..<count {
            let kb = try reader.byte(p)
            let key: String
            if let (start, length) = try reader.stringHeader(kb, at: p) {
                key = try reader.string(start, length)
                p = start + length
            } else if let int = try reader.integer(kb, at: p) {
                key = String(int)
                p = try reader.scalarEnd(p)
            } else {
                throw WireError.typeMismatch(expected: "string key", found: Reader.kindName(kb), path: ValueDecoder.path(parent, step))
            }
            map[key] = try value(p) { ValueDecoder.path(parent, step, then: .key(IndexKey(stringValue: key))) }
            p = try reader.scalarEnd(p)
        }
        return map
    }
}
