import Foundation

/// Encodes `Encodable` values as MessagePack.
///
/// Structs become maps keyed by their field names, nil optionals are omitted, `Date` is the timestamp extension (−1)
/// in its smallest width, `Data` is bin, `URL` and `Decimal` are strings, `[Int: T]` maps have integer keys, and every
/// integer takes its smallest form. Everything is written straight into one buffer.
public struct MessagePackEncoder: Sendable {
    /// Handed to `encode(to:)` implementations as `encoder.userInfo`.
    public var userInfo: [CodingUserInfoKey: any Sendable] = [:]
    /// Deepest nesting of arrays/maps written; deeper values throw `WireError.tooDeep` instead of exhausting the stack.
    public var maxDepth: Int = WireLimits.default.maxDepth

    /// An encoder with no user info and the default depth limit.
    public init() {}

    /// The MessagePack bytes of `value`.
    public func encode<T: Encodable>(_ value: T) throws(WireError) -> [UInt8] {
        let state = EncodingState.checkOut(userInfo: userInfo, maxDepth: maxDepth)
        defer { state.checkIn() }
        try state.encodeRoot(value)
        return state.writer.bytes
    }

    /// The MessagePack bytes of `value` as `Data`.
    public func encodeData<T: Encodable>(_ value: T) throws(WireError) -> Data {
        let state = EncodingState.checkOut(userInfo: userInfo, maxDepth: maxDepth)
        defer { state.checkIn() }
        try state.encodeRoot(value)
        return state.writer.data
    }
}

/// `Dictionary<Int, _>`: written with integer keys rather than the decimal strings `CodingKey` also offers.
protocol IntKeyedDictionary {}
extension Dictionary: IntKeyedDictionary where Key == Int {}

/// Everything one `encode` call shares: the output, the pool of per-depth encoders, the first misuse seen.
///
/// Kept per thread between calls (`checkOut`/`checkIn`), so the buffer and the encoders are allocated once.
final class EncodingState: Disposable {
    let writer = MessagePackWriter()
    @exclusivity(unchecked) var userInfo: [CodingUserInfoKey: any Sendable]
    @exclusivity(unchecked) var maxDepth: Int
    @exclusivity(unchecked) private var userInfoCache: [CodingUserInfoKey: Any]?
    /// An encode is running with this state (a nested encode on the same thread must not share it).
    @exclusivity(unchecked) private var inUse = false
    /// This is the thread's kept state.
    @exclusivity(unchecked) private var isCached = false
    /// The last encode threw (so the pool may hold half-finished encoders).
    @exclusivity(unchecked) private var failed = false
    private static let cache = ThreadCache()
    /// A wrong use of the Codable API seen where no error can be thrown (e.g. in `container(keyedBy:)`).
    @exclusivity(unchecked) var misuse: WireError?
    /// One reusable encoder per depth (index 0 is depth 1); reused only when nothing else holds it.
    @exclusivity(unchecked) var pool: [ValueEncoder] = []
    /// Set while finding the key type `Dictionary` uses, so that lookup does not recurse into itself.
    @exclusivity(unchecked) var probing = false
    @exclusivity(unchecked) var probedKeyType: ObjectIdentifier?
    /// Set by `MessagePackEncoder.codable`: every value goes through its `encode(to:)`.
    @exclusivity(unchecked) var bypassWritable = false

    init(userInfo: [CodingUserInfoKey: any Sendable], maxDepth: Int) {
        self.userInfo = userInfo
        self.maxDepth = maxDepth
    }

    /// The `CodingKey` type `Dictionary` encodes its keys with (stdlib-internal, so found by encoding one).
    static let dictionaryKeyType: ObjectIdentifier? = {
        let state = EncodingState(userInfo: [:], maxDepth: 4)
        state.probing = true
        defer { state.dispose() }
        try? state.encodeRoot([0: 0])
        return state.probedKeyType
    }()

    var userInfoAny: [CodingUserInfoKey: Any] {
        if let userInfoCache { return userInfoCache }
        let converted = userInfo.mapValues { $0 as Any }
        userInfoCache = converted
        return converted
    }

