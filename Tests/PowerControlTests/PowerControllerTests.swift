import Foundation
import Logging
import OOBTestSupport
import Synchronization
import Testing

@testable import PowerControl

/// The controller: no toggling at start, persisted state, per-outlet serialization, deadlines, the action log.
@Suite("Power: controller", .serialized, .timeLimit(.minutes(2)))
struct PowerControllerTests {
    static let logger = Logger(label: "power-test") { _ in SwiftLogNoOpLogHandler() }

    static func tempDir() throws -> String {
        let dir = NSTemporaryDirectory() + "oob-power-state-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static func relay(_ name: String, _ board: RelayBoardEmulator, channel: Int, offTime: Duration = .milliseconds(200))
        -> PowerOutletConfiguration
    {
        PowerOutletConfiguration(name: name, driver: .serialRelay, device: board.devicePath, channel: channel, offTime: offTime)
    }

    @Test("Starting never drives an output; the state survives a restart; every action is logged with who asked")
    func restartAndLog() async throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let board = try RelayBoardEmulator(relayCount: 2)
        defer { board.stop() }
        let config = [Self.relay("router", board, channel: 1)]

        let first = try PowerController(configurations: config, stateDirectory: dir, logger: Self.logger)
        #expect(await first.list().map(\.state) == [.unknown])
        let sms = PowerRequester(channel: "sms", identity: "+46701234567", sessionActive: false)
        let result = try await first.perform(.off, on: "ROUTER", requestedBy: sms)
        #expect(result.message == "router off" && result.state == .off)

        // A new controller (the daemon restarted) knows the state and sends nothing to the board.
        let framesBefore = board.received.count
        let second = try PowerController(configurations: config, stateDirectory: dir, logger: Self.logger)
        let status = try #require(await second.list().first)
        #expect(status.state == .off && status.changedBy == "sms:+46701234567")
        try await Task.sleep(for: .milliseconds(200))
        #expect(board.received.count == framesBefore)
        #expect(!board.relay(1))

        let cli = PowerRequester(channel: "cli", identity: "root (uid 0)")
        _ = try await second.perform(.cycle, on: "router", requestedBy: cli)
        #expect(board.relay(1))
        let log = await second.actionLog()
        #expect(log.map(\.action) == ["off", "cycle"])
        #expect(log.map(\.by) == ["sms:+46701234567", "cli:root (uid 0)"])
        #expect(log.map(\.result) == ["ok", "ok"])
        #expect(log.last?.message == "router cycled")
    }

    @Test("Two requests for the same outlet never interleave")
    func serialized() async throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let board = try RelayBoardEmulator(relayCount: 2)
        defer { board.stop() }
        let controller = try PowerController(
            configurations: [Self.relay("router", board, channel: 1, offTime: .milliseconds(300))], stateDirectory: dir,
            logger: Self.logger)
        let who = PowerRequester(channel: "cli", identity: "test")
        async let a = controller.perform(.cycle, on: "router", requestedBy: who)
        async let b = controller.perform(.cycle, on: "router", requestedBy: who)
        async let c = controller.perform(.off, on: "router", requestedBy: who)
        _ = try await (a, b, c)
        let switches = board.received.filter { $0[2] != 0x03 }.map { $0[2] }
        // Each cycle is an uninterrupted off→on pair; the lone off stands alone, in whatever order they queued.
        let text = switches.map { $0 == 1 ? "1" : "0" }.joined()
        #expect(["01010", "01001", "00101"].contains(text), "switch sequence \(text)")
    }

    @Test("Unknown outlets, the no-session rule and duplicate names are clear errors")
    func refusals() async throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var c = PowerOutletConfiguration(name: "router", driver: .command, command: "/bin/true")
        c.allowWithoutSession = false
        let controller = try PowerController(configurations: [c], stateDirectory: dir, logger: Self.logger)
        await #expect {
            _ = try await controller.perform(.on, on: "switch", requestedBy: .localUser())
        } throws: { ($0 as? PowerError)?.message == "no outlet \"switch\"; configured: router" }
        await #expect {
            _ = try await controller.perform(
                .cycle, on: "router", requestedBy: PowerRequester(channel: "sms", identity: "+1", sessionActive: false))
        } throws: { ($0 as? PowerError)?.code == .notAllowed }
        #expect(await controller.actionLog().map(\.result) == ["failed"])
        #expect(throws: PowerError.self) {
            _ = try PowerController(configurations: [c, c], stateDirectory: dir, logger: Self.logger)
        }
    }

    /// A driver whose switching takes `delay` (a stuck board), to exercise the controller's own deadline.
    struct SlowDriver: PowerDriver {
        let delay: Duration
        let calls: Calls
        final class Calls: Sendable {
            let log = Mutex<[String]>([])
        }
        var summary: String { "slow" }
        var actionTimeout: Duration { .milliseconds(100) }
        func on() async throws {
            calls.log.withLock { $0.append("on start") }
            try await Task.sleep(for: delay)
            calls.log.withLock { $0.append("on end") }
        }
        func off() async throws {
            calls.log.withLock { $0.append("off start") }
            try await Task.sleep(for: delay)
            calls.log.withLock { $0.append("off end") }
        }
        func probe() async throws -> PowerProbeResult { PowerProbeResult(state: .unknown, detail: "slow") }
    }

    @Test("An action past its deadline fails for the caller, but the outlet stays locked until the driver returns")
    func deadline() async throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let calls = SlowDriver.Calls()
        let controller = try PowerController(
            configurations: [PowerOutletConfiguration(name: "router", driver: .command, command: "/bin/true")],
            stateDirectory: dir, logger: Self.logger,
            makeDriver: { _ in SlowDriver(delay: .milliseconds(1500), calls: calls) })
        let who = PowerRequester(channel: "cli", identity: "test")
        await #expect {
            _ = try await controller.perform(.on, on: "router", requestedBy: who)
        } throws: { ($0 as? PowerError)?.code == .timedOut }
        // The next request waits for the stuck one: its driver call starts only after "on end".
        await #expect(throws: PowerError.self) { _ = try await controller.perform(.off, on: "router", requestedBy: who) }
        try await Task.sleep(for: .milliseconds(2000))
        #expect(calls.log.withLock { $0 } == ["on start", "on end", "off start", "off end"])
        #expect(await controller.actionLog().map(\.result) == ["done-late", "done-late"])
    }

    @Test("check's probe covers every outlet and names the broken one")
    func probeAll() async throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let board = try RelayBoardEmulator(relayCount: 2)
        defer { board.stop() }
        let controller = try PowerController(
            configurations: [
                Self.relay("router", board, channel: 1),
                PowerOutletConfiguration(name: "plug", driver: .command, command: "/nonexistent/plug"),
            ], stateDirectory: dir, logger: Self.logger)
        let results = await controller.probeAll()
        #expect(results.map(\.outlet) == ["router", "plug"])
        if case .success(let r) = results[0].result { #expect(r.state == .off) } else { Issue.record("router: \(results[0])") }
        if case .failure(let e) = results[1].result { #expect(e.code == .notFound) } else { Issue.record("plug: \(results[1])") }
        #expect(board.received == [[0xFF, 1, 3]], "probing sent only the status query")
    }
}
