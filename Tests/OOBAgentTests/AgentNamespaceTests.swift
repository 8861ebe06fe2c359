import Foundation
import ModemEmulator
import OOBTestSupport
import Testing

@testable import OOBAgent

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// Whether `ip netns` really works here (root, iproute2, and a kernel/container that lets us create one); probed
/// once by creating and deleting a namespace.
let namespacesWork: Bool = {
    guard NamespaceTopology.canRun else {
        print("AgentNamespaceTests skipped: needs root and /usr/sbin/ip to create network namespaces")
        return false
    }
    let name = "oobprobe-\(String(format: "%06x", UInt32.random(in: 0...0xff_ffff)))"
    guard (try? sh(["/usr/sbin/ip", "netns", "add", name])) != nil else {
        print("AgentNamespaceTests skipped: `ip netns add` fails on this machine")
        return false
    }
    _ = try? sh(["/usr/sbin/ip", "netns", "del", name], check: false)
    return true
}()

/// The whole daemon (the built binary) inside a site namespace whose main uplink cannot reach the jump host:
/// SMS in through the emulator, the link up, the jump host resolved through the link's DNS (or given by
/// address), the forward on the real OpenSSH jump host, bytes through it, the session ended, and then the
/// byte counters and the routing state (see ``NamespaceSite``, ``NamespaceTopology``).
extension AgentIntegrationSuites {
    @Suite(
        "Daemon in network namespaces", .serialized, .timeLimit(.minutes(5)),
        .enabled(if: Binary.exists, "the oob-agent binary is not built (swift build --build-tests)"),
        .enabled(if: namespacesWork, "needs root and `ip netns` to build the site/carrier topology")
    )
    struct AgentNamespaceTests {
        static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

        /// UP by SMS → forward on the jump host → bytes through it; returns the code time used.
        func bringUp(_ s: NamespaceSite, logName: String, payloadBytes: Int = 20_000) async throws -> Int64 {
            let t = Self.now()
            try s.deliver("UP \(s.code(at: t))", at: t)
            #expect(await waitUntil(60) { s.forwardListening }, "forward never listened: \(s.log(logName))\n\(s.jumpHost.log())")
            #expect(await waitUntil { s.sentTexts.contains { $0.hasPrefix("UP until ") && $0.hasSuffix("ssh -p \(s.forwardPort) \(s.tunnelHost)") } }, "\(s.sentTexts)")
            let payload = randomPayload(payloadBytes)
            #expect(try await offPool { try s.echoThroughForward(payload) } == payload, "the bytes did not come back through the forward")
            return t
        }

        /// Main uplink: no byte either way. Cellular: at least the payload each way.
        func expectPinned(
            _ before: [String: (rx: UInt64, tx: UInt64)], _ after: [String: (rx: UInt64, tx: UInt64)],
            main: String, cellular: String, cellularBefore: (rx: UInt64, tx: UInt64)? = nil, payload: Int
        ) {
            let mainBefore = before[main] ?? (0, 0)
            let mainAfter = after[main] ?? (0, 0)
            #expect(mainAfter.tx == mainBefore.tx, "\(mainAfter.tx - mainBefore.tx) bytes left over the main uplink")
            #expect(mainAfter.rx == mainBefore.rx, "\(mainAfter.rx - mainBefore.rx) bytes came in over the main uplink")
            let cellBefore = cellularBefore ?? before[cellular] ?? (0, 0)
            let cellAfter = after[cellular] ?? (0, 0)
            #expect(cellAfter.tx >= cellBefore.tx + UInt64(payload), "the cellular uplink sent \(cellAfter.tx - cellBefore.tx) bytes")
            #expect(cellAfter.rx >= cellBefore.rx + UInt64(payload), "the cellular uplink received \(cellAfter.rx - cellBefore.rx) bytes")
        }

