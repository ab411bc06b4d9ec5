extension Subjects {
    /// Deal events, statuses, queries and commands (seed 000).
    public enum Deal {
        public static let eventsStream = "DEAL_EVENTS"
        public static let statusStream = "DEAL_STATUS"
        /// `deal.event.<client>.<deal>` (stream DEAL_EVENTS)
        public static func event(client: SubjectToken, deal: SubjectToken) -> String { "deal.event.\(client).\(deal)" }
        public static let allEvents = "deal.event.>"
        /// `deal.status.<client>.<deal>` (stream DEAL_STATUS, last value per subject)
        public static func status(client: SubjectToken, deal: SubjectToken) -> String { "deal.status.\(client).\(deal)" }
        /// `deal.status.<client>.>`: every deal of one client.
        public static func statusWildcard(client: SubjectToken) -> String { "deal.status.\(client).>" }
        public static let allStatuses = "deal.status.>"
        public static func queryList(client: SubjectToken) -> String { "deal.query.\(client).list" }
        public static func queryGet(client: SubjectToken) -> String { "deal.query.\(client).get" }
        public static func requisites(client: SubjectToken) -> String { "deal.cmd.\(client).requisites" }
    }
}

extension Subjects {
    /// Netting sets per client and value date (seed 000).
    public enum Netting {
        public static let statusStream = "NETTING_STATUS"
        public static func preview(client: SubjectToken) -> String { "netting.cmd.\(client).preview" }
        public static func include(client: SubjectToken) -> String { "netting.cmd.\(client).include" }
        public static func exclude(client: SubjectToken) -> String { "netting.cmd.\(client).exclude" }
        public static func close(client: SubjectToken) -> String { "netting.cmd.\(client).close" }
        /// `netting.status.<client>.<set>`
        public static func status(client: SubjectToken, set: SubjectToken) -> String { "netting.status.\(client).\(set)" }
        public static func statusWildcard(client: SubjectToken) -> String { "netting.status.\(client).>" }
    }
}

extension Subjects {
    /// Reference data (currencies, counter amounts).
    public enum RefData {
        public static let currencyGet = "ref.currency.get"
        public static let fxCounter = "ref.fx.counter"
    }
}
