/// The systemd notify protocol without libsystemd: one datagram per message to the socket named
/// in `NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace).
///
/// Does nothing when `NOTIFY_SOCKET` is unset (the daemon runs outside systemd or with
/// `Type=simple`). Errors are swallowed: a missing supervisor must not stop the agent.
public struct SystemdNotifier: Sendable {
    /// The socket, if systemd asked for notifications.
    public let socketPath: String?
    /// The watchdog interval systemd asked for (`WATCHDOG_USEC`), if any; send ``watchdog()``
    /// at half of it.
    public let watchdogInterval: Duration?

    /// Reads `NOTIFY_SOCKET` and `WATCHDOG_USEC` from `environment`.
    public init(environment: [String: String]) {
        let path = environment["NOTIFY_SOCKET"]
        socketPath = (path?.isEmpty ?? true) ? nil : path
        if let usec = environment["WATCHDOG_USEC"].flatMap({ Int64($0) }), usec > 0 {
            let pidOK = environment["WATCHDOG_PID"].flatMap { Int32($0) }.map { $0 == ProcessIdentity.pid } ?? true
            watchdogInterval = pidOK ? .microseconds(usec) : nil
        } else {
            watchdogInterval = nil
        }
    }

    /// Sends `text` (e.g. `"READY=1\nSTATUS=idle"`).
    /// - Returns: whether a datagram was sent.
    @discardableResult
    public func send(_ text: String) -> Bool {
        guard let socketPath else { return false }
        do {
            try UnixSocket.sendDatagram(Array(text.utf8), to: socketPath)
            return true
        } catch {
            return false
        }
    }

    /// `READY=1` with a status line.
    @discardableResult
    public func ready(status: String) -> Bool { send("READY=1\nSTATUS=\(status)") }

    /// `STATUS=…`.
    @discardableResult
    public func status(_ text: String) -> Bool { send("STATUS=\(text)") }

    /// `STOPPING=1`.
    @discardableResult
    public func stopping() -> Bool { send("STOPPING=1") }

    /// `WATCHDOG=1`.
    @discardableResult
    public func watchdog() -> Bool { send("WATCHDOG=1") }
}
