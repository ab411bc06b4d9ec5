import Foundation
import Logging
import TestSupport

/// `svyaz-bench`: release-mode benchmarks, each beside a baseline measured in the same run.
@main
struct BenchMain {
    static func main() async throws {
        let arguments = CommandLine.arguments
        // The baseline processes of the deal cases (DealBench.launchRelay): --relay raw|bus <url>.
        if let relay = arguments.firstIndex(of: "--relay"), arguments.indices.contains(relay + 2) {
            unblockTermination()
            if arguments[relay + 1] == "bus" { try await BusRelay.run(url: arguments[relay + 2]) }
            RawRelay.run(url: arguments[relay + 2])
        }
        let jsonPath = arguments.firstIndex(of: "--json").flatMap { arguments.indices.contains($0 + 1) ? arguments[$0 + 1] : nil }
        let scale = arguments.contains("--quick") ? 1 : 5
        var logger = Logger(label: "bench")
        logger.logLevel = .warning

        // --only wire|nats|deals|catchup|netting runs one group (default: all).
        let only = arguments.firstIndex(of: "--only").flatMap { arguments.indices.contains($0 + 1) ? arguments[$0 + 1] : nil }
        func selected(_ group: String) -> Bool { only == nil || only == group }

        var results: [CaseResult] = []
        if selected("wire") {
            print("wire…")
            results += try runWireBench(iterations: 40_000 * scale)
        }
        // The servers started here (and their baselines) run with the deployment's GC settings (compose/, demo.sh),
        // unless the environment sets its own.
        setenv("GOGC", "400", 0)
        setenv("GOMEMLIMIT", "1GiB", 0)
        print("nats-server GC: GOGC=\(String(cString: getenv("GOGC"))) GOMEMLIMIT=\(String(cString: getenv("GOMEMLIMIT")))")
        let server = try NatsServer()
        defer { server.stop(); server.removeFiles() }
        if selected("nats") {
            let nats = NatsBench(url: server.url, logger: logger)
            print("request/reply…")
            results += try await nats.requestReply(count: 2_000 * scale)
            print("subscribe…")
            results.append(try await nats.subscribeThroughput(count: 100_000 * scale))
            print("jetstream publish…")
            results.append(try await nats.jetStreamPublish(count: 20_000 * scale))
            results.append(try await nats.jetStreamPublishWithHeaders(count: 20_000 * scale))
        }
        let binaries = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let deals = DealBench(server: server, logger: logger, binDirectory: binaries)
        if selected("deals") {
            print("deal status (release binary)…")
            // SVYAZ_BENCH_ROUNDS: rounds per case, whose median is reported (default 3; 1 with --quick).
            let rounds = ProcessInfo.processInfo.environment["SVYAZ_BENCH_ROUNDS"].flatMap(Int.init) ?? (scale == 1 ? 1 : 3)
            results += try await deals.run(scale: scale == 1 ? 1 : 2, rounds: max(1, rounds))
        }
        if selected("deals") || only == "catchup" {
            print("deal status catch-up (release binary)…")
            results.append(try await deals.catchUp(count: 20_000 * (scale == 1 ? 1 : 2)))
        }
        if selected("netting") {
            print("netting (release binaries)…")
            results.append(try await deals.nettingPreview(iterations: 1_000 * scale))
        }

        print("")
        printTable(results)
        if let jsonPath {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(results).write(to: URL(fileURLWithPath: jsonPath))
            print("\nwrote \(jsonPath)")
        }
    }
}
