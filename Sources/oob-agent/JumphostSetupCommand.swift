import ArgumentParser
import OOBAgent

/// `oob-agent jumphost-setup`: the `authorized_keys` line for the jump host account.
struct JumphostSetupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jumphost-setup",
        abstract: "Print the authorized_keys line for the jump host account, restricted to the configured forwards."
    )

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let config = try global.loadConfiguration()
        do {
            let key = try SSHKeys.publicKeyLine(identity: config.tunnel.identity)
            print(SSHKeys.authorizedKeysLine(publicKey: key, forwards: config.tunnel.forwards))
        } catch {
            throw exitError(for: error)
        }
    }
}
