public import Logging
import ATModem
import SerialConsole
import SerialIO
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
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let console = configuration.console {
            // The console relay runs beside the agent, all the time (not only during sessions);
            // it reopens a vanished device itself, and its failure does not stop the agent.
            do {
                // "auto" or a device match: resolved now (the relay then reopens that path when it comes back).
                let device = try AgentCore.resolveDevice(console.device, for: .console) ?? console.device
                if device != console.device {
                    logger.info("console.device resolved", metadata: ["console.device": "\(console.device)", "console.path": "\(device)"])
                }
                let relay = try ConsoleRelay(
                    configuration: ConsoleRelayConfiguration(
                        devicePath: device,
                        serial: ConsoleRelayConfiguration.serialSettings(
                            baud: console.baud, dataBits: console.dataBits, parity: console.parity, stopBits: console.stopBits,
                            flow: console.flow),
                        socketPath: console.socket, socketGroup: console.socketGroup, logPath: console.log,
                        logMaximumBytes: console.logMaxBytes, logKeptFiles: console.logFiles, scrollbackBytes: console.scrollback,
                        clientBufferBytes: console.clientBuffer
                    ),
                    logger: logger
                )
                services.append(.init(service: relay, successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore))
            } catch {
                logger.error("console relay not started", metadata: ["console.device": "\(console.device)", "error": "\(error)"])
            }
        }
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
