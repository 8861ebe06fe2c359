import Foundation
public import Spawn

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// Runs a program to completion and returns its standard output.
/// - Parameter check: throw (with its stderr) when it exits non-zero.
@discardableResult
public func sh(_ args: [String], check: Bool = true) throws -> String {
    // posix_spawn (Foundation's Process hangs in waitpid when a child such as dnsmasq closes inherited descriptors).
    let r = try SpawnedProcess.run(args[0], Array(args.dropFirst()), timeout: .seconds(120))
    if check && !r.status.succeeded {
        throw TopologyError(message: "\(args.joined(separator: " ")) failed: \(r.stderrText)")
    }
    return r.stdoutText
}

/// A failure while building or inspecting the namespace topology.
public struct TopologyError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
    public init(message: String) { self.message = message }
}

/// The test world of the cellular-link and daemon namespace tests, all inside namespaces this test creates
/// (unique random suffix) and deletes:
///
///     site ── m<id> ──── mp<id> ── mainnet      (the main uplink: mainnet has no route to the jump host)
///       ├─── c<id> ───── cp<id> ── carrier      (Ethernet-mode "stick": 198.18.2.0/24, dnsmasq DHCP+DNS)
///       └─── p<id> ╌╌╌╌╌ pp<id> ── carrier      (made by the fake pppd: 198.18.3.2 ⇄ 198.18.3.1)
///                                   └ lo: 198.19.0.1 = the jump host (TCP echo on 7007)
///
/// The site's default route points at the main uplink, so anything not pinned to the cellular interface
/// goes there and dies. Addresses are from 198.18.0.0/15 and exist only inside these namespaces. dnsmasq in
/// the carrier answers `jump.oob.test` with the jump host's address on both carrier-side interfaces and logs
/// every query in `dnsmasq.log`.
public final class NamespaceTopology: @unchecked Sendable {
    // @unchecked Sendable: used from one test at a time; `background` is guarded by `lock`.

