import Foundation

/// A type on a hot path that writes its own MessagePack, byte for byte what its `Encodable` conformance gives.
///
/// `MessagePackEncoder` calls `writeMessagePack(to:)` instead of `encode(to:)` wherever the value appears (at the root
/// or nested), which spares the Codable containers. A conformance must keep the contract's form: a map keyed by the
/// field names in declaration order, nil optionals left out. Tests compare both forms (`MessagePackEncoder.codable`).
public protocol MessagePackWritable: Encodable {
    func writeMessagePack(to output: MessagePackOutput) throws(WireError)
}

/// Where a `MessagePackWritable` writes: the encoder's buffer, each value in its smallest form.
public struct MessagePackOutput {
    let writer: MessagePackWriter

    init(_ writer: MessagePackWriter) { self.writer = writer }

    @inline(__always) public func map(count: Int) { writer.mapHeader(count) }
    @inline(__always) public func array(count: Int) { writer.arrayHeader(count) }
    @inline(__always) public func write(_ value: String) { writer.write(value) }
    @inline(__always) public func write(_ value: Int64) { writer.write(value) }
    @inline(__always) public func write(_ value: Int) { writer.write(Int64(value)) }
    @inline(__always) public func write(_ value: UInt64) { writer.write(value) }
    @inline(__always) public func write(_ value: Bool) { writer.write(value) }
    @inline(__always) public func write(_ value: Date) throws(WireError) { try writer.write(date: value) }
    @inline(__always) public func write<V: MessagePackWritable>(_ value: V) throws(WireError) { try value.writeMessagePack(to: self) }

    /// A string-valued enum as its raw value.
    @inline(__always) public func write<E: RawRepresentable>(_ value: E) where E.RawValue == String { writer.write(value.rawValue) }

    /// An array of writable values.
    public func write<V: MessagePackWritable>(_ values: [V]) throws(WireError) {
        writer.arrayHeader(values.count)
        for value in values { try value.writeMessagePack(to: self) }
    }

    public func write(_ values: [String]) {
        writer.arrayHeader(values.count)
        for value in values { writer.write(value) }
    }
}

extension MessagePackEncoder {
    /// The bytes `value.encode(to:)` gives, bypassing `MessagePackWritable`: what a hand-written form must equal.
    public func codable<T: Encodable>(_ value: T) throws(WireError) -> [UInt8] {
        let state = EncodingState.checkOut(userInfo: userInfo, maxDepth: maxDepth)
        defer { state.checkIn() }
        state.bypassWritable = true
        defer { state.bypassWritable = false }
        try state.encodeRoot(value)
        return state.writer.bytes
    }
}
