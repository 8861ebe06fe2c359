public import CellularLink
import Foundation
public import Logging
import SystemPackage

/// `notify.webhook`: one HTTP/1.1 POST of a JSON body, `http://` or `https://` (TLS 1.2+, the server's
/// certificate verified against the system's trust store or `notify.webhook_ca`, and its name against the
/// URL's host), over a socket bound to the cellular interface and address when there are any.
///
/// The host name is resolved through the cellular link's DNS servers (``LinkDNS``, as the jump host is, with
/// the last good address as the fallback) when a link is given, else with the system's resolver. Name
/// resolution, connect, TLS handshake, request and the response's status line share one hard deadline: the
/// POST gives up by then even if the system's resolver (`getaddrinfo`, which cannot be interrupted) hangs.
public enum Webhook {
    /// Resolve the webhook's host through a cellular link (`link.mode` `ppp`/`interface`).
    public struct LinkDNS: Sendable {
        /// The link that is up: its DNS servers are asked, over sockets bound to its interface and address.
        public var link: LinkInfo
        /// `state.dir`: the last good address of the webhook's host is kept in `webhook-address.json` there.
        public var stateDirectory: String
        /// The wait for one DNS server's answer (cut to the POST's deadline).
        public var queryTimeout: Duration

        /// The file in `stateDirectory` that keeps the last good address (keyed by the host).
        public static let cacheFile = "webhook-address.json"

        /// - Parameters:
        ///   - link: the link that is up.
        ///   - stateDirectory: `state.dir`.
        ///   - queryTimeout: per DNS server (2 s).
        public init(link: LinkInfo, stateDirectory: String, queryTimeout: Duration = .seconds(2)) {
            self.link = link
            self.stateDirectory = stateDirectory
            self.queryTimeout = queryTimeout
        }
    }

    /// A parsed `notify.webhook` URL.
    public struct Target: Sendable, Equatable {
        /// `https://` (true) or `http://`.
        public var tls: Bool
        /// The host as written (brackets of an IPv6 literal removed).
        public var host: String
        /// The port (default 443 / 80).
        public var port: Int
        /// The request path with the query, `/` at least.
        public var path: String
        /// The `Host:` header (as written in the URL).
        public var hostHeader: String

        /// Parses `url`.
        /// - Throws: ``AgentError`` (`.usage`) naming the URL and the fix.
        public init(url: String) throws {
            let rest: Substring
            if url.hasPrefix("https://") {
                tls = true
                rest = url.dropFirst("https://".count)
            } else if url.hasPrefix("http://") {
                tls = false
                rest = url.dropFirst("http://".count)
            } else {
                throw AgentError(.usage, "notify.webhook = \"\(url)\": not an http:// or https:// URL; fix: e.g. \"https://hooks.example.net/oob\"")
            }
            let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
            var path = String(rest.dropFirst(authority.count).prefix { $0 != "#" })
            if path.isEmpty { path = "/" } else if path.hasPrefix("?") { path = "/" + path }
            var host = String(authority)
            var port = tls ? 443 : 80
            if authority.contains("@") {
                throw AgentError(.usage, "notify.webhook = \"\(url)\": user:password@ in the URL is not supported; fix: put a token in the path instead")
            }
            if authority.hasPrefix("[") {
                guard let close = authority.firstIndex(of: "]") else {
                    throw AgentError(.usage, "notify.webhook = \"\(url)\": unterminated [IPv6] address; fix: e.g. \"https://[2001:db8::1]:8443/oob\"")
                }
                host = String(authority[authority.index(after: authority.startIndex)..<close])
                let after = authority[authority.index(after: close)...]
                if after.hasPrefix(":") {
                    guard let p = Int(after.dropFirst()), (1...65535).contains(p) else {
                        throw AgentError(.usage, "notify.webhook = \"\(url)\": bad port; fix: a port from 1 to 65535")
                    }
                    port = p
                }
            } else if let colon = authority.lastIndex(of: ":") {
                host = String(authority[..<colon])
                guard let p = Int(authority[authority.index(after: colon)...]), (1...65535).contains(p) else {
                    throw AgentError(.usage, "notify.webhook = \"\(url)\": bad port; fix: a port from 1 to 65535")
                }
                port = p
            }
            guard !host.isEmpty, !host.contains(where: { $0.isWhitespace }) else {
                throw AgentError(.usage, "notify.webhook = \"\(url)\": no host; fix: e.g. \"https://hooks.example.net/oob\"")
            }
            self.host = host
            self.port = port
            self.path = path
            self.hostHeader = String(authority)
        }
    }

    /// The default deadline of one POST: connect, TLS handshake, request and status line.
    public static let defaultDeadline: Duration = .seconds(10)

