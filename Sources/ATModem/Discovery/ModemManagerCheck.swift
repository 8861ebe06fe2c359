import SerialIO

/// A process holding a port open (pid and name), as `DeviceHolders` finds it in /proc.
public struct PortHolder: Hashable, Sendable, CustomStringConvertible {
    /// The process id.
    public var pid: Int32
    /// The process name (/proc/PID/comm).
    public var name: String
    /// Creates a holder.
    public init(pid: Int32, name: String) {
        self.pid = pid
        self.name = name
    }
    /// Whether it is ModemManager.
    public var isModemManager: Bool { name == "ModemManager" }
    public var description: String { "\(name) (pid \(pid))" }
}

/// One finding of the ModemManager check, in the shape `oob-agent check` prints.
public struct ModemManagerFinding: Hashable, Sendable, CustomStringConvertible {
    /// How bad it is.
    public enum Severity: String, Hashable, Sendable {
        case ok, warning, problem
    }
    /// How bad it is.
    public var severity: Severity
    /// What was found.
    public var message: String
    /// What to do, for warnings and problems.
    public var fix: String?

    public var description: String {
        fix.map { "\(message); fix: \($0)" } ?? message
    }
}

/// Checks that ModemManager is not in the way of the modem: not running, or running but keeping off the port.
///
/// ModemManager probes every new serial port with AT commands and keeps the modem open; our exclusive open then
/// fails, or worse, both talk to the modem at once. `etc/udev/90-oob-agent.rules` sets `ID_MM_DEVICE_IGNORE=1` on the
/// configured modem so ModemManager leaves it alone.
public enum ModemManagerCheck {
    /// The fix text shared by every finding.
    public static let fixText =
        "install etc/udev/90-oob-agent.rules as /etc/udev/rules.d/90-oob-agent.rules with the modem's vendor and "
        + "product id (it sets ID_MM_DEVICE_IGNORE=1), run `udevadm control --reload && udevadm trigger`, then "
        + "`systemctl restart ModemManager`; or, if nothing else needs it, `systemctl disable --now ModemManager`"

    /// Gathers the facts (running ModemManager processes, holders of the port) and evaluates them.
    /// - Parameters:
    ///   - modemPath: the resolved modem port.
    ///   - device: the discovered device at that port, when discovery knows it (for `ID_MM_DEVICE_IGNORE`).
    public static func run(modemPath: String, device: DiscoveredDevice?) -> [ModemManagerFinding] {
        evaluate(
            modemPath: modemPath, modemManagerPIDs: modemManagerPIDs(), holders: DeviceHolders.find(path: modemPath).map { PortHolder(pid: $0.pid, name: $0.name) },
            device: device)
    }

    /// Evaluates the facts (pure).
    /// - Parameters:
    ///   - modemPath: the modem port.
    ///   - modemManagerPIDs: pids of running ModemManager processes.
    ///   - holders: processes other than this one that hold the port open.
    ///   - device: the discovered device at the port, if known.
    public static func evaluate(
        modemPath: String, modemManagerPIDs: [Int32], holders: [PortHolder], device: DiscoveredDevice?
    ) -> [ModemManagerFinding] {
        var findings: [ModemManagerFinding] = []
        if let mm = holders.first(where: \.isModemManager) {
            findings.append(
                ModemManagerFinding(
                    severity: .problem, message: "ModemManager (pid \(mm.pid)) holds the modem port \(modemPath)",
                    fix: fixText))
        }
        for other in holders where !other.isModemManager {
            findings.append(
                ModemManagerFinding(
                    severity: .problem, message: "\(other) holds the modem port \(modemPath)",
                    fix: "stop that process (or the other oob-agent) before starting the daemon"))
        }
        if modemManagerPIDs.isEmpty {
            findings.append(ModemManagerFinding(severity: .ok, message: "ModemManager is not running"))
            return findings
        }
        if holders.contains(where: \.isModemManager) { return findings }
        let pids = modemManagerPIDs.map(String.init).joined(separator: ", ")
        if let device {
            if device.ignoredByModemManager {
                findings.append(
                    ModemManagerFinding(
                        severity: .ok,
                        message: "ModemManager is running (pid \(pids)) and the modem is marked ID_MM_DEVICE_IGNORE"))
            } else {
                findings.append(
                    ModemManagerFinding(
                        severity: .warning,
                        message: "ModemManager is running (pid \(pids)) and the modem \(modemPath) is not marked "
                            + "ID_MM_DEVICE_IGNORE: it will take the port when it next probes the modem",
                        fix: fixText))
            }
        } else {
            findings.append(
                ModemManagerFinding(
                    severity: .warning,
                    message: "ModemManager is running (pid \(pids)); \(modemPath) is not a USB device discovery "
                        + "knows, so whether ModemManager ignores it cannot be told",
                    fix: fixText))
        }
        return findings
    }

    /// Pids of processes named `ModemManager` (from /proc/PID/comm).
    public static func modemManagerPIDs() -> [Int32] {
        discovery_listDirectory("/proc").compactMap { Int32($0) }.filter { pid in
            discovery_readFirstLine("/proc/\(pid)/comm") == "ModemManager"
        }.sorted()
    }
}
