import Foundation
import Synchronization

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
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments + [verb]
        var environment = ProcessInfo.processInfo.environment
        environment["OOB_POWER_OUTLET"] = outlet
        if let channel { environment["OOB_POWER_CHANNEL"] = String(channel) }
        for (k, v) in extraEnvironment { environment[k] = v }
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        let output = Mutex<[UInt8]>([])
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            guard !data.isEmpty else { return }
            output.withLock {
                $0.append(contentsOf: data)
                if $0.count > 4096 { $0.removeFirst($0.count - 4096) }
            }
        }
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        do {
            try process.run()
        } catch {
            pipe.fileHandleForReading.readabilityHandler = nil
            throw PowerError(
                code: .commandFailed, outlet: outlet, message: "\(outlet): cannot start \(program)",
                underlying: "\(error)")
        }
        let limit = timeout + extraTime
        let seconds = Double(limit.components.seconds) + Double(limit.components.attoseconds) / 1e18
        var timedOut = false
        if exited.wait(timeout: .now() + seconds) == .timedOut {
            timedOut = true
            power_kill(process.processIdentifier, SIGTERM)
            if exited.wait(timeout: .now() + 2) == .timedOut {
                power_kill(process.processIdentifier, SIGKILL)
                exited.wait()
            }
        }
        // Let the last output arrive, then stop reading.
        power_sleep(milliseconds: 20)
        pipe.fileHandleForReading.readabilityHandler = nil
        let rest = (try? pipe.fileHandleForReading.readToEnd()) ?? nil
        if let rest { output.withLock { $0.append(contentsOf: rest) } }
        let text = String(decoding: output.withLock { $0 }, as: UTF8.self)
        let trimmed = text.split(whereSeparator: \.isNewline).suffix(3).joined(separator: " | ")
        if timedOut {
            throw PowerError(
                code: .timedOut, outlet: outlet,
                message: "\(outlet): \(program) \(verb) did not finish within \(Self.seconds(limit)) s and was stopped",
                underlying: trimmed.isEmpty ? nil : trimmed)
        }
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            let how =
                process.terminationReason == .exit
                ? "exited with status \(process.terminationStatus)" : "was killed by signal \(process.terminationStatus)"
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
