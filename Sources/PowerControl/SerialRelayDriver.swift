import SerialIO

/// The KMTronic-style relay protocol: three bytes `FF nn ss` at 9600 8N1 (pure encoding and decoding).
///
/// From KMTronic's published command lists: `FF nn 01` switches relay `nn` on, `FF nn 00` off; one- and two-relay
/// boards answer `FF nn 03` with `FF nn ss` (ss 01 on, 00 off); four- and eight-relay boards answer `FF 09 00` with
/// one status byte per relay.
public enum KMTronicProtocol {
    /// The start byte of every command.
    public static let start: UInt8 = 0xFF
    /// `FF nn 01` / `FF nn 00`.
    public static func command(channel: Int, on: Bool) -> [UInt8] {
        [start, UInt8(channel), on ? 0x01 : 0x00]
    }
    /// `FF nn 03`: status of one relay.
    public static func relayStatusRequest(channel: Int) -> [UInt8] {
        [start, UInt8(channel), 0x03]
    }
    /// `FF 09 00`: status of every relay of a four- or eight-relay board.
    public static let boardStatusRequest: [UInt8] = [start, 0x09, 0x00]

    /// The state in a `FF nn ss` reply for `channel`, or nil when the bytes hold none (yet).
    public static func parseRelayStatus(_ bytes: [UInt8], channel: Int) -> PowerState? {
        guard bytes.count >= 3 else { return nil }
        for i in 0...(bytes.count - 3) where bytes[i] == start && bytes[i + 1] == UInt8(channel) {
            switch bytes[i + 2] {
            case 0x01: return .on
            case 0x00: return .off
            default: return .unknown
            }
        }
        return nil
    }

    /// The state of `channel` in a board status reply (one byte per relay, relay 1 first), or nil when short.
    public static func parseBoardStatus(_ bytes: [UInt8], channel: Int) -> PowerState? {
        guard channel >= 1, bytes.count >= channel else { return nil }
        switch bytes[channel - 1] {
        case 0x01: return .on
        case 0x00: return .off
        default: return .unknown
        }
    }
}

/// A relay on a KMTronic-style USB-serial relay board.
///
/// Each action opens the port exclusively (so nothing else writes to the board meanwhile), sends the command,
/// and, unless `statusQuery` is `.none`, asks the board for the relay's state and fails if it does not confirm.
public struct SerialRelayDriver: PowerDriver {
    /// The outlet's name (for errors).
    public let outlet: String
    /// The board's serial port.
    public let device: String
    /// The relay number, 1–254.
    public let channel: Int
    /// How the board reports state.
    public let statusQuery: PowerOutletConfiguration.StatusQuery
    /// Line speed (KMTronic: 9600).
    public let baudRate: Int
    /// How long to wait for a status reply.
    public let replyTimeoutMilliseconds: Int

    /// Creates the driver; touches no hardware.
    public init(
        outlet: String, device: String, channel: Int, statusQuery: PowerOutletConfiguration.StatusQuery = .relay,
        baudRate: Int = 9600, replyTimeoutMilliseconds: Int = 1000
    ) {
        self.outlet = outlet
        self.device = device
        self.channel = channel
        self.statusQuery = statusQuery
        self.baudRate = baudRate
        self.replyTimeoutMilliseconds = replyTimeoutMilliseconds
    }

    public var summary: String { "serial-relay \(device) relay \(channel)" }
    public var actionTimeout: Duration { .milliseconds(2 * replyTimeoutMilliseconds + 2000) }

    public func on() async throws { try await set(true) }
    public func off() async throws { try await set(false) }

    public func probe() async throws -> PowerProbeResult {
        let me = self
        return try await runBlocking { () throws(PowerError) -> PowerProbeResult in
            let port = try me.open()
            defer { port.close() }
            switch me.statusQuery {
            case .none:
                return PowerProbeResult(
                    state: .unknown, detail: "\(me.device) opens (the board is not asked for its state: status_query = none)")
            case .relay, .board:
                let state = try me.queryState(port)
                return PowerProbeResult(state: state, detail: "relay board on \(me.device) answers: relay \(me.channel) is \(state)")
            }
        }
    }

