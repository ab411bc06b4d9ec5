import ArgumentParser
import Bus
import Foundation
import Logging
import Messages
import ServiceKit
import Wire

/// `terminal`: a corporate client's trading terminal — live deal statuses, netting and requisites commands.
///
/// It connects with the client's own NATS credentials; the server's permissions let it reach only that client's
/// subjects (subscribe `deal.status.<client>.>`, `netting.status.<client>.>` and its inbox `_INBOX_<client>.>`; publish
/// `deal.query.<client>.*`, `deal.cmd.<client>.*`, `netting.cmd.<client>.*`).
@main
struct TerminalMain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "terminal",
        abstract: "Live FX deal statuses and netting for one corporate client.",
        subcommands: [Deals.self, NettingCommand.self, Requisites.self, History.self],
        defaultSubcommand: Deals.self
    )
}

/// Connection and client options shared by every subcommand.
struct ClientOptions: ParsableArguments {
    @OptionGroup var nats: NatsOptions
    @Option(help: "The client id this terminal acts for (env SVYAZ_CLIENT).")
    var client: String = ProcessInfo.processInfo.environment["SVYAZ_CLIENT"] ?? "C1"

    func validate() throws {
        guard SubjectToken(rawValue: client) != nil else { throw ValidationError("--client must be one subject token, got \"\(client)\"") }
    }

    func connect() async throws -> NatsConnection {
        var logger = Logger(label: "terminal")
        logger.logLevel = .error  // the table is the output; connection events would only clutter it
        var options = nats.connectionOptions(name: "terminal-\(client)")
        options.sendAsap = true
        options.inboxPrefix = "_INBOX_\(client)"  // replies come to an inbox only this client may read
        return try await NatsConnection.connect(options, logger: logger)
    }
}

/// Prints a failed command the way a user reads it and exits non-zero.
func fail(_ error: any Error) -> ExitCode {
    switch error {
    case let body as ErrorBody: FileHandle.standardError.write(Data("error \(body.code): \(body.message)\n".utf8))
    case BusError.permissionDenied(let subject, let detail): FileHandle.standardError.write(Data("not allowed on \(subject): \(detail)\n".utf8))
    case BusError.noResponders: FileHandle.standardError.write(Data("the service is not running (no responders)\n".utf8))
    case BusError.timeout: FileHandle.standardError.write(Data("the service did not answer in time\n".utf8))
    case BusError.connectionClosed: FileHandle.standardError.write(Data("the connection to NATS closed\n".utf8))
    default: FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    }
    return ExitCode(1)
}

let jsonEncoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    return encoder
}()

/// A deal's status as `--json` prints it, with `"leftFilters": true`: the version that took it out of the filters.
struct LeftFilters: Encodable {
    let deal: DealStatus

    enum Key: String, CodingKey { case leftFilters }

    func encode(to encoder: any Encoder) throws {
        try deal.encode(to: encoder)
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(true, forKey: .leftFilters)
    }
}

func printJSON(_ value: some Encodable) {
    if let data = try? jsonEncoder.encode(value) { print(String(decoding: data, as: UTF8.self)) }
}

// MARK: deals

