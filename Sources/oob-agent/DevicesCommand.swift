import ATModem
import ArgumentParser
import Foundation
import OOBAgent

/// `oob-agent devices`: the USB serial ports and network interfaces present, with the role each one seems to have.
struct DevicesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List USB serial ports and modem network interfaces (libudev) with the role each seems to have.",
        discussion: """
            Roles: AT port (modem.port), data port (link.device, PPP), network interface (link.interface), \
            console adapter (console.device). Use the "match" column in the config instead of a /dev/ttyUSBn path: \
            it survives the stick coming back under another name. --probe sends AT to candidate modem ports that \
            no other process holds.
            """
    )

    @Flag(name: .long, help: "Print JSON (an array of objects; stable for scripts).")
    var json = false

    @Flag(name: .long, help: "Send AT to modem ports nobody holds, to tell the AT port for sure.")
    var probe = false

    @Flag(name: .long, help: "Also list serial ports and interfaces that are not on USB.")
    var all = false

    @Flag(name: .customLong("udev-rules"), help: "Print etc/udev/90-oob-agent.rules filled in for the devices found.")
    var udevRules = false

    @OptionGroup var global: GlobalOptions

    /// The device paths (symlinks resolved) the running daemon uses, with the config key each is for; empty when no
    /// configuration or no daemon answers within 2 s.
    func daemonUse() -> [String: String] {
        guard let config = try? ConfigurationLoader.load(path: global.config),
            let response = try? ControlClient.send(
                ControlRequest(command: "status"), to: config.state.controlSocket, timeout: .seconds(2)),
            let status = response.status
        else { return [:] }
        var use: [String: String] = [:]
        for (path, key) in status.devicesInUse { use[Self.canonical(path)] = key }
        return use
    }

    static func canonical(_ path: String) -> String { URL(fileURLWithPath: path).resolvingSymlinksInPath().path }

    func run() async throws {
        var devices: [DiscoveredDevice]
        do {
            devices = try DeviceDiscovery.scan(includeNonUSB: all)
        } catch {
            FileHandle.standardError.write(Data("oob-agent devices: \(error)\n".utf8))
            throw ExitCode(1)
        }
        var probes: [String: ProbeOutcome] = [:]
        if probe {
            for d in devices where d.kind == .tty && d.isUSB {
                guard [.atPort, .dataPort, .candidate].contains(d.role), let path = d.path else { continue }
                probes[d.syspath] = ATPortProbe.probe(path: path)
            }
        }
        if udevRules {
            let modem = devices.first { $0.role == .atPort && (probes[$0.syspath].map { $0 == .answered } ?? true) }
            let console = devices.first { $0.role == .console }
            print(UdevRules.render(modem: modem, console: console))
            return
        }
        let inUse = daemonUse()
        func use(_ d: DiscoveredDevice) -> String? { d.path.flatMap { inUse[Self.canonical($0)] } }
        if json {
            let rows = devices.map { DeviceJSON($0, probe: probes[$0.syspath], inUse: use($0)) }
            // Foundation pretty-prints an empty array as "[\n\n]"; scripts expect the plain empty array.
            if rows.isEmpty {
                print("[]")
                return
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(rows), as: UTF8.self))
            return
        }
        if devices.isEmpty {
            print("No USB serial ports or modem network interfaces found.")
            if !DeviceDiscovery.udevDaemonRunning() {
                print("(No udev daemon runs here: names come from sysfs, /dev/serial/by-id links may be missing.)")
            }
            return
        }
        for d in devices {
            var head = "\(d.path ?? d.name)"
            if let v = d.vendorID, let p = d.productID { head += "  \(v):\(p)" }
            if let i = d.interfaceNumber { head += " if\(i)" }
            head += "  \(d.driver ?? "-")  \(d.role)"
            if let outcome = probes[d.syspath] { head += " [\(outcome)]" }
            if let key = use(d) { head += "  (in use: \(key))" }
            print(head)
            let product = [d.manufacturer, d.model].compactMap { $0 }.joined(separator: " ")
            if !product.isEmpty { print("    device:  \(product)\(d.serial.map { " (serial \($0))" } ?? "")") }
            print("    why:     \(d.reason) (\(d.confidence.rawValue))")
            if let byID = d.byIDPath { print("    by-id:   \(byID)") }
            if let m = DeviceMatch.suggestion(for: d), d.kind != .usb { print("    match:   \"\(m)\"") }
            if let fix = d.fix { print("    fix:     \(fix)") }
        }
    }
}

/// One row of `devices --json`.
private struct DeviceJSON: Encodable {
    var kind: String
    var name: String
    var path: String?
    var vendor_id: String?
    var product_id: String?
    var manufacturer: String?
    var model: String?
    var serial: String?
    var interface: String?
    var driver: String?
    var by_id: String?
    var role: String
    var confidence: String
    var reason: String
    var match: String?
    var fix: String?
    var probe: String?
    var mm_ignored: Bool
    var syspath: String
    var in_use: String?

    init(_ d: DiscoveredDevice, probe: ProbeOutcome?, inUse: String?) {
        in_use = inUse
        kind = d.kind.rawValue
        name = d.name
        path = d.path
        vendor_id = d.vendorID
        product_id = d.productID
        manufacturer = d.manufacturer
        model = d.model
        serial = d.serial
        interface = d.interfaceNumber
        driver = d.driver
        by_id = d.byIDPath
        role = d.role.rawValue
        confidence = d.confidence.rawValue
        reason = d.reason
        match = d.kind == .usb ? nil : DeviceMatch.suggestion(for: d).map { "\($0)" }
        fix = d.fix
        self.probe = probe?.jsonValue
        mm_ignored = d.ignoredByModemManager
        syspath = d.syspath
    }

    private enum CodingKeys: String, CodingKey {
        case kind, name, path, vendor_id, product_id, manufacturer, model, serial, interface, driver, by_id, role
        case confidence, reason, match, fix, probe, mm_ignored, syspath, in_use
    }

    /// Every key is always present (null when unknown), so scripts can rely on the shape.
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(name, forKey: .name)
        try c.encode(path, forKey: .path)
        try c.encode(vendor_id, forKey: .vendor_id)
        try c.encode(product_id, forKey: .product_id)
        try c.encode(manufacturer, forKey: .manufacturer)
        try c.encode(model, forKey: .model)
        try c.encode(serial, forKey: .serial)
        try c.encode(interface, forKey: .interface)
        try c.encode(driver, forKey: .driver)
        try c.encode(by_id, forKey: .by_id)
        try c.encode(role, forKey: .role)
        try c.encode(confidence, forKey: .confidence)
        try c.encode(reason, forKey: .reason)
        try c.encode(match, forKey: .match)
        try c.encode(fix, forKey: .fix)
        try c.encode(probe, forKey: .probe)
        try c.encode(mm_ignored, forKey: .mm_ignored)
        try c.encode(syspath, forKey: .syspath)
        try c.encode(in_use, forKey: .in_use)
    }
}
