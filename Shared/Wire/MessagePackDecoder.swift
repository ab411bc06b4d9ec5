import Foundation

/// Decodes `Decodable` values from MessagePack; every failure is a `WireError`, never a crash.
///
/// The whole input is validated first (lengths, limits, depth, no trailing bytes); fields are then read in place
/// without copying the input. Unknown map keys are ignored (forward compatibility) unless `rejectUnknownKeys` is set;
/// a missing optional field decodes as nil, a missing required one is `keyNotFound`.
public struct MessagePackDecoder: Sendable {
    /// Bounds checked before anything is allocated.
    public var limits: WireLimits
    /// Throw `WireError.unknownKey` for a map key its type never asked for (a typo'd or foreign field).
    public var rejectUnknownKeys: Bool
    /// Handed to `init(from:)` implementations as `decoder.userInfo`.
    public var userInfo: [CodingUserInfoKey: any Sendable] = [:]

    /// A decoder with the given limits; unknown keys are ignored unless `rejectUnknownKeys`.
    public init(limits: WireLimits = .default, rejectUnknownKeys: Bool = false) {
        self.limits = limits
        self.rejectUnknownKeys = rejectUnknownKeys
    }

    /// Decodes a `T` that must fill `bytes` exactly.
    public func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws(WireError) -> T {
        try wireErrors { try bytes.withUnsafeBytes { try decode(type, from: $0) } }
    }

    /// Decodes a `T` that must fill `bytes` exactly, trying its hand-written reader first. For a type known to be
    /// `MessagePackReadable` where it is called, this skips the run-time conformance check and the `Any` box of the
    /// generic path (a copy of the whole value).
    public func decode<T: MessagePackReadable>(_ type: T.Type, from bytes: [UInt8]) throws(WireError) -> T {
        if limits == .default, !rejectUnknownKeys, bytes.count <= limits.maxContainerCount, let value = readable(T.self, from: bytes) {
            return value
        }
        return try wireErrors { try bytes.withUnsafeBytes { try decode(type, from: $0, readable: false) } }
    }

    /// Decodes a `T` that must fill `data` exactly.
    public func decode<T: Decodable>(_ type: T.Type, from data: Data) throws(WireError) -> T {
        try wireErrors { try data.withUnsafeBytes { try decode(type, from: $0) } }
    }

    /// Decodes a `T` that must fill `buffer` exactly; the buffer is only read during the call.
    public func decode<T: Decodable>(_ type: T.Type, from buffer: UnsafeRawBufferPointer) throws(WireError) -> T {
        try decode(type, from: buffer, readable: true)
    }

    /// Decodes through `Decodable` only, never a `MessagePackReadable` conformance: what a hand-written reader must agree with.
    public func codable<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws(WireError) -> T {
        try wireErrors { try bytes.withUnsafeBytes { try decode(type, from: $0, readable: false) } }
    }

    func decode<T: Decodable>(_ type: T.Type, from buffer: UnsafeRawBufferPointer, readable: Bool) throws(WireError) -> T {
        // Offsets are kept in 32 bits in the hot containers, so inputs stop at 2 GiB whatever the limit says.
        let limit = Swift.min(limits.maxLength, Int(Int32.max))
        guard buffer.count <= limit else { throw WireError.tooLarge(length: buffer.count, limit: limit) }
        guard let base = buffer.baseAddress, buffer.count > 0 else { throw WireError.truncated(offset: 0) }
        let reader = Reader(base: base.assumingMemoryBound(to: UInt8.self), count: buffer.count)
        // A hand-written reader within the default limits (which its types cannot exceed); Codable when it declines.
        if readable, limits == .default, buffer.count <= limits.maxContainerCount, !rejectUnknownKeys, let readable = T.self as? any MessagePackReadable.Type,
           let value = Self.read(any: readable, from: reader) as? T {
            return value
        }
        let state = DecodingState.checkOut(
            reader: reader,
            limits: limits, rejectUnknownKeys: rejectUnknownKeys, userInfo: userInfo
        )
        defer { state.checkIn() }
        do {
            let end = try state.reader.scan(limits: limits, into: &state.index)
            guard end == buffer.count else { throw WireError.trailingBytes(offset: end) }
            let value = try state.decodeValue(T.self, at: 0, node: Reader.isContainer(base.load(as: UInt8.self)) ? 0 : -1,
                                              parent: nil, step: .none)
            try state.finishChecks()
            return value
        } catch let error as WireError {
            throw error
        } catch {
            throw WireError.from(error, path: [])
        }
    }
}

/// One map entry found by a keyed container: where its key and value are.
///
/// Packed into 32 bytes (offsets fit 32 bits, inputs stop at 2 GiB): a huge map costs 16 bytes per input byte at most.
struct Entry {
    private var keyStart: Int32 = 0
    private var keyCount: Int32 = 0
    private var valueStart: Int32 = 0
    private var valueNode: Int32 = -1
    private var keyBits: UInt64 = 0
    private var keyIsUnsigned = false
    /// The type asked for this key (for `rejectUnknownKeys`).
    var used = false

