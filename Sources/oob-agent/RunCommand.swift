import ArgumentParser
import OOBAgent

/// `oob-agent run`: the daemon.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the daemon: watch the modem for SMS, run sessions, relay the console."
    )

    @OptionGroup var global: GlobalOptions

    @Option(
        help: ArgumentHelp(
            "Testing only: shift the agent's wall clock by this many seconds and treat it as unsynchronised.",
            valueName: "seconds"
        )
    )
    var clockOffset: Int64?

    func run() async throws {
        let config = try global.loadConfiguration()
        var environment: [String: String] = [:]
        for key in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] { environment[key] = Environment.value(key) }
        let clock: any AgentClock = clockOffset.map { OffsetAgentClock(offset: $0) } ?? SystemAgentClock()
        do {
            try await AgentDaemon.run(configuration: config, logger: global.makeLogger(), clock: clock, environment: environment)
        } catch {
            throw exitError(for: error)
        }
    }
}
