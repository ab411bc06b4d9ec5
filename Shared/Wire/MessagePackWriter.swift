import Foundation

/// Appends MessagePack in the smallest form for each value.
struct MessagePackWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    @inline(__always) mutating func byte(_ b: UInt8) { bytes.append(b) }

    @inline(__always) mutating func be16(_ v: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: v >> 8))
        bytes.append(UInt8(truncatingIfNeeded: v))
    }

    @inline(__always) mutating func be32(_ v: UInt32) {
        bytes.append(UInt8(truncatingIfNeeded: v >> 24))
        bytes.append(UInt8(truncatingIfNeeded: v >> 16))
        bytes.append(UInt8(truncatingIfNeeded: v >> 8))
        bytes.append(UInt8(truncatingIfNeeded: v))
    }

    @inline(__always) mutating func be64(_ v: UInt64) {
        be32(UInt32(truncatingIfNeeded: v >> 32))
        be32(UInt32(truncatingIfNeeded: v))
    }

    mutating func writeNil() { byte(0xC0) }
    mutating func write(_ v: Bool) { byte(v ? 0xC3 : 0xC2) }

    mutating func write(_ v: Int64) {
        if v >= 0 { return write(UInt64(v)) }
        if v >= -32 { byte(UInt8(bitPattern: Int8(v))) }
        else if v >= Int64(Int8.min) { byte(0xD0); byte(UInt8(bitPattern: Int8(v))) }
        else if v >= Int64(Int16.min) { byte(0xD1); be16(UInt16(bitPattern: Int16(v))) }
        else if v >= Int64(Int32.min) { byte(0xD2); be32(UInt32(bitPattern: Int32(v))) }
        else { byte(0xD3); be64(UInt64(bitPattern: v)) }
    }

    mutating func write(_ v: UInt64) {
        if v <= 0x7F { byte(UInt8(v)) }
        else if v <= 0xFF { byte(0xCC); byte(UInt8(v)) }
        else if v <= 0xFFFF { byte(0xCD); be16(UInt16(v)) }
        else if v <= 0xFFFF_FFFF { byte(0xCE); be32(UInt32(v)) }
        else { byte(0xCF); be64(v) }
    }

    mutating func write(_ v: Float) { byte(0xCA); be32(v.bitPattern) }
    mutating func write(_ v: Double) { byte(0xCB); be64(v.bitPattern) }

    mutating func write(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            let n = utf8.count
            if n <= 31 { byte(0xA0 | UInt8(n)) }
            else if n <= 0xFF { byte(0xD9); byte(UInt8(n)) }
            else if n <= 0xFFFF { byte(0xDA); be16(UInt16(n)) }
            else { byte(0xDB); be32(UInt32(n)) }
            bytes.append(contentsOf: utf8)
        }
    }

    mutating func write(binary data: some Collection<UInt8>) {
        let n = data.count
        if n <= 0xFF { byte(0xC4); byte(UInt8(n)) }
        else if n <= 0xFFFF { byte(0xC5); be16(UInt16(n)) }
        else { byte(0xC6); be32(UInt32(n)) }
        bytes.append(contentsOf: data)
    }

    mutating func arrayHeader(_ n: Int) {
        if n <= 15 { byte(0x90 | UInt8(n)) }
        else if n <= 0xFFFF { byte(0xDC); be16(UInt16(n)) }
        else { byte(0xDD); be32(UInt32(n)) }
    }

    mutating func mapHeader(_ n: Int) {
        if n <= 15 { byte(0x80 | UInt8(n)) }
        else if n <= 0xFFFF { byte(0xDE); be16(UInt16(n)) }
        else { byte(0xDF); be32(UInt32(n)) }
    }

    /// Timestamp extension (type −1) in the smallest of its three widths.
    mutating func writeTimestamp(seconds: Int64, nanoseconds: UInt32) {
        if seconds >= 0, seconds >> 34 == 0 {
            let packed = UInt64(nanoseconds) << 34 | UInt64(seconds)
            if packed & 0xFFFF_FFFF_0000_0000 == 0 {
                byte(0xD6); byte(0xFF); be32(UInt32(packed))
            } else {
                byte(0xD7); byte(0xFF); be64(packed)
            }
        } else {
            byte(0xC7); byte(12); byte(0xFF); be32(nanoseconds); be64(UInt64(bitPattern: seconds))
        }
    }

    mutating func write(date: Date) {
        let (seconds, nanos) = Self.split(date)
        writeTimestamp(seconds: seconds, nanoseconds: nanos)
    }

    /// Whole seconds (floored) and nanoseconds since 1970, rounded to the nearest nanosecond.
    static func split(_ date: Date) -> (Int64, UInt32) {
        let interval = date.timeIntervalSince1970
        var seconds = interval.rounded(.down)
        var nanos = ((interval - seconds) * 1_000_000_000).rounded()
        if nanos >= 1_000_000_000 {
            seconds += 1
            nanos -= 1_000_000_000
        }
        guard seconds.isFinite, abs(seconds) < 9.2e18 else { return (0, 0) }
        return (Int64(seconds), UInt32(max(0, nanos)))
    }

    /// Placeholder for a container header, patched by `finishHeader` once the count is known.
    mutating func reserveHeader() -> Int {
        let at = bytes.count
        bytes.append(contentsOf: [0, 0, 0, 0, 0])
        return at
    }

    /// Writes the smallest header for `count` at `at` and closes the gap left by the placeholder.
    mutating func finishHeader(at: Int, count: Int, isMap: Bool) {
        var header: [UInt8]
        if count <= 15 {
            header = [(isMap ? 0x80 : 0x90) | UInt8(count)]
        } else if count <= 0xFFFF {
            header = [isMap ? 0xDE : 0xDC, UInt8(count >> 8), UInt8(count & 0xFF)]
        } else {
            header = [isMap ? 0xDF : 0xDD, UInt8(count >> 24 & 0xFF), UInt8(count >> 16 & 0xFF), UInt8(count >> 8 & 0xFF), UInt8(count & 0xFF)]
        }
        let gap = 5 - header.count
        bytes.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            if gap > 0 {
                let tail = buffer.count - (at + 5)
                if tail > 0 { memmove(base + at + header.count, base + at + 5, tail) }
            }
            for (i, b) in header.enumerated() { base[at + i] = b }
        }
        if gap > 0 { bytes.removeLast(gap) }
    }
}
