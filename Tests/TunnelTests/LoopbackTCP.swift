import Foundation

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// Blocking TCP helpers for the tests: an echo server on 127.0.0.1 and clients, each on its own thread.
enum LoopbackTCP {
    static func connect(port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if rc != 0 {
            close(fd)
            return nil
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(4))
        return fd
    }

    static func writeAll(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Bool {
        var off = 0
        while off < n {
            let w = send(fd, p + off, n - off, Int32(MSG_NOSIGNAL))
            if w < 0 {
                if errno == EINTR { continue }
                return false
            }
            off += w
        }
        return true
    }

    /// Runs `body` on `count` threads and waits for all of them.
    static func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let group = DispatchGroup()
        for i in 0..<count {
            group.enter()
            let t = Thread {
                body(i)
                group.leave()
            }
            t.stackSize = 1 << 20
            t.start()
        }
        group.wait()
    }
}

/// An order-sensitive 64-bit hash over a byte stream, independent of how the stream is chunked.
struct StreamHash: Equatable {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    private(set) var count = 0
    private var tail: [UInt8] = []

    mutating func update(_ p: UnsafeRawPointer, _ n: Int) {
        var i = 0
        count += n
        if !tail.isEmpty {
            while i < n && tail.count < 8 {
                tail.append(p.load(fromByteOffset: i, as: UInt8.self))
                i += 1
            }
            if tail.count == 8 {
                mix(tail.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
                tail.removeAll(keepingCapacity: true)
            }
        }
        while n - i >= 8 {
            mix(p.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            i += 8
        }
        while i < n {
            tail.append(p.load(fromByteOffset: i, as: UInt8.self))
            i += 1
        }
    }

    private mutating func mix(_ w: UInt64) {
        value = (value ^ w) &* 0x0000_0100_0000_01b3
        value ^= value >> 29
    }

    var final: UInt64 {
        var v = value
        for b in tail { v = (v ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return v ^ UInt64(count)
    }
}

/// Serves on 127.0.0.1: echoes every byte back and half-closes when the client does.
final class EchoServer: @unchecked Sendable {
    // @unchecked Sendable: `fd` and `port` are immutable; connection threads own their sockets.
    let port: Int
    private let fd: Int32

    init() throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, 4)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let fd = self.fd
        let rc = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa -> Int32 in
                if bind(fd, sa, len) != 0 || listen(fd, 128) != 0 { return -1 }
                return getsockname(fd, sa, &len)
            }
        }
        guard rc == 0 else { throw LoopbackSSHDErrorLike(message: "echo server bind failed") }
        port = Int(UInt16(bigEndian: addr.sin_port))
        let t = Thread {
            while true {
                let c = accept(fd, nil, nil)
                if c < 0 {
                    if errno == EINTR { continue }
                    return
                }
                let worker = Thread { EchoServer.serve(c) }
                worker.stackSize = 256 << 10
                worker.start()
            }
        }
        t.start()
    }

    private static func serve(_ c: Int32) {
        let buf = UnsafeMutableRawPointer.allocate(byteCount: 65536, alignment: 16)
        defer {
            buf.deallocate()
            close(c)
        }
        while true {
            let n = recv(c, buf, 65536, 0)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            if !LoopbackTCP.writeAll(c, buf, n) { return }
        }
        shutdown(c, Int32(SHUT_WR))
        // Wait for the peer to close before closing (keeps the FIN ordering simple).
        while recv(c, buf, 65536, 0) > 0 {}
    }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    deinit { stop() }
}

struct LoopbackSSHDErrorLike: Error { var message: String }

/// The result of pushing a stream through an echo path.
struct EchoResult: Sendable {
    var sentHash: UInt64
    var receivedHash: UInt64
    var sent: Int
    var received: Int
    var error: String?
}

/// Connects to `port`, sends `bytes` of position-dependent data (a writer thread), half-closes, and reads the
/// echo until EOF, hashing both sides. `onProgress` is called with the bytes received so far.
func echoTransfer(port: Int, bytes: Int, onProgress: (@Sendable (Int) -> Void)? = nil) -> EchoResult {
    guard let fd = LoopbackTCP.connect(port: port) else {
        return EchoResult(sentHash: 0, receivedHash: 1, sent: 0, received: 0, error: "connect failed")
    }
    defer { close(fd) }
    let chunk = 1 << 20
    let block = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 16)
    var seed: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(bytes)
    for i in stride(from: 0, to: chunk, by: 8) {
        seed ^= seed << 13
        seed ^= seed >> 7
        seed ^= seed << 17
        block.storeBytes(of: seed, toByteOffset: i, as: UInt64.self)
    }
    let sentBox = SentBox()
    let blockAddress = UInt(bitPattern: block)
    let writer = Thread {
        let block = UnsafeMutableRawPointer(bitPattern: blockAddress)!
        var hash = StreamHash()
        var off = 0
        var index: UInt64 = 0
        var ok = true
        while off < bytes {
            block.storeBytes(of: index, toByteOffset: 0, as: UInt64.self)
            index += 1
            let n = min(chunk, bytes - off)
            hash.update(block, n)
            if !LoopbackTCP.writeAll(fd, block, n) {
                ok = false
                break
            }
            off += n
        }
        shutdown(fd, Int32(SHUT_WR))
        sentBox.set(hash: hash.final, sent: off, ok: ok)
    }
    writer.start()
    let buf = UnsafeMutableRawPointer.allocate(byteCount: 65536, alignment: 16)
    defer { buf.deallocate() }
    var hash = StreamHash()
    var received = 0
    var error: String?
    while true {
        let n = recv(fd, buf, 65536, 0)
        if n < 0 && errno == EINTR { continue }
        if n < 0 {
            error = "recv: errno \(errno)"
            break
        }
        if n == 0 { break }
        hash.update(buf, n)
        received += n
        onProgress?(received)
    }
    let (sentHash, sent, ok) = sentBox.wait()
    block.deallocate()
    if !ok && error == nil { error = "send failed" }
    return EchoResult(sentHash: sentHash, receivedHash: hash.final, sent: sent, received: received, error: error)
}

private final class SentBox: @unchecked Sendable {
    // @unchecked Sendable: all access under `cond`.
    private let cond = NSCondition()
    private var value: (UInt64, Int, Bool)?
    func set(hash: UInt64, sent: Int, ok: Bool) {
        cond.lock()
        value = (hash, sent, ok)
        cond.signal()
        cond.unlock()
    }
    func wait() -> (UInt64, Int, Bool) {
        cond.lock()
        defer { cond.unlock() }
        while value == nil { cond.wait() }
        return value!
    }
}
