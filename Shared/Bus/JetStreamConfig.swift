/// Stream settings (the subset Svyaz uses), as the JetStream JSON API names them.
public struct StreamConfig: Codable, Sendable, Equatable {
    public enum Retention: String, Codable, Sendable { case limits, interest, workqueue }
    public enum Storage: String, Codable, Sendable { case file, memory }
    public enum Discard: String, Codable, Sendable { case old, new }

    public var name: String
    public var subjects: [String]
    public var retention: Retention = .limits
    public var storage: Storage = .file
    public var discard: Discard = .old
    public var maxMsgs: Int64 = -1
    public var maxBytes: Int64 = -1
    /// Nanoseconds; 0 keeps messages forever.
    public var maxAge: Int64 = 0
    /// Keep only this many messages per subject (1 = last value per subject); -1 = unlimited.
    public var maxMsgsPerSubject: Int64 = -1
    public var maxMsgSize: Int32 = -1
    /// Window (ns) in which a repeated `Nats-Msg-Id` is dropped as duplicate.
    public var duplicateWindow: Int64 = 120_000_000_000
    public var numReplicas: Int = 1
    public var allowDirect: Bool = false
    /// Re-sends every message the stream stored to another subject: subscribers there see only what was accepted.
    public var republish: RePublish?

    /// `src` (within the stream's subjects) mapped to `dest`, e.g. `deal.snapshot.>` → `deal.status.>`.
    public struct RePublish: Codable, Sendable, Equatable {
        public var src: String
        public var dest: String
        public var headersOnly: Bool?

        public init(src: String, dest: String, headersOnly: Bool? = nil) {
            self.src = src
            self.dest = dest
            self.headersOnly = headersOnly
        }
    }

    public init(name: String, subjects: [String]) {
        self.name = name
        self.subjects = subjects
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        subjects = try c.decodeIfPresent([String].self, forKey: .subjects) ?? []
        retention = try c.decodeIfPresent(Retention.self, forKey: .retention) ?? .limits
        storage = try c.decodeIfPresent(Storage.self, forKey: .storage) ?? .file
        discard = try c.decodeIfPresent(Discard.self, forKey: .discard) ?? .old
        maxMsgs = try c.decodeIfPresent(Int64.self, forKey: .maxMsgs) ?? -1
        maxBytes = try c.decodeIfPresent(Int64.self, forKey: .maxBytes) ?? -1
        maxAge = try c.decodeIfPresent(Int64.self, forKey: .maxAge) ?? 0
        maxMsgsPerSubject = try c.decodeIfPresent(Int64.self, forKey: .maxMsgsPerSubject) ?? -1
        maxMsgSize = try c.decodeIfPresent(Int32.self, forKey: .maxMsgSize) ?? -1
        duplicateWindow = try c.decodeIfPresent(Int64.self, forKey: .duplicateWindow) ?? 120_000_000_000
        numReplicas = try c.decodeIfPresent(Int.self, forKey: .numReplicas) ?? 1
        allowDirect = try c.decodeIfPresent(Bool.self, forKey: .allowDirect) ?? false
        republish = try c.decodeIfPresent(RePublish.self, forKey: .republish)
    }
}

/// State of a stream as reported by the server.
public struct StreamState: Codable, Sendable, Equatable {
    public var messages: UInt64
    public var bytes: UInt64
    public var firstSeq: UInt64
    public var lastSeq: UInt64
    public var consumerCount: Int
}

public struct StreamInfo: Codable, Sendable {
    public var config: StreamConfig
    public var state: StreamState
}

/// Consumer settings (the subset Svyaz uses).
public struct ConsumerConfig: Codable, Sendable, Equatable {
    public enum DeliverPolicy: String, Codable, Sendable {
        case all, last, new
        case byStartSequence = "by_start_sequence"
        case lastPerSubject = "last_per_subject"
    }
    public enum AckPolicy: String, Codable, Sendable { case none, all, explicit }

    public var durableName: String?
    public var description: String?
    public var deliverPolicy: DeliverPolicy = .all
    public var optStartSeq: UInt64?
    public var ackPolicy: AckPolicy = .explicit
    /// Nanoseconds before an unacknowledged message is redelivered.
    public var ackWait: Int64? = 30_000_000_000
    public var maxDeliver: Int? = -1
    public var filterSubject: String?
    public var replayPolicy: String = "instant"
    public var maxAckPending: Int? = 20_000
    /// Set for push consumers: where the server sends messages.
    public var deliverSubject: String?
    public var flowControl: Bool?
    public var idleHeartbeat: Int64?
    /// Nanoseconds of inactivity after which the server removes an ephemeral consumer.
    public var inactiveThreshold: Int64?
    public var memStorage: Bool?

    public init(durableName: String? = nil, filterSubject: String? = nil) {
        self.durableName = durableName
        self.filterSubject = filterSubject
    }
}

public struct ConsumerInfo: Decodable, Sendable {
    public var name: String
    public var streamName: String
    public var numPending: UInt64
    public var numAckPending: Int
    public var numRedelivered: Int
    public var delivered: SequenceInfo
    /// Every message up to `ackFloor.streamSeq` is acknowledged.
    public var ackFloor: SequenceInfo

    public struct SequenceInfo: Decodable, Sendable {
        public var consumerSeq: UInt64
        public var streamSeq: UInt64
    }
}

/// What the server answered to a JetStream publish.
public struct PubAck: Sendable, Equatable {
    public var stream: String
    public var sequence: UInt64
    /// The message id was seen within the duplicate window; nothing new was stored.
    public var duplicate: Bool

    public init(stream: String, sequence: UInt64, duplicate: Bool) {
        self.stream = stream
        self.sequence = sequence
        self.duplicate = duplicate
    }
}

struct APIError: Decodable {
    var code: Int
    var errCode: Int?
    var description: String?
}

struct APIErrorEnvelope: Decodable {
    var error: APIError?
}
