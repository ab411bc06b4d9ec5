import Foundation
import Messages
import Wire

/// Cross-language vectors for the external-client test (Tests/e2e/test_wire_vectors.py).
///
/// `wire-vectors encode <dir>` writes `<name>.msgpack` (our encoder) for every vector plus `manifest.json`:
/// `[{"name": …, "expect": SPEC}]`, where SPEC is one of
///   {"type":"int","value":"<decimal>"}          {"type":"float64","hex":"<IEEE-754 big-endian>"}
///   {"type":"float32","hex":"…"}                {"type":"bool","value":true} {"type":"nil"}
///   {"type":"str","value":"…"}                  {"type":"bin","hex":"…"}
///   {"type":"timestamp","seconds":N,"nanoseconds":N}
///   {"type":"array","items":[SPEC…]}            {"type":"map","entries":[[SPEC,SPEC]…]}
/// `wire-vectors decode <dir>` reads `<name>.msgpack` written by another client for every vector, decodes it with
/// our decoder into the vector's Swift type and compares with the expected value; prints `ok <name>` or
/// `FAIL <name>: …` per vector and exits 1 on any failure.
@main
struct WireVectorsMain {
    static func main() throws {
        let arguments = CommandLine.arguments
        guard arguments.count == 3, ["encode", "decode"].contains(arguments[1]) else {
            FileHandle.standardError.write(Data("usage: wire-vectors encode|decode <dir>\n".utf8))
            exit(2)
        }
        let dir = URL(fileURLWithPath: arguments[2])
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        if arguments[1] == "encode" {
            var manifest: [[String: Any]] = []
            for vector in vectors {
                try Data(try vector.encode()).write(to: dir.appendingPathComponent("\(vector.name).msgpack"))
                manifest.append(["name": vector.name, "expect": vector.spec])
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
func hex(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
func bin(_ data: Data) -> [String: Any] { ["type": "bin", "hex": hex(data)] }
func f64(_ value: Double) -> [String: Any] { ["type": "float64", "hex": String(format: "%016llx", value.bitPattern)] }
func f32(_ value: Float) -> [String: Any] { ["type": "float32", "hex": String(format: "%08x", value.bitPattern)] }
func ts(_ seconds: Int64, _ nanos: Int) -> [String: Any] { ["type": "timestamp", "seconds": seconds, "nanoseconds": nanos] }
func map(_ entries: [(String, [String: Any])]) -> [String: Any] { ["type": "map", "entries": entries.map { [str($0.0), $0.1] }] }
func array(_ items: [[String: Any]]) -> [String: Any] { ["type": "array", "items": items] }

struct Nested: Codable, Equatable {
    var name: String
    var inner: [String: [String: Int]]
    var list: [[String: Int]]
    var note: String?
    var at: Date
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

let bin300 = Data((0..<300).map { UInt8($0 % 256) })
/// Built once, read by the single main thread only.
nonisolated(unsafe) let vectors: [Vector] = [
    vector("int_fix", 5, int(5)),
    vector("int_negfix", -32, int(-32)),
    vector("int_u8", 200, int(200)),
    vector("int_u16", 60_000, int(60_000)),
    vector("int_u32", Int64(4_000_000_000), int(4_000_000_000)),
    vector("int_u64_max", UInt64.max, int(UInt64.max)),
    vector("int_i8", -100, int(-100)),
    vector("int_i16", -30_000, int(-30_000)),
    vector("int_i32", -2_000_000_000, int(-2_000_000_000)),
    vector("int_i64_min", Int64.min, int(Int64.min)),
    vector("int_i64_max", Int64.max, int(Int64.max)),
    vector("float64", 3.5, f64(3.5)),
    vector("float64_tenth", -0.1, f64(-0.1)),
    vector("float32", Float(0.25), f32(0.25)),
    vector("bool_true", true, ["type": "bool", "value": true]),
    vector("nil", Int?.none, ["type": "nil"]),
    vector("str_ascii", "hello", str("hello")),
    vector("str_cyrillic", "Сделка подтверждена", str("Сделка подтверждена")),
    vector("str_emoji", "👍 ok", str("👍 ok")),
    vector("str16", String(repeating: "x", count: 300), str(String(repeating: "x", count: 300))),
    vector("bin8", Data([1, 2, 3]), bin(Data([1, 2, 3]))),
    vector("bin16", bin300, bin(bin300)),
    vector("timestamp32", Date(timeIntervalSince1970: 1), ts(1, 0)),
    vector("timestamp64", Date(timeIntervalSince1970: 1_795_000_000.25), ts(1_795_000_000, 250_000_000)),
    vector("timestamp96", Date(timeIntervalSince1970: -315_619_200), ts(-315_619_200, 0)),
    vector("money", Money(minor: 25_000_050, currency: "CNY"), map([("minor", int(25_000_050)), ("currency", str("CNY"))])),
    vector("rate", Rate(mantissa: 1_123_456, scale: 5), map([("mantissa", int(1_123_456)), ("scale", int(5))])),
    vector("flags_explicit_nil", Flags(yes: true, no: false, nothing: nil),
           map([("yes", ["type": "bool", "value": true]), ("no", ["type": "bool", "value": false]), ("nothing", ["type": "nil"])])),
    vector("nested", Nested(name: "n", inner: ["a": ["x": 1]], list: [["k": 2], [:]], note: nil, at: Date(timeIntervalSince1970: 2)),
           map([("name", str("n")), ("inner", map([("a", map([("x", int(1))]))])),
                ("list", array([map([("k", int(2))]), map([])])), ("at", ts(2, 0))])),
    vector("array_of_money", [Money(minor: -7_000_000, currency: "USD"), Money(minor: 151_237, currency: "JPY")],
           array([map([("minor", int(-7_000_000)), ("currency", str("USD"))]), map([("minor", int(151_237)), ("currency", str("JPY"))])])),
]