struct Deals: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The live table of the client's deals (the default command).")

    @OptionGroup var client: ClientOptions
    @Flag(help: "One JSON line per deal and per update, for scripts.") var json = false
    @Flag(help: "Print the current table once and exit.") var once = false
    @Flag(help: "With --json and filters: also print the version that takes a deal out of them, marked \"leftFilters\": true.")
    var leaving = false
    @Option(help: "Only deals with this confirmation status (CONFIRMED, AWAITING, …).") var confirmation: ConfirmationStatus?
    @Option(help: "Only deals with this settlement status (SETTLED, FAILED, …).") var settlement: DealSettlementStatus?
    @Option(help: "Only this currency pair, e.g. CNYRUB.") var pair: String?
    @Option(help: "Only deals with this currency on either side, e.g. USD.") var currency: String?
    @Option(help: "Only this product (FX_SPOT, FX_FORWARD, FX_SWAP).") var product: DealProduct?
    @Option(help: "Only deals settling on this value date (YYYY-MM-DD).") var valueDate: String?
    @Option(help: "Only deals made through this channel (WEB, FIX_API, PHONE).") var channel: DealChannel?
    @Option(help: "Only deals in which the client buys (BUY) or sells (SELL) the base currency.") var side: DealSide?
    @Option(help: "Only deals traded on or after this day (YYYY-MM-DD, UTC, as the table shows trade times).") var tradedFrom: String?
    @Option(help: "Only deals traded on or before this day (YYYY-MM-DD, UTC).") var tradedTo: String?
    @Option(help: "Only deals whose number contains this text.") var deal: String?
    @Option(help: "Only deals settling to or from this account (the requisites column; spaces aside).") var account: String?
    @Option(help: "Only deals of at least this amount in its currency, e.g. \"50000.00 USD\" (the Amount column).") var amountFrom: String?
    @Option(help: "Only deals of at most this amount in its currency, e.g. \"1,000,000 CNY\".") var amountTo: String?
    @Option(help: "Only deals with a rate of at least this (a swap by either leg), e.g. 11.2.") var rateFrom: String?
    @Option(help: "Only deals with a rate of at most this (a swap by either leg).") var rateTo: String?
    @Option(help: ArgumentHelp("Messages the live subscription may queue before NATS drops some (tests).", visibility: .hidden))
    var pendingLimit: Int?

    func validate() throws {
        for (flag, day) in [("--traded-from", tradedFrom), ("--traded-to", tradedTo), ("--value-date", valueDate)] {
            guard let day else { continue }
            guard CalendarDay.isValid(day) else { throw ValidationError("\(flag) must be a day as YYYY-MM-DD, got \"\(day)\"") }
        }
        if deal?.isEmpty == true { throw ValidationError("--deal needs some text of a deal number") }
        // Codes in any case; a code out of shape would match nothing and look like "no deals".
        if let pair, CurrencyCode.pair(anyCase: pair) == nil {
            throw ValidationError("--pair must be two ISO 4217 codes such as CNYRUB, got \"\(pair)\"")
        }
        if let currency, CurrencyCode(anyCase: currency) == nil {
            throw ValidationError("--currency must be an ISO 4217 code such as USD, got \"\(currency)\"")
        }
        if let account, !account.contains(where: { $0.isLetter || $0.isNumber }) { throw ValidationError("--account needs an account number") }
        let amounts = try [("--amount-from", amountFrom), ("--amount-to", amountTo)].compactMap { flag, text in
            try text.map { try Self.amount($0, flag: flag) }
        }
        if amounts.count == 2, amounts[0].currency != amounts[1].currency {
            throw ValidationError("--amount-from and --amount-to must name one currency (amounts compare within a currency)")
        }
        for (flag, text) in [("--rate-from", rateFrom), ("--rate-to", rateTo)] {
            guard let text else { continue }
            _ = try Self.rate(text, flag: flag)
        }
    }

    /// "50000.00 USD" or "1,000,000 CNY": an amount in a known currency, with at most its minor digits.
    static func amount(_ text: String, flag: String) throws -> Money {
        let parts = text.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 2, let currency = CurrencyCode(anyCase: parts[1]), currency.isKnown,
              let money = try? Money(parsing: parts[0].replacingOccurrences(of: ",", with: ""), currency: currency).validated()
        else {
            throw ValidationError("\(flag) must be an amount and a known currency, e.g. \"50000.00 USD\", got \"\(text)\"")
        }
        return money
    }

    /// "11.2345": a positive rate with at most 18 decimals.
    static func rate(_ text: String, flag: String) throws -> Rate {
        guard let rate = try? Rate(parsing: text), rate.orderKey != nil else {
            throw ValidationError("\(flag) must be a positive rate such as 11.2345, got \"\(text)\"")
        }
        return rate
    }

    func run() async throws {
        do {
            let connection = try await client.connect()
            // Subscribe first, then load the snapshot: an update racing the load is applied if it is newer.
            let limits = pendingLimit.map { PendingLimits(messages: max(1, $0), bytes: -1, swiftBuffer: max(1, $0)) } ?? .default
            let live = try connection.subscribe(to: "deal.status.\(client.client).>", limits: limits)
            let changes = connection.connectionChanges()
            try connection.flush()
            var table = DealTable()
            for deal in try await Self.list(client: client.client, from: connection) { table.apply(deal) }
            let filter = DealFilter(self)
            var matching = Set<String>()
            if json {
                for deal in table.sorted where filter.matches(deal) {
                    printJSON(deal)
                    matching.insert(deal.terms.dealId)
                }
                fflush(nil)
            } else {
                render(table, filter: filter, screen: once ? nil : Screen.size())
            }
            if once {
                await connection.drain()
                return
            }
            try await follow(live, changes: changes, connection: connection, table: table, filter: filter, matching: matching)
        } catch {
            throw fail(error)
        }
    }

    /// Every page of the client's deals.
    static func list(client: String, from connection: NatsConnection) async throws -> [DealStatus] {
        var query = DealListQuery()
        query.limit = 500
        query.sort = .dealId
        query.descending = false
        query.offset = 0
        var deals: [DealStatus] = []
        while true {
            let page = try await connection.request(query, to: "deal.query.\(client).list", expecting: DealPage.self)
            deals += page.deals
            query.offset = (query.offset ?? 0) + page.deals.count
            if page.deals.isEmpty || query.offset! >= page.total { return deals }
        }
    }

    /// What the live table reacts to: a newer version, the redraw tick of the screen, the connection, or the time to
    /// try reading the list again.
    enum LiveEvent: Sendable {
        case update(DealStatus)
        case tick
        case connection(ConnectionChange)
        case retryList
        /// NATS dropped updates for this subscription (it fell behind); the count so far.
        case dropped(Int64)
        /// The list read after the reconnect numbered `since`.
        case listed(Result<[DealStatus], any Error>, since: Int)
    }

    /// How current the table is known to be.
    enum Link: Equatable {
        case live
        /// The connection is away: nothing arrives.
        case lost(since: Date)
        /// Back, but the list could not be read again yet (deal-status not answering): changes made since the
        /// connection was lost may be missing.
        case unverified(since: Date)
        /// NATS dropped updates because the terminal fell behind (its output not read, say): the list is being read
        /// again.
        case behind(since: Date)

        /// What the screen's first line says about it.
        var warning: String? {
            switch self {
            case .live: nil
            case .lost(let since): "CONNECTION LOST at \(since.formatted(.iso8601)), reconnecting: statuses may be stale"
            case .unverified(let since):
                "RECONNECTED, the list not read again yet (retrying): changes since \(since.formatted(.iso8601)) may be missing"
            case .behind(let since):
                "UPDATES DROPPED at \(since.formatted(.iso8601)) (the terminal fell behind), reading the list again: statuses may be stale"
            }
        }
    }

    /// The live table: updates go into it as they come. `--json` prints each newer version of a deal that matches the
    /// filters at once, and with `--leaving` the version that takes a deal out of them, marked (so a script following
    /// `--settlement FAILED` learns it was re-instructed); the screen is redrawn at most every 100 ms when something changed (or the window
    /// was resized), so the last change of a burst is shown too. When NATS drops updates because the terminal fell
    /// behind, it says so and reads the list again, as after a reconnect. While the connection is away, and after it until the list has been read again (versions published
    /// meanwhile never reach the subscription), the screen's first line says the statuses may be stale (`--json`: a
    /// line on standard error). A closed connection ends the command with an error.
    func follow(_ live: Subscription, changes: AsyncStream<ConnectionChange>, connection: NatsConnection, table start: DealTable,
                filter: DealFilter, matching shown: Set<String>) async throws {
        var table = start
        var matching = shown
        let (events, sink) = AsyncThrowingStream<LiveEvent, any Error>.makeStream()
        let feeders = [
            Task {
                do {
                    for try await message in live {
                        if let deal = try? MessagePackDecoder().decode(DealStatus.self, from: message.payload) { sink.yield(.update(deal)) }
                    }
                    sink.finish()
                } catch {
                    sink.finish(throwing: error)
                }
            },
            Task { for await change in changes { sink.yield(.connection(change)) } },
            Task {
                var dropped: Int64 = 0
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(250))
                    let now = live.droppedCount
                    guard now > dropped else { continue }
                    dropped = now
                    sink.yield(.dropped(now))
                }
            },
        ]
        let ticker = json ? nil : Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                sink.yield(.tick)
            }
        }
        // The list being read after a reconnect, and the wait before reading it again: one of each at a time.
        var listing: Task<Void, Never>?
        var retry: Task<Void, Never>?
        defer {
            for feeder in feeders { feeder.cancel() }
            ticker?.cancel()
            listing?.cancel()
            retry?.cancel()
        }
        var dirty = false
        var drawnFor = Screen.size()
        var link = Link.live
        func show(_ deals: [DealStatus]) {
            guard json else {
                dirty = dirty || !deals.isEmpty
                return
            }
            for deal in deals {
                if filter.matches(deal) {
                    printJSON(deal)
                    matching.insert(deal.terms.dealId)
                } else if matching.remove(deal.terms.dealId) != nil, leaving {
                    printJSON(LeftFilters(deal: deal))  // the version that takes it out of the filters
                }
            }
            fflush(nil)  // a script reading a pipe gets each update as it comes, not a buffer later
        }
        func tell(_ text: String) {
            if json { FileHandle.standardError.write(Data((text + "\n").utf8)) }
        }
        // Reconnects so far, and whether the connection is up: a list read before the last reconnect may miss what
        // changed during the last outage, so only one of the current connection says the table is whole again.
        var reconnects = 0
        var connected = true
        /// Reads the list in a task of its own: the table keeps taking updates and the screen keeps drawing meanwhile.
        /// One begun on an earlier connection is dropped: what it brings cannot clear the warning.
        func readList() {
            let since = reconnects, client = client.client
            listing?.cancel()
            listing = Task {
                do {
                    sink.yield(.listed(.success(try await Self.list(client: client, from: connection)), since: since))
                } catch {
                    sink.yield(.listed(.failure(error), since: since))
                }
            }
        }
        for try await event in events {
            switch event {
            case .update(let deal):
                if table.apply(deal) { show([deal]) }
            case .connection(.disconnected):
                (connected, link, dirty) = (false, .lost(since: Date()), true)
                tell("connection lost; reconnecting (the deals may change meanwhile)")
            case .connection(.reconnected):
                (connected, reconnects) = (true, reconnects + 1)
                readList()
            case .retryList:
                if connected && link != .live { readList() }
            case .dropped(let count):
                guard connected else { continue }  // the reconnect reads the list anyway
                (link, dirty) = (.behind(since: Date()), true)
                tell("updates were dropped (\(count) so far: the terminal fell behind); reading the list again")
                readList()
            case .listed(.success(let deals), let since):
                show(deals.filter { table.apply($0) })  // only what is newer than the table holds
                if connected && since == reconnects && link != .live {
                    if case .behind = link { tell("list read again; caught up") } else { tell("reconnected; caught up") }
                    (link, dirty) = (.live, true)
                }
            case .listed(.failure(let error), let since):
                // A read dropped for a newer one, or of an earlier connection: a later reconnect reads it again anyway.
                guard connected && since == reconnects && link != .live && !(error is CancellationError) else { continue }
                if case .lost(let lostAt) = link { (link, dirty) = (.unverified(since: lostAt), true) }
                tell("reconnected, but the list could not be read (\(error)); retrying")
                retry?.cancel()
                retry = Task {
                    guard (try? await Task.sleep(for: .seconds(1))) != nil else { return }  // cancelled: replaced
                    sink.yield(.retryList)
                }
            case .tick:
                let size = Screen.size()
                guard dirty || size != drawnFor else { continue }
                render(table, filter: filter, screen: size, warning: link.warning)
                (dirty, drawnFor) = (false, size)
            }
        }
        // The subscription ended: the connection closed (cnats gave up, or the server refused it).
        if !json { render(table, filter: filter, screen: Screen.size(), warning: "CONNECTION CLOSED: statuses are no longer updated") }
        throw BusError.connectionClosed
    }

    /// The table, newest trade first. On a live screen it fits the window: what does not fit is counted below it.
    func render(_ table: DealTable, filter: DealFilter, screen: Screen? = nil, warning: String? = nil) {
        let rows = table.sorted.filter(filter.matches)
        var title = "Svyaz terminal — client \(client.client) — \(rows.count) deals — \(Date().formatted(.iso8601))"
        if let warning { title = warning + " — " + title }  // first on the line, so that a narrow window does not cut it off
        let columns = DealTable.layout(width: screen?.columns)
        var lines = [title, DealTable.header(columns)]
        let room = screen.map { max(2, $0.rows - 3) } ?? Int.max  // the title, the header and the count below
        let shown = DealTable.lines(of: rows, room: room)
        lines += shown.lines.map { DealTable.row($0, columns) }
        if rows.count > shown.deals {
            lines.append("… and \(rows.count - shown.deals) older deals: narrow with --pair, --value-date, --traded-from, --settlement, --deal, …")
        }
        guard let screen else {  // not a terminal (or --once): every row, one table after another
            print(lines.joined(separator: "\n"))
            fflush(nil)
            return
        }
        // Home, clear, and exactly the window's lines: no newline after the last, which would scroll the title away.
        let fitted = lines.map { $0.count > screen.columns ? String($0.prefix(screen.columns)) : $0 }
        print("\u{1B}[H\u{1B}[2J" + fitted.joined(separator: "\n"), terminator: "")
        fflush(nil)
    }
}

