import Foundation
import SystemPackage

/// `notify.webhook`: one HTTP/1.1 POST of a JSON body, `http://` or `https://` (TLS 1.2+, the server's
/// certificate verified against the system's trust store or `notify.webhook_ca`, and its name against the
/// URL's host), over a socket bound to the cellular interface and address when there are any.
///
/// Runs on a thread of its own; connect, TLS handshake, request and the response's status line share one
/// hard deadline.
public enum Webhook {
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
    ///   - deadline: for the whole POST.
    /// - Returns: the HTTP status code.
    /// - Throws: ``AgentError`` (`.usage` for a bad URL, `.io` for network and TLS failures), naming the fix.
    public static func post(
        url: String, json: String, bindInterface: String?, bindAddress: String? = nil, caFile: String? = nil,
        verifyTime: Int64? = nil, deadline: Duration = defaultDeadline
    ) async throws -> Int {
        let target = try Target(url: url)
        let request = "POST \(target.path) HTTP/1.1\r\nHost: \(target.hostHeader)\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(json.utf8.count)\r\nConnection: close\r\nUser-Agent: oob-agent\r\n\r\n\(json)"
        let end = ContinuousClock.now + deadline
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int, any Error>) in
            let thread = Thread {
                continuation.resume(
                    with: Result {
                        try blockingPost(
                            target, request: Array(request.utf8), bindInterface: bindInterface, bindAddress: bindAddress,
                            caFile: caFile, verifyTime: verifyTime, deadline: end)
                    })
            }
            thread.name = "oob-webhook"
            thread.start()
        }
    }

    static func blockingPost(
        _ target: Target, request: [UInt8], bindInterface: String?, bindAddress: String?, caFile: String?, verifyTime: Int64?,
        deadline: ContinuousClock.Instant
    ) throws -> Int {
        WebhookSocket.blockSIGPIPEOnThisThread()
        let fd = try WebhookSocket.connect(
            host: target.host, port: "\(target.port)", interface: bindInterface, localAddress: bindAddress, deadline: deadline)
        defer { WebhookSocket.close(fd) }
        let transport: any WebhookTransport
        if target.tls {
            transport = try TLSClientSession(descriptor: fd, host: target.host, caFile: caFile, verifyTime: verifyTime, deadline: deadline)
        } else {
            transport = PlainTransport(fd: fd, host: target.host)
        }
        defer { transport.close() }
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