    /// Whether this machine can build the topology: root and iproute2.
    public static var canRun: Bool { getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") }

    /// The random suffix of every namespace and interface name.
    public let id: String
    /// The namespace the agent runs in.
    public let site: String
    /// The carrier's namespace: DHCP, DNS and the jump host.
    public let carrier: String
    /// The far end of the main uplink (a dead end for the jump host).
    public let mainNet: String
    /// The site's main uplink.
    public var mainIf: String { "m\(id)" }
    /// The site's Ethernet-mode "stick" (down and unaddressed until a session).
    public var cellIf: String { "c\(id)" }
    /// The PPP interface the fake pppd creates.
    public var pppIf: String { "p\(id)" }
    /// The carrier end of the fake pppd's link.
    public var pppPeerIf: String { "pp\(id)" }
    /// The PPP peer's address, which is also the DNS server pppd reports.
    public let pppPeer = "198.18.3.1"
    /// The jump host's address (carrier loopback).
    public let jumpHost = "198.19.0.1"
    /// A TCP echo server on the jump host's address.
    public let echoPort = 7007
    /// The jump host's name, known only to dnsmasq in the carrier.
    public let jumpName = "jump.oob.test"
    /// A temp directory for logs, leases and state.
    public let directory: String
    /// dnsmasq's log (leases handed out, queries answered).
    public var dnsmasqLog: String { (try? String(contentsOfFile: directory + "/dnsmasq.log", encoding: .utf8)) ?? "" }
    private let lock = NSLock()
    private var background: [SpawnedProcess] = []
    private var destroyed = false

    /// Builds the namespaces, veths, addresses, dnsmasq and the echo listener.
    public init() throws {
        id = String(format: "%06x", UInt32.random(in: 0...0xff_ffff))
        site = "oobsite-\(id)"
        carrier = "oobcarr-\(id)"
        mainNet = "oobmain-\(id)"
        directory = NSTemporaryDirectory() + "oob-link-\(id)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        do {
            for ns in [site, carrier, mainNet] {
                try sh(["/usr/sbin/ip", "netns", "add", ns])
                try sh(["/usr/sbin/ip", "netns", "exec", ns, "/bin/sh", "-c",
                    "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6"])
                try ip(ns, "link", "set", "lo", "up")
            }
            // Main uplink: its far end has no route to the jump host, so the "normal" path is broken.
            try sh(["/usr/sbin/ip", "-n", site, "link", "add", mainIf, "type", "veth", "peer", "name", "mp\(id)", "netns", mainNet])
            try ip(site, "addr", "add", "198.18.1.2/24", "dev", mainIf)
            try ip(site, "link", "set", mainIf, "up")
            try ip(mainNet, "addr", "add", "198.18.1.1/24", "dev", "mp\(id)")
            try ip(mainNet, "link", "set", "mp\(id)", "up")
            try ip(site, "route", "add", "default", "via", "198.18.1.1")
            // The cellular stick: a veth left down and unaddressed in the site, as a stick is before a session.
            try sh(["/usr/sbin/ip", "-n", site, "link", "add", cellIf, "type", "veth", "peer", "name", "cp\(id)", "netns", carrier])
            try ip(carrier, "addr", "add", "198.18.2.1/24", "dev", "cp\(id)")
            try ip(carrier, "link", "set", "cp\(id)", "up")
            // IPv6 on for the stick, as on a real system: the link must switch it off for the session and back.
            try sh(["/usr/sbin/ip", "netns", "exec", site, "/bin/sh", "-c",
                "echo 0 > /proc/sys/net/ipv6/conf/\(cellIf)/disable_ipv6"])
            try ip(carrier, "addr", "add", "\(jumpHost)/32", "dev", "lo")
            try startInNamespace(carrier, [
                "/usr/bin/socat", "TCP-LISTEN:\(echoPort),bind=\(jumpHost),reuseaddr,fork", "EXEC:/bin/cat",
            ])
            try startInNamespace(carrier, [
                "/usr/sbin/dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--bind-dynamic",
                "--interface=cp\(id)", "--interface=\(pppPeerIf)", "--except-interface=lo",
                "--dhcp-range=198.18.2.50,198.18.2.60,255.255.255.0,1h", "--dhcp-option=3,198.18.2.1",
                "--dhcp-option=6,198.18.2.1", "--address=/\(jumpName)/\(jumpHost)",
                "--dhcp-leasefile=\(directory)/leases", "--pid-file=", "--user=root",
                "--log-facility=\(directory)/dnsmasq.log", "--log-queries",
            ])
            try waitForListener(in: carrier, "\(jumpHost):\(echoPort)")
        } catch {
            destroy()
            throw error
        }
    }

    /// Runs `ip -n ns args…`.
    public func ip(_ ns: String, _ args: String...) throws {
        try sh(["/usr/sbin/ip", "-n", ns] + args)
    }

    /// Runs `args` in namespace `ns` to completion (`ip netns exec`) and returns its output.
    @discardableResult
    public func run(in ns: String, _ args: [String], check: Bool = true) throws -> String {
        try sh(["/usr/sbin/ip", "netns", "exec", ns] + args, check: check)
    }

    /// Starts `args` in namespace `ns` in the background (output to /dev/null unless `options` say otherwise);
    /// `destroy()` ends it by its PID (`ip netns exec` execs the program, so the PID is the program's).
    @discardableResult
    public func startInNamespace(_ ns: String, _ args: [String], options: SpawnOptions = SpawnOptions()) throws -> SpawnedProcess {
        let process = try SpawnedProcess("/usr/sbin/ip", ["netns", "exec", ns] + args, options: options)
        lock.withLock { background.append(process) }
        return process
    }

    /// The TCP listeners in namespace `ns` ("address:port" each).
    public func listeners(in ns: String) throws -> [String] {
        try run(in: ns, ["/usr/bin/ss", "-Hltn"]).split(separator: "\n").compactMap {
            let fields = $0.split(separator: " ", omittingEmptySubsequences: true)
            return fields.count >= 4 ? String(fields[3]) : nil
        }
    }

    /// Waits (up to 5 s) until something listens on `endpoint` ("address:port") in `ns`.
    public func waitForListener(in ns: String, _ endpoint: String) throws {
        for _ in 0..<100 {
            if (try? listeners(in: ns))?.contains(endpoint) == true { return }
            usleep(50_000)
        }
        throw TopologyError(message: "nothing listens on \(endpoint) in \(ns)")
    }

