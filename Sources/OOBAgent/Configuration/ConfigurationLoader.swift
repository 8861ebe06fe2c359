import ATModem
public import PowerControl
import TOMLKit

/// The sections of `agent.toml` the local subcommands (`modem`, `console`, `power`) read, through
/// ``ConfigurationLoader/loadSections(path:needed:)``.
public struct ConfigurationSections: Sendable {
    /// `[modem]`, when present and valid.
    public var modem: AgentConfiguration.Modem?
    /// `[console]`, when present and valid.
    public var console: AgentConfiguration.Console?
    /// `[[power]]`.
    public var power: [AgentConfiguration.Power] = []
    /// `[state]` (defaults when absent).
    public var state = AgentConfiguration.State()

    /// No sections: the defaults.
    public init() {}
}

/// Reads `agent.toml` into an ``AgentConfiguration``.
///
/// Every problem found is reported at once, each on its own line naming the key, the value and
/// the fix. Unknown keys and sections are refused with a "did you mean" suggestion: a typo such as
/// `sender = [...]` must never silently leave a security setting at its default.
public enum ConfigurationLoader {
    /// Loads and validates the file at `path`.
    /// - Throws: ``AgentError`` with code `.configuration` naming every problem.
    public static func load(path: String) throws -> AgentConfiguration {
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(path)
        } catch {
            throw AgentError(
                .configuration,
                "\(path): cannot read the configuration (\(error)); fix: create it from the sample "
                    + "etc/oob-agent/agent.toml or pass --config PATH",
                underlying: error
            )
        }
        return try parse(String(decoding: bytes, as: UTF8.self), source: path)
    }

    /// Parses and validates configuration text.
    /// - Parameters:
    ///   - text: the TOML document.
    ///   - source: the file name used in messages.
    /// - Throws: ``AgentError`` with code `.configuration`.
    public static func parse(_ text: String, source: String = "agent.toml") throws -> AgentConfiguration {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw AgentError(
                .configuration,
                "\(source): line \(error.source.begin.line), column \(error.source.begin.column): "
                    + "\(error.description); fix: correct the TOML syntax there"
            )
        }
        let diagnostics = Diagnostics()
        let root = TOMLNode(table)
        var sections = ConfigurationSections()
        let config = build(root: root, diagnostics: diagnostics, parts: &sections)
        if let config, diagnostics.problems.isEmpty { return config }
        throw AgentError(
            .configuration,
            diagnostics.problems.map { "\(source): \($0)" }.joined(separator: "\n")
        )
    }

    /// Loads only the sections a subcommand needs (`modem`, `console`, `power`, `state`), validated exactly as
    /// `oob-agent run` validates them; problems in other sections are left to `run` and `check`. A missing file
    /// gives the defaults (no `[modem]`, no `[console]`, no outlets).
    /// - Parameters:
    ///   - path: the configuration file.
    ///   - needed: the section names whose problems are reported (e.g. `["power", "state"]`).
    /// - Throws: ``AgentError`` `.configuration` naming every problem in those sections.
    public static func loadSections(path: String, needed: Set<String>) throws -> ConfigurationSections {
        guard FileSystem.exists(path) else { return ConfigurationSections() }
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(path)
        } catch {
            throw AgentError(.configuration, "\(path): cannot read the configuration (\(error)); fix: check its permissions or pass --config PATH", underlying: error)
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: String(decoding: bytes, as: UTF8.self))
        } catch let error as TOMLParseError {
            throw AgentError(
                .configuration,
                "\(path): line \(error.source.begin.line), column \(error.source.begin.column): \(error.description); fix: correct the TOML syntax there")
        }
        let diagnostics = Diagnostics()
        var sections = ConfigurationSections()
        _ = build(root: TOMLNode(table), diagnostics: diagnostics, parts: &sections)
        let relevant = diagnostics.problems.filter { line in
            needed.contains { name in
                line.hasPrefix(name + ".") || line.hasPrefix(name + "[") || line.hasPrefix("[" + name + "]") || line.hasPrefix("[[" + name + "]]")
                    || line.hasPrefix(name + " =")
            }
        }
        guard relevant.isEmpty else {
            throw AgentError(.configuration, relevant.map { "\(path): \($0)" }.joined(separator: "\n"))
        }
        return sections
    }

    /// Parses a duration such as `"45s"`, `"10m"`, `"2h"` or `"1h30m"`.
    public static func parseDuration(_ text: String) -> Duration? {
        var total: Int64 = 0
        var number = ""
        var sawUnit = false
        for ch in text {
            if ch.isASCII && ch.isNumber {
                number.append(ch)
                continue
            }
            guard let n = Int64(number), n < 1_000_000 else { return nil }
            switch ch {
            case "s": total += n
            case "m": total += n * 60
            case "h": total += n * 3600
            case "d": total += n * 86400
            default: return nil
            }
            number = ""
            sawUnit = true
        }
        guard sawUnit, number.isEmpty else { return nil }
        return .seconds(total)
    }

    /// Formats a duration the way the configuration writes it (`"90s"`, `"10m"`, `"2h"`, `"1h30m"`).
    public static func format(_ duration: Duration) -> String {
        let s = duration.components.seconds
        if s == 0 { return "0s" }
        var out = ""
        var rest = s
        if rest >= 3600 { out += "\(rest / 3600)h"; rest %= 3600 }
        if rest >= 60 { out += "\(rest / 60)m"; rest %= 60 }
        if rest > 0 { out += "\(rest)s" }
        return out
    }

    // MARK: - Building the configuration

    static let sections = ["modem", "auth", "link", "tunnel", "session", "console", "notify", "power", "state"]

    private static func build(root: TOMLNode, diagnostics: Diagnostics, parts: inout ConfigurationSections) -> AgentConfiguration? {
        guard case .table(let top) = root else { return nil }
        for (key, value) in top.sorted(by: { $0.key < $1.key }) where !sections.contains(key) {
            let suggestion = closest(key, in: sections).map { ", did you mean [\($0)]?" } ?? ""
            if case .table = value {
                diagnostics.add("[\(key)]: unknown section\(suggestion) fix: rename or remove it")
            } else {
                diagnostics.add(
                    "\(key) = \(value.rendered): unknown top-level key\(suggestion) fix: put it under its section"
                )
            }
        }
        func section(_ name: String, required: Bool) -> TableReader? {
            switch top[name] {
            case nil:
                if required { diagnostics.add("[\(name)]: section missing; fix: add it (see the sample agent.toml)") }
                return required ? nil : nil
            case .table(let t)?:
                return TableReader(prefix: name, entries: t, diagnostics: diagnostics)
            case let other?:
                diagnostics.add("\(name) = \(other.rendered): must be a section; fix: write it as [\(name)]")
                return nil
            }
        }
        let empty = { (name: String) in TableReader(prefix: name, entries: [:], diagnostics: diagnostics) }

        // [modem]
        var modemReader = section("modem", required: true)
        let modem = modemReader.map { r -> AgentConfiguration.Modem? in
            var r = r
            defer { modemReader = r }
            let port: AgentConfiguration.Modem.Port?
            if let p = r.string("port", required: true, example: "\"/dev/ttyUSB2\" or \"auto\"") {
                if p == "auto" {
                    port = .auto
                } else if p.hasPrefix("/") {
                    port = .path(p)
                } else if (try? DeviceMatch.parse(p)) != nil {
                    port = .match(p)
                } else {
                    r.problem("port", .string(p), "must be \"auto\", a device match or an absolute device path; fix: e.g. \"/dev/ttyUSB2\" or \"usb:12d1:1001,if=02\" (`oob-agent devices` lists them)")
                    port = nil
                }
            } else {
                port = nil
            }
            let baud = r.baud("baud", default: 115_200)
            var pin: String? = nil
            if let v = r.take("pin") {
                if case .string(let s) = v, (4...8).contains(s.count), s.allSatisfy({ $0.isASCII && $0.isNumber }) {
                    pin = s
                } else if case .int = v {
                    r.problem("pin", v, "must be a quoted string of 4 to 8 digits; fix: pin = \"\(v.rendered)\"")
                } else {
                    r.problem("pin", v, "must be a quoted string of 4 to 8 digits; fix: e.g. pin = \"1234\"")
                }
            }
            let poll = r.duration("poll", default: .seconds(10), min: .seconds(1))
            r.finish()
            guard let port else { return nil }
            return AgentConfiguration.Modem(port: port, baud: baud, pin: pin, poll: poll)
        } ?? nil

        // [auth]
        let auth = section("auth", required: true).map { r -> AgentConfiguration.Auth? in
            var r = r
            var senders: [PhoneNumber] = []
            if let list = r.stringArray("senders", required: true, example: "[\"+46701234567\"]") {
                if list.isEmpty {
                    r.problem("senders", .array([]), "is empty, so nobody could command the box; fix: add the owner's number, e.g. [\"+46701234567\"]")
                }
                for s in list {
                    if let n = PhoneNumber(s) {
                        senders.append(n)
                    } else {
                        r.problem(
                            "senders", .string(s),
                            "is not an international number; fix: write it in E.164 form with the country code, e.g. \"+46701234567\""
                        )
                    }
                }
            }
            let totp = r.path("totp_secret_file")
            let pass = r.path("passphrase_file")
            var secret: AgentConfiguration.Secret?
            switch (totp, pass) {
            case (let t?, nil): secret = .totp(file: t)
            case (nil, let p?): secret = .passphrase(file: p)
            case (nil, nil):
                if r.entries["totp_secret_file"] == nil && r.entries["passphrase_file"] == nil {
                    r.diagnostics.add(
                        "auth.totp_secret_file: missing; fix: set totp_secret_file = \"/etc/oob-agent/totp.secret\" and run `oob-agent enroll`"
                    )
                }
            case (_?, _?):
                r.problem(
                    "passphrase_file", r.entries["passphrase_file"]!,
                    "cannot be combined with auth.totp_secret_file; fix: keep only one (TOTP is recommended)"
                )
            }
            let window = r.duration("code_window", default: .seconds(300), min: .seconds(0), max: .seconds(86400))
            let maxAge = r.duration("max_age", default: .seconds(900), min: .seconds(1))
            r.finish()
            guard let secret, !senders.isEmpty else { return nil }
            return AgentConfiguration.Auth(senders: senders, secret: secret, codeWindow: window, maxAge: maxAge)
        } ?? nil

        // [link]
        var link = AgentConfiguration.Link()
        do {
            var r = section("link", required: false) ?? empty("link")
            if let m = r.string("mode", required: false, example: "\"none\"") {
                if let mode = AgentConfiguration.Link.Mode(rawValue: m) {
                    link.mode = mode
                } else {
                    let s = closest(m, in: AgentConfiguration.Link.Mode.allCases.map(\.rawValue)).map { " (did you mean \"\($0)\"?)" } ?? ""
                    r.problem("mode", .string(m), "must be ppp, interface or none\(s); fix: e.g. mode = \"none\"")
                }
            }
            link.device = r.device("device")
            if let apn = r.string("apn", required: false, example: "\"internet\"") { link.apn = apn }
            if let pppd = r.path("pppd") { link.pppd = pppd }
            link.interface = r.interfaceName("interface", allowMatch: true)
            link.upTimeout = r.duration("up_timeout", default: .seconds(60), min: .seconds(1))
            if link.mode == .ppp, link.device == nil {
                if case .path(let p)? = modem?.port { link.device = p }
            }
            if link.mode == .interface, link.interface == nil, r.entries["interface"] == nil {
                r.diagnostics.add("link.interface: missing for mode \"interface\"; fix: set interface = \"wwan0\" (the modem's interface)")
            }
            r.finish()
        }

        // [tunnel]
        let tunnel = section("tunnel", required: true).map { r -> AgentConfiguration.Tunnel? in
            var r = r
            let host = r.string("host", required: true, example: "\"jump.example.net\"")
            if let host, host.isEmpty || host.contains(where: { $0.isWhitespace }) {
                r.problem("host", .string(host), "is not a host name; fix: e.g. host = \"jump.example.net\"")
            }
            let port = r.int("port", default: 22, range: 1...65535)
            let user = r.string("user", required: true, example: "\"oob\"")
            let identity = r.path("identity", required: true, example: "/etc/oob-agent/id_ed25519")
            let passFile = r.path("identity_passphrase_file")
            let knownHosts = r.path("known_hosts", required: true, example: "/etc/oob-agent/known_hosts")
            var forwards: [AgentConfiguration.Forward] = AgentConfiguration.Tunnel(
                host: "", user: "", identity: "", knownHosts: ""
            ).forwards
            if let list = r.stringArray("forwards", required: false, example: "[\"127.0.0.1:31337:127.0.0.1:22\"]") {
                forwards = []
                if list.isEmpty {
                    r.problem("forwards", .array([]), "is empty, so a session would give no access; fix: e.g. [\"127.0.0.1:31337:127.0.0.1:22\"]")
                }
                for s in list {
                    if let f = AgentConfiguration.Forward(parsing: s) {
                        forwards.append(f)
                    } else {
                        r.problem("forwards", .string(s), "is not remote_bind:remote_port:local_host:local_port; fix: e.g. \"127.0.0.1:31337:127.0.0.1:22\"")
                    }
                }
            }
            let keepalive = r.duration("keepalive", default: .seconds(30), min: .seconds(1))
            r.finish()
            guard let host, let user, let identity, let knownHosts else { return nil }
            return AgentConfiguration.Tunnel(
                host: host, port: port, user: user, identity: identity, identityPassphraseFile: passFile,
                knownHosts: knownHosts, forwards: forwards, keepalive: keepalive
            )
        } ?? nil

        // [session]
        var session = AgentConfiguration.Session()
        do {
            var r = section("session", required: false) ?? empty("session")
            session.duration = r.duration("duration", default: .seconds(1800), min: .seconds(60))
            session.max = r.duration("max", default: .seconds(14400), min: .seconds(60))
            session.attempts = r.int("attempts", default: 3, range: 1...20)
            if session.max < session.duration {
                r.diagnostics.add(
                    "session.max = \"\(format(session.max))\": shorter than session.duration = \"\(format(session.duration))\"; fix: make max at least the duration"
                )
            }
            r.finish()
        }

        // [console]
        var console: AgentConfiguration.Console?
        if var r = section("console", required: false) {
            let device = r.device("device", required: true, example: "/dev/ttyUSB3")
            let baud = r.baud("baud", default: 57_600)
            let socket = r.path("socket") ?? "/run/oob-agent/console.sock"
            let log = r.path("log") ?? "/var/log/oob-agent/console.log"
            // The console module's settings beyond the contract (docs/console.md).
            let dataBits = r.int("data_bits", default: 8, range: 5...8)
            let parity = r.string("parity", required: false, example: "\"none\"") ?? "none"
            if !["none", "even", "odd"].contains(parity) {
                r.problem("parity", .string(parity), "must be none, even or odd; fix: e.g. parity = \"none\"")
            }
            let stopBits = r.int("stop_bits", default: 1, range: 1...2)
            let flow = r.string("flow", required: false, example: "\"none\"") ?? "none"
            if !["none", "rtscts", "xonxoff"].contains(flow) {
                r.problem("flow", .string(flow), "must be none, rtscts or xonxoff; fix: e.g. flow = \"none\"")
            }
            let socketGroup = r.string("socket_group", required: false, example: "\"oob-console\"")
            let logMaxBytes = r.int("log_max_bytes", default: 1 << 20, range: 4096...(1 << 30))
            let logFiles = r.int("log_files", default: 5, range: 0...100)
            let scrollback = r.int("scrollback", default: 64 << 10, range: 0...(16 << 20))
            let clientBuffer = r.int("client_buffer", default: 1 << 20, range: (64 << 10)...(64 << 20))
            r.finish()
            if let device {
                var c = AgentConfiguration.Console(device: device, baud: baud, socket: socket, log: log)
                c.dataBits = dataBits
                c.parity = parity
                c.stopBits = stopBits
                c.flow = flow
                c.socketGroup = socketGroup
                c.logMaxBytes = logMaxBytes
                c.logFiles = logFiles
                c.scrollback = scrollback
                c.clientBuffer = clientBuffer
                console = c
            }
        }

        // [notify]
        var notify = AgentConfiguration.Notify()
        do {
            var r = section("notify", required: false) ?? empty("notify")
            notify.smsUp = r.bool("sms_up", default: true)
            notify.smsDown = r.bool("sms_down", default: true)
            if let url = r.string("webhook", required: false, example: "\"https://hooks.example.net/oob\"") {
                if url.hasPrefix("http://") || url.hasPrefix("https://"), url.count > 8 {
                    notify.webhook = url
                } else {
                    r.problem("webhook", .string(url), "is not an http:// or https:// URL; fix: e.g. \"http://hooks.example.net/oob\"")
                }
            }
            if let ca = r.path("webhook_ca", example: "/etc/oob-agent/webhook-ca.pem") {
                if notify.webhook?.hasPrefix("https://") == true {
                    notify.webhookCA = ca
                } else {
                    r.problem("webhook_ca", .string(ca), "is only used with an https:// notify.webhook; fix: remove it, or make the webhook https://")
                }
            }
            r.finish()
        }

        // [[power]]
        var power: [AgentConfiguration.Power] = []
        switch top["power"] {
        case nil: break
        case .array(let items)?:
            for (i, item) in items.enumerated() {
                guard case .table(let t) = item else {
                    diagnostics.add("power[\(i)] = \(item.rendered): must be a [[power]] table; fix: write [[power]] and its keys")
                    continue
                }
                // The power module owns its keys (docs/power.md): hand the table over as it is.
                var values: [String: PowerConfigValue] = [:]
                var convertible = true
                for (key, value) in t.sorted(by: { $0.key < $1.key }) {
                    switch value {
                    case .string(let v): values[key] = .string(v)
                    case .int(let v): values[key] = .int(v)
                    case .bool(let v): values[key] = .bool(v)
                    case .array(let a):
                        let strings = a.compactMap { if case .string(let s) = $0 { s } else { nil } }
                        if strings.count == a.count {
                            values[key] = .strings(strings)
                        } else {
                            diagnostics.add("power[\(i)].\(key) = \(value.rendered): must be an array of strings; fix: e.g. \(key) = [\"--port\", \"1\"]")
                            convertible = false
                        }
                    default:
                        diagnostics.add("power[\(i)].\(key) = \(value.rendered): must be a string, an integer or true/false; fix: see docs/power.md")
                        convertible = false
                    }
                }
                guard convertible else { continue }
                do {
                    let outlet = try PowerOutletConfiguration.parse(index: i + 1, table: values)
                    if power.contains(where: { $0.name.lowercased() == outlet.name.lowercased() }) {
                        diagnostics.add("power[\(i)].name = \"\(outlet.name)\": is used by two [[power]] entries; fix: give each a unique name")
                    } else {
                        power.append(outlet)
                    }
                } catch {
                    diagnostics.add("power[\(i)]: \(error.message)")
                }
            }
        case .table?:
            diagnostics.add("[power]: must be written [[power]] (one table per relay); fix: use double brackets")
        case let other?:
            diagnostics.add("power = \(other.rendered): must be [[power]] tables; fix: see the sample agent.toml")
        }

        // [state]
        var state = AgentConfiguration.State()
        do {
            var r = section("state", required: false) ?? empty("state")
            if let d = r.path("dir") { state.dir = d }
            if let s = r.path("control_socket") { state.controlSocket = s }
            r.finish()
        }

        parts.modem = modem
        parts.console = console
        parts.power = power
        parts.state = state
        guard let modem, let auth, let tunnel else { return nil }
        return AgentConfiguration(
            modem: modem, auth: auth, link: link, tunnel: tunnel, session: session, console: console,
            notify: notify, power: power, state: state
        )
    }

    // MARK: - Suggestions

    /// The candidate closest to `word` by edit distance, if close enough to be a plausible typo.
    static func closest(_ word: String, in candidates: [String]) -> String? {
        let lower = word.lowercased()
        var best: (String, Int)?
        for c in candidates {
            let d = editDistance(lower, c)
            if d <= max(2, c.count / 3), d < (best?.1 ?? .max) { best = (c, d) }
        }
        return best?.0
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}