        @Test("interface mode, jump host by name: resolved through the link's DNS, pinned to the stick, DOWN, state as before")
        func interfaceByName() async throws {
            let s = try await offPool { try NamespaceSite(link: .interface, hostByName: true) }
            defer { s.destroy() }
            let t = s.topology
            // Without the link the jump host is unreachable: the main uplink's far end has no route to it. The attempt
            // shows on the main uplink's counters, which proves they are the ones that would count a leak.
            let probeBefore = try t.sysfsCounters()[t.mainIf]?.tx ?? 0
            #expect(!s.mainPathReachesJumpHost(), "the main uplink must not reach the jump host, or the test proves nothing")
            #expect((try t.sysfsCounters()[t.mainIf]?.tx ?? 0) > probeBefore, "the main uplink's counter did not see the probe")
            let before = try t.snapshot()
            let daemon = try await s.startDaemon(log: "daemon.log")
            let countersBefore = try t.sysfsCounters()

            let t0 = try await bringUp(s, logName: "daemon.log")
            // The name was asked of the carrier's DNS (dnsmasq) by the site's DHCP address, i.e. over the stick.
            #expect(t.dnsmasqLog.contains("query[A] \(t.jumpName) from 198.18.2."), "\(t.dnsmasqLog)")
            #expect(s.jumpHost.log().contains("from 198.18.2."), "sshd saw the agent come from elsewhere: \(s.jumpHost.log())")
            #expect(s.status()?.state == "active")

            try s.deliver("DOWN \(s.code(at: t0 + 30))", at: t0 + 30)
            #expect(await waitUntil { !s.forwardListening }, "forward still listening after DOWN")
            #expect(await waitUntil { s.sentTexts.contains("DOWN: link down (DOWN received)") }, "\(s.sentTexts)")
            #expect(await waitUntil { s.status()?.state == "idle" })
            expectPinned(countersBefore, try t.sysfsCounters(), main: t.mainIf, cellular: t.cellIf, payload: 20_000)
            let after = try t.snapshot()
            #expect(after == before, "routing state changed:\n\(lineDiff(before, after))")

            daemon.signal(SIGTERM)
            #expect(await waitUntil { !daemon.isRunning })
            #expect(daemon.exitStatus == 0)
        }

        @Test("interface mode, jump host by address: SIGKILL mid-session leaves state; the restarted daemon removes it and sends the owed SMS")
        func interfaceByAddressSigkill() async throws {
            let s = try await offPool { try NamespaceSite(link: .interface, hostByName: false) }
            defer { s.destroy() }
            let t = s.topology
            let before = try t.snapshot()
            let first = try await s.startDaemon(log: "daemon.log")
            let countersBefore = try t.sysfsCounters()
            _ = try await bringUp(s, logName: "daemon.log")
            #expect(!t.dnsmasqLog.contains("query[A]"), "an address needs no DNS query")

            first.kill9()
            let left = try t.snapshot()
            #expect(left != before, "a killed session should leave its routing state for the next start to undo")
            #expect(try sh(["/usr/sbin/ip", "-n", t.site, "rule", "show"]).contains("lookup 7913"))
            #expect(try sh(["/usr/sbin/ip", "-n", t.site, "-br", "addr", "show", "dev", t.cellIf]).contains("198.18.2."))
            #expect(s.sessionRecordExists)

            let second = try await s.startDaemon(log: "daemon2.log")
            #expect(await waitUntil { s.sentTexts.contains("DOWN: link down (agent restarted)") }, "\(s.sentTexts)\n\(s.log("daemon2.log"))")
            #expect(await waitUntil { s.status()?.state == "idle" && !s.sessionRecordExists })
            #expect(await waitUntil { !s.forwardListening })
            let after = try t.snapshot()
            #expect(after == before, "state after restart differs:\n\(lineDiff(before, after))")
            expectPinned(countersBefore, try t.sysfsCounters(), main: t.mainIf, cellular: t.cellIf, payload: 20_000)
            second.signal(SIGTERM)
            #expect(await waitUntil { !second.isRunning })
        }

