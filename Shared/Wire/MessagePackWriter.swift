import Foundation

/// Appends MessagePack in the smallest form for each value.
///
/// A class over raw storage: the encoder's containers share one writer, and plain stored-property updates avoid
/// the dynamic exclusivity checks a struct-in-a-class buffer costs on every byte. Properties are
/// `@exclusivity(unchecked)` for the same reason: one thread owns a writer, and no access ever overlaps another.
final class MessagePackWriter {
    @exclusivity(unchecked) private(set) var storage: UnsafeMutablePointer<UInt8>
    @exclusivity(unchecked) private(set) var count = 0
    @exclusivity(unchecked) private(set) var capacity: Int

    init(capacity: Int = 512) {
        self.capacity = Swift.max(capacity, 16)
        storage = .allocate(capacity: self.capacity)
    }

    deinit { storage.deallocate() }

    /// The bytes written so far.
    var bytes: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 { buffer.baseAddress!.initialize(from: storage, count: count) }
            initialized = count
        }
    }

    /// The bytes written so far as `Data`.
    var data: Data { Data(bytes: storage, count: count) }

    /// Empties the writer for the next value, giving back storage grown beyond `limit` bytes.
    func reset(keepingCapacityUpTo limit: Int) {
        count = 0
        guard capacity > limit else { return }
        storage.deallocate()
        capacity = 512
        storage = .allocate(capacity: capacity)
    }

    /// Makes room for `extra` more bytes and returns where they go.
    @inline(__always)
    func claim(_ extra: Int) -> UnsafeMutablePointer<UInt8> {
        if extra > capacity &- count { grow(extra) }
        let at = storage + count
        count &+= extra
        return at
    }

    @inline(never)
    func grow(_ extra: Int) {
        let needed = count + extra
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let newStorage = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        newStorage.moveInitialize(from: storage, count: count)
        storage.deallocate()
        storage = newStorage
        capacity = newCapacity
    }

    @inline(__always)
    func byte(_ b: UInt8) { claim(1).pointee = b }

    @inline(__always)
    func append(_ source: UnsafeRawBufferPointer) {
        guard let base = source.baseAddress, source.count > 0 else { return }
        UnsafeMutableRawPointer(claim(source.count)).copyMemory(from: base, byteCount: source.count)
    }

    /// Type byte followed by a big-endian value, in one bounds check.
    @inline(__always)
    func typed<V: FixedWidthInteger>(_ type: UInt8, _ value: V) {
        let at = claim(1 + MemoryLayout<V>.size)
        at.pointee = type
        UnsafeMutableRawPointer(at + 1).storeBytes(of: value.bigEndian, as: V.self)
    }

    @inline(__always) func writeNil() { byte(0xC0) }
    @inline(__always) func write(_ v: Bool) { byte(v ? 0xC3 : 0xC2) }

    @inline(__always)
    func write(_ v: Int64) {
        if v >= -32 {
            if v <= 0x7F { return byte(UInt8(truncatingIfNeeded: v)) }
            return writeLarge(UInt64(truncatingIfNeeded: v))
        }
        writeNegative(v)
    }

    @inline(__always)
    func write(_ v: UInt64) {
        if v <= 0x7F { return byte(UInt8(truncatingIfNeeded: v)) }
        writeLarge(v)
    }

    /// Unsigned values above the positive fixint range.
    func writeLarge(_ v: UInt64) {
        if v <= 0xFF { typed(0xCC, UInt8(truncatingIfNeeded: v)) }
        else if v <= 0xFFFF { typed(0xCD, UInt16(truncatingIfNeeded: v)) }
        else if v <= 0xFFFF_FFFF { typed(0xCE, UInt32(truncatingIfNeeded: v)) }
        else { typed(0xCF, v) }
    }

    /// Values below the negative fixint range (< −32).
    func writeNegative(_ v: Int64) {
        if v >= -0x80 { typed(0xD0, Int8(truncatingIfNeeded: v)) }
        else if v >= -0x8000 { typed(0xD1, Int16(truncatingIfNeeded: v)) }
        else if v >= -0x8000_0000 { typed(0xD2, Int32(truncatingIfNeeded: v)) }
        else { typed(0xD3, v) }
    }

    @inline(__always) func write(_ v: Float) { typed(0xCA, v.bitPattern) }
    @inline(__always) func write(_ v: Double) { typed(0xCB, v.bitPattern) }

    @inline(__always)
    func write(_ s: String) {
        // utf8's contiguous storage borrows the string: no copy, no retain (withUTF8 would need a mutable copy).
        if s.utf8.withContiguousStorageIfAvailable({ writeString(UnsafeRawBufferPointer($0)) }) != nil { return }
        var copy = s
        copy.withUTF8 { writeString(UnsafeRawBufferPointer($0)) }
    }

    /// A str header and the UTF-8 bytes; short strings take one bounds check.
    @inline(__always)
    func writeString(_ utf8: UnsafeRawBufferPointer) {
        let n = utf8.count
        if n <= 31 {
            let at = claim(1 + n)
            at.pointee = 0xA0 | UInt8(truncatingIfNeeded: n)
            if n > 0 { UnsafeMutableRawPointer(at + 1).copyMemory(from: utf8.baseAddress!, byteCount: n) }
            return
        }
        if n <= 0xFF { typed(0xD9, UInt8(truncatingIfNeeded: n)) }
        else if n <= 0xFFFF { typed(0xDA, UInt16(truncatingIfNeeded: n)) }
        else { typed(0xDB, UInt32(truncatingIfNeeded: n)) }
        append(utf8)
    }

    func write(binary bytes: UnsafeRawBufferPointer) {
        let n = bytes.count
        if n <= 0xFF { typed(0xC4, UInt8(truncatingIfNeeded: n)) }
        else if n <= 0xFFFF { typed(0xC5, UInt16(truncatingIfNeeded: n)) }
        else { typed(0xC6, UInt32(truncatingIfNeeded: n)) }
        append(bytes)
    }

    func write(binary data: Data) {
        data.withUnsafeBytes { write(binary: $0) }
    }

    func arrayHeader(_ n: Int) {
        if n <= 15 { byte(0x90 | UInt8(truncatingIfNeeded: n)) }
        else if n <= 0xFFFF { typed(0xDC, UInt16(truncatingIfNeeded: n)) }
        else { typed(0xDD, UInt32(truncatingIfNeeded: n)) }
    }

    func mapHeader(_ n: Int) {
        if n <= 15 { byte(0x80 | UInt8(truncatingIfNeeded: n)) }
        else if n <= 0xFFFF { typed(0xDE, UInt16(truncatingIfNeeded: n)) }
        else { typed(0xDF, UInt32(truncatingIfNeeded: n)) }
    }

    func extHeader(type: Int8, length n: Int) {
        switch n {
        case 1, 2, 4, 8, 16: byte(0xD4 + UInt8(truncatingIfNeeded: n.trailingZeroBitCount))
        case 0...0xFF: typed(0xC7, UInt8(truncatingIfNeeded: n))
        case 0...0xFFFF: typed(0xC8, UInt16(truncatingIfNeeded: n))
        default: typed(0xC9, UInt32(truncatingIfNeeded: n))
        }
        byte(UInt8(bitPattern: type))
    }

    /// Timestamp extension (type −1) in the smallest of its three widths.
    func writeTimestamp(seconds: Int64, nanoseconds: UInt32) {
        if seconds >= 0, seconds >> 34 == 0 {
            let packed = UInt64(nanoseconds) << 34 | UInt64(seconds)
            if packed >> 32 == 0 {
                let at = claim(6)
                at[0] = 0xD6
                at[1] = 0xFF
                UnsafeMutableRawPointer(at + 2).storeBytes(of: UInt32(truncatingIfNeeded: packed).bigEndian, as: UInt32.self)
            } else {
                let at = claim(10)
                at[0] = 0xD7
                at[1] = 0xFF
                UnsafeMutableRawPointer(at + 2).storeBytes(of: packed.bigEndian, as: UInt64.self)
            }
        } else {
            let at = claim(15)
            at[0] = 0xC7
            at[1] = 12
            at[2] = 0xFF
            UnsafeMutableRawPointer(at + 3).storeBytes(of: nanoseconds.bigEndian, as: UInt32.self)
            UnsafeMutableRawPointer(at + 7).storeBytes(of: UInt64(bitPattern: seconds).bigEndian, as: UInt64.self)
        }
    }

    /// Writes `date` as a timestamp; only non-finite or astronomically distant dates fail.
    func write(date: Date) throws(WireError) {
        guard let (seconds, nanos) = Timestamp.split(date) else {
            throw WireError.invalidValue("date \(date.timeIntervalSinceReferenceDate) has no timestamp", path: "")
        }
        writeTimestamp(seconds: seconds, nanoseconds: nanos)
    }

    /// Inserts `gap` bytes at `offset`, moving everything after it (used to widen a container header).
    func openGap(_ gap: Int, at offset: Int) {
        precondition(offset >= 0 && offset <= count, "gap outside the written bytes")
        _ = claim(gap)
        let tail = count - gap - offset
        if tail > 0 { (storage + offset + gap).update(from: storage + offset, count: tail) }
    }

    /// Inserts everything `other` wrote at `offset` (splicing a nested container written on its own).
    func insert(_ other: MessagePackWriter, at offset: Int) {
        guard other.count > 0 else { return }
        openGap(other.count, at: offset)
        (storage + offset).update(from: other.storage, count: other.count)
    }

    /// Overwrites one byte already written.
    @inline(__always) func patch(_ b: UInt8, at offset: Int) {
        precondition(offset >= 0 && offset < count, "patch outside the written bytes")
        storage[offset] = b
    }

    /// Fixes the header of a container whose 1-byte placeholder sits at `offset` now that `elements` is known.
    func finishHeader(at offset: Int, count elements: Int, isMap: Bool) {
        if elements <= 15 {
            patch((isMap ? 0x80 : 0x90) | UInt8(truncatingIfNeeded: elements), at: offset)
        } else if elements <= 0xFFFF {
            openGap(2, at: offset + 1)
            patch(isMap ? 0xDE : 0xDC, at: offset)
            UnsafeMutableRawPointer(storage + offset + 1).storeBytes(of: UInt16(truncatingIfNeeded: elements).bigEndian, as: UInt16.self)
        } else {
            openGap(4, at: offset + 1)
            patch(isMap ? 0xDF : 0xDD, at: offset)
            UnsafeMutableRawPointer(storage + offset + 1).storeBytes(of: UInt32(truncatingIfNeeded: elements).bigEndian, as: UInt32.self)
        }
    }
}

