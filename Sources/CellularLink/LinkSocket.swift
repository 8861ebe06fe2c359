import Foundation
public import SystemPackage

/// A TCP connection pinned to the cellular link: SO_BINDTODEVICE to the link's interface and bind(2) to
/// its address before connect, so it cannot leave through the main uplink whatever the routing tables say.
/// Used by path verification; also usable for the webhook. Blocking calls with deadlines (poll).
///
/// Not `Sendable`: one owner closes it.
public final class LinkTCPConnection {
    /// The socket.
    public let descriptor: FileDescriptor
    private var closed = false

    /// Connects to `address`:`port` through `interface`, bound to `localAddress`.
    /// - Parameters:
    ///   - interface: the cellular interface (SO_BINDTODEVICE).
    ///   - localAddress: its address (bind), or nil to let the kernel pick one on that interface.
    ///   - address: a numeric IPv4/IPv6 address (resolve names with ``JumpHostResolver`` first).
    ///   - port: the TCP port.
    ///   - timeout: how long the handshake may take.
    /// - Throws: ``CellularLinkError`` `.connectFailed` or `.timedOut`.
    public init(interface: String, localAddress: String?, address: String, port: UInt16, timeout: Duration) throws {
        guard let remote = SocketAddress(ip: address, port: port) else {
            throw CellularLinkError(
                code: .configuration, message: "\(address) is not a numeric IP address; resolve the name first")
        }
        let fd: CInt
        switch system_socket(remote.family, socketStream) {
        case .success(let f): fd = f
        case .failure(let e):
            throw CellularLinkError(code: .connectFailed, message: "cannot create a TCP socket", underlying: e)
        }
        descriptor = FileDescriptor(rawValue: fd)
        do {
            if case .failure(let e) = system_bindToDevice(fd, interface) {
                throw CellularLinkError(
                    code: .connectFailed,
                    message: "cannot bind the socket to interface \(interface) (SO_BINDTODEVICE); run as root or give CAP_NET_RAW",
                    underlying: e)
            }
            if let localAddress, let local = SocketAddress(ip: localAddress, port: 0) {
                if case .failure(let e) = system_bind(fd, local) {
                    throw CellularLinkError(
                        code: .connectFailed,
                        message: "cannot bind the socket to \(localAddress) on \(interface); is the link still up?",
                        underlying: e)
                }
            }
            let ms = Int(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
            switch system_connect(fd, remote) {
            case .success(true): break
            case .success(false):
                switch system_pollOne(fd, events: pollOut, timeoutMilliseconds: ms) {
                case .success(true):
                    if let e = system_socketError(fd) {
                        throw CellularLinkError(
                            code: .connectFailed,
                            message: "TCP connection to \(address) port \(port) through \(interface) failed; "
                                + "check the jump host is reachable over the cellular network and listens there",
                            underlying: e)
                    }
                case .success(false):
                    throw CellularLinkError(
                        code: .timedOut,
                        message: "TCP connection to \(address) port \(port) through \(interface) timed out; "
                            + "check the jump host address and that the carrier routes to it")
                case .failure(let e):
                    throw CellularLinkError(code: .connectFailed, message: "poll failed", underlying: e)
                }
            case .failure(let e):
                throw CellularLinkError(
                    code: .connectFailed,
                    message: "TCP connection to \(address) port \(port) through \(interface) failed at once; "
                        + "check the link has a route (`ip route get \(address) oif \(interface)`)",
                    underlying: e)
            }
        } catch {
            try? descriptor.close()
            throw error
        }
    }

    /// Sends all of `bytes`, waiting up to `timeout`.
    /// - Throws: ``CellularLinkError`` `.connectFailed` or `.timedOut`.
    public func send(_ bytes: [UInt8], timeout: Duration) throws {
        var rest = bytes[...]
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while !rest.isEmpty {
            switch system_send(descriptor.rawValue, Array(rest)) {
            case .success(let n): rest = rest.dropFirst(n)
            case .failure(let e) where e == .wouldBlock || e == .resourceTemporarilyUnavailable:
                guard try wait(pollOut, until: deadline) else {
                    throw CellularLinkError(code: .timedOut, message: "sending over the cellular link timed out")
                }
            case .failure(let e):
                throw CellularLinkError(code: .connectFailed, message: "sending over the cellular link failed", underlying: e)
            }
        }
    }

    /// Receives up to `maximum` bytes, waiting up to `timeout`; empty at end of stream.
    /// - Throws: ``CellularLinkError`` `.connectFailed` or `.timedOut`.
    public func receive(maximum: Int = 65_536, timeout: Duration) throws -> [UInt8] {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            switch system_recv(descriptor.rawValue, maximum) {
            case .success(let b): return b
            case .failure(let e) where e == .wouldBlock || e == .resourceTemporarilyUnavailable:
                guard try wait(pollIn, until: deadline) else {
                    throw CellularLinkError(code: .timedOut, message: "receiving over the cellular link timed out")
                }
            case .failure(let e):
                throw CellularLinkError(code: .connectFailed, message: "receiving over the cellular link failed", underlying: e)
            }
        }
    }

    /// Closes the socket (idempotent).
    public func close() {
        guard !closed else { return }
        closed = true
        try? descriptor.close()
    }

    deinit { close() }

    private func wait(_ events: Int16, until deadline: ContinuousClock.Instant) throws -> Bool {
        let left = deadline - ContinuousClock.now
        guard left > .zero else { return false }
        let ms = Int(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000) + 1
        switch system_pollOne(descriptor.rawValue, events: events, timeoutMilliseconds: ms) {
        case .success: return true
        case .failure(let e): throw CellularLinkError(code: .connectFailed, message: "poll failed", underlying: e)
        }
    }
}

@available(*, unavailable)
extension LinkTCPConnection: Sendable {}

/// Runs blocking work on a thread of its own and awaits it (keeps the cooperative pool free).
func onDedicatedThread<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
        let thread = Thread {
            do { c.resume(returning: try body()) } catch { c.resume(throwing: error) }
        }
        thread.name = name
        thread.start()
    }
}
