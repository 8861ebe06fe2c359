/// Line settings of a serial port: speed, framing and flow control.
public struct SerialConfiguration: Hashable, Sendable {
    /// Parity bit setting.
    public enum Parity: String, Hashable, Sendable, CaseIterable { case none, even, odd }
    /// Flow control setting.
    public enum FlowControl: String, Hashable, Sendable, CaseIterable {
        case none
        /// Hardware handshake on the RTS/CTS lines.
        case rtscts
        /// Software handshake with XON/XOFF characters.
        case xonxoff
    }

    public var baudRate: Int
    public var dataBits: Int
    public var parity: Parity
    public var stopBits: Int
    public var flowControl: FlowControl

    public init(baudRate: Int = 115200, dataBits: Int = 8, parity: Parity = .none, stopBits: Int = 1,
                flowControl: FlowControl = .none) {
        self.baudRate = baudRate
        self.dataBits = dataBits
        self.parity = parity
        self.stopBits = stopBits
        self.flowControl = flowControl
    }

    /// The baud rates a Linux tty accepts (termios `B*` constants).
    public static let supportedBaudRates: [Int] = [
        50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400,
        460800, 500000, 576000, 921600, 1000000, 1152000, 1500000, 2000000, 2500000, 3000000, 3500000, 4000000,
    ]
}
