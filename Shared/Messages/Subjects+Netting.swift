extension Subjects {
    /// Netting sets per client and value date (seed 000).
    public enum Netting {
        /// Stream of `NettingSet` snapshots, last value per subject.
        public static let statusStream = "NETTING_STATUS"

        /// The requests a client sends about a netting set.
        public enum Command: String, Sendable, CaseIterable {
            /// Compute the set (net per currency, deals in and out) without changing it.
            case preview
            /// Add a deal to the set.
            case include
            /// Take a deal out of the set; it settles gross.
            case exclude
            /// Close the set: agree the net amounts and generate net instructions.
            case close
        }

        /// `netting.cmd.<client>.<command>`
        public static func command(_ command: Command, client: SubjectToken) -> String { "netting.cmd.\(client).\(command.rawValue)" }
        /// `netting.cmd.*.<command>`: what the service subscribes to; the capture is the client.
        public static func commandPattern(_ command: Command) -> String { "netting.cmd.*.\(command.rawValue)" }

        /// `netting.cmd.<client>.preview`
        public static func preview(client: SubjectToken) -> String { command(.preview, client: client) }
        /// `netting.cmd.<client>.include`
        public static func include(client: SubjectToken) -> String { command(.include, client: client) }
        /// `netting.cmd.<client>.exclude`
        public static func exclude(client: SubjectToken) -> String { command(.exclude, client: client) }
        /// `netting.cmd.<client>.close`
        public static func close(client: SubjectToken) -> String { command(.close, client: client) }

        /// `netting.status.<client>.<set>`: one netting set's snapshot (stream + live fan-out).
        public static func status(client: SubjectToken, set: SubjectToken) -> String { "netting.status.\(client).\(set)" }
        /// `netting.status.<client>.>`: every netting set of one client.
        public static func statusWildcard(client: SubjectToken) -> String { "netting.status.\(client).>" }
        /// `netting.status.>`: every netting set.
        public static let allStatuses = "netting.status.>"
        /// `netting.snapshot.<client>.<set>`: where netting stores a version (stream NETTING_STATUS), republished by the
        /// stream to `netting.status.<client>.<set>` once accepted.
        public static func storedStatus(client: String, set: String) -> String { "netting.snapshot.\(client).\(set)" }
        /// `netting.snapshot.>`: the stream's subjects.
        public static let allStoredStatuses = "netting.snapshot.>"
    }
}
