import Foundation

/// The control socket's protocol: one JSON object per line each way, one request per connection.
///
/// ```
/// → {"command":"status"}
/// ← {"ok":true,"status":{…}}
/// → {"command":"up","minutes":90}
/// ← {"ok":true,"message":"session starting"}
/// → {"command":"down"}
/// → {"command":"power","outlet":"router","action":"cycle"}
/// ← {"ok":false,"error":"…"}
/// ```
public struct ControlRequest: Codable, Sendable, Equatable {
    /// `status`, `up`, `down` or `power`.
    public var command: String
    /// `up`: session length in minutes (nil = `session.duration`).
    public var minutes: Int?
    /// `power`: the outlet name.
    public var outlet: String?
    /// `power`: `cycle`, `on` or `off`.
    public var action: String?
    /// `power`: who asked, as the client reports it (logged with the action; the socket is 0660, so only the
    /// agent's group can connect at all).
    public var by: String?

    /// Creates a request.
    public init(command: String, minutes: Int? = nil, outlet: String? = nil, action: String? = nil, by: String? = nil) {
        self.by = by
        self.command = command
        self.minutes = minutes
        self.outlet = outlet
        self.action = action
    }
}

/// The daemon's answer.
public struct ControlResponse: Codable, Sendable, Equatable {
    /// Whether the request was carried out.
    public var ok: Bool
    /// A human line (for `up`, `down`, `power`).
    public var message: String?
    /// The reason when `ok` is false.
    public var error: String?
    /// The status (for `status`).
    public var status: AgentStatus?

    /// Creates a response.
    public init(ok: Bool, message: String? = nil, error: String? = nil, status: AgentStatus? = nil) {
        self.ok = ok
        self.message = message
        self.error = error
        self.status = status
    }
}

/// What `oob-agent status --json` prints (stable for scripts).
public struct AgentStatus: Codable, Sendable, Equatable {
    /// The running session (absent when idle).
    public struct Session: Codable, Sendable, Equatable {
        /// End of the session (ISO 8601, by the best clock), when active.
        public var endsAt: String?
        /// Seconds left, when active.
        public var remainingSeconds: Int?
        /// Who asked for it (`+46…` or `local`).
        public var requesters: [String]
        /// Current setup attempt, when not yet active.
        public var attempt: Int?
        /// The last setup error.
        public var lastError: String?

        enum CodingKeys: String, CodingKey {
            case endsAt = "ends_at"
            case remainingSeconds = "remaining_seconds"
            case requesters, attempt
            case lastError = "last_error"
        }

        public init(endsAt: String?, remainingSeconds: Int?, requesters: [String], attempt: Int?, lastError: String?) {
            self.endsAt = endsAt
            self.remainingSeconds = remainingSeconds
            self.requesters = requesters
            self.attempt = attempt
            self.lastError = lastError
        }
    }

    /// The modem as last seen.
    public struct Modem: Codable, Sendable, Equatable {
        /// Whether the modem is open and answering.
        public var present: Bool
        /// Signal strength in dBm, if known.
        public var signalDBm: Int?
        /// Network registration (`home`, `roaming`, `searching`, `denied`, `unknown`).
        public var registration: String?
        /// The AT port the modem is open at (`modem.port` resolved), while it is present.
        public var path: String?

        enum CodingKeys: String, CodingKey {
            case present
            case signalDBm = "signal_dbm"
            case registration
            case path
        }

        public init(present: Bool, signalDBm: Int?, registration: String?, path: String? = nil) {
            self.path = path
            self.present = present
            self.signalDBm = signalDBm
            self.registration = registration
        }
    }

    /// Tunnel figures, while a tunnel exists.
    public struct Tunnel: Codable, Sendable, Equatable {
        public var bytesIn: UInt64
        public var bytesOut: UInt64
        public var channelsOpen: Int
        public var channelsTotal: Int
        public var reconnects: Int
        public var lastError: String?

        enum CodingKeys: String, CodingKey {
            case bytesIn = "bytes_in"
            case bytesOut = "bytes_out"
            case channelsOpen = "channels_open"
            case channelsTotal = "channels_total"
            case reconnects
            case lastError = "last_error"
        }

        public init(bytesIn: UInt64, bytesOut: UInt64, channelsOpen: Int, channelsTotal: Int, reconnects: Int, lastError: String?) {
            self.bytesIn = bytesIn
            self.bytesOut = bytesOut
            self.channelsOpen = channelsOpen
            self.channelsTotal = channelsTotal
            self.reconnects = reconnects
            self.lastError = lastError
        }
    }

    /// The previous session.
    public struct LastSession: Codable, Sendable, Equatable {
        /// When it ended (ISO 8601).
        public var endedAt: String?
        /// Why it ended.
        public var reason: String

