import SystemPackage
import Synchronization
import Testing

@testable import PowerControl

/// The GPIO driver as far as this machine allows: it has no GPIO chip (no /dev/gpiochipN, no gpio-sim/gpio-mockup
/// module), so the request and value encoding is compared byte for byte with what the kernel header's structs hold
/// (printed by a C program compiled against /usr/include/linux/gpio.h), the ioctl numbers with the header's
/// macros, the error paths run against the real kernel (a missing chip, a file that is not a chip), and the
/// driver's call sequence against a scripted chip.
@Suite("Power: GPIO character device v2")
struct GPIOv2Tests {
    /// Non-zero bytes of `struct gpio_v2_line_request` for offset 17, consumer "oob-agent:router",
    /// OUTPUT|ACTIVE_LOW, one OUTPUT_VALUES attribute with value 1 and mask 1, num_lines 1, as printed by a C
    /// program using <linux/gpio.h> on x86_64 (sizeof 592; consumer at 256, config at 288, num_lines at 560).
    static let referenceNonZero: [Int: UInt8] = [
        0: 0x11, 256: 0x6f, 257: 0x6f, 258: 0x62, 259: 0x2d, 260: 0x61, 261: 0x67, 262: 0x65, 263: 0x6e, 264: 0x74,
        265: 0x3a, 266: 0x72, 267: 0x6f, 268: 0x75, 269: 0x74, 270: 0x65, 271: 0x72, 288: 0x0a, 296: 0x01,
        320: 0x02, 328: 0x01, 336: 0x01, 560: 0x01,
    ]

    @Test("The line request encodes exactly as the kernel header's struct")
    func requestBytes() {
        let bytes = GPIOv2.encodeOutputLineRequest(offset: 17, consumer: "oob-agent:router", activeLow: true, initialValue: true)
        #expect(bytes.count == 592)
        var nonZero: [Int: UInt8] = [:]
        for (i, b) in bytes.enumerated() where b != 0 { nonZero[i] = b }
        #expect(nonZero == Self.referenceNonZero)
        // Without active-low and with initial value 0 only those two fields change.
        let plain = GPIOv2.encodeOutputLineRequest(offset: 17, consumer: "oob-agent:router", activeLow: false, initialValue: false)
        #expect(plain[288] == 0x08 && plain[328] == 0x00)
    }

    @Test("Values, chip info and ioctl numbers as <linux/gpio.h> defines them")
    func numbers() {
        #expect(GPIOv2.encodeValues(true) == [1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
        #expect(GPIOv2.encodeValues(false) == [0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
        #expect(GPIOv2.decodeValue(GPIOv2.encodeValues(true)))
        #expect(GPIOv2.getLineIoctl == 0xC250_B407)
        #expect(GPIOv2.setValuesIoctl == 0xC010_B40F)
        #expect(GPIOv2.getValuesIoctl == 0xC010_B40E)
        #expect(GPIOv2.getChipInfoIoctl == 0x8044_B401)
        var info = [UInt8](repeating: 0, count: 68)
        for (i, c) in "gpiochip0".utf8.enumerated() { info[i] = c }
        info[64] = 54
        #expect(GPIOv2.decodeChipName(info) == "gpiochip0" && GPIOv2.decodeChipLines(info) == 54)
        var granted = GPIOv2.encodeOutputLineRequest(offset: 1, consumer: "x", activeLow: false, initialValue: false)
        granted[588] = 9
        #expect(GPIOv2.decodeRequestFD(granted) == 9)
        // A consumer label longer than the kernel's 32 bytes is cut, leaving the terminating zero.
        let long = GPIOv2.encodeOutputLineRequest(offset: 0, consumer: String(repeating: "x", count: 40), activeLow: false, initialValue: false)
        #expect(long[256 + 30] == UInt8(ascii: "x") && long[256 + 31] == 0)
    }

