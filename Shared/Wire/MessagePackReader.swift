import Foundation

/// Bounds-checked big-endian reads over input that stays alive for the whole decode.
///
/// Every read checks its range, so even a broken invariant elsewhere ends in `WireError.truncated`, never a bad read.
@usableFromInline
struct Reader {
    @usableFromInline var base: UnsafePointer<UInt8>
    @usableFromInline var count: Int

    @inline(__always)
    @usableFromInline
    func byte(_ o: Int) throws(WireError) -> UInt8 {
        guard o >= 0, o < count else { throw WireError.truncated(offset: count) }
        return base[o]
    }

    @inline(__always)
    @usableFromInline
    func load<V: FixedWidthInteger>(_ o: Int, as type: V.Type) throws(WireError) -> V {
        guard o >= 0, o <= count &- MemoryLayout<V>.size else { throw WireError.truncated(offset: count) }
        return V(bigEndian: UnsafeRawPointer(base + o).loadUnaligned(as: V.self))
    }

    /// Checks that `length` bytes start at `start` and returns the offset after them.
    @inline(__always)
    func span(_ start: Int, _ length: Int) throws(WireError) -> Int {
        guard start >= 0, length >= 0, start <= count, length <= count &- start else { throw WireError.truncated(offset: count) }
        return start &+ length
    }

    /// The bytes `start..<start+length`, checked.
    @inline(__always)
    func bytes(_ start: Int, _ length: Int) throws(WireError) -> UnsafeBufferPointer<UInt8> {
        _ = try span(start, length)
        return UnsafeBufferPointer(start: base + start, count: length)
    }

    /// A str payload as a `String`, refusing invalid UTF-8.
    @usableFromInline
    func string(_ start: Int, _ length: Int) throws(WireError) -> String {
        let utf8 = try bytes(start, length)
        // ASCII is most of the traffic (codes, ids, keys); checking it word by word is cheaper than general validation.
        if isASCII(utf8) {
            return String(unsafeUninitializedCapacity: length) { target in
                if length > 0 { UnsafeMutableRawPointer(target.baseAddress!).copyMemory(from: utf8.baseAddress!, byteCount: length) }
                return length
            }
        }
        guard let text = String(validating: utf8, as: UTF8.self) else { throw WireError.invalidUTF8(offset: start) }
        return text
    }

    @inline(__always)
    private func isASCII(_ utf8: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let start = utf8.baseAddress else { return true }
        let raw = UnsafeRawPointer(start)
        var i = 0
        let n = utf8.count
        while i &+ 8 <= n {
            if raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { return false }
            i &+= 8
        }
        while i < n {
            if start[i] & 0x80 != 0 { return false }
            i &+= 1
        }
        return true
    }

    /// Start and length of the str at `o`, or nil when `b` (the byte at `o`) starts no str.
    @inline(__always)
    @usableFromInline
    func stringHeader(_ b: UInt8, at o: Int) throws(WireError) -> (start: Int, length: Int)? {
        if b & 0xE0 == 0xA0 { return (o &+ 1, Int(b & 0x1F)) }
        switch b {
        case 0xD9: return (o + 2, Int(try load(o + 1, as: UInt8.self)))
        case 0xDA: return (o + 3, Int(try load(o + 1, as: UInt16.self)))
        case 0xDB: return (o + 5, Int(try load(o + 1, as: UInt32.self)))
        default: return nil
        }
    }

    /// The integer at `o` widened to `Int128`, or nil when `b` starts no integer.
    @inline(__always)
    @usableFromInline
    func integer(_ b: UInt8, at o: Int) throws(WireError) -> Int128? {
        if b <= 0x7F { return Int128(b) }
        if b >= 0xE0 { return Int128(Int8(bitPattern: b)) }
        switch b {
        case 0xCC: return Int128(try load(o + 1, as: UInt8.self))
        case 0xCD: return Int128(try load(o + 1, as: UInt16.self))
        case 0xCE: return Int128(try load(o + 1, as: UInt32.self))
        case 0xCF: return Int128(try load(o + 1, as: UInt64.self))
        case 0xD0: return Int128(try load(o + 1, as: Int8.self))
        case 0xD1: return Int128(try load(o + 1, as: Int16.self))
        case 0xD2: return Int128(try load(o + 1, as: Int32.self))
        case 0xD3: return Int128(try load(o + 1, as: Int64.self))
        default: return nil
        }
    }

