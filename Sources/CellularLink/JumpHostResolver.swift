import Foundation
public import Logging

/// Resolves the jump host (or any host the agent must reach over the link, such as the webhook's) through
/// the cellular link's own DNS servers — the main resolver is presumed dead when the agent is needed — with
/// the query socket bound to the link's interface and address.
///
/// Order: a numeric host is used as is; else A (then AAAA) queries to each of the link's DNS servers;
/// else the last address that worked for that host, kept in `<state.dir>/<cacheFile>`
/// (`jumphost-address.json` for the jump host).
public struct JumpHostResolver: Sendable {
    /// Where an address came from.
    public enum Source: String, Sendable, Hashable, Codable {
        /// The host was already an IP address.
        case literal
        /// Answered by one of the link's DNS servers.
        case dns
        /// No DNS server answered; the last good address was used.
        case cachedFallback
    }

    /// A resolved jump host address.
    public struct Resolution: Sendable, Hashable {
        /// The numeric address to connect to.
        public var address: String
        /// Where it came from.
        public var source: Source
        /// The DNS server that answered (for `.dns`).
        public var server: String?
    }

    /// `state.dir`, for the last good address.
    public var stateDirectory: String
    /// Time for one query to one server.
    public var queryTimeout: Duration
    /// The file in `stateDirectory` that keeps the last good address (with the host it belongs to).
    public var cacheFile: String
    var logger: Logger

    /// Creates a resolver.
    /// - Parameters:
    ///   - stateDirectory: `state.dir`.
    ///   - queryTimeout: per query and server (2 s).
    ///   - cacheFile: the last good address's file in `stateDirectory` (one per user of the resolver, so the
    ///     jump host's and the webhook's do not overwrite each other).
    ///   - logger: where failures of single servers are logged.
    public init(
        stateDirectory: String, queryTimeout: Duration = .seconds(2), cacheFile: String = "jumphost-address.json", logger: Logger
    ) {
        self.stateDirectory = stateDirectory
        self.queryTimeout = queryTimeout
        self.cacheFile = cacheFile
        self.logger = logger
    }

    /// Resolves `host` through `link`.
    /// - Parameters:
    ///   - host: `tunnel.host` or the webhook's host (name or IP address).
    ///   - link: the link that is up (interface, address, DNS servers).
    ///   - deadline: when to stop querying (each query's wait is cut to it); the last good address is then
    ///     used. nil: `queryTimeout` per query and server, however long that takes.
    /// - Returns: the address and where it came from; a DNS answer is saved as the new fallback.
    /// - Throws: ``CellularLinkError`` `.resolveFailed` when no server answered and no earlier address is known.
    public func resolve(_ host: String, via link: LinkInfo, deadline: ContinuousClock.Instant? = nil) async throws -> Resolution {
        if system_parseAddress(host) != nil { return Resolution(address: host, source: .literal, server: nil) }
        var servers = link.dnsServers
        if servers.isEmpty { servers = Self.systemNameservers() }
        var problems: [String] = []
        servers: for server in servers {
            for type in [DNSMessage.RecordType.a, .aaaa] {
                var timeout = queryTimeout
                if let deadline {
                    let left = deadline - ContinuousClock.now
                    guard left >= .milliseconds(50) else {
                        problems.append("\(server): not asked, the deadline had passed")
                        break servers
                    }
                    timeout = min(timeout, left)
                }
                do {
                    let wait = timeout
                    let found = try await onDedicatedThread("link-dns") {
                        try Self.query(host, type: type, server: server, link: link, timeout: wait)
                    }
                    if let first = found.first {
                        save(host: host, address: first)
                        return Resolution(address: first, source: .dns, server: server)
                    }
                } catch {
                    problems.append("\(server): \(error)")
                    logger.info(
                        "DNS query through the link failed",
                        metadata: ["link.dns": "\(server)", "error": "\(error)"])
                    break
                }
            }
        }
        if let cached = lastGood(host: host) {
            logger.info("using the last good address", metadata: ["host": "\(host)", "address": "\(cached)"])
            return Resolution(address: cached, source: .cachedFallback, server: nil)
        }
        let detail = problems.isEmpty ? "the link offers no DNS server" : problems.joined(separator: "; ")
        throw CellularLinkError(
            code: .resolveFailed,
            message: "cannot resolve \(host) through the cellular link (\(detail)) and no earlier address is known; "
                + "use its IP address instead of the name")
    }