/// The size of the window standard output shows in (nil when it is not a terminal: then every row is printed).
struct Screen: Equatable {
    let rows: Int
    let columns: Int

    static func size() -> Screen? {
        var window = winsize()
        guard isatty(STDOUT_FILENO) == 1, withUnsafeMutablePointer(to: &window, { ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), $0) }) == 0,
              window.ws_row > 0, window.ws_col > 0
        else { return nil }
        return Screen(rows: Int(window.ws_row), columns: Int(window.ws_col))
    }
}

/// The dashboard's filters of a `deals` command, worked out once (the live screen applies them to every deal at
/// every redraw).
struct DealFilter: Sendable {
    let confirmation: ConfirmationStatus?
    let settlement: DealSettlementStatus?
    let pair: String?
    let currency: String?
    let product: DealProduct?
    let valueDate: String?
    let channel: DealChannel?
    let side: DealSide?
    /// Traded at or after / before.
    let tradedFrom: Date?
    let tradedBefore: Date?
    let deal: String?
    /// Bounds on the amount, in one currency; deals in others do not match.
    let amountFrom: Money?
    let amountTo: Money?
    /// Bounds on either leg's rate, as `Rate.orderKey`s.
    let rateFrom: String?
    let rateTo: String?
    /// An account of the deal's settlement details, compacted.
    let account: String?

