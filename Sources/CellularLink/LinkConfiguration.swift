/// The `[link]` section of the configuration (contract.md), plus the knobs the agent fills from other
/// sections (`modem.port`, `state.dir`) and defaults that rarely need changing.
public struct LinkConfiguration: Sendable, Hashable {
    /// How the cellular link is made.
    public enum Mode: String, Sendable, Hashable, CaseIterable {
        /// No link management; the tunnel optionally binds to `interface`.
        case none
        /// `pppd` over a serial data port.
        case ppp
        /// An Ethernet-mode stick (cdc_ether, RNDIS, NCM) addressed by DHCP or statically.
        case interface
    }

    /// How an `interface`-mode link gets its address.
    public enum Addressing: Sendable, Hashable {
        /// DHCP with the system's busybox `udhcpc` (Debian package `udhcpc`).
        case dhcp
        /// A fixed address: `address` is CIDR ("192.0.2.7/24"), `gateway` the next hop.
        case staticAddress(address: String, gateway: String?, dnsServers: [String])
    }

    /// `link.mode`.
    public var mode: Mode
    /// `link.interface`: the cellular interface; the PPP interface name (`ifname`) in `ppp` mode.
    public var interface: String?
    /// `link.device`: the PPP data port.
    public var device: String?
    /// `modem.port`: the AT port, to know whether SMS handling must pause during a PPP session.
    public var atPort: String?
    /// `modem.baud`, used for the PPP data port too.
    public var baud: Int
    /// `link.apn`: dialled with `AT+CGDCONT=1,"IP","<apn>"`.
    public var apn: String?
    /// `link.pppd`: the pppd executable.
    public var pppdPath: String
    /// The `chat` program pppd's `connect` option runs (Debian package `ppp` ships `/usr/sbin/chat`).
    public var chatPath: String
    /// Extra pppd options appended verbatim (`user`, `password`, `crtscts`…).
    public var extraPPPOptions: [String]
    /// LCP echo interval in seconds (`lcp-echo-interval`): a dead link is noticed after interval × failures.
    public var lcpEchoInterval: Int
    /// LCP echo failures before pppd gives up (`lcp-echo-failure`).
    public var lcpEchoFailure: Int
    /// `interface` mode: DHCP or static.
    public var addressing: Addressing
    /// The DHCP client executable (busybox `udhcpc`).
    public var dhcpClientPath: String
    /// `link.up_timeout`.
    public var upTimeout: Duration
    /// How long a child gets between SIGTERM and SIGKILL.
    public var stopGrace: Duration
    /// `state.dir`: the journal, generated scripts and the last good jump host address live here.
    public var stateDirectory: String
    /// The routing table that holds the cellular route for replies (never `main`).
    public var routingTable: Int
    /// The priority of the policy rule `from <cellular address> lookup <routingTable>`.
    public var rulePriority: Int
    /// The `ip` executable (iproute2).
    public var ipPath: String

    /// Creates a configuration; only `mode` and `stateDirectory` are always needed.
    /// - Parameters:
    ///   - mode: `link.mode`.
    ///   - stateDirectory: `state.dir`.
    public init(
        mode: Mode,
        interface: String? = nil,
        device: String? = nil,
        atPort: String? = nil,
        baud: Int = 115_200,
        apn: String? = nil,
        pppdPath: String = "/usr/sbin/pppd",
        chatPath: String = "/usr/sbin/chat",
        extraPPPOptions: [String] = [],
        lcpEchoInterval: Int = 10,
        lcpEchoFailure: Int = 3,
        addressing: Addressing = .dhcp,
        dhcpClientPath: String = "/usr/sbin/udhcpc",
        upTimeout: Duration = .seconds(60),
        stopGrace: Duration = .seconds(5),
        stateDirectory: String,
        routingTable: Int = 7_913,
        rulePriority: Int = 7_913,
        ipPath: String = "/usr/sbin/ip"
    ) {
        self.mode = mode
        self.interface = interface
        self.device = device
        self.atPort = atPort
        self.baud = baud
        self.apn = apn
        self.pppdPath = pppdPath
        self.chatPath = chatPath
        self.extraPPPOptions = extraPPPOptions
        self.lcpEchoInterval = lcpEchoInterval
        self.lcpEchoFailure = lcpEchoFailure
        self.addressing = addressing
        self.dhcpClientPath = dhcpClientPath
        self.upTimeout = upTimeout
        self.stopGrace = stopGrace
        self.stateDirectory = stateDirectory
        self.routingTable = routingTable
        self.rulePriority = rulePriority
        self.ipPath = ipPath
    }

    /// The interface name a PPP link uses when `link.interface` is not set.
    public static let defaultPPPInterface = "ppp0"

