public import PowerControl

/// The whole agent configuration, as read from `agent.toml` (see contract.md, "Configuration").
///
/// Every value is validated when loaded (``ConfigurationLoader``); a value of this type is
/// always complete and consistent. Defaults are those of the contract.
public struct AgentConfiguration: Sendable, Equatable {
    /// `[modem]`: the AT command port.
    public struct Modem: Sendable, Equatable {
        /// Where the AT port is: a device path or libudev discovery.
        public enum Port: Sendable, Equatable, CustomStringConvertible {
            /// Find the modem with libudev (`port = "auto"`).
            case auto
            /// An explicit device path.
            case path(String)
            /// A device match (`usb:12d1:1001,if=02`, `serial:…`): resolved with libudev at start and whenever the
            /// device comes back, so a stick that re-enumerated under a new name is found again.
            case match(String)

            /// The value as written in the configuration.
            public var text: String { description }

            /// The value as written in the configuration (logs print the path, "auto" or the match).
            public var description: String {
                switch self {
                case .auto: "auto"
                case .path(let p): p
                case .match(let m): m
                }
            }
        }
        /// `modem.port` (required).
        public var port: Port
        /// `modem.baud`, default 115200.
        public var baud: Int
        /// `modem.pin`: the SIM PIN, only if the SIM asks for one.
        public var pin: String?
        /// `modem.poll`: the fallback poll interval besides `+CMTI`, default 10 s.
        public var poll: Duration

        /// Creates the `[modem]` section.
        public init(port: Port, baud: Int = 115_200, pin: String? = nil, poll: Duration = .seconds(10)) {
            self.port = port
            self.baud = baud
            self.pin = pin
            self.poll = poll
        }
    }

    /// How the code in a command SMS is checked.
    public enum Secret: Sendable, Equatable {
        /// `auth.totp_secret_file`: a base32 RFC 6238 secret.
        case totp(file: String)
        /// `auth.passphrase_file`: a static passphrase (replayable; `check` warns).
        case passphrase(file: String)
    }

    /// `[auth]`: who may command the box and how they prove it.
    public struct Auth: Sendable, Equatable {
        /// `auth.senders` (required), normalised to E.164.
        public var senders: [PhoneNumber]
        /// `auth.totp_secret_file` or `auth.passphrase_file`.
        public var secret: Secret
        /// `auth.code_window`: accepted skew of a TOTP code against the SMS time, default 5 min.
        public var codeWindow: Duration = .seconds(300)
        /// `auth.max_age`: older SMS (service-centre timestamp) are ignored, default 15 min.
        public var maxAge: Duration = .seconds(900)

        /// Creates the `[auth]` section.
        public init(
            senders: [PhoneNumber], secret: AgentConfiguration.Secret, codeWindow: Duration = .seconds(300),
            maxAge: Duration = .seconds(900)
        ) {
            self.senders = senders
            self.secret = secret
            self.codeWindow = codeWindow
            self.maxAge = maxAge
        }
    }

    /// `[link]`: how the cellular data link is brought up.
    public struct Link: Sendable, Equatable {
        /// `link.mode`.
        public enum Mode: String, Sendable, Equatable, CaseIterable {
            /// pppd over the modem's data port.
            case ppp
            /// An Ethernet-mode modem that is already an interface.
            case interface
            /// No link management: the tunnel uses whatever route exists.
            case none
        }
        /// `link.mode`, default `none`.
        public var mode: Mode = .none
        /// `link.device`: the PPP data port (ppp mode; defaults to `modem.port`).
        public var device: String?
        /// `link.apn`, default "internet".
        public var apn: String = "internet"
        /// `link.pppd`, default /usr/sbin/pppd.
        public var pppd: String = "/usr/sbin/pppd"
        /// `link.interface`: the cellular interface the tunnel is bound to (optional in `none` mode).
        public var interface: String?
        /// `link.up_timeout`, default 60 s.
        public var upTimeout: Duration = .seconds(60)

        /// Creates the `[link]` section.
        public init(
            mode: Mode = .none, device: String? = nil, apn: String = "internet", pppd: String = "/usr/sbin/pppd",
            interface: String? = nil, upTimeout: Duration = .seconds(60)
        ) {
            self.mode = mode
            self.device = device
            self.apn = apn
            self.pppd = pppd
            self.interface = interface
            self.upTimeout = upTimeout
        }
    }

