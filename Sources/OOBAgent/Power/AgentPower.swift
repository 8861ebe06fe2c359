import ATModem
public import PowerControl

/// How the agent builds the drivers of its `[[power]]` outlets: like `PowerDrivers.make`, except that a
/// serial-relay `device` written as a device match (`usb:0403:6001,serial=…`, a by-id path) is resolved with
/// libudev discovery at every action, so a board that re-enumerated (`ttyUSB4` → `ttyUSB6`) is still found.
public enum AgentPower {
    /// Builds an outlet's driver. Touches no hardware.
    /// - Throws: `PowerError` `.configuration` when the entry lacks what its driver needs, `.notFound` for a
    ///   device match that cannot be parsed.
    public static func makeDriver(_ c: PowerOutletConfiguration) throws(PowerError) -> any PowerDriver {
        guard c.driver == .serialRelay, let device = c.device, isMatch(device) else { return try PowerDrivers.make(c) }
        do {
            _ = try DeviceMatch.parse(device)
        } catch {
            throw PowerError(code: .configuration, outlet: c.name, message: "\(c.name): device \"\(device)\": \(error)")
        }
        return ResolvingPowerDriver(configuration: c, template: try PowerDrivers.make(c))
    }

    /// Resolves a serial-relay device match to the board's current path (other entries are returned as they are).
    /// - Throws: `PowerError` `.notFound` naming the match and the fix.
    public static func resolved(_ c: PowerOutletConfiguration) throws(PowerError) -> PowerOutletConfiguration {
        guard c.driver == .serialRelay, let device = c.device, isMatch(device) else { return c }
        do {
            let match = try DeviceMatch.parse(device)
            if match.isLiteral { return c }
            let resolution = try DeviceResolver.resolve(match, for: .serialPort, in: try DeviceDiscovery.scan())
            var r = c
            r.device = resolution.path
            return r
        } catch {
            throw PowerError(
                code: .notFound, outlet: c.name,
                message: "\(c.name): device \"\(device)\" not found (\(error)); fix: plug the relay board in, or correct "
                    + "the match (`oob-agent devices` lists what is connected)")
        }
    }

    static func isMatch(_ device: String) -> Bool {
        !(device.hasPrefix("/dev/tty") || device.hasPrefix("/dev/pts/"))
    }
}

/// A serial relay board named by a device match: resolved to its path at each action.
struct ResolvingPowerDriver: PowerDriver {
    let configuration: PowerOutletConfiguration
    let template: any PowerDriver

    var summary: String { template.summary }
    var actionTimeout: Duration { template.actionTimeout }

    private func current() throws -> any PowerDriver {
        try PowerDrivers.make(try AgentPower.resolved(configuration))
    }

    func on() async throws { try await current().on() }
    func off() async throws { try await current().off() }
    func cycle(offTime: Duration) async throws { try await current().cycle(offTime: offTime) }
    func probe() async throws -> PowerProbeResult { try await current().probe() }
}
