#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

extension SerialConfiguration {
    /// The termios speed constant for `baudRate`, or nil when Linux has none.
    var speedConstant: speed_t? {
        switch baudRate {
        case 50: return speed_t(B50)
        case 75: return speed_t(B75)
        case 110: return speed_t(B110)
        case 134: return speed_t(B134)
        case 150: return speed_t(B150)
        case 200: return speed_t(B200)
        case 300: return speed_t(B300)
        case 600: return speed_t(B600)
        case 1200: return speed_t(B1200)
        case 1800: return speed_t(B1800)
        case 2400: return speed_t(B2400)
        case 4800: return speed_t(B4800)
        case 9600: return speed_t(B9600)
        case 19200: return speed_t(B19200)
        case 38400: return speed_t(B38400)
        case 57600: return speed_t(B57600)
        case 115200: return speed_t(B115200)
        case 230400: return speed_t(B230400)
        case 460800: return speed_t(B460800)
        case 500000: return speed_t(B500000)
        case 576000: return speed_t(B576000)
        case 921600: return speed_t(B921600)
        case 1000000: return speed_t(B1000000)
        case 1152000: return speed_t(B1152000)
        case 1500000: return speed_t(B1500000)
        case 2000000: return speed_t(B2000000)
        case 2500000: return speed_t(B2500000)
        case 3000000: return speed_t(B3000000)
        case 3500000: return speed_t(B3500000)
        case 4000000: return speed_t(B4000000)
        default: return nil
        }
    }

    /// Applies these settings to a raw termios structure (`cfmakeraw` first: no echo, no line editing, no
    /// translation of CR/LF, no signals, 8-bit clean).
    func apply(to t: inout termios) throws(SerialIOError) {
        cfmakeraw(&t)
        guard let speed = speedConstant else {
            throw SerialIOError(
                code: .unsupportedSetting, path: nil,
                message: "baud rate \(baudRate) is not supported; use one of \(SerialConfiguration.supportedBaudRates)")
        }
        cfsetispeed(&t, speed)
        cfsetospeed(&t, speed)
        t.c_cflag &= ~tcflag_t(CSIZE)
        switch dataBits {
        case 5: t.c_cflag |= tcflag_t(CS5)
        case 6: t.c_cflag |= tcflag_t(CS6)
        case 7: t.c_cflag |= tcflag_t(CS7)
        case 8: t.c_cflag |= tcflag_t(CS8)
        default:
            throw SerialIOError(
                code: .unsupportedSetting, path: nil, message: "data bits \(dataBits) is not supported; use 5, 6, 7 or 8")
        }
        switch parity {
        case .none: t.c_cflag &= ~tcflag_t(PARENB | PARODD)
        case .even:
            t.c_cflag |= tcflag_t(PARENB)
            t.c_cflag &= ~tcflag_t(PARODD)
        case .odd: t.c_cflag |= tcflag_t(PARENB | PARODD)
        }
        switch stopBits {
        case 1: t.c_cflag &= ~tcflag_t(CSTOPB)
        case 2: t.c_cflag |= tcflag_t(CSTOPB)
        default:
            throw SerialIOError(
                code: .unsupportedSetting, path: nil, message: "stop bits \(stopBits) is not supported; use 1 or 2")
        }
        // Ignore modem control lines (a USB stick has no carrier detect worth obeying) and enable the receiver.
        t.c_cflag |= tcflag_t(CLOCAL | CREAD)
        t.c_cflag &= ~tcflag_t(CRTSCTS)
        t.c_iflag &= ~tcflag_t(IXON | IXOFF | IXANY)
        switch flowControl {
        case .none: break
        case .rtscts: t.c_cflag |= tcflag_t(CRTSCTS)
        case .xonxoff: t.c_iflag |= tcflag_t(IXON | IXOFF)
        }
        // Non-blocking reads through poll(): VMIN 0 / VTIME 0.
        withUnsafeMutableBytes(of: &t.c_cc) { cc in
            cc[Int(VMIN)] = 0
            cc[Int(VTIME)] = 0
        }
    }
}