    /// The thread's kept state when it is free, else a fresh one.
    @inline(__always)
    static func checkOut(userInfo: [CodingUserInfoKey: any Sendable], maxDepth: Int) -> EncodingState {
        let state: EncodingState
        if let cached = cache.get(EncodingState.self), !cached.inUse {
            state = cached
            state.userInfo = userInfo
            state.maxDepth = maxDepth
        } else {
            state = EncodingState(userInfo: userInfo, maxDepth: maxDepth)
            if cache.get(EncodingState.self) == nil {
                state.isCached = true
                cache.set(state)
            }
        }
        state.inUse = true
        return state
    }

    /// Ends the call: the output is emptied (a buffer grown by a large value is let go), the pool kept.
    func checkIn() {
        writer.reset(keepingCapacityUpTo: 64 * 1024)
        // A finished encode leaves every pooled encoder clean; only a failed one can leave links behind.
        if failed {
            for encoder in pool { encoder.tearDown() }
            misuse = nil
            failed = false
        }
        if pool.count > 16 { pool.removeSubrange(16...) }
        if !userInfo.isEmpty {
            userInfo = [:]
            userInfoCache = nil
        }
        inUse = false
        if !isCached { dispose() }
    }

    func dispose() {
        for encoder in pool { encoder.tearDown() }
        pool.removeAll()
    }

    func encodeRoot<T: Encodable>(_ value: T) throws(WireError) {
        do {
            if try !encodeFast(value, into: writer) {
                try encodeNested(value, into: writer, depth: 1, level: 0, parent: nil, step: .none)
            }
        } catch {
            failed = true
            throw WireError.from(encoding: error)
        }
        if let misuse {
            failed = true
            throw misuse
        }
    }

    /// Writes `value` when its type has a fixed form; false for types that need their `encode(to:)`.
    @inline(__always)
    func encodeFast<T: Encodable>(_ value: T, into w: MessagePackWriter) throws(WireError) -> Bool {
        if T.self == String.self { w.write(unsafeBitCast(value, to: String.self)) }
        else if T.self == Int.self { w.write(Int64(unsafeBitCast(value, to: Int.self))) }
        else if T.self == Int64.self { w.write(unsafeBitCast(value, to: Int64.self)) }
        else if T.self == Date.self { try w.write(date: unsafeBitCast(value, to: Date.self)) }
        else if T.self == Bool.self { w.write(unsafeBitCast(value, to: Bool.self)) }
        else if T.self == Double.self { w.write(unsafeBitCast(value, to: Double.self)) }
        else if T.self == Data.self { w.write(binary: unsafeBitCast(value, to: Data.self)) }
        else if T.self == Int32.self { w.write(Int64(unsafeBitCast(value, to: Int32.self))) }
        else if T.self == UInt64.self { w.write(unsafeBitCast(value, to: UInt64.self)) }
        else if T.self == UInt32.self { w.write(UInt64(unsafeBitCast(value, to: UInt32.self))) }
        else if T.self == UInt.self { w.write(UInt64(unsafeBitCast(value, to: UInt.self))) }
        else if T.self == Int16.self { w.write(Int64(unsafeBitCast(value, to: Int16.self))) }
        else if T.self == UInt16.self { w.write(UInt64(unsafeBitCast(value, to: UInt16.self))) }
        else if T.self == Int8.self { w.write(Int64(unsafeBitCast(value, to: Int8.self))) }
        else if T.self == UInt8.self { w.write(UInt64(unsafeBitCast(value, to: UInt8.self))) }
        else if T.self == Float.self { w.write(unsafeBitCast(value, to: Float.self)) }
        // Foundation's own Codable forms are keyed containers or doubles; the contract wants plain strings.
        else if T.self == URL.self { w.write(unsafeBitCast(value, to: URL.self).absoluteString) }
        else if T.self == Decimal.self { w.write(unsafeBitCast(value, to: Decimal.self).description) }
        else if !bypassWritable, let custom = value as? any MessagePackWritable { try custom.writeMessagePack(to: MessagePackOutput(w)) }
        else { return try encodeCollection(value, into: w) }
        return true
    }

