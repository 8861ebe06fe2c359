import ArgumentParser
import OOBAgent

/// `oob-agent code`: prints the activation code valid now (for the owner and for tests).
struct CodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "code",
        abstract: "Print the current activation code."
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: ArgumentHelp("The code valid at this Unix time instead of now.", valueName: "seconds"))
    var at: Int64?

    func run() async throws {
        let config = try global.loadConfiguration()
        guard case .totp(let path) = config.auth.secret else {
            StandardError.writeLine("oob-agent: passphrase mode has no changing code; the passphrase is in auth.passphrase_file")
            throw ExitCode(2)
        }
        do {
            let totp = try Enrollment.loadTOTP(path: path)
            print(totp.code(at: at ?? Int64(SystemClock.now())))
        } catch {
            throw exitError(for: error)
        }
    }
}
