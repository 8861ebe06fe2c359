public import ATModem
import Foundation
import SerialIO
import Synchronization

/// A Huawei-E1752-like USB modem on a real pty, for tests and `oob-agent demo`.
///
/// The code under test opens `devicePath` like `/dev/ttyUSB2`. The emulator answers on its own thread: echo on by
/// default (`ATE0` turns it off), V.250 basics, `+CMEE`, `+CPIN` (optionally PIN-locked), `+CMGF` (a text-mode-only
/// variant refuses `+CMGF=0`), `+CPMS`, `+CNMI`, `+CMGL`, `+CMGR`, `+CMGD`, `+CMGS` (with the `> ` prompt; what is
/// sent lands in `outbox`), `+CSQ`, `+CREG`, `+COPS`, `+CCLK`, `+CGMI/CGMM/CGMR/CGSN/CIMI`, `+CFUN=1,1` (reboots:
/// the pty goes away and a new one appears, with a new path, as a USB stick re-enumerates).
///
/// Its SIM storage has 25 slots; once full, what the network delivers is lost (and `^SMMEMFULL` says so), as on a
/// real SIM. Deliveries are announced with `+CMTI` when `+CNMI` asked for it. Optional noise: `^RSSI`/`^BOOT` lines
/// between replies, and inside multi-line responses, even in the middle of a PDU line, as Huawei sticks do.
/// Failure modes: slow replies, a hung firmware (stops answering `+CMGL`, or everything until `+CFUN=1,1`), and a
/// vanishing device.
public final class ModemEmulator: Sendable {
    /// Unsolicited noise.
    public enum Noise: Sendable, Hashable {
        /// None.
        case off
        /// `^RSSI` / `^BOOT` between replies (and periodically while idle).
        case betweenReplies
        /// Also inside multi-line responses, splitting PDU lines.
        case insideResponses
    }

    /// What a hung firmware stops answering.
    public enum Hang: Sendable, Hashable {
        /// Answers everything.
        case none
        /// Echoes `+CMGL` but never answers it (other commands still work).
        case listing
        /// Answers nothing (no echo either) until `AT+CFUN=1,1`, which still reboots it silently.
        case everything
    }

    /// How the emulated modem behaves.
    public struct Configuration: Sendable {
        /// SIM PIN; `nil`: the SIM is unlocked.
        public var pin: String?
        /// Refuse `AT+CMGF=0` (PDU mode), like some modems behind odd adapters.
        public var textModeOnly: Bool
        /// Unsolicited noise.
        public var noise: Noise
        /// Time between idle noise lines.
        public var noiseInterval: Duration
        /// Delay before every reply.
        public var replyDelay: Duration
        /// Slots of the SIM storage.
        public var storageCapacity: Int
        /// What `+CCLK?` answers.
        public var networkTime: ModemClock
        /// `+CGMI`.
        public var manufacturer: String
        /// `+CGMM`.
        public var model: String
        /// `+CGMR`.
        public var revision: String
        /// `+CGSN`.
        public var imei: String
        /// `+CIMI`.
        public var imsi: String
        /// `+CSQ` rssi (0…31, 99).
        public var rssi: Int
        /// `+CREG` stat.
        public var registrationStatus: Int
        /// `+COPS` operator name.
        public var operatorName: String
        /// SMSC put in front of delivered PDUs (`nil`: an empty SCA field).
        public var smsc: String?
        /// How long a reboot (`+CFUN=1,1`) keeps the device away.
        public var rebootTime: Duration
        /// Send the `+CMGS` prompt as a bare `>` (no space), as a few modems do.
        public var barePrompt: Bool = false
        /// Storage indexes that `AT+CMGD` refuses with `+CMS ERROR: 321` (a corrupt SIM record, a firmware bug).
        public var undeletableIndexes: Set<Int> = []
        /// Keep a descriptor on the device open inside this process (so closing and reopening the port never looks
        /// like a hang-up). Set it to false when another process opens the device (the CLI tests): that process's
        /// exclusive open would otherwise find this process holding the device and refuse it as busy.
        public var keepsDeviceOpen: Bool = true

