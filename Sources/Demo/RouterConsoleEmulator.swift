#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
public import SerialIO
import Synchronization

/// An emulated router console on a real pty: prints a boot log, then a login prompt, and answers a login
/// (`admin` / any password) with a shell-like prompt that echoes and answers a few commands.
///
/// The console device that the agent relays is `slavePath`. The emulator runs on its own thread until `stop()`.
public final class RouterConsoleEmulator: Sendable {
    /// The tty the agent opens as its `[console] device`.
    public let slavePath: String
    /// The router's host name, shown in its prompt.
    public let hostname: String
    private let pty: Mutex<PseudoTerminal?>
    private let stopping = Atomic<Bool>(false)
    private let thread: Mutex<pthread_t?> = Mutex(nil)
    /// Every byte the router received, for tests and the demo's narration.
    private let received = Mutex<[UInt8]>([])

    /// Creates the pty and starts the router's "boot".
    /// - Parameter hostname: the name in the prompt, e.g. `gw-site1`.
    /// - Throws: `SerialIOError` when no pty can be opened.
    public init(hostname: String = "gw-site1") throws(SerialIOError) {
        let pty = try PseudoTerminal()
        self.slavePath = pty.slavePath
        self.hostname = hostname
        self.pty = Mutex(pty)
    }

    /// Bytes the router received so far.
    public var input: [UInt8] { received.withLock { $0 } }

    /// Starts the router's thread: boot log, then the login prompt.
    public func start() {
        let box = Unmanaged.passRetained(self)
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { arg in
            let me = Unmanaged<RouterConsoleEmulator>.fromOpaque(arg!).takeRetainedValue()
            me.runLoop()
            return nil
        }, box.toOpaque())
        precondition(rc == 0, "pthread_create failed: \(rc)")
        thread.withLock { $0 = tid }
    }

    /// Stops the thread and closes the pty.
    public func stop() {
        stopping.store(true, ordering: .relaxed)
        if let tid = thread.withLock({ t -> pthread_t? in defer { t = nil }; return t }) {
            pthread_join(tid, nil)
        }
        pty.withLock { $0?.close(); $0 = nil }
    }

    private func send(_ text: String) {
        var bytes = Array(text.utf8)[...]
        pty.withLock { p in
            guard let p else { return }
            var spins = 0
            while !bytes.isEmpty && spins < 1000 {
                let n = (try? p.writeMaster(bytes)) ?? 0
                bytes = bytes.dropFirst(n)
                if n == 0 { spins += 1; usleep(1000) }
            }
        }
    }

    private static let bootLog = [
        "U-Boot 2023.04 (Mar 02 2025 - 10:11:12 +0000)",
        "DRAM:  512 MiB",
        "Loading kernel from NAND... OK",
        "Starting kernel ...",
        "[    0.000000] Linux version 6.1.0 (builder@gw) #1 SMP",
        "[    1.204311] eth0: link up (1000Mbps/Full duplex)",
        "[    2.981002] wan0: PPPoE: no response from access concentrator",
        "[    3.100442] wan0: link down, retrying in 30 s",
    ]

    private enum Mode { case login, password, shell }

    private func runLoop() {
        for line in Self.bootLog {
            send(line + "\r\n")
        }
        send("\r\n\(hostname) login: ")
        var mode = Mode.login
        var line: [UInt8] = []
        while !stopping.load(ordering: .relaxed) {
            let readable = pty.withLock { $0?.waitMasterReadable(timeoutMilliseconds: 50) ?? false }
            guard readable else { continue }
            let bytes: [UInt8] = pty.withLock { p in (try? p?.readMaster()) ?? nil } ?? []
            received.withLock { $0 += bytes }
            for b in bytes {
                switch b {
                case 0x0D, 0x0A:
                    if b == 0x0A && line.isEmpty { continue }
                    let text = String(decoding: line, as: UTF8.self)
                    line.removeAll()
                    send("\r\n")
                    switch mode {
                    case .login:
                        if text.isEmpty {
                            send("\(hostname) login: ")
                        } else {
                            send("Password: ")
                            mode = .password
                        }
                    case .password:
                        send("\r\nBusyBox v1.36 built-in shell (ash)\r\n\(hostname)# ")
                        mode = .shell
                    case .shell:
                        send(answer(text) + "\(hostname)# ")
                    }
                case 0x7F, 0x08:
                    if !line.isEmpty {
                        line.removeLast()
                        if mode != .password { send("\u{8} \u{8}") }
                    }
                default:
                    line.append(b)
                    if mode != .password { send(String(decoding: [b], as: UTF8.self)) }
                }
            }
        }
    }

    private func answer(_ command: String) -> String {
        switch command.trimmingCharacters(in: " ") {
        case "": return ""
        case "uptime": return " 03:14:07 up 2 days,  4:01,  load average: 0.00, 0.01, 0.05\r\n"
        case "ip route", "show ip route": return "192.168.1.0/24 dev br-lan scope link\r\n"
        case "reboot": return "The system is going down NOW!\r\n"
        default: return "-ash: \(command): not found\r\n"
        }
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s.removeFirst() }
        while s.last == set { s.removeLast() }
        return String(s)
    }
}
