/// Header names of the contract (NATS headers are case-sensitive here: use these spellings).
public enum Header {
    /// Always `ContentType.msgpack` on our payloads.
    public static let contentType = "Content-Type"
    /// JetStream de-duplication id, set on every published fact.
    public static let msgId = "Nats-Msg-Id"
    /// `<Type>/<version>` of the payload (`WireMessage.schema`).
    public static let schema = "Svyaz-Schema"
    /// ADR-32 error text on an error reply.
    public static let serviceError = "Nats-Service-Error"
    /// ADR-32 error code on an error reply (`ErrorBody.code`).
    public static let serviceErrorCode = "Nats-Service-Error-Code"
    /// JetStream optimistic concurrency per subject: the publish fails unless the subject's last sequence matches.
    public static let expectedLastSubjectSequence = "Nats-Expected-Last-Subject-Sequence"
    /// JetStream: the publish fails unless the subject is captured by this stream.
    public static let expectedStream = "Nats-Expected-Stream"
}

/// Content types of the contract.
public enum ContentType {
    /// MessagePack, the only payload encoding of the contract.
    public static let msgpack = "application/msgpack"
}