    /// Offset and length of a str key; a negative length marks an integer key held in `intKey`.
    var keyOffset: Int {
        get { Int(keyStart) }
        set { keyStart = Int32(truncatingIfNeeded: newValue) }
    }
    var keyLength: Int {
        get { Int(keyCount) }
        set { keyCount = Int32(truncatingIfNeeded: newValue) }
    }
    var intKey: Int128 {
        get { keyIsUnsigned ? Int128(keyBits) : Int128(Int64(bitPattern: keyBits)) }
        set {
            keyIsUnsigned = newValue > Int128(Int64.max)
            keyBits = UInt64(truncatingIfNeeded: newValue)
        }
    }
    var value: Int {
        get { Int(valueStart) }
        set { valueStart = Int32(truncatingIfNeeded: newValue) }
    }
    /// The value's container node, or −1 when it is not an array or map.
    var node: Int {
        get { Int(valueNode) }
        set { valueNode = Int32(truncatingIfNeeded: newValue) }
    }
}

/// Everything one decode shares: the input, the container index, the map entries, the pool of decoders.
///
/// Kept per thread between decodes (`checkOut`/`checkIn`), so buffers and decoders are allocated once.
final class DecodingState: Disposable {
    // Unchecked: one thread owns a decode, and its accesses never overlap.
    @exclusivity(unchecked) var reader: Reader
    @exclusivity(unchecked) var index = ContainerIndex()
    @exclusivity(unchecked) var limits = WireLimits.default
    @exclusivity(unchecked) var rejectUnknownKeys = false
    @exclusivity(unchecked) var userInfoSource: [CodingUserInfoKey: any Sendable] = [:]
    @exclusivity(unchecked) private var userInfoCache: [CodingUserInfoKey: Any]?
    var userInfo: [CodingUserInfoKey: Any] {
        if let userInfoCache { return userInfoCache }
        let converted = userInfoSource.mapValues { $0 as Any }
        userInfoCache = converted
        return converted
    }
    /// A decode is running with this state (a nested decode on the same thread must not share it).
    @exclusivity(unchecked) private var inUse = false
    /// This is the thread's kept state.
    @exclusivity(unchecked) private var isCached = false
    private static let cache = ThreadCache()

    /// Entries of every map a keyed container scanned, appended and never moved within a decode.
    @exclusivity(unchecked) private(set) var entries: UnsafeMutablePointer<Entry>
    @exclusivity(unchecked) private(set) var entryCount = 0
    @exclusivity(unchecked) private var entryCapacity = 16
    /// One reusable decoder per depth (index 0 is depth 1), reused only when nothing else holds it.
    @exclusivity(unchecked) var pool: [ValueDecoder] = []
    /// Maps to check for unknown keys at the end: their entries and path.
    @exclusivity(unchecked) var scannedMaps: [(start: Int, count: Int, path: String)] = []
    /// An error seen where none can be thrown (invalid UTF-8 in `allKeys`), thrown once the value is built.
    @exclusivity(unchecked) var pendingError: WireError?

    private init() {
        // An empty reader until checkOut hands it the input: every read of it fails as truncated.
        reader = Reader(base: UnsafePointer(bitPattern: 1)!, count: 0)
        entries = .allocate(capacity: entryCapacity)
    }

    deinit { entries.deallocate() }

    /// The thread's kept state when it is free, else a fresh one; ready for a decode of `reader`.
    @inline(__always)
    static func checkOut(
        reader: Reader, limits: WireLimits, rejectUnknownKeys: Bool, userInfo: [CodingUserInfoKey: any Sendable]
    ) -> DecodingState {
        let state: DecodingState
        if let cached = cache.get(DecodingState.self), !cached.inUse {
            state = cached
        } else {
            state = DecodingState()
            if cache.get(DecodingState.self) == nil {
                state.isCached = true
                cache.set(state)
            }
        }
        state.inUse = true
        state.reader = reader
        state.limits = limits
        state.rejectUnknownKeys = rejectUnknownKeys
        state.userInfoSource = userInfo
        return state
    }

    /// Ends the decode: nothing can read the input or the index afterwards, and large buffers are let go.
    func checkIn() {
        reader.count = 0
        index.clear()
        entryCount = 0
        if entryCapacity > 4096 {
            entries.deallocate()
            entryCapacity = 16
            entries = .allocate(capacity: entryCapacity)
        }
        index.shrink(above: 4096)
        // Pooled decoders drop their parent when their value is done, even when it throws.
        if pool.count > 16 { pool.removeSubrange(16...) }
        if !scannedMaps.isEmpty { scannedMaps.removeAll(keepingCapacity: true) }
        pendingError = nil
        if !userInfoSource.isEmpty {
            userInfoSource = [:]
            userInfoCache = nil
        }
        inUse = false
        if !isCached { dispose() }
    }

    func dispose() {
        pool.removeAll()
    }

    func finishChecks() throws(WireError) {
        if let pendingError { throw pendingError }
        guard rejectUnknownKeys else { return }
        for map in scannedMaps {
            for i in map.start..<(map.start + map.count) where !entries[i].used {
                throw WireError.unknownKey(keyText(entries[i]), path: map.path)
            }
        }
    }

