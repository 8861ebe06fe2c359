public import Logging
import Foundation
import Synchronization

/// Who asked for an action: logged with every action, and used for the no-session rule.
public struct PowerRequester: Hashable, Sendable, CustomStringConvertible {
    /// Where the request came from: `sms`, `cli`, `socket`.
    public var channel: String
    /// Who: the sender's number, the local user.
    public var identity: String
    /// Whether a session is running (an SMS `POWER` without a session needs `without_session = true`).
    public var sessionActive: Bool

    /// Creates a requester.
    public init(channel: String, identity: String, sessionActive: Bool = true) {
        self.channel = channel
        self.identity = identity
        self.sessionActive = sessionActive
    }

    /// The local user of the command line (uid).
    public static func localUser() -> PowerRequester {
        let env = ProcessInfo.processInfo.environment
        let user = env["SUDO_USER"] ?? env["USER"] ?? power_userName()
        return PowerRequester(channel: "cli", identity: "\(user ?? "?") (uid \(power_getuid()))", sessionActive: true)
    }

    public var description: String { "\(channel):\(identity)" }
}

/// The outcome of an action.
public struct PowerActionResult: Hashable, Sendable, CustomStringConvertible {
    /// The outlet's name.
    public var outlet: String
    /// What was done.
    public var action: PowerAction
    /// The outlet's state afterwards.
    public var state: PowerState
    /// For the SMS reply: `router cycled`, `router on`, `router off`.
    public var message: String
    public var description: String { message }

    /// Creates a result.
    public init(outlet: String, action: PowerAction, state: PowerState, message: String) {
        self.outlet = outlet
        self.action = action
        self.state = state
        self.message = message
    }
}

/// An outlet as `power list` shows it.
public struct PowerOutletStatus: Hashable, Sendable {
    /// The outlet's name.
    public var name: String
    /// The driver and its hardware, e.g. `serial-relay /dev/ttyUSB4 relay 1`.
    public var summary: String
    /// The persisted state (what the last action left), not a live reading.
    public var state: PowerState
    /// When the state was set (ISO 8601).
    public var changedAt: String?
    /// Who set it.
    public var changedBy: String?
    /// How long `cycle` keeps it off.
    public var offTime: Duration
    /// What `cycle` does.
    public var cycleMode: PowerOutletConfiguration.CycleMode
    /// Whether an SMS may act without a session.
    public var allowWithoutSession: Bool
}

/// Makes the driver of an outlet. The default builds the real drivers; the daemon may resolve device matches first.
public typealias PowerDriverFactory = @Sendable (PowerOutletConfiguration) throws(PowerError) -> any PowerDriver

/// The default driver factory.
public enum PowerDrivers {
    /// Builds the driver a configuration names. Touches no hardware.
    public static func make(_ c: PowerOutletConfiguration) throws(PowerError) -> any PowerDriver {
        switch c.driver {
        case .serialRelay:
            guard let device = c.device, let channel = c.channel else {
                throw PowerError(code: .configuration, outlet: c.name, message: "\(c.name): device and channel are required")
            }
            return SerialRelayDriver(
                outlet: c.name, device: device, channel: channel, statusQuery: c.statusQuery, baudRate: c.baudRate)
        case .gpio:
            guard let chip = c.device, let line = c.channel else {
                throw PowerError(code: .configuration, outlet: c.name, message: "\(c.name): device and channel are required")
            }
            return GPIOLineDriver(outlet: c.name, chip: chip, line: UInt32(line), activeLow: c.activeLow)
        case .command:
            guard let program = c.command else {
                throw PowerError(code: .configuration, outlet: c.name, message: "\(c.name): command is required")
            }
            return CommandDriver(
                outlet: c.name, program: program, arguments: c.arguments, channel: c.channel, timeout: c.timeout)
        }
    }
}