    /// Seconds and nanoseconds of the timestamp at `o`, or nil when `b` starts no timestamp (ext −1).
    @usableFromInline
    func timestamp(_ b: UInt8, at o: Int) throws(WireError) -> (seconds: Int64, nanoseconds: UInt32)? {
        let payload: Int, length: Int
        switch b {
        case 0xD4...0xD8:
            (payload, length) = (o + 2, 1 << Int(b - 0xD4))
            guard try byte(o + 1) == 0xFF else { return nil }
        case 0xC7:
            (payload, length) = (o + 3, Int(try byte(o + 1)))
            guard try byte(o + 2) == 0xFF else { return nil }
        case 0xC8:
            (payload, length) = (o + 4, Int(try load(o + 1, as: UInt16.self)))
            guard try byte(o + 3) == 0xFF else { return nil }
        case 0xC9:
            (payload, length) = (o + 6, Int(try load(o + 1, as: UInt32.self)))
            guard try byte(o + 5) == 0xFF else { return nil }
        default:
            return nil
        }
        switch length {
        case 4:
            return (Int64(try load(payload, as: UInt32.self)), 0)
        case 8:
            let packed = try load(payload, as: UInt64.self)
            let nanos = UInt32(truncatingIfNeeded: packed >> 34)
            guard nanos < 1_000_000_000 else { throw WireError.invalidTimestamp(offset: o) }
            return (Int64(packed & 0x3_FFFF_FFFF), nanos)
        case 12:
            let nanos = try load(payload, as: UInt32.self)
            guard nanos < 1_000_000_000 else { throw WireError.invalidTimestamp(offset: o) }
            return (try load(payload + 4, as: Int64.self), nanos)
        default:
            throw WireError.invalidTimestamp(offset: o)
        }
    }

    /// The offset after the value at `o` when it is not an array or map.
    @usableFromInline
    func scalarEnd(_ o: Int) throws(WireError) -> Int {
        let b = try byte(o)
        switch b {
        case 0x00...0x7F, 0xC0, 0xC2, 0xC3, 0xE0...0xFF: return o + 1
        case 0xA0...0xBF: return try span(o + 1, Int(b & 0x1F))
        case 0xCC, 0xD0: return try span(o, 2)
        case 0xCD, 0xD1: return try span(o, 3)
        case 0xCA, 0xCE, 0xD2: return try span(o, 5)
        case 0xCB, 0xCF, 0xD3: return try span(o, 9)
        case 0xD4...0xD8: return try span(o + 2, 1 << Int(b - 0xD4))
        case 0xC4, 0xD9: return try span(o + 2, Int(try load(o + 1, as: UInt8.self)))
        case 0xC5, 0xDA: return try span(o + 3, Int(try load(o + 1, as: UInt16.self)))
        case 0xC6, 0xDB: return try span(o + 5, Int(try load(o + 1, as: UInt32.self)))
        case 0xC7: return try span(o + 3, Int(try load(o + 1, as: UInt8.self)))
        case 0xC8: return try span(o + 4, Int(try load(o + 1, as: UInt16.self)))
        case 0xC9: return try span(o + 6, Int(try load(o + 1, as: UInt32.self)))
        default: throw WireError.invalidByte(b, offset: o)
        }
    }

    /// What a value starting with `b` is, for error messages.
    static func kindName(_ b: UInt8) -> String {
        switch b {
        case 0xC0: "nil"
        case 0xC2, 0xC3: "bool"
        case 0x00...0x7F, 0xE0...0xFF, 0xCC...0xD3: "integer"
        case 0xCA, 0xCB: "float"
        case 0xA0...0xBF, 0xD9...0xDB: "string"
        case 0xC4...0xC6: "binary"
        case 0x90...0x9F, 0xDC, 0xDD: "array"
        case 0x80...0x8F, 0xDE, 0xDF: "map"
        case 0xC7...0xC9, 0xD4...0xD8: "extension"
        default: "invalid byte"
        }
    }

    @inline(__always)
    static func isContainer(_ b: UInt8) -> Bool { b & 0xE0 == 0x80 || b >= 0xDC && b <= 0xDF }
}

/// One array or map of the input, in pre-order: where it ends and which node follows its subtree.
///
/// With these a container's children are walked without re-scanning nested values: the first child container of
/// node `n` is `n + 1`, and the sibling after child `c` is `nodes[c].next`.
struct Node {
    var end: Int
    var next: Int
}

/// The index the validating scan builds, owned by one decode.
struct ContainerIndex: ~Copyable {
    private(set) var nodes: UnsafeMutablePointer<Node>
    private(set) var count = 0
    private var capacity: Int

    init() {
        capacity = 16
        nodes = .allocate(capacity: capacity)
    }

    deinit { nodes.deallocate() }

    @inline(__always)
    mutating func append() -> Int {
        if count == capacity { grow() }
        nodes[count] = Node(end: 0, next: 0)
        count += 1
        return count - 1
    }

