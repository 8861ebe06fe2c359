// `oob-agent console` (attach a terminal to the relayed router console) and the hidden `oob-agent console-relay`
// (run just the relay, for tests and manual use). Argument parsing and wiring only.

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import ArgumentParser
import Dispatch
import Foundation
import Logging
import OOBAgent
import SerialConsole

/// `oob-agent console`: attaches this terminal to the router's serial console through the daemon's relay.
struct ConsoleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console",
        abstract: "Attach this terminal to the router's serial console (relayed by the daemon).",
        discussion: """
            Shows the recent scrollback, then the live console. Escapes, typed at the start of a line:
              ~.  detach     ~B  send a break     ~?  help     ~~  a literal ~
            One client at a time is the writer; the others are read-only spectators.
            """
    )

    @Option(help: "The configuration file (its [console] socket key names the relay's socket).")
    var config = "/etc/oob-agent/agent.toml"

    @Option(help: "The relay's Unix socket (overrides the configuration).")
    var socket: String?

    @Flag(help: "Attach as a read-only spectator.")
    var readOnly = false

    @Flag(help: "Take the writer's seat even if another client holds it (that client is told who took it).")
    var force = false

    @Option(help: "Replay at most this many bytes of the console's recent output first (0: none).")
    var scrollback: UInt32 = 16384

    func run() async throws {
        if readOnly && force {
            // Checked here rather than in validate(), so the exit code is the contract's 2 for usage errors.
            printError("oob-agent console: --read-only and --force exclude each other: choose one")
            throw ExitCode(2)
        }
        let socketPath: String
        if let socket {
            socketPath = socket
        } else {
            do {
                socketPath = try consoleSocketPath(configPath: config)
            } catch {
                printError("oob-agent console: \(error.message)")
                throw ExitCode(2)
            }
        }
        let mode: ConsoleAttachMode = readOnly ? .readOnly : (force ? .force : .writer)
        let client: ConsoleClient
        do {
            client = try ConsoleClient(socketPath: socketPath, hello: ConsoleHello(mode: mode, scrollbackLimit: scrollback))
        } catch {
            printError("oob-agent console: \(error.message)")
            throw ExitCode(error.code == .invalidConfiguration ? 2 : 1)
        }
        let outcome: ConsoleClientOutcome
        do {
            outcome = try client.runInteractive()
        } catch {
            printError("oob-agent console: \(error.message)")
            throw ExitCode(1)
        }
        client.close()
        switch outcome {
        case .detached, .inputClosed:
            return
        case .relayClosed(let notice):
            if let notice, notice.kind == .dropped || notice.kind == .protocolError {
                printError("oob-agent console: the console relay disconnected this client: \(notice.text)")
            } else {
                let why = notice.map { " (\($0.text))" } ?? ""
                printError(
                    "oob-agent console: the console relay closed the connection\(why); "
                        + "if the daemon stopped, start it with `systemctl start oob-agent`")
            }
            throw ExitCode(1)
        case .signal(let number):
            printError("oob-agent console: stopped by signal \(number); terminal restored")
            throw ExitCode(1)
        }
    }
}

/// A problem with the configuration file, as far as `console` reads it.
struct ConsoleConfigProblem: Error {
    var message: String
}

/// The relay's socket from `[console] socket` of the configuration at `configPath`, read through the shared
/// `ConfigurationLoader` (so `[console]` is validated as `oob-agent run` validates it). A missing file means the
/// defaults of contract.md; a file without `[console]` means the console is not configured.
func consoleSocketPath(configPath: String) throws(ConsoleConfigProblem) -> String {
    let defaultSocket = "/run/oob-agent/console.sock"
    guard FileManager.default.fileExists(atPath: configPath) else { return defaultSocket }
    let console: AgentConfiguration.Console?
    do {
        console = try ConfigurationLoader.loadSections(path: configPath, needed: ["console"]).console
    } catch let error as AgentError {
        throw ConsoleConfigProblem(message: error.message)
    } catch {
        throw ConsoleConfigProblem(message: "\(configPath): \(error)")
    }
    guard let console else {
        throw ConsoleConfigProblem(
            message: "the console is not configured in \(configPath): add a [console] section with "
                + "device = \"/dev/ttyUSB3\" (the router's console port), then restart the daemon")
    }
    return console.socket
}