    @inline(__always)
    func node(_ n: Int) throws(WireError) -> Node {
        guard n >= 0, n < index.count else { throw WireError.truncated(offset: reader.count) }
        return index[n]
    }

    /// Appends the entries of the map at `offset` (container node `node`) and returns where they start.
    func scanMap(at offset: Int, node: Int, path: () -> String) throws(WireError) -> (start: Int, count: Int) {
        let b = try reader.byte(offset)
        let count: Int
        var p: Int
        switch b {
        case 0x80...0x8F: (count, p) = (Int(b & 0x0F), offset + 1)
        case 0xDE: (count, p) = (Int(try reader.load(offset + 1, as: UInt16.self)), offset + 3)
        case 0xDF: (count, p) = (Int(try reader.load(offset + 1, as: UInt32.self)), offset + 5)
        default: throw mismatch("map", b, path())
        }
        // The scan bounded the count by the input, so reserving for it is safe.
        reserveEntries(count)
        let start = entryCount
        var child = node + 1
        for _ in 0..<count {
            let kb = try reader.byte(p)
            var entry = Entry()
            if let (keyStart, keyLength) = try reader.stringHeader(kb, at: p) {
                entry.keyOffset = keyStart
                entry.keyLength = keyLength
                p = try reader.span(keyStart, keyLength)
            } else if let int = try reader.integer(kb, at: p) {
                entry.keyLength = -1
                entry.intKey = int
                p = try reader.scalarEnd(p)
            } else {
                throw WireError.typeMismatch(expected: "string or integer key", found: Reader.kindName(kb), path: path())
            }
            entry.value = p
            if Reader.isContainer(try reader.byte(p)) {
                let childNode = try self.node(child)
                entry.node = child
                p = childNode.end
                child = childNode.next
            } else {
                p = try reader.scalarEnd(p)
            }
            entries[entryCount] = entry
            entryCount += 1
        }
        if rejectUnknownKeys { scannedMaps.append((start, count, path())) }
        return (start, count)
    }

    private func reserveEntries(_ extra: Int) {
        guard entryCount + extra > entryCapacity else { return }
        var capacity = entryCapacity * 2
        while capacity < entryCount + extra { capacity *= 2 }
        let bigger = UnsafeMutablePointer<Entry>.allocate(capacity: capacity)
        bigger.moveInitialize(from: entries, count: entryCount)
        entries.deallocate()
        entries = bigger
        entryCapacity = capacity
    }

    /// The entry for `key` among `count` entries from `start`, trying `hint` first (synthesized decoders ask in
    /// the order encoders wrote). Returns its index relative to `start`.
    @inline(__always)
    func find(_ key: some CodingKey, start: Int, count: Int, hint: Int) -> Int? {
        guard count > 0, start >= 0, start + count <= entryCount else { return nil }
        var name = key.stringValue
        let base = entries + start
        let found: Int? = name.withUTF8 { utf8 in
            var i = hint < count ? hint : 0
            for _ in 0..<count {
                let entry = base[i]
                if entry.keyLength == utf8.count {
                    if Self.equal(utf8, reader.base + entry.keyOffset) { return i }
                } else if entry.keyLength < 0, matches(entry.intKey, key) {
                    return i
                }
                i = i + 1 == count ? 0 : i + 1
            }
            return nil
        }
        if let found { base[found].used = true }
        return found
    }

    /// Whether `key` equals the same number of bytes at `bytes`; field names are short, so inline word compares
    /// beat a call to memcmp.
    @inline(__always)
    private static func equal(_ key: UnsafeBufferPointer<UInt8>, _ bytes: UnsafePointer<UInt8>) -> Bool {
        guard let start = key.baseAddress else { return true }
        let (a, b) = (UnsafeRawPointer(start), UnsafeRawPointer(bytes))
        let n = key.count
        var i = 0
        while i &+ 8 <= n {
            if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
            i &+= 8
        }
        if i &+ 4 <= n {
            if a.loadUnaligned(fromByteOffset: i, as: UInt32.self) != b.loadUnaligned(fromByteOffset: i, as: UInt32.self) { return false }
            i &+= 4
        }
        while i < n {
            if start[i] != bytes[i] { return false }
            i &+= 1
        }
        return true
    }

    /// An integer map key matches a coding key with that `intValue`, or whose text is that number.
    private func matches(_ int: Int128, _ key: some CodingKey) -> Bool {
        if let value = key.intValue { return Int128(value) == int }
        return key.stringValue == String(int)
    }

    func keyText(_ entry: Entry) -> String {
        if entry.keyLength < 0 { return String(entry.intKey) }
        return String(decoding: UnsafeBufferPointer(start: reader.base + entry.keyOffset, count: entry.keyLength), as: UTF8.self)
    }

    func entry(_ i: Int) -> Entry { entries[i] }

    /// The key of entry `i` as a coding key (for paths; "?" once the decode is over).
    func entryKey(_ i: Int) -> any CodingKey {
        guard i >= 0, i < entryCount else { return IndexKey(stringValue: "?") }
        let entry = entries[i]
        if entry.keyLength < 0, let int = Int(exactly: entry.intKey), let key = IndexKey(intValue: int) { return key }
        return IndexKey(stringValue: keyText(entry))
    }

