import ArgumentParser

/// The `oob-agent` executable: argument parsing and wiring only (style point 13).
@main
struct OOBAgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "oob-agent",
        abstract: "Out-of-band access to a remote site over cellular, switched on by a secret SMS.",
        version: "0.1.0",
        subcommands: [ModemCommand.self, ConsoleCommand.self, ConsoleRelayCommand.self, RunCommand.self, StatusCommand.self, UpCommand.self, DownCommand.self, CheckCommand.self, CodeCommand.self, EnrollCommand.self, JumphostSetupCommand.self, DevicesCommand.self, PowerCommand.self, TunnelBenchCommand.self, DemoCommand.self]
    )
}
