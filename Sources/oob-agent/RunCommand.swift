import ArgumentParser
import OOBAgent

/// `oob-agent run`: the daemon.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the daemon: watch the modem for SMS, run sessions, relay the console."
    )

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        _ = try global.loadConfiguration()
        StandardError.writeLine("oob-agent: run is not wired yet")
        throw ExitCode(1)
    }
}