    func markAllUsed(start: Int, count: Int) {
        guard start >= 0, start + count <= entryCount else { return }
        for i in start..<(start + count) { entries[i].used = true }
    }

    // MARK: Primitives

    func mismatch(_ expected: String, _ b: UInt8, _ path: String) -> WireError {
        if b == 0xC0 { return .valueNotFound(expected: expected, path: path) }
        return .typeMismatch(expected: expected, found: Reader.kindName(b), path: path)
    }

    @inline(__always)
    func isNil(at o: Int) throws(WireError) -> Bool { try reader.byte(o) == 0xC0 }

    @inline(__always)
    func readString(at o: Int, _ path: @autoclosure () -> String) throws(WireError) -> String {
        let b = try reader.byte(o)
        guard let (start, length) = try reader.stringHeader(b, at: o) else { throw mismatch("string", b, path()) }
        return try reader.string(start, length)
    }

    @inline(__always)
    func readBool(at o: Int, _ path: @autoclosure () -> String) throws(WireError) -> Bool {
        let b = try reader.byte(o)
        if b == 0xC3 { return true }
        if b == 0xC2 { return false }
        throw mismatch("bool", b, path())
    }

    @inline(__always)
    func readInt64(at o: Int, _ path: @autoclosure () -> String) throws(WireError) -> Int64 {
        let b = try reader.byte(o)
        if b <= 0x7F { return Int64(b) }
        if b >= 0xE0 { return Int64(Int8(bitPattern: b)) }
        return try readInteger(Int64.self, at: o, path())
    }

    func readInteger<T: FixedWidthInteger>(_ type: T.Type, at o: Int, _ path: @autoclosure () -> String) throws(WireError) -> T {
        let b = try reader.byte(o)
        guard let wide = try reader.integer(b, at: o) else {
            throw mismatch("integer", b, path())
        }
        guard let value = T(exactly: wide) else { throw WireError.numberOverflow(path: path()) }
        return value
    }

    func readDouble(at o: Int, _ path: @autoclosure () -> String) throws(WireError) -> Double {
        let b = try reader.byte(o)
        if b == 0xCB { return Double(bitPattern: try reader.load(o + 1, as: UInt64.self)) }
        if b == 0xCA { return Double(Float(bitPattern: try reader.load(o + 1, as: UInt32.self))) }
        guard let wide = try reader.integer(b, at: o) else { throw mismatch("float", b, path()) }
        guard let value = Double(exactly: wide) else { throw WireError.numberOverflow(path: path()) }
        return value
    }

    func readFloat(at o: Int, _ path: @autoclosure () -> String) throws(WireError) -> Float {
        let b = try reader.byte(o)
        if b == 0xCA { return Float(bitPattern: try reader.load(o + 1, as: UInt32.self)) }
        if b == 0xCB {
            let double = Double(bitPattern: try reader.load(o + 1, as: UInt64.self))
            let value = Float(double)
            // Rounding to float precision is expected; turning a finite number into infinity is not.
            if double.isFinite && !value.isFinite { throw WireError.numberOverflow(path: path()) }
            return value
        }
        guard let wide = try reader.integer(b, at: o) else { throw mismatch("float", b, path()) }
        guard let value = Float(exactly: wide) else { throw WireError.numberOverflow(path: path()) }
        return value
    }

    func readDate(at o: Int, _ path: @autoclosure () -> String) throws(WireError) -> Date {
        let b = try reader.byte(o)
        guard let (seconds, nanoseconds) = try reader.timestamp(b, at: o) else { throw mismatch("timestamp", b, path()) }
        return Timestamp.date(seconds: seconds, nanoseconds: nanoseconds)
    }

    func readData(at o: Int, _ path: @autoclosure () -> String) throws(WireError) -> Data {
        let b = try reader.byte(o)
        let start: Int, length: Int
        switch b {
        case 0xC4: (start, length) = (o + 2, Int(try reader.load(o + 1, as: UInt8.self)))
        case 0xC5: (start, length) = (o + 3, Int(try reader.load(o + 1, as: UInt16.self)))
        case 0xC6: (start, length) = (o + 5, Int(try reader.load(o + 1, as: UInt32.self)))
        default: throw mismatch("binary", b, path())
        }
        return Data(buffer: try reader.bytes(start, length))
    }

    func readURL(at o: Int, _ path: @autoclosure () -> String) throws(WireError) -> URL {
        let text = try readString(at: o, path())
        guard let url = URL(string: text) else { throw WireError.invalidValue("not a URL: \(text)", path: path()) }
        return url
    }

