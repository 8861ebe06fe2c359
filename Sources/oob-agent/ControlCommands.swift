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

    func validate() throws {
        if let m = minutes, m < 1 { throw ValidationError("--minutes must be at least 1") }
    }

    func run() async throws {
        let config = try global.loadConfiguration()
        try ControlCommandRunner.run(ControlRequest(command: "up", minutes: minutes), config: config)
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
