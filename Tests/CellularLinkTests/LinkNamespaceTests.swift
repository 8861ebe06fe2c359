import Foundation
import OOBTestSupport
import Testing

/// The link for real, in network namespaces this suite creates and deletes (see ``NamespaceTopology``):
/// traffic pinned to the cellular uplink (byte counters), nothing left behind (routes, rules, addresses,
/// sysctls, processes), also after SIGKILL and restart.
@Suite(
    "CellularLink in network namespaces",
    .serialized, .timeLimit(.minutes(5)),
    .enabled(if: NamespaceTopology.canRun, "needs root and iproute2 to create network namespaces")
)
struct LinkNamespaceTests {
    func pppConfiguration(_ t: NamespaceTopology, timeout: Double = 15, grace: Double = 3) -> [String: Any] {
        [
            "mode": "ppp", "interface": t.pppIf, "device": "/dev/ttyFAKE\(t.id)", "atPort": "/dev/ttyFAKEAT",
            "apn": "internet", "pppd": fakePPPDPath, "upTimeoutSeconds": timeout, "stopGraceSeconds": grace,
            "stateDirectory": t.directory + "/state",
        ]
    }

    func pppEnvironment(_ t: NamespaceTopology, mode: String = "normal") -> [String: String] {
        [
            "FAKE_PPPD_CARRIER_NS": t.carrier, "FAKE_PPPD_PEER_IF": "pp\(t.id)", "FAKE_PPPD_DNS": "198.18.3.1",
            "FAKE_PPPD_MODE": mode, "FAKE_PPPD_DIE_AFTER": "2",
            "FAKE_PPPD_ARGS_FILE": t.directory + "/pppd-args", "FAKE_PPPD_PID_FILE": t.directory + "/pppd-pid",
        ]
    }