    func readDecimal(at o: Int, _ path: @autoclosure () -> String) throws(WireError) -> Decimal {
        let text = try readString(at: o, path())
        // Decimal(string:) accepts a valid prefix ("1.5abc"), so the whole text is checked to be a number first.
        guard Self.isDecimalNumber(text), let value = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")) else {
            throw WireError.invalidValue("not a decimal number: \(text)", path: path())
        }
        return value
    }

    /// `-12.5`, `3`, `1e-7`, `.5`: an optional sign, digits with at most one point, an optional exponent.
    static func isDecimalNumber(_ text: String) -> Bool {
        var utf8 = Substring(text).utf8[...]
        if utf8.first == UInt8(ascii: "-") || utf8.first == UInt8(ascii: "+") { utf8 = utf8.dropFirst() }
        var digits = 0
        var point = false
        while let c = utf8.first, c == UInt8(ascii: ".") || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) {
            if c == UInt8(ascii: ".") {
                if point { return false }
                point = true
            } else {
                digits += 1
            }
            utf8 = utf8.dropFirst()
        }
        guard digits > 0 else { return false }
        if let e = utf8.first, e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            utf8 = utf8.dropFirst()
            if utf8.first == UInt8(ascii: "-") || utf8.first == UInt8(ascii: "+") { utf8 = utf8.dropFirst() }
            guard !utf8.isEmpty, utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return false }
            return true
        }
        return utf8.isEmpty
    }

    // MARK: Values

    /// Decodes a `T` at `o`, reading fixed forms directly and anything else through `T.init(from:)`.
    @inline(__always)
    func decodeValue<T: Decodable>(
        _ type: T.Type, at o: Int, node: Int, parent: ValueDecoder?, step: @autoclosure () -> PathStep
    ) throws -> T {
        func path() -> String { ValueDecoder.path(parent, step()) }
        if T.self == String.self { return unsafeBitCast(try readString(at: o, path()), to: T.self) }
        if T.self == Int.self { return unsafeBitCast(Int(try readInt64(at: o, path())), to: T.self) }
        if T.self == Int64.self { return unsafeBitCast(try readInt64(at: o, path()), to: T.self) }
        if T.self == Date.self { return unsafeBitCast(try readDate(at: o, path()), to: T.self) }
        if T.self == Bool.self { return unsafeBitCast(try readBool(at: o, path()), to: T.self) }
        if T.self == Double.self { return unsafeBitCast(try readDouble(at: o, path()), to: T.self) }
        if T.self == Data.self { return unsafeBitCast(try readData(at: o, path()), to: T.self) }
        if T.self == Int32.self { return unsafeBitCast(try readInteger(Int32.self, at: o, path()), to: T.self) }
        if T.self == UInt64.self { return unsafeBitCast(try readInteger(UInt64.self, at: o, path()), to: T.self) }
        if T.self == UInt32.self { return unsafeBitCast(try readInteger(UInt32.self, at: o, path()), to: T.self) }
        if T.self == UInt.self { return unsafeBitCast(try readInteger(UInt.self, at: o, path()), to: T.self) }
        if T.self == Int16.self { return unsafeBitCast(try readInteger(Int16.self, at: o, path()), to: T.self) }
        if T.self == UInt16.self { return unsafeBitCast(try readInteger(UInt16.self, at: o, path()), to: T.self) }
        if T.self == Int8.self { return unsafeBitCast(try readInteger(Int8.self, at: o, path()), to: T.self) }
        if T.self == UInt8.self { return unsafeBitCast(try readInteger(UInt8.self, at: o, path()), to: T.self) }
        if T.self == Float.self { return unsafeBitCast(try readFloat(at: o, path()), to: T.self) }
        if T.self == URL.self { return unsafeBitCast(try readURL(at: o, path()), to: T.self) }
        if T.self == Decimal.self { return unsafeBitCast(try readDecimal(at: o, path()), to: T.self) }
        let step = step()
        if CollectionType.ids.contains(ObjectIdentifier(T.self)) { return try decodeCollection(T.self, at: o, parent: parent, step: step) }
        return try decodeNested(T.self, at: o, node: node, parent: parent, step: step)
    }

    /// Runs `T.init(from:)` with the pooled decoder one level below `parent`.
    func decodeNested<T: Decodable>(_ type: T.Type, at o: Int, node: Int, parent: ValueDecoder?, step: PathStep) throws -> T {
        let depth = (parent?.depth ?? 0) + 1
        // The scan bounds wire nesting; this stops a type whose init(from:) re-decodes itself forever.
        if depth > codableDepthLimit(limits.maxDepth) { throw WireError.tooDeep(limit: limits.maxDepth) }
        let decoder = acquire(depth: depth)
        decoder.reset(offset: o, node: node, depth: depth, parent: parent, step: step)
        defer { decoder.parent = nil }
        let value: T
        do {
            value = try T(from: decoder)
        } catch let error as WireError {
            throw error
        } catch {
            throw WireError.from(error, path: decoder.codingPath)
        }
        if let pendingError { throw pendingError }
        return value
    }

    @inline(__always)
    private func acquire(depth: Int) -> ValueDecoder {
        let index = depth - 1
        while pool.count <= index { pool.append(ValueDecoder(state: self)) }
        if !isKnownUniquelyReferenced(&pool[index]) {
            // Someone kept the old one (an open nested container or a retained decoder): leave it to them.
            pool[index] = ValueDecoder(state: self)
        }
        return pool[index]
    }
}

extension PathStep {
    /// The coding key of this step; map entries are named from the input (as `IndexKey`s, not the type's own keys).
    @inline(__always)
    func codingKey(in state: DecodingState?) -> (any CodingKey)? {
        if case .entry(let i) = self { return state?.entryKey(i) }
        return codingKey
    }
}

