import ATModem
import ArgumentParser
import Foundation
import Logging
import OOBAgent
import SerialIO

/// `oob-agent modem …`: diagnostics on the modem (contract.md).
struct ModemCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "modem",
        abstract: "Diagnostics on the modem: identity and network, SMS, raw AT commands.",
        subcommands: [ModemInfoCommand.self, ModemSMSCommand.self, ModemATCommand.self]
    )
}

/// Where the modem is and how to talk to it: `--port/--baud/--pin`, else `[modem]` of the config file.
struct ModemOptions: ParsableArguments {
    @Option(name: .long, help: "The configuration file (its [modem] port, baud and pin are used).")
    var config: String = "/etc/oob-agent/agent.toml"

    @Option(name: .long, help: "The modem's AT port, e.g. /dev/ttyUSB2 (overrides [modem] port).")
    var port: String?

    @Option(name: .long, help: "Baud rate (overrides [modem] baud; default 115200).")
    var baud: Int?

    @Option(name: .long, help: "SIM PIN, used only if the SIM asks for one (overrides [modem] pin).")
    var pin: String?

    @Option(name: .long, help: "Log level on stderr: trace, debug, info, notice, warning, error.")
    var logLevel: String = "warning"

    /// The settings to use, from the options and the config file. Exits 2 with a message naming the fix.
    func resolve() throws -> (port: String, baud: Int, pin: String?) {
        var port = self.port
        var baud = self.baud
        var pin = self.pin
        if port == nil || baud == nil || pin == nil {
            if FileManager.default.fileExists(atPath: config) {
                // The shared loader: [modem] is validated exactly as `oob-agent run` validates it.
                let modem: AgentConfiguration.Modem?
                do {
                    modem = try ConfigurationLoader.loadSections(path: config, needed: ["modem"]).modem
                } catch let error as AgentError {
                    throw usageError(error.message)
                }
                if let modem {
                    if port == nil {
                        switch modem.port {
                        case .path(let p): port = p
                        case .auto, .match:
                            do {
                                port = try DeviceDiscovery.resolve(modem.port.text, for: .modemPort).path
                            } catch {
                                throw CommandFailure(
                                    description: "[modem] port = \"\(modem.port.text)\": \(error); pass --port or run `oob-agent devices`",
                                    code: 1)
                            }
                        }
                    }
                    baud = baud ?? modem.baud
                    pin = pin ?? modem.pin
                }
            } else if port == nil {
                throw usageError(
                    "no modem port: pass --port /dev/ttyUSB2 or set [modem] port in \(config) (which does not exist)")
            }
        }
        guard let port, !port.isEmpty else {
            throw usageError("no modem port: pass --port /dev/ttyUSB2 or set [modem] port in \(config)")
        }
        let b = baud ?? 115200
        guard SerialConfiguration.supportedBaudRates.contains(b) else {
            throw usageError("baud \(b) is not a rate a Linux tty supports; use e.g. 115200")
        }
        return (port, b, pin)
    }

    func logger() -> Logger {
        var logger = Logger(label: "oob-agent.modem", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .warning
        return logger
    }

    /// Opens (and unless `raw`, initialises) the modem.
    func open(initialize: Bool = true) async throws -> Modem {
        let settings = try resolve()
        let modem: Modem
        do {
            modem = try await Modem.open(
                path: settings.port, configuration: SerialConfiguration(baudRate: settings.baud),
                options: Modem.Options(pin: settings.pin, storage: "SM"), logger: logger())
        } catch let e as ATModemError {
            throw runtimeError(e)
        }
        if initialize {
            do {
                try await modem.initialize()
            } catch let e as ATModemError {
                await modem.close()
                throw runtimeError(e)
            }
        }
        return modem
    }
}

struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    var code: Int32
}

func usageError(_ message: String) -> CommandFailure { CommandFailure(description: message, code: 2) }
func runtimeError(_ e: ATModemError) -> CommandFailure { CommandFailure(description: e.description, code: 1) }

/// Runs a subcommand body; prints a failure on stderr and exits with its code (2 usage/config, 1 runtime).
func runReportingFailures(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let f as CommandFailure {
        FileHandle.standardError.write(Data("error: \(f.description)\n".utf8))
        throw ExitCode(f.code)
    } catch let e as ATModemError {
        FileHandle.standardError.write(Data("error: \(e.description)\n".utf8))
        throw ExitCode(1)
    }
}

// MARK: - modem info

