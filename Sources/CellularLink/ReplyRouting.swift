import Logging

/// The journaled changes a session makes, and what replies over the cellular link need: a policy rule
/// `from <cellular address> lookup <table>` and, in that table only, the routes through the cellular
/// interface. The main table and the default route are never touched.
struct SessionChanges: Sendable {
    let journal: LinkJournal
    let net: NetworkState
    let logger: Logger

    /// Journals `entry`, then runs `ip args`.
    func apply(_ entry: LinkJournal.Entry, _ args: [String]) throws {
        try journal.append(entry)
        try Command.check(net.ip, args)
    }

    /// Sets a sysctl, journaling its old value; nothing if it already has `value` or does not exist.
    func setSysctl(_ path: String, _ value: String) throws {
        guard let old = NetworkState.readSysctl(path), old != value else { return }
        try journal.append(.sysctl(path: path, oldValue: old))
        try NetworkState.writeSysctl(path, value)
    }

    /// Adds the policy rule and the table routes for `info`.
    /// - Parameters:
    ///   - subnet: the on-link prefix to route in the table (Ethernet-mode links), nil for PPP.
    /// - Throws: ``CellularLinkError`` `.busy` when the table or the priority is already used by someone else.
    func installReplyRouting(_ info: LinkInfo, subnet: String?, table: Int, priority: Int) throws {
        guard let local = info.localAddress else { return }
        guard !net.ruleExists(priority: priority) else {
            throw CellularLinkError(
                code: .busy,
                message: "a policy rule with priority \(priority) already exists (`ip rule`); choose another "
                    + "link.rule_priority, or remove the leftover rule")
        }
        guard !net.tableHasRoutes(table) else {
            throw CellularLinkError(
                code: .busy,
                message: "routing table \(table) is not empty (`ip route show table \(table)`); choose another "
                    + "link.routing_table, or flush the leftover table")
        }
        if let subnet {
            try apply(
                .route(table: table, destination: subnet, interface: info.interface, gateway: nil),
                ["route", "add", subnet, "dev", info.interface, "src", local, "table", "\(table)"])
        }
        if let gateway = info.peer, subnet != nil {
            try apply(
                .route(table: table, destination: "default", interface: info.interface, gateway: gateway),
                ["route", "add", "default", "via", gateway, "dev", info.interface, "onlink", "table", "\(table)"])
        } else {
            try apply(
                .route(table: table, destination: "default", interface: info.interface, gateway: nil),
                ["route", "add", "default", "dev", info.interface, "table", "\(table)"])
        }
        try apply(
            .rule(priority: priority, from: local, table: table),
            ["rule", "add", "priority", "\(priority)", "from", local, "lookup", "\(table)"])
    }

    /// Undoes every journaled change, newest first, and empties the journal.
    func undoAll(grace: Duration) async {
        let entries = (try? journal.load()) ?? []
        await Undo.all(entries, ip: net.ip, grace: grace, logger: logger)
        do { try journal.clear() } catch {
            logger.warning("link journal could not be cleared", metadata: ["error": "\(error)"])
        }
    }
}