// MARK: - A Sendable snapshot of the TOML tree

/// The parsed TOML document as plain values (TOMLKit's tables are reference types).
indirect enum TOMLNode: Equatable, Sendable {
    case table([String: TOMLNode])
    case array([TOMLNode])
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case other(String)

    init(_ value: any TOMLValueConvertible) {
        switch value.type {
        case .table:
            var out: [String: TOMLNode] = [:]
            if let t = value.table { for key in t.keys { if let v = t[key] { out[key] = TOMLNode(v) } } }
            self = .table(out)
        case .array:
            self = .array(value.array.map { $0.map { TOMLNode($0) } } ?? [])
        case .string: self = .string(value.string ?? "")
        case .int: self = .int(value.int ?? 0)
        case .double: self = .double(value.double ?? 0)
        case .bool: self = .bool(value.bool ?? false)
        case .date, .time, .dateTime: self = .other(value.debugDescription)
        }
    }

    /// The value as TOML would write it, for messages.
    var rendered: String {
        switch self {
        case .table: return "{…}"
        case .array(let a): return "[" + a.map(\.rendered).joined(separator: ", ") + "]"
        case .string(let s): return "\"\(s)\""
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .bool(let b): return String(b)
        case .other(let s): return s
        }
    }

    var typeName: String {
        switch self {
        case .table: return "a table"
        case .array: return "an array"
        case .string: return "a string"
        case .int: return "an integer"
        case .double: return "a number"
        case .bool: return "a boolean"
        case .other: return "a date"
        }
    }
}