    /// Runs `value.encode(to:)` with the pooled encoder for `depth`, writing in place into `writer`.
    ///
    /// Pooled encoders write to the shared output; inside a nested container (a writer of its own) a fresh one is made.
    func encodeNested<T: Encodable>(
        _ value: T, into writer: MessagePackWriter, depth: Int, level: Int, parent: ValueEncoder?, step: PathStep
    ) throws {
        if let misuse { throw misuse }
        if depth > codableDepthLimit(maxDepth) { throw WireError.tooDeep(limit: maxDepth) }
        let encoder = writer === self.writer ? acquire(depth: depth) : ValueEncoder(state: self, writer: writer)
        encoder.reset(depth: depth, level: level, parent: parent, step: step, valueType: T.self)
        defer {
            // A throw can leave nested containers unspliced; they point back here, so the cycle is cut now.
            if !encoder.deferred.isEmpty { encoder.tearDown() }
            encoder.parent = nil
        }
        try value.encode(to: encoder)
        try encoder.finish()
    }

    @inline(__always)
    private func acquire(depth: Int) -> ValueEncoder {
        let index = depth - 1
        while pool.count <= index { pool.append(ValueEncoder(state: self)) }
        if !isKnownUniquelyReferenced(&pool[index]) {
            // Someone kept the old one (a retained encoder or an open nested container): leave it to them.
            pool[index] = ValueEncoder(state: self)
        }
        return pool[index]
    }
}

/// The `Encoder` for one value: writes in place into its writer and fixes the container header when done.
final class ValueEncoder: Encoder {
    let state: EncodingState
    /// The shared output, or a writer of its own for a nested container.
    let writer: MessagePackWriter
    // Unchecked: an encoder is used by one thread, and its accesses never overlap (measured: checks cost ~5 %).
    @exclusivity(unchecked) var depth = 0
    /// Wire nesting of the nearest enclosing container (this one's when it opened one).
    @exclusivity(unchecked) var level = 0
    @exclusivity(unchecked) var parent: ValueEncoder?
    @exclusivity(unchecked) var step = PathStep.none
    @exclusivity(unchecked) var valueType: Any.Type = Void.self

    @exclusivity(unchecked) var headerOffset = -1
    @exclusivity(unchecked) var isMap = false
    @exclusivity(unchecked) var count = 0
    @exclusivity(unchecked) var wroteSingle = false
    @exclusivity(unchecked) var finished = false
    /// Map keys are written as integers (a `Dictionary<Int, _>`).
    @exclusivity(unchecked) var intKeys = false
    /// Nested containers written into writers of their own, spliced in at `offset` when this value finishes
    /// (Codable lets them be filled in any order with the parent).
    @exclusivity(unchecked) var deferred: [(offset: Int, encoder: ValueEncoder)] = []

    init(state: EncodingState, writer: MessagePackWriter? = nil) {
        self.state = state
        self.writer = writer ?? state.writer
    }

    @inline(__always)
    func reset(depth: Int, level: Int, parent: ValueEncoder?, step: PathStep, valueType: Any.Type) {
        self.depth = depth
        self.level = level
        self.parent = parent
        self.step = step
        self.valueType = valueType
        headerOffset = -1
        count = 0
        wroteSingle = false
        finished = false
        intKeys = false
    }

    var codingPath: [any CodingKey] {
        var steps: [any CodingKey] = []
        var node: ValueEncoder? = self
        while let current = node {
            if let key = current.step.codingKey { steps.append(key) }
            node = current.parent
        }
        return steps.reversed()
    }

    var userInfo: [CodingUserInfoKey: Any] { state.userInfoAny }

    func fail(_ error: WireError) {
        if state.misuse == nil { state.misuse = error }
    }

