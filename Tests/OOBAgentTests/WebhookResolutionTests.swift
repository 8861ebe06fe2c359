import CellularLink
import Foundation
import OOBTestSupport
import Testing

@testable import OOBAgent

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// UDP "DNS servers" on `127.x.y.1..n:53` that take every query and never answer (a carrier's dead resolver);
/// closed by ``close()``.
final class SilentDNSServers: @unchecked Sendable {
    let addresses: [String]
    private let fds: [CInt]

    init(count: Int) throws {
        // A random 127/8 net of our own: the machine is shared with other test runs.
        let net = "127.\(UInt8.random(in: 100...250)).\(UInt8.random(in: 1...250))"
        var addresses: [String] = []
        var fds: [CInt] = []
        for i in 1...count {
            let address = "\(net).\(i)"
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = UInt16(53).bigEndian
            addr.sin_addr.s_addr = inet_addr(address)
            let r = withUnsafePointer(to: &addr) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard fd >= 0, r == 0 else {
                let e = errno
                for f in fds + [fd] where f >= 0 { Glibc.close(f) }
                throw TopologyError(message: "cannot bind UDP \(address):53 (errno \(e))")
            }
            addresses.append(address)
            fds.append(fd)
        }
        self.addresses = addresses
        self.fds = fds
    }

    /// The queries each server received so far (drained).
    func queriesReceived() -> [Int] {
        fds.map { fd in
            var n = 0
            var buffer = [UInt8](repeating: 0, count: 1500)
            while buffer.withUnsafeMutableBytes({ recv(fd, $0.baseAddress, $0.count, 0) }) > 0 { n += 1 }
            return n
        }
    }

    func close() { for fd in fds { Glibc.close(fd) } }
}

/// A flag set from another thread.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

extension AgentIntegrationSuites {
    @Suite("Webhook name resolution and its deadline", .serialized, .timeLimit(.minutes(2)))
    struct WebhookResolutionTests {
        @Test("the system's resolver stalls: the POST gives up at its deadline, and sends nothing when the resolver comes back",
              .enabled(if: WebhookReceiver.available, "needs python3 for the webhook server"))
        func systemResolverStalls() async throws {
            let dir = TempDir()
            defer { dir.cleanup() }
            let server = try WebhookReceiver(directory: dir.path, tls: nil)
            defer { server.stop() }
            let resolverBack = Flag()
            // getaddrinfo on a dead nameserver blocks for timeout × attempts × servers and cannot be interrupted; the
            // stall stands in for that (the name itself, localhost, then resolves from /etc/hosts: no packet leaves).
            let stall: @Sendable () -> Void = {
                Thread.sleep(forTimeInterval: 4)
                resolverBack.set()
            }
            do {
                _ = try await Webhook.post(
                    url: "http://localhost:\(server.port)/late", json: "{}", bindInterface: nil, bindAddress: nil, caFile: nil,
                    verifyTime: nil, deadline: .seconds(1), linkDNS: nil, logger: nil, beforeSystemLookup: stall)
                Issue.record("a POST whose name resolution stalls past the deadline succeeded")
            } catch {
                let m = (error as? AgentError)?.message ?? "\(error)"
                #expect(m.contains("passed its deadline") && m.contains("resolving localhost") && m.contains("fix:"), "\(m)")
            }
            // The caller had its answer while the resolver was still stuck.
            #expect(!resolverBack.isSet, "the POST waited for the stalled resolver")
            // When it comes back, the abandoned POST is not sent after all.
            #expect(await eventually(.seconds(10)) { resolverBack.isSet })
            try await Task.sleep(for: .seconds(1))
            #expect(server.received.isEmpty, "\(server.received)")
            // The same POST without the stall goes through (the server and the name are fine).
            #expect(try await Webhook.post(url: "http://localhost:\(server.port)/late", json: "{}", bindInterface: nil, deadline: .seconds(5)) == 200)
        }

        @Test("the link's DNS servers never answer: the lookup is cut to the POST's deadline, later servers are not asked",
              .enabled(if: geteuid() == 0, "binds UDP port 53 on loopback (root)"))
        func linkDNSSilent() async throws {
            let dir = TempDir()
            defer { dir.cleanup() }
            let dns = try SilentDNSServers(count: 3)
            defer { dns.close() }
            // Unbounded, three silent servers take 3 × 2 s; the POST has 2 s, of which DNS gets half.
            let link = LinkInfo(interface: "lo", localAddress: "127.0.0.1", prefixLength: 8, peer: nil, dnsServers: dns.addresses)
            let log = RecordedLog()
            do {
                _ = try await Webhook.post(
                    url: "https://hooks.example.test/oob", json: "{}", bindInterface: "lo", bindAddress: "127.0.0.1",
                    deadline: .seconds(2), linkDNS: .init(link: link, stateDirectory: dir.file("state")), logger: log.logger)
                Issue.record("a name no server answers for resolved")
            } catch {
                let m = (error as? AgentError)?.message ?? "\(error)"
                #expect(m.contains("cannot resolve hooks.example.test through the cellular link"), "\(m)")
                #expect(m.contains("\(dns.addresses[0])") && m.contains("did not answer"), "\(m)")
                #expect(m.contains("not asked, the deadline had passed") && m.contains("fix:"), "\(m)")
            }
            let asked = dns.queriesReceived()
            #expect(asked[0] >= 1 && asked[1] == 0 && asked[2] == 0, "queries per server: \(asked)")
        }

        @Test("through the link's DNS an IP literal is used as it is, and no DNS server is asked",
              .enabled(if: geteuid() == 0 && WebhookReceiver.available, "binds UDP port 53 on loopback (root), python3"))
        func literalNeedsNoDNS() async throws {
            let dir = TempDir()
            defer { dir.cleanup() }
            let dns = try SilentDNSServers(count: 1)
            defer { dns.close() }
            let server = try WebhookReceiver(directory: dir.path, tls: nil)
            defer { server.stop() }
            let link = LinkInfo(interface: "lo", localAddress: "127.0.0.1", prefixLength: 8, peer: nil, dnsServers: dns.addresses)
            let status = try await Webhook.post(
                url: "http://127.0.0.1:\(server.port)/lit", json: "{}", bindInterface: "lo", bindAddress: "127.0.0.1",
                deadline: .seconds(5), linkDNS: .init(link: link, stateDirectory: dir.file("state")))
            #expect(status == 200)
            #expect(dns.queriesReceived() == [0])
        }
    }
}
