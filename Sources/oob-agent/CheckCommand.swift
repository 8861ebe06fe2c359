import ArgumentParser
import OOBAgent

/// `oob-agent check`: validates the configuration and the box, one line per problem with its fix.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate the configuration and the box; exit non-zero on a problem."
    )

    @OptionGroup var global: GlobalOptions

    /// Checks other modules contribute (the discovery module adds the ModemManager check here).
    static let contributors: [any AgentCheckContributor] = [DiscoveryCheckContributor(), PowerCheckContributor()]

    func run() async throws {
        let config = try global.loadConfiguration()
        let findings = await AgentCheck.run(config, contributors: Self.contributors)
        for f in findings { print(f) }
        let problems = findings.filter { $0.severity == .problem }.count
        if problems > 0 {
            print("\(problems) problem\(problems == 1 ? "" : "s") found in \(global.config).")
            throw ExitCode(1)
        }
        print("OK: \(global.config) and the box look ready\(findings.isEmpty ? "" : " (see the warnings above)").")
    }
}
