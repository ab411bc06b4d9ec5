import Foundation
import Histogram

/// One measured figure set (ours or the baseline).
struct Measurement: Codable {
    var opsPerSecond: Double
    var p50Micros: Double?
    var p99Micros: Double?
    var bytes: Int?
}

/// One benchmark case: ours beside a baseline measured in the same run.
struct CaseResult: Codable {
    var name: String
    var baseline: String
    var ours: Measurement
    var base: Measurement
    /// What the ratio compares and the target it should meet.
    var ratioName: String
    var ratio: Double
    var target: String
    var met: Bool
    /// Where the CPU went (per process, µs per operation), printed under the table.
    var cpu: String? = nil
}

/// CPU time (user + system) a process has used so far, from /proc/<pid>/stat; 0 when it cannot be read.
func cpuMicros(pid: Int32) -> Double {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = text.lastIndex(of: ")")
    else { return 0 }
    // Fields after the command name: state is field 3, utime 14, stime 15.
    let fields = text[text.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
    return (user + system) * 1_000_000 / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// CPU used by a set of processes between `start` and `finish`, per operation.
struct CPUSample {
    let processes: [(name: String, pid: Int32)]
    let before: [Double]

    init(_ processes: [(name: String, pid: Int32)]) {
        self.processes = processes
        before = processes.map { cpuMicros(pid: $0.pid) }
    }

    func perOperation(_ operations: Int) -> String {
        zip(processes, before).map { process, start in
            String(format: "%@ %.0f", process.name, (cpuMicros(pid: process.pid) - start) / Double(max(operations, 1)))
        }.joined(separator: ", ") + " µs CPU per event"
    }
}

/// Latency recorder in nanoseconds (HdrHistogram, 3 significant digits).
struct Latencies {
    var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)

    mutating func record(_ duration: Duration) {
        let (s, atto) = duration.components
        _ = histogram.record(UInt64(max(0, s * 1_000_000_000 + atto / 1_000_000_000)))
    }

    var p50: Double { Double(histogram.valueAtPercentile(50)) / 1_000 }
    var p99: Double { Double(histogram.valueAtPercentile(99)) / 1_000 }
}

func seconds(_ duration: Duration) -> Double {
    let (s, atto) = duration.components
    return Double(s) + Double(atto) / 1e18
}

func format(_ value: Double) -> String {
    if value >= 1_000_000 { return String(format: "%.2fM", value / 1_000_000) }
    if value >= 10_000 { return String(format: "%.1fk", value / 1_000) }
    return String(format: "%.1f", value)
}

func printTable(_ results: [CaseResult]) {
    let header = ["case", "ours ops/s", "p50/p99 µs", "baseline", "base ops/s", "p50/p99 µs", "ratio", "target", "met"]
    var rows: [[String]] = [header]
    for r in results {
        let ourLatency = r.ours.p50Micros.map { String(format: "%.0f/%.0f", $0, r.ours.p99Micros ?? 0) } ?? (r.ours.bytes.map { "\($0) B" } ?? "-")
        let baseLatency = r.base.p50Micros.map { String(format: "%.0f/%.0f", $0, r.base.p99Micros ?? 0) } ?? (r.base.bytes.map { "\($0) B" } ?? "-")
        rows.append([r.name, format(r.ours.opsPerSecond), ourLatency, r.baseline, format(r.base.opsPerSecond), baseLatency,
                     String(format: "%.2f× %@", r.ratio, r.ratioName), r.target, r.met ? "yes" : "NO"])
    }
    let widths = (0..<header.count).map { column in rows.map { $0[column].count }.max() ?? 0 }
    for (index, row) in rows.enumerated() {
        print(zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: " | "))
        if index == 0 { print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "-+-")) }
    }
    for r in results { if let cpu = r.cpu { print("\(r.name): \(cpu)") } }
}
