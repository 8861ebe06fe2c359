import Foundation
import OOBTestSupport
import Testing

@testable import OOBAgent

/// The https webhook from the built daemon in the site namespace: the server sits in the carrier namespace, next
/// to the jump host, reachable only over the cellular link, so a POST that arrives went over the link.
extension AgentIntegrationSuites {
    @Suite(
        "Webhook over the cellular link (namespaces)", .serialized, .timeLimit(.minutes(4)),
        .enabled(if: Binary.exists, "the oob-agent binary is not built (swift build --build-tests)"),
        .enabled(if: namespacesWork, "needs root and `ip netns` to build the site/carrier topology"),
        .enabled(if: TestCertificates.available && WebhookReceiver.available, "needs the openssl CLI and python3")
    )
    struct AgentNamespaceWebhookTests {
        @Test("interface mode: the https POSTs (up, down) leave through the stick, never the main uplink")
        func httpsOverTheLink() async throws {
            // The certificate before the site: it is judged by the modem's network time, set when the site is built.
            let certDir = TempDir()
            defer { certDir.cleanup() }
            let certificates = try TestCertificates(directory: certDir.path, serverAddresses: ["198.19.0.1"])
            let s = try await offPool { try NamespaceSite(link: .interface, hostByName: false) }
            defer { s.destroy() }
            let t = s.topology
            #expect(t.jumpHost == "198.19.0.1")
            let server = try WebhookReceiver(
                directory: s.dir.path, tls: (certificates.serverCertificate, certificates.serverKey), namespace: t.carrier,
                address: t.jumpHost)
            defer { server.stop() }
            let config = try String(contentsOfFile: s.configPath, encoding: .utf8)
            try (config + "\n[notify]\nwebhook = \"https://\(t.jumpHost):\(server.port)/oob\"\nwebhook_ca = \"\(certificates.caCertificate)\"\n")
                .write(toFile: s.configPath, atomically: true, encoding: .utf8)
            let before = try t.sysfsCounters()
            _ = try await s.startDaemon(log: "daemon.log")
            let code = Int64(Date().timeIntervalSince1970)
            try s.deliver("UP \(s.code(at: code))", at: code)
            #expect(await waitUntil(60) { server.received.count == 1 }, "no up POST: \(s.log("daemon.log"))\n\(server.log)")
            #expect(server.received.first?.contains("{\"event\":\"up\"") == true, "\(server.received)")
            _ = try s.control("down")
            #expect(await waitUntil(30) { server.received.count == 2 }, "no down POST: \(s.log("daemon.log"))\n\(server.log)")
            #expect(server.received.last?.contains("{\"event\":\"down\"") == true, "\(server.received)")
            // Both came from the stick's DHCP address (198.18.2.50–60), not the main uplink's (198.18.1.2).
            #expect(server.clients.count == 2 && server.clients.allSatisfy { $0.hasPrefix("198.18.2.") }, "\(server.clients)")
            #expect(s.log("daemon.log").contains("webhook sent"), "\(s.log("daemon.log"))")
            let after = try t.sysfsCounters()
            #expect(after[t.mainIf]?.tx == before[t.mainIf]?.tx, "bytes left over the main uplink")
        }
    
        /// A name for the webhook that only the carrier's dnsmasq knows (its `--address=/jump.oob.test/…` answers for
        /// subdomains too), distinct from `tunnel.host`, so the query in dnsmasq's log is the webhook's.
        static let hookName = "hooks.jump.oob.test"

        /// Makes the site's system resolver dead: `ip netns exec` bind-mounts `/etc/netns/<site>/resolv.conf` over
        /// `/etc/resolv.conf`, and this one names an address on the main uplink where nobody answers. Returns the
        /// directory to remove.
        func deadSystemResolver(_ t: NamespaceTopology) throws -> String {
            let etc = "/etc/netns/\(t.site)"
            try FileManager.default.createDirectory(atPath: etc, withIntermediateDirectories: true)
            try "nameserver 198.18.1.99\noptions timeout:2 attempts:1\n".write(toFile: etc + "/resolv.conf", atomically: true, encoding: .utf8)
            return etc
        }

        func addWebhook(_ s: NamespaceSite, port: Int, ca: String) throws {
            let config = try String(contentsOfFile: s.configPath, encoding: .utf8)
            try (config + "\n[notify]\nwebhook = \"https://\(Self.hookName):\(port)/oob\"\nwebhook_ca = \"\(ca)\"\n")
                .write(toFile: s.configPath, atomically: true, encoding: .utf8)
        }

        /// UP by SMS stamped `code` → the up POST; `down` → the down POST.
        func session(_ s: NamespaceSite, _ server: WebhookReceiver, log: String, already: Int, code: Int64) async throws {
            try s.deliver("UP \(s.code(at: code))", at: code)
            #expect(await waitUntil(60) { server.received.count == already + 1 }, "no up POST: \(s.log(log))\n\(server.log)")
            #expect(server.received.last?.contains("{\"event\":\"up\"") == true, "\(server.received)")
            #expect(await waitUntil(30) { s.status()?.state == "active" }, "\(s.log(log))")
            _ = try s.control("down")
            #expect(await waitUntil(30) { server.received.count == already + 2 }, "no down POST: \(s.log(log))\n\(server.log)")
            #expect(server.received.last?.contains("{\"event\":\"down\"") == true, "\(server.received)")
            #expect(await waitUntil(30) { s.status()?.state == "idle" }, "\(s.log(log))")
        }