    /// One `tunnel.forwards` entry: `remote_bind:remote_port:local_host:local_port`.
    public struct Forward: Sendable, Equatable, CustomStringConvertible {
        /// The address the jump host listens on.
        public var remoteBind: String
        /// The port the jump host listens on.
        public var remotePort: Int
        /// Where connections are forwarded to on this side.
        public var localHost: String
        /// The port connections are forwarded to.
        public var localPort: Int

        /// Creates a forward.
        public init(remoteBind: String, remotePort: Int, localHost: String, localPort: Int) {
            self.remoteBind = remoteBind
            self.remotePort = remotePort
            self.localHost = localHost
            self.localPort = localPort
        }

        /// Parses `bind:port:host:port` (IPv6 addresses in brackets).
        public init?(parsing text: String) {
            var parts: [String] = []
            var current = ""
            var inBracket = false
            for ch in text {
                if ch == "[" { inBracket = true; continue }
                if ch == "]" { inBracket = false; continue }
                if ch == ":" && !inBracket {
                    parts.append(current)
                    current = ""
                } else {
                    current.append(ch)
                }
            }
            parts.append(current)
            guard parts.count == 4, !parts[0].isEmpty, !parts[2].isEmpty,
                let rp = Int(parts[1]), (1...65535).contains(rp),
                let lp = Int(parts[3]), (1...65535).contains(lp)
            else { return nil }
            self.init(remoteBind: parts[0], remotePort: rp, localHost: parts[2], localPort: lp)
        }

        private static func bracket(_ host: String) -> String { host.contains(":") ? "[\(host)]" : host }
        public var description: String {
            "\(Self.bracket(remoteBind)):\(remotePort):\(Self.bracket(localHost)):\(localPort)"
        }
    }

    /// `[tunnel]`: the reverse SSH tunnel to the jump host.
    public struct Tunnel: Sendable, Equatable {
        /// `tunnel.host` (required).
        public var host: String
        /// `tunnel.port`, default 22.
        public var port: Int = 22
        /// `tunnel.user` (required).
        public var user: String
        /// `tunnel.identity` (required): ed25519 or ECDSA private key.
        public var identity: String
        /// `tunnel.identity_passphrase_file`: only for an encrypted key.
        public var identityPassphraseFile: String?
        /// `tunnel.known_hosts` (required): the pinned jump host key.
        public var knownHosts: String
        /// `tunnel.forwards`, default `127.0.0.1:31337:127.0.0.1:22`.
        public var forwards: [Forward] = [Forward(remoteBind: "127.0.0.1", remotePort: 31337, localHost: "127.0.0.1", localPort: 22)]
        /// `tunnel.keepalive`, default 30 s.
        public var keepalive: Duration = .seconds(30)

        /// Creates the `[tunnel]` section.
        public init(
            host: String, port: Int = 22, user: String, identity: String, identityPassphraseFile: String? = nil,
            knownHosts: String,
            forwards: [AgentConfiguration.Forward] = [
                .init(remoteBind: "127.0.0.1", remotePort: 31337, localHost: "127.0.0.1", localPort: 22)
            ],
            keepalive: Duration = .seconds(30)
        ) {
            self.host = host
            self.port = port
            self.user = user
            self.identity = identity
            self.identityPassphraseFile = identityPassphraseFile
            self.knownHosts = knownHosts
            self.forwards = forwards
            self.keepalive = keepalive
        }
    }

    /// `[session]`: how long sessions last and how hard we try.
    public struct Session: Sendable, Equatable {
        /// `session.duration`, default 30 min.
        public var duration: Duration = .seconds(1800)
        /// `session.max`, default 4 h.
        public var max: Duration = .seconds(4 * 3600)
        /// `session.attempts`, default 3.
        public var attempts: Int = 3

        /// Creates the `[session]` section.
        public init(duration: Duration = .seconds(1800), max: Duration = .seconds(14400), attempts: Int = 3) {
            self.duration = duration
            self.max = max
            self.attempts = attempts
        }
    }