        enum CodingKeys: String, CodingKey {
            case endedAt = "ended_at"
            case reason
        }

        public init(endedAt: String?, reason: String) {
            self.endedAt = endedAt
            self.reason = reason
        }
    }

    /// The router's console relay (`[console]`).
    public struct Console: Codable, Sendable, Equatable {
        /// `console.device` as configured: a path, `"auto"` or a device match.
        public var device: String
        /// The device path in use now (after a re-enumeration, the new one); null while the device is gone.
        public var path: String?
        /// `open`; `reopening` (the path is retried with backoff); `waiting` (the adapter is gone, and the relay
        /// waits for discovery to find it again); `stopped` (the relay is not running).
        public var state: String
        /// Why the device is not open, when it is not.
        public var detail: String?
        /// Clients attached to the console.
        public var clients: Int

        public init(device: String, path: String?, state: String, detail: String?, clients: Int) {
            self.device = device
            self.path = path
            self.state = state
            self.detail = detail
            self.clients = clients
        }
    }

    /// `idle`, `linking`, `verifying`, `connecting`, `active` or `tearing_down`.
    public var state: String
    public var session: Session?
    public var modem: Modem
    public var tunnel: Tunnel?
    public var lastSession: LastSession?
    /// Seconds since the daemon started.
    public var uptimeSeconds: Int
    /// Which clock judges `max_age`: `system`, `network` or `none`.
    public var clock: String
    /// The daemon's PID.
    public var pid: Int32
    /// The console relay, when `[console]` is configured.
    public var console: Console?

    enum CodingKeys: String, CodingKey {
        case state, session, modem, tunnel
        case lastSession = "last_session"
        case uptimeSeconds = "uptime_seconds"
        case clock, pid
        case console
    }

    public init(
        state: String, session: Session?, modem: Modem, tunnel: Tunnel?, lastSession: LastSession?, uptimeSeconds: Int,
        clock: String, pid: Int32, console: Console? = nil
    ) {
        self.console = console
        self.state = state
        self.session = session
        self.modem = modem
        self.tunnel = tunnel
        self.lastSession = lastSession
        self.uptimeSeconds = uptimeSeconds
        self.clock = clock
        self.pid = pid
    }

    /// The device paths the daemon uses now, with the config key each one is for (`modem.port`,
    /// `console.device`): what `oob-agent devices` marks as in use.
    public var devicesInUse: [String: String] {
        var use: [String: String] = [:]
        if let p = modem.path { use[p] = "modem.port" }
        if let p = console?.path { use[p] = "console.device" }
        return use
    }

    /// The human form of `status`.
    public var humanDescription: String {
        var lines = ["state: \(state)"]
        if let s = session {
            if let e = s.endsAt, let r = s.remainingSeconds { lines.append("session: until \(e) (\(r / 60) min left)") }
            if let a = s.attempt { lines.append("attempt: \(a)") }
            if let e = s.lastError { lines.append("last error: \(e)") }
            if !s.requesters.isEmpty { lines.append("requested by: \(s.requesters.joined(separator: ", "))") }
        }
        var m = "modem: \(modem.present ? "present" : "absent")"
        if let d = modem.signalDBm { m += ", signal \(d) dBm" }
        if let r = modem.registration { m += ", \(r)" }
        lines.append(m)
        if let t = tunnel {
            lines.append("tunnel: \(t.bytesIn) B in, \(t.bytesOut) B out, \(t.channelsOpen) channels open (\(t.channelsTotal) total), \(t.reconnects) reconnects")
            if let e = t.lastError { lines.append("tunnel last error: \(e)") }
        }
        if let l = lastSession { lines.append("last session: ended \(l.endedAt ?? "?") (\(l.reason))") }
        if let c = console {
            var line = "console: \(c.path ?? "no device") (\(c.state), \(c.clients) attached)"
            if c.path != c.device { line += " for \(c.device)" }
            if let d = c.detail { line += ": \(d)" }
            lines.append(line)
        }
        lines.append("uptime: \(uptimeSeconds) s, clock: \(clock), pid \(pid)")
        return lines.joined(separator: "\n")
    }
}

enum ControlCoding {
    static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(value)) ?? Data("{}".utf8)) + [10]
    }

    static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) -> T? {
        try? JSONDecoder().decode(type, from: Data(bytes))
    }
}

/// JSON rendering for the command-line side.
public enum ControlJSON {
    /// One line of JSON, sorted keys.
    public static func line<T: Encodable>(_ value: T) -> String {
        String(decoding: ControlCoding.encode(value).dropLast(), as: UTF8.self)
    }
}
