import ArgumentParser
import Logging
import OOBAgent

/// Options every subcommand takes (`@OptionGroup var global: GlobalOptions`).
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The configuration file.", valueName: "path"))
    var config: String = "/etc/oob-agent/agent.toml"

    @Option(name: .long, help: ArgumentHelp("trace, debug, info, notice, warning, error or critical.", valueName: "level"))
    var logLevel: String = "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level \(logLevel): not a level; use trace, debug, info, notice, warning, error or critical")
        }
        guard config.hasPrefix("/") || config.hasPrefix(".") || !config.isEmpty else {
            throw ValidationError("--config: give the path of agent.toml")
        }
    }

    /// The logger every command uses: journald-friendly lines on stderr.
    func makeLogger(label: String = "oob-agent") -> Logger {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let journal = Environment.value("JOURNAL_STREAM") != nil
        return Logger(label: label) { label in JournalLogHandler(label: label, level: level, journal: journal) }
    }

    /// Loads the configuration or exits with code 2 and the loader's lines.
    func loadConfiguration() throws -> AgentConfiguration {
        do {
            return try ConfigurationLoader.load(path: config)
        } catch let error as AgentError {
            StandardError.writeLine(error.message)
            throw ExitCode(2)
        }
    }
}

/// Reports an ``AgentError`` on stderr and turns it into the contract's exit code.
func exitError(for error: any Error) -> any Error {
    if let agent = error as? AgentError {
        StandardError.writeLine("oob-agent: \(agent.message)")
        return ExitCode(agent.isConfigurationError ? 2 : 1)
    }
    return error
}
