import ArgumentParser
import OOBAgent

/// `oob-agent enroll`: creates the TOTP secret and shows it for an authenticator app.
struct EnrollCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enroll",
        abstract: "Create the TOTP secret (mode 0600) and show it as an otpauth:// URI and a QR code."
    )

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Replace an existing secret (every authenticator app must be enrolled again).")
    var force = false

    @Option(help: "The account name shown in the authenticator app (default: this host's name).")
    var label: String?

    @Flag(help: "Draw the QR code dark-on-light (for terminals with a light background).")
    var invert = false

    @Flag(help: "Print the URI only, no QR code.")
    var noQR = false

    func run() async throws {
        let config = try global.loadConfiguration()
        guard case .totp(let path) = config.auth.secret else {
            StandardError.writeLine(
                "oob-agent: auth uses passphrase_file, not TOTP; fix: set auth.totp_secret_file instead of passphrase_file, then run enroll"
            )
            throw ExitCode(2)
        }
        let secret = Enrollment.newSecret()
        do {
            try Enrollment.writeSecret(secret, to: path, force: force)
        } catch {
            throw exitError(for: error)
        }
        let uri = Enrollment.otpauthURI(secret: secret, label: label ?? Environment.hostName)
        print("Wrote a new TOTP secret to \(path) (mode 0600).")
        print("Add it to an authenticator app: scan the code below, or enter the secret \(secret) by hand")
        print("(time-based, SHA1, 6 digits, 30 seconds).")
        print("")
        print(uri)
        if !noQR {
            do {
                let qr = try QRCode(text: uri)
                print("")
                for line in qr.terminalLines(invert: invert) { print(line) }
            } catch {
                throw exitError(for: error)
            }
        }
        print("")
        print("Check it: `oob-agent code` must show what the app shows.")
    }
}