    /// Throws when a container outlives its value (writing then would corrupt the enclosing map).
    @inline(__always)
    func checkOpen() throws(WireError) {
        if finished { throw WireError.unsupported("a container was written after its value finished encoding") }
    }

    func startContainer(isMap: Bool) {
        if headerOffset >= 0 {
            if isMap != self.isMap { fail(.unsupported("one value asked for both a keyed and an unkeyed container")) }
            return
        }
        if wroteSingle || finished {
            fail(.unsupported("a container was requested after the value was written"))
            return
        }
        level += 1
        if level > state.maxDepth { fail(.tooDeep(limit: state.maxDepth)) }
        self.isMap = isMap
        headerOffset = writer.count
        writer.byte(0x80)  // placeholder; finish() writes the real header
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        startContainer(isMap: true)
        if state.probing {
            state.probedKeyType = ObjectIdentifier(Key.self)
        } else if ObjectIdentifier(Key.self) == EncodingState.dictionaryKeyType, valueType is any IntKeyedDictionary.Type {
            intKeys = true
        }
        return KeyedEncodingContainer(KeyedContainer<Key>(encoder: self))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        startContainer(isMap: false)
        return UnkeyedContainer(encoder: self)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleContainer(encoder: self)
    }

    /// An encoder with a writer of its own for a nested container, spliced in here when this value finishes.
    func deferredChild(step: PathStep) -> ValueEncoder {
        let child = ValueEncoder(state: state, writer: MessagePackWriter(capacity: 64))
        child.reset(depth: depth + 1, level: level, parent: self, step: step, valueType: Void.self)
        if finished {
            fail(.unsupported("a nested container was requested after its parent finished encoding"))
        } else {
            deferred.append((writer.count, child))
        }
        return child
    }

    func finish() throws {
        if !deferred.isEmpty {
            // Later offsets first, so the earlier ones stay valid.
            for (offset, child) in deferred.reversed() {
                try child.finish()
                writer.insert(child.writer, at: offset)
                child.parent = nil
            }
            deferred.removeAll()
        }
        if headerOffset >= 0 {
            writer.finishHeader(at: headerOffset, count: count, isMap: isMap)
        } else if !wroteSingle {
            writer.mapHeader(0)  // a value that encoded nothing is an empty map, as JSONEncoder gives {}
        }
        finished = true
    }

    func tearDown() {
        for (_, child) in deferred { child.tearDown() }
        deferred.removeAll()
        parent = nil
    }

    /// Writes the key of the next map entry.
    @inline(__always)
    func key(_ key: some CodingKey) throws(WireError) {
        try checkOpen()
        count += 1
        if intKeys, let int = key.intValue {
            writer.write(Int64(int))
        } else {
            writer.write(key.stringValue)
        }
    }

    /// Counts the next array element.
    @inline(__always)
    func element() throws(WireError) {
        try checkOpen()
        count += 1
    }

    /// Marks the single value as written.
    @inline(__always)
    func single() throws(WireError) {
        try checkOpen()
        if wroteSingle || headerOffset >= 0 { throw WireError.unsupported("a single-value container was written twice") }
        wroteSingle = true
    }

    /// Writes a value whose type is not one of the fixed forms, one level deeper.
    @inline(__always)
    func nested<T: Encodable>(_ value: T, step: PathStep) throws {
        try state.encodeNested(value, into: writer, depth: depth + 1, level: level, parent: self, step: step)
    }

    struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let encoder: ValueEncoder
        var codingPath: [any CodingKey] { encoder.codingPath }

