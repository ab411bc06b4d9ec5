import Foundation
import Wire

// Cross-language vectors for the external-client test (Tests/e2e/test_wire_vectors.py: Python's msgpack + nats-py).
//
// `wire-vectors encode <dir>` writes, for every vector, `<name>.msgpack` (the bytes our encoder made from a Swift
// Codable value) and one `manifest.json` describing the value each file holds:
//
//     [ { "name": "int_i64_min", "type": "int", "value": "-9223372036854775808",
//         "expect": { "type": "int", "value": "-9223372036854775808" } }, … ]
//
// Each entry is a SPEC plus its "name"; "expect" repeats the SPEC (older readers use it). A SPEC is one of
//     {"type":"nil"}                                  → None
//     {"type":"bool","value":true}                    → True / False
//     {"type":"int","value":"<decimal>"}              → int (a string, so 64-bit values survive JSON)
//     {"type":"float64","hex":"<16 hex digits>"}      → float from big-endian IEEE-754 double bits
//     {"type":"float32","hex":"<8 hex digits>"}       → float from single bits (pack it back with use_single_float)
//     {"type":"str","value":"<text>"}                 → str
//     {"type":"bin","hex":"<hex>"}                    → bytes
//     {"type":"timestamp","seconds":N,"nanoseconds":N} → msgpack.Timestamp(N, N) (ext −1)
//     {"type":"array","items":[SPEC, …]}              → list
//     {"type":"map","entries":[[SPEC, SPEC], …]}      → dict (keys are SPECs too: str or int)
// Map entries are listed in the order our encoder writes struct fields; Swift dictionaries have no fixed order,
// so compare maps as dicts, not as byte strings.
//
// `wire-vectors decode <dir>` reads `<dir>/<name>.msgpack`, written by another client for every vector name with
// the value its SPEC describes, decodes each into the vector's Swift type with our decoder and compares it with the
// Swift value; it prints `ok <name>` or `FAIL <name>: <reason>` per vector and exits 1 if any failed (2 on misuse).

@main
struct WireVectorsMain {
    static func main() throws {
        let arguments = CommandLine.arguments
        guard arguments.count == 3, ["encode", "decode"].contains(arguments[1]) else {
            FileHandle.standardError.write(Data("usage: wire-vectors encode|decode <dir>\n".utf8))
            exit(2)
        }
        let dir = URL(fileURLWithPath: arguments[2])
        if arguments[1] == "encode" {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            var manifest: [[String: Any]] = []
            for vector in vectors {
                try Data(try vector.encode()).write(to: dir.appendingPathComponent("\(vector.name).msgpack"))
                var entry = vector.spec
                entry["name"] = vector.name
                entry["expect"] = vector.spec
                manifest.append(entry)
            }
            let json = try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys])
            try json.write(to: dir.appendingPathComponent("manifest.json"))
            print("wrote \(vectors.count) vectors to \(dir.path)")
        } else {
            var failures = 0
            for vector in vectors {
                do {
                    let bytes = [UInt8](try Data(contentsOf: dir.appendingPathComponent("\(vector.name).msgpack")))
                    if let problem = try vector.check(bytes) {
                        failures += 1
                        print("FAIL \(vector.name): \(problem)")
                    } else {
                        print("ok \(vector.name)")
                    }
                } catch {
                    failures += 1
                    print("FAIL \(vector.name): \(error)")
                }
            }
            exit(failures == 0 ? 0 : 1)
        }
    }
}

/// A named Swift value, how it is encoded, and the SPEC of the value another client should see.
struct Vector {
    let name: String
    let spec: [String: Any]
    let encode: () throws -> [UInt8]
    /// nil when the bytes decode to the expected value, else what differed.
    let check: ([UInt8]) throws -> String?
}

func vector<T: Codable & Equatable>(_ name: String, _ value: T, _ spec: [String: Any]) -> Vector {
    Vector(name: name, spec: spec, encode: { try MessagePackEncoder().encode(value) }, check: { bytes in
        let decoded = try MessagePackDecoder().decode(T.self, from: bytes)
        return decoded == value ? nil : "decoded \(decoded), expected \(value)"
    })
}