/// `oob-agent console-relay`: runs only the console relay (the daemon embeds the same `ConsoleRelay`).
struct ConsoleRelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console-relay",
        abstract: "Run only the console relay: capture a serial console and share it on a Unix socket.",
        shouldDisplay: false
    )

    @Option(help: "The console device, e.g. /dev/ttyUSB3.") var device: String
    @Option(help: "The Unix socket clients attach to.") var socket: String
    @Option(help: "Baud rate.") var baud = 115200
    @Option(help: "Data bits: 5, 6, 7 or 8.") var dataBits = 8
    @Option(help: "Parity: none, even or odd.") var parity = "none"
    @Option(help: "Stop bits: 1 or 2.") var stopBits = 1
    @Option(help: "Flow control: none, rtscts or xonxoff.") var flow = "none"
    @Flag(help: "Do not claim the device exclusively.") var noExclusive = false
    @Option(help: "The console log file (rotated by size).") var log: String?
    @Option(help: "Rotate the log past this many bytes.") var logMaxBytes = 1 << 20
    @Option(help: "Rotated logs kept.") var logFiles = 5
    @Option(help: "Bytes of scrollback kept in memory.") var scrollbackBytes = 64 << 10
    @Option(help: "Bytes queued for one client before it is dropped as too slow.") var clientBufferBytes = 1 << 20
    @Option(help: "The socket's permission bits, octal.") var socketMode = "0660"
    @Option(help: "The socket's owner (user name or uid).") var socketOwner: String?
    @Option(help: "The socket's group (group name or gid).") var socketGroup: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"

    func run() async throws {
        guard let mode = UInt32(socketMode, radix: 8) else {
            throw ValidationError("--socket-mode \(socketMode) is not an octal mode such as 0660")
        }
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level \(logLevel) is not one of trace, debug, info, notice, warning, error")
        }
        var logger = Logger(label: "oob-agent.console", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = level
        let relay: ConsoleRelay
        do {
            let serial = try ConsoleRelayConfiguration.serialSettings(
                baud: baud, dataBits: dataBits, parity: parity, stopBits: stopBits, flow: flow)
            let configuration = ConsoleRelayConfiguration(
                devicePath: device, serial: serial, exclusive: !noExclusive, socketPath: socket, socketMode: mode,
                socketOwner: socketOwner, socketGroup: socketGroup, logPath: log, logMaximumBytes: logMaxBytes,
                logKeptFiles: logFiles, scrollbackBytes: scrollbackBytes, clientBufferBytes: clientBufferBytes)
            relay = try ConsoleRelay(configuration: configuration, logger: logger)
        } catch {
            printError("oob-agent console-relay: \(error.message)")
            throw ExitCode(2)
        }
        let task = Task { try await relay.run() }
        var sources: [any DispatchSourceSignal] = []
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { task.cancel() }
            source.resume()
            sources.append(source)
        }
        defer { sources.forEach { $0.cancel() } }
        do {
            try await task.value
        } catch let error as SerialConsoleError {
            printError("oob-agent console-relay: \(error.message)")
            throw ExitCode(error.code == .invalidConfiguration || error.code == .device ? 2 : 1)
        }
    }
}

/// Writes a line to standard error.
private func printError(_ text: String) {
    var line = text + "\n"
    line.withUTF8 { bytes in
        var rest = UnsafeRawBufferPointer(bytes)
        while !rest.isEmpty {
            let n = write(2, rest.baseAddress, rest.count)
            if n <= 0 { return }
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
        }
    }
}
