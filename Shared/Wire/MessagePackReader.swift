import Foundation

/// The header of one MessagePack value: its kind and where its payload lies.
enum Header {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case float(Float)
    case double(Double)
    case string(offset: Int, length: Int)
    case binary(offset: Int, length: Int)
    case array(count: Int, first: Int)
    case map(count: Int, first: Int)
    case ext(type: Int8, offset: Int, length: Int)

    var kindName: String {
        switch self {
        case .null: "nil"
        case .bool: "bool"
        case .int, .uint: "integer"
        case .float, .double: "float"
        case .string: "string"
        case .binary: "binary"
        case .array: "array"
        case .map: "map"
        case .ext(let type, _, _): type == -1 ? "timestamp" : "extension \(type)"
        }
    }
}

/// Bounds-checked reads over input that stays alive for the whole decode.
struct MessagePackReader {
    let base: UnsafePointer<UInt8>
    let count: Int
    let limits: WireLimits
    /// End offset of every container, by its start offset, filled by `index()` so later skips are O(1).
    var ends: UnsafeMutablePointer<Int32>?

    @inline(__always) func need(_ offset: Int, _ length: Int) throws {
        if length < 0 || offset > count - length { throw WireError.truncated(offset: count) }
    }

    @inline(__always) func u8(_ o: Int) throws -> UInt8 {
        try need(o, 1)
        return base[o]
    }

    @inline(__always) func u16(_ o: Int) throws -> UInt16 {
        try need(o, 2)
        return UInt16(base[o]) << 8 | UInt16(base[o + 1])
    }

    @inline(__always) func u32(_ o: Int) throws -> UInt32 {
        try need(o, 4)
        return UInt32(base[o]) << 24 | UInt32(base[o + 1]) << 16 | UInt32(base[o + 2]) << 8 | UInt32(base[o + 3])
    }

    @inline(__always) func u64(_ o: Int) throws -> UInt64 {
        UInt64(try u32(o)) << 32 | UInt64(try u32(o + 4))
    }

    /// A declared length, checked against the remaining input and the limits before anything is allocated.
    @inline(__always) func length(_ n: Int, at payload: Int, minimumElementSize: Int = 1) throws -> Int {
        if n > limits.maxLength { throw WireError.tooLarge(length: n, limit: limits.maxLength) }
        if n > (count - min(payload, count)) / minimumElementSize { throw WireError.truncated(offset: count) }
        return n
    }

    /// Reads the header of the value at `o` (the payload itself is only bounds-checked).
    func header(_ o: Int) throws -> Header {
        let b = try u8(o)
        switch b {
        case 0x00...0x7F: return .uint(UInt64(b))
        case 0x80...0x8F: return .map(count: try length(Int(b & 0x0F), at: o + 1, minimumElementSize: 2), first: o + 1)
        case 0x90...0x9F: return .array(count: try length(Int(b & 0x0F), at: o + 1), first: o + 1)
        case 0xA0...0xBF:
            let n = Int(b & 0x1F)
            try need(o + 1, n)
            return .string(offset: o + 1, length: n)
        case 0xC0: return .null
        case 0xC2: return .bool(false)
        case 0xC3: return .bool(true)
        case 0xC4, 0xC5, 0xC6:
            let (n, start) = try sized(b - 0xC4, o)
            try need(start, n)
            return .binary(offset: start, length: n)
        case 0xC7, 0xC8, 0xC9:
            let (n, start) = try sized(b - 0xC7, o)
            let type = Int8(bitPattern: try u8(start))
            try need(start + 1, n)
            return .ext(type: type, offset: start + 1, length: n)
        case 0xCA: return .float(Float(bitPattern: try u32(o + 1)))
        case 0xCB: return .double(Double(bitPattern: try u64(o + 1)))
        case 0xCC: return .uint(UInt64(try u8(o + 1)))
        case 0xCD: return .uint(UInt64(try u16(o + 1)))
        case 0xCE: return .uint(UInt64(try u32(o + 1)))
        case 0xCF: return .uint(try u64(o + 1))
        case 0xD0: return .int(Int64(Int8(bitPattern: try u8(o + 1))))
        case 0xD1: return .int(Int64(Int16(bitPattern: try u16(o + 1))))
        case 0xD2: return .int(Int64(Int32(bitPattern: try u32(o + 1))))
        case 0xD3: return .int(Int64(bitPattern: try u64(o + 1)))
        case 0xD4, 0xD5, 0xD6, 0xD7, 0xD8:
            let n = 1 << Int(b - 0xD4)
            let type = Int8(bitPattern: try u8(o + 1))
            try need(o + 2, n)
            return .ext(type: type, offset: o + 2, length: n)
        case 0xD9, 0xDA, 0xDB:
            let (n, start) = try sized(b - 0xD9, o)
            try need(start, n)
            return .string(offset: start, length: n)
        case 0xDC: return .array(count: try length(Int(try u16(o + 1)), at: o + 3), first: o + 3)
        case 0xDD: return .array(count: try length(Int(try u32(o + 1)), at: o + 5), first: o + 5)
        case 0xDE: return .map(count: try length(Int(try u16(o + 1)), at: o + 3, minimumElementSize: 2), first: o + 3)
        case 0xDF: return .map(count: try length(Int(try u32(o + 1)), at: o + 5, minimumElementSize: 2), first: o + 5)
        case 0xE0...0xFF: return .int(Int64(Int8(bitPattern: b)))
        default: throw WireError.invalidByte(b, offset: o)
        }
    }

