import Foundation
import Logging
import OOBTestSupport
import Testing

@testable import OOBAgent

/// Log lines kept in memory, for tests that assert what the daemon says.
final class RecordedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    func append(_ line: String) {
        lock.lock()
        lines.append(line)
        lock.unlock()
    }

    var all: [String] {
        lock.lock()
        defer { lock.unlock() }
        return lines
    }

    func contains(_ parts: String...) -> Bool { all.contains { line in parts.allSatisfy { line.contains($0) } } }

    var logger: Logger {
        Logger(label: "test") { _ in RecordingLogHandler(log: self) }
    }
}

struct RecordingLogHandler: LogHandler {
    let log: RecordedLog
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .debug

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let meta = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        log.append("\(event.level) \(event.message) \(meta)")
    }
}

extension AgentIntegrationSuites {
    @Suite("Webhook", .serialized, .timeLimit(.minutes(4)))
    struct WebhookTests {
        static let sshdAvailable = FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd")
        static let tools = TestCertificates.available && WebhookReceiver.available
        static let ready = sshdAvailable && tools

        func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

        /// Runs a session UP → DOWN by SMS with `notify` set; returns the harness's texts and the log.
        func session(_ h: AgentHarness, log: RecordedLog) async throws {
            let (_, task) = h.startAgent(clock: SynchronizedClock(), logger: log.logger)
            defer { task.cancel() }
            let t = now()
            try h.deliver("UP \(h.code(at: t))", timestamp: t)
            #expect(await eventually { isListening(h.forwardPort) }, "the session did not come up: \(log.all)")
            #expect(await eventually { h.sentTexts().contains { $0.hasPrefix("UP until") } })
            #expect(await eventually { log.contains("webhook", "webhook.event=up") }, "\(log.all)")
            try h.deliver("DOWN \(h.code(at: t + 30))", timestamp: t + 30)
            #expect(await eventually { h.sentTexts().contains("DOWN: link down (DOWN received)") }, "\(h.sent)")
            #expect(!isListening(h.forwardPort))
            #expect(await eventually { log.contains("webhook", "webhook.event=down") }, "\(log.all)")
            #expect(await eventually { h.status()?.state == "idle" })
        }

        @Test("https webhook: UP by SMS → POST {event:up} to the TLS server, DOWN → {event:down}", .enabled(if: ready, "needs OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server), the openssl CLI and python3"))
        func httpsEndToEnd() async throws {
            let h = try AgentHarness()
            defer { h.stop() }
            let certificates = try TestCertificates(directory: h.dir.path)
            let server = try WebhookReceiver(directory: h.dir.path, tls: (certificates.serverCertificate, certificates.serverKey))
            defer { server.stop() }
            h.configuration.notify = .init(webhook: "https://localhost:\(server.port)/hooks/oob", webhookCA: certificates.caCertificate)
            let log = RecordedLog()
            try await session(h, log: log)
            #expect(await eventually { server.received.count == 2 }, "received: \(server.received); server log: \(server.log)")
            let received = server.received
            #expect(received.first?.hasPrefix("/hooks/oob application/json {\"event\":\"up\"") == true, "\(received)")
            #expect(received.first?.contains("\"state\":\"active\"") == true, "\(received)")
            #expect(received.last?.hasPrefix("/hooks/oob application/json {\"event\":\"down\"") == true, "\(received)")
            #expect(log.contains("webhook sent", "webhook.event=up", "webhook.status=200"), "\(log.all)")
            #expect(log.contains("webhook sent", "webhook.event=down", "webhook.status=200"), "\(log.all)")
        }

        @Test("https webhook with the wrong CA: nothing sent, the log says why and how to fix it, the session is unharmed", .enabled(if: ready, "needs OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server), the openssl CLI and python3"))
        func wrongCA() async throws {
            let h = try AgentHarness()
            defer { h.stop() }
            let certificates = try TestCertificates(directory: h.dir.path)
            let server = try WebhookReceiver(directory: h.dir.path, tls: (certificates.serverCertificate, certificates.serverKey))
            defer { server.stop() }
            h.configuration.notify = .init(webhook: "https://127.0.0.1:\(server.port)/oob", webhookCA: certificates.wrongCACertificate)
            let log = RecordedLog()
            try await session(h, log: log)
            #expect(server.received.isEmpty, "\(server.received)")
            #expect(
                log.contains("webhook not sent", "webhook.event=up", "certificate verify failed", "fix:", "notify.webhook_ca"),
                "\(log.all)")
            #expect(!log.contains("webhook sent"))
        }