    private mutating func grow() {
        let bigger = UnsafeMutablePointer<Node>.allocate(capacity: capacity * 2)
        bigger.moveInitialize(from: nodes, count: count)
        nodes.deallocate()
        nodes = bigger
        capacity *= 2
    }

    @inline(__always)
    subscript(node: Int) -> Node {
        get { nodes[node] }
        set { nodes[node] = newValue }
    }

    /// Forgets every node (after the decode, so a retained decoder finds nothing rather than freed memory).
    mutating func clear() { count = 0 }

    /// Gives back a buffer grown past `limit` nodes by a large input (the index is kept between decodes).
    mutating func shrink(above limit: Int) {
        guard capacity > limit else { return }
        nodes.deallocate()
        capacity = 16
        nodes = .allocate(capacity: capacity)
        count = 0
    }
}

extension Reader {
    /// Validates the whole input value by value (lengths against the input and the limits, depth, invalid bytes)
    /// and records every container in `index`; returns the offset after the top-level value.
    ///
    /// Iterative with an explicit stack, so a depth bomb costs a `tooDeep`, not the thread's stack.
    func scan(limits: WireLimits, into index: inout ContainerIndex) throws(WireError) -> Int {
        let stackCapacity = Swift.max(1, Swift.min(limits.maxDepth, count) + 1)
        let frames = UnsafeMutablePointer<(remaining: Int, node: Int)>.allocate(capacity: stackCapacity)
        defer { frames.deallocate() }
        var depth = 0
        var o = 0
        while true {
            let b = try byte(o)
            var elements = -1
            switch b {
            case 0x00...0x7F, 0xC0, 0xC2, 0xC3, 0xE0...0xFF: o += 1
            case 0x80...0x8F: elements = Int(b & 0x0F) * 2; o += 1
            case 0x90...0x9F: elements = Int(b & 0x0F); o += 1
            case 0xA0...0xBF: o = try span(o + 1, Int(b & 0x1F))
            case 0xC4, 0xD9: o = try span(o + 2, try limited(Int(try load(o + 1, as: UInt8.self)), limits))
            case 0xC5, 0xDA: o = try span(o + 3, try limited(Int(try load(o + 1, as: UInt16.self)), limits))
            case 0xC6, 0xDB: o = try span(o + 5, try limited(Int(try load(o + 1, as: UInt32.self)), limits))
            case 0xC7: o = try span(o + 3, try limited(Int(try load(o + 1, as: UInt8.self)), limits))
            case 0xC8: o = try span(o + 4, try limited(Int(try load(o + 1, as: UInt16.self)), limits))
            case 0xC9: o = try span(o + 6, try limited(Int(try load(o + 1, as: UInt32.self)), limits))
            case 0xCC, 0xD0: o = try span(o, 2)
            case 0xCD, 0xD1: o = try span(o, 3)
            case 0xCA, 0xCE, 0xD2: o = try span(o, 5)
            case 0xCB, 0xCF, 0xD3: o = try span(o, 9)
            case 0xD4...0xD8: o = try span(o + 2, 1 << Int(b - 0xD4))
            case 0xDC: elements = try limited(Int(try load(o + 1, as: UInt16.self)), limits); o += 3
            case 0xDD: elements = try limited(Int(try load(o + 1, as: UInt32.self)), limits); o += 5
            case 0xDE: elements = try limited(Int(try load(o + 1, as: UInt16.self)), limits) * 2; o += 3
            case 0xDF: elements = try limited(Int(try load(o + 1, as: UInt32.self)), limits) * 2; o += 5
            default: throw WireError.invalidByte(b, offset: o)
            }
            if elements >= 0 {
                // Every element takes at least a byte: a count beyond the input is refused before anything is sized by it.
                guard elements <= count - o else { throw WireError.truncated(offset: count) }
                guard depth < limits.maxDepth else { throw WireError.tooDeep(limit: limits.maxDepth) }
                guard index.count < limits.maxContainerCount else {
                    throw WireError.tooLarge(length: index.count + 1, limit: limits.maxContainerCount)
                }
                let node = index.append()
                if elements > 0 {
                    frames[depth] = (elements, node)
                    depth += 1
                    continue
                }
                index[node] = Node(end: o, next: node + 1)
            }
            // A value ended: close every container it completes.
            while depth > 0 {
                frames[depth - 1].remaining -= 1
                if frames[depth - 1].remaining > 0 { break }
                let node = frames[depth - 1].node
                index[node] = Node(end: o, next: index.count)
                depth -= 1
            }
            if depth == 0 { return o }
        }
    }

    @inline(__always)
    private func limited(_ length: Int, _ limits: WireLimits) throws(WireError) -> Int {
        guard length <= limits.maxLength else { throw WireError.tooLarge(length: length, limit: limits.maxLength) }
        return length
    }
}