        mutating func encodeNil(forKey k: Key) throws { try encoder.key(k); encoder.writer.writeNil() }
        mutating func encode(_ value: Bool, forKey k: Key) throws { try encoder.key(k); encoder.writer.write(value) }
        mutating func encode(_ value: String, forKey k: Key) throws { try encoder.key(k); encoder.writer.write(value) }
        mutating func encode(_ value: Double, forKey k: Key) throws { try encoder.key(k); encoder.writer.write(value) }
        mutating func encode(_ value: Float, forKey k: Key) throws { try encoder.key(k); encoder.writer.write(value) }
        mutating func encode(_ value: Int, forKey k: Key) throws { try encoder.key(k); encoder.writer.write(Int64(value)) }
        mutating func encode(_ value: Int8, forKey k: Key) throws { try encoder.key(k); encoder.writer.write(Int64(value)) }
        mutating func encode(_ value: Int16, forKey k: Key) throws { try encoder.key(k); encoder.writer.write(Int64(value)) }
        mutating func encode(_ value: Int32, forKey k: Key) throws { try encoder.key(k); encoder.writer.write(Int64(value)) }
        mutating func encode(_ value: Int64, forKey k: Key) throws { try encoder.key(k); encoder.writer.write(value) }
        mutating func encode(_ value: UInt, forKey k: Key) throws { try encoder.key(k); encoder.writer.write(UInt64(value)) }
        mutating func encode(_ value: UInt8, forKey k: Key) throws { try encoder.key(k); encoder.writer.write(UInt64(value)) }
        mutating func encode(_ value: UInt16, forKey k: Key) throws { try encoder.key(k); encoder.writer.write(UInt64(value)) }
        mutating func encode(_ value: UInt32, forKey k: Key) throws { try encoder.key(k); encoder.writer.write(UInt64(value)) }
        mutating func encode(_ value: UInt64, forKey k: Key) throws { try encoder.key(k); encoder.writer.write(value) }

        mutating func encode<T: Encodable>(_ value: T, forKey k: Key) throws {
            try encoder.key(k)
            if try !encoder.state.encodeFast(value, into: encoder.writer) { try encoder.nested(value, step: .key(k)) }
        }

