import ArgumentParser
import Bus
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import Metrics
import ServiceKit
import ServiceLifecycle
import Testing
import TestSupport

@Suite("Prometheus metrics endpoint")
struct MetricsEndpointTests {
    @Test("/metrics serves counters in the Prometheus text format")
    func metrics() async throws {
        let options = try ServiceOptions.parse(["--log-level", "warning"])
        let logger = ServiceRuntime.bootstrap(options, service: "metrics-test")
        Counter(label: "svyaz_test_events_total").increment(by: 3)
        let port = try freeTCPPort()
        let server = ServiceRuntime.metricsServer(host: "127.0.0.1", port: port, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [server], logger: logger))
        let running = Task { try await group.run() }
        defer { running.cancel() }
        var body = ""
        let clock = ContinuousClock()
        // Generous: the suites run in parallel on two cores, and the replica tests keep them busy.
        let deadline = clock.now.advanced(by: .seconds(60))
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/metrics")!)
        request.timeoutInterval = 5
        while clock.now < deadline {
            if let (data, _) = try? await URLSession.shared.data(for: request) {
                body = String(decoding: data, as: UTF8.self)
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(body.contains("svyaz_test_events_total 3"))
        await group.triggerGracefulShutdown()
        try await running.value
    }
}