    init(_ command: Deals) {
        confirmation = command.confirmation
        settlement = command.settlement
        pair = command.pair?.uppercased()
        currency = command.currency?.uppercased()
        product = command.product
        valueDate = command.valueDate
        channel = command.channel
        side = command.side
        tradedFrom = command.tradedFrom.flatMap(CalendarDay.utcStart)
        tradedBefore = command.tradedTo.flatMap(CalendarDay.utcStart)?.addingTimeInterval(86_400)  // the whole last day
        deal = command.deal
        // Checked by `validate()` already.
        amountFrom = command.amountFrom.flatMap { try? Deals.amount($0, flag: "--amount-from") }
        amountTo = command.amountTo.flatMap { try? Deals.amount($0, flag: "--amount-to") }
        rateFrom = command.rateFrom.flatMap { try? Deals.rate($0, flag: "--rate-from").orderKey }
        rateTo = command.rateTo.flatMap { try? Deals.rate($0, flag: "--rate-to").orderKey }
        account = command.account.map(SettlementRequisites.compact)
    }

    /// Whether the amount is within the bounds, in their currency.
    private func amountMatches(_ amount: Money) -> Bool {
        if let from = amountFrom, amount.currency != from.currency || amount.minor < from.minor { return false }
        if let to = amountTo, amount.currency != to.currency || amount.minor > to.minor { return false }
        return true
    }