/// Converts between `Date` and the timestamp extension's seconds and nanoseconds since 1970.
@usableFromInline
enum Timestamp {
    /// Seconds between 1970-01-01 and 2001-01-01, Foundation's reference date.
    static let referenceOffset: Int64 = 978_307_200

    /// Whole seconds since 1970 (floored) and nanoseconds rounded to the nearest, carried into the seconds at 10⁹;
    /// nil for non-finite dates or those beyond ±2⁶² seconds.
    ///
    /// Works from `timeIntervalSinceReferenceDate` (what `Date` stores), so no rounding is added by shifting to 1970
    /// in floating point.
    @inline(__always)
    static func split(_ date: Date) -> (Int64, UInt32)? {
        let interval = date.timeIntervalSinceReferenceDate
        guard interval.isFinite, abs(interval) < 4.6e18 else { return nil }
        let whole = interval.rounded(.down)
        var nanos = Int64(((interval - whole) * 1_000_000_000).rounded())
        var seconds = Int64(whole)
        if nanos >= 1_000_000_000 {
            seconds += 1
            nanos -= 1_000_000_000
        }
        return (seconds + referenceOffset, UInt32(truncatingIfNeeded: max(0, nanos)))
    }

    /// The `Date` for seconds since 1970 and nanoseconds (< 10⁹, checked by the caller).
    @inline(__always)
    @usableFromInline
    static func date(seconds: Int64, nanoseconds: UInt32) -> Date {
        let (shifted, overflow) = seconds.subtractingReportingOverflow(referenceOffset)
        let whole = overflow ? Double(seconds) - Double(referenceOffset) : Double(shifted)
        return Date(timeIntervalSinceReferenceDate: whole + Double(nanoseconds) / 1_000_000_000)
    }
}
