public import Logging

/// The cellular data link of one session: brings it up, reports where the tunnel must bind, and takes it
/// down leaving nothing behind.
///
/// Implementations: ``NoLink`` (`link.mode = "none"`), ``PPPLink`` (`"ppp"`), ``InterfaceLink``
/// (`"interface"`); ``makeCellularLink(_:logger:)`` picks one from a ``LinkConfiguration``.
/// Every route, rule, sysctl, address and child process a link adds is written to a ``LinkJournal`` in the
/// state directory *before* it is added, so ``recoverLeftovers(stateDirectory:logger:)`` on daemon start
/// undoes exactly that after a crash or SIGKILL.
///
/// One session at a time: `up` after `up` without `down` throws; `down` is always safe to call.
public protocol CellularLink: AnyObject, Sendable {
    /// The configuration this link was made from.
    var configuration: LinkConfiguration { get }

    /// Whether SMS handling must pause while the link is up: true when the PPP data port is the AT port
    /// (`link.device` equals `modem.port`), because pppd then owns the only serial line of the modem.
    var pausesSMS: Bool { get }

    /// Events of the link's life; `.died` when the link goes away on its own (pppd exits, the interface
    /// vanishes or loses carrier). The stream lives as long as the link object; one consumer.
    var events: AsyncStream<LinkEvent> { get }

    /// Brings the link up and installs what replies need.
    /// - Parameter deadline: when to give up (the agent passes now + `link.up_timeout`).
    /// - Returns: where the tunnel must bind: interface, local address, peer, DNS servers.
    /// - Throws: ``CellularLinkError`` (`.timedOut`, `.linkFailed`, `.interfaceMissing`, `.commandFailed`,
    ///   `.busy`); whatever was added before the failure is already removed again.
    func up(deadline: ContinuousClock.Instant) async throws -> LinkInfo

    /// Takes the link down and removes everything `up` added (routes, rules, sysctls, addresses,
    /// processes), then empties the journal. Never throws: failures are logged; it is safe to call twice.
    func down() async
}

/// What a link that is up looks like: the tunnel binds its socket to `interface` and `localAddress`.
public struct LinkInfo: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The cellular interface (`ppp0`, `usb0`), for SO_BINDTODEVICE; empty in `none` mode without
    /// `link.interface` (then the tunnel binds to nothing and uses the system's routing).
    public var interface: String
    /// The interface's IPv4 address, for bind(2); nil only in `none` mode without `link.interface`.
    public var localAddress: String?
    /// The prefix length of `localAddress` (32 on PPP).
    public var prefixLength: Int?
    /// The far end: the PPP peer or the DHCP router (gateway); nil if none is known.
    public var peer: String?
    /// DNS servers the link offers (PPP IPCP or DHCP option 6); the jump host is resolved through them.
    public var dnsServers: [String]

    /// Creates a description of a link that is up.
    public init(interface: String, localAddress: String?, prefixLength: Int?, peer: String?, dnsServers: [String]) {
        self.interface = interface
        self.localAddress = localAddress
        self.prefixLength = prefixLength
        self.peer = peer
        self.dnsServers = dnsServers
    }

    public var description: String {
        "\(interface) \(localAddress ?? "-") peer \(peer ?? "-") dns [\(dnsServers.joined(separator: ", "))]"
    }
}

/// Something that happened to a link on its own.
public enum LinkEvent: Sendable, Hashable {
    /// The link went away during a session (pppd exited, the interface vanished). The session should end
    /// (or be retried); call `down()` to remove what is left.
    case died(reason: String)
}

/// Picks the implementation for `configuration.mode`.
/// - Parameters:
///   - configuration: the `[link]` section (validated by ``LinkConfiguration/validate()``).
///   - logger: where the link logs (at info and below).
/// - Throws: ``CellularLinkError`` `.configuration` when the configuration is invalid.
public func makeCellularLink(_ configuration: LinkConfiguration, logger: Logger) throws -> any CellularLink {
    try configuration.validate()
    switch configuration.mode {
    case .none: return NoLink(configuration: configuration, logger: logger)
    case .ppp: return PPPLink(configuration: configuration, logger: logger)
    case .interface: return InterfaceLink(configuration: configuration, logger: logger)
    }
}

/// Undoes whatever a previous run left behind according to the journal in `stateDirectory` (routes, rules,
/// sysctls, addresses, interfaces, child processes), then empties the journal. Call it once on daemon start,
/// before any session. Idempotent; a missing journal means nothing to do.
/// - Parameters:
///   - stateDirectory: `state.dir`.
///   - logger: where each undone item is logged.
/// - Returns: how many journal entries were undone.
@discardableResult
public func recoverLeftovers(stateDirectory: String, logger: Logger) async -> Int {
    let journal = LinkJournal(directory: stateDirectory)
    let entries: [LinkJournal.Entry]
    do {
        entries = try journal.load()
    } catch {
        logger.warning("link journal unreadable; nothing recovered", metadata: ["error": "\(error)"])
        return 0
    }
    guard !entries.isEmpty else { return 0 }
    logger.info("undoing leftovers of an earlier session", metadata: ["link.entries": "\(entries.count)"])
    await Undo.all(entries, logger: logger)
    do { try journal.clear() } catch {
        logger.warning("link journal could not be cleared", metadata: ["error": "\(error)"])
    }
    return entries.count
}