        // Own versions of the optional forms: nil is omitted, and one call instead of the defaults' two.
        mutating func encodeIfPresent(_ value: String?, forKey k: Key) throws { if let value { try encoder.key(k); encoder.writer.write(value) } }
        mutating func encodeIfPresent(_ value: Int?, forKey k: Key) throws { if let value { try encoder.key(k); encoder.writer.write(Int64(value)) } }
        mutating func encodeIfPresent(_ value: Int64?, forKey k: Key) throws { if let value { try encoder.key(k); encoder.writer.write(value) } }
        mutating func encodeIfPresent(_ value: Bool?, forKey k: Key) throws { if let value { try encoder.key(k); encoder.writer.write(value) } }
        mutating func encodeIfPresent(_ value: Double?, forKey k: Key) throws { if let value { try encoder.key(k); encoder.writer.write(value) } }
        mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey k: Key) throws {
            if let value { try encode(value, forKey: k) }
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey k: Key)
            -> KeyedEncodingContainer<NestedKey> {
            writeKeyForNested(k)
            return encoder.deferredChild(step: .key(k)).container(keyedBy: keyType)
        }

        mutating func nestedUnkeyedContainer(forKey k: Key) -> any UnkeyedEncodingContainer {
            writeKeyForNested(k)
            return encoder.deferredChild(step: .key(k)).unkeyedContainer()
        }

        mutating func superEncoder() -> any Encoder {
            writeKeyForNested(IndexKey.superKey)
            return encoder.deferredChild(step: .key(IndexKey.superKey))
        }

        mutating func superEncoder(forKey k: Key) -> any Encoder {
            writeKeyForNested(k)
            return encoder.deferredChild(step: .key(k))
        }

        private func writeKeyForNested(_ k: some CodingKey) {
            do { try encoder.key(k) } catch { encoder.fail(error) }
        }
    }

    struct UnkeyedContainer: UnkeyedEncodingContainer {
        let encoder: ValueEncoder
        var codingPath: [any CodingKey] { encoder.codingPath }
        var count: Int { encoder.count }

        mutating func encodeNil() throws { try encoder.element(); encoder.writer.writeNil() }
        mutating func encode(_ value: Bool) throws { try encoder.element(); encoder.writer.write(value) }
        mutating func encode(_ value: String) throws { try encoder.element(); encoder.writer.write(value) }
        mutating func encode(_ value: Double) throws { try encoder.element(); encoder.writer.write(value) }
        mutating func encode(_ value: Float) throws { try encoder.element(); encoder.writer.write(value) }
        mutating func encode(_ value: Int) throws { try encoder.element(); encoder.writer.write(Int64(value)) }
        mutating func encode(_ value: Int8) throws { try encoder.element(); encoder.writer.write(Int64(value)) }
        mutating func encode(_ value: Int16) throws { try encoder.element(); encoder.writer.write(Int64(value)) }
        mutating func encode(_ value: Int32) throws { try encoder.element(); encoder.writer.write(Int64(value)) }
        mutating func encode(_ value: Int64) throws { try encoder.element(); encoder.writer.write(value) }
        mutating func encode(_ value: UInt) throws { try encoder.element(); encoder.writer.write(UInt64(value)) }
        mutating func encode(_ value: UInt8) throws { try encoder.element(); encoder.writer.write(UInt64(value)) }
        mutating func encode(_ value: UInt16) throws { try encoder.element(); encoder.writer.write(UInt64(value)) }
        mutating func encode(_ value: UInt32) throws { try encoder.element(); encoder.writer.write(UInt64(value)) }
        mutating func encode(_ value: UInt64) throws { try encoder.element(); encoder.writer.write(value) }

        mutating func encode<T: Encodable>(_ value: T) throws {
            let index = encoder.count
            try encoder.element()
            if try !encoder.state.encodeFast(value, into: encoder.writer) { try encoder.nested(value, step: .index(index)) }
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            encoder.deferredChild(step: countElement()).container(keyedBy: keyType)
        }

        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            encoder.deferredChild(step: countElement()).unkeyedContainer()
        }

        mutating func superEncoder() -> any Encoder {
            encoder.deferredChild(step: countElement())
        }

        private func countElement() -> PathStep {
            let index = encoder.count
            do { try encoder.element() } catch { encoder.fail(error) }
            return .index(index)
        }
    }

    struct SingleContainer: SingleValueEncodingContainer {
        let encoder: ValueEncoder
        var codingPath: [any CodingKey] { encoder.codingPath }

        mutating func encodeNil() throws { try encoder.single(); encoder.writer.writeNil() }
        mutating func encode(_ value: Bool) throws { try encoder.single(); encoder.writer.write(value) }
        mutating func encode(_ value: String) throws { try encoder.single(); encoder.writer.write(value) }
        mutating func encode(_ value: Double) throws { try encoder.single(); encoder.writer.write(value) }
        mutating func encode(_ value: Float) throws { try encoder.single(); encoder.writer.write(value) }
        mutating func encode(_ value: Int) throws { try encoder.single(); encoder.writer.write(Int64(value)) }
        mutating func encode(_ value: Int8) throws { try encoder.single(); encoder.writer.write(Int64(value)) }
        mutating func encode(_ value: Int16) throws { try encoder.single(); encoder.writer.write(Int64(value)) }
        mutating func encode(_ value: Int32) throws { try encoder.single(); encoder.writer.write(Int64(value)) }
        mutating func encode(_ value: Int64) throws { try encoder.single(); encoder.writer.write(value) }
        mutating func encode(_ value: UInt) throws { try encoder.single(); encoder.writer.write(UInt64(value)) }
        mutating func encode(_ value: UInt8) throws { try encoder.single(); encoder.writer.write(UInt64(value)) }
        mutating func encode(_ value: UInt16) throws { try encoder.single(); encoder.writer.write(UInt64(value)) }
        mutating func encode(_ value: UInt32) throws { try encoder.single(); encoder.writer.write(UInt64(value)) }
        mutating func encode(_ value: UInt64) throws { try encoder.single(); encoder.writer.write(value) }

        mutating func encode<T: Encodable>(_ value: T) throws {
            try encoder.single()
            // The wrapped value takes this value's place and path (no new key).
            if try !encoder.state.encodeFast(value, into: encoder.writer) { try encoder.nested(value, step: .none) }
        }
    }
}