    /// Posts `json` to `url`.
    /// - Parameters:
    ///   - bindInterface: the cellular interface (SO_BINDTODEVICE), nil for none.
    ///   - bindAddress: its address (bind(2)), nil for none.
    ///   - caFile: `notify.webhook_ca`: trust only this CA file (PEM) instead of the system's store.
    ///   - verifyTime: the time (Unix seconds) certificates are checked against (the agent's best clock: a box
    ///     without NTP has a wrong system clock); nil = the system clock.
    ///   - deadline: for the whole POST, name resolution included.
    ///   - linkDNS: resolve the host through this link's DNS servers (nil: the system's resolver).
    ///   - logger: where the resolution (which DNS server answered, or the last good address) is logged.
    /// - Returns: the HTTP status code.
    /// - Throws: ``AgentError`` (`.usage` for a bad URL, `.io` for DNS, network and TLS failures), naming the fix.
    public static func post(
        url: String, json: String, bindInterface: String?, bindAddress: String? = nil, caFile: String? = nil,
        verifyTime: Int64? = nil, deadline: Duration = defaultDeadline, linkDNS: LinkDNS? = nil, logger: Logger? = nil
    ) async throws -> Int {
        try await post(
            url: url, json: json, bindInterface: bindInterface, bindAddress: bindAddress, caFile: caFile, verifyTime: verifyTime,
            deadline: deadline, linkDNS: linkDNS, logger: logger, beforeSystemLookup: nil)
    }