/// The `Decoder` for one value at one offset of the input.
final class ValueDecoder: Decoder {
    let state: DecodingState
    // Unchecked: a decoder is used by one thread, and its accesses never overlap.
    @exclusivity(unchecked) var offset = 0
    /// The value's container node, or −1.
    @exclusivity(unchecked) var node = -1
    @exclusivity(unchecked) var depth = 0
    @exclusivity(unchecked) var parent: ValueDecoder?
    @exclusivity(unchecked) var step = PathStep.none
    /// This value's map entries, once a keyed container scanned them.
    @exclusivity(unchecked) var entriesStart = -1
    @exclusivity(unchecked) var entriesCount = 0
    /// Where the next key lookup starts.
    @exclusivity(unchecked) var hint = 0

    init(state: DecodingState) { self.state = state }

    @inline(__always)
    func reset(offset: Int, node: Int, depth: Int, parent: ValueDecoder?, step: PathStep) {
        self.offset = offset
        self.node = node
        self.depth = depth
        self.parent = parent
        self.step = step
        entriesStart = -1
        entriesCount = 0
        hint = 0
    }

    var codingPath: [any CodingKey] {
        var keys: [any CodingKey] = []
        var current: ValueDecoder? = self
        while let decoder = current {
            if let key = decoder.step.codingKey(in: state) { keys.append(key) }
            current = decoder.parent
        }
        return keys.reversed()
    }

    var userInfo: [CodingUserInfoKey: Any] { state.userInfo }

    /// The path of a value one `step` below `parent`, for an error message.
    static func path(_ parent: ValueDecoder?, _ step: PathStep, then next: PathStep = .none) -> String {
        var keys = parent?.codingPath ?? []
        if let key = step.codingKey(in: parent?.state) { keys.append(key) }
        if let key = next.codingKey(in: parent?.state) { keys.append(key) }
        return pathString(keys)
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        if entriesStart < 0 {
            (entriesStart, entriesCount) = try state.scanMap(at: offset, node: node) { pathString(codingPath) }
        }
        return KeyedDecodingContainer(KeyedContainer<Key>(decoder: self))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try UnkeyedContainer(decoder: self)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleContainer(decoder: self)
    }

    /// A decoder of its own (not pooled) for a nested container that may stay open beside its parent.
    func child(at offset: Int, node: Int, step: PathStep) -> ValueDecoder {
        let decoder = ValueDecoder(state: state)
        decoder.reset(offset: offset, node: node, depth: depth + 1, parent: self, step: step)
        return decoder
    }

    struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let decoder: ValueDecoder
        var codingPath: [any CodingKey] { decoder.codingPath }
        private var state: DecodingState { decoder.state }

        var allKeys: [Key] {
            let (start, count) = (decoder.entriesStart, decoder.entriesCount)
            // A container kept past its decode finds no entries rather than stale ones.
            guard start >= 0, start + count <= state.entryCount else { return [] }
            state.markAllUsed(start: start, count: count)
            var keys: [Key] = []
            keys.reserveCapacity(count)
            for i in start..<(start + count) {
                let entry = state.entry(i)
                if entry.keyLength < 0 {
                    if let key = Int(exactly: entry.intKey).flatMap(Key.init(intValue:)) ?? Key(stringValue: String(entry.intKey)) {
                        keys.append(key)
                    }
                    continue
                }
                do {
                    if let key = Key(stringValue: try state.reader.string(entry.keyOffset, entry.keyLength)) { keys.append(key) }
                } catch {
                    // allKeys cannot throw: the error surfaces when this value is finished.
                    if state.pendingError == nil { state.pendingError = error }
                }
            }
            return keys
        }

        /// Value offset, node and entry index of `key`, if present.
        @inline(__always)
        private func lookup(_ key: Key) -> (offset: Int, node: Int, entry: Int)? {
            guard let i = state.find(key, start: decoder.entriesStart, count: decoder.entriesCount, hint: decoder.hint) else { return nil }
            decoder.hint = i + 1
            let entry = state.entry(decoder.entriesStart + i)
            return (entry.value, entry.node, decoder.entriesStart + i)
        }

        @inline(__always)
        private func require(_ key: Key) throws(WireError) -> Int {
            guard let (offset, _, _) = lookup(key) else { throw WireError.keyNotFound(key.stringValue, path: pathString(codingPath)) }
            return offset
        }

        private func path(_ key: Key) -> String { ValueDecoder.path(decoder, .key(key)) }

        func contains(_ key: Key) -> Bool { lookup(key) != nil }

        func decodeNil(forKey key: Key) throws -> Bool { try state.isNil(at: try require(key)) }