struct ModemInfoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Identity, SIM, signal, registration, network time and SMS storage.")

    @OptionGroup var options: ModemOptions
    @Flag(name: .long, help: "Print one JSON object.") var json = false

    func run() async throws {
        try await runReportingFailures {
            let modem = try await options.open()
            do {
                let id = try await modem.identity()
                let sim = (try? await modem.simState()) ?? "unknown"
                let signal = try? await modem.signal()
                let reg = try? await modem.registration()
                let time = try? await modem.networkTime()
                let storage = try? await modem.storageStatus()
                let mode = await modem.mode
                var info: [(String, String?)] = [
                    ("port", modem.engine.path), ("manufacturer", id.manufacturer), ("model", id.model),
                    ("revision", id.revision), ("imei", id.imei), ("imsi", id.imsi), ("sim", sim),
                    ("signal_dbm", signal?.dBm.map(String.init)), ("rssi", signal.map { String($0.rssi) }),
                    ("registration", reg.map { "\($0.status)" }), ("operator", reg?.operatorName),
                    ("network_time", time?.iso8601), ("sms_mode", mode.rawValue),
                ]
                if let m = storage?.receiving {
                    info.append(("storage", m.name ?? "?"))
                    info.append(("storage_used", String(m.used)))
                    info.append(("storage_total", String(m.total)))
                }
                await modem.close()
                if json {
                    var object: [String: Any] = [:]
                    let numeric: Set = ["signal_dbm", "rssi", "storage_used", "storage_total"]
                    for (k, v) in info {
                        guard let v else { continue }
                        object[k] = numeric.contains(k) ? (Int(v) as Any) : v
                    }
                    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                    print(String(decoding: data, as: UTF8.self))
                } else {
                    for (k, v) in info {
                        print("\(k.replacingOccurrences(of: "_", with: " ")):".padding(toLength: 15, withPad: " ", startingAt: 0)
                              + (v ?? "unknown"))
                    }
                }
            } catch let e as ATModemError {
                await modem.close()
                throw runtimeError(e)
            }
        }
    }
}

// MARK: - modem sms

struct ModemSMSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sms", abstract: "List or send SMS.", subcommands: [ModemSMSListCommand.self, ModemSMSSendCommand.self])
}

struct ModemSMSListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Lists the SMS in the modem's storage, multipart messages joined (nothing is deleted).")

    @OptionGroup var options: ModemOptions
    @Flag(name: .long, help: "Print one JSON array, a message per element (stable shape, see contract.md).")
    var json = false

    func run() async throws {
        try await runReportingFailures {
            let modem = try await options.open()
            let stored: [StoredMessage]
            do {
                stored = try await modem.listMessages()
                await modem.close()
            } catch let e as ATModemError {
                await modem.close()
                throw runtimeError(e)
            }
            let summaries = SMSListing.summaries(stored)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(summaries), as: UTF8.self))
            } else {
                if summaries.isEmpty { print("no messages") }
                for s in summaries { print(SMSListing.line(s)) }
            }
        }
    }
}

struct ModemSMSSendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send", abstract: "Sends an SMS (split into parts when long).")

    @OptionGroup var options: ModemOptions
    @Argument(help: "The recipient, e.g. +46701234567.") var number: String
    @Argument(help: "The text.") var text: String

    func run() async throws {
        try await runReportingFailures {
            guard number.first == "+" || number.first?.isNumber == true, number.count >= 3,
                  number.dropFirst().allSatisfy(\.isNumber)
            else {
                throw usageError("\"\(number)\" is not a phone number; write it as +<country code><number>")
            }
            guard !text.isEmpty else { throw usageError("the text is empty; give the message as the second argument") }
            let modem = try await options.open()
            do {
                let references = try await modem.sendSMS(to: number, text: text)
                await modem.close()
                print("sent to \(number): \(references.count) part\(references.count == 1 ? "" : "s") "
                      + "(reference\(references.count == 1 ? "" : "s") \(references.map(String.init).joined(separator: ", ")))")
            } catch let e as ATModemError {
                await modem.close()
                throw runtimeError(e)
            }
        }
    }
}

// MARK: - modem at

struct ModemATCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "at",
        abstract: "Sends one AT command line as is and prints the modem's answer (exit 1 unless it ends in OK).")

    @OptionGroup var options: ModemOptions
    @Argument(help: "The command, e.g. 'AT+CSQ'.") var command: String
    @Option(name: .long, help: "Seconds to wait for the final result.") var timeout: Double = 10

    func run() async throws {
        try await runReportingFailures {
            do throws(ATModemError) {
                try ATCommand.validate(command)
            } catch {
                throw usageError(error.message)
            }
            guard timeout > 0, timeout <= 600 else { throw usageError("--timeout must be between 0 and 600 seconds") }
            let modem = try await options.open(initialize: false)
            do {
                let response = try await modem.command(command, timeout: .milliseconds(Int(timeout * 1000)))
                await modem.close()
                for line in response.lines { print(line) }
                print(response.result.line)
                if !response.result.isSuccess {
                    throw runtimeError(ATModemError.failed(response.command, result: response.result))
                }
            } catch let e as ATModemError {
                await modem.close()
                throw runtimeError(e)
            }
        }
    }
}