final class Diagnostics {
    var problems: [String] = []
    func add(_ line: String) { problems.append(line) }
}

/// Reads the keys of one table, remembering which keys it knows so that the rest are refused.
struct TableReader {
    let prefix: String
    let entries: [String: TOMLNode]
    let diagnostics: Diagnostics
    private(set) var known: [String] = []

    init(prefix: String, entries: [String: TOMLNode], diagnostics: Diagnostics) {
        self.prefix = prefix
        self.entries = entries
        self.diagnostics = diagnostics
    }

    func problem(_ key: String, _ value: TOMLNode, _ text: String) {
        diagnostics.add("\(prefix).\(key) = \(value.rendered): \(text)")
    }

    mutating func take(_ key: String) -> TOMLNode? {
        known.append(key)
        return entries[key]
    }

    mutating func string(_ key: String, required: Bool, example: String) -> String? {
        switch take(key) {
        case nil:
            if required { diagnostics.add("\(prefix).\(key): missing; fix: add \(key) = \(example)") }
            return nil
        case .string(let s)?: return s
        case let v?:
            problem(key, v, "must be a string, not \(v.typeName); fix: e.g. \(key) = \(example)")
            return nil
        }
    }

    mutating func path(_ key: String, required: Bool = false, example: String = "/etc/oob-agent/…") -> String? {
        guard let s = string(key, required: required, example: "\"\(example)\"") else { return nil }
        guard s.hasPrefix("/"), !s.contains("\0") else {
            problem(key, .string(s), "must be an absolute path; fix: write the full path, e.g. \"\(example)\"")
            return nil
        }
        return s
    }