func int(_ value: some BinaryInteger) -> [String: Any] { ["type": "int", "value": String(value)] }
func str(_ value: String) -> [String: Any] { ["type": "str", "value": value] }
func bool(_ value: Bool) -> [String: Any] { ["type": "bool", "value": value] }
var null: [String: Any] { ["type": "nil"] }
func hex(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
func bin(_ data: Data) -> [String: Any] { ["type": "bin", "hex": hex(data)] }
func f64(_ value: Double) -> [String: Any] { ["type": "float64", "hex": String(format: "%016llx", value.bitPattern)] }
func f32(_ value: Float) -> [String: Any] { ["type": "float32", "hex": String(format: "%08x", value.bitPattern)] }
func ts(_ seconds: Int64, _ nanos: Int) -> [String: Any] { ["type": "timestamp", "seconds": seconds, "nanoseconds": nanos] }
func map(_ entries: [(String, [String: Any])]) -> [String: Any] { ["type": "map", "entries": entries.map { [str($0.0), $0.1] }] }
func intMap(_ entries: [(Int, [String: Any])]) -> [String: Any] { ["type": "map", "entries": entries.map { [int($0.0), $0.1] }] }
func array(_ items: [[String: Any]]) -> [String: Any] { ["type": "array", "items": items] }

struct Money: Codable, Equatable {
    var minor: Int64
    var currency: String
}

struct Rate: Codable, Equatable {
    var mantissa: Int64
    var scale: Int
}

struct Nested: Codable, Equatable {
    var name: String
    var inner: [String: [String: Int]]
    var list: [[String: Int]]
    var note: String?
    var at: Date
}

/// Optional fields: nil ones are omitted from the map, set ones present.
struct Optionals: Codable, Equatable {
    var id: String
    var reason: String?
    var amount: Money?
    var settledAt: Date?
    var tags: [String]?
}

struct Flags: Codable, Equatable {
    var yes: Bool
    var no: Bool
    var nothing: Int?

    enum CodingKeys: String, CodingKey { case yes, no, nothing }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(yes, forKey: .yes)
        try c.encode(no, forKey: .no)
        try c.encodeNil(forKey: .nothing)  // an explicit nil, unlike omitted optionals
    }
}

enum LegStatus: String, Codable, Equatable { case pending = "PENDING", settled = "SETTLED" }

struct Leg: Codable, Equatable {
    var currency: String
    var amountMinor: Int64
    var status: LegStatus
    var settledAt: Date?
}

struct DealStatus: Codable, Equatable {
    var dealId: String
    var version: Int64
    var confirmation: String
    var legs: [Leg]
    var requisites: [String: String]
    var updatedAt: Date
    var reason: String?
}

let bin300 = Data((0..<300).map { UInt8($0 % 256) })
let text300 = String(repeating: "x", count: 300)
let deal = DealStatus(
    dealId: "599164", version: 7, confirmation: "Сделка подтверждена",
    legs: [
        Leg(currency: "CNY", amountMinor: 819_600_000, status: .settled, settledAt: Date(timeIntervalSince1970: 1_795_341_600.5)),
        Leg(currency: "RUB", amountMinor: -10_341_712_800, status: .pending, settledAt: nil),
    ],
    requisites: ["CNY": "BKCHCNBJ/40807156700000001234"], updatedAt: Date(timeIntervalSince1970: 1_795_341_600.25), reason: nil
)

