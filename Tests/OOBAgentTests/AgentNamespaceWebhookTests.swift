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
            let s = try await offPool { try NamespaceSite(link: .interface, hostByName: false) }
            defer { s.destroy() }
            let t = s.topology
            let certificates = try TestCertificates(directory: s.dir.path, serverAddresses: [t.jumpHost])
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
    }
}
