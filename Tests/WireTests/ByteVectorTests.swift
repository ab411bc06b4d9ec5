import Foundation
import Testing
import Wire

/// One value and the exact bytes the MessagePack spec gives it.
struct Vector: Sendable, CustomTestStringConvertible {
    let int: Int64
    let hex: String
    var testDescription: String { "\(int) → \(hex)" }
}

@Suite("Encoded bytes match the MessagePack spec exactly")
struct ByteVectorTests {
    let encoder = MessagePackEncoder()
    let decoder = MessagePackDecoder()

    @Test("each integer takes its smallest form, on both sides of every width boundary", arguments: [
        Vector(int: 0, hex: "00"), Vector(int: 127, hex: "7f"), Vector(int: 128, hex: "cc80"), Vector(int: 255, hex: "ccff"),
        Vector(int: 256, hex: "cd0100"), Vector(int: 65_535, hex: "cdffff"), Vector(int: 65_536, hex: "ce00010000"),
        Vector(int: 4_294_967_295, hex: "ceffffffff"), Vector(int: 4_294_967_296, hex: "cf0000000100000000"),
        Vector(int: .max, hex: "cf7fffffffffffffff"), Vector(int: -1, hex: "ff"), Vector(int: -32, hex: "e0"),
        Vector(int: -33, hex: "d0df"), Vector(int: -128, hex: "d080"), Vector(int: -129, hex: "d1ff7f"),
        Vector(int: -32_768, hex: "d18000"), Vector(int: -32_769, hex: "d2ffff7fff"), Vector(int: -2_147_483_648, hex: "d280000000"),
        Vector(int: -2_147_483_649, hex: "d3ffffffff7fffffff"), Vector(int: .min, hex: "d38000000000000000"),
    ])
    func integers(vector: Vector) throws {
        #expect(hex(try encoder.encode(vector.int)) == vector.hex)
        #expect(hex(try encoder.encode(Int(vector.int))) == vector.hex)
        #expect(try decoder.decode(Int64.self, from: bytes(vector.hex)) == vector.int)
        if let small = Int32(exactly: vector.int) { #expect(hex(try encoder.encode(small)) == vector.hex) }
        if vector.int >= 0 { #expect(hex(try encoder.encode(UInt64(vector.int))) == vector.hex) }
    }

    @Test("UInt64.max, floats, nil and booleans")
    func scalars() throws {
        #expect(hex(try encoder.encode(UInt64.max)) == "cfffffffffffffffff")
        #expect(hex(try encoder.encode(Float(1.5))) == "ca3fc00000")
        #expect(hex(try encoder.encode(3.5)) == "cb400c000000000000")
        #expect(hex(try encoder.encode(-0.1)) == "cbbfb999999999999a")
        #expect(hex(try encoder.encode(Double.infinity)) == "cb7ff0000000000000")
        #expect(hex(try encoder.encode([true, false, nil] as [Bool?])) == "93c3c2c0")
        #expect(hex(try encoder.encode(Int?.none)) == "c0")
    }

    @Test("strings: fixstr, str8, str16 and str32 by UTF-8 length")
    func strings() throws {
        #expect(hex(try encoder.encode("")) == "a0")
        #expect(hex(try encoder.encode("a")) == "a161")
        #expect(hex(try encoder.encode("я")) == "a2d18f")
        #expect(hex(try encoder.encode("👍")) == "a4f09f918d")
        for (length, prefix) in [(31, "bf"), (32, "d920"), (255, "d9ff"), (256, "da0100"), (65_535, "daffff"), (65_536, "db00010000")] {
            let packed = try encoder.encode(String(repeating: "x", count: length))
            #expect(hex(packed.prefix(prefix.count / 2)) == prefix)
            #expect(packed.count == prefix.count / 2 + length)
        }
    }

    @Test("Data: bin8, bin16 and bin32 by length")
    func binary() throws {
        #expect(hex(try encoder.encode(Data())) == "c400")
        #expect(hex(try encoder.encode(Data([1, 2, 3]))) == "c403010203")
        for (length, prefix) in [(255, "c4ff"), (256, "c50100"), (65_535, "c5ffff"), (65_536, "c600010000")] {
            let packed = try encoder.encode(Data(count: length))
            #expect(hex(packed.prefix(prefix.count / 2)) == prefix)
            #expect(packed.count == prefix.count / 2 + length)
        }
    }

    @Test("arrays and maps: fix, 16- and 32-bit headers by element count")
    func containers() throws {
        #expect(hex(try encoder.encode([Int]())) == "90")
        #expect(hex(try encoder.encode(["a": 1])) == "81a16101")
        #expect(hex(try encoder.encode([String: Int]())) == "80")
        #expect(hex(try encoder.encode(Array(repeating: 1, count: 15)).prefix(1)) == "9f")
        #expect(hex(try encoder.encode(Array(repeating: 1, count: 16)).prefix(3)) == "dc0010")
        #expect(hex(try encoder.encode(Array(repeating: 1, count: 65_536)).prefix(5)) == "dd00010000")
        let sixteen = Dictionary(uniqueKeysWithValues: (0..<16).map { (String(UnicodeScalar(UInt8(97 + $0))), $0) })
        #expect(hex(try encoder.encode(sixteen).prefix(3)) == "de0010")
        // Containers written through Codable get the same headers (placeholder widened in place).
        let legs = Array(repeating: Money(minor: 1, currency: "X"), count: 16)
        let packed = try encoder.encode(legs)
        #expect(hex(packed.prefix(4)) == "dc001082")
        #expect(try decoder.decode([Money].self, from: packed) == legs)
        let intKeyed = Dictionary(uniqueKeysWithValues: (0..<70_000).map { ($0, $0) })
        #expect(hex(try encoder.encode(intKeyed).prefix(5)) == "df00011170")
    }

    @Test("a struct is a map of its field names in declaration order")
    func structs() throws {
        #expect(hex(try encoder.encode(Money(minor: 1, currency: "RUB"))) == "82a56d696e6f7201a863757272656e6379a3525542")
        struct Empty: Codable {}
        #expect(hex(try encoder.encode(Empty())) == "80")
        #expect(hex(try encoder.encode(DealEvent.cancelled)) == "81a963616e63656c6c656480")
    }

    @Test("Date is timestamp extension −1: 32-bit, 64-bit and 96-bit forms")
    func timestamps() throws {
        // timestamp32: whole seconds that fit 32 bits.
        #expect(hex(try encoder.encode(Date(timeIntervalSince1970: 1))) == "d6ff00000001")
        #expect(hex(try encoder.encode(Date(timeIntervalSince1970: 4_294_967_295))) == "d6ffffffffff")
        // timestamp64: nanoseconds << 34 | seconds.
        #expect(hex(try encoder.encode(Date(timeIntervalSince1970: 4_294_967_296))) == "d7ff0000000100000000")
        #expect(hex(try encoder.encode(Date(timeIntervalSince1970: 1.5))) == "d7ff7735940000000001")
        #expect(hex(try encoder.encode(Date(timeIntervalSince1970: 17_179_869_183))) == "d7ff00000003ffffffff")
        // timestamp96: nanoseconds (32 bits) then signed seconds (64 bits), for negative or ≥ 2³⁴ seconds.
        #expect(hex(try encoder.encode(Date(timeIntervalSince1970: 17_179_869_184))) == "c70cff000000000000000400000000")
        #expect(hex(try encoder.encode(Date(timeIntervalSince1970: -1))) == "c70cff00000000ffffffffffffffff")
        #expect(hex(try encoder.encode(Date(timeIntervalSince1970: -0.5))) == "c70cff1dcd6500ffffffffffffffff")
        #expect(hex(try encoder.encode(Date(timeIntervalSince1970: -315_619_200))) == "c70cff00000000ffffffffed300880")
    }

    @Test("the decoder reads every timestamp width, including ones another client wrote")
    func timestampDecoding() throws {
        #expect(try decoder.decode(Date.self, from: bytes("d6ff00000001")) == Date(timeIntervalSince1970: 1))
        #expect(try decoder.decode(Date.self, from: bytes("d7ff7735940000000001")) == Date(timeIntervalSince1970: 1.5))
        #expect(try decoder.decode(Date.self, from: bytes("c70cff1dcd6500ffffffffffffffff")) == Date(timeIntervalSince1970: -0.5))
        // A 64-bit timestamp with zero nanoseconds is legal even when 32 bits would do.
        #expect(try decoder.decode(Date.self, from: bytes("d7ff0000000000000002")) == Date(timeIntervalSince1970: 2))
        #expect(try MessagePackValue.parse(bytes("c70cff000000010000000000000005")) == .timestamp(seconds: 5, nanoseconds: 1))
    }

    @Test("known byte strings decode to the values they spell")
    func decoding() throws {
        #expect(try decoder.decode([String: Int].self, from: bytes("81a16101")) == ["a": 1])
        #expect(try decoder.decode(Money.self, from: bytes("82a863757272656e6379a3525542a56d696e6f72d0ff")) == Money(minor: -1, currency: "RUB"))
        #expect(try decoder.decode(String.self, from: bytes("d903616263")) == "abc")
        #expect(try decoder.decode(String.self, from: bytes("da0003616263")) == "abc")
        #expect(try decoder.decode(String.self, from: bytes("db00000003616263")) == "abc")
        #expect(try decoder.decode([Int].self, from: bytes("dc0002 01 02")) == [1, 2])
        #expect(try decoder.decode([Int].self, from: bytes("dd00000002 01 02")) == [1, 2])
        #expect(try decoder.decode([String: Int].self, from: bytes("de0001 a161 01")) == ["a": 1])
        #expect(try decoder.decode([String: Int].self, from: bytes("df00000001 a161 01")) == ["a": 1])
        #expect(try decoder.decode(Data.self, from: bytes("c5000201ff")) == Data([1, 255]))
        #expect(try decoder.decode(Data.self, from: bytes("c60000000101")) == Data([1]))
        #expect(try decoder.decode(Float.self, from: bytes("ca3fc00000")) == 1.5)
        #expect(try MessagePackValue.parse(bytes("d40501")) == .ext(type: 5, data: [1]))
        let ext16 = bytes("c801000a" + String(repeating: "00", count: 256))
        #expect(try MessagePackValue.parse(ext16) == .ext(type: 10, data: [UInt8](repeating: 0, count: 256)))
    }
}