/// Built once, read by the single main thread only.
nonisolated(unsafe) let vectors: [Vector] = [
    // Integers on both sides of every width boundary, in their smallest forms.
    vector("int_zero", 0, int(0)),
    vector("int_fix", 5, int(5)),
    vector("int_fix_max", 127, int(127)),
    vector("int_u8", 200, int(200)),
    vector("int_u8_min", 128, int(128)),
    vector("int_u8_max", 255, int(255)),
    vector("int_u16_min", 256, int(256)),
    vector("int_u16", 60_000, int(60_000)),
    vector("int_u16_max", 65_535, int(65_535)),
    vector("int_u32_min", 65_536, int(65_536)),
    vector("int_u32", Int64(4_000_000_000), int(4_000_000_000)),
    vector("int_u32_max", Int64(4_294_967_295), int(4_294_967_295)),
    vector("int_u64_min", Int64(4_294_967_296), int(4_294_967_296)),
    vector("int_i64_max", Int64.max, int(Int64.max)),
    vector("int_u64_max", UInt64.max, int(UInt64.max)),
    vector("int_negfix", -32, int(-32)),
    vector("int_minus_one", -1, int(-1)),
    vector("int_i8_min", -33, int(-33)),
    vector("int_i8", -100, int(-100)),
    vector("int_i8_max", -128, int(-128)),
    vector("int_i16_min", -129, int(-129)),
    vector("int_i16", -30_000, int(-30_000)),
    vector("int_i16_max", -32_768, int(-32_768)),
    vector("int_i32_min", -32_769, int(-32_769)),
    vector("int_i32", -2_000_000_000, int(-2_000_000_000)),
    vector("int_i32_max", -2_147_483_648, int(-2_147_483_648)),
    vector("int_i64_min_width", Int64(-2_147_483_649), int(-2_147_483_649)),
    vector("int_i64_min", Int64.min, int(Int64.min)),
    // Floats: Double is float64, Float is float32.
    vector("float64", 3.5, f64(3.5)),
    vector("float64_tenth", -0.1, f64(-0.1)),
    vector("float64_infinity", Double.infinity, f64(.infinity)),
    vector("float32", Float(0.25), f32(0.25)),
    vector("float32_negative", Float(-1.5), f32(-1.5)),
    vector("bool_true", true, bool(true)),
    vector("bool_false", false, bool(false)),
    vector("nil", Int?.none, null),
    // Strings by UTF-8 length: fixstr, str8, str16.
    vector("str_empty", "", str("")),
    vector("str_ascii", "hello", str("hello")),
    vector("str_cyrillic", "Сделка подтверждена", str("Сделка подтверждена")),
    vector("str_emoji", "👍 ok", str("👍 ok")),
    vector("str8", String(repeating: "ы", count: 20), str(String(repeating: "ы", count: 20))),
    vector("str16", text300, str(text300)),
    // Data is bin.
    vector("bin_empty", Data(), bin(Data())),
    vector("bin8", Data([1, 2, 3]), bin(Data([1, 2, 3]))),
    vector("bin16", bin300, bin(bin300)),
    // Date is the timestamp extension −1 in its smallest width.
    vector("timestamp32", Date(timeIntervalSince1970: 1), ts(1, 0)),
    vector("timestamp64", Date(timeIntervalSince1970: 1_795_341_600.5), ts(1_795_341_600, 500_000_000)),
    vector("timestamp64_quarter", Date(timeIntervalSince1970: 1_795_000_000.25), ts(1_795_000_000, 250_000_000)),
    vector("timestamp96", Date(timeIntervalSince1970: -315_619_200), ts(-315_619_200, 0)),
    vector("timestamp96_fraction", Date(timeIntervalSince1970: -0.5), ts(-1, 500_000_000)),
    // Structs are maps of their field names.
    vector("money", Money(minor: 25_000_050, currency: "CNY"), map([("minor", int(25_000_050)), ("currency", str("CNY"))])),
    vector("money_negative", Money(minor: -7_000_000, currency: "USD"), map([("minor", int(-7_000_000)), ("currency", str("USD"))])),
    vector("rate", Rate(mantissa: 1_123_456, scale: 5), map([("mantissa", int(1_123_456)), ("scale", int(5))])),
    vector("flags_explicit_nil", Flags(yes: true, no: false, nothing: nil),
           map([("yes", bool(true)), ("no", bool(false)), ("nothing", null)])),
    vector("optionals_omitted", Optionals(id: "a", reason: nil, amount: Money(minor: 1, currency: "JPY"), settledAt: nil, tags: nil),
           map([("id", str("a")), ("amount", map([("minor", int(1)), ("currency", str("JPY"))]))])),
    vector("nested", Nested(name: "n", inner: ["a": ["x": 1]], list: [["k": 2], [:]], note: nil, at: Date(timeIntervalSince1970: 2)),
           map([("name", str("n")), ("inner", map([("a", map([("x", int(1))]))])),
                ("list", array([map([("k", int(2))]), map([])])), ("at", ts(2, 0))])),
    vector("array_of_money", [Money(minor: -7_000_000, currency: "USD"), Money(minor: 151_237, currency: "JPY")],
           array([map([("minor", int(-7_000_000)), ("currency", str("USD"))]), map([("minor", int(151_237)), ("currency", str("JPY"))])])),
    vector("array_empty", [Int](), array([])),
    vector("map_empty", [String: Int](), map([])),
    vector("int_keyed_map", [7: "seven"], intMap([(7, str("seven"))])),
    vector("deal_status", deal, map([
        ("dealId", str("599164")), ("version", int(7)), ("confirmation", str("Сделка подтверждена")),
        ("legs", array([
            map([("currency", str("CNY")), ("amountMinor", int(819_600_000)), ("status", str("SETTLED")),
                 ("settledAt", ts(1_795_341_600, 500_000_000))]),
            map([("currency", str("RUB")), ("amountMinor", int(-10_341_712_800)), ("status", str("PENDING"))]),
        ])),
        ("requisites", map([("CNY", str("BKCHCNBJ/40807156700000001234"))])),
        ("updatedAt", ts(1_795_341_600, 250_000_000)),
    ])),
]