    private func set(_ on: Bool) async throws(PowerError) {
        let me = self
        try await runBlocking { () throws(PowerError) in
            let port = try me.open()
            defer { port.close() }
            do throws(SerialIOError) {
                try port.writeAll(KMTronicProtocol.command(channel: me.channel, on: on), timeoutMilliseconds: 1000)
                try port.drain()
            } catch {
                throw me.error(.io, "writing to the relay board failed", error)
            }
            guard me.statusQuery != .none else { return }
            let state = try me.queryState(port)
            if state != (on ? .on : .off) {
                throw PowerError(
                    code: .noConfirmation, outlet: me.outlet,
                    message: "\(me.outlet): the relay board on \(me.device) reports relay \(me.channel) \(state) after "
                        + "switching it \(on ? "on" : "off"); check the wiring and the channel number")
            }
        }
    }

    private func open() throws(PowerError) -> SerialPort {
        do throws(SerialIOError) {
            return try SerialPort(path: device, configuration: SerialConfiguration(baudRate: baudRate), exclusive: true)
        } catch {
            switch error.code {
            case .notFound:
                throw PowerError(
                    code: .notFound, outlet: outlet,
                    message: "\(outlet): no relay board at \(device); plug it in or fix [[power]] device "
                        + "(`oob-agent devices` lists serial ports)", underlying: error.description)
            case .busy:
                throw PowerError(code: .busy, outlet: outlet, message: "\(outlet): \(error.message)")
            case .permissionDenied:
                throw PowerError(
                    code: .notFound, outlet: outlet,
                    message: "\(outlet): may not open \(device); run as root or add the user to group dialout",
                    underlying: error.description)
            default:
                throw self.error(.unreachable, "cannot open the relay board's port", error)
            }
        }
    }

    /// Asks the board for the relay's state; `.unreachable` when it does not answer in time.
    private func queryState(_ port: SerialPort) throws(PowerError) -> PowerState {
        let request =
            statusQuery == .board
            ? KMTronicProtocol.boardStatusRequest : KMTronicProtocol.relayStatusRequest(channel: channel)
        var received: [UInt8] = []
        do throws(SerialIOError) {
            // Discard stale input (an earlier late reply). Not tcflush: on some ports (ptys) that also discards
            // the command just written before the board has read it.
            // (SerialPort.read on an empty raw tty reports a hang-up: read only what poll says is there.)
            while try port.waitReadable(timeoutMilliseconds: 0) {
                if try port.read().isEmpty { break }
            }
            try port.writeAll(request, timeoutMilliseconds: 1000)
            let deadline = Monotonic.now() + Int64(replyTimeoutMilliseconds) * 1_000_000
            while true {
                let left = Int((deadline - Monotonic.now()) / 1_000_000)
                if left <= 0 { break }
                if try port.waitReadable(timeoutMilliseconds: left) {
                    received += try port.read()
                    let parsed =
                        statusQuery == .board
                        ? (received.count >= 8 ? KMTronicProtocol.parseBoardStatus(received, channel: channel) : nil)
                        : KMTronicProtocol.parseRelayStatus(received, channel: channel)
                    if let parsed { return parsed }
                }
            }
        } catch {
            throw self.error(.io, "talking to the relay board failed", error)
        }
        // A four-relay board answers four bytes: accept a short board reply once the wait is over.
        if statusQuery == .board, let state = KMTronicProtocol.parseBoardStatus(received, channel: channel) {
            return state
        }
        throw PowerError(
            code: .unreachable, outlet: outlet,
            message: "\(outlet): the relay board on \(device) did not answer the status query "
                + "(\(received.count) bytes back); check that it is a KMTronic-style board at \(baudRate) baud, or set "
                + "status_query = \"\(statusQuery == .relay ? "board" : "relay")\" or \"none\" for boards that cannot report")
    }

    private func error(_ code: PowerError.Code, _ what: String, _ underlying: SerialIOError) -> PowerError {
        PowerError(code: code, outlet: outlet, message: "\(outlet): \(what) on \(device)", underlying: underlying.description)
    }
}
