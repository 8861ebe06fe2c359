import Foundation
import Spawn
import Synchronization
@testable import CellularLink

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// Runs a program to completion; returns status and output.
@discardableResult
func sh(_ args: [String], check: Bool = true) throws -> String {
    // posix_spawn (Foundation's Process hangs in waitpid when a child such as dnsmasq closes inherited descriptors).
    let r = try SpawnedProcess.run(args[0], Array(args.dropFirst()), timeout: .seconds(120))
    if check && !r.status.succeeded {
        throw TopologyError(message: "\(args.joined(separator: " ")) failed: \(r.stderrText)")
    }
    return r.stdoutText
}

struct TopologyError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// The test world, all inside namespaces this test creates (unique random suffix) and deletes:
///
///     site ── m<id> ──── mp<id> ── mainnet      (the main uplink: mainnet has no route to the jump host)
///       ├─── c<id> ───── cp<id> ── carrier      (Ethernet-mode "stick": 198.18.2.0/24, dnsmasq DHCP+DNS)
///       └─── p<id> ╌╌╌╌╌ pp<id> ── carrier      (made by the fake pppd: 198.18.3.2 ⇄ 198.18.3.1)
///                                   └ lo: 198.19.0.1 = the jump host (TCP echo on 7007)
///
/// The site's default route points at the main uplink, so anything not pinned to the cellular interface
/// goes there and dies. Addresses are from 198.18.0.0/15 and exist only inside these namespaces.
final class NamespaceTopology {
    static var canRun: Bool { getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") }

    let id: String
    let site: String
    let carrier: String
    let mainNet: String
    var mainIf: String { "m\(id)" }
    var cellIf: String { "c\(id)" }
    var pppIf: String { "p\(id)" }
    let jumpHost = "198.19.0.1"
    let echoPort = 7007
    let jumpName = "jump.oob.test"
    let directory: String
    private var background: [SpawnedProcess] = []

    init() throws {
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
            // Started through a shell and detached from our pipes: Foundation's Process must not watch
            // them (dnsmasq closes every inherited fd, which Foundation takes for an exit and then blocks in
            // waitpid, hanging every later Process).
            background.append(try spawnDetached(carrier, [
                "/usr/bin/socat", "TCP-LISTEN:\(echoPort),bind=\(jumpHost),reuseaddr,fork", "EXEC:/bin/cat",
            ]))
            background.append(try spawnDetached(carrier, [
                "/usr/sbin/dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--bind-dynamic",
                "--interface=cp\(id)", "--interface=pp\(id)", "--except-interface=lo",
                "--dhcp-range=198.18.2.50,198.18.2.60,255.255.255.0,1h", "--dhcp-option=3,198.18.2.1",
                "--dhcp-option=6,198.18.2.1", "--address=/\(jumpName)/\(jumpHost)",
                "--dhcp-leasefile=\(directory)/leases", "--pid-file=", "--user=root",
                "--log-facility=\(directory)/dnsmasq.log",
            ]))
            try waitForListener()
        } catch {
            destroy()
            throw error
        }
    }

    func ip(_ ns: String, _ args: String...) throws {
        try sh(["/usr/sbin/ip", "-n", ns] + args)
    }

    /// Starts `args` in namespace `ns` in the background with /dev/null for its output.
    private func spawnDetached(_ ns: String, _ args: [String]) throws -> SpawnedProcess {
        try SpawnedProcess("/usr/sbin/ip", ["netns", "exec", ns] + args)
    }

    private func waitForListener() throws {
        for _ in 0..<100 {
            let out = try sh(["/usr/sbin/ip", "netns", "exec", carrier, "/usr/bin/ss", "-ltn"], check: false)
            if out.contains("\(jumpHost):\(echoPort)") { return }
            usleep(50_000)
        }
        throw TopologyError(message: "the echo listener in \(carrier) did not start")
    }

    /// Everything a session must leave as it found it: routes of every table, rules, addresses, link states,
    /// and the sysctls the link may change.
    func snapshot() throws -> String {
        var s = try sh(["/usr/sbin/ip", "-n", site, "route", "show", "table", "all"])
        s += try sh(["/usr/sbin/ip", "-n", site, "rule", "show"])
        s += try sh(["/usr/sbin/ip", "-n", site, "-br", "addr", "show"])
        s += try sh(["/usr/sbin/ip", "-n", site, "-br", "link", "show"]).split(separator: "\n")
            .map { $0.split(separator: " ", omittingEmptySubsequences: true).prefix(2).joined(separator: " ") }
            .joined(separator: "\n")
        s += try sh([
            "/usr/sbin/ip", "netns", "exec", site, "/bin/sh", "-c",
            "grep -H . /proc/sys/net/ipv4/conf/*/rp_filter /proc/sys/net/ipv6/conf/*/disable_ipv6",
        ])
        return s
    }

    /// The main routing table alone.
    func mainTable() throws -> String { try sh(["/usr/sbin/ip", "-n", site, "route", "show", "table", "main"]) }

