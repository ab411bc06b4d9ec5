extension Subjects {
    /// Deal events, statuses, queries and commands (seed 000).
    public enum Deal {
        /// Stream of deal facts from the back office or the simulator.
        public static let eventsStream = "DEAL_EVENTS"
        /// Stream of `DealStatus` snapshots, last value per subject.
        public static let statusStream = "DEAL_STATUS"

        /// `deal.event.<client>.<deal>`: one deal's facts (stream DEAL_EVENTS).
        public static func event(client: SubjectToken, deal: SubjectToken) -> String { "deal.event.\(client).\(deal)" }
        /// `deal.event.<client>.>`: every deal fact of one client.
        public static func eventWildcard(client: SubjectToken) -> String { "deal.event.\(client).>" }
        /// `deal.event.>`: every deal fact (the stream's subjects).
        public static let allEvents = "deal.event.>"

        /// `deal.status.<client>.<deal>`: one deal's status snapshot (stream DEAL_STATUS, live fan-out).
        public static func status(client: SubjectToken, deal: SubjectToken) -> String { "deal.status.\(client).\(deal)" }
        /// `deal.status.<client>.>`: every deal of one client, what a terminal subscribes to.
        public static func statusWildcard(client: SubjectToken) -> String { "deal.status.\(client).>" }
        /// `deal.status.>`: every deal status.
        public static let allStatuses = "deal.status.>"
        /// `deal.snapshot.<client>.<deal>`: where deal-status stores a version (stream DEAL_STATUS). The stream republishes
        /// each stored version to `deal.status.<client>.<deal>`, so subscribers see only versions that were accepted.
        public static func storedStatus(client: String, deal: String) -> String { Subject.joined("deal.snapshot.", client, deal) }
        /// `deal.snapshot.>`: the stream's subjects.
        public static let allStoredStatuses = "deal.snapshot.>"

        /// `deal.query.<client>.list`: filtered, paged list of a client's deals.
        public static func queryList(client: SubjectToken) -> String { "deal.query.\(client).list" }
        /// `deal.query.<client>.get`: one deal of a client.
        public static func queryGet(client: SubjectToken) -> String { "deal.query.\(client).get" }
        /// A deal's audit trail: every event of it and what came of each.
        public static func queryHistory(client: SubjectToken) -> String { "deal.query.\(client).history" }
        /// `deal.cmd.<client>.requisites`: change a deal's settlement details.
        public static func requisites(client: SubjectToken) -> String { "deal.cmd.\(client).requisites" }

        /// What the service subscribes to for `queryList`; the capture is the client.
        public static let queryListPattern = "deal.query.*.list"
        /// What the service subscribes to for `queryGet`; the capture is the client.
        public static let queryGetPattern = "deal.query.*.get"
        public static let queryHistoryPattern = "deal.query.*.history"
        /// What the service subscribes to for `requisites`; the capture is the client.
        public static let requisitesPattern = "deal.cmd.*.requisites"
    }
}
