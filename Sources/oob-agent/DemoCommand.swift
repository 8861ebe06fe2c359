#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import ArgumentParser
import Demo
import OOBAgent

/// `oob-agent demo`: the whole lifecycle on this machine with an emulated modem and router and a throwaway
/// OpenSSH jump host on loopback. Argument parsing and wiring only; the story lives in `Demo.DemoRun`.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the whole lifecycle on this machine, no hardware needed, narrating each step.",
        discussion: """
            An emulated modem and router console on ptys, a throwaway OpenSSH sshd on 127.0.0.1 as the jump host \
            (and a second one as the box's own sshd), and the real daemon (`oob-agent run`) in the middle: the SMS \
            arrives, the session comes up, a scripted login goes through the forward to the router's console, the \
            session expires and the link-down SMS is sent. About 70 seconds. Needs OpenSSH \
            (apt-get install openssh-server openssh-client).
            """
    )

    @Flag(help: "Keep the session open (2 hours) so you can try ssh -p and oob-agent console yourself; Ctrl-C ends it.")
    var interactive = false

    @Flag(help: "Keep the temp directory (config, keys, logs) at the end.")
    var keep = false

    @Option(help: ArgumentHelp("The OpenSSH server to run as the jump host.", valueName: "path", visibility: .hidden))
    var sshd = "/usr/sbin/sshd"

    func run() async throws {
        var options = DemoOptions(executable: Self.ownExecutable())
        options.interactive = interactive
        options.keep = keep
        options.sshd = sshd
        do {
            let demo = try DemoRun(options: options)
            try demo.run()
        } catch {
            StandardError.writeLine("oob-agent demo: \(error.message)")
            throw ExitCode(1)
        }
    }

    /// This binary's path (`/proc/self/exe`), so the demo runs exactly what ships.
    static func ownExecutable() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return CommandLine.arguments[0] }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