    func pppdPID(_ t: NamespaceTopology) -> Int32? {
        (try? String(contentsOfFile: t.directory + "/pppd-pid", encoding: .utf8))
            .flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Runs what a session does over the link and checks the bytes went through `cellular` only.
    func exerciseSession(_ t: NamespaceTopology, _ probe: LinkProbe, cellular: String) throws {
        let mainBefore = try t.counters(t.mainIf)
        let cellBefore = try t.counters(cellular)

        let resolved = try probe.send("resolve \(t.jumpName)")
        #expect(resolved["ok"] as? Bool == true, "\(resolved)")
        #expect(resolved["address"] as? String == t.jumpHost)
        #expect(resolved["source"] as? String == "dns")

        let verified = try probe.send("verify \(t.jumpHost) \(t.echoPort)")
        #expect(verified["ok"] as? Bool == true, "\(verified)")
        #expect(verified["interface"] as? String == cellular)

        let echo = try probe.send("echo \(t.jumpHost) \(t.echoPort) through-the-cellular-link")
        #expect(echo["echo"] as? String == "through-the-cellular-link", "\(echo)")

        let mainAfter = try t.counters(t.mainIf)
        let cellAfter = try t.counters(cellular)
        #expect(mainAfter.tx == mainBefore.tx, "bytes leaked over the main uplink")
        #expect(mainAfter.rx == mainBefore.rx)
        #expect(cellAfter.tx > cellBefore.tx + 100)
        #expect(cellAfter.rx > cellBefore.rx + 100)
    }

    @Test("ppp: a session resolves, verifies and talks over the cellular link only, and leaves nothing")
    func pppSession() throws {
        let t = try NamespaceTopology()
        defer { t.destroy() }
        let before = try t.snapshot()
        let mainTable = try t.mainTable()
        let probe = try LinkProbe(topology: t, configuration: pppConfiguration(t), environment: pppEnvironment(t))
        defer { probe.quit() }

        let up = try probe.send("up")
        #expect(up["ok"] as? Bool == true, "\(up)")
        let info = up["info"] as? [String: Any] ?? [:]
        #expect(info["interface"] as? String == t.pppIf)
        #expect(info["localAddress"] as? String == "198.18.3.2")
        #expect(info["peer"] as? String == "198.18.3.1")
        #expect(info["dnsServers"] as? [String] == ["198.18.3.1"])
        // The only line the main table may gain is the kernel's host route to the PPP peer, which comes with
        // pppd's point-to-point address (as with the real pppd); the link itself adds nothing there.
        let during = try t.mainTable().split(separator: "\n").filter { !$0.contains("dev \(t.pppIf) proto kernel") }
        #expect(during == mainTable.split(separator: "\n"), "the main table changed")

        let args = (try? String(contentsOfFile: t.directory + "/pppd-args", encoding: .utf8)) ?? ""
        let argv = args.split(separator: "\n").map(String.init)
        for option in ["nodetach", "nodefaultroute", "ifname", "lcp-echo-interval", "lcp-echo-failure", "maxfail"] {
            #expect(argv.contains(option), "pppd got no \(option)")
        }
        #expect(!argv.contains("defaultroute") && !argv.contains("persist") && !argv.contains("replacedefaultroute"))
        #expect(argv.contains("/dev/ttyFAKE\(t.id)"))

        try exerciseSession(t, probe, cellular: t.pppIf)

        let pid = try #require(pppdPID(t))
        #expect(try probe.send("down")["ok"] as? Bool == true)
        #expect(!processAlive(pid), "pppd still runs after down")
        #expect(try t.snapshot() == before)
    }

    @Test("ppp: pppd failing to connect is a clear error, and nothing is left")
    func pppFails() throws {
        let t = try NamespaceTopology()
        defer { t.destroy() }
        let before = try t.snapshot()
        let probe = try LinkProbe(
            topology: t, configuration: pppConfiguration(t), environment: pppEnvironment(t, mode: "fail"))
        defer { probe.quit() }
        let up = try probe.send("up")
        #expect(up["ok"] as? Bool == false)
        #expect(up["code"] as? String == "linkFailed")
        #expect((up["error"] as? String ?? "").contains("Connect script failed"), "\(up)")
        #expect(try t.snapshot() == before)
    }

    @Test("ppp: no address within up_timeout stops pppd and reports the timeout")
    func pppHangs() throws {
        let t = try NamespaceTopology()
        defer { t.destroy() }
        let before = try t.snapshot()
        let probe = try LinkProbe(
            topology: t, configuration: pppConfiguration(t, timeout: 2), environment: pppEnvironment(t, mode: "hang"))
        defer { probe.quit() }
        let up = try probe.send("up")
        #expect(up["code"] as? String == "timedOut", "\(up)")
        #expect((up["error"] as? String ?? "").contains("link.up_timeout"))
        let pid = try #require(pppdPID(t))
        #expect(!processAlive(pid))
        #expect(try t.snapshot() == before)
    }

    @Test("ppp: pppd dying mid-session is reported as an event; down then cleans up")
    func pppDies() throws {
        let t = try NamespaceTopology()
        defer { t.destroy() }
        let before = try t.snapshot()
        let probe = try LinkProbe(
            topology: t, configuration: pppConfiguration(t), environment: pppEnvironment(t, mode: "die"))
        defer { probe.quit() }
        #expect(try probe.send("up")["ok"] as? Bool == true)
        let event = try #require(probe.waitForEvent(timeout: 10), "no link-down event")
        #expect(event["event"] as? String == "died")
        #expect((event["reason"] as? String ?? "").contains("16"))
        #expect(try probe.send("down")["ok"] as? Bool == true)
        #expect(try t.snapshot() == before)
    }

    @Test("ppp: a pppd that ignores SIGTERM is killed after the grace period, its interface removed")
    func pppIgnoresTerm() throws {
        let t = try NamespaceTopology()
        defer { t.destroy() }
        let before = try t.snapshot()
        let probe = try LinkProbe(
            topology: t, configuration: pppConfiguration(t, grace: 1), environment: pppEnvironment(t, mode: "ignore-term"))
        defer { probe.quit() }
        #expect(try probe.send("up")["ok"] as? Bool == true)
        let pid = try #require(pppdPID(t))
        #expect(try probe.send("down")["ok"] as? Bool == true)
        #expect(!processAlive(pid))
        #expect(!t.exists(t.pppIf))
        #expect(try t.snapshot() == before)
    }

    @Test("ppp: SIGKILL of the daemon mid-session, restart, recover: everything is undone")
    func pppSigkillRecover() throws {
        let t = try NamespaceTopology()
        defer { t.destroy() }
        let before = try t.snapshot()
        let probe = try LinkProbe(topology: t, configuration: pppConfiguration(t), environment: pppEnvironment(t))
        #expect(try probe.send("up")["ok"] as? Bool == true)
        let pid = try #require(pppdPID(t))
        probe.sigkill()
        #expect(processAlive(pid), "pppd should outlive the killed daemon (that is what recovery is for)")
        #expect(try t.snapshot() != before)

        let restarted = try LinkProbe(topology: t, configuration: pppConfiguration(t), environment: pppEnvironment(t))
        defer { restarted.quit() }
        let recovered = try restarted.send("recover")
        #expect((recovered["undone"] as? Int ?? 0) >= 4, "\(recovered)")
        #expect(!processAlive(pid))
        #expect(try t.snapshot() == before)
        // And a new session works after recovery.
        #expect(try restarted.send("up")["ok"] as? Bool == true)
        #expect(try restarted.send("down")["ok"] as? Bool == true)
        #expect(try t.snapshot() == before)
    }

    func interfaceConfiguration(_ t: NamespaceTopology, staticAddress: Bool = false) -> [String: Any] {
        var c: [String: Any] = [
            "mode": "interface", "interface": t.cellIf, "upTimeoutSeconds": 20, "stateDirectory": t.directory + "/state",
        ]
        if staticAddress {
            c["staticAddress"] = "198.18.2.9/24"
            c["gateway"] = "198.18.2.1"
            c["dns"] = ["198.18.2.1"]
        }
        return c
    }

    @Test("interface: DHCP from the carrier, traffic over the stick only, and everything restored after")
    func interfaceDHCP() throws {
        let t = try NamespaceTopology()
        defer { t.destroy() }
        let before = try t.snapshot()
        let mainTable = try t.mainTable()
        let probe = try LinkProbe(topology: t, configuration: interfaceConfiguration(t))
        defer { probe.quit() }
        let up = try probe.send("up")
        #expect(up["ok"] as? Bool == true, "\(up)")
        let info = up["info"] as? [String: Any] ?? [:]
        let local = info["localAddress"] as? String ?? ""
        #expect(local.hasPrefix("198.18.2."), "no DHCP address: \(info)")
        #expect(info["peer"] as? String == "198.18.2.1")
        #expect(info["dnsServers"] as? [String] == ["198.18.2.1"])
        #expect(try t.mainTable() == mainTable, "the main table changed (even the subnet route must stay out)")
        try exerciseSession(t, probe, cellular: t.cellIf)
        #expect(try probe.send("down")["ok"] as? Bool == true)
        #expect(try t.snapshot() == before)
    }

    @Test("interface: static address")
    func interfaceStatic() throws {
        let t = try NamespaceTopology()
        defer { t.destroy() }
        let before = try t.snapshot()
        let probe = try LinkProbe(topology: t, configuration: interfaceConfiguration(t, staticAddress: true))
        defer { probe.quit() }
        let up = try probe.send("up")
        #expect((up["info"] as? [String: Any])?["localAddress"] as? String == "198.18.2.9", "\(up)")
        try exerciseSession(t, probe, cellular: t.cellIf)
        #expect(try probe.send("down")["ok"] as? Bool == true)
        #expect(try t.snapshot() == before)
    }

    @Test("interface: SIGKILL mid-session, restart, recover: address, rule, routes, sysctl, link state undone")
    func interfaceSigkillRecover() throws {
        let t = try NamespaceTopology()
        defer { t.destroy() }
        let before = try t.snapshot()
        let probe = try LinkProbe(topology: t, configuration: interfaceConfiguration(t))
        #expect(try probe.send("up")["ok"] as? Bool == true)
        probe.sigkill()
        #expect(try t.snapshot() != before)
        let restarted = try LinkProbe(topology: t, configuration: interfaceConfiguration(t))
        defer { restarted.quit() }
        let recovered = try restarted.send("recover")
        #expect((recovered["undone"] as? Int ?? 0) >= 5, "\(recovered)")
        #expect(try t.snapshot() == before)
        // Nothing more to do the second time.
        #expect(try restarted.send("recover")["undone"] as? Int == 0)
    }

    @Test("interface: the stick vanishing mid-session is a link-down event; down removes the rule and table")
    func interfaceVanishes() throws {
        let t = try NamespaceTopology()
        defer { t.destroy() }
        let rulesBefore = try sh(["/usr/sbin/ip", "-n", t.site, "rule", "show"])
        let probe = try LinkProbe(topology: t, configuration: interfaceConfiguration(t, staticAddress: true))
        defer { probe.quit() }
        #expect(try probe.send("up")["ok"] as? Bool == true)
        try t.ip(t.site, "link", "del", t.cellIf)  // "unplug" the stick
        let event = try #require(probe.waitForEvent(timeout: 10), "no link-down event")
        #expect(event["reason"] as? String == "\(t.cellIf) vanished")
        #expect(try probe.send("down")["ok"] as? Bool == true)
        #expect(try sh(["/usr/sbin/ip", "-n", t.site, "rule", "show"]) == rulesBefore)
        #expect(try sh(["/usr/sbin/ip", "-n", t.site, "route", "show", "table", "7913"]).isEmpty)
    }

    @Test("path verification: a link whose path to the jump host is broken fails with a clear error")
    func brokenPathIsDetected() throws {
        let t = try NamespaceTopology()
        defer { t.destroy() }
        // "none" mode bound to the main uplink, whose far end has no route to the jump host.
        let probe = try LinkProbe(
            topology: t,
            configuration: ["mode": "none", "interface": t.mainIf, "stateDirectory": t.directory + "/state"])
        defer { probe.quit() }
        let up = try probe.send("up")
        #expect((up["info"] as? [String: Any])?["localAddress"] as? String == "198.18.1.2")
        let verified = try probe.send("verify \(t.jumpHost) \(t.echoPort)")
        #expect(verified["ok"] as? Bool == false)
        let code = verified["code"] as? String ?? ""
        #expect(code == "timedOut" || code == "connectFailed", "\(verified)")
        #expect((verified["error"] as? String ?? "").contains(t.mainIf))
    }

    @Test("DNS: without an answer from the link's DNS, the last good address is used")
    func dnsFallback() throws {
        let t = try NamespaceTopology()
        defer { t.destroy() }
        var env = pppEnvironment(t)
        let probe = try LinkProbe(topology: t, configuration: pppConfiguration(t), environment: env)
        #expect(try probe.send("up")["ok"] as? Bool == true)
        #expect(try probe.send("resolve \(t.jumpName)")["source"] as? String == "dns")
        #expect(try probe.send("down")["ok"] as? Bool == true)
        probe.quit()
        // Next session: the peer offers a DNS server that does not answer.
        env["FAKE_PPPD_DNS"] = "198.18.3.77"
        let second = try LinkProbe(topology: t, configuration: pppConfiguration(t), environment: env)
        defer { second.quit() }
        #expect(try second.send("up")["ok"] as? Bool == true)
        let r = try second.send("resolve \(t.jumpName)", timeout: 30)
        #expect(r["source"] as? String == "cachedFallback", "\(r)")
        #expect(r["address"] as? String == t.jumpHost)
        let unknown = try second.send("resolve other.oob.test", timeout: 30)
        #expect(unknown["code"] as? String == "resolveFailed", "\(unknown)")
        #expect(try second.send("down")["ok"] as? Bool == true)
    }
}
