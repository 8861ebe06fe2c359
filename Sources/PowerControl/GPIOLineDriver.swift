public import SystemPackage
import Synchronization

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// The system calls the GPIO driver makes, as values: the live kernel by default; tests substitute a scripted
/// chip because machines without GPIO hardware (CI, this development box) have no `/dev/gpiochipN`.
public struct GPIOSystemCalls: Sendable {
    /// open(2) of the chip.
    public var open: @Sendable (String) -> Result<Int32, Errno>
    /// ioctl(2) with a byte buffer the kernel reads and writes.
    public var ioctl: @Sendable (Int32, UInt, inout [UInt8]) -> Result<Int32, Errno>
    /// close(2).
    public var close: @Sendable (Int32) -> Void

    /// Creates a set of calls.
    public init(
        open: @escaping @Sendable (String) -> Result<Int32, Errno>,
        ioctl: @escaping @Sendable (Int32, UInt, inout [UInt8]) -> Result<Int32, Errno>,
        close: @escaping @Sendable (Int32) -> Void
    ) {
        self.open = open
        self.ioctl = ioctl
        self.close = close
    }

    /// The real kernel.
    public static let live = GPIOSystemCalls(
        open: { power_open($0, O_RDWR | O_CLOEXEC) },
        ioctl: { fd, request, buffer in buffer.withUnsafeMutableBytes { power_ioctl(fd, request, $0.baseAddress!) } },
        close: { power_close($0) })
}

/// One GPIO output line through the GPIO character device, uAPI v2 (ioctl level, no sysfs).
///
/// The line is requested on the first action, with the requested value as its initial value, and then held for
/// the driver's lifetime (a released line may fall back to its default, so the daemon keeps it). Creating the
/// driver or probing it never drives the line.
public final class GPIOLineDriver: PowerDriver {
    /// The outlet's name.
    public let outlet: String
    /// The chip, e.g. `/dev/gpiochip0`.
    public let chip: String
    /// The line offset on the chip.
    public let line: UInt32
    /// Whether "on" drives the line low.
    public let activeLow: Bool
    private let calls: GPIOSystemCalls
    private let lineFD = Mutex<Int32?>(nil)

    /// Creates the driver; touches no hardware.
    public init(outlet: String, chip: String, line: UInt32, activeLow: Bool, calls: GPIOSystemCalls = .live) {
        self.outlet = outlet
        self.chip = chip
        self.line = line
        self.activeLow = activeLow
        self.calls = calls
    }

    deinit {
        if let fd = lineFD.withLock({ $0 }) { calls.close(fd) }
    }

    public var summary: String { "gpio \(chip) line \(line)\(activeLow ? " (active-low)" : "")" }
    public var actionTimeout: Duration { .seconds(2) }

    public func on() async throws { try await set(true) }
    public func off() async throws { try await set(false) }

    public func probe() async throws -> PowerProbeResult {
        try await runBlocking { () throws(PowerError) -> PowerProbeResult in
            let fd = try self.openChip()
            defer { self.calls.close(fd) }
            let (name, lines) = try self.chipInfo(fd)
            guard self.line < lines else {
                throw PowerError(
                    code: .configuration, outlet: self.outlet,
                    message: "\(self.outlet): \(self.chip) (\(name)) has \(lines) lines, no line \(self.line); "
                        + "fix [[power]] channel (gpioinfo lists the lines)")
            }
            return PowerProbeResult(state: .unknown, detail: "\(self.chip) (\(name), \(lines) lines) has line \(self.line)")
        }
    }

    /// Sets the line's logical value (the kernel applies active-low).
    func set(_ value: Bool) async throws(PowerError) {
        try await runBlocking { () throws(PowerError) in
            if let fd = self.lineFD.withLock({ $0 }) {
                var values = GPIOv2.encodeValues(value)
                if case .failure(let errno) = self.calls.ioctl(fd, GPIOv2.setValuesIoctl, &values) {
                    throw PowerError(
                        code: .io, outlet: self.outlet,
                        message: "\(self.outlet): setting \(self.chip) line \(self.line) failed", underlying: "\(errno)")
                }
                return
            }
            // First action: request the line as an output whose initial value is the wanted one.
            let chipFD = try self.openChip()
            defer { self.calls.close(chipFD) }
            let (_, lines) = try self.chipInfo(chipFD)
            guard self.line < lines else {
                throw PowerError(
                    code: .configuration, outlet: self.outlet,
                    message: "\(self.outlet): \(self.chip) has \(lines) lines, no line \(self.line); fix [[power]] channel")
            }
            var request = GPIOv2.encodeOutputLineRequest(
                offset: self.line, consumer: "oob-agent:\(self.outlet)", activeLow: self.activeLow, initialValue: value)
            switch self.calls.ioctl(chipFD, GPIOv2.getLineIoctl, &request) {
            case .success:
                let fd = GPIOv2.decodeRequestFD(request)
                guard fd >= 0 else {
                    throw PowerError(
                        code: .io, outlet: self.outlet, message: "\(self.outlet): the kernel returned no line descriptor")
                }
                self.lineFD.withLock { $0 = fd }
            case .failure(let errno) where errno == .resourceBusy:
                throw PowerError(
                    code: .busy, outlet: self.outlet,
                    message: "\(self.outlet): \(self.chip) line \(self.line) is used by another consumer "
                        + "(gpioinfo shows which); release it (a sysfs export, a device-tree LED, another program)",
                    underlying: "\(errno)")
            case .failure(let errno):
                throw PowerError(
                    code: .io, outlet: self.outlet,
                    message: "\(self.outlet): requesting \(self.chip) line \(self.line) failed (kernel ≥ 5.10 is needed "
                        + "for the GPIO v2 interface)", underlying: "\(errno)")
            }
        }
    }

    private func openChip() throws(PowerError) -> Int32 {
        switch calls.open(chip) {
        case .success(let fd): return fd
        case .failure(let errno) where errno == .noSuchFileOrDirectory:
            throw PowerError(
                code: .notFound, outlet: outlet,
                message: "\(outlet): no GPIO chip at \(chip); list the chips with `ls /dev/gpiochip*` (or gpiodetect) "
                    + "and fix [[power]] device", underlying: "\(errno)")
        case .failure(let errno) where errno == .permissionDenied || errno == .notPermitted:
            throw PowerError(
                code: .notFound, outlet: outlet,
                message: "\(outlet): may not open \(chip); run as root or add the user to group gpio",
                underlying: "\(errno)")
        case .failure(let errno):
            throw PowerError(code: .io, outlet: outlet, message: "\(outlet): cannot open \(chip)", underlying: "\(errno)")
        }
    }

    private func chipInfo(_ fd: Int32) throws(PowerError) -> (name: String, lines: UInt32) {
        var info = [UInt8](repeating: 0, count: GPIOv2.chipInfoSize)
        switch calls.ioctl(fd, GPIOv2.getChipInfoIoctl, &info) {
        case .success:
            return (GPIOv2.decodeChipName(info), GPIOv2.decodeChipLines(info))
        case .failure(let errno):
            throw PowerError(
                code: .unreachable, outlet: outlet,
                message: "\(outlet): \(chip) is not a GPIO character device; fix [[power]] device",
                underlying: "\(errno)")
        }
    }
}