        @Test("a webhook by name, the site's resolver dead: resolved through the stick's DNS, posted from the stick's address")
        func byNameThroughTheLinkDNS() async throws {
            // The certificate first: the daemon judges it by the modem's network time, which the emulator sets when the
            // site is built (a certificate made later would be "not yet valid").
            let certDir = TempDir()
            defer { certDir.cleanup() }
            let certificates = try TestCertificates(directory: certDir.path, serverAddresses: [], serverNames: [Self.hookName])
            let s = try await offPool { try NamespaceSite(link: .interface, hostByName: false) }
            defer { s.destroy() }
            let t = s.topology
            let etc = try deadSystemResolver(t)
            defer { try? FileManager.default.removeItem(atPath: etc) }
            // The system's resolver in the site really cannot resolve the name.
            let getent = try t.run(in: t.site, ["/usr/bin/getent", "hosts", Self.hookName], check: false)
            #expect(getent.isEmpty, "the site's system resolver answered: \(getent)")
            let server = try WebhookReceiver(
                directory: s.dir.path, tls: (certificates.serverCertificate, certificates.serverKey), namespace: t.carrier,
                address: t.jumpHost)
            defer { server.stop() }
            try addWebhook(s, port: server.port, ca: certificates.caCertificate)
            let before = try t.sysfsCounters()
            _ = try await s.startDaemon(log: "daemon.log")
            try await session(s, server, log: "daemon.log", already: 0, code: Int64(Date().timeIntervalSince1970))
            let log = s.log("daemon.log")
            // Both POSTs came from the stick's DHCP address (198.18.2.50–60), the certificate checked under the name.
            #expect(server.clients.count == 2 && server.clients.allSatisfy { $0.hasPrefix("198.18.2.") }, "\(server.clients)")
            #expect(log.contains("webhook host resolved") && log.contains("dns.server=198.18.2.1") && log.contains("dns.source=dns"), "\(log)")
            #expect(log.components(separatedBy: "webhook sent").count - 1 == 2, "\(log)")
            // dnsmasq was asked for the name by the stick's address.
            #expect(t.dnsmasqLog.contains("query[A] \(Self.hookName) from 198.18.2."), "\(t.dnsmasqLog)")
            let after = try t.sysfsCounters()
            #expect(after[t.mainIf]?.tx == before[t.mainIf]?.tx, "bytes left over the main uplink")
            #expect(FileManager.default.fileExists(atPath: s.dir.file("state/\(Webhook.LinkDNS.cacheFile)")))
        }

        @Test("the link's DNS does not answer, a last good address is known: the webhook is still posted")
        func lastGoodAddress() async throws {
            // The certificate first: the daemon judges it by the modem's network time, which the emulator sets when the
            // site is built (a certificate made later would be "not yet valid").
            let certDir = TempDir()
            defer { certDir.cleanup() }
            let certificates = try TestCertificates(directory: certDir.path, serverAddresses: [], serverNames: [Self.hookName])
            let s = try await offPool { try NamespaceSite(link: .ppp(sharedPort: false), hostByName: false) }
            defer { s.destroy() }
            let t = s.topology
            let etc = try deadSystemResolver(t)
            defer { try? FileManager.default.removeItem(atPath: etc) }
            let server = try WebhookReceiver(
                directory: s.dir.path, tls: (certificates.serverCertificate, certificates.serverKey), namespace: t.carrier,
                address: t.jumpHost)
            defer { server.stop() }
            try addWebhook(s, port: server.port, ca: certificates.caCertificate)
            // First daemon: the peer's DNS (dnsmasq) answers; the address is kept.
            let first = try await s.startDaemon(log: "daemon1.log")
            let t1 = Int64(Date().timeIntervalSince1970)
            try await session(s, server, log: "daemon1.log", already: 0, code: t1)
            #expect(s.log("daemon1.log").contains("dns.source=dns"), "\(s.log("daemon1.log"))")
            first.signal(SIGTERM)
            #expect(await waitUntil(20) { !first.isRunning }, "the daemon did not stop")
            // Second daemon: the peer now offers a DNS server where nobody answers.
            s.environment["FAKE_PPPD_DNS"] = "198.18.3.77"
            let queriesBefore = t.dnsmasqLog.components(separatedBy: "query[A] \(Self.hookName)").count
            _ = try await s.startDaemon(log: "daemon2.log")
            // A code of a later time step (the first is in the replay cache).
            try await session(s, server, log: "daemon2.log", already: 2, code: max(Int64(Date().timeIntervalSince1970), t1 + 30))
            let log = s.log("daemon2.log")
            #expect(log.contains("DNS query through the link failed") && log.contains("198.18.3.77"), "\(log)")
            #expect(log.contains("webhook host resolved") && log.contains("dns.source=cachedFallback"), "\(log)")
            #expect(log.components(separatedBy: "webhook sent").count - 1 == 2, "\(log)")
            #expect(t.dnsmasqLog.components(separatedBy: "query[A] \(Self.hookName)").count == queriesBefore, "dnsmasq was asked")
            // From the PPP address.
            #expect(server.clients.count == 4 && server.clients.allSatisfy { $0.hasPrefix("198.18.3.") }, "\(server.clients)")
        }
    }
}
