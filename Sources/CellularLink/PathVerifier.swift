import Foundation

/// What path verification found.
public struct PathReport: Sendable, Hashable, CustomStringConvertible {
    /// The interface the kernel routes the tunnel's packets through (must be the link's).
    public var interface: String
    /// The next hop on it, if any.
    public var gateway: String?
    /// Packets the probe connection sent through the cellular interface (nil without a probe).
    public var probePackets: UInt64?

    public var description: String {
        "via \(interface)" + (gateway.map { " gateway \($0)" } ?? "") + (probePackets.map { ", probe sent \($0) packets" } ?? "")
    }
}

/// Checks, before SSH, that a connection to the jump host goes out of the cellular interface.
public enum PathVerifier {
    /// Verifies the path from `link` to `address`:`port`.
    ///
    /// 1. `ip route get ADDRESS from LOCAL oif IF` must succeed and name the link's interface (what a socket
    ///    bound like the tunnel's will use).
    /// 2. With `probe`, a TCP connection bound the same way must complete, and the cellular interface's
    ///    packet counter must have grown meanwhile (the handshake really left through it).
    /// - Parameters:
    ///   - link: the link that is up.
    ///   - address: the jump host's numeric address.
    ///   - port: its SSH port.
    ///   - probe: whether to make the TCP connection (costs ~4 small packets each way).
    ///   - timeout: the probe's connect timeout.
    ///   - ipPath: the `ip` executable.
    /// - Throws: ``CellularLinkError`` `.routeMismatch`, `.connectFailed` or `.timedOut`, naming the interface
    ///   the packets would really use.
    public static func verify(
        link: LinkInfo, address: String, port: UInt16, probe: Bool = true, timeout: Duration = .seconds(10),
        ipPath: String = "/usr/sbin/ip"
    ) async throws -> PathReport {
        let net = NetworkState(ip: ipPath)
        guard let route = net.routeGet(address, from: link.localAddress, oif: link.interface) else {
            throw CellularLinkError(
                code: .routeMismatch,
                message: "no route to \(address) from \(link.localAddress ?? "-") through \(link.interface); "
                    + "the link is up but unusable: check the carrier/APN, or `ip route get \(address) oif \(link.interface)`")
        }
        guard route.device == link.interface else {
            throw CellularLinkError(
                code: .routeMismatch,
                message: "packets to \(address) would leave through \(route.device), not the cellular interface "
                    + "\(link.interface); check link.interface and that nothing else routes \(link.localAddress ?? "")")
        }
        var report = PathReport(interface: route.device, gateway: route.gateway, probePackets: nil)
        guard probe else { return report }
        let before = NetworkState.counters(link.interface)
        try await onDedicatedThread("link-path-probe") {
            let c = try LinkTCPConnection(
                interface: link.interface, localAddress: link.localAddress, address: address, port: port, timeout: timeout)
            c.close()
        }
        let after = NetworkState.counters(link.interface)
        if let before, let after {
            let delta = after.txPackets &- before.txPackets
            guard delta > 0 else {
                throw CellularLinkError(
                    code: .routeMismatch,
                    message: "the probe connection to \(address) did not leave through \(link.interface) (its counters "
                        + "did not move); check for a VPN or policy routing that overrides the cellular binding")
            }
            report.probePackets = delta
        }
        return report
    }
}