    /// Everything a session must leave as it found it: routes of every table (IPv4 and IPv6), rules (both),
    /// addresses, link states, and the sysctls the link may change (rp_filter, accept_local, forwarding,
    /// disable_ipv6).
    public func snapshot() throws -> String {
        var s = try sh(["/usr/sbin/ip", "-n", site, "route", "show", "table", "all"])
        s += try sh(["/usr/sbin/ip", "-n", site, "-6", "route", "show", "table", "all"])
        s += try sh(["/usr/sbin/ip", "-n", site, "rule", "show"])
        s += try sh(["/usr/sbin/ip", "-n", site, "-6", "rule", "show"])
        s += try sh(["/usr/sbin/ip", "-n", site, "-br", "addr", "show"])
        s += try sh(["/usr/sbin/ip", "-n", site, "-br", "link", "show"]).split(separator: "\n")
            .map { $0.split(separator: " ", omittingEmptySubsequences: true).prefix(2).joined(separator: " ") }
            .joined(separator: "\n")
        s += try run(in: site, [
            "/bin/sh", "-c",
            "grep -H . /proc/sys/net/ipv4/conf/*/rp_filter /proc/sys/net/ipv4/conf/*/accept_local "
                + "/proc/sys/net/ipv4/conf/*/forwarding /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv6/conf/*/disable_ipv6",
        ])
        return s
    }

    /// The main routing table alone.
    public func mainTable() throws -> String { try sh(["/usr/sbin/ip", "-n", site, "route", "show", "table", "main"]) }

    /// Byte counters of an interface in the site namespace.
    public func counters(_ interface: String) throws -> (rx: UInt64, tx: UInt64) {
        let out = try sh(["/usr/sbin/ip", "-n", site, "-j", "-s", "link", "show", "dev", interface])
        guard let json = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]],
            let stats = json.first?["stats64"] as? [String: Any],
            let rx = (stats["rx"] as? [String: Any])?["bytes"] as? Int,
            let tx = (stats["tx"] as? [String: Any])?["bytes"] as? Int
        else { throw TopologyError(message: "no counters for \(interface)") }
        return (UInt64(rx), UInt64(tx))
    }

    /// Every interface's byte counters in the site namespace, read from `/sys/class/net/*/statistics` there.
    public func sysfsCounters() throws -> [String: (rx: UInt64, tx: UInt64)] {
        let out = try run(in: site, [
            "/bin/sh", "-c",
            "for i in /sys/class/net/*; do echo \"${i##*/} $(cat $i/statistics/rx_bytes) $(cat $i/statistics/tx_bytes)\"; done",
        ])
        var result: [String: (rx: UInt64, tx: UInt64)] = [:]
        for line in out.split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count == 3, let rx = UInt64(f[1]), let tx = UInt64(f[2]) { result[String(f[0])] = (rx, tx) }
        }
        return result
    }

    /// Whether an interface exists in the site namespace.
    public func exists(_ interface: String) -> Bool {
        (try? sh(["/usr/sbin/ip", "-n", site, "link", "show", "dev", interface])) != nil
    }

    /// Ends every background process by PID, deletes the namespaces (their interfaces go with them) and the
    /// temp directory. Safe to call twice.
    public func destroy() {
        let children: [SpawnedProcess] = lock.withLock {
            let c = background
            background.removeAll()
            return c
        }
        for child in children { child.terminate(grace: .seconds(2)) }
        let first = lock.withLock {
            defer { destroyed = true }
            return !destroyed
        }
        guard first else { return }
        for ns in [site, carrier, mainNet] {
            _ = try? sh(["/usr/sbin/ip", "netns", "del", ns], check: false)
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { destroy() }
}

/// Whether process `pid` is alive (zombies count as gone).
public func processAlive(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return false }
    return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
}

/// The stand-in pppd (`Tests/OOBTestSupport/Fixtures/fake-pppd`, this machine has no PPP driver): it creates
/// the PPP interface as a veth into the carrier namespace and prints what pppd prints. See its header for the
/// `FAKE_PPPD_*` environment it obeys.
public let fakePPPDPath: String = {
    let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    return here.appendingPathComponent("Fixtures/fake-pppd").path
}()