    /// ``post(url:json:bindInterface:bindAddress:caFile:verifyTime:deadline:linkDNS:logger:)``;
    /// `beforeSystemLookup` runs on the webhook's thread just before `getaddrinfo` (tests make it stall there, as
    /// a resolver whose nameserver never answers does).
    static func post(
        url: String, json: String, bindInterface: String?, bindAddress: String?, caFile: String?, verifyTime: Int64?,
        deadline: Duration, linkDNS: LinkDNS?, logger: Logger?, beforeSystemLookup: (@Sendable () -> Void)?
    ) async throws -> Int {
        let target = try Target(url: url)
        let request = "POST \(target.path) HTTP/1.1\r\nHost: \(target.hostHeader)\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(json.utf8.count)\r\nConnection: close\r\nUser-Agent: oob-agent\r\n\r\n\(json)"
        let start = ContinuousClock.now
        let end = start + deadline
        var address: String?
        if let linkDNS {
            // At most half the deadline for DNS: connect and TLS keep the rest.
            address = try await resolve(target.host, via: linkDNS, until: start + deadline / 2, logger: logger)
        }
        let numeric = address
        let progress = WebhookProgress()
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int, any Error>) in
            progress.arm(continuation)
            // The watchdog: whatever the thread is stuck in (getaddrinfo cannot be interrupted), the caller gets an
            // answer shortly after the deadline; the thread, when it comes back, sends nothing (`abandoned`).
            let watchdog = Task {
                try? await Task.sleep(until: end + .milliseconds(300), clock: .continuous)
                if Task.isCancelled { return }
                progress.finish(
                    .failure(
                        AgentError(
                            .io,
                            "the POST to \(target.host) passed its deadline (\(deadline)) while \(progress.stage); fix: "
                                + (progress.stage.hasPrefix("resolving")
                                    ? "check the system's resolver (/etc/resolv.conf), or use an IP address in notify.webhook"
                                    : "check the webhook server answers quickly over the cellular link"))))
            }
            let thread = Thread {
                let result = Result {
                    try blockingPost(
                        target, address: numeric, request: Array(request.utf8), bindInterface: bindInterface, bindAddress: bindAddress,
                        caFile: caFile, verifyTime: verifyTime, deadline: end, progress: progress, beforeSystemLookup: beforeSystemLookup)
                }
                progress.finish(result)
                watchdog.cancel()
            }
            thread.name = "oob-webhook"
            thread.start()
        }
    }

    /// The host's address through the link's DNS (an IP literal as it is; the last good address when no server
    /// answers before `until`).
    static func resolve(_ host: String, via dns: LinkDNS, until: ContinuousClock.Instant, logger: Logger?) async throws -> String {
        let logger = logger ?? Logger(label: "oob-agent.webhook", factory: { _ in SwiftLogNoOpLogHandler() })
        let resolver = JumpHostResolver(
            stateDirectory: dns.stateDirectory, queryTimeout: dns.queryTimeout, cacheFile: LinkDNS.cacheFile, logger: logger)
        let resolution: JumpHostResolver.Resolution
        do {
            resolution = try await resolver.resolve(host, via: dns.link, deadline: until)
        } catch let error as CellularLinkError {
            throw AgentError(
                .io,
                "webhook: \(error.message); fix: check the link's DNS servers answer for \(host), or put an IP address "
                    + "(with a certificate for it) in notify.webhook")
        }
        if resolution.source != .literal {
            logger.info(
                "webhook host resolved",
                metadata: [
                    "webhook.host": "\(host)", "webhook.address": "\(resolution.address)", "dns.source": "\(resolution.source.rawValue)",
                    "dns.server": "\(resolution.server ?? "-")",
                ])
        }
        return resolution.address
    }

    static func blockingPost(
        _ target: Target, address: String?, request: [UInt8], bindInterface: String?, bindAddress: String?, caFile: String?,
        verifyTime: Int64?, deadline: ContinuousClock.Instant, progress: WebhookProgress, beforeSystemLookup: (@Sendable () -> Void)?
    ) throws -> Int {
        WebhookSocket.blockSIGPIPEOnThisThread()
        if address == nil {
            progress.stage = "resolving \(target.host) with the system's resolver"
            beforeSystemLookup?()
        }
        let fd = try WebhookSocket.connect(
            host: target.host, address: address, port: "\(target.port)", interface: bindInterface, localAddress: bindAddress,
            deadline: deadline, progress: progress)
        defer { WebhookSocket.close(fd) }
        let transport: any WebhookTransport
        progress.stage = target.tls ? "in the TLS handshake with \(target.host)" : "sending to \(target.host)"
        if target.tls {
            transport = try TLSClientSession(descriptor: fd, host: target.host, caFile: caFile, verifyTime: verifyTime, deadline: deadline)
        } else {
            transport = PlainTransport(fd: fd, host: target.host)
        }
        defer { transport.close() }
        // The caller was already told the POST failed: a late request must not arrive after all.
        guard !progress.abandoned, ContinuousClock.now < deadline else {
            throw AgentError(.io, "the POST to \(target.host) passed its deadline before the request; fix: check the webhook server and the cellular link")
        }
        progress.stage = "waiting for the answer of \(target.host)"
        try transport.write(request, deadline: deadline)
        var response: [UInt8] = []
        while response.count < 16384, !response.contains(10) {
            let bytes = try transport.read(deadline: deadline)
            if bytes.isEmpty { break }
            response += bytes
        }
        let statusLine = String(decoding: response.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
        let fields = statusLine.split(separator: " ")
        guard fields.count >= 2, fields[0].hasPrefix("HTTP/"), let code = Int(fields[1]) else {
            throw AgentError(
                .io,
                "no HTTP response from \(target.host) port \(target.port)\(target.tls ? "" : " (an HTTPS port? then use https://)"); fix: check notify.webhook points at the webhook server")
        }
        return code
    }
}

/// One POST's progress, shared by its thread and its watchdog: the step it is in (for the error message), the
/// continuation resumed exactly once, and whether the caller has given up on it.
final class WebhookProgress: @unchecked Sendable {
    // @unchecked Sendable: every field is guarded by `lock`.
    private let lock = NSLock()
    private var continuation: CheckedContinuation<Int, any Error>?
    private var _stage = "connecting"
    private var _abandoned = false

    /// What the POST is doing ("resolving …", "connecting to …").
    var stage: String {
        get { lock.withLock { _stage } }
        set { lock.withLock { _stage = newValue } }
    }

    /// True once the caller got its answer from the watchdog.
    var abandoned: Bool { lock.withLock { _abandoned } }

    func arm(_ continuation: CheckedContinuation<Int, any Error>) {
        lock.withLock { self.continuation = continuation }
    }

    /// Resumes the caller with `result` unless it was resumed already.
    func finish(_ result: Result<Int, any Error>) {
        let waiting: CheckedContinuation<Int, any Error>? = lock.withLock {
            defer { continuation = nil; _abandoned = true }
            return continuation
        }
        waiting?.resume(with: result)
    }
}

/// Bytes to and from the webhook server: plain TCP or TLS.
protocol WebhookTransport {
    /// Sends all of `bytes` before `deadline`.
    func write(_ bytes: [UInt8], deadline: ContinuousClock.Instant) throws
    /// Some bytes; empty at the end of the stream.
    func read(deadline: ContinuousClock.Instant) throws -> [UInt8]
    /// Ends the session (not the socket).
    func close()
}

/// `http://`: the socket itself.
struct PlainTransport: WebhookTransport {
    let fd: CInt
    let host: String

    func write(_ bytes: [UInt8], deadline: ContinuousClock.Instant) throws {
        var rest = bytes[...]
        while !rest.isEmpty {
            switch WebhookSocket.send(fd, rest) {
            case .success(let n): rest = rest.dropFirst(n)
            case .failure(.wouldBlock):
                guard try WebhookSocket.wait(fd, forWriting: true, until: deadline) else {
                    throw AgentError(.io, "sending to \(host) timed out; fix: check the webhook server and the cellular link")
                }
            case .failure(let e):
                throw AgentError(.io, "sending to \(host) failed; fix: check the webhook server and the cellular link", underlying: e)
            }
        }
    }

    func read(deadline: ContinuousClock.Instant) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            switch WebhookSocket.receive(fd, into: &buffer) {
            case .success(let n): return Array(buffer[0..<n])
            case .failure(.wouldBlock):
                guard try WebhookSocket.wait(fd, forWriting: false, until: deadline) else {
                    throw AgentError(.io, "no answer from \(host) before the deadline; fix: check the webhook server answers quickly")
                }
            case .failure(let e):
                throw AgentError(
                    .io, "receiving from \(host) failed (\(e)); fix: check notify.webhook points at the webhook server (an HTTPS port needs https://)")
            }
        }
    }

    func close() {}
}
