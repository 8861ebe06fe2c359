import Foundation
import Spawn
import Logging

/// The few things the link reads from and writes to the kernel's network state, through iproute2's `ip`
/// (JSON output, `ip -j`) and /proc/sys. Every writer here is undone by ``Undo``.
struct NetworkState: Sendable {
    var ip: String

    // MARK: - Reading

    /// An interface's IPv4 addresses with prefix length and point-to-point peer, from `ip -j addr show`.
    struct Address: Sendable, Hashable {
        var address: String
        var prefixLength: Int
        var peer: String?
    }

    /// Whether the interface exists.
    func interfaceExists(_ name: String) -> Bool {
        FileManager.default.fileExists(atPath: "/sys/class/net/\(name)")
    }

    /// Whether the interface is administratively up (IFF_UP).
    func isUp(_ name: String) -> Bool {
        guard let text = try? String(contentsOfFile: "/sys/class/net/\(name)/flags", encoding: .utf8),
            let flags = UInt32(text.trimmingCharacters(in: .whitespacesAndNewlines).dropFirst(2), radix: 16)
        else { return false }
        return flags & 1 != 0
    }

    /// IPv4 addresses of `name`; empty if it has none or does not exist.
    func ipv4Addresses(_ name: String) -> [Address] {
        guard interfaceExists(name), let r = try? Command.run(ip, ["-j", "-4", "addr", "show", "dev", name]),
            r.status == 0, let json = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]]
        else { return [] }
        var result: [Address] = []
        for link in json {
            for info in link["addr_info"] as? [[String: Any]] ?? [] {
                guard info["family"] as? String == "inet", let local = info["local"] as? String,
                    let prefix = info["prefixlen"] as? Int
                else { continue }
                result.append(Address(address: local, prefixLength: prefix, peer: info["address"] as? String))
            }
        }
        return result
    }

    /// The interface a packet to `destination` from `source` leaves through (`ip -j route get`), with its
    /// gateway; nil when there is no route.
    func routeGet(_ destination: String, from source: String?, oif: String?) -> (device: String, gateway: String?)? {
        var args = ["-j", "route", "get", destination]
        if let source { args += ["from", source] }
        if let oif { args += ["oif", oif] }
        guard let r = try? Command.run(ip, args), r.status == 0,
            let json = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]],
            let first = json.first, let dev = first["dev"] as? String
        else { return nil }
        return (dev, first["gateway"] as? String)
    }

    /// Whether any rule already has `priority`.
    func ruleExists(priority: Int) -> Bool {
        guard let r = try? Command.run(ip, ["-j", "rule", "show"]), r.status == 0,
            let json = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]]
        else { return false }
        return json.contains { ($0["priority"] as? Int) == priority }
    }

    /// Whether routing table `table` holds any route.
    func tableHasRoutes(_ table: Int) -> Bool {
        guard let r = try? Command.run(ip, ["-j", "route", "show", "table", "\(table)"]), r.status == 0,
            let json = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [Any]
        else { return false }
        return !json.isEmpty
    }

    /// The byte and packet counters of an interface (/sys/class/net/IF/statistics).
    static func counters(_ name: String) -> InterfaceCounters? {
        func read(_ f: String) -> UInt64? {
            (try? String(contentsOfFile: "/sys/class/net/\(name)/statistics/\(f)", encoding: .utf8))
                .flatMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        guard let rb = read("rx_bytes"), let tb = read("tx_bytes"), let rp = read("rx_packets"),
            let tp = read("tx_packets")
        else { return nil }
        return InterfaceCounters(rxBytes: rb, txBytes: tb, rxPackets: rp, txPackets: tp)
    }

    static func readSysctl(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func writeSysctl(_ path: String, _ value: String) throws {
        if case .failure(let e) = system_writeProcFile(path, value) {
            throw CellularLinkError(code: .commandFailed, message: "cannot write \(value) to \(path)", underlying: e)
        }
    }

    // MARK: - Errors that mean "already gone"

    static func isAlreadyGone(_ output: CommandOutput) -> Bool {
        let e = output.stderr
        return output.status == 0 || e.contains("No such file or directory") || e.contains("Cannot find device")
            || e.contains("No such process") || e.contains("Cannot assign requested address")
            || e.contains("does not exist")
    }
}

/// Byte and packet counters of one interface.
public struct InterfaceCounters: Sendable, Hashable, Codable {
    /// Bytes received.
    public var rxBytes: UInt64
    /// Bytes sent.
    public var txBytes: UInt64
    /// Packets received.
    public var rxPackets: UInt64
    /// Packets sent.
    public var txPackets: UInt64

    /// Reads the counters of `interface` from /sys/class/net; nil if it does not exist.
    /// - Parameter interface: the interface name.
    public static func read(_ interface: String) -> InterfaceCounters? { NetworkState.counters(interface) }
}

/// Undoing journal entries, newest first; every step tolerates "already gone".
enum Undo {
    static func all(_ entries: [LinkJournal.Entry], ip: String = "/usr/sbin/ip", grace: Duration = .seconds(5), logger: Logger) async {
        // Processes first (they may hold interfaces), then the rest in reverse order of creation.
        for entry in entries.reversed() {
            if case .process = entry { await one(entry, ip: ip, grace: grace, logger: logger) }
        }
        for entry in entries.reversed() {
            if case .process = entry { continue }
            await one(entry, ip: ip, grace: grace, logger: logger)
        }
    }

    static func one(_ entry: LinkJournal.Entry, ip: String, grace: Duration, logger: Logger) async {
        func run(_ args: [String]) {
            do {
                let r = try Command.run(ip, args)
                if !NetworkState.isAlreadyGone(r) {
                    logger.warning(
                        "could not undo a link change",
                        metadata: ["link.command": "ip \(args.joined(separator: " "))", "error": "\(r.stderr)"])
                }
            } catch {
                logger.warning("could not run ip", metadata: ["error": "\(error)"])
            }
        }
        logger.debug("undoing", metadata: ["link.entry": "\(entry)"])
        switch entry {
        case .process(let pid, let startTime, _):
            await ProcessIdentity.terminate(pid: pid, startTime: startTime, grace: grace)
        case .rule(let priority, let from, let table):
            run(["rule", "del", "priority", "\(priority)", "from", from, "lookup", "\(table)"])
        case .route(let table, let destination, let interface, let gateway):
            var args = ["route", "del", destination, "dev", interface]
            if let gateway { args += ["via", gateway] }
            run(args + ["table", "\(table)"])
        case .sysctl(let path, let oldValue):
            if NetworkState.readSysctl(path) != nil, NetworkState.readSysctl(path) != oldValue {
                do { try NetworkState.writeSysctl(path, oldValue) } catch {
                    logger.warning("could not restore a sysctl", metadata: ["link.sysctl": "\(path)", "error": "\(error)"])
                }
            }
        case .address(let interface, let cidr, let peer):
            var args = ["addr", "del", cidr, "dev", interface]
            if let peer { args += ["peer", peer] }
            if FileManager.default.fileExists(atPath: "/sys/class/net/\(interface)") { run(args) }
        case .linkUp(let interface):
            if FileManager.default.fileExists(atPath: "/sys/class/net/\(interface)") {
                run(["link", "set", "dev", interface, "down"])
            }
        case .childInterface(let interface):
            if FileManager.default.fileExists(atPath: "/sys/class/net/\(interface)") {
                run(["link", "del", "dev", interface])
            }
        }
    }
}
