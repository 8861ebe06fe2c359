/// A value of a `[[power]]` table, independent of the TOML library that read it.
public enum PowerConfigValue: Hashable, Sendable {
    case string(String)
    case int(Int)
    case bool(Bool)
    case strings([String])
}

/// One `[[power]]` entry: an outlet (a relay, a GPIO line, a program) with what "cycle" means for it.
///
/// Keys (see docs/power.md): `name`*, `driver`* (`serial-relay` | `gpio` | `command`), `device` (serial-relay: the
/// board's port or a device match; gpio: `/dev/gpiochipN`), `channel` (relay number 1–254, or GPIO line offset),
/// `off_time` ("10s", how long cycle keeps it off), `cycle` (`off-on` | `pulse`), `pulse` ("500ms", pulse mode:
/// how long it is switched on), `active_low` (gpio), `status_query` (serial-relay: `relay` | `board` | `none`),
/// `baud` (serial-relay, 9600), `command` + `args` (command driver), `timeout` ("30s", command driver),
/// `without_session` (may `POWER` by SMS act with no session running; default true).
public struct PowerOutletConfiguration: Hashable, Sendable {
    /// The driver kind.
    public enum DriverKind: String, Hashable, Sendable, CaseIterable {
        case serialRelay = "serial-relay"
        case gpio
        case command
    }

    /// What "cycle" does.
    public enum CycleMode: String, Hashable, Sendable, CaseIterable {
        /// Off, wait `off_time`, on: a relay in series with the device's power.
        case offOn = "off-on"
        /// On, wait `pulse`, off: a relay across a reset or power button.
        case pulse
    }

    /// How a serial relay board reports its state.
    public enum StatusQuery: String, Hashable, Sendable, CaseIterable {
        /// `FF nn 03` → `FF nn ss` (KMTronic one- and two-relay boards).
        case relay
        /// `FF 09 00` → one byte per relay (KMTronic four- and eight-relay boards).
        case board
        /// The board cannot report: actions are sent without confirmation; `check` only opens the port.
        case none
    }

    /// The outlet's name (typed in SMS).
    public var name: String
    /// Which driver switches it.
    public var driver: DriverKind
    /// serial-relay: the board's port or a device match; gpio: the chip.
    public var device: String?
    /// serial-relay: the relay number; gpio: the line offset; command: passed as `OOB_POWER_CHANNEL`.
    public var channel: Int?
    /// How long `cycle` keeps it off (off-on mode).
    public var offTime: Duration
    /// What `cycle` does.
    public var cycleMode: CycleMode
    /// How long `cycle` keeps it on (pulse mode).
    public var pulse: Duration
    /// gpio: "on" drives the line low.
    public var activeLow: Bool
    /// serial-relay: how the board reports its state.
    public var statusQuery: StatusQuery
    /// serial-relay: line speed.
    public var baudRate: Int
    /// command: the program's absolute path.
    public var command: String?
    /// command: arguments before the verb.
    public var arguments: [String]
    /// command: how long one run may take.
    public var timeout: Duration
    /// Whether an SMS `POWER` may act when no session runs.
    public var allowWithoutSession: Bool

    /// Creates an entry with defaults for everything but the name and driver.
    public init(
        name: String, driver: DriverKind, device: String? = nil, channel: Int? = nil, offTime: Duration = .seconds(10),
        cycleMode: CycleMode = .offOn, pulse: Duration = .milliseconds(500), activeLow: Bool = false,
        statusQuery: StatusQuery = .relay, baudRate: Int = 9600, command: String? = nil, arguments: [String] = [],
        timeout: Duration = .seconds(30), allowWithoutSession: Bool = true
    ) {
        self.name = name
        self.driver = driver
        self.device = device
        self.channel = channel
        self.offTime = offTime
        self.cycleMode = cycleMode
        self.pulse = pulse
        self.activeLow = activeLow
        self.statusQuery = statusQuery
        self.baudRate = baudRate
        self.command = command
        self.arguments = arguments
        self.timeout = timeout
        self.allowWithoutSession = allowWithoutSession
    }

    static let knownKeys: Set<String> = [
        "name", "driver", "device", "channel", "off_time", "cycle", "pulse", "active_low", "status_query", "baud",
        "command", "args", "timeout", "without_session",
    ]

