import Foundation

/// The pppd command line and chat script of a session, pure: built from the configuration, no I/O.
///
/// The options leave the system alone: `nodefaultroute` (no default route), no `/etc/ppp/ip-up` hooks
/// (`ip-up-script`/`ip-down-script` point to `/bin/true`, so Debian's `ip-up.d/0000usepeerdns` never
/// copies DNS into /etc/resolv.conf), `usepeerdns` only so that pppd *asks* for DNS servers and prints
/// them (`primary   DNS address …`), which the agent reads from pppd's output. `nodetach` keeps pppd the
/// agent's child; `ifname` fixes the interface name; `maxfail 1` and no `persist` make a failure final, so the
/// agent decides about retries; `lcp-echo-*` notices a dead link.
public enum PPPOptions {
    /// The pppd arguments.
    /// - Parameters:
    ///   - configuration: the `[link]` section (mode `ppp`).
    ///   - chatScript: path of the chat script written by ``chatScript(apn:)``.
    /// - Returns: the argument vector, without the program name.
    public static func arguments(_ configuration: LinkConfiguration, chatScript: String) -> [String] {
        let ifname = configuration.effectiveInterface ?? LinkConfiguration.defaultPPPInterface
        return [
            configuration.device ?? "/dev/null", "\(configuration.baud)",
            "nodetach", "logfd", "1",
            "ifname", ifname,
            "noauth", "nodefaultroute", "noipdefault", "ipcp-accept-local", "ipcp-accept-remote",
            "usepeerdns", "ip-up-script", "/bin/true", "ip-down-script", "/bin/true",
            "maxfail", "1", "holdoff", "0",
            "lcp-echo-interval", "\(configuration.lcpEchoInterval)",
            "lcp-echo-failure", "\(configuration.lcpEchoFailure)",
            "noccp", "novj", "lock",
            "connect", "\(configuration.chatPath) -v -f \(chatScript)",
        ] + configuration.extraPPPOptions
    }

    /// The chat script that dials the APN: `AT+CGDCONT=1,"IP","<apn>"` then `ATD*99#` (3GPP TS 27.007 §10.1.1
    /// and §10.2.1.1), aborting on the modem's failure strings.
    /// - Parameter apn: a validated APN (letters, digits, '.', '-', '_').
    public static func chatScript(apn: String) -> String {
        """
        ABORT "NO CARRIER"
        ABORT "NO DIALTONE"
        ABORT "ERROR"
        ABORT "NO ANSWER"
        ABORT "BUSY"
        TIMEOUT 30
        "" "AT"
        OK "ATE0"
        OK 'AT+CGDCONT=1,"IP","\(apn)"'
        OK "ATD*99#"
        CONNECT ""

        """
    }
}

/// What pppd said about the link, read line by line from its output (pure).
///
/// pppd 2.4.9 prints (`ipcp.c`, `ip_check_options`/`ipcp_up`): `Using interface ppp0`, `local  IP address A`,
/// `remote IP address B`, `primary   DNS address C`, `secondary DNS address D`; failures end with lines like
/// `Connect script failed`, `Modem hangup`, `LCP: timeout sending Config-Requests`.
public struct PPPOutputParser: Sendable, Hashable {
    /// The interface pppd created.
    public private(set) var interface: String?
    /// Our address (IPCP).
    public private(set) var localAddress: String?
    /// The peer's address.
    public private(set) var remoteAddress: String?
    /// DNS servers offered by the peer, primary first.
    public private(set) var dnsServers: [String] = []
    /// The last lines, for error messages.
    public private(set) var recentLines: [String] = []

    /// An empty parser.
    public init() {}

    /// Whether IPCP finished (both addresses known).
    public var isUp: Bool { localAddress != nil && remoteAddress != nil }

    /// Takes one output line.
    /// - Parameter line: a line pppd printed.
    public mutating func consume(_ line: String) {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { return }
        recentLines.append(trimmed)
        if recentLines.count > 8 { recentLines.removeFirst() }
        let words = trimmed.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        func last(ifPrefix prefix: [String]) -> String? {
            guard words.count == prefix.count + 1, Array(words.prefix(prefix.count)) == prefix else { return nil }
            return system_parseAddress(words[prefix.count]) != nil ? words[prefix.count] : nil
        }
        if words.count == 3, words[0] == "Using", words[1] == "interface" {
            interface = words[2]
        } else if let a = last(ifPrefix: ["local", "IP", "address"]) {
            localAddress = a
        } else if let a = last(ifPrefix: ["remote", "IP", "address"]) {
            remoteAddress = a
        } else if let a = last(ifPrefix: ["primary", "DNS", "address"]) {
            dnsServers.removeAll { $0 == a }
            dnsServers.insert(a, at: 0)
        } else if let a = last(ifPrefix: ["secondary", "DNS", "address"]), !dnsServers.contains(a) {
            dnsServers.append(a)
        }
    }
}