    /// A device: an absolute path, `"auto"` or a device match (`usb:VVVV:PPPP,if=NN`, `serial:…`), resolved by the
    /// daemon with libudev when it needs the device.
    mutating func device(_ key: String, required: Bool = false, example: String = "/dev/ttyUSB0") -> String? {
        guard let s = string(key, required: required, example: "\"\(example)\"") else { return nil }
        if s.hasPrefix("/") || s == "auto" || (try? DeviceMatch.parse(s)) != nil, !s.contains("\0") { return s }
        problem(
            key, .string(s),
            "must be an absolute device path, \"auto\" or a device match; fix: e.g. \"\(example)\" or \"usb:0403:6001\" (`oob-agent devices` lists them)")
        return nil
    }

    mutating func interfaceName(_ key: String, allowMatch: Bool = false) -> String? {
        guard let s = string(key, required: false, example: "\"wwan0\"") else { return nil }
        if allowMatch, s == "auto" || (s.contains(":") && (try? DeviceMatch.parse(s)) != nil) { return s }
        guard !s.isEmpty, s.count < 16, !s.contains("/"), !s.contains(where: { $0.isWhitespace }) else {
            problem(key, .string(s), "is not a network interface name; fix: e.g. \"ppp0\" or \"wwan0\"")
            return nil
        }
        return s
    }

