import CellularLink
import Logging

/// The link module's crash recovery, called once at daemon start.
enum CellularLinkRecovery {
    static func recover(stateDirectory: String, logger: Logger) async -> Int {
        await recoverLeftovers(stateDirectory: stateDirectory, logger: logger)
    }
}
