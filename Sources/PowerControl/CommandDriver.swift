import Foundation
import Spawn

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// An outlet switched by a program: `command [args…] on|off|cycle` (a USB HID relay tool, a smart plug script).
///
/// The program gets `OOB_POWER_OUTLET`, `OOB_POWER_CHANNEL` (when set) and, for `cycle`, `OOB_POWER_OFF_TIME`
/// (seconds) in its environment. Exit status 0 is success; anything else fails with its output. A program that
/// runs past its timeout gets SIGTERM, then SIGKILL two seconds later. Output is captured (the last 4 KiB).
public struct CommandDriver: PowerDriver {
    /// The outlet's name.
    public let outlet: String
    /// Absolute path of the program.
    public let program: String
    /// Arguments before the verb.
    public let arguments: [String]
    /// Passed as `OOB_POWER_CHANNEL` when set.
    public let channel: Int?
    /// How long one run may take (a cycle gets `offTime` more).
    public let timeout: Duration

    /// Creates the driver; runs nothing.
    public init(outlet: String, program: String, arguments: [String] = [], channel: Int? = nil, timeout: Duration = .seconds(30)) {
        self.outlet = outlet
        self.program = program
        self.arguments = arguments
        self.channel = channel
        self.timeout = timeout
    }

    public var summary: String { "command \(([program] + arguments).joined(separator: " "))" }
    public var actionTimeout: Duration { timeout + .seconds(3) }

    public func on() async throws { _ = try await run("on") }
    public func off() async throws { _ = try await run("off") }

    /// Runs `program cycle` once: the program does the whole cycle (with `OOB_POWER_OFF_TIME`).
    public func cycle(offTime: Duration) async throws {
        _ = try await run("cycle", extraEnvironment: ["OOB_POWER_OFF_TIME": Self.seconds(offTime)], extraTime: offTime)
    }

    public func probe() async throws -> PowerProbeResult {
        guard power_exists(program) else {
            throw PowerError(
                code: .notFound, outlet: outlet,
                message: "\(outlet): the program \(program) does not exist; install it or fix [[power]] command")
        }
        guard power_isExecutable(program) else {
            throw PowerError(
                code: .notFound, outlet: outlet,
                message: "\(outlet): \(program) is not executable; chmod +x it or fix [[power]] command")
        }
        return PowerProbeResult(state: .unknown, detail: "\(program) is present and executable (not run by check)")
    }

    /// Runs the program with `verb`; returns its output.
    /// - Throws: `.notFound`, `.commandFailed` (exit status and output), `.timedOut`.
    func run(_ verb: String, extraEnvironment: [String: String] = [:], extraTime: Duration = .zero)
        async throws(PowerError) -> String
    {
        let me = self
        return try await runBlocking { () throws(PowerError) -> String in
            try me.runBlockingProcess(verb, extraEnvironment: extraEnvironment, extraTime: extraTime)
        }
    }

    private func runBlockingProcess(_ verb: String, extraEnvironment: [String: String], extraTime: Duration)
        throws(PowerError) -> String
    {
        guard power_isExecutable(program) else {
            throw PowerError(
                code: .notFound, outlet: outlet,
                message: "\(outlet): \(program) is missing or not executable; fix [[power]] command")
        }
        var changes: [String: String?] = ["OOB_POWER_OUTLET": outlet]
        if let channel { changes["OOB_POWER_CHANNEL"] = String(channel) }
        for (k, v) in extraEnvironment { changes[k] = v }
        let limit = timeout + extraTime
        let result: ProcessOutput
        do {
            // posix_spawn (not Foundation's Process, whose child monitor hangs when a descendant keeps the pipes).
            result = try SpawnedProcess.run(
                program, arguments + [verb],
                options: SpawnOptions(stdout: .pipe, stderr: .stdout, environmentChanges: changes), timeout: limit)
        } catch {
            throw PowerError(
                code: .commandFailed, outlet: outlet, message: "\(outlet): cannot start \(program)",
                underlying: error.message)
        }
        let text = String(decoding: result.stdout.suffix(4096), as: UTF8.self)
        let trimmed = text.split(whereSeparator: \.isNewline).suffix(3).joined(separator: " | ")
        if result.timedOut {
            throw PowerError(
                code: .timedOut, outlet: outlet,
                message: "\(outlet): \(program) \(verb) did not finish within \(Self.seconds(limit)) s and was stopped",
                underlying: trimmed.isEmpty ? nil : trimmed)
        }
        guard result.status.succeeded else {
            let how: String
            switch result.status {
            case .signalled(let s): how = "was killed by signal \(s)"
            case .exited(let c): how = "exited with status \(c)"
            case .unknown: how = "ended with an unknown status"
            }
            throw PowerError(
                code: .commandFailed, outlet: outlet, message: "\(outlet): \(program) \(verb) \(how)",
                underlying: trimmed.isEmpty ? nil : trimmed)
        }
        return text
    }

    static func seconds(_ d: Duration) -> String {
        let ms = d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
        return ms % 1000 == 0 ? "\(ms / 1000)" : String(format: "%.3f", Double(ms) / 1000)
    }
}
