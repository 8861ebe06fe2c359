public import Logging
import ServiceLifecycle
import UnixSignals

/// What `oob-agent run` runs: one `ServiceGroup` with the agent, stopped gracefully on
/// SIGTERM/SIGINT (a session is torn down and its link-down SMS sent first).
public enum AgentDaemon {
    /// Runs the daemon until SIGTERM/SIGINT.
    /// - Parameters:
    ///   - configuration: the validated configuration.
    ///   - logger: the root logger.
    ///   - clock: the wall clock.
    ///   - environment: `NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID`.
    /// - Throws: ``AgentError`` when the agent cannot start.
    public static func run(
        configuration: AgentConfiguration, logger: Logger, clock: any AgentClock, environment: [String: String]
    ) async throws {
        let agent = AgentService(
            configuration: configuration, logger: logger, clock: clock, notifier: SystemdNotifier(environment: environment)
        )
        // The console relay ([console]) runs inside the agent's service (`AgentConsole`), where device discovery
        // keeps `console.device` resolved.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        services.append(.init(service: agent, successTerminationBehavior: .gracefullyShutdownGroup))
        var groupConfiguration = ServiceGroupConfiguration(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        // Below systemd's TimeoutStopSec (the unit sets 60 s): teardown plus the link-down SMS.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(45)
        try await ServiceGroup(configuration: groupConfiguration).run()
    }
}