        @Test("ppp mode (stand-in pppd), jump host by name: pinned to the PPP interface, DOWN, pppd ended, state as before")
        func pppByName() async throws {
            let s = try await offPool { try NamespaceSite(link: .ppp(sharedPort: false), hostByName: true) }
            defer { s.destroy() }
            let t = s.topology
            let before = try t.snapshot()
            let daemon = try await s.startDaemon(log: "daemon.log")
            let countersBefore = try t.sysfsCounters()
            let t0 = try await bringUp(s, logName: "daemon.log")
            #expect(t.dnsmasqLog.contains("query[A] \(t.jumpName) from 198.18.3.2"), "\(t.dnsmasqLog)")
            let pid = try #require(s.pppdPID)
            // The PPP interface exists only for the session: its counters are read before DOWN removes it.
            let duringSession = try t.sysfsCounters()
            expectPinned(countersBefore, duringSession, main: t.mainIf, cellular: t.pppIf, cellularBefore: (0, 0), payload: 20_000)

            try s.deliver("DOWN \(s.code(at: t0 + 30))", at: t0 + 30)
            #expect(await waitUntil { !s.forwardListening })
            #expect(await waitUntil { s.sentTexts.contains("DOWN: link down (DOWN received)") }, "\(s.sentTexts)")
            #expect(await waitUntil { s.status()?.state == "idle" })
            #expect(!processAlive(pid), "pppd still runs after the session")
            #expect(!t.exists(t.pppIf))
            let countersAfter = try t.sysfsCounters()
            #expect(countersAfter[t.mainIf]?.tx == countersBefore[t.mainIf]?.tx)
            #expect(countersAfter[t.mainIf]?.rx == countersBefore[t.mainIf]?.rx)
            let after = try t.snapshot()
            #expect(after == before, "routing state changed:\n\(lineDiff(before, after))")
            daemon.signal(SIGTERM)
            #expect(await waitUntil { !daemon.isRunning })
            #expect(daemon.exitStatus == 0)
        }

        @Test("ppp mode: SIGKILL mid-session leaves pppd and its routes; the restarted daemon ends pppd, undoes them, sends the owed SMS")
        func pppSigkill() async throws {
            let s = try await offPool { try NamespaceSite(link: .ppp(sharedPort: false), hostByName: true) }
            defer { s.destroy() }
            let t = s.topology
            let before = try t.snapshot()
            let first = try await s.startDaemon(log: "daemon.log")
            _ = try await bringUp(s, logName: "daemon.log")
            let pid = try #require(s.pppdPID)

            first.kill9()
            #expect(processAlive(pid), "pppd should outlive the killed daemon (that is what recovery is for)")
            #expect(t.exists(t.pppIf))
            #expect(try t.snapshot() != before)

            let second = try await s.startDaemon(log: "daemon2.log")
            #expect(await waitUntil { s.sentTexts.contains("DOWN: link down (agent restarted)") }, "\(s.sentTexts)\n\(s.log("daemon2.log"))")
            #expect(await waitUntil { s.status()?.state == "idle" && !s.sessionRecordExists })
            #expect(!processAlive(pid), "the restarted daemon did not end the leftover pppd")
            #expect(!t.exists(t.pppIf))
            #expect(await waitUntil { !s.forwardListening })
            let after = try t.snapshot()
            #expect(after == before, "state after restart differs:\n\(lineDiff(before, after))")
            second.signal(SIGTERM)
            #expect(await waitUntil { !second.isRunning })
        }

