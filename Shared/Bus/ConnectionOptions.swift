/// How to reach and authenticate to NATS, and how to behave when the link drops.
public struct ConnectionOptions: Sendable {
    /// Server URLs, e.g. `nats://127.0.0.1:4222` or `tls://…`; every one is tried on reconnect.
    public var servers: [String]
    /// Connection name shown in `/connz` and server logs.
    public var name: String?
    public var user: String?
    public var password: String?
    public var token: String?
    /// A `.creds` file (JWT + NKey seed).
    public var credentialsFile: String?
    /// PEM file of CAs to trust; setting it (or a `tls://` URL) turns TLS on.
    public var tlsCAFile: String?
    /// Client certificate and key for mutual TLS.
    public var tlsCertificateFile: String?
    public var tlsKeyFile: String?
    /// -1 reconnects forever.
    public var maxReconnect: Int = -1
    public var reconnectWait: Duration = .milliseconds(250)
    /// Keep retrying the first connect instead of failing at once.
    public var retryOnFailedConnect: Bool = false
    public var connectTimeout: Duration = .seconds(2)
    /// Flush every publish immediately: ~3× lower request latency, ~10× slower bulk publishing (see NATS.md).
    public var sendAsap: Bool = false
    /// Inbox prefix for replies, so server permissions can confine a client to its own inbox.
    public var inboxPrefix: String = "_INBOX"
    /// Don't receive our own publishes.
    public var noEcho: Bool = false

    public init(servers: [String] = ["nats://127.0.0.1:4222"], name: String? = nil) {
        self.servers = servers
        self.name = name
    }

    /// Parses a comma-separated server list as accepted by `--nats-url`.
    public init(urls: String, name: String? = nil) {
        self.init(servers: urls.split(separator: ",").map { $0.trimmingWhitespace() }.filter { !$0.isEmpty }, name: name)
    }
}

extension Substring {
    func trimmingWhitespace() -> String {
        String(self.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