    /// Whether the rate of one leg is within the bounds.
    private func rateMatches(_ rate: Rate?) -> Bool {
        guard rateFrom != nil || rateTo != nil else { return true }
        guard let key = rate?.orderKey else { return false }
        return (rateFrom.map { key >= $0 } ?? true) && (rateTo.map { key <= $0 } ?? true)
    }

    func matches(_ deal: DealStatus) -> Bool {
        let terms = deal.terms
        return (confirmation.map { deal.confirmation == $0 } ?? true) && (settlement.map { deal.settlement == $0 } ?? true)
            && (pair.map { terms.pair == $0 } ?? true) && (product.map { terms.product == $0 } ?? true)
            && (currency.map { terms.baseCurrency.rawValue == $0 || terms.quoteCurrency.rawValue == $0 } ?? true)
            && (valueDate.map { terms.valueDate == $0 || (terms.product == .swap && terms.farValueDate == $0) } ?? true)
            && (channel.map { terms.channel == $0 } ?? true) && (side.map { terms.side == $0 } ?? true)
            && (tradedFrom.map { terms.tradeTime >= $0 } ?? true) && (tradedBefore.map { terms.tradeTime < $0 } ?? true)
            && (self.deal.map { terms.dealId.range(of: $0, options: .caseInsensitive) != nil } ?? true)
            && amountMatches(terms.amount)
            && (account.map { account in terms.requisites.contains { SettlementRequisites.compact($0.account) == account } } ?? true)
            && (rateMatches(terms.rate) || (terms.product == .swap && rateMatches(terms.farRate)))
    }

}

/// The client's deals by id, newest version of each.
struct DealTable {
    private(set) var deals: [String: DealStatus] = [:]

    /// Keeps `deal` if it is newer than what the table has; stale and repeated versions are ignored.
    @discardableResult
    mutating func apply(_ deal: DealStatus) -> Bool {
        if let known = deals[deal.terms.dealId], known.version >= deal.version { return false }
        deals[deal.terms.dealId] = deal
        return true
    }

    var sorted: [DealStatus] { deals.values.sorted { ($0.terms.tradeTime, $0.terms.dealId) > ($1.terms.tradeTime, $1.terms.dealId) } }

    /// One line of the table: a deal, or one leg of a swap. As on the dashboard, a swap shows its near and far legs
    /// on lines of their own, each with its side, rate, value date and settlement.
    struct Line: Sendable {
        let deal: DealStatus
        let tenor: LegTenor
        /// The payments of this tenor.
        var legs: [PaymentLeg] { deal.legs.filter { $0.tenor == tenor } }
        var side: DealSide { tenor == .far ? deal.terms.side.opposite : deal.terms.side }
        var rate: Rate { tenor == .far ? deal.terms.farRate ?? deal.terms.rate : deal.terms.rate }
        var valueDate: String { legs.first?.valueDate ?? deal.terms.valueDate }
        var amount: Money { legs.first { $0.amount.currency == deal.terms.baseCurrency }?.amount ?? deal.terms.amount }

