import ATModem
import ArgumentParser
import Foundation
import Logging
import PowerControl
import TOMLKit

/// `oob-agent power list` / `oob-agent power NAME cycle|on|off`: the relays of `[[power]]`.
///
/// The contract routes actions through the running daemon's control socket, so the daemon's per-outlet queue and
/// state are the only ones. That request does not exist yet (the control socket belongs to the agent); until it
/// does, this command acts locally when no daemon runs and refuses (exit 1, saying so) when one does. Local actions
/// use the same `PowerController` the daemon uses: same state file, action log and per-outlet lock files, so a
/// local action and the daemon can never drive one outlet at once.
struct PowerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "power",
        abstract: "List the [[power]] outlets, or cycle / switch one on or off.",
        discussion: """
            oob-agent power list [--json] [--probe]
            oob-agent power NAME cycle|on|off
            """
    )

    @Option(name: .long, help: "The configuration file.")
    var config = "/etc/oob-agent/agent.toml"

    @Flag(name: .long, help: "list: print JSON.")
    var json = false

    @Flag(name: .long, help: "list: also check each outlet's hardware (switches nothing).")
    var probe = false

    @Argument(help: "`list`, or an outlet name followed by cycle, on or off.")
    var words: [String] = []

    @Flag(name: .long, help: "Also print the action log lines (they always go to <state dir>/power-actions.log).")
    var verbose = false

    func run() async throws {
        // Usage errors exit 2 (the contract), not ArgumentParser's 64.
        let valid: Bool
        switch words.count {
        case 1: valid = words[0] == "list"
        case 2: valid = PowerAction(rawValue: words[1].lowercased()) != nil
        default: valid = false
        }
        guard valid else {
            FileHandle.standardError.write(
                Data("oob-agent power: expected `power list` or `power NAME cycle|on|off`\n".utf8))
            throw ExitCode(2)
        }
        let settings: PowerSettings
        do {
            settings = try PowerSettings.load(path: config)
        } catch {
            FileHandle.standardError.write(Data("oob-agent power: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let logger =
            verbose
            ? Logger(label: "oob-agent.power") : Logger(label: "oob-agent.power") { _ in SwiftLogNoOpLogHandler() }
        let client: any PowerClient =
            settings.daemonRunning
            ? DaemonPowerClient(socket: settings.controlSocket)
            : LocalPowerClient(settings: settings, logger: logger)
        do {
            if words[0] == "list" {
                try await list(client)
            } else {
                let action = PowerAction(rawValue: words[1].lowercased())!
                let result = try await client.perform(action, on: words[0], requestedBy: .localUser())
                print("POWER \(result.message)")
            }
        } catch let error as PowerError {
            print("FAILED: \(error)")
            throw ExitCode(error.code == .unknownOutlet || error.code == .configuration ? 2 : 1)
        }
    }

    private func list(_ client: any PowerClient) async throws {
        let outlets = try await client.list()
        var probes: [String: Result<PowerProbeResult, PowerError>] = [:]
        if probe {
            for (name, result) in try await client.probeAll() { probes[name] = result }
        }
        if json {
            let rows = outlets.map { o in
                var probeText: String? = nil
                switch probes[o.name] {
                case .success(let p): probeText = "ok: \(p.detail)"
                case .failure(let e): probeText = "error: \(e)"
                case nil: break
                }
                return PowerListRow(
                    name: o.name, driver: o.summary, state: o.state.rawValue, changed_at: o.changedAt,
                    changed_by: o.changedBy, cycle: o.cycleMode.rawValue,
                    off_time_ms: o.offTime.components.seconds * 1000 + o.offTime.components.attoseconds / 1_000_000_000_000_000,
                    without_session: o.allowWithoutSession, probe: probeText)
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(rows), as: UTF8.self))
            return
        }
        if outlets.isEmpty {
            print("No [[power]] outlets in \(config).")
            return
        }
        for o in outlets {
            var line = "\(o.name)  \(o.state)  \(o.summary)  cycle: \(o.cycleMode.rawValue)"
            if let at = o.changedAt { line += "  (since \(at) by \(o.changedBy ?? "?"))" }
            print(line)
            switch probes[o.name] {
            case .success(let p): print("    check: ok, \(p.detail)")
            case .failure(let e): print("    check: FAILED, \(e)")
            case nil: break
            }
        }
    }
}

// MARK: - The seam between the command line and whoever owns the outlets

/// What `oob-agent power` needs from the outlets' owner: the daemon (through its control socket) or this process.
protocol PowerClient: Sendable {
    func list() async throws -> [PowerOutletStatus]
    func perform(_ action: PowerAction, on name: String, requestedBy: PowerRequester) async throws -> PowerActionResult
    func probeAll() async throws -> [(outlet: String, result: Result<PowerProbeResult, PowerError>)]
}

/// No daemon runs: act here, with the daemon's own controller (same state file, log and lock files).
struct LocalPowerClient: PowerClient {
    let settings: PowerSettings
    let logger: Logger

    private func controller() throws -> PowerController {
        try PowerController(
            configurations: settings.outlets, stateDirectory: settings.stateDirectory, logger: logger,
            makeDriver: PowerSettings.makeDriver)
    }

    func list() async throws -> [PowerOutletStatus] { try await controller().list() }

    func perform(_ action: PowerAction, on name: String, requestedBy: PowerRequester) async throws -> PowerActionResult {
        try await controller().perform(action, on: name, requestedBy: requestedBy)
    }

    func probeAll() async throws -> [(outlet: String, result: Result<PowerProbeResult, PowerError>)] {
        try await controller().probeAll()
    }
}

/// The daemon runs: its control socket must carry the request. NOT IMPLEMENTED: the control socket and its
/// protocol belong to the agent (branch `agent`); a `power` request (list / perform with the requester) must be
/// added there, calling the daemon's `PowerController.list()` / `perform(_:on:requestedBy:)`.
struct DaemonPowerClient: PowerClient {
    let socket: String

    private var missing: PowerError {
        PowerError(
            code: .unsupported, outlet: nil,
            message: "the daemon is running (control socket \(socket)) and owns the outlets, but power requests "
                + "through the control socket are not implemented yet; use the SMS POWER command, or stop the daemon "
                + "to act locally")
    }

    func list() async throws -> [PowerOutletStatus] { throw missing }
    func perform(_ action: PowerAction, on name: String, requestedBy: PowerRequester) async throws -> PowerActionResult {
        throw missing
    }
    func probeAll() async throws -> [(outlet: String, result: Result<PowerProbeResult, PowerError>)] { throw missing }
}

// MARK: - Configuration

/// The parts of agent.toml that power needs: `[[power]]`, `[state] dir` and `control_socket`.
/// (Read here until the agent's configuration loader exists; then it should hand over its parsed entries.)
struct PowerSettings: Sendable {
    var outlets: [PowerOutletConfiguration]
    var stateDirectory: String
    var controlSocket: String

    /// Whether a daemon listens on the control socket (the socket file exists).
    var daemonRunning: Bool {
        var st = stat()
        return stat(controlSocket, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK
    }

    static func load(path: String) throws(PowerError) -> PowerSettings {
        func bad(_ message: String) -> PowerError { PowerError(code: .configuration, outlet: nil, message: "\(path): \(message)") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw bad("cannot read the configuration file; pass --config PATH")
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: String(decoding: data, as: UTF8.self))
        } catch {
            throw bad("not valid TOML: \(error)")
        }
        var outlets: [PowerOutletConfiguration] = []
        if let power = table["power"] {
            guard let array = power.array else { throw bad("power must be an array of tables: write [[power]]") }
            for (i, element) in array.enumerated() {
                guard let entry = element.table else { throw bad("[[power]] #\(i + 1) is not a table") }
                var values: [String: PowerConfigValue] = [:]
                for (key, value) in entry {
                    if let s = value.string {
                        values[key] = .string(s)
                    } else if let n = value.int {
                        values[key] = .int(n)
                    } else if let b = value.bool {
                        values[key] = .bool(b)
                    } else if let a = value.array {
                        values[key] = .strings(a.compactMap { $0.string })
                    } else {
                        throw bad("[[power]] #\(i + 1) \(key): unsupported value type")
                    }
                }
                outlets.append(try PowerOutletConfiguration.parse(index: i + 1, table: values))
            }
        }
        let state = table["state"]?.table
        return PowerSettings(
            outlets: outlets, stateDirectory: state?["dir"]?.string ?? "/var/lib/oob-agent",
            controlSocket: state?["control_socket"]?.string ?? "/run/oob-agent/agent.sock")
    }

    /// Builds a driver after resolving a device match.
    static func makeDriver(_ c: PowerOutletConfiguration) throws(PowerError) -> any PowerDriver {
        let r = try resolved(c)
        return try PowerDrivers.make(r)
    }

    /// A serial-relay `device` may be a device match (`usb:0403:6001,serial=…`): resolve it now.
    static func resolved(_ c: PowerOutletConfiguration) throws(PowerError) -> PowerOutletConfiguration {
        guard c.driver == .serialRelay, let device = c.device, !device.hasPrefix("/dev/tty"), !device.hasPrefix("/dev/pts/")
        else { return c }
        do {
            let match = try DeviceMatch.parse(device)
            if match.isLiteral { return c }
            let resolution = try DeviceResolver.resolve(match, for: .serialPort, in: try DeviceDiscovery.scan())
            var r = c
            r.device = resolution.path
            return r
        } catch {
            throw PowerError(code: .notFound, outlet: c.name, message: "\(c.name): device \"\(device)\": \(error)")
        }
    }
}

/// One row of `power list --json`; every key is always present (null when unknown).
private struct PowerListRow: Encodable {
    var name: String
    var driver: String
    var state: String
    var changed_at: String?
    var changed_by: String?
    var cycle: String
    var off_time_ms: Int64
    var without_session: Bool
    var probe: String?

    private enum CodingKeys: String, CodingKey {
        case name, driver, state, changed_at, changed_by, cycle, off_time_ms, without_session, probe
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(driver, forKey: .driver)
        try c.encode(state, forKey: .state)
        try c.encode(changed_at, forKey: .changed_at)
        try c.encode(changed_by, forKey: .changed_by)
        try c.encode(cycle, forKey: .cycle)
        try c.encode(off_time_ms, forKey: .off_time_ms)
        try c.encode(without_session, forKey: .without_session)
        try c.encode(probe, forKey: .probe)
    }
}
