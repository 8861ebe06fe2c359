// cellular-link-probe: drives the CellularLink module from inside a network namespace, for the tests and the
// benchmark (`ip netns exec SITE cellular-link-probe CONFIG.json`). Commands on stdin, one JSON line per
// answer on stdout:
//   up | down | recover | resolve HOST | verify ADDRESS PORT | echo ADDRESS PORT TEXT | counters IF | quit
// Link events are printed as they happen: {"event":"died","reason":"…"}.

import CellularLink
import Foundation
import Logging

struct ProbeConfiguration: Codable {
    var mode: String
    var interface: String?
    var device: String?
    var atPort: String?
    var apn: String?
    var pppd: String?
    var upTimeoutSeconds: Double?
    var stopGraceSeconds: Double?
    var stateDirectory: String
    var staticAddress: String?
    var gateway: String?
    var dns: [String]?
    var routingTable: Int?
    var rulePriority: Int?
    var dhcpClient: String?
}

let output = FileHandle.standardOutput
func reply(_ object: [String: Any]) {
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
    output.write(data + Data("\n".utf8))
}

func failure(_ error: any Error) -> [String: Any] {
    if let e = error as? CellularLinkError {
        return ["ok": false, "code": "\(e.code)", "error": e.description]
    }
    return ["ok": false, "code": "other", "error": "\(error)"]
}

func infoObject(_ info: LinkInfo) -> [String: Any] {
    [
        "interface": info.interface, "localAddress": info.localAddress ?? NSNull(),
        "peer": info.peer ?? NSNull(), "dnsServers": info.dnsServers, "prefixLength": info.prefixLength ?? NSNull(),
    ]
}

let arguments = CommandLine.arguments
guard arguments.count == 2, let data = FileManager.default.contents(atPath: arguments[1]),
    let probeConfiguration = try? JSONDecoder().decode(ProbeConfiguration.self, from: data)
else {
    FileHandle.standardError.write(Data("usage: cellular-link-probe CONFIG.json (see Tests/CellularLinkProbe/main.swift)\n".utf8))
    exit(2)
}

var logger = Logger(label: "cellular-link-probe") { StreamLogHandler.standardError(label: $0) }
logger.logLevel = ProcessInfo.processInfo.environment["PROBE_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .info

var configuration = LinkConfiguration(
    mode: LinkConfiguration.Mode(rawValue: probeConfiguration.mode) ?? .none,
    interface: probeConfiguration.interface, device: probeConfiguration.device, atPort: probeConfiguration.atPort,
    apn: probeConfiguration.apn, stateDirectory: probeConfiguration.stateDirectory)
if let p = probeConfiguration.pppd { configuration.pppdPath = p }
if let s = probeConfiguration.upTimeoutSeconds { configuration.upTimeout = .milliseconds(Int(s * 1000)) }
if let s = probeConfiguration.stopGraceSeconds { configuration.stopGrace = .milliseconds(Int(s * 1000)) }
if let t = probeConfiguration.routingTable { configuration.routingTable = t }
if let p = probeConfiguration.rulePriority { configuration.rulePriority = p }
if let d = probeConfiguration.dhcpClient { configuration.dhcpClientPath = d }
if let a = probeConfiguration.staticAddress {
    configuration.addressing = .staticAddress(address: a, gateway: probeConfiguration.gateway, dnsServers: probeConfiguration.dns ?? [])
}

let (commands, commandSink) = AsyncStream<String>.makeStream()
let stdinThread = Thread {
    while let line = readLine() { commandSink.yield(line) }
    commandSink.finish()
}
stdinThread.start()

let link: any CellularLink
do {
    link = try makeCellularLink(configuration, logger: logger)
} catch {
    reply(failure(error))
    exit(2)
}
let eventTask = Task {
    for await event in link.events {
        switch event {
        case .died(let reason): reply(["event": "died", "reason": reason])
        }
    }
}
reply(["ready": true, "pid": Int(getpid()), "pausesSMS": link.pausesSMS])

var current: LinkInfo?
for await line in commands {
    let words = line.split(separator: " ", maxSplits: 3).map(String.init)
    guard let command = words.first else { continue }
    switch command {
    case "up":
        do {
            let info = try await link.up(deadline: .now.advanced(by: configuration.upTimeout))
            current = info
            reply(["ok": true, "info": infoObject(info)])
        } catch {
            reply(failure(error))
        }
    case "down":
        await link.down()
        current = nil
        reply(["ok": true])
    case "recover":
        let n = await recoverLeftovers(stateDirectory: configuration.stateDirectory, logger: logger)
        reply(["ok": true, "undone": n])
    case "resolve" where words.count == 2:
        guard let info = current else {
            reply(["ok": false, "error": "link not up"])
            continue
        }
        do {
            let r = try await JumpHostResolver(stateDirectory: configuration.stateDirectory, logger: logger)
                .resolve(words[1], via: info)
            reply(["ok": true, "address": r.address, "source": r.source.rawValue, "server": r.server ?? NSNull()])
        } catch {
            reply(failure(error))
        }
    case "verify" where words.count == 3:
        guard let info = current, let port = UInt16(words[2]) else {
            reply(["ok": false, "error": "link not up or bad port"])
            continue
        }
        do {
            let r = try await PathVerifier.verify(link: info, address: words[1], port: port, timeout: .seconds(5))
            reply(["ok": true, "interface": r.interface, "probePackets": r.probePackets.map { Int($0) } ?? 0])
        } catch {
            reply(failure(error))
        }
    case "echo" where words.count == 4:
        guard let info = current, let port = UInt16(words[2]) else {
            reply(["ok": false, "error": "link not up or bad port"])
            continue
        }
        do {
            let c = try LinkTCPConnection(
                interface: info.interface, localAddress: info.localAddress, address: words[1], port: port,
                timeout: .seconds(5))
            defer { c.close() }
            let payload = Array((words[3] + "\n").utf8)
            try c.send(payload, timeout: .seconds(5))
            var got: [UInt8] = []
            while got.count < payload.count {
                let chunk = try c.receive(timeout: .seconds(5))
                if chunk.isEmpty { break }
                got += chunk
            }
            reply(["ok": true, "echo": String(decoding: got, as: UTF8.self).trimmingCharacters(in: .newlines)])
        } catch {
            reply(failure(error))
        }
    case "counters" where words.count == 2:
        if let c = InterfaceCounters.read(words[1]) {
            reply(["ok": true, "rxBytes": c.rxBytes, "txBytes": c.txBytes])
        } else {
            reply(["ok": false, "error": "no such interface"])
        }
    case "quit":
        eventTask.cancel()
        reply(["ok": true])
        exit(0)
    default:
        reply(["ok": false, "error": "unknown command: \(line)"])
    }
}
eventTask.cancel()