        /// A deal's lines: one, or near and far for a swap.
        static func of(_ deal: DealStatus) -> [Line] {
            deal.legs.contains { $0.tenor == .far } ? [Line(deal: deal, tenor: .near), Line(deal: deal, tenor: .far)] : [Line(deal: deal, tenor: .near)]
        }
    }

    /// A column of the table: its heading, its width (with the space after it), how it reads a line, and how soon it
    /// gives way in a narrow window (higher goes first).
    struct Column: Sendable {
        let heading: String
        let width: Int
        let dropOrder: Int
        let value: @Sendable (Line) -> String
    }

    /// Every column, left to right. The deal, what it is and where it stands stay longest; the channel, rate, trade
    /// time and product give way first. Times are UTC, marked `Z`.
    static let columns: [Column] = [
        Column(heading: "Deal", width: 16, dropOrder: 0) { $0.deal.terms.dealId },
        Column(heading: "Trade time", width: 21, dropOrder: 4) { $0.deal.terms.tradeTime.formatted(.iso8601) },
        Column(heading: "Channel", width: 8, dropOrder: 6) { $0.deal.terms.channel.rawValue },
        Column(heading: "Product", width: 15, dropOrder: 3) { line in
            line.deal.terms.product.rawValue + (line.deal.terms.product == .swap ? " " + line.tenor.rawValue.lowercased() : "")
        },
        Column(heading: "Side", width: 5, dropOrder: 0) { $0.side.rawValue },
        Column(heading: "Pair", width: 7, dropOrder: 0) { $0.deal.terms.pair },
        Column(heading: "Amount", width: 24, dropOrder: 1) { $0.amount.formatted() },
        Column(heading: "Rate", width: 11, dropOrder: 5) { $0.rate.description },
        Column(heading: "Value date", width: 11, dropOrder: 2) { $0.valueDate },
        Column(heading: "Confirmation", width: 40, dropOrder: 0) { line in
            let deal = line.deal
            guard let detail = deal.confirmation.dashboardDetail else { return deal.confirmation.dashboardLabel }
            let fields = deal.confirmation == .mismatched && !(deal.mismatchedFields ?? []).isEmpty
                ? ": " + (deal.mismatchedFields ?? []).map(ConfirmationStatus.dashboardFieldName).joined(separator: ", ") : ""
            return "\(deal.confirmation.dashboardLabel) (\(detail)\(fields))"
        },
    ]

    /// The last column, as wide as what is left: where the line's payments stand, when the money arrived, and why a
    /// payment failed.
    static func settlement(_ line: Line) -> String {
        let legs = line.legs
        let status = DealSettlementStatus(legs: legs)
        switch status {
        case .settled: return status.dashboardLabel + (legs.compactMap(\.statusAt).max().map { " " + $0.formatted(.iso8601) } ?? "")
        case .failed: return status.dashboardLabel + (legs.first { $0.status == .failed }?.reason.map { " (\($0))" } ?? "")
        default: return status.dashboardLabel
        }
    }

    /// The columns that leave the settlement status at least 26 characters of `width` (all without a width), dropping
    /// the least needed first.
    static func layout(width: Int?) -> [Column] {
        guard let width else { return columns }
        var shown = columns
        while shown.reduce(26, { $0 + $1.width }) > width, let drop = shown.indices.filter({ shown[$0].dropOrder > 0 })
            .max(by: { shown[$0].dropOrder < shown[$1].dropOrder }) {
            shown.remove(at: drop)
        }
        return shown
    }

    static func header(_ columns: [Column]) -> String { columns.map { pad($0.heading, $0.width) }.joined() + "Settlement" }

    static func row(_ line: Line, _ columns: [Column]) -> String {
        columns.map { pad($0.value(line), $0.width) }.joined() + settlement(line)
    }

    /// The lines of `deals` in order, whole deals only, within `room` lines; and how many deals that is.
    static func lines(of deals: [DealStatus], room: Int) -> (lines: [Line], deals: Int) {
        var lines: [Line] = []
        var count = 0
        for deal in deals {
            let more = Line.of(deal)
            guard lines.count + more.count <= room else { break }
            lines += more
            count += 1
        }
        return (lines, count)
    }