    /// One query to one server over UDP, the socket bound to the link (SO_BINDTODEVICE + address).
    static func query(
        _ host: String, type: DNSMessage.RecordType, server: String, link: LinkInfo, timeout: Duration
    ) throws -> [String] {
        guard let remote = SocketAddress(ip: server, port: 53) else {
            throw CellularLinkError(code: .resolveFailed, message: "DNS server \(server) is not an IP address")
        }
        let id = UInt16.random(in: 1...UInt16.max)
        guard let message = DNSMessage.query(id: id, name: host, type: type) else {
            throw CellularLinkError(
                code: .configuration, message: "\"\(host)\" is not a valid host name; fix the name (tunnel.host, notify.webhook)")
        }
        let fd: CInt
        switch system_socket(remote.family, socketDatagram) {
        case .success(let f): fd = f
        case .failure(let e):
            throw CellularLinkError(code: .resolveFailed, message: "cannot create a UDP socket", underlying: e)
        }
        defer { system_close(fd) }
        if case .failure(let e) = system_bindToDevice(fd, link.interface) {
            throw CellularLinkError(
                code: .resolveFailed, message: "cannot bind the DNS socket to \(link.interface)", underlying: e)
        }
        if remote.family == SocketAddress(ip: "0.0.0.0", port: 0)?.family, let local = link.localAddress,
            let la = SocketAddress(ip: local, port: 0)
        {
            if case .failure(let e) = system_bind(fd, la) {
                throw CellularLinkError(code: .resolveFailed, message: "cannot bind the DNS socket to \(local)", underlying: e)
            }
        }
        if case .failure(let e) = system_connect(fd, remote) {
            throw CellularLinkError(code: .resolveFailed, message: "cannot reach DNS server \(server)", underlying: e)
        }
        let deadline = ContinuousClock.now.advanced(by: timeout)
        // Two sends within the timeout: UDP may lose the first.
        var sent = 0
        while ContinuousClock.now < deadline {
            if sent < 2 {
                _ = system_send(fd, message)
                sent += 1
            }
            let left = deadline - ContinuousClock.now
            let slice = min(left, timeout / 2)
            let ms = Int(slice.components.seconds * 1000 + slice.components.attoseconds / 1_000_000_000_000_000)
            guard case .success(true) = system_pollOne(fd, events: pollIn, timeoutMilliseconds: ms) else { continue }
            guard case .success(let reply) = system_recv(fd, 4096) else { continue }
            do {
                return try DNSMessage.addresses(in: reply, id: id, type: type).compactMap(system_formatAddress)
            } catch DNSMessage.ParseError.mismatch {
                continue
            } catch {
                throw CellularLinkError(code: .resolveFailed, message: "DNS server \(server) answered: \(error)")
            }
        }
        throw CellularLinkError(code: .timedOut, message: "DNS server \(server) did not answer")
    }

    /// `nameserver` lines of /etc/resolv.conf (used only when the link offers no DNS server).
    static func systemNameservers() -> [String] {
        guard let text = try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count >= 2, f[0] == "nameserver" else { return nil }
            return String(f[1])
        }
    }

    private var cachePath: String { stateDirectory + "/" + cacheFile }

    private struct Cached: Codable {
        var host: String
        var address: String
        var resolvedAt: Date
    }

    /// The last address that `host` resolved to through a link, if any.
    /// - Parameter host: the host name (`tunnel.host`, the webhook's host).
    public func lastGood(host: String) -> String? {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        guard let data = FileManager.default.contents(atPath: cachePath),
            let cached = try? decoder.decode(Cached.self, from: data), cached.host == host
        else { return nil }
        return cached.address
    }

    private func save(host: String, address: String) {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        guard let data = try? encoder.encode(Cached(host: host, address: address, resolvedAt: Date())) else { return }
        if !FileManager.default.fileExists(atPath: stateDirectory) { _ = system_mkdir(stateDirectory, 0o700) }
        if case .failure(let e) = system_writeFileAtomically(cachePath, Array(data)) {
            logger.warning("cannot save the jump host address", metadata: ["error": "\(e)"])
        }
    }
}