    /// Length prefix of 1, 2 or 4 bytes (width index 0, 1, 2) after the type byte at `o`.
    private func sized(_ width: UInt8, _ o: Int) throws -> (Int, Int) {
        let n: Int
        switch width {
        case 0: n = Int(try u8(o + 1))
        case 1: n = Int(try u16(o + 1))
        default: n = Int(try u32(o + 1))
        }
        if n > limits.maxLength { throw WireError.tooLarge(length: n, limit: limits.maxLength) }
        return (n, o + 2 + (width == 0 ? 0 : width == 1 ? 1 : 3))
    }

    /// Offset just past the value at `o`, checking the whole subtree (lengths, depth).
    func skip(_ o: Int, depth: Int = 0) throws -> Int {
        if depth > limits.maxDepth { throw WireError.tooDeep(limit: limits.maxDepth) }
        let b = try u8(o)
        if let ends, ends[o] > 0 { return Int(ends[o]) }
        switch b {
        case 0x00...0x7F, 0xC0, 0xC2, 0xC3, 0xE0...0xFF: return o + 1
        case 0xCC, 0xD0: try need(o, 2); return o + 2
        case 0xCD, 0xD1: try need(o, 3); return o + 3
        case 0xCA, 0xCE, 0xD2: try need(o, 5); return o + 5
        case 0xCB, 0xCF, 0xD3: try need(o, 9); return o + 9
        default: break
        }
        switch try header(o) {
        case .string(let offset, let length), .binary(let offset, let length), .ext(_, let offset, let length):
            return offset + length
        case .array(let n, var next):
            for _ in 0..<n { next = try skip(next, depth: depth + 1) }
            ends?[o] = Int32(truncatingIfNeeded: next)
            return next
        case .map(let n, var next):
            for _ in 0..<n {
                next = try skip(next, depth: depth + 1)
                next = try skip(next, depth: depth + 1)
            }
            ends?[o] = Int32(truncatingIfNeeded: next)
            return next
        default:
            throw WireError.invalidByte(b, offset: o)
        }
    }

    func string(offset: Int, length: Int) throws -> String {
        let buffer = UnsafeBufferPointer(start: base + offset, count: length)
        guard let s = String(validating: buffer, as: UTF8.self) else { throw WireError.invalidUTF8(offset: offset) }
        return s
    }

    /// Seconds and nanoseconds of a timestamp extension payload (4, 8 or 12 bytes).
    func timestamp(offset: Int, length: Int) throws -> (Int64, UInt32) {
        switch length {
        case 4:
            return (Int64(try u32(offset)), 0)
        case 8:
            let packed = try u64(offset)
            let nanos = UInt32(packed >> 34)
            guard nanos < 1_000_000_000 else { throw WireError.invalidTimestamp(offset: offset) }
            return (Int64(packed & 0x3_FFFF_FFFF), nanos)
        case 12:
            let nanos = try u32(offset)
            guard nanos < 1_000_000_000 else { throw WireError.invalidTimestamp(offset: offset) }
            return (Int64(bitPattern: try u64(offset + 4)), nanos)
        default:
            throw WireError.invalidTimestamp(offset: offset)
        }
    }
}
