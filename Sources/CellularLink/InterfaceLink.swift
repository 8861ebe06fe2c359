import Foundation
public import Logging
import Synchronization

/// `link.mode = "interface"`: a stick that appears as an Ethernet device (cdc_ether, RNDIS, NCM).
///
/// `up`: IPv6 off on that interface (`net.ipv6.conf.IF.disable_ipv6 = 1`, so no router solicitations or
/// MLD reports cost cellular bytes; old value journaled), `ip link set IF up`, wait for carrier, then an
/// address by DHCP — busybox `udhcpc -q` with a script that only *prints* the lease (it changes nothing) — or
/// from static config. The address is added with `noprefixroute`, so not even the subnet route lands in the
/// main table: the subnet and the default route via the stick live only in the link's own table, reached
/// through the rule `from <address>`. `down` undoes all of it and sets the interface down again.
///
/// The lease is not renewed: a session is shorter than the leases sticks hand out (hours to days).
public actor InterfaceLink: CellularLink {
    public nonisolated let configuration: LinkConfiguration
    public nonisolated let events: AsyncStream<LinkEvent>
    public nonisolated var pausesSMS: Bool { false }
    private let eventSink: AsyncStream<LinkEvent>.Continuation
    private let logger: Logger
    private let changes: SessionChanges
    private var watchdog: Task<Void, Never>?
    private var active = false

    /// Creates the link (nothing happens until `up`).
    /// - Parameters:
    ///   - configuration: mode `interface`, validated.
    ///   - logger: where it logs.
    public init(configuration: LinkConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        (events, eventSink) = AsyncStream<LinkEvent>.makeStream()
        changes = SessionChanges(
            journal: LinkJournal(directory: configuration.stateDirectory), net: NetworkState(ip: configuration.ipPath),
            logger: logger)
    }

    public func up(deadline: ContinuousClock.Instant) async throws -> LinkInfo {
        guard !active else {
            throw CellularLinkError(code: .busy, message: "the interface link is already up; call down() first")
        }
        let ifname = configuration.interface ?? ""
        guard changes.net.interfaceExists(ifname) else {
            throw CellularLinkError(
                code: .interfaceMissing,
                message: "interface \(ifname) does not exist; is the stick plugged in and in Ethernet mode "
                    + "(cdc_ether/RNDIS/NCM)? `ip link` lists the interfaces; set link.interface accordingly")
        }
        active = true
        do {
            return try await start(ifname: ifname, deadline: deadline)
        } catch {
            await teardown()
            throw error
        }
    }

    private func start(ifname: String, deadline: ContinuousClock.Instant) async throws -> LinkInfo {
        try changes.setSysctl("/proc/sys/net/ipv6/conf/\(ifname)/disable_ipv6", "1")
        if !changes.net.isUp(ifname) {
            try changes.apply(.linkUp(interface: ifname), ["link", "set", "dev", ifname, "up"])
        }
        let clock = ContinuousClock()
        while NetworkState.readSysctl("/sys/class/net/\(ifname)/carrier") != "1" {
            guard clock.now < deadline else {
                throw CellularLinkError(
                    code: .timedOut,
                    message: "interface \(ifname) has no carrier within link.up_timeout; check the stick and its signal")
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        let lease: Lease
        switch configuration.addressing {
        case .staticAddress(let address, let gateway, let dns):
            let cidr = CIDR(address)!  // validated by LinkConfiguration.validate()
            lease = Lease(address: cidr.address, prefixLength: cidr.prefixLength, router: gateway, dnsServers: dns)
        case .dhcp:
            lease = try await dhcp(ifname: ifname, deadline: deadline)
        }
        let cidr = "\(lease.address)/\(lease.prefixLength)"
        if !changes.net.ipv4Addresses(ifname).contains(where: { $0.address == lease.address }) {
            try changes.apply(
                .address(interface: ifname, cidr: cidr, peer: nil),
                ["addr", "add", cidr, "dev", ifname, "noprefixroute"])
        }
        let info = LinkInfo(
            interface: ifname, localAddress: lease.address, prefixLength: lease.prefixLength, peer: lease.router,
            dnsServers: lease.dnsServers)
        try changes.installReplyRouting(
            info, subnet: Self.network(of: lease.address, prefixLength: lease.prefixLength),
            table: configuration.routingTable, priority: configuration.rulePriority)
        startWatchdog(ifname)
        logger.info("interface link up", metadata: ["link.info": "\(info)"])
        return info
    }

    struct Lease: Sendable {
        var address: String
        var prefixLength: Int
        var router: String?
        var dnsServers: [String]
    }

    /// One DHCP exchange with busybox udhcpc; its script prints the lease, we apply it ourselves.
    private func dhcp(ifname: String, deadline: ContinuousClock.Instant) async throws -> Lease {
        let script = configuration.stateDirectory + "/udhcpc-script"
        let text = """
            #!/bin/sh
            # Written by oob-agent: prints udhcpc's lease for the agent and changes nothing itself.
            echo "OOBLINK|$1|$ip|$subnet|$router|$dns"

            """
        if case .failure(let e) = system_writeFileAtomically(script, Array(text.utf8), mode: 0o700) {
            throw CellularLinkError(code: .journal, message: "cannot write \(script); check state.dir", underlying: e)
        }
        let child = try ChildProcess(
            path: configuration.dhcpClientPath,
            arguments: ["-f", "-q", "-n", "-i", ifname, "-s", script, "-t", "5", "-T", "2", "-A", "1"])
        try changes.journal.append(
            .process(pid: child.pid, startTime: child.startTime, executable: configuration.dhcpClientPath))
        let found = Locked<(lease: Lease?, lines: [String])>((nil, []))
        let reader = Task {
            for await line in child.lines {
                let f = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
                if f.count == 6, f[0] == "OOBLINK", f[1] == "bound" || f[1] == "renew",
                    let prefix = CIDR.prefixLength(netmask: f[3]), system_parseAddress(f[2])?.count == 4
                {
                    let lease = Lease(
                        address: f[2], prefixLength: prefix,
                        router: f[4].split(separator: " ").first.map(String.init),
                        dnsServers: f[5].split(separator: " ").map(String.init))
                    found.withLock { $0.lease = lease }
                } else {
                    found.withLock {
                        $0.lines.append(line)
                        if $0.lines.count > 6 { $0.lines.removeFirst() }
                    }
                }
            }
        }
        defer { reader.cancel() }
        let clock = ContinuousClock()
        while true {
            if let lease = found.withLock({ $0.lease }) {
                _ = await child.terminate(grace: .seconds(2))
                return lease
            }
            if let status = child.exitStatus {
                try? await Task.sleep(for: .milliseconds(100))
                if let lease = found.withLock({ $0.lease }) { return lease }
                let lines = found.withLock { $0.lines }.joined(separator: " | ")
                throw CellularLinkError(
                    code: .linkFailed,
                    message: "no DHCP lease on \(ifname) (udhcpc exit \(status): \(lines)); check the stick is in "
                        + "router/Ethernet mode and has signal, or configure a static address")
            }
            if clock.now >= deadline {
                _ = await child.terminate(grace: .seconds(2))
                throw CellularLinkError(
                    code: .timedOut,
                    message: "no DHCP lease on \(ifname) within link.up_timeout; check the stick, or raise link.up_timeout")
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    static func network(of address: String, prefixLength: Int) -> String? {
        guard let b = system_parseAddress(address), b.count == 4 else { return nil }
        let v = b.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let mask: UInt32 = prefixLength == 0 ? 0 : ~UInt32(0) << UInt32(32 - prefixLength)
        let n = v & mask
        return "\(n >> 24).\((n >> 16) & 0xff).\((n >> 8) & 0xff).\(n & 0xff)/\(prefixLength)"
    }

    private func startWatchdog(_ ifname: String) {
        let sink = eventSink
        let logger = self.logger
        watchdog = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                if Task.isCancelled { return }
                let exists = FileManager.default.fileExists(atPath: "/sys/class/net/\(ifname)")
                let carrier = NetworkState.readSysctl("/sys/class/net/\(ifname)/carrier") == "1"
                if !exists || !carrier {
                    logger.info("cellular interface went away", metadata: ["link.interface": "\(ifname)"])
                    sink.yield(.died(reason: exists ? "\(ifname) lost carrier" : "\(ifname) vanished"))
                    return
                }
            }
        }
    }

    public func down() async {
        await teardown()
    }

    private func teardown() async {
        watchdog?.cancel()
        watchdog = nil
        await changes.undoAll(grace: configuration.stopGrace)
        active = false
    }
}