        @Test("AT port = data port: UP reply first, no AT traffic while pppd holds the port, session ends at its timer, then the link-down SMS and the waiting SMS")
        func sharedPort() async throws {
            let s = try await offPool { try NamespaceSite(link: .ppp(sharedPort: true), hostByName: true) }
            defer { s.destroy() }
            let t = s.topology
            let before = try t.snapshot()
            let daemon = try await s.startDaemon(log: "daemon.log")
            #expect(s.holdsModemPort(daemon.pid), "the daemon should hold the modem's port while idle")
            let t0 = Self.now()
            try s.deliver("UP \(s.code(at: t0))", at: t0)

            // pppd running means the daemon has closed its AT port (it waits for that before starting pppd).
            #expect(await waitUntil(30) { s.pppdPID.map(processAlive) == true }, "\(s.log("daemon.log"))")
            let pid = try #require(s.pppdPID)
            let commandsAtStart = s.atCommands.count
            // docs/agent.md: the UP reply (with the planned end) goes out first, while the port is the agent's.
            let upReplies = s.sentTexts.filter { $0.hasPrefix("UP until ") }
            #expect(upReplies.count == 1 && upReplies.first?.hasSuffix("ssh -p \(s.forwardPort) \(s.tunnelHost)") == true, "\(s.sentTexts)")

            #expect(await waitUntil(30) { s.forwardListening }, "\(s.log("daemon.log"))")
            let payload = randomPayload(10_000)
            #expect(try await offPool { try s.echoThroughForward(payload) } == payload)
            // An SMS arriving during the session waits in the modem's storage.
            try s.deliver("STATUS \(s.code(at: t0 + 30))", at: t0 + 30)
            #expect(!s.emulator.storedMessages.isEmpty)

            // Until pppd is gone (the session ends at its 60 s timer): the emulator hears nothing. A count read
            // while pppd still runs cannot include the reopening after the session.
            var quiet = true
            var released = true
            var silent = true
            var samples = 0
            let end = Date().addingTimeInterval(120)
            while Date() < end {
                let count = s.atCommands.count
                let holds = s.holdsModemPort(daemon.pid)
                let sent = s.sentTexts.count
                guard processAlive(pid) else { break }
                samples += 1
                if count != commandsAtStart { quiet = false }
                if holds { released = false }
                if sent != 1 { silent = false }
                try? await Task.sleep(for: .milliseconds(200))
            }
            #expect(!processAlive(pid), "the session did not end at its timer")
            #expect(samples > 0)
            #expect(quiet, "AT commands reached the modem while pppd held its port: \(s.atCommands.suffix(from: commandsAtStart))")
            #expect(released, "the daemon kept the modem's port open while pppd held it")
            #expect(silent, "SMS were sent while the port was pppd's: \(s.sentTexts)")

            // Port free again: the daemon reopens it, sends the link-down SMS and reads what waited.
            #expect(await waitUntil(30) { s.sentTexts.contains("DOWN: link down (session expired)") }, "\(s.sentTexts)\n\(s.log("daemon.log"))")
            #expect(await waitUntil { s.sentTexts.contains { $0.hasPrefix("STATUS idle") } }, "the SMS that waited was not processed: \(s.sentTexts)")
            #expect(s.atCommands.count > commandsAtStart, "the daemon did not reopen the modem")
            #expect(await waitUntil { s.emulator.storedMessages.isEmpty })
            // And a later SMS is processed as usual.
            try s.deliver("STATUS \(s.code(at: t0 + 90))", at: t0 + 90)
            #expect(await waitUntil { s.sentTexts.filter { $0.hasPrefix("STATUS idle") }.count == 2 }, "\(s.sentTexts)")
            #expect(s.sentTexts.filter { $0.hasPrefix("UP until ") }.count == 1)
            let after = try t.snapshot()
            #expect(after == before, "routing state changed:\n\(lineDiff(before, after))")
            daemon.signal(SIGTERM)
            #expect(await waitUntil { !daemon.isRunning })
        }

        @Test("AT port = data port, first pppd attempt fails: the retry works and the owner gets the UP reply once")
        func sharedPortRetrySendsUPOnce() async throws {
            let s = try await offPool { try NamespaceSite(link: .ppp(sharedPort: true), hostByName: true, pppFailsOnce: true) }
            defer { s.destroy() }
            let t = s.topology
            let before = try t.snapshot()
            let daemon = try await s.startDaemon(log: "daemon.log")
            let t0 = Self.now()
            try s.deliver("UP \(s.code(at: t0))", at: t0)
            #expect(await waitUntil(60) { s.forwardListening }, "\(s.log("daemon.log"))")
            #expect(FileManager.default.fileExists(atPath: s.dir.file("pppd-failed-once")), "the first pppd did not fail")
            #expect(s.log("daemon.log").contains("attempt 1 of 2 failed"), "\(s.log("daemon.log"))")

            // End it locally (SMS cannot reach the daemon during this session), then everything owed is sent.
            #expect(try s.control("down").ok)
            #expect(await waitUntil(30) { s.sentTexts.contains("DOWN: link down (stopped locally)") }, "\(s.sentTexts)\n\(s.log("daemon.log"))")
            #expect(await waitUntil { s.status()?.state == "idle" })
            try? await Task.sleep(for: .seconds(2))  // anything else queued goes out on the reopened port now
            let upReplies = s.sentTexts.filter { $0.hasPrefix("UP until ") }
            #expect(upReplies.count == 1, "UP reply sent \(upReplies.count) times: \(s.sentTexts)")
            #expect(!s.sentTexts.contains { $0.hasPrefix("FAILED") })
            let after = try t.snapshot()
            #expect(after == before, "routing state changed:\n\(lineDiff(before, after))")
            daemon.signal(SIGTERM)
            #expect(await waitUntil { !daemon.isRunning })
        }
    }
}