    /// `[console]`: the router's serial console (optional section).
    public struct Console: Sendable, Equatable {
        /// `console.device` (required in the section).
        public var device: String
        /// `console.baud`, default 57600.
        public var baud: Int = 57_600
        /// `console.socket`, default /run/oob-agent/console.sock.
        public var socket: String = "/run/oob-agent/console.sock"
        /// `console.log`, default /var/log/oob-agent/console.log.
        public var log: String = "/var/log/oob-agent/console.log"
        /// `console.data_bits`, default 8.
        public var dataBits: Int = 8
        /// `console.parity`: `none` (default), `even`, `odd`.
        public var parity: String = "none"
        /// `console.stop_bits`, default 1.
        public var stopBits: Int = 1
        /// `console.flow`: `none` (default), `rtscts`, `xonxoff`.
        public var flow: String = "none"
        /// `console.socket_group`: the group that may attach (default: the daemon's).
        public var socketGroup: String?
        /// `console.log_max_bytes`: the log's size before it rotates, default 1 MiB.
        public var logMaxBytes: Int = 1 << 20
        /// `console.log_files`: rotated logs kept, default 5.
        public var logFiles: Int = 5
        /// `console.scrollback`: bytes replayed on attach, default 64 KiB.
        public var scrollback: Int = 64 << 10
        /// `console.client_buffer`: bytes queued for one client before it is dropped as too slow, default 1 MiB.
        public var clientBuffer: Int = 1 << 20

        /// Creates the `[console]` section.
        public init(
            device: String, baud: Int = 57_600, socket: String = "/run/oob-agent/console.sock",
            log: String = "/var/log/oob-agent/console.log"
        ) {
            self.device = device
            self.baud = baud
            self.socket = socket
            self.log = log
        }
    }

    /// `[notify]`: who is told what.
    public struct Notify: Sendable, Equatable {
        /// `notify.sms_up`, default true.
        public var smsUp: Bool = true
        /// `notify.sms_down`, default true.
        public var smsDown: Bool = true
        /// `notify.webhook`: optional URL (`http://` or `https://`) for a POST on up/down.
        public var webhook: String?
        /// `notify.webhook_ca`: a PEM file with the CA that signed an `https://` webhook's certificate; when set,
        /// only it is trusted (instead of the system's trust store).
        public var webhookCA: String?

        /// Creates the `[notify]` section.
        public init(smsUp: Bool = true, smsDown: Bool = true, webhook: String? = nil, webhookCA: String? = nil) {
            self.smsUp = smsUp
            self.smsDown = smsDown
            self.webhook = webhook
            self.webhookCA = webhookCA
        }
    }

    /// One `[[power]]` entry: the power module's own outlet configuration (parsed by
    /// `PowerOutletConfiguration.parse`, so every key of docs/power.md is accepted here too).
    public typealias Power = PowerOutletConfiguration

    /// `[state]`: where the daemon keeps its state and control socket.
    public struct State: Sendable, Equatable {
        /// `state.dir`, default /var/lib/oob-agent.
        public var dir: String = "/var/lib/oob-agent"
        /// `state.control_socket`, default /run/oob-agent/agent.sock.
        public var controlSocket: String = "/run/oob-agent/agent.sock"

        /// Creates the `[state]` section.
        public init(dir: String = "/var/lib/oob-agent", controlSocket: String = "/run/oob-agent/agent.sock") {
            self.dir = dir
            self.controlSocket = controlSocket
        }
    }

    public var modem: Modem
    public var auth: Auth
    public var link: Link
    public var tunnel: Tunnel
    public var session: Session
    public var console: Console?
    public var notify: Notify
    public var power: [Power]
    public var state: State

    /// Creates a configuration from its sections (tests and the demo build one directly).
    public init(
        modem: Modem, auth: Auth, link: Link = Link(), tunnel: Tunnel, session: Session = Session(),
        console: Console? = nil, notify: Notify = Notify(), power: [Power] = [], state: State = State()
    ) {
        self.modem = modem
        self.auth = auth
        self.link = link
        self.tunnel = tunnel
        self.session = session
        self.console = console
        self.notify = notify
        self.power = power
        self.state = state
    }

    /// The files holding secrets that must be private to their owner (checked like OpenSSH does).
    public var privateFiles: [(key: String, path: String)] {
        var files: [(String, String)] = []
        switch auth.secret {
        case .totp(let file): files.append(("auth.totp_secret_file", file))
        case .passphrase(let file): files.append(("auth.passphrase_file", file))
        }
        files.append(("tunnel.identity", tunnel.identity))
        if let p = tunnel.identityPassphraseFile { files.append(("tunnel.identity_passphrase_file", p)) }
        return files
    }
}