    @Test("Real kernel: a missing chip and a file that is not a chip give clear errors")
    func realKernelErrors() async {
        let missing = GPIOLineDriver(outlet: "bms", chip: "/dev/gpiochip-none-\(UInt32.random(in: 0...9999))", line: 3, activeLow: false)
        await #expect {
            _ = try await missing.probe()
        } throws: { error in
            guard let e = error as? PowerError else { return false }
            return e.code == .notFound && e.message.contains("ls /dev/gpiochip*")
        }
        let notAChip = GPIOLineDriver(outlet: "bms", chip: "/dev/null", line: 3, activeLow: false)
        await #expect {
            try await notAChip.on()
        } throws: { error in
            guard let e = error as? PowerError else { return false }
            return e.code == .unreachable && e.message.contains("not a GPIO character device")
        }
    }

    /// A scripted GPIO chip: answers chip info, grants one line request, records every call.
    final class ScriptedChip: Sendable {
        let calls = Mutex<[String]>([])
        let requests = Mutex<[[UInt8]]>([])
        let values = Mutex<[[UInt8]]>([])
        let lines: UInt32
        let busy: Bool
        init(lines: UInt32 = 32, busy: Bool = false) {
            self.lines = lines
            self.busy = busy
        }
        var system: GPIOSystemCalls {
            GPIOSystemCalls(
                open: { path in
                    self.calls.withLock { $0.append("open \(path)") }
                    return .success(40)
                },
                ioctl: { fd, request, buffer in
                    switch request {
                    case GPIOv2.getChipInfoIoctl:
                        self.calls.withLock { $0.append("chipinfo") }
                        for (i, c) in "gpiochip0".utf8.enumerated() { buffer[i] = c }
                        GPIOv2.put32(&buffer, 64, self.lines)
                        return .success(0)
                    case GPIOv2.getLineIoctl:
                        self.calls.withLock { $0.append("get-line") }
                        self.requests.withLock { $0.append(buffer) }
                        if self.busy { return .failure(.resourceBusy) }
                        GPIOv2.put32(&buffer, 588, 41)
                        return .success(0)
                    case GPIOv2.setValuesIoctl:
                        self.calls.withLock { $0.append("set-values fd \(fd)") }
                        self.values.withLock { $0.append(buffer) }
                        return .success(0)
                    default:
                        return .failure(.invalidArgument)
                    }
                },
                close: { fd in self.calls.withLock { $0.append("close \(fd)") } })
        }
    }

    @Test("First action requests the line with the wanted value; later actions only set values; probe never drives")
    func callSequence() async throws {
        let chip = ScriptedChip()
        let driver = GPIOLineDriver(outlet: "bms", chip: "/dev/gpiochip0", line: 17, activeLow: true, calls: chip.system)
        let probe = try await driver.probe()
        #expect(probe.detail.contains("gpiochip0") && probe.detail.contains("line 17"))
        #expect(chip.calls.withLock { $0 } == ["open /dev/gpiochip0", "chipinfo", "close 40"])
        try await driver.off()
        let request = try #require(chip.requests.withLock { $0.first })
        #expect(request == GPIOv2.encodeOutputLineRequest(offset: 17, consumer: "oob-agent:bms", activeLow: true, initialValue: false))
        try await driver.on()
        try await driver.off()
        #expect(
            chip.calls.withLock { $0 } == [
                "open /dev/gpiochip0", "chipinfo", "close 40",
                "open /dev/gpiochip0", "chipinfo", "get-line", "close 40",
                "set-values fd 41", "set-values fd 41",
            ])
        #expect(chip.values.withLock { $0 } == [GPIOv2.encodeValues(true), GPIOv2.encodeValues(false)])
    }

    @Test("A line in use and a line beyond the chip are clear errors")
    func lineErrors() async {
        let busy = GPIOLineDriver(outlet: "bms", chip: "/dev/gpiochip0", line: 4, activeLow: false, calls: ScriptedChip(busy: true).system)
        await #expect {
            try await busy.on()
        } throws: { ($0 as? PowerError)?.code == .busy && ($0 as? PowerError)?.message.contains("gpioinfo") == true }
        let beyond = GPIOLineDriver(outlet: "bms", chip: "/dev/gpiochip0", line: 40, activeLow: false, calls: ScriptedChip(lines: 32).system)
        await #expect {
            _ = try await beyond.probe()
        } throws: { ($0 as? PowerError)?.code == .configuration && ($0 as? PowerError)?.message.contains("no line 40") == true }
    }
}
