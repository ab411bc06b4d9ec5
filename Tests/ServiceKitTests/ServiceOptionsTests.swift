import ArgumentParser
import Bus
import Foundation
import ServiceKit
import Testing

@Suite("Service configuration from flags and environment")
struct ServiceOptionsTests {
    @Test("flags set the NATS servers, credentials, data directory and instance")
    func flags() throws {
        let options = try ServiceOptions.parse([
            "--nats-url", "nats://a:4222, nats://b:4223", "--nats-user", "svc", "--nats-password", "pw",
            "--data-dir", "/tmp/svyaz-x", "--instance-id", "ds-1", "--log-level", "debug", "--metrics-port", "9100",
        ])
        let connection = options.connectionOptions(name: "deal-status")
        #expect(connection.servers == ["nats://a:4222", "nats://b:4223"])
        #expect(connection.user == "svc" && connection.password == "pw")
        #expect(connection.name == "deal-status/ds-1")
        #expect(connection.sendAsap)
        #expect(options.dataDir == "/tmp/svyaz-x")
        #expect(options.metricsPort == 9100)
        #expect(try options.databasePath("deal-status") == "/tmp/svyaz-x/deal-status-ds-1.sqlite")
    }

    @Test("environment variables are the fallback when a flag is absent")
    func environment() throws {
        setenv("SVYAZ_INSTANCE_ID", "from-env", 1)
        setenv("SVYAZ_NATS_TOKEN", "tok", 1)
        defer {
            unsetenv("SVYAZ_INSTANCE_ID")
            unsetenv("SVYAZ_NATS_TOKEN")
        }
        let options = try ServiceOptions.parse([])
        #expect(options.instanceID == "from-env")
        #expect(options.connectionOptions(name: "x").token == "tok")
        let flagWins = try ServiceOptions.parse(["--instance-id", "flag"])
        #expect(flagWins.instanceID == "flag")
    }

    @Test("an unknown log level or port out of range is refused", arguments: [
        ["--log-level", "loud"], ["--metrics-port", "70000"], ["--nats-url", ""],
    ])
    func invalid(arguments: [String]) {
        #expect(throws: (any Error).self) { try ServiceOptions.parse(arguments) }
    }
}
