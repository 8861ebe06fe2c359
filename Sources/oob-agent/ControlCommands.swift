import ArgumentParser
import OOBAgent

/// `oob-agent status [--json]`: asks the running daemon.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the daemon's state, the session's remaining time, the modem and the tunnel."
    )

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Print one JSON object (stable, for scripts).")
    var json = false

    func run() async throws {
        let config = try global.loadConfiguration()
        do {
            let response = try ControlClient.send(ControlRequest(command: "status"), to: config.state.controlSocket)
            guard response.ok, let status = response.status else {
                StandardError.writeLine("oob-agent: \(response.error ?? "no status")")
                throw ExitCode(1)
            }
            print(json ? ControlJSON.line(status) : status.humanDescription)
        } catch {
            throw exitError(for: error)
        }
    }
}

/// `oob-agent up [--minutes N]`: starts a session through the daemon.
struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Start a session locally, as an authenticated UP SMS would."
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: "Session length in minutes (default: session.duration; capped at session.max).")
    var minutes: Int?

    @Flag(name: .customLong("no-wait"), help: "Return as soon as the daemon accepted the request, before the session is up.")
    var noWait = false

    @Option(help: "Seconds to wait for the session to come up (default: enough for every attempt of session.attempts).")
    var timeout: Int?

    func validate() throws {
        if let m = minutes, m < 1 { throw ValidationError("--minutes must be at least 1") }
        if let t = timeout, t < 1 { throw ValidationError("--timeout must be at least 1 second") }
    }

    func run() async throws {
        let config = try global.loadConfiguration()
        let request = ControlRequest(command: "up", minutes: minutes)
        if noWait {
            try ControlCommandRunner.run(request, config: config)
            return
        }
        try await waitForSession(request, config: config)
    }

    /// Sends `up`, then polls `status` until the session is up (prints how to reach it, exit 0), has failed (prints
    /// the reason, exit 1) or the timeout passed (exit 1; the daemon goes on trying).
    private func waitForSession(_ request: ControlRequest, config: AgentConfiguration) async throws {
        let socket = config.state.controlSocket
        do {
            // A session that is ending cannot be asked up again; waiting would report its end as a failure.
            if let before = try? ControlClient.send(ControlRequest(command: "status"), to: socket, timeout: .seconds(10)).status,
                before.state == "tearing_down"
            {
                StandardError.writeLine("oob-agent: the previous session is still ending; try again in a minute")
                throw ExitCode(1)
            }
            let response = try ControlClient.send(request, to: socket, timeout: .seconds(30))
            guard response.ok else {
                StandardError.writeLine("oob-agent: \(response.error ?? "refused")")
                throw ExitCode(1)
            }
            let limit = timeout.map { Duration.seconds($0) } ?? UpProgress.defaultTimeout(config)
            let end = ContinuousClock.now + limit
            var told: UpProgress?
            while true {
                let answer = try ControlClient.send(ControlRequest(command: "status"), to: socket, timeout: .seconds(10))
                guard answer.ok, let status = answer.status else {
                    StandardError.writeLine("oob-agent: \(answer.error ?? "the daemon gave no status")")
                    throw ExitCode(1)
                }
                let progress = UpProgress.judge(status)
                switch progress {
                case .up(let endsAt, let remaining):
                    for line in UpProgress.upLines(config: config, endsAt: endsAt, remainingSeconds: remaining) { print(line) }
                    return
                case .failed(let reason):
                    StandardError.writeLine("oob-agent: FAILED: \(reason)")
                    throw ExitCode(1)
                case .waiting(let state, let attempt, let lastError):
                    if progress != told {
                        var line = "oob-agent: \(state)"
                        if let attempt { line += ", attempt \(attempt) of \(config.session.attempts)" }
                        if let lastError { line += " (last error: \(lastError))" }
                        StandardError.writeLine(line)
                        told = progress
                    }
                    if ContinuousClock.now >= end {
                        StandardError.writeLine(
                            "oob-agent: the session is not up after \(limit.components.seconds) s (\(state)); the daemon goes on trying: "
                                + "watch `oob-agent status`, or end it with `oob-agent down`")
                        throw ExitCode(1)
                    }
                }
                try await Task.sleep(for: .milliseconds(250))
            }
        } catch {
            throw exitError(for: error)
        }
    }
}

/// `oob-agent down`: ends the session through the daemon.
struct DownCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "down",
        abstract: "End the session now, as an authenticated DOWN SMS would."
    )

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let config = try global.loadConfiguration()
        try ControlCommandRunner.run(ControlRequest(command: "down"), config: config)
    }
}

enum ControlCommandRunner {
    static func run(_ request: ControlRequest, config: AgentConfiguration) throws {
        do {
            let response = try ControlClient.send(request, to: config.state.controlSocket, timeout: .seconds(30))
            if response.ok {
                print(response.message ?? "OK")
            } else {
                StandardError.writeLine("oob-agent: \(response.error ?? "refused")")
                throw ExitCode(1)
            }
        } catch {
            throw exitError(for: error)
        }
    }
}
