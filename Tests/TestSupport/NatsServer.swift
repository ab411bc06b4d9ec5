import Foundation
import Synchronization

/// A real `nats-server` (JetStream on) started for one test suite on a free port, stopped by pid.
public final class NatsServer: @unchecked Sendable {  // mutable process handle is only touched by start/stop from the owning test
    public private(set) var port: Int
    public let storeDirectory: URL
    public let workDirectory: URL
    private let configFile: URL?
    private var process: Process?

    /// `nats://127.0.0.1:<port>`
    public var url: String { "nats://127.0.0.1:\(port)" }
    public var pid: Int32 { process?.processIdentifier ?? 0 }

    /// Starts a server; `config` (nats-server config text) is written to a file and passed with `-c`.
    public init(config: String? = nil, jetStream: Bool = true) throws {
        workDirectory = try scratchDirectory("nats")
        storeDirectory = workDirectory.appendingPathComponent("js")
        try FileManager.default.createDirectory(at: storeDirectory, withIntermediateDirectories: true)
        if let config {
            let file = workDirectory.appendingPathComponent("server.conf")
            try config.write(to: file, atomically: true, encoding: .utf8)
            configFile = file
        } else {
            configFile = nil
        }
        port = -1
        self.jetStream = jetStream
        try launch(port: -1)
    }

    private let jetStream: Bool
    /// Whether a server of this process took `SVYAZ_NATS_PROFILE_PORT` (a port serves one).
    private static let profiled = Atomic(false)

    deinit {
        stop()
        removeFiles()
    }

    private func launch(port requested: Int) throws {
        let log = workDirectory.appendingPathComponent("server-\(UUID().uuidString.prefix(8)).log")
        var arguments = ["-a", "127.0.0.1", "-p", String(requested), "-l", log.path]
        if jetStream { arguments += ["-js", "-sd", storeDirectory.path] }
        if let configFile { arguments += ["-c", configFile.path] }
        // Profiling aid: the Go pprof endpoint (`/debug/pprof/profile`) of the first server this process starts, e.g.
        // under the benchmarks (`scripts/pprof_top.py` reads what it gives).
        if let profile = ProcessInfo.processInfo.environment["SVYAZ_NATS_PROFILE_PORT"], !Self.profiled.exchange(true, ordering: .relaxed) {
            arguments += ["--profile", profile]
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.serverPath())
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let text = try? String(contentsOf: log, encoding: .utf8) {
                if let found = Self.clientPort(in: text), text.contains("Server is ready") {
                    port = found
                    return
                }
                if text.contains("[FTL]") { break }
            }
            guard process.isRunning else { break }
            usleep(20_000)
        }
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? "(no log)"
        stop()
        throw NatsServerError.didNotStart(log: text)
    }

    /// Stops the server (SIGTERM, then SIGKILL after 5 s) and waits for the process to exit.
    public func stop() {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// Kills the server abruptly (SIGKILL), as a crash would.
    public func crash() {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Starts the server again on the same port with the same JetStream store.
    public func restart() throws {
        stop()
        try launch(port: port)
    }

    /// Removes the server's files; call after `stop()`.
    public func removeFiles() {
        try? FileManager.default.removeItem(at: workDirectory)
    }

    static func clientPort(in log: String) -> Int? {
        guard let range = log.range(of: "Listening for client connections on ") else { return nil }
        let rest = log[range.upperBound...]
        let hostPort = rest.prefix { !$0.isWhitespace }
        guard let colon = hostPort.lastIndex(of: ":") else { return nil }
        return Int(hostPort[hostPort.index(after: colon)...])
    }

    static func serverPath() -> String {
        let candidates = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/nats-server" }
            + ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? "nats-server"
    }
}

public enum NatsServerError: Error, CustomStringConvertible {
    case didNotStart(log: String)

    public var description: String {
        switch self {
        case .didNotStart(let log): "nats-server did not start:\n\(log)"
        }
    }
}

/// Waits until `condition` holds or the deadline passes; returns whether it held.
public func eventually(
    within timeout: Duration = .seconds(10),
    poll: Duration = .milliseconds(20),
    _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while clock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: poll)
    }
    return try await condition()
}

/// A TCP port on 127.0.0.1 that nothing listens on right now (the OS picks it), for a test's own server.
public func freeTCPPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EMFILE) }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw POSIXError(.EADDRINUSE) }
    return Int(UInt16(bigEndian: address.sin_port))
}