    /// `text` in a column of `width` characters with one space after it; cut with "…" when it does not fit.
    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? String(text.prefix(max(0, width - 2))) + "… " : text + String(repeating: " ", count: width - text.count)
    }
}

extension ConfirmationStatus: ExpressibleByArgument {}
extension DealSettlementStatus: ExpressibleByArgument {}
extension DealProduct: ExpressibleByArgument {}
extension DealChannel: ExpressibleByArgument {}
extension DealSide: ExpressibleByArgument {}

// MARK: netting

struct NettingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "netting", abstract: "Preview, include, exclude or close the netting set of a value date.",
        subcommands: [Preview.self, Include.self, Exclude.self, Close.self]
    )

    struct SetOptions: ParsableArguments {
        @OptionGroup var client: ClientOptions
        @Option(help: "Value date of the set (YYYY-MM-DD).") var valueDate: String
        @Flag(help: "Print the set as JSON.") var json = false
    }

    static func show(_ set: NettingSummary, json: Bool) {
        if json { return printJSON(set) }
        print("Netting set \(set.client) \(set.valueDate) — version \(set.version) — \(set.state.rawValue)"
              + (set.closedBy.map { " by \($0)" } ?? ""))
        for line in set.net {
            let who = switch line.direction { case .bankPays?: "bank pays client"; case .clientPays?: "client pays bank"; case nil: "nothing to pay" }
            print("  \(DealTable.pad(line.net.formatted(), 26)) \(DealTable.pad(who, 18)) account \(line.account ?? "-")  (\(line.grossPayments) gross)")
        }
        print("  \(set.grossPayments) gross payments → \(set.netPayments) net")
        if !set.dealsIn.isEmpty { print("  in:  \(set.dealsIn.joined(separator: ", "))") }
        for deal in set.dealsOut {
            let gross = deal.grossPayments.map { "; settles gross: " + $0.map { $0.signed.formatted() }.joined(separator: ", ") } ?? ""
            var why = deal.excludedByClient ? "excluded by the client" : (deal.reason ?? "")
            if !gross.isEmpty, why.hasSuffix("; settles gross") { why.removeLast("; settles gross".count) }  // said with the amounts
            print("  out: \(DealTable.pad(deal.dealId, 16)) \(why)\(gross)")
        }
        for departure in set.leftAfterClose ?? [] { print("  left after close: \(departure.dealId) — \(departure.reason); settles gross") }
        if let agreed = set.agreedNet, agreed != set.net {
            print("  agreed at close, before deals left: "
                  + agreed.map { "\($0.net.formatted())\($0.account.map { " (\($0))" } ?? "")" }.joined(separator: ", "))
        }
    }

    static func request<Body: WireMessage>(_ options: SetOptions, _ command: Subjects.Netting.Command, _ body: Body) async throws {
        var connection: NatsConnection?
        do {
            let connected = try await options.client.connect()
            connection = connected
            let set = try await connected.request(body, to: "netting.cmd.\(options.client.client).\(command.rawValue)", expecting: NettingSummary.self)
            show(set, json: options.json)
            await connected.drain()
        } catch let conflict as ErrorBody where conflict.code == ErrorBody.conflict && command != .preview {
            // The set moved on since the version named: show it as it stands now, with the version to name instead.
            let code = fail(conflict)
            if let connection, !options.json,
               let now = try? await connection.request(NettingPreview(valueDate: options.valueDate),
                                                       to: "netting.cmd.\(options.client.client).\(Subjects.Netting.Command.preview.rawValue)",
                                                       expecting: NettingSummary.self) {
                print("The set as it stands now:")
                show(now, json: false)
                if now.state == .open { print("Run the command again with version \(now.version) to act on this set.") }
            }
            await connection?.drain()
            throw code
        } catch {
            await connection?.drain()
            throw fail(error)
        }
    }

    struct Preview: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Net amount per currency with direction, deals in and out.")
        @OptionGroup var set: SetOptions
        func run() async throws { try await NettingCommand.request(set, .preview, NettingPreview(valueDate: set.valueDate)) }
    }

    /// The set and the deal an include or exclude names.
    struct DealChangeOptions: ParsableArguments {
        @OptionGroup var set: SetOptions
        @Option(help: "Deal number.") var deal: String
        @Option(help: "Apply only to this set version.") var expectedVersion: Int64?

        var body: NettingDealChange { NettingDealChange(valueDate: set.valueDate, dealId: deal, expectedVersion: expectedVersion) }
    }

    struct Include: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put an excluded deal back into the set.")
        @OptionGroup var change: DealChangeOptions
        func run() async throws { try await NettingCommand.request(change.set, .include, change.body) }
    }

    struct Exclude: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Take a deal out of the set; it settles gross.")
        @OptionGroup var change: DealChangeOptions
        func run() async throws { try await NettingCommand.request(change.set, .exclude, change.body) }
    }

    struct Close: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Agree the net of the version you previewed.")
        @OptionGroup var set: SetOptions
        @Option(name: .customLong("version"), help: "The set version shown by preview.") var version: Int64
        @Option(help: "Who closes (for the audit).") var by: String?
        func run() async throws {
            try await NettingCommand.request(set, .close, NettingClose(valueDate: set.valueDate, expectedVersion: version, closedBy: by))
        }
    }
}