        @Test("http:// webhook end to end against a loopback server", .enabled(if: ready, "needs OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server), the openssl CLI and python3"))
        func plainHTTP() async throws {
            let h = try AgentHarness()
            defer { h.stop() }
            let server = try WebhookReceiver(directory: h.dir.path, tls: nil)
            defer { server.stop() }
            h.configuration.notify = .init(webhook: "http://127.0.0.1:\(server.port)/plain?site=1")
            let log = RecordedLog()
            try await session(h, log: log)
            #expect(await eventually { server.received.count == 2 }, "received: \(server.received); server log: \(server.log)")
            #expect(server.received.first?.hasPrefix("/plain?site=1 application/json {\"event\":\"up\"") == true, "\(server.received)")
            #expect(server.received.last?.contains("{\"event\":\"down\"") == true, "\(server.received)")
        }

        @Test("a session that fails to come up sends no webhook", .enabled(if: ready, "needs OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server), the openssl CLI and python3"))
        func noWebhookWithoutSession() async throws {
            let h = try AgentHarness()
            defer { h.stop() }
            let server = try WebhookReceiver(directory: h.dir.path, tls: nil)
            defer { server.stop() }
            h.configuration.notify = .init(webhook: "http://127.0.0.1:\(server.port)/oob")
            h.jumpHost.stop()  // the jump host is gone: every attempt fails
            h.configuration.session.attempts = 1
            let log = RecordedLog()
            let (_, task) = h.startAgent(logger: log.logger)
            defer { task.cancel() }
            let t = now()
            try h.deliver("UP \(h.code(at: t))", timestamp: t)
            #expect(await eventually(.seconds(60)) { h.sentTexts().contains { $0.hasPrefix("FAILED: ") } }, "\(h.sent) \(log.all)")
            try h.deliver("STATUS \(h.code(at: t + 30))", timestamp: t + 30)
            #expect(await eventually { h.sentTexts().contains { $0.hasPrefix("STATUS ") } })
            try await Task.sleep(for: .seconds(1))
            #expect(server.received.isEmpty, "\(server.received)")
            #expect(!log.contains("webhook"), "\(log.all)")
        }

        @Test("Webhook.post: each failure names the problem and the fix", .enabled(if: tools, "needs the openssl CLI and python3 for the webhook server (scripts/install-deps.sh)"))
        func failures() async throws {
            let dir = TempDir()
            defer { dir.cleanup() }
            let certificates = try TestCertificates(directory: dir.path)
            let tls = try WebhookReceiver(directory: dir.path, tls: (certificates.serverCertificate, certificates.serverKey))
            defer { tls.stop() }
            let plain = try WebhookReceiver(directory: dir.path, tls: nil)
            defer { plain.stop() }
            func message(_ url: String, ca: String? = nil) async -> String {
                do {
                    let status = try await Webhook.post(url: url, json: "{}", bindInterface: nil, caFile: ca, deadline: .seconds(5))
                    return "status \(status)"
                } catch {
                    return (error as? AgentError)?.message ?? "\(error)"
                }
            }
            // The system trust store does not know the test CA.
            let untrusted = await message("https://127.0.0.1:\(tls.port)/x")
            #expect(untrusted.contains("certificate verify failed") && untrusted.contains("fix: set notify.webhook_ca"), "\(untrusted)")
            // The right CA, by name (SNI and the name check) and by address.
            #expect(await message("https://localhost:\(tls.port)/x", ca: certificates.caCertificate) == "status 200")
            #expect(await message("https://127.0.0.1:\(tls.port)/x", ca: certificates.caCertificate) == "status 200")
            // TLS to a plain HTTP port, and plain HTTP to a TLS port.
            let notTLS = await message("https://127.0.0.1:\(plain.port)/x", ca: certificates.caCertificate)
            #expect(notTLS.contains("TLS") && notTLS.contains("fix:"), "\(notTLS)")
            let notPlain = await message("http://127.0.0.1:\(tls.port)/x")
            #expect(notPlain.contains("https://") && notPlain.contains("fix:"), "\(notPlain)")
            // Nobody listening.
            let closed = await message("http://127.0.0.1:\(freePort())/x")
            #expect(closed.contains("cannot connect") && closed.contains("fix:"), "\(closed)")
            #expect(tls.received.count == 2 && plain.received.isEmpty, "\(tls.received) \(plain.received)")
        }