    /// Builds and validates an entry from its table.
    /// - Parameters:
    ///   - index: the entry's position (1-based), for messages.
    ///   - table: the keys of the `[[power]]` table.
    /// - Throws: `PowerError` `.configuration` naming the key and the fix.
    public static func parse(index: Int, table: [String: PowerConfigValue]) throws(PowerError) -> PowerOutletConfiguration {
        let label = "[[power]] #\(index)" + (table["name"].flatMap { if case .string(let s) = $0 { " \"\(s)\"" } else { nil } } ?? "")
        func bad(_ message: String) -> PowerError {
            PowerError(code: .configuration, outlet: nil, message: "\(label): \(message)")
        }
        for key in table.keys where !knownKeys.contains(key) {
            throw bad("unknown key \"\(key)\" (known: \(knownKeys.sorted().joined(separator: ", ")))")
        }
        func string(_ key: String) throws(PowerError) -> String? {
            guard let v = table[key] else { return nil }
            guard case .string(let s) = v else { throw bad("\(key) must be a string") }
            return s
        }
        func int(_ key: String) throws(PowerError) -> Int? {
            guard let v = table[key] else { return nil }
            guard case .int(let i) = v else { throw bad("\(key) must be an integer") }
            return i
        }
        func bool(_ key: String) throws(PowerError) -> Bool? {
            guard let v = table[key] else { return nil }
            guard case .bool(let b) = v else { throw bad("\(key) must be true or false") }
            return b
        }
        func duration(_ key: String) throws(PowerError) -> Duration? {
            guard let s = try string(key) else { return nil }
            guard let d = parseDuration(s) else {
                throw bad("\(key) = \"\(s)\" is not a duration; write e.g. \"500ms\", \"10s\", \"2m\"")
            }
            return d
        }
        guard let name = try string("name"), !name.isEmpty else { throw bad("name is required") }
        guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }), name.utf8.count <= 32 else {
            throw bad("name \"\(name)\" must be letters, digits, - or _ (it is typed in SMS), at most 32")
        }
        guard let driverText = try string("driver") else {
            throw bad("driver is required (serial-relay, gpio or command)")
        }
        guard let driver = DriverKind(rawValue: driverText) else {
            throw bad("driver \"\(driverText)\" is unknown; use serial-relay, gpio or command")
        }
        var c = PowerOutletConfiguration(name: name, driver: driver)
        c.device = try string("device")
        c.channel = try int("channel")
        if let d = try duration("off_time") { c.offTime = d }
        if let d = try duration("pulse") { c.pulse = d }
        if let d = try duration("timeout") { c.timeout = d }
        if let m = try string("cycle") {
            guard let mode = CycleMode(rawValue: m) else { throw bad("cycle \"\(m)\" is unknown; use off-on or pulse") }
            c.cycleMode = mode
        }
        if let q = try string("status_query") {
            guard let query = StatusQuery(rawValue: q) else {
                throw bad("status_query \"\(q)\" is unknown; use relay, board or none")
            }
            c.statusQuery = query
        }
        if let b = try int("baud") { c.baudRate = b }
        if let b = try bool("active_low") { c.activeLow = b }
        if let b = try bool("without_session") { c.allowWithoutSession = b }
        c.command = try string("command")
        if let v = table["args"] {
            guard case .strings(let a) = v else { throw bad("args must be an array of strings") }
            c.arguments = a
        }
        if c.offTime <= .zero || c.offTime > .seconds(600) { throw bad("off_time must be between 1ms and 10m") }
        if c.pulse <= .zero || c.pulse > .seconds(60) { throw bad("pulse must be between 1ms and 60s") }
        if c.timeout <= .zero || c.timeout > .seconds(600) { throw bad("timeout must be between 1ms and 10m") }
        switch driver {
        case .serialRelay:
            guard let device = c.device, !device.isEmpty else {
                throw bad("device is required: the relay board's serial port, e.g. \"/dev/ttyUSB4\" or \"usb:0403:6001\"")
            }
            guard device.lowercased() != "auto" else {
                throw bad("device = \"auto\" is not allowed for a relay board (it could pick the router's console "
                    + "cable); name the board's port, e.g. \"usb:0403:6001,serial=…\" (`oob-agent devices` lists them)")
            }
            guard let ch = c.channel, (1...254).contains(ch) else {
                throw bad("channel is required: the relay number on the board, 1 to 254")
            }
        case .gpio:
            guard let device = c.device, device.hasPrefix("/dev/gpiochip") else {
                throw bad("device must be a GPIO chip such as \"/dev/gpiochip0\" (list them with ls /dev/gpiochip*)")
            }
            guard let ch = c.channel, (0..<65536).contains(ch) else {
                throw bad("channel is required: the GPIO line offset on the chip (gpioinfo lists them)")
            }
        case .command:
            guard let command = c.command, command.hasPrefix("/") else {
                throw bad("command is required: the absolute path of a program run with on, off or cycle")
            }
        }
        return c
    }

    /// Parses `"500ms"`, `"10s"`, `"2m"`, `"1h"`.
    public static func parseDuration(_ text: String) -> Duration? {
        let s = text.trimmingCharacters(in: " ")
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
        for (unit, ms) in units where s.hasSuffix(unit) {
            guard let n = Int64(s.dropLast(unit.count)), n >= 0, n < Int64.max / ms else { return nil }
            return .milliseconds(n * ms)
        }
        return nil
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}