        /// A plain E1752: no PIN, PDU mode, no noise, immediate replies, 25 slots.
        public init(pin: String? = nil, textModeOnly: Bool = false, noise: Noise = .off,
                    noiseInterval: Duration = .milliseconds(400), replyDelay: Duration = .zero,
                    storageCapacity: Int = 25,
                    networkTime: ModemClock = ModemClock(year: 2026, month: 11, day: 21, hour: 23, minute: 50,
                                                         second: 0, utcOffsetMinutes: 60),
                    manufacturer: String = "huawei", model: String = "E1752", revision: String = "11.126.13.00.00",
                    imei: String = "353143038123456", imsi: String = "240011234567890", rssi: Int = 20,
                    registrationStatus: Int = 1, operatorName: String = "Telia", smsc: String? = "+46705008999",
                    rebootTime: Duration = .milliseconds(400)) {
            self.pin = pin
            self.textModeOnly = textModeOnly
            self.noise = noise
            self.noiseInterval = noiseInterval
            self.replyDelay = replyDelay
            self.storageCapacity = storageCapacity
            self.networkTime = networkTime
            self.manufacturer = manufacturer
            self.model = model
            self.revision = revision
            self.imei = imei
            self.imsi = imsi
            self.rssi = rssi
            self.registrationStatus = registrationStatus
            self.operatorName = operatorName
            self.smsc = smsc
            self.rebootTime = rebootTime
        }
    }

    /// A message the code under test sent with `+CMGS`.
    public struct SentMessage: Hashable, Sendable {
        /// PDU mode: the PDU hex as sent (SCA field first); text mode: `nil`.
        public var pdu: String?
        /// The `<length>` of `AT+CMGS=<length>` (PDU mode).
        public var tpduLength: Int?
        /// Text mode: the recipient; PDU mode: the decoded recipient, when the PDU decodes.
        public var recipient: String?
        /// Text mode: the text; PDU mode: the decoded text of this part, when it decodes.
        public var text: String?
        /// The message reference the emulator answered with.
        public var reference: Int
    }

    let state: Mutex<EmulatorState>

    /// Starts an emulated modem on a new pty.
    /// - Parameter configuration: how it behaves.
    /// - Throws: `SerialIOError` when no pty can be had.
    public init(configuration: Configuration = Configuration()) throws {
        let pty = try PseudoTerminal()
        state = Mutex(EmulatorState(configuration: configuration, path: pty.slavePath))
        if !configuration.keepsDeviceOpen { pty.releaseSlaveKeeper() }
        let box = PTYBox(pty)
        let link = EmulatorLink()
        link.emulator = self
        let thread = Thread { [box, link] in
            var loop = EmulatorLoop(link: link, pty: box.take())
            loop.run()
        }
        thread.name = "ModemEmulator"
        thread.start()
    }

    deinit {
        state.withLock { $0.stopRequested = true }
    }

    // MARK: - Observing

    /// The pty slave path the code under test opens; changes after a vanish or reboot. `nil` while the device is away.
    public var devicePath: String? { state.withLock { $0.present ? $0.path : nil } }

    /// The messages sent to the emulator with `+CMGS`, oldest first.
    public var outbox: [SentMessage] { state.withLock { $0.outbox } }

    /// The storage: index → PDU hex (SCA first) of each stored message.
    public var storedMessages: [Int: String] { state.withLock { $0.storage.mapValues(\.pdu) } }

    /// Every command line received, in order (tests only: PIN entries included).
    public var receivedCommands: [String] { state.withLock { $0.received } }

    /// How many delivered messages were lost because the storage was full.
    public var lostMessages: Int { state.withLock { $0.lost } }

    /// How many times the modem rebooted (`AT+CFUN=1,1`).
    public var reboots: Int { state.withLock { $0.reboots } }

    // MARK: - Driving

    /// Delivers an SMS PDU from the network (hex, SCA field first, as a modem stores it).
    /// - Returns: the storage index, or `nil` when the storage was full and the message was lost.
    @discardableResult
    public func deliver(pdu hex: String) -> Int? {
        state.withLock { $0.deliver(pdu: hex.uppercased()) }
    }

    /// Changes the behaviour while running (noise, delay, signal, …).
    public func reconfigure(_ body: (inout Configuration) -> Void) {
        state.withLock { body(&$0.configuration) }
    }

    /// Makes the firmware hang (or recover with `.none`).
    public func hang(_ mode: Hang) {
        state.withLock { $0.hang = mode }
    }

    /// Sends an unsolicited line now (e.g. `+CREG: 1` or `RING`).
    public func emitUnsolicited(_ line: String) {
        state.withLock { $0.emit("\r\n\(line)\r\n", delay: .zero) }
    }

    /// Writes `bytes` to the port now, exactly as given (no CR/LF added): a hostile or broken modem's garbage, an
    /// over-long line without its end, binary noise between replies.
    public func emitRaw(_ bytes: [UInt8]) {
        state.withLock { $0.emit(bytes, delay: .zero) }
    }