        @Test("a self-signed server certificate: refused as such, accepted when notify.webhook_ca is that certificate", .enabled(if: tools, "needs the openssl CLI and python3 for the webhook server (scripts/install-deps.sh)"))
        func selfSigned() async throws {
            let dir = TempDir()
            defer { dir.cleanup() }
            try shell("/usr/bin/openssl", [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=hooks",
                "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", dir.file("self.key"), "-out", dir.file("self.pem"),
            ])
            chmod(dir.file("self.pem"), 0o644)
            let server = try WebhookReceiver(directory: dir.path, tls: (dir.file("self.pem"), dir.file("self.key")))
            defer { server.stop() }
            let url = "https://127.0.0.1:\(server.port)/self"
            do {
                _ = try await Webhook.post(url: url, json: "{}", bindInterface: nil, deadline: .seconds(5))
                Issue.record("a self-signed certificate was trusted")
            } catch {
                let m = (error as? AgentError)?.message ?? "\(error)"
                #expect(m.contains("certificate verify failed: self-signed certificate") && m.contains("fix: set notify.webhook_ca"), "\(m)")
            }
            #expect(try await Webhook.post(url: url, json: "{}", bindInterface: nil, caFile: dir.file("self.pem"), deadline: .seconds(5)) == 200)
            #expect(server.received.count == 1)
        }

