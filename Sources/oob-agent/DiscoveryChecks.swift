import ATModem
import Foundation
import OOBAgent
import PowerControl

/// `oob-agent check`, the discovery part: each device key resolves to one present device (for `"auto"` and
/// matches), a ttyUSB path that can change after a reset is flagged with the match to use, and ModemManager keeps
/// off the modem. (Missing literal paths are reported by the agent's own device check.)
struct DiscoveryCheckContributor: AgentCheckContributor {
    func findings(for config: AgentConfiguration) async -> [CheckFinding] {
        var keys: [(key: String, value: String, purpose: DevicePurpose)] = []
        switch config.modem.port {
        case .auto: keys.append(("modem.port", "auto", .modemPort))
        case .path(let p): keys.append(("modem.port", p, .modemPort))
        case .match(let m): keys.append(("modem.port", m, .modemPort))
        }
        if config.link.mode == .ppp, let d = config.link.device { keys.append(("link.device", d, .linkDevice)) }
        if let c = config.console { keys.append(("console.device", c.device, .console)) }
        // A literal path that does not exist is the agent's check's finding already.
        keys.removeAll { $0.value.hasPrefix("/") && !FileManager.default.fileExists(atPath: $0.value) }
        return DeviceCheck.run(keys: keys).compactMap { f in
            switch f.severity {
            case .ok: return nil
            case .warning: return CheckFinding(.warning, f.description)
            case .problem: return CheckFinding(.problem, f.description)
            }
        }
    }
}

/// `oob-agent check`, the power part: every outlet's hardware answers (a relay board its status query, a GPIO
/// chip has the line, the program exists), without switching anything.
struct PowerCheckContributor: AgentCheckContributor {
    func findings(for config: AgentConfiguration) async -> [CheckFinding] {
        var out: [CheckFinding] = []
        for (i, p) in config.power.enumerated() {
            let c = p
            // Missing devices and programs are the agent's check's findings already.
            if let d = c.device, d.hasPrefix("/"), !FileManager.default.fileExists(atPath: d) { continue }
            if let cmd = c.command, !FileManager.default.isExecutableFile(atPath: cmd) { continue }
            do {
                _ = try await PowerSettings.makeDriver(c).probe()
            } catch let error as PowerError {
                out.append(CheckFinding(.problem, "power[\(i)]: \(error)"))
            } catch {
                out.append(CheckFinding(.problem, "power[\(i)] \"\(p.name)\": \(error)"))
            }
        }
        return out
    }
}