    /// Unplugs the device: the pty goes away. With `reappearAfter`, a new one (new path) appears after that time.
    public func vanish(reappearAfter: Duration? = nil) {
        state.withLock { s in
            s.vanishRequested = true
            s.reappearAt = reappearAfter.map { Monotonic.now() + nanoseconds($0) }
        }
        waitUntil { !$0.vanishRequested }
    }

    /// Plugs a vanished device back in (a new pty with a new path) and returns that path.
    @discardableResult
    public func reappear() -> String? {
        state.withLock { $0.reappearAt = Monotonic.now() }
        return waitForDevice()
    }

    /// Waits until the device is present and returns its path, up to `timeout`.
    public func waitForDevice(timeout: Duration = .seconds(5)) -> String? {
        let deadline = Monotonic.now() + nanoseconds(timeout)
        while Monotonic.now() < deadline {
            if let p = devicePath { return p }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return devicePath
    }

    /// Stops the emulator and closes its pty. Idempotent.
    public func stop() {
        state.withLock { $0.stopRequested = true }
        waitUntil { $0.stopped }
    }

    private func waitUntil(_ condition: (inout EmulatorState) -> Bool) {
        for _ in 0..<500 {
            if state.withLock({ condition(&$0) }) { return }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }
}

func nanoseconds(_ d: Duration) -> Int64 {
    let c = d.components
    return c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000
}

/// Hands the pty to the emulator's thread. Sound because the creating thread gives it up right after `init` and
/// only the emulator's thread uses it from then on (`take()` is called once, on that thread).
final class PTYBox: @unchecked Sendable {
    private var pty: PseudoTerminal?
    init(_ pty: PseudoTerminal) { self.pty = pty }
    func take() -> PseudoTerminal {
        defer { pty = nil }
        return pty!
    }
}

/// A weak link from the thread to the emulator, so dropping the emulator ends the thread.
/// Sound because `emulator` is written once, before the thread starts, and only read afterwards.
final class EmulatorLink: @unchecked Sendable {
    weak var emulator: ModemEmulator?
}

// MARK: - The emulator's thread

struct EmulatorLoop {
    let link: EmulatorLink
    var pty: PseudoTerminal?

    init(link: EmulatorLink, pty: PseudoTerminal) {
        self.link = link
        self.pty = pty
    }

    mutating func run() {
        while true {
            guard let emulator = link.emulator else {
                pty?.close()
                return
            }
            if step(emulator) == false { return }
        }
    }

    /// One round: control requests, input, due output. Returns false when the thread must end.
    mutating func step(_ emulator: ModemEmulator) -> Bool {
        let control = emulator.state.withLock { s -> (stop: Bool, vanish: Bool, reappear: Bool) in
            let now = Monotonic.now()
            let reappear = !s.present && !s.vanishRequested && (s.reappearAt.map { $0 <= now } ?? false)
            return (s.stopRequested, s.vanishRequested, reappear)
        }
        if control.stop {
            pty?.close()
            pty = nil
            emulator.state.withLock { s in
                s.stopped = true
                s.present = false
            }
            return false
        }
        if control.vanish {
            pty?.close()
            pty = nil
            emulator.state.withLock { s in
                s.vanishRequested = false
                s.present = false
                s.pendingOutput.removeAll()
                s.input.removeAll()
            }
        }
        if control.reappear, let p = try? PseudoTerminal() {
            if !emulator.state.withLock({ $0.configuration.keepsDeviceOpen }) { p.releaseSlaveKeeper() }
            pty = p
            emulator.state.withLock { s in
                s.path = p.slavePath
                s.present = true
                s.reappearAt = nil
                s.powerOn()
            }
        }
        guard let p = pty else {
            Thread.sleep(forTimeInterval: 0.005)
            return true
        }
        if p.waitMasterReadable(timeoutMilliseconds: 5) {
            let bytes = (try? p.readMaster()) ?? []
            if !bytes.isEmpty {
                emulator.state.withLock { $0.receive(bytes) }
            }
        } else {
            // Without a keeper descriptor, poll reports a hang-up at once while nobody has the device open.
            Thread.sleep(forTimeInterval: 0.002)
        }
        let due = emulator.state.withLock { $0.takeDueOutput(now: Monotonic.now()) }
        var rest = due[...]
        var attempts = 0
        while !rest.isEmpty, attempts < 400 {
            // EIO: nobody has the device open; what a modem says then is lost.
            guard let n = try? p.writeMaster(rest) else { break }
            rest = rest.dropFirst(n)
            if n == 0 {
                // Nobody reads the slave (the port is closed) and the pty buffer is full: drop the rest.
                attempts += 1
                Thread.sleep(forTimeInterval: 0.005)
            }
        }
        return true
    }
}