        @Test("the POST leaves through the given interface and from the given address", .enabled(if: tools, "needs the openssl CLI and python3 for the webhook server (scripts/install-deps.sh)"))
        func binding() async throws {
            let dir = TempDir()
            defer { dir.cleanup() }
            let server = try WebhookReceiver(directory: dir.path, tls: nil)
            defer { server.stop() }
            let url = "http://127.0.0.1:\(server.port)/bound"
            let status = try await Webhook.post(url: url, json: "{}", bindInterface: "lo", bindAddress: "127.0.0.2", deadline: .seconds(5))
            #expect(status == 200)
            #expect(server.clients == ["127.0.0.2"], "\(server.clients)")
            // Bound to an interface with no route to the server, the POST cannot get there.
            guard geteuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") else {
                try Test.cancel("the unrouted-interface half did not run: it needs root (CAP_NET_ADMIN) and iproute2")
            }
            // A veth pair (random suffix, deleted below) with no address and no route to 127.0.0.1.
            let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
            let name = "oobwh" + suffix
            try shell("/usr/sbin/ip", ["link", "add", name, "type", "veth", "peer", "name", "oobwp" + suffix])
            defer { _ = try? shell("/usr/sbin/ip", ["link", "del", name]) }
            guard FileManager.default.fileExists(atPath: "/sys/class/net/\(name)") else {
                try Test.cancel("the unrouted-interface half did not run: this kernel cannot create a veth pair")
            }
            try shell("/usr/sbin/ip", ["link", "set", name, "up"])
            do {
                _ = try await Webhook.post(url: url, json: "{}", bindInterface: name, deadline: .seconds(3))
                Issue.record("a POST bound to \(name) reached 127.0.0.1")
            } catch {
                let m = (error as? AgentError)?.message ?? "\(error)"
                #expect(m.contains("cannot connect") || m.contains("timed out"), "\(m)")
            }
            #expect(server.clients.count == 1, "\(server.clients)")
        }

        @Test("a silent server: the POST gives up at its deadline", .enabled(if: tools, "needs the openssl CLI and python3 for the webhook server (scripts/install-deps.sh)"))
        func deadline() async throws {
            // A listener that accepts (the kernel's backlog) and never answers.
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &addr) { p in p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
            listen(fd, 4)
            _ = withUnsafeMutablePointer(to: &addr) { p in p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
            let port = Int(UInt16(bigEndian: addr.sin_port))
            for url in ["https://127.0.0.1:\(port)/x", "http://127.0.0.1:\(port)/x"] {
                do {
                    _ = try await Webhook.post(url: url, json: "{}", bindInterface: nil, deadline: .seconds(1))
                    Issue.record("\(url): a silent server cannot answer")
                } catch {
                    let m = (error as? AgentError)?.message ?? "\(error)"
                    #expect(m.contains("deadline"), "\(url): \(m)")
                }
            }
        }

        @Test("run refuses to start with a notify.webhook_ca others may write (exit 2, the fix named)", .enabled(if: ready && Binary.exists, "needs OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server), the openssl CLI and python3"))
        func runRefusesOpenCA() throws {
            let h = try AgentHarness(bridged: true)
            defer { h.stop() }
            let certificates = try TestCertificates(directory: h.dir.path)
            chmod(certificates.caCertificate, 0o664)
            let text = h.configurationText(duration: .seconds(600), max: .seconds(3600))
                + "\n[notify]\nwebhook = \"https://127.0.0.1:1/oob\"\nwebhook_ca = \"\(certificates.caCertificate)\"\n"
            try text.write(toFile: h.configPath, atomically: true, encoding: .utf8)
            let r = try Binary.run(["run", "--config", h.configPath])
            #expect(r.status == 2, "\(r.err)")
            #expect(r.err.contains("notify.webhook_ca") && r.err.contains("fix: chmod 644"), "\(r.err)")
            let check = try Binary.run(["check", "--config", h.configPath])
            #expect(check.status != 0)
            #expect((check.out + check.err).contains("notify.webhook_ca"), "\(check.out) \(check.err)")
        }

        @Test("notify.webhook_ca: parsed for https only; check verifies the file", .enabled(if: tools, "needs the openssl CLI and python3 for the webhook server (scripts/install-deps.sh)"))
        func configurationAndCheck() throws {
            let dir = TempDir()
            defer { dir.cleanup() }
            let certificates = try TestCertificates(directory: dir.path)
            let ok = try ConfigurationLoader.parse(
                minimalConfig(dir, extra: "[notify]\nwebhook = \"https://hooks.example.net/oob\"\nwebhook_ca = \"\(certificates.caCertificate)\"\n"))
            #expect(ok.notify.webhookCA == certificates.caCertificate)
            #expect(AgentCheck.files(ok).allSatisfy { !$0.text.contains("webhook") }, "\(AgentCheck.files(ok))")
            #expect(throws: AgentError.self) {
                try ConfigurationLoader.parse(minimalConfig(dir, extra: "[notify]\nwebhook = \"http://h/oob\"\nwebhook_ca = \"\(certificates.caCertificate)\"\n"))
            }
            do {
                _ = try ConfigurationLoader.parse(minimalConfig(dir, extra: "[notify]\nwebhook = \"http://h/oob\"\nwebhook_ca = \"\(certificates.caCertificate)\"\n"))
            } catch {
                #expect("\(error)".contains("notify.webhook_ca") && "\(error)".contains("fix:"), "\(error)")
            }
            func finding(_ ca: String) throws -> String? {
                let c = try ConfigurationLoader.parse(
                    minimalConfig(dir, extra: "[notify]\nwebhook = \"https://hooks.example.net/oob\"\nwebhook_ca = \"\(ca)\"\n"))
                return AgentCheck.files(c).first { $0.text.contains("webhook_ca") }.map { "\($0)" }
            }
            let missing = try finding(dir.file("nope.pem"))
            #expect(missing?.hasPrefix("PROBLEM: notify.webhook_ca") == true && missing?.contains("fix:") == true, "\(missing ?? "-")")
            chmod(certificates.caCertificate, 0o666)
            let open = try finding(certificates.caCertificate)
            #expect(open?.contains("chmod 644") == true, "\(open ?? "-")")
            chmod(certificates.caCertificate, 0o644)
            let notPEM = dir.write("not.pem", "hello\n", mode: 0o644)
            let garbage = try finding(notPEM)
            #expect(garbage?.contains("no PEM certificate") == true, "\(garbage ?? "-")")
            #expect(try finding(certificates.caCertificate) == nil)
        }
    }
}