    /// The interface the tunnel binds to, once up (nil in `none` mode without `link.interface`).
    public var effectiveInterface: String? {
        switch mode {
        case .ppp: return interface ?? Self.defaultPPPInterface
        case .none, .interface: return interface
        }
    }

    /// Checks every key this mode needs, one clear error per problem.
    /// - Throws: ``CellularLinkError`` `.configuration` naming the key and the fix.
    public func validate() throws {
        if let interface, !Self.isValidInterfaceName(interface) {
            throw CellularLinkError.configuration(
                "interface", "\"\(interface)\" is not a Linux interface name",
                fix: "use 1 to 15 letters, digits, '-', '_' or '.', e.g. \"ppp0\" or \"usb0\"")
        }
        guard stateDirectory.hasPrefix("/") else {
            throw CellularLinkError.configuration(
                "state.dir", "\"\(stateDirectory)\" is not absolute", fix: "use an absolute path such as /var/lib/oob-agent")
        }
        guard (1...252).contains(routingTable) || (256...0x7fff_ffff).contains(routingTable) else {
            throw CellularLinkError.configuration(
                "routing_table", "\(routingTable) is a reserved table", fix: "use a free table number such as 7913")
        }
        guard (1...32_765).contains(rulePriority) else {
            throw CellularLinkError.configuration(
                "rule_priority", "\(rulePriority) is outside 1…32765", fix: "use a priority below main's 32766")
        }
        guard upTimeout > .zero else {
            throw CellularLinkError.configuration("up_timeout", "must be positive", fix: "use e.g. \"60s\"")
        }
        switch mode {
        case .none:
            break
        case .ppp:
            guard let device, device.hasPrefix("/") else {
                throw CellularLinkError.configuration(
                    "device", "missing or not an absolute path", fix: "set link.device = \"/dev/ttyUSB0\" (the PPP data port)")
            }
            guard let apn, Self.isValidAPN(apn) else {
                throw CellularLinkError.configuration(
                    "apn", "missing or contains characters an APN cannot have",
                    fix: "set link.apn to your carrier's APN, e.g. \"internet\" (letters, digits, '.', '-', '_')")
            }
            guard pppdPath.hasPrefix("/") else {
                throw CellularLinkError.configuration("pppd", "not an absolute path", fix: "use \"/usr/sbin/pppd\"")
            }
            guard lcpEchoInterval > 0, lcpEchoFailure > 0 else {
                throw CellularLinkError.configuration(
                    "lcp_echo", "interval and failure count must be positive", fix: "use 10 and 3")
            }
        case .interface:
            guard interface != nil else {
                throw CellularLinkError.configuration(
                    "interface", "missing for mode \"interface\"",
                    fix: "set link.interface to the stick's interface, e.g. \"usb0\" (see `ip link`)")
            }
            if case .staticAddress(let address, let gateway, let dns) = addressing {
                guard CIDR(address) != nil else {
                    throw CellularLinkError.configuration(
                        "address", "\"\(address)\" is not IPv4 CIDR", fix: "write it as \"192.0.2.7/24\"")
                }
                for a in [gateway].compactMap({ $0 }) + dns where system_parseAddress(a)?.count != 4 {
                    throw CellularLinkError.configuration(
                        "gateway/dns", "\"\(a)\" is not an IPv4 address", fix: "write a dotted quad such as 192.0.2.1")
                }
            }
        }
    }

    static func isValidInterfaceName(_ name: String) -> Bool {
        (1...15).contains(name.utf8.count)
            && name.unicodeScalars.allSatisfy { ("a"..."z").contains($0)
                || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0) }
            && name != "." && name != ".."
    }

    static func isValidAPN(_ apn: String) -> Bool {
        (1...100).contains(apn.utf8.count)
            && apn.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0)
                    || "-_.".unicodeScalars.contains($0)
            }
    }
}

/// An IPv4 address with prefix length, "a.b.c.d/n".
struct CIDR: Hashable, Sendable, CustomStringConvertible {
    var address: String
    var prefixLength: Int

    init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let n = Int(parts[1]), (0...32).contains(n),
            system_parseAddress(String(parts[0]))?.count == 4
        else { return nil }
        address = String(parts[0])
        prefixLength = n
    }

    init(address: String, prefixLength: Int) {
        self.address = address
        self.prefixLength = prefixLength
    }

    var description: String { "\(address)/\(prefixLength)" }

    /// Prefix length from a dotted netmask ("255.255.255.0" → 24); nil if not contiguous.
    static func prefixLength(netmask: String) -> Int? {
        guard let b = system_parseAddress(netmask), b.count == 4 else { return nil }
        let v = b.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let n = v.nonzeroBitCount
        guard n == 0 || v << UInt32(n) == 0 && v.leadingZeroBitCount == 0 else { return nil }
        return n
    }
}
