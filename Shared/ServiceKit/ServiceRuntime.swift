import Bus
import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Process-wide set-up and the run loop shared by every Svyaz executable.
public enum ServiceRuntime {
    private static let bootstrapped = Mutex(false)
    /// The Prometheus registry `/metrics` serves.
    public static let registry = PrometheusCollectorRegistry()

    /// Bootstraps swift-log and swift-metrics once per process and returns the service's logger.
    public static func bootstrap(_ options: ServiceOptions, service name: String) -> Logger {
        let level = Logger.Level(rawValue: options.logLevel) ?? .info
        let first = bootstrapped.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        if first {
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        }
        var logger = Logger(label: name)
        logger.logLevel = level
        logger[metadataKey: "instance"] = "\(options.instanceID)"
        return logger
    }

    /// Runs `services` (plus the metrics endpoint when enabled) until SIGTERM/SIGINT, then shuts down gracefully.
    /// With `endWhenFinished`, a service returning from `run` is the end of the work (a batch job such as the
    /// simulator with a deal limit): the group shuts down gracefully instead of reporting it as a failure.
    public static func run(_ services: [any Service], options: ServiceOptions, logger: Logger, endWhenFinished: Bool = false) async throws {
        var all = services.map {
            ServiceGroupConfiguration.ServiceConfiguration(service: $0, successTerminationBehavior: endWhenFinished ? .gracefullyShutdownGroup : .cancelGroup)
        }
        if options.metricsPort > 0 {
            all.append(.init(service: metricsServer(host: options.metricsHost, port: options.metricsPort, logger: logger)))
        }
        let group = ServiceGroup(configuration: .init(services: all, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    /// A Hummingbird application serving `/metrics` (Prometheus text format) and `/health`.
    public static func metricsServer(host: String, port: Int, logger: Logger) -> some Service {
        let router = Router()
        router.get("/metrics") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        router.get("/health") { _, _ in "ok" }
        var metricsLogger = logger
        metricsLogger.logLevel = .warning
        return Application(router: router, configuration: .init(address: .hostname(host, port: port)), logger: metricsLogger)
    }
}

/// Runs a `MicroService` as a lifecycle `Service`: on graceful shutdown it stops taking requests,
/// finishes those in flight, drains the connection and closes the store.
public struct MicroServiceRunner: Service {
    public let service: MicroService
    public let store: Store?
    let onStop: @Sendable () async -> Void

    public init(_ service: MicroService, store: Store? = nil, onStop: @escaping @Sendable () async -> Void = {}) {
        self.service = service
        self.store = store
        self.onStop = onStop
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await service.run()
        } onGracefulShutdown: {
            Task { await service.stop() }
        }
        await onStop()
        await service.connection.drain()
        try store?.close()
        service.logger.info("stopped", metadata: ["service": "\(service.identity.name)"])
    }
}