    /// Byte counters of an interface in the site namespace.
    func counters(_ interface: String) throws -> (rx: UInt64, tx: UInt64) {
        let out = try sh(["/usr/sbin/ip", "-n", site, "-j", "-s", "link", "show", "dev", interface])
        guard let json = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]],
            let stats = json.first?["stats64"] as? [String: Any],
            let rx = (stats["rx"] as? [String: Any])?["bytes"] as? Int,
            let tx = (stats["tx"] as? [String: Any])?["bytes"] as? Int
        else { throw TopologyError(message: "no counters for \(interface)") }
        return (UInt64(rx), UInt64(tx))
    }

    /// Whether an interface exists in the site namespace.
    func exists(_ interface: String) -> Bool {
        (try? sh(["/usr/sbin/ip", "-n", site, "link", "show", "dev", interface])) != nil
    }

    func destroy() {
        for child in background { child.terminate(grace: .seconds(2)) }
        background.removeAll()
        for ns in [site, carrier, mainNet] {
            _ = try? sh(["/usr/sbin/ip", "netns", "del", ns], check: false)
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { destroy() }
}

/// The `cellular-link-probe` executable run inside the site namespace: commands in, JSON lines out.
final class LinkProbe {
    static var executablePath: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        var dir = (exe as NSString).deletingLastPathComponent
        // The test bundle may sit in a *.xctest directory.
        if dir.hasSuffix(".xctest") { dir = (dir as NSString).deletingLastPathComponent }
        return dir + "/cellular-link-probe"
    }

    private let process: SpawnedProcess
    private let lines = LineQueue()
    let pid: Int32
    /// `{"event": …}` lines seen so far.
    var events: [[String: Any]] { lines.events() }

    init(topology: NamespaceTopology, configuration: [String: Any], environment: [String: String] = [:]) throws {
        let path = Self.executablePath
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TopologyError(message: "\(path) is missing: run `swift build --build-tests` first")
        }
        let configPath = topology.directory + "/probe-\(UInt32.random(in: 0...UInt32.max)).json"
        try JSONSerialization.data(withJSONObject: configuration).write(to: URL(fileURLWithPath: configPath))
        let logPath = topology.directory + "/probe.log"
        let p = try SpawnedProcess(
            "/usr/sbin/ip", ["netns", "exec", topology.site, path, configPath],
            options: SpawnOptions(stdin: .pipe, stdout: .pipe, stderr: .file(logPath), environmentChanges: environment.mapValues { $0 }))
        process = p
        pid = p.pid
        let readFD = p.stdout ?? -1
        let queue = lines
        let t = Thread {
            var pending: [UInt8] = []
            while case .success(let d) = system_read(readFD, 4096), !d.isEmpty {
                pending += d
                while let nl = pending.firstIndex(of: 0x0A) {
                    queue.push(String(decoding: pending[..<nl], as: UTF8.self))
                    pending.removeSubrange(...nl)
                }
            }
            withExtendedLifetime(p) {}
            queue.close()
        }
        t.start()
        let ready = try next(timeout: 30)
        guard ready["ready"] as? Bool == true else { throw TopologyError(message: "probe not ready: \(ready)") }
    }

    /// Sends one command and returns its answer (events are set aside).
    @discardableResult
    func send(_ command: String, timeout: Double = 60) throws -> [String: Any] {
        process.write(Array((command + "\n").utf8))
        return try next(timeout: timeout)
    }

    private func next(timeout: Double) throws -> [String: Any] {
        guard let line = lines.pop(timeout: timeout) else {
            throw TopologyError(message: "probe did not answer within \(timeout) s")
        }
        guard let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw TopologyError(message: "probe printed \(line)")
        }
        return obj
    }

    /// Waits for a `{"event": …}` line.
    func waitForEvent(timeout: Double) -> [String: Any]? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let e = events.first { return e }
            usleep(50_000)
        }
        return nil
    }

    func sigkill() {
        process.signal(SIGKILL)
        process.wait()
    }

    func quit() {
        if process.isRunning {
            _ = try? send("quit", timeout: 10)
            process.closeStdin()
            if process.wait(timeout: .seconds(30)) == nil { process.terminate(grace: .seconds(2)) }
        }
    }

    deinit {
        process.signal(SIGKILL)
        process.wait()
    }
}

/// Lines from the probe: answers in order, events aside.
final class LineQueue: Sendable {
    private let state = Mutex<(answers: [String], events: [String], closed: Bool)>(([], [], false))

    func push(_ line: String) {
        state.withLock {
            if line.hasPrefix("{\"event\"") { $0.events.append(line) } else { $0.answers.append(line) }
        }
    }

    func close() { state.withLock { $0.closed = true } }

    func pop(timeout: Double) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let line = state.withLock { s -> String? in s.answers.isEmpty ? nil : s.answers.removeFirst() }
            if let line { return line }
            if state.withLock({ $0.closed && $0.answers.isEmpty }) { return nil }
            usleep(20_000)
        }
        return nil
    }

    func events() -> [[String: Any]] {
        state.withLock { $0.events }.compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }
}

/// Whether process `pid` is alive (zombies count as gone).
func processAlive(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return false }
    return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
}

/// The fake pppd of Fixtures/, next to this source file.
let fakePPPDPath: String = {
    let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    return here.appendingPathComponent("Fixtures/fake-pppd").path
}()
