import ArgumentParser
import Bus
import Foundation
import Logging

/// The NATS connection flags every Svyaz executable accepts (services and the terminal); each falls back to an
/// environment variable, then a default.
public struct NatsOptions: ParsableArguments, Sendable {
    @Option(name: .customLong("nats-url"), help: "Comma-separated NATS server URLs (env SVYAZ_NATS_URL).")
    public var natsURL: String = env("SVYAZ_NATS_URL") ?? "nats://127.0.0.1:4222"

    @Option(name: .customLong("nats-user"), help: "NATS user (env SVYAZ_NATS_USER).")
    var natsUserFlag: String?

    @Option(name: .customLong("nats-password"), help: "NATS password (env SVYAZ_NATS_PASSWORD).")
    var natsPasswordFlag: String?

    @Option(name: .customLong("nats-token"), help: "NATS token (env SVYAZ_NATS_TOKEN).")
    var natsTokenFlag: String?

    @Option(name: .customLong("nats-creds"), help: "NATS .creds file (env SVYAZ_NATS_CREDS).")
    var natsCredsFlag: String?

    @Option(name: .customLong("nats-ca"), help: "CA bundle for TLS (env SVYAZ_NATS_CA).")
    var natsCAFlag: String?

    @Option(name: .customLong("nats-cert"), help: "Client certificate for mutual TLS (env SVYAZ_NATS_CERT).")
    var natsCertFlag: String?

    @Option(name: .customLong("nats-key"), help: "Client key for mutual TLS (env SVYAZ_NATS_KEY).")
    var natsKeyFlag: String?

    /// `--nats-user` or $SVYAZ_NATS_USER.
    public var natsUser: String? { natsUserFlag ?? env("SVYAZ_NATS_USER") }

    /// `--nats-password` or $SVYAZ_NATS_PASSWORD.
    public var natsPassword: String? { natsPasswordFlag ?? env("SVYAZ_NATS_PASSWORD") }

    /// `--nats-token` or $SVYAZ_NATS_TOKEN.
    public var natsToken: String? { natsTokenFlag ?? env("SVYAZ_NATS_TOKEN") }

    /// `--nats-creds` or $SVYAZ_NATS_CREDS.
    public var natsCreds: String? { natsCredsFlag ?? env("SVYAZ_NATS_CREDS") }

    /// `--nats-ca` or $SVYAZ_NATS_CA.
    public var natsCA: String? { natsCAFlag ?? env("SVYAZ_NATS_CA") }

    /// `--nats-cert` or $SVYAZ_NATS_CERT.
    public var natsCert: String? { natsCertFlag ?? env("SVYAZ_NATS_CERT") }

    /// `--nats-key` or $SVYAZ_NATS_KEY.
    public var natsKey: String? { natsKeyFlag ?? env("SVYAZ_NATS_KEY") }

    public init() {}

    public func validate() throws {
        guard !natsURL.isEmpty else { throw ValidationError("--nats-url is empty") }
    }

    /// Connection options for a client named `name`; with `sendAsap` replies are flushed at once (RPC-heavy connections).
    public func connectionOptions(name: String, sendAsap: Bool = true) -> ConnectionOptions {
        var options = ConnectionOptions(urls: natsURL, name: name)
        options.user = natsUser
        options.password = natsPassword
        options.token = natsToken
        options.credentialsFile = natsCreds
        options.tlsCAFile = natsCA
        options.tlsCertificateFile = natsCert
        options.tlsKeyFile = natsKey
        options.sendAsap = sendAsap
        options.retryOnFailedConnect = true
        return options
    }
}

/// Flags every Svyaz service accepts: the connection's, and the instance's store, logging and metrics.
public struct ServiceOptions: ParsableArguments, Sendable {
    @OptionGroup public var nats: NatsOptions

    @Option(name: .customLong("data-dir"), help: "Directory for this instance's SQLite files (env SVYAZ_DATA_DIR).")
    public var dataDir: String = env("SVYAZ_DATA_DIR") ?? "./data"

    @Option(name: .customLong("instance-id"), help: "Instance name, unique per replica (env SVYAZ_INSTANCE_ID).")
    public var instanceID: String = env("SVYAZ_INSTANCE_ID") ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())"

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical (env SVYAZ_LOG_LEVEL).")
    public var logLevel: String = env("SVYAZ_LOG_LEVEL") ?? "info"

    @Option(name: .customLong("metrics-port"), help: "Port of the Prometheus /metrics endpoint; 0 = off (env SVYAZ_METRICS_PORT).")
    public var metricsPort: Int = env("SVYAZ_METRICS_PORT").flatMap(Int.init) ?? 0

    @Option(name: .customLong("metrics-host"), help: "Address the /metrics endpoint binds to (env SVYAZ_METRICS_HOST).")
    public var metricsHost: String = env("SVYAZ_METRICS_HOST") ?? "127.0.0.1"

    public init() {}

    public func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown log level \(logLevel)") }
        guard (0...65535).contains(metricsPort) else { throw ValidationError("--metrics-port out of range") }
    }

    /// Connection options for this instance of service `name` ("deal-status/<instance>").
    public func connectionOptions(name: String, sendAsap: Bool = true) -> ConnectionOptions {
        nats.connectionOptions(name: "\(name)/\(instanceID)", sendAsap: sendAsap)
    }

    /// The SQLite file of this instance for `name`, creating the data directory.
    public func databasePath(_ name: String) throws -> String {
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        return URL(fileURLWithPath: dataDir).appendingPathComponent("\(name)-\(instanceID).sqlite").path
    }
}

func env(_ name: String) -> String? {
    ProcessInfo.processInfo.environment[name].flatMap { $0.isEmpty ? nil : $0 }
}

/// How long a pull gathers events that trickle in into one batch (see `PullStream.gather`): one wake-up for several
/// events instead of one each. `SVYAZ_GATHER_US` (microseconds; 0 = off), 500 by default.
public enum Gather {
    public static let fromEnvironment: Duration? = {
        let micros = ProcessInfo.processInfo.environment["SVYAZ_GATHER_US"].flatMap(Int.init) ?? 500
        return micros > 0 ? .microseconds(micros) : nil
    }()
}