    mutating func int(_ key: String, default value: Int, range: ClosedRange<Int>) -> Int {
        switch take(key) {
        case nil: return value
        case .int(let i)? where range.contains(i): return i
        case .int(let i)?:
            problem(key, .int(i), "out of range; fix: use a value from \(range.lowerBound) to \(range.upperBound)")
            return value
        case let v?:
            problem(key, v, "must be an integer, not \(v.typeName); fix: e.g. \(key) = \(value)")
            return value
        }
    }

    mutating func baud(_ key: String, default value: Int) -> Int {
        let rates = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115_200, 230_400, 460_800, 921_600]
        switch take(key) {
        case nil: return value
        case .int(let i)? where rates.contains(i): return i
        case let v?:
            problem(key, v, "is not a serial speed; fix: one of \(rates.map(String.init).joined(separator: ", "))")
            return value
        }
    }

    mutating func bool(_ key: String, default value: Bool) -> Bool {
        switch take(key) {
        case nil: return value
        case .bool(let b)?: return b
        case let v?:
            problem(key, v, "must be true or false (unquoted); fix: e.g. \(key) = \(value)")
            return value
        }
    }

    mutating func duration(_ key: String, default value: Duration, min: Duration, max: Duration? = nil) -> Duration {
        switch take(key) {
        case nil: return value
        case .string(let s)?:
            guard let d = ConfigurationLoader.parseDuration(s) else {
                problem(key, .string(s), "is not a duration; fix: a number with a unit s, m or h, e.g. \"\(ConfigurationLoader.format(value))\"")
                return value
            }
            if d < min {
                problem(key, .string(s), "is too short; fix: at least \"\(ConfigurationLoader.format(min))\"")
                return value
            }
            if let max, d > max {
                problem(key, .string(s), "is too long; fix: at most \"\(ConfigurationLoader.format(max))\"")
                return value
            }
            return d
        case .int(let i)?:
            problem(key, .int(i), "a duration needs a unit; fix: e.g. \(key) = \"\(i)s\" or \"\(i)m\"")
            return value
        case let v?:
            problem(key, v, "must be a duration string; fix: e.g. \(key) = \"\(ConfigurationLoader.format(value))\"")
            return value
        }
    }

    mutating func stringArray(_ key: String, required: Bool, example: String) -> [String]? {
        switch take(key) {
        case nil:
            if required { diagnostics.add("\(prefix).\(key): missing; fix: add \(key) = \(example)") }
            return nil
        case .array(let items)?:
            var out: [String] = []
            for item in items {
                guard case .string(let s) = item else {
                    problem(key, item, "every element must be a quoted string; fix: e.g. \(key) = \(example)")
                    continue
                }
                out.append(s)
            }
            return out
        case .string(let s)?:
            problem(key, .string(s), "must be a list; fix: \(key) = [\"\(s)\"]")
            return nil
        case let v?:
            problem(key, v, "must be a list of strings; fix: e.g. \(key) = \(example)")
            return nil
        }
    }

    /// Refuses every key that no accessor asked for, suggesting the closest known key.
    func finish() {
        for key in entries.keys.sorted() where !known.contains(key) {
            let value = entries[key]!
            if let s = ConfigurationLoader.closest(key, in: known) {
                diagnostics.add("\(prefix).\(key) = \(value.rendered): unknown key, did you mean \(s)? fix: rename it to \(s)")
            } else {
                diagnostics.add(
                    "\(prefix).\(key) = \(value.rendered): unknown key; fix: remove it (known keys: \(known.joined(separator: ", ")))"
                )
            }
        }
    }
}
