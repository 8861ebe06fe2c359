/// The Linux GPIO character device uAPI v2 (`<linux/gpio.h>`, kernel ≥ 5.10), encoded by hand so that no C header
/// or struct layout is needed: every field is written at its documented byte offset, little-endian, as the kernel
/// reads it on the little-endian targets this runs on (x86_64, arm64, armhf). The layout is the same on 32- and
/// 64-bit (the uAPI uses `__aligned_u64` and explicit padding for that).
///
/// Offsets and sizes were checked against the real header with a C program (`sizeof`, `offsetof`); the test
/// `GPIOv2EncodingTests` compares a whole encoded request with the bytes that program printed.
public enum GPIOv2 {
    /// `GPIO_V2_LINES_MAX`.
    public static let linesMax = 64
    /// `GPIO_MAX_NAME_SIZE`.
    public static let maxNameSize = 32
    /// `sizeof(struct gpio_v2_line_request)`.
    public static let lineRequestSize = 592
    /// `sizeof(struct gpio_v2_line_values)`.
    public static let lineValuesSize = 16
    /// `sizeof(struct gpiochip_info)`.
    public static let chipInfoSize = 68

    // Offsets in struct gpio_v2_line_request.
    static let offsetConsumer = 256
    static let offsetConfig = 288
    static let offsetNumLines = 560
    static let offsetFD = 588
    // Offsets in struct gpio_v2_line_config (relative to it).
    static let configOffsetNumAttrs = 8
    static let configOffsetAttrs = 32
    static let configAttrSize = 24

    /// `GPIO_V2_LINE_FLAG_ACTIVE_LOW`.
    public static let flagActiveLow: UInt64 = 1 << 1
    /// `GPIO_V2_LINE_FLAG_OUTPUT`.
    public static let flagOutput: UInt64 = 1 << 3
    /// `GPIO_V2_LINE_ATTR_ID_OUTPUT_VALUES`.
    public static let attrIDOutputValues: UInt32 = 2

    /// `_IOC(dir, type, nr, size)` of `<asm-generic/ioctl.h>` (x86, arm, arm64, riscv).
    public static func ioc(direction: UInt, type: UInt, number: UInt, size: Int) -> UInt {
        (direction << 30) | (UInt(size) << 16) | (type << 8) | number
    }
    /// `GPIO_GET_CHIPINFO_IOCTL = _IOR(0xB4, 0x01, struct gpiochip_info)`.
    public static let getChipInfoIoctl = ioc(direction: 2, type: 0xB4, number: 0x01, size: chipInfoSize)
    /// `GPIO_V2_GET_LINE_IOCTL = _IOWR(0xB4, 0x07, struct gpio_v2_line_request)`.
    public static let getLineIoctl = ioc(direction: 3, type: 0xB4, number: 0x07, size: lineRequestSize)
    /// `GPIO_V2_LINE_GET_VALUES_IOCTL = _IOWR(0xB4, 0x0E, struct gpio_v2_line_values)`.
    public static let getValuesIoctl = ioc(direction: 3, type: 0xB4, number: 0x0E, size: lineValuesSize)
    /// `GPIO_V2_LINE_SET_VALUES_IOCTL = _IOWR(0xB4, 0x0F, struct gpio_v2_line_values)`.
    public static let setValuesIoctl = ioc(direction: 3, type: 0xB4, number: 0x0F, size: lineValuesSize)

    /// Encodes a `struct gpio_v2_line_request` for one output line.
    /// - Parameters:
    ///   - offset: the line offset on the chip.
    ///   - consumer: the consumer label the kernel shows (`gpioinfo`), truncated to 31 bytes.
    ///   - activeLow: whether "on" drives the line low (the kernel inverts logical values).
    ///   - initialValue: the logical value the line takes when the request is granted (the outlet's current state,
    ///     so requesting the line never toggles it).
    /// - Returns: 592 bytes.
    public static func encodeOutputLineRequest(offset: UInt32, consumer: String, activeLow: Bool, initialValue: Bool)
        -> [UInt8]
    {
        var b = [UInt8](repeating: 0, count: lineRequestSize)
        put32(&b, 0, offset)  // offsets[0]
        let name = Array(consumer.utf8.prefix(maxNameSize - 1))
        for (i, c) in name.enumerated() { b[offsetConsumer + i] = c }
        put64(&b, offsetConfig, flagOutput | (activeLow ? flagActiveLow : 0))  // config.flags
        put32(&b, offsetConfig + configOffsetNumAttrs, 1)  // config.num_attrs
        let attr = offsetConfig + configOffsetAttrs
        put32(&b, attr, attrIDOutputValues)  // attrs[0].attr.id
        put64(&b, attr + 8, initialValue ? 1 : 0)  // attrs[0].attr.values
        put64(&b, attr + 16, 1)  // attrs[0].mask: line 0 of the request
        put32(&b, offsetNumLines, 1)  // num_lines
        return b
    }

    /// The line-request descriptor the kernel wrote back into a granted request.
    public static func decodeRequestFD(_ request: [UInt8]) -> Int32 {
        Int32(bitPattern: get32(request, offsetFD))
    }

    /// Encodes a `struct gpio_v2_line_values` for line 0 of a request.
    public static func encodeValues(_ value: Bool) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: lineValuesSize)
        put64(&b, 0, value ? 1 : 0)  // bits
        put64(&b, 8, 1)  // mask
        return b
    }

    /// Reads line 0's logical value out of a `struct gpio_v2_line_values`.
    public static func decodeValue(_ values: [UInt8]) -> Bool {
        get64(values, 0) & 1 == 1
    }

    /// The number of lines out of a `struct gpiochip_info` (name[32], label[32], lines).
    public static func decodeChipLines(_ info: [UInt8]) -> UInt32 { get32(info, 64) }

    /// The chip's name out of a `struct gpiochip_info`.
    public static func decodeChipName(_ info: [UInt8]) -> String {
        String(decoding: info[0..<32].prefix { $0 != 0 }, as: UTF8.self)
    }

    static func put32(_ b: inout [UInt8], _ at: Int, _ v: UInt32) {
        for i in 0..<4 { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) }
    }

    static func put64(_ b: inout [UInt8], _ at: Int, _ v: UInt64) {
        for i in 0..<8 { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
    }

    static func get32(_ b: [UInt8], _ at: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[at + $1]) << (8 * UInt32($1)) }
    }

    static func get64(_ b: [UInt8], _ at: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[at + $1]) << (8 * UInt64($1)) }
    }
}