// MARK: requisites

struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A deal's audit trail: every event of it, and what came of each.")

    @OptionGroup var client: ClientOptions
    @Option(help: "Deal number.") var deal: String
    @Flag(help: "The history as one JSON document.") var json = false

    func run() async throws {
        var connection: NatsConnection?
        do {
            let connected = try await client.connect()
            connection = connected
            let history = try await connected.request(DealHistoryQuery(dealId: deal), to: "deal.query.\(client.client).history",
                                                      expecting: DealHistory.self)
            await connected.drain()
            if json { return printJSON(history) }
            print("Deal \(history.dealId) — \(history.entries.count) events\(history.truncated ? " (the newest; older ones exist)" : "")")
            for entry in history.entries { print(Self.line(entry)) }
        } catch {
            await connection?.drain()
            throw fail(error)
        }
    }

    /// "2024-12-02T10:00:05Z  #7  REQUISITES_CHANGED  CNY 40807156700000009999 ICBKCNBJ (requested by …)  → version 5"
    static func line(_ entry: DealHistory.Entry) -> String {
        guard let event = entry.event else { return "  #\(entry.eventSequence)  (not a readable deal event)  → changed nothing" }
        var what = event.kind.rawValue
        switch event.kind {
        case .booked, .amended:
            if let terms = event.terms { what += " \(terms.product.rawValue) \(terms.side.rawValue) \(terms.amount.formatted()) @ \(terms.rate) value \(terms.valueDate)" }
        case .confirmation:
            what += " \(event.confirmation?.rawValue ?? "?")" + (event.mismatchedFields.map { " (" + $0.joined(separator: ", ") + ")" } ?? "")
        case .settlement:
            what += " \(event.legId ?? "?") \(event.settlement?.rawValue ?? "?")"
        case .requisitesChanged:
            what += " " + (event.requisites ?? []).map { "\($0.currency) \($0.account) \($0.bic)" }.joined(separator: "; ")
        case .cancelled:
            break
        }
        if let reason = event.reason { what += " (\(reason))" }
        let outcome = switch entry.outcome {
        case .applied: "→ version \(entry.version.map(String.init) ?? "?")"
        case .notApplied: "→ changed nothing" + (entry.reason.map { ": \($0)" } ?? "")
        case .unknown: "→ not known here" + (entry.reason.map { ": \($0)" } ?? "")
        }
        return "  \(event.occurredAt.formatted(.iso8601))  #\(entry.eventSequence)  \(what)  \(outcome)"
    }
}

struct Requisites: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Change a deal's settlement details for one currency (before release).")

    @OptionGroup var client: ClientOptions
    @Option(help: "Deal number.") var deal: String
    @Option(help: "Currency of the leg, e.g. CNY.") var currency: String
    @Option(help: "Account number.") var account: String
    @Option(help: "Bank BIC / SWIFT code.") var bic: String
    @Option(help: "Request id (repeat it to retry safely); default: new.") var requestId = UUID().uuidString

    func run() async throws {
        var connection: NatsConnection?
        do {
            let code = try CurrencyCode(validating: currency.uppercased())
            let connected = try await client.connect()
            connection = connected
            let command = ChangeRequisites(requestId: requestId, dealId: deal,
                                           requisites: SettlementRequisites(currency: code, account: account, bic: bic),
                                           requestedBy: "terminal-\(client.client)")
            let accepted = try await connected.request(command, to: "deal.cmd.\(client.client).requisites", expecting: CommandAccepted.self)
            let what = accepted.duplicate ? "already accepted (event \(accepted.eventSequence)); nothing sent again" : "accepted (event \(accepted.eventSequence))"
            if let version = accepted.appliedInVersion {
                print("\(what): applied, version \(version) of the deal settles \(code) with the new details; a \(code) payment already "
                      + "instructed is re-instructed with them")
            } else {
                print("\(what): recorded in the deal's log, not applied yet; it is applied in order (a payment released meanwhile refuses it)")
            }
            await connected.drain()
        } catch {
            await connection?.drain()
            throw fail(error)
        }
    }
}
