public import SerialIO

/// Everything a `ConsoleRelay` needs: the device and its line settings, the socket, the log and the buffers.
public struct ConsoleRelayConfiguration: Hashable, Sendable {
    /// The console device, e.g. `/dev/ttyUSB3` (or a udev symlink). Reopened by this path after it vanishes.
    public var devicePath: String
    /// Baud rate, data bits, parity, stop bits, flow control (none, RTS/CTS, XON/XOFF).
    public var serial: SerialConfiguration
    /// Claim the device exclusively (flock + TIOCEXCL + a check that no other process holds it).
    public var exclusive: Bool
    /// The Unix socket clients attach to.
    public var socketPath: String
    /// The socket's permission bits (default 0660: owner and group may attach).
    public var socketMode: UInt32
    /// The socket's owner, a user name or numeric uid (nil: the relay's user).
    public var socketOwner: String?
    /// The socket's group, a group name or numeric gid (nil: the relay's group).
    public var socketGroup: String?
    /// The console log (nil: no log file, the ring buffer only).
    public var logPath: String?
    /// The log rotates when it would grow past this many bytes.
    public var logMaximumBytes: Int
    /// How many rotated logs are kept (`log.1` … `log.N`).
    public var logKeptFiles: Int
    /// Bytes of console output kept in memory and replayed on attach.
    public var scrollbackBytes: Int
    /// Bytes queued for one client before it is dropped as too slow.
    public var clientBufferBytes: Int
    /// A client that has not said hello after this long is disconnected.
    public var helloTimeoutMilliseconds: Int
    /// First delay before reopening a vanished device; doubled on each failure.
    public var reopenInitialDelayMilliseconds: Int
    /// Longest delay between reopen attempts.
    public var reopenMaximumDelayMilliseconds: Int

    /// Creates a configuration; every size has a default fit for a Raspberry Pi.
    /// - Parameters:
    ///   - devicePath: the console tty.
    ///   - serial: the line settings (default 115200 8N1, no flow control).
    ///   - socketPath: where clients attach.
    ///   - logPath: the console log, or nil for none.
    public init(
        devicePath: String,
        serial: SerialConfiguration = SerialConfiguration(),
        exclusive: Bool = true,
        socketPath: String,
        socketMode: UInt32 = 0o660,
        socketOwner: String? = nil,
        socketGroup: String? = nil,
        logPath: String? = nil,
        logMaximumBytes: Int = 1 << 20,
        logKeptFiles: Int = 5,
        scrollbackBytes: Int = 64 << 10,
        clientBufferBytes: Int = 1 << 20,
        helloTimeoutMilliseconds: Int = 5000,
        reopenInitialDelayMilliseconds: Int = 100,
        reopenMaximumDelayMilliseconds: Int = 5000
    ) {
        self.devicePath = devicePath
        self.serial = serial
        self.exclusive = exclusive
        self.socketPath = socketPath
        self.socketMode = socketMode
        self.socketOwner = socketOwner
        self.socketGroup = socketGroup
        self.logPath = logPath
        self.logMaximumBytes = logMaximumBytes
        self.logKeptFiles = logKeptFiles
        self.scrollbackBytes = scrollbackBytes
        self.clientBufferBytes = clientBufferBytes
        self.helloTimeoutMilliseconds = helloTimeoutMilliseconds
        self.reopenInitialDelayMilliseconds = reopenInitialDelayMilliseconds
        self.reopenMaximumDelayMilliseconds = reopenMaximumDelayMilliseconds
    }

    /// Checks every setting.
    /// - Throws: `.invalidConfiguration` naming the setting and the accepted values.
    public func validate() throws(SerialConsoleError) {
        guard devicePath.hasPrefix("/") else {
            throw .invalid("[console] device \"\(devicePath)\" is not an absolute path; use e.g. /dev/ttyUSB3")
        }
        guard socketPath.hasPrefix("/") else {
            throw .invalid("[console] socket \"\(socketPath)\" is not an absolute path; use e.g. /run/oob-agent/console.sock")
        }
        guard socketPath.utf8.count < 108 else {
            throw .invalid("[console] socket \"\(socketPath)\" is longer than a Unix socket path may be (107 bytes)")
        }
        if let logPath, !logPath.hasPrefix("/") {
            throw .invalid("[console] log \"\(logPath)\" is not an absolute path; use e.g. /var/log/oob-agent/console.log")
        }
        guard SerialConfiguration.supportedBaudRates.contains(serial.baudRate) else {
            throw .invalid(
                "[console] baud \(serial.baudRate) is not supported; use one of "
                    + SerialConfiguration.supportedBaudRates.map(String.init).joined(separator: ", "))
        }
        guard (5...8).contains(serial.dataBits) else {
            throw .invalid("[console] data_bits \(serial.dataBits) is not supported; use 5, 6, 7 or 8")
        }
        guard serial.stopBits == 1 || serial.stopBits == 2 else {
            throw .invalid("[console] stop_bits \(serial.stopBits) is not supported; use 1 or 2")
        }
        guard socketMode <= 0o777 else {
            throw .invalid("console socket mode \(String(socketMode, radix: 8)) is not a permission mode; use e.g. 0660")
        }
        guard logMaximumBytes >= 4096 else {
            throw .invalid("[console] log_max_bytes \(logMaximumBytes) is too small; use at least 4096")
        }
        guard (0...100).contains(logKeptFiles) else {
            throw .invalid("[console] log_files \(logKeptFiles) is out of range; use 0 to 100")
        }
        guard (0...(256 << 20)).contains(scrollbackBytes) else {
            throw .invalid("[console] scrollback \(scrollbackBytes) is out of range; use 0 to 268435456 bytes")
        }
        guard clientBufferBytes >= 4096 else {
            throw .invalid("[console] client_buffer \(clientBufferBytes) is too small; use at least 4096 bytes")
        }
        guard helloTimeoutMilliseconds > 0, reopenInitialDelayMilliseconds > 0,
            reopenMaximumDelayMilliseconds >= reopenInitialDelayMilliseconds
        else {
            throw .invalid("console timeouts must be positive and the maximum reopen delay at least the initial one")
        }
    }
}

extension ConsoleRelayConfiguration {
    /// Line settings from the words of the configuration file (`[console]` baud, data_bits, parity, stop_bits,
    /// flow), checked.
    /// - Parameters:
    ///   - parity: `none`, `even` or `odd`.
    ///   - flow: `none`, `rtscts` or `xonxoff`.
    /// - Throws: `.invalidConfiguration` naming the key and the accepted values.
    public static func serialSettings(
        baud: Int, dataBits: Int = 8, parity: String = "none", stopBits: Int = 1, flow: String = "none"
    ) throws(SerialConsoleError) -> SerialConfiguration {
        guard let parityValue = SerialConfiguration.Parity(rawValue: parity.lowercased()) else {
            throw .invalid("[console] parity \"\(parity)\" is not one of none, even, odd")
        }
        guard let flowValue = SerialConfiguration.FlowControl(rawValue: flow.lowercased()) else {
            throw .invalid("[console] flow \"\(flow)\" is not one of none, rtscts, xonxoff")
        }
        return SerialConfiguration(
            baudRate: baud, dataBits: dataBits, parity: parityValue, stopBits: stopBits, flowControl: flowValue)
    }
}