        func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try state.readBool(at: try require(key), path(key)) }
        func decode(_ type: String.Type, forKey key: Key) throws -> String { try state.readString(at: try require(key), path(key)) }
        func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try state.readDouble(at: try require(key), path(key)) }
        func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try state.readFloat(at: try require(key), path(key)) }
        func decode(_ type: Int.Type, forKey key: Key) throws -> Int { Int(try state.readInt64(at: try require(key), path(key))) }
        func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try integer(key) }
        func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try integer(key) }
        func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try integer(key) }
        func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try state.readInt64(at: try require(key), path(key)) }
        func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try integer(key) }
        func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try integer(key) }
        func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try integer(key) }
        func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try integer(key) }
        func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try integer(key) }

        private func integer<T: FixedWidthInteger>(_ key: Key) throws -> T {
            try state.readInteger(T.self, at: try require(key), path(key))
        }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            guard let (offset, node, entry) = lookup(key) else { throw WireError.keyNotFound(key.stringValue, path: pathString(codingPath)) }
            return try state.decodeValue(T.self, at: offset, node: node, parent: decoder, step: .entry(entry))
        }

        // Own versions of the optional forms: one lookup instead of the defaults' contains + decodeNil + decode.
        func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? {
            guard let (offset, _, _) = lookup(key), try !state.isNil(at: offset) else { return nil }
            return try state.readString(at: offset, path(key))
        }

        func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? {
            guard let (offset, _, _) = lookup(key), try !state.isNil(at: offset) else { return nil }
            return Int(try state.readInt64(at: offset, path(key)))
        }

        func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? {
            guard let (offset, _, _) = lookup(key), try !state.isNil(at: offset) else { return nil }
            return try state.readInt64(at: offset, path(key))
        }

        func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? {
            guard let (offset, _, _) = lookup(key), try !state.isNil(at: offset) else { return nil }
            return try state.readBool(at: offset, path(key))
        }

        func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? {
            guard let (offset, _, _) = lookup(key), try !state.isNil(at: offset) else { return nil }
            return try state.readDouble(at: offset, path(key))
        }

        func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
            guard let (offset, node, entry) = lookup(key), try !state.isNil(at: offset) else { return nil }
            return try state.decodeValue(T.self, at: offset, node: node, parent: decoder, step: .entry(entry))
        }

        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
            -> KeyedDecodingContainer<NestedKey> {
            guard let (offset, node, _) = lookup(key) else { throw WireError.keyNotFound(key.stringValue, path: pathString(codingPath)) }
            return try decoder.child(at: offset, node: node, step: .key(key)).container(keyedBy: type)
        }

        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            guard let (offset, node, _) = lookup(key) else { throw WireError.keyNotFound(key.stringValue, path: pathString(codingPath)) }
            return try decoder.child(at: offset, node: node, step: .key(key)).unkeyedContainer()
        }

        func superDecoder() throws -> any Decoder {
            // "super" is rarely one of Key's cases, so it is looked up by its text.
            guard let i = state.find(IndexKey.superKey, start: decoder.entriesStart, count: decoder.entriesCount, hint: decoder.hint) else {
                throw WireError.keyNotFound("super", path: pathString(codingPath))
            }
            let entry = state.entry(decoder.entriesStart + i)
            return decoder.child(at: entry.value, node: entry.node, step: .key(IndexKey.superKey))
        }

        func superDecoder(forKey key: Key) throws -> any Decoder {
            guard let (offset, node, _) = lookup(key) else { throw WireError.keyNotFound(key.stringValue, path: pathString(codingPath)) }
            return decoder.child(at: offset, node: node, step: .key(key))
        }
    }

    /// Reads an array front to back; three words, so the `any UnkeyedDecodingContainer` holding it needs no box.
    struct UnkeyedContainer: UnkeyedDecodingContainer {
        let decoder: ValueDecoder
        private var position: Int32 = 0
        private let total: Int32
        /// Offset and container node of the next element.
        private var next: Int32
        private var nextNode: Int32

        init(decoder: ValueDecoder) throws {
            self.decoder = decoder
            let o = decoder.offset
            let reader = decoder.state.reader
            let b = try reader.byte(o)
            let count: Int, first: Int
            switch b {
            case 0x90...0x9F: (count, first) = (Int(b & 0x0F), o + 1)
            case 0xDC: (count, first) = (Int(try reader.load(o + 1, as: UInt16.self)), o + 3)
            case 0xDD: (count, first) = (Int(try reader.load(o + 1, as: UInt32.self)), o + 5)
            default: throw decoder.state.mismatch("array", b, pathString(decoder.codingPath))
            }
            // Input length is capped at Int32.max, so counts and offsets fit.
            total = Int32(truncatingIfNeeded: count)
            next = Int32(truncatingIfNeeded: first)
            nextNode = Int32(truncatingIfNeeded: decoder.node + 1)
        }

        var codingPath: [any CodingKey] { decoder.codingPath }
        var count: Int? { Int(total) }
        var currentIndex: Int { Int(position) }
        var isAtEnd: Bool { position >= total }

        /// Offset, node and index of the next element, moving past it.
        private mutating func advance() throws -> (offset: Int, node: Int, index: Int) {
            guard position < total else {
                throw WireError.valueNotFound(expected: "array element", path: ValueDecoder.path(decoder, .index(Int(position))))
            }
            let state = decoder.state
            let o = Int(next)
            var node = -1
            if Reader.isContainer(try state.reader.byte(o)) {
                node = Int(nextNode)
                let found = try state.node(node)
                next = Int32(truncatingIfNeeded: found.end)
                nextNode = Int32(truncatingIfNeeded: found.next)
            } else {
                next = Int32(truncatingIfNeeded: try state.reader.scalarEnd(o))
            }
            position += 1
            return (o, node, Int(position) - 1)
        }

        private func path(_ index: Int) -> String { ValueDecoder.path(decoder, .index(index)) }

        mutating func decodeNil() throws -> Bool {
            guard !isAtEnd, try decoder.state.isNil(at: Int(next)) else { return false }
            _ = try advance()
            return true
        }

        mutating func decode(_ type: Bool.Type) throws -> Bool { let (o, _, i) = try advance(); return try decoder.state.readBool(at: o, path(i)) }
        mutating func decode(_ type: String.Type) throws -> String {
            let (o, _, i) = try advance()
            return try decoder.state.readString(at: o, path(i))
        }
        mutating func decode(_ type: Double.Type) throws -> Double {
            let (o, _, i) = try advance()
            return try decoder.state.readDouble(at: o, path(i))
        }
        mutating func decode(_ type: Float.Type) throws -> Float { let (o, _, i) = try advance(); return try decoder.state.readFloat(at: o, path(i)) }
        mutating func decode(_ type: Int.Type) throws -> Int {
            let (o, _, i) = try advance()
            return Int(try decoder.state.readInt64(at: o, path(i)))
        }
        mutating func decode(_ type: Int8.Type) throws -> Int8 { try integer() }
        mutating func decode(_ type: Int16.Type) throws -> Int16 { try integer() }
        mutating func decode(_ type: Int32.Type) throws -> Int32 { try integer() }
        mutating func decode(_ type: Int64.Type) throws -> Int64 { let (o, _, i) = try advance(); return try decoder.state.readInt64(at: o, path(i)) }
        mutating func decode(_ type: UInt.Type) throws -> UInt { try integer() }
        mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try integer() }
        mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try integer() }
        mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try integer() }
        mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try integer() }

        private mutating func integer<T: FixedWidthInteger>() throws -> T {
            let (o, _, i) = try advance()
            return try decoder.state.readInteger(T.self, at: o, path(i))
        }

        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
            let (o, node, i) = try advance()
            return try decoder.state.decodeValue(T.self, at: o, node: node, parent: decoder, step: .index(i))
        }

        mutating func decodeIfPresent<T: Decodable>(_ type: T.Type) throws -> T? {
            if try decodeNil() { return nil }
            return try decode(T.self)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
            let (o, node, i) = try advance()
            return try decoder.child(at: o, node: node, step: .index(i)).container(keyedBy: type)
        }

        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
            let (o, node, i) = try advance()
            return try decoder.child(at: o, node: node, step: .index(i)).unkeyedContainer()
        }

        mutating func superDecoder() throws -> any Decoder {
            let (o, node, i) = try advance()
            return decoder.child(at: o, node: node, step: .index(i))
        }
    }

    struct SingleContainer: SingleValueDecodingContainer {
        let decoder: ValueDecoder
        var codingPath: [any CodingKey] { decoder.codingPath }
        private var state: DecodingState { decoder.state }
        private var o: Int { decoder.offset }
        private var path: String { pathString(decoder.codingPath) }

        func decodeNil() -> Bool { (try? state.isNil(at: o)) ?? false }
        func decode(_ type: Bool.Type) throws -> Bool { try state.readBool(at: o, path) }
        func decode(_ type: String.Type) throws -> String { try state.readString(at: o, path) }
        func decode(_ type: Double.Type) throws -> Double { try state.readDouble(at: o, path) }
        func decode(_ type: Float.Type) throws -> Float { try state.readFloat(at: o, path) }
        func decode(_ type: Int.Type) throws -> Int { Int(try state.readInt64(at: o, path)) }
        func decode(_ type: Int8.Type) throws -> Int8 { try state.readInteger(Int8.self, at: o, path) }
        func decode(_ type: Int16.Type) throws -> Int16 { try state.readInteger(Int16.self, at: o, path) }
        func decode(_ type: Int32.Type) throws -> Int32 { try state.readInteger(Int32.self, at: o, path) }
        func decode(_ type: Int64.Type) throws -> Int64 { try state.readInt64(at: o, path) }
        func decode(_ type: UInt.Type) throws -> UInt { try state.readInteger(UInt.self, at: o, path) }
        func decode(_ type: UInt8.Type) throws -> UInt8 { try state.readInteger(UInt8.self, at: o, path) }
        func decode(_ type: UInt16.Type) throws -> UInt16 { try state.readInteger(UInt16.self, at: o, path) }
        func decode(_ type: UInt32.Type) throws -> UInt32 { try state.readInteger(UInt32.self, at: o, path) }
        func decode(_ type: UInt64.Type) throws -> UInt64 { try state.readInteger(UInt64.self, at: o, path) }
        func decode<T: Decodable>(_ type: T.Type) throws -> T {
            // The wrapped value takes this value's place and path.
            try state.decodeValue(T.self, at: o, node: decoder.node, parent: decoder, step: .none)
        }
    }
}
