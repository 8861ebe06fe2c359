import ATModem
import ArgumentParser
import Foundation
import Logging
import OOBAgent
import PowerControl

#if canImport(Glibc)
import Glibc
#endif

/// `oob-agent power list` / `oob-agent power NAME cycle|on|off`: the relays of `[[power]]`.
///
/// When a daemon listens on the control socket, actions go through it (the contract), so the daemon's per-outlet
/// queue and state are the only ones. When none does, this command acts locally with the same `PowerController`
/// the daemon uses: same state file, action log and per-outlet lock files, so a local action and a daemon can never
/// drive one outlet at once.
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
        let local = LocalPowerClient(settings: settings, logger: logger)
        let client: any PowerClient =
            ControlSocketLine.socketFileExists(settings.controlSocket)
            ? DaemonPowerClient(socket: settings.controlSocket, local: local) : local
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

/// The daemon runs: the request goes through its control socket, in the agent's protocol (one JSON object per line
/// each way, one request per connection): `{"command":"power","outlet":"router","action":"cycle"}` →
/// `{"ok":true,"message":"POWER router cycled"}` or `{"ok":false,"error":"…"}`. The daemon's side (AgentCore calling
/// `PowerController.perform`) belongs to the agent. `list` reads the state file directly (read-only, safe while the
/// daemon runs); probing hardware the daemon owns is refused.
struct DaemonPowerClient: PowerClient {
    let socket: String
    let local: LocalPowerClient

    func list() async throws -> [PowerOutletStatus] { try await local.list() }

    func perform(_ action: PowerAction, on name: String, requestedBy: PowerRequester) async throws -> PowerActionResult {
        let request = "{\"command\":\"power\",\"outlet\":\(Self.jsonString(name)),\"action\":\"\(action.rawValue)\","
            + "\"by\":\(Self.jsonString(requestedBy.identity))}\n"
        // A cycle can take off_time plus the driver's deadlines: wait long enough for the daemon's answer.
        let wait = (local.settings.outlets.first { $0.name.lowercased() == name.lowercased() }?.offTime ?? .zero) + .seconds(90)
        let exchanged = Result { () throws(PowerError) -> String in
            try ControlSocketLine.exchange(request, socket: socket, timeout: wait)
        }
        let line: String
        switch exchanged {
        case .success(let answer):
            line = answer
        case .failure(let error):
            // A socket file nobody listens on: a daemon that died. The outlets are this process's to drive.
            guard error.code == .notFound else { throw error }
            return try await local.perform(action, on: name, requestedBy: requestedBy)
        }
        struct Response: Decodable {
            var ok: Bool
            var message: String?
            var error: String?
        }
        guard let response = try? JSONDecoder().decode(Response.self, from: Data(line.utf8)) else {
            throw PowerError(
                code: .io, outlet: name, message: "the daemon's answer on \(socket) is not understood: \(line.prefix(200))")
        }
        guard response.ok else {
            throw PowerError(code: .io, outlet: name, message: response.error ?? "the daemon refused the request")
        }
        var message = response.message ?? "\(name) \(action == .cycle ? "cycled" : action.rawValue)"
        if message.hasPrefix("POWER ") { message.removeFirst(6) }
        let state: PowerState = action == .off ? .off : .on
        return PowerActionResult(outlet: name, action: action, state: state, message: message)
    }

    func probeAll() async throws -> [(outlet: String, result: Result<PowerProbeResult, PowerError>)] {
        throw PowerError(
            code: .unsupported, outlet: nil,
            message: "the daemon's control socket \(socket) exists: the daemon owns the outlets' hardware; use "
                + "`oob-agent check`, or stop the daemon (or remove a stale socket) to probe from here")
    }

    static func jsonString(_ s: String) -> String {
        let data = (try? JSONEncoder().encode(s)) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

/// One request line out, one answer line back, over a Unix stream socket.
enum ControlSocketLine {
    /// Whether a socket file is at `path` (a daemon's control socket, or one a dead daemon left).
    static func socketFileExists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK
    }

    static func connect(_ path: String) throws(PowerError) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw PowerError(code: .io, outlet: nil, message: "cannot create a socket") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw PowerError(code: .configuration, outlet: nil, message: "state.control_socket path is too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if rc != 0 {
            let err = errno
            close(fd)
            throw PowerError(
                code: err == ECONNREFUSED || err == ENOENT ? .notFound : .io, outlet: nil,
                message: "cannot reach the daemon on \(path) (\(String(cString: strerror(err)))); is it running?")
        }
        return fd
    }

    static func exchange(_ request: String, socket path: String, timeout: Duration) throws(PowerError) -> String {
        let fd = try connect(path)
        defer { close(fd) }
        let out = Array(request.utf8)
        var sent = 0
        while sent < out.count {
            let n = out[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw PowerError(code: .io, outlet: nil, message: "writing to \(path) failed") }
            sent += n
        }
        var received: [UInt8] = []
        let deadline = ContinuousClock.now + timeout
        while !received.contains(0x0A) {
            let left = deadline - ContinuousClock.now
            guard left > .zero else {
                throw PowerError(code: .timedOut, outlet: nil, message: "the daemon did not answer on \(path) in time")
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ms = Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)
            if poll(&pfd, 1, max(1, ms)) <= 0 { continue }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            received += buffer[0..<n]
        }
        let line = received.split(separator: 0x0A, omittingEmptySubsequences: true).first.map { Array($0) } ?? []
        guard !line.isEmpty else { throw PowerError(code: .io, outlet: nil, message: "the daemon closed \(path) without an answer") }
        return String(decoding: line, as: UTF8.self)
    }
}

// MARK: - Configuration

/// The parts of agent.toml that power needs: `[[power]]`, `[state] dir` and `control_socket`.
/// (Read here until the agent's configuration loader exists; then it should hand over its parsed entries.)
struct PowerSettings: Sendable {
    var outlets: [PowerOutletConfiguration]
    var stateDirectory: String
    var controlSocket: String

    /// Reads `[[power]]` and `[state]` through the shared `ConfigurationLoader` (validated as `oob-agent run`
    /// validates them; each `[[power]]` entry by `PowerOutletConfiguration.parse`).
    static func load(path: String) throws(PowerError) -> PowerSettings {
        guard FileManager.default.fileExists(atPath: path) else {
            throw PowerError(code: .configuration, outlet: nil, message: "\(path): cannot read the configuration file; pass --config PATH")
        }
        let sections: ConfigurationSections
        do {
            sections = try ConfigurationLoader.loadSections(path: path, needed: ["power", "state"])
        } catch let error as AgentError {
            throw PowerError(code: .configuration, outlet: nil, message: error.message)
        } catch {
            throw PowerError(code: .configuration, outlet: nil, message: "\(path): \(error)")
        }
        return PowerSettings(
            outlets: sections.power, stateDirectory: sections.state.dir, controlSocket: sections.state.controlSocket)
    }

    /// Builds a driver (a device match is resolved at each action).
    static func makeDriver(_ c: PowerOutletConfiguration) throws(PowerError) -> any PowerDriver {
        try AgentPower.makeDriver(c)
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