/// The outlets of `[[power]]`: runs actions one at a time per outlet, each with its own deadline, persists the
/// on/off state and logs every action with who asked.
///
/// Safety rules:
/// - Creating the controller reads the state file and builds the drivers; it never drives an output.
/// - Two requests for the same outlet never interleave: they queue (in this process) and take the outlet's lock
///   file (across processes: the daemon and a local `oob-agent power`).
/// - Every action has a deadline (`cycle`: off time or pulse plus twice the driver's action timeout). When it
///   passes, the caller gets `.timedOut`; the outlet stays locked until the driver returns, and the outcome is
///   still logged and persisted.
public actor PowerController {
    private struct Outlet {
        let configuration: PowerOutletConfiguration
        let driver: any PowerDriver
        let lock: FIFOLock
    }

    private let outlets: [String: Outlet]
    private let order: [String]
    private var records: [String: PowerStateRecord]
    private let store: PowerStateStore
    private let log: PowerActionLog
    private let stateDirectory: String
    private let logger: Logger

    /// Creates the controller. Reads `<stateDirectory>/power-state.json`; drives nothing.
    /// - Parameters:
    ///   - configurations: the `[[power]]` entries.
    ///   - stateDirectory: `[state] dir` (created if missing, mode 0700).
    ///   - logger: action log lines go here too (at info).
    ///   - makeDriver: builds each outlet's driver.
    /// - Throws: `PowerError` `.configuration` for duplicate names or a driver that cannot be built.
    public init(
        configurations: [PowerOutletConfiguration], stateDirectory: String, logger: Logger,
        makeDriver: PowerDriverFactory = PowerDrivers.make
    ) throws(PowerError) {
        var outlets: [String: Outlet] = [:]
        var order: [String] = []
        for c in configurations {
            let key = c.name.lowercased()
            if outlets[key] != nil {
                throw PowerError(
                    code: .configuration, outlet: c.name,
                    message: "[[power]] name \"\(c.name)\" is used twice; names must be unique (case-insensitive)")
            }
            outlets[key] = Outlet(configuration: c, driver: try makeDriver(c), lock: FIFOLock())
            order.append(key)
        }
        do {
            try FileManager.default.createDirectory(
                atPath: stateDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw PowerError(
                code: .io, outlet: nil, message: "cannot create the state directory \(stateDirectory); fix [state] dir",
                underlying: "\(error)")
        }
        self.outlets = outlets
        self.order = order
        self.stateDirectory = stateDirectory
        self.store = PowerStateStore(directory: stateDirectory)
        self.log = PowerActionLog(directory: stateDirectory)
        self.records = store.load()
        self.logger = logger
    }

    /// The outlets in configuration order with their persisted state.
    public func list() -> [PowerOutletStatus] {
        order.compactMap { key in
            guard let o = outlets[key] else { return nil }
            let c = o.configuration
            let r = records[c.name]
            return PowerOutletStatus(
                name: c.name, summary: o.driver.summary, state: r?.state ?? .unknown, changedAt: r?.changedAt,
                changedBy: r?.by, offTime: c.offTime, cycleMode: c.cycleMode, allowWithoutSession: c.allowWithoutSession)
        }
    }

    /// Checks every outlet's hardware without switching anything (for `oob-agent check`).
    public func probeAll() async -> [(outlet: String, result: Result<PowerProbeResult, PowerError>)] {
        var results: [(String, Result<PowerProbeResult, PowerError>)] = []
        for key in order {
            guard let o = outlets[key] else { continue }
            do {
                results.append((o.configuration.name, .success(try await o.driver.probe())))
            } catch let error as PowerError {
                results.append((o.configuration.name, .failure(error)))
            } catch {
                results.append(
                    (o.configuration.name, .failure(PowerError(code: .io, outlet: o.configuration.name, message: "\(error)"))))
            }
        }
        return results
    }

    /// Runs one action on one outlet.
    /// - Parameters:
    ///   - action: on, off or cycle.
    ///   - name: the outlet (case-insensitive).
    ///   - requester: who asked (logged; an SMS without a session needs `without_session`).
    /// - Returns: the result, with the text for the SMS reply.
    /// - Throws: `PowerError` (`.unknownOutlet`, `.notAllowed`, `.timedOut`, or the driver's error).
    public func perform(_ action: PowerAction, on name: String, requestedBy requester: PowerRequester)
        async throws(PowerError) -> PowerActionResult
    {
        guard let outlet = outlets[name.lowercased()] else {
            let known = order.compactMap { outlets[$0]?.configuration.name }
            throw PowerError(
                code: .unknownOutlet, outlet: name,
                message: "no outlet \"\(name)\"; configured: \(known.isEmpty ? "none" : known.joined(separator: ", "))")
        }
        let c = outlet.configuration
        if !requester.sessionActive && !c.allowWithoutSession {
            let error = PowerError(
                code: .notAllowed, outlet: c.name,
                message: "\(c.name) may not be switched without a session (without_session = false); start one first")
            record(action: action, outlet: c.name, requester: requester, outcome: .failure(error), deadlinePassed: false)
            throw error
        }
        let deadline: Duration
        switch action {
        case .on, .off: deadline = outlet.driver.actionTimeout + .seconds(1)
        case .cycle:
            let hold = c.cycleMode == .offOn ? c.offTime : c.pulse
            deadline = hold + outlet.driver.actionTimeout * 2 + .seconds(1)
        }
        await outlet.lock.acquire()
        let fileLock = OutletFileLock(path: "\(stateDirectory)/power-\(c.name.lowercased()).lock")
        let driver = outlet.driver
        let once = ResumeOnce<Result<PowerActionResult, PowerError>>()
        let outcome: Result<PowerActionResult, PowerError> = await withCheckedContinuation { continuation in
            once.install(continuation)
            let timer = Task {
                try? await Task.sleep(for: deadline)
                guard !Task.isCancelled else { return }
                once.resume(
                    with: .failure(
                        PowerError(
                            code: .timedOut, outlet: c.name,
                            message: "\(c.name): \(action) did not finish within \(deadline); the hardware may be "
                                + "stuck (check with `oob-agent check`)")))
            }
            // The work runs to its end even when the deadline passes first: the outlet stays locked until then.
            Task {
                let result = await Self.execute(action, configuration: c, driver: driver, fileLock: fileLock)
                timer.cancel()
                let passed = !once.resume(with: result)
                self.finish(action: action, outlet: c.name, requester: requester, outcome: result, deadlinePassed: passed)
                await outlet.lock.release()
            }
        }
        return try outcome.get()
    }

    private static func execute(
        _ action: PowerAction, configuration c: PowerOutletConfiguration, driver: any PowerDriver,
        fileLock: OutletFileLock
    ) async -> Result<PowerActionResult, PowerError> {
        let lockFD: Int32
        do {
            lockFD = try await runBlocking { () throws(PowerError) -> Int32 in
                try fileLock.acquire(outlet: c.name, timeoutMilliseconds: 5000)
            }
        } catch {
            return .failure(error)
        }
        defer { fileLock.release(lockFD) }
        do {
            let state: PowerState
            switch action {
            case .on:
                try await driver.on()
                state = .on
            case .off:
                try await driver.off()
                state = .off
            case .cycle:
                switch c.cycleMode {
                case .offOn:
                    try await driver.cycle(offTime: c.offTime)
                    state = .on
                case .pulse:
                    try await driver.on()
                    try await Task.sleep(for: c.pulse)
                    try await driver.off()
                    state = .off
                }
            }
            let word = action == .cycle ? "cycled" : action.rawValue
            return .success(PowerActionResult(outlet: c.name, action: action, state: state, message: "\(c.name) \(word)"))
        } catch let error as PowerError {
            return .failure(error)
        } catch {
            return .failure(PowerError(code: .io, outlet: c.name, message: "\(c.name): \(action) failed", underlying: "\(error)"))
        }
    }

    private func finish(
        action: PowerAction, outlet: String, requester: PowerRequester, outcome: Result<PowerActionResult, PowerError>,
        deadlinePassed: Bool
    ) {
        record(action: action, outlet: outlet, requester: requester, outcome: outcome, deadlinePassed: deadlinePassed)
    }

    private func record(
        action: PowerAction, outlet: String, requester: PowerRequester, outcome: Result<PowerActionResult, PowerError>,
        deadlinePassed: Bool
    ) {
        let now = ISO8601DateFormatter().string(from: Date())
        let resultWord: String
        let message: String
        switch outcome {
        case .success(let r):
            resultWord = deadlinePassed ? "done-late" : "ok"
            message = r.message
            records[outlet] = PowerStateRecord(state: r.state, changedAt: now, by: requester.description)
        case .failure(let e):
            resultWord = "failed"
            message = e.description
            // Nothing was sent when the device was missing, busy or misconfigured; otherwise the state is uncertain.
            if ![PowerError.Code.notFound, .busy, .configuration, .notAllowed, .unknownOutlet].contains(e.code) {
                records[outlet] = PowerStateRecord(state: .unknown, changedAt: now, by: requester.description)
            }
        }
        do {
            try store.save(records)
        } catch {
            logger.info("power state not saved", metadata: ["power.outlet": "\(outlet)", "error": "\(error)"])
        }
        log.append(
            PowerActionLogEntry(
                time: now, outlet: outlet, action: action.rawValue, by: requester.description, result: resultWord,
                message: message))
        logger.info(
            "power action",
            metadata: [
                "power.outlet": "\(outlet)", "power.action": "\(action)", "power.requester": "\(requester)",
                "power.result": "\(resultWord)", "power.message": "\(message)",
            ])
    }

    /// The action log (oldest first), for `power list --log` and tests.
    public func actionLog() -> [PowerActionLogEntry] { log.entries() }
}

/// A first-in first-out async lock: waiters get the lock in arrival order.
actor FIFOLock {
    private var locked = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
        if !locked {
            locked = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        if waiters.isEmpty {
            locked = false
        } else {
            waiters.removeFirst().resume()
        }
    }
}

/// Resumes a continuation at most once: the work and the deadline race, the first one wins.
final class ResumeOnce<T: Sendable>: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<T, Never>?, delivered: Bool)>((nil, false))

    /// Installs the continuation; must happen before any `resume(with:)`.
    func install(_ continuation: CheckedContinuation<T, Never>) {
        state.withLock { $0.continuation = continuation }
    }

    /// Delivers `value` if nothing was delivered yet; returns whether it was.
    @discardableResult
    func resume(with value: T) -> Bool {
        let continuation: CheckedContinuation<T, Never>? = state.withLock { s in
            guard !s.delivered, let c = s.continuation else { return nil }
            s.delivered = true
            return c
        }
        continuation?.resume(returning: value)
        return continuation != nil
    }
}
